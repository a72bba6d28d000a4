// The no-echo prompt of -K and of encrypted keys, against a fake terminal: what is typed is
// returned and never written back, the terminal is put back as it was on every path, and the
// human output waits while the prompt is on screen. lineAsker (kha init's questions) against the same fake terminal.
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { askHidden, lineAsker } from '../../src/cli/prompt.js';
import { EventBus } from '../../src/engine/events.js';
import { HumanSink } from '../../src/report/human.js';

function fakeTty() {
  const input = Object.assign(new PassThrough(), { isTTY: true, isRaw: false, modes: [] as boolean[] });
  const setRawMode = (m: boolean) => {
    input.modes.push(m);
    input.isRaw = m;
    return input;
  };
  let shown = '';
  const output = new PassThrough();
  output.on('data', (d: Buffer) => (shown += d.toString()));
  return { input: Object.assign(input, { setRawMode }), output, shown: () => shown };
}

describe('askHidden', () => {
  test('returns the typed line, shows only the question, raw mode on then off', async () => {
    const t = fakeTty();
    const p = askHidden('BECOME password: ', t);
    t.input.write('Hunter2-pw\r');
    await expect(p).resolves.toBe('Hunter2-pw');
    expect(t.shown()).toBe('BECOME password: \n');
    expect(t.input.modes).toEqual([true, false]);
  });

  test('backspace and Ctrl-U edit; an arrow key adds nothing; characters split across chunks', async () => {
    const t = fakeTty();
    const p = askHidden('pw: ', t);
    t.input.write('wrong\u0015ab');
    t.input.write('x\u007fc\u001b[A');
    const bytes = Buffer.from('ä\n');
    t.input.write(bytes.subarray(0, 1));
    t.input.write(bytes.subarray(1));
    await expect(p).resolves.toBe('abcä');
    expect(t.shown()).toBe('pw: \n');
  });

  test('Ctrl-C rejects as an interruption (exit 130) and restores the terminal', async () => {
    const t = fakeTty();
    const p = askHidden('pw: ', t);
    t.input.write('abc\u0003');
    await expect(p).rejects.toMatchObject({ code: 'E_INTERRUPTED', exit: 130 });
    expect(t.input.modes).toEqual([true, false]);
  });

  test('the end of input is bad input, not an empty password', async () => {
    const t = fakeTty();
    const p = askHidden('pw: ', t);
    t.input.end();
    await expect(p).rejects.toMatchObject({ code: 'E_INPUT', exit: 4 });
    expect(t.input.modes).toEqual([true, false]);
  });
});

describe('the human output waits while a prompt is on the terminal', () => {
  test('lines emitted during hold() come out after release(), in order', () => {
    let out = '';
    const sink = new HumanSink({ out: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream, color: false });
    const events = new EventBus();
    events.add(sink);
    events.info('before');
    sink.hold();
    events.info('during 1');
    events.info('during 2');
    expect(out).toBe('  before\n');
    sink.release();
    expect(out).toBe('  before\n  during 1\n  during 2\n');
  });
});

describe('lineAsker (kha init: questions with echo)', () => {
  test('answers are trimmed, one question after another; tell writes a line', async () => {
    const t = fakeTty();
    const a = lineAsker(t);
    const first = a.ask('VIP: ');
    t.input.write('  10.0.0.100 \r');
    await expect(first).resolves.toBe('10.0.0.100');
    a.tell('  not taken');
    const second = a.ask('masters: ');
    t.input.write('m1=10.0.0.11\r');
    await expect(second).resolves.toBe('m1=10.0.0.11');
    a.close();
    expect(t.shown()).toContain('VIP: ');
    expect(t.shown()).toContain('  not taken\n');
    expect(t.shown()).toContain('masters: ');
  });

  test('Ctrl-C is an interruption (exit 130), and so is every later question', async () => {
    const t = fakeTty();
    const a = lineAsker(t);
    const p = a.ask('VIP: ');
    t.input.write('10.0\u0003');
    await expect(p).rejects.toMatchObject({ code: 'E_INTERRUPTED', exit: 130 });
    await expect(a.ask('masters: ')).rejects.toMatchObject({ code: 'E_INTERRUPTED' });
    a.close();
  });

  test('the end of input is bad input naming the question', async () => {
    const t = fakeTty();
    const a = lineAsker(t);
    const p = a.ask('VIP: ');
    t.input.end();
    await expect(p).rejects.toMatchObject({ code: 'E_INPUT', exit: 4, message: 'no answer to "VIP:": the input ended' });
  });
});
