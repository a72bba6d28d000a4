// The pure parts of a command's channel (src/transport/channel.ts): the sudo wrapper and what a
// channel's end means. transport.test.ts runs the same paths against an in-process SSH server.
import { describe, expect, it } from 'vitest';
import { becomeCommand, channelOutcome, type ChannelEnd } from '../../src/transport/channel.js';

const plain = becomeCommand('echo hi', { become: false, becomeUser: 'root', nonce: '' });
const nopasswd = becomeCommand('echo hi', { become: true, becomeUser: 'root', nonce: '' });
const withPw = becomeCommand('echo hi', { become: true, becomeUser: 'admin', password: 's3cret', nonce: 'abc123' });

function end(over: Partial<ChannelEnd> = {}): ChannelEnd {
  return { stdout: '', stderr: '', code: 0, signal: null, killed: false, timedOut: false, running: true, ...over };
}

describe('becomeCommand', () => {
  it('no become: the script under sh -c', () => {
    expect(plain.command).toBe(`sh -c 'echo hi'`);
    expect(plain.password).toBeUndefined();
  });
  it('become without a password: sudo -n, which fails instead of asking', () => {
    expect(nopasswd.command).toBe(`sudo -n -H -u root -- sh -c 'echo hi'`);
  });
  it('become with a password: a unique prompt, the marker first, and the password never on the command line', () => {
    expect(withPw.command).toBe(`sudo -S -p '[kha-sudo-abc123] password: ' -H -u admin -- sh -c 'echo KHA-BECOME-abc123\necho hi'`);
    expect(withPw.command).not.toContain('s3cret');
    expect(withPw).toMatchObject({ password: 's3cret', prompt: '[kha-sudo-abc123] password: ', marker: 'KHA-BECOME-abc123' });
  });
});

describe('channelOutcome', () => {
  it('an exit: code, signal and output as they came; a non-zero exit is a result, not an error', () => {
    expect(channelOutcome(end({ stdout: 'out\n', stderr: 'err\n', code: 3 }), plain)).toEqual({
      result: { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' },
    });
  });
  it('a timeout: no code, signal KILL, timedOut', () => {
    expect(channelOutcome(end({ code: 0, killed: true, timedOut: true, stdout: 'part' }), plain)).toEqual({
      result: { code: null, signal: 'KILL', stdout: 'part', stderr: '', timedOut: true },
    });
  });
  it("an abort: no code; the host's own signal name is kept; no timedOut", () => {
    expect(channelOutcome(end({ code: null, signal: 'TERM', killed: true }), plain)).toEqual({
      result: { code: null, signal: 'TERM', stdout: '', stderr: '' },
    });
  });
  it('a command that died of a signal on its own keeps it', () => {
    expect(channelOutcome(end({ code: null, signal: 'SEGV' }), plain)).toEqual({ result: { code: null, signal: 'SEGV', stdout: '', stderr: '' } });
  });
  it("sudo -n refusing: sudo's last line", () => {
    const stderr = 'sudo: a terminal is required\nsudo: a password is required\n';
    expect(channelOutcome(end({ code: 1, stderr }), nopasswd)).toEqual({ becomeFailed: 'sudo: a password is required' });
  });
  it('with a password: the prompt and the marker are taken out of the output', () => {
    const r = channelOutcome(end({ stdout: 'KHA-BECOME-abc123\nhello\n', stderr: '[kha-sudo-abc123] password: warn\n' }), withPw);
    expect(r).toEqual({ result: { code: 0, signal: null, stdout: 'hello\n', stderr: 'warn\n' } });
  });
  it('a wrong password: the marker never came, so sudo failed', () => {
    const stderr = '[kha-sudo-abc123] password: Sorry, try again.\n[kha-sudo-abc123] password: sudo: 2 incorrect password attempts\n';
    expect(channelOutcome(end({ code: 1, stderr, running: false }), withPw)).toEqual({ becomeFailed: 'sudo: 2 incorrect password attempts' });
  });
  it("once the script ran, its own exit 1 with a sudo-like message is the command's result", () => {
    const r = channelOutcome(end({ stdout: 'KHA-BECOME-abc123\n', stderr: 'sudo: a password is required\n', code: 1, running: true }), withPw);
    expect(r).toEqual({ result: { code: 1, signal: null, stdout: '', stderr: 'sudo: a password is required\n' } });
  });
  it('without become the same words are only output', () => {
    expect(channelOutcome(end({ code: 1, stderr: 'sudo: a password is required\n' }), plain)).toMatchObject({ result: { code: 1 } });
  });
});
