import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/engine/events.js';
import { HumanSink } from '../../src/report/human.js';
import { JsonSink, wantsJson } from '../../src/report/json.js';
import { mask } from '../../src/transport/quote.js';

function out(isTTY: boolean) {
  const chunks: string[] = [];
  return { isTTY, write: (s: string) => (chunks.push(s), true), text: () => chunks.join(''), chunks } as unknown as NodeJS.WritableStream & {
    isTTY: boolean;
    text(): string;
    chunks: string[];
  };
}

describe('human output', () => {
  it('without a TTY: plain lines, no colour, no live line; ok tasks only with -v; the recap table', () => {
    const o = out(false);
    const bus = new EventBus((s) => mask(s, ['s3cret']));
    bus.add(new HumanSink({ out: o }));
    bus.emit({ type: 'phase', title: 'Configure', index: 1, total: 2 });
    bus.emit({ type: 'task', host: 'm1', task: 'write /etc/haproxy/haproxy.cfg', status: 'changed', why: 'content differs', ms: 5, check: false });
    bus.emit({ type: 'task', host: 'm2', task: 'write /etc/haproxy/haproxy.cfg', status: 'ok', why: 'content unchanged', ms: 5, check: false });
    bus.emit({ type: 'task', host: 'm2', task: 'auth', status: 'failed', error: 'bad pass s3cret\nline two', ms: 5, check: true });
    bus.emit({ type: 'recap', hosts: { m1: { ok: 0, changed: 1, failed: 0, unreachable: 0, skipped: 0 } } });
    expect(o.text()).toBe(
      [
        '==> Configure',
        '  m1: changed      write /etc/haproxy/haproxy.cfg (content differs)',
        '  m2: failed       auth: bad pass ********',
        '      line two',
        '==> Recap',
        '  host  ok  changed  failed  unreachable  skipped',
        '  m1     0        1       0            0        0',
        '',
      ].join('\n'),
    );
  });

  it('on a TTY: a live progress line that is cleared before every printed line', async () => {
    const prevCi = process.env.CI;
    delete process.env.CI;
    try {
      const o = out(true);
      const sink = new HumanSink({ out: o, color: false });
      sink.emit({ type: 'phase', title: 'Install', index: 1, total: 1 });
      await new Promise((r) => setTimeout(r, 200));
      sink.emit({ type: 'task', host: 'm1', task: 'install keepalived, haproxy', status: 'changed', ms: 1, check: false });
      sink.emit({ type: 'phase-done', title: 'Install', ms: 200 });
      sink.close();
      // eslint-disable-next-line no-control-regex -- the spinner's own escape sequence is what is checked
      expect(o.text()).toMatch(/\r\x1b\[2K[|/\\-] Install: 0\.\d s, 0 tasks done/);
      expect(o.text()).toContain('\r\x1b[2K  m1: changed      install keepalived, haproxy\n');
    } finally {
      if (prevCi !== undefined) process.env.CI = prevCi;
    }
  });
});

describe('--json', () => {
  it('one envelope: the result, the error, the last recap, the tasks and the messages (no debug, no commands)', () => {
    const sink = new JsonSink();
    sink.emit({ type: 'task', host: 'm1', task: 't', status: 'ok', ms: 1, check: false });
    sink.emit({ type: 'command', host: 'm1', command: 'true', code: 0, ms: 1 });
    sink.emit({ type: 'message', level: 'debug', text: 'noise' });
    sink.emit({ type: 'message', level: 'warn', host: 'm2', text: 'careful' });
    sink.emit({ type: 'recap', hosts: { m1: { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 } } });
    sink.emit({ type: 'recap', hosts: { m1: { ok: 1, changed: 0, failed: 0, unreachable: 0, skipped: 0 } } });
    sink.emit({ type: 'result', data: { vip: '10.0.0.100' } });
    const error = { code: 'E_TASK_FAILED' as const, message: 'boom', hosts: ['m1'], hint: null };
    const doc = sink.document({ command: 'up', exit: 2, error, log: '/tmp/x.log' });
    expect(doc).toEqual({
      format: 1,
      command: 'up',
      ok: false,
      exit: 2,
      error,
      result: { vip: '10.0.0.100' },
      recap: { m1: { ok: 1, changed: 0, failed: 0, unreachable: 0, skipped: 0 } },
      tasks: [{ type: 'task', host: 'm1', task: 't', status: 'ok', ms: 1, check: false }],
      messages: [{ type: 'message', level: 'warn', host: 'm2', text: 'careful' }],
      log: '/tmp/x.log',
    });
    // the keys in the documented order: a human reading the document sees ok, exit and error first
    expect(Object.keys(doc)).toEqual(['format', 'command', 'ok', 'exit', 'error', 'result', 'recap', 'tasks', 'messages', 'log']);
  });

  it('without events (kha version): ok from the exit code, result null until set', () => {
    const sink = new JsonSink();
    expect(sink.document({ command: 'version', exit: 0, error: null, log: null })).toMatchObject({
      ok: true,
      result: null,
      recap: {},
      tasks: [],
      messages: [],
    });
    sink.setResult({ version: '1' });
    expect(sink.document({ command: 'version', exit: 0, error: null, log: null }).result).toEqual({ version: '1' });
  });

  it('wantsJson: --json anywhere before --, and only the flag itself', () => {
    expect(wantsJson(['up', '-i', 'h.yaml', '--json'])).toBe(true);
    expect(wantsJson(['--json', 'up'])).toBe(true);
    expect(wantsJson(['up', '--', '--json'])).toBe(false);
    expect(wantsJson(['up', '--jsonx', '--log-file=--json'])).toBe(false);
  });
});
