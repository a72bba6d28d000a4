// A play given an earlier plan's probe results (Play.probed, kha up's Plan phase) decides from
// them instead of probing again, per host and task, while they hold: the same probes, and kha has
// changed nothing on the host since (RunContext.generation: an apply, a batch hook). The
// reports are the same as when it probes; only the round trips go.
import { describe, expect, it } from 'vitest';
import type { RunContext } from '../../src/engine/context.js';
import type { RunEvent } from '../../src/engine/events.js';
import { runPlay } from '../../src/engine/play.js';
import { defineModule, planHosts, probedOf } from '../../src/engine/plan-tasks.js';
import type { Play, ProbedTasks, Task } from '../../src/engine/types.js';
import { BatchingConn, FakeConn, fakeRun } from '../helpers/fake-conn.js';

/** Each host's state: key -> value. `cat <key>` reads it (exit 1: unset), `set <key> <value>` writes it. */
type World = Map<string, Map<string, string>>;

function hostOf(world: World, name: string, batching: boolean): FakeConn {
  const handler = (cmd: string) => {
    const [verb, key, value] = cmd.split(' ');
    const kv = world.get(name)!;
    if (verb === 'cat') return kv.has(key!) ? { stdout: kv.get(key!)! } : { code: 1 };
    if (verb === 'set') kv.set(key!, value!);
    return {};
  };
  return batching ? new BatchingConn(name, handler) : new FakeConn(name, handler);
}

/**
 * Wanted: `key` holds `value`. Its apply may also write `also` (as installing haproxy writes a
 * default haproxy.cfg); `withDiff`: with --diff the probe asks for more (as a template's does).
 */
const kv = defineModule<{ key: string; value: string; also?: [string, string]; withDiff?: boolean }>({
  name: 'kv',
  describe: (p) => `set ${p.key}`,
  probe: (p, ctx) => ({ cmd: { argv: ['cat', p.key, ...(p.withDiff && ctx.diff ? ['--content'] : [])] } }),
  decide([r], p) {
    if (r?.code === 0 && r.stdout === p.value) return { change: false, why: `${p.key} is ${p.value}` };
    return {
      change: true,
      why: `${p.key} is ${r?.code === 0 ? r.stdout : 'unset'}`,
      apply: async (hc) => {
        await hc.conn.exec({ argv: ['set', p.key, p.value] });
        if (p.also) await hc.conn.exec({ argv: ['set', ...p.also] });
      },
    };
  },
});

const hosts = ['m1', 'm2', 'm3'];
const task = (key: string, more: Partial<{ also: [string, string]; withDiff: boolean }> = {}): Task<any> => ({
  module: kv,
  params: { key, value: '1', ...more },
});

/** A fresh run over `start` (host -> key -> value). */
function scenario(start: Record<string, Record<string, string>>, opts: { batching?: boolean; check?: boolean; diff?: boolean } = {}) {
  const world: World = new Map(hosts.map((h) => [h, new Map(Object.entries(start[h] ?? {}))]));
  const run = fakeRun(hosts, (n) => hostOf(world, n, opts.batching ?? true), { check: opts.check ?? false, diff: opts.diff ?? false });
  return { ...run, world };
}

/** Round trips so far, over every host. */
const roundTrips = (ctx: RunContext) =>
  hosts.reduce((n, h) => n + ((ctx.connector as unknown as { conns: Map<string, FakeConn> }).conns.get(h)?.stats.execs ?? 0), 0);

/** The task events, without their timing. */
const reported = (events: RunEvent[]) => events.filter((e) => e.type === 'task').map((e) => ({ ...e, ms: 0 }));

/** kha up's shape: plan every host (check mode), then the play, with or without the plan's results. */
async function planThenPlay(
  sc: ReturnType<typeof scenario>,
  play: Omit<Play, 'hosts' | 'name'>,
  reuse: boolean,
): Promise<{ plan: number; play: number; probed: ProbedTasks }> {
  const plans = await planHosts(sc.ctx, hosts, () => play.tasks, { mode: 'check', title: (t, p) => t.module.describe(p) });
  const plan = roundTrips(sc.ctx);
  const probed = probedOf(plans);
  sc.events.length = 0;
  await runPlay(sc.ctx, { name: 'p', hosts, ...play, ...(reuse ? { probed } : {}) });
  return { plan, play: roundTrips(sc.ctx) - plan, probed };
}

const oneDrift = { m1: { a: '1', b: '1', c: '1' }, m2: { a: '1', b: '1', c: '1' }, m3: { a: '1', b: '1' } };

