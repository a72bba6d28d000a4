// Batched probes: the framing gives back exactly what each part printed alone (checked against a
// real local `sh`), and planTasks sends every task's probes in one batch.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchOptions, defineModule, planHosts, planTasks } from '../../src/engine/plan-tasks.js';
import type { HostContext, Task } from '../../src/engine/types.js';
import { TaskFailed } from '../../src/errors.js';
import { batchScript, splitBatch } from '../../src/transport/batch.js';
import { render } from '../../src/transport/quote.js';
import type { Command, ExecResult } from '../../src/transport/types.js';
import { BatchingConn, FakeConn, fakeFacts, fakeInventory, fakeRun } from '../helpers/fake-conn.js';

function sh(script: string): ExecResult {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', input: '' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const NONCE = 'a1b2c3d4e5f60718';

describe('batchScript / splitBatch', () => {
  const parts: Command[] = [
    { script: 'echo one; echo two' },
    { script: 'printf "no newline"' },
    { script: 'echo out; echo err >&2; exit 3' },
    { script: '' },
    { argv: ['printf', '%s\\n', "it's", '@@kha-0000000000000000:rc 0'] },
    { script: 'printf "\\n\\n"; printf "x" >&2' },
    { script: 'cat; echo "stdin was empty"' },
  ];

  it('gives every part exactly its own stdout, stderr and exit code (real sh)', () => {
    const alone = parts.map((p) => sh(render(p)));
    const batched = splitBatch(sh(batchScript(parts, NONCE)), parts.length, NONCE);
    expect(batched).toEqual(alone.map((r) => ({ ...r, signal: null })));
    expect(batched[2]).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(batched[1]!.stdout).toBe('no newline');
  });

  it('a batch cut short: the running part has code null and its output so far; later parts nothing', () => {
    const full = sh(batchScript(parts.slice(0, 3), NONCE));
    const cut = full.stdout.indexOf('out\n') + 4;
    const r = splitBatch({ code: null, signal: 'KILL', stdout: full.stdout.slice(0, cut), stderr: '', timedOut: true }, 3, NONCE);
    expect(r[0]).toMatchObject({ code: 0, stdout: 'one\ntwo\n' });
    expect(r[1]).toMatchObject({ code: 0, stdout: 'no newline' });
    expect(r[2]).toEqual({ code: null, signal: 'KILL', stdout: 'out\n', stderr: '', timedOut: true });
  });

  it('refuses a nonce that could break the markers', () => {
    expect(() => batchScript(parts, 'x y')).toThrow(/nonce/);
  });

  it('batch options: become when any part becomes; timeouts add up', () => {
    expect(batchOptions([{ become: false }, { become: true, timeoutMs: 5 }])).toEqual({ become: true });
    expect(
      batchOptions([
        { become: false, timeoutMs: 5 },
        { become: false, timeoutMs: 7 },
      ]),
    ).toEqual({ become: false, timeoutMs: 12 });
    expect(batchOptions([{ become: false }, {}])).toEqual({});
  });
});

/** wanted: the probe `cat <key>` must print value (twice: a second probe, `echo second`) */
const catModule = defineModule<{ key: string; value: string; twice?: boolean; fail?: boolean }>({
  name: 'cat',
  describe: (p) => `key ${p.key}`,
  probe(p) {
    if (p.fail) throw new TaskFailed(`bad key ${p.key}`);
    return [{ cmd: { argv: ['cat', p.key] }, become: true }, ...(p.twice ? [{ cmd: { argv: ['echo', 'second'] } }] : [])];
  },
  decide([r], p) {
    return r?.stdout === p.value
      ? { change: false, why: `${p.key} is ${p.value}` }
      : { change: true, why: `${p.key} is ${r?.stdout}`, apply: async () => undefined };
  },
});
const noProbe = defineModule<object>({ name: 'none', describe: () => 'no probe', probe: () => null, decide: () => ({ change: false, why: 'from facts' }) });

function hostCtx(conn: FakeConn): HostContext {
  return { host: fakeInventory(['m1']).hosts[0]!, conn, facts: fakeFacts(), check: false, diff: false, signal: new AbortController().signal, planning: true };
}
const values: Record<string, string> = { a: '1', b: '2', c: '3' };
const answer = (s: string) => (s.startsWith('cat ') ? { stdout: values[s.slice(4)] ?? '' } : {});
const title = (t: Task<any>, p: unknown) => t.module.describe(p);

describe('planTasks', () => {
  it('sends every probe of every task in one batch and gives each module its own results', async () => {
    const conn = new BatchingConn('m1', answer);
    const tasks: Task<any>[] = [
      { module: catModule, params: { key: 'a', value: '1' } },
      { module: noProbe, params: {} },
      { module: catModule, params: { key: 'b', value: 'other' } },
      { module: catModule, params: { key: 'c', value: '3' }, when: () => false },
      { module: catModule, params: { key: 'c', value: '3', twice: true } },
    ];
    const r = await planTasks(hostCtx(conn), tasks, title);
    expect(conn.batches).toEqual([['cat a', 'cat b', 'cat c', 'echo second']]);
    expect(conn.log).toEqual([]); // nothing on its own: a module's second probe is in the batch too
    expect(r.map((x) => [x.title, x.plan?.change, x.plan?.why])).toEqual([
      ['key a', false, 'a is 1'],
      ['no probe', false, 'from facts'],
      ['key b', true, 'b is 2'],
      ['key c', undefined, undefined],
      ['key c', false, 'c is 3'],
    ]);
  });

  it('rethrows the first failing task (in task order) once every plan has settled', async () => {
    const conn = new BatchingConn('m1', answer);
    const tasks: Task<any>[] = [
      { module: catModule, params: { key: 'a', value: '1' } },
      { module: catModule, params: { key: 'b', value: '2', fail: true } },
      { module: catModule, params: { key: 'c', value: '3' } },
    ];
    await expect(planTasks(hostCtx(conn), tasks, title)).rejects.toThrow(/bad key b/);
    expect(conn.batches).toEqual([['cat a', 'cat c']]);
  });

  it('a transport error of the batch reaches every task that had a probe in it', async () => {
    const conn = new BatchingConn('m1', answer);
    conn.execBatch = async () => {
      throw new Error('m1: connection lost');
    };
    const tasks: Task<any>[] = [
      { module: catModule, params: { key: 'a', value: '1' } },
      { module: catModule, params: { key: 'b', value: '2' } },
    ];
    await expect(planTasks(hostCtx(conn), tasks, title)).rejects.toThrow(/connection lost/);
  });

  it('a lost batch fails only the tasks that had a probe in it; a task without probes still decides', async () => {
    const conn = new BatchingConn('m1', answer);
    conn.execBatch = async () => {
      throw new Error('m1: connection lost');
    };
    const tasks: Task<any>[] = [
      { module: noProbe, params: {} },
      { module: catModule, params: { key: 'a', value: '1' } },
      { module: catModule, params: { key: 'b', value: '2' } },
    ];
    await expect(planTasks(hostCtx(conn), tasks, title)).rejects.toThrow(/connection lost/);
    await expect(planTasks(hostCtx(conn), [tasks[0]!], title)).resolves.toMatchObject([{ plan: { change: false, why: 'from facts' } }]);
  });

  it('one task with several probes: one round trip too', async () => {
    const conn = new BatchingConn('m1', answer);
    const r = await planTasks(hostCtx(conn), [{ module: catModule, params: { key: 'a', value: '1', twice: true } }], title);
    expect(conn.batches).toEqual([['cat a', 'echo second']]);
    expect(r[0]!.plan).toEqual({ change: false, why: 'a is 1' });
  });

  it('without execBatch: one command per task, stopping at the first change when asked', async () => {
    const conn = new FakeConn('m1', answer);
    const tasks: Task<any>[] = [
      { module: catModule, params: { key: 'a', value: '1' } },
      { module: catModule, params: { key: 'b', value: 'other' } },
      { module: catModule, params: { key: 'c', value: '3' } },
    ];
    const r = await planTasks(hostCtx(conn), tasks, title, { stopAtChange: true });
    expect(conn.log).toEqual(['cat a', 'cat b']);
    expect(r).toHaveLength(2);
  });
});

describe('planHosts (the one planner of up, play and the plan-first pass)', () => {
  it('plans every host in check mode, one batch each; a host that cannot be planned keeps its own error', async () => {
    const { ctx, connector } = fakeRun(['m1', 'm2', 'm3'], (n) => new BatchingConn(n, answer));
    connector.down.add('m3');
    const tasks: Task<any>[] = [
      { module: catModule, params: { key: 'a', value: '1' } },
      { module: catModule, params: { key: 'b', value: 'other' } },
    ];
    const r = await planHosts(ctx, ['m1', 'm2', 'm3'], (h) => (h === 'm2' ? null : tasks), { mode: 'check', title });
    const m1 = r.get('m1')!;
    if (!('tasks' in m1)) throw new Error('m1 was not planned');
    expect(m1.tasks?.map((t) => [t.title, t.plan?.change])).toEqual([
      ['key a', false],
      ['key b', true],
    ]);
    expect((connector.conns.get('m1') as BatchingConn).batches).toEqual([['cat a', 'cat b']]);
    expect(r.get('m2')).toEqual({ tasks: null });
    expect(String((r.get('m3') as { error: unknown }).error)).toMatch(/m3: connect ECONNREFUSED/);
    expect(ctx.recap.get('m1')).toMatchObject({ ok: 0, changed: 0 }); // planning counts nothing and changes nothing
  });

  it("check mode: a plan to show never waits and never refreshes; 'planning' marks the pass", async () => {
    const seen: Array<{ check: boolean; planning?: boolean; diff: boolean }> = [];
    const spy = defineModule<object>({
      name: 'spy',
      describe: () => 'spy',
      probe: () => null,
      decide: (_r, _p, c) => (seen.push({ check: c.check, diff: c.diff, ...(c.planning ? { planning: true } : {}) }), { change: false, why: 'seen' }),
    });
    const { ctx } = fakeRun(['m1'], (n) => new BatchingConn(n, answer), { diff: true });
    await planHosts(ctx, ['m1'], () => [{ module: spy, params: {} }], { mode: 'check', title });
    await planHosts(ctx, ['m1'], () => [{ module: spy, params: {} }], { mode: 'planning', title });
    expect(seen).toEqual([
      { check: true, diff: false },
      { check: false, diff: true, planning: true },
    ]);
  });
});