describe("a play takes the plan's probe results", () => {
  it.each([
    // one batch per host for the plan; the play's plan-first pass again (3), then m3's three probes and its apply
    ['batching connections', true, { plan: 3, before: 3 + 4, after: 1 }],
    // one exec per probe: the plan (9), the plan-first pass (each host up to its first change: 9), m3's run (4)
    ['one exec per probe', false, { plan: 9, before: 9 + 4, after: 1 }],
  ])('%s: only the apply goes to the host, and the reports are the same', async (_name, batching, want) => {
    const tasks = [task('a'), task('b'), task('c')];
    const before = scenario(oneDrift, { batching });
    const b = await planThenPlay(before, { tasks }, false);
    const after = scenario(oneDrift, { batching });
    const a = await planThenPlay(after, { tasks }, true);
    expect([b.plan, b.play, a.plan, a.play]).toEqual([want.plan, want.before, want.plan, want.after]);
    expect(reported(after.events)).toEqual(reported(before.events));
    expect(after.world).toEqual(before.world);
    expect(after.world.get('m3')!.get('c')).toBe('1');
    expect(a.probed.get('m3')!.get(tasks[2]!)).toMatchObject({ probes: [{ cmd: { argv: ['cat', 'c'] } }], results: [{ code: 1 }], generation: 0 });
  });

  it('after an apply on a host, its later tasks probe again and see what the apply wrote (the default haproxy.cfg)', async () => {
    // the plan saw c as wanted; installing a also writes c's default, which the play must put right
    const start = { m1: { b: '1', c: '1' }, m2: { a: '1', b: '1', c: '1' }, m3: { a: '1', b: '1', c: '1' } };
    const tasks = [task('a', { also: ['c', 'default'] }), task('b'), task('c')];
    const sc = scenario(start);
    const r = await planThenPlay(sc, { tasks }, true);
    // m1: a from the plan and its apply (2 writes), then b and c probed (2), then c's apply
    expect(r.play).toBe(2 + 2 + 1);
    expect(sc.world.get('m1')!.get('c')).toBe('1');
    expect(
      reported(sc.events)
        .filter((e) => e.host === 'm1')
        .map((e) => [e.task, e.status, e.why]),
    ).toEqual([
      ['set a', 'changed', 'a is unset'],
      ['set b', 'ok', 'b is 1'],
      ['set c', 'changed', 'c is default'],
    ]);
    expect(sc.ctx.generation('m1')).toBe(2);
    expect(sc.ctx.generation('m2')).toBe(0);
  });

  it("probes that differ from the plan's (--diff: the plan asked without content) are sent", async () => {
    const tasks = [task('a', { withDiff: true }), task('b', { withDiff: true }), task('c', { withDiff: true })];
    const b = await planThenPlay(scenario(oneDrift, { diff: true }), { tasks }, false);
    const a = await planThenPlay(scenario(oneDrift, { diff: true }), { tasks }, true);
    expect(a.play).toBe(b.play);
    expect(a.play).toBe(3 + 4);
  });

  it('a task object the plan did not see probes as before', async () => {
    const planned = [task('a'), task('b'), task('c')];
    const sc = scenario(oneDrift);
    const plans = await planHosts(sc.ctx, hosts, () => planned, { mode: 'check', title: (t, p) => t.module.describe(p) });
    const n = roundTrips(sc.ctx);
    await runPlay(sc.ctx, { name: 'p', hosts: ['m3'], tasks: [task('a'), task('b'), task('c')], probed: probedOf(plans) });
    expect(roundTrips(sc.ctx) - n).toBe(4);
  });

  it('a batch hook may change any host: the batches after it probe again', async () => {
    const start = { m1: { a: '1', b: '1' }, m2: { a: '1', b: '1' }, m3: { a: '1', b: '1', c: '1' } };
    const hooked: string[] = [];
    const play = { tasks: [task('a'), task('b'), task('c')], serial: 1, afterBatch: async (hs: string[]) => void hooked.push(...hs) };
    const sc = scenario(start);
    const r = await planThenPlay(sc, play, true);
    // m3 has nothing to change (the plan-first pass, from the plan: no round trip); m1 from the
    // plan: its apply; after m1's hook, m2 probes a, b and c again, then applies
    expect(hooked).toEqual(['m1', 'm2']);
    expect(r.play).toBe(1 + 4);
    expect(sc.ctx.generation('m3')).toBe(2);
  });

  it('check mode applies nothing: every task is decided from the plan, with the same reports', async () => {
    const tasks = [task('a'), task('b'), task('c')];
    const before = scenario(oneDrift, { check: true });
    const b = await planThenPlay(before, { tasks }, false);
    const after = scenario(oneDrift, { check: true });
    const a = await planThenPlay(after, { tasks }, true);
    // check mode runs every task through runTask (no plan-first pass): one probe each
    expect([b.play, a.play]).toEqual([9, 0]);
    expect(reported(after.events)).toEqual(reported(before.events));
    expect(after.world.get('m3')!.has('c')).toBe(false);
  });
});
