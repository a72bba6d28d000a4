import { describe, expect, it } from 'vitest';
import { PlayStopped, runPlay } from '../../src/engine/play.js';
import { defineModule } from '../../src/engine/plan-tasks.js';
import type { HostContext, Module, Play } from '../../src/engine/types.js';
import { TaskFailed } from '../../src/errors.js';
import { FakeConn, fakeRun } from '../helpers/fake-conn.js';

/**
 * A module whose wanted state is a key in a per-host map: decide compares, apply sets. A test
 * double: it reads the map instead of probing the host (probe: null).
 */
function kvModule(state: Map<string, Map<string, string>>, order: string[]): Module<{ key: string; value: string; fail?: boolean }> {
  return defineModule({
    name: 'kv',
    describe: (p) => `set ${p.key}`,
    probe: () => null,
    decide(_r, p, ctx) {
      const cur = state.get(ctx.host.name)?.get(p.key);
      if (cur === p.value) return { change: false, why: `${p.key} already ${p.value}` };
      return {
        change: true,
        why: `${p.key} ${cur ?? 'unset'} -> ${p.value}`,
        apply: async (hc) => {
          order.push(`${hc.host.name}:${p.key}`);
          if (p.fail) throw new TaskFailed(`cannot set ${p.key}`);
          if (!state.has(hc.host.name)) state.set(hc.host.name, new Map());
          state.get(hc.host.name)!.set(p.key, p.value);
        },
      };
    },
  });
}

const restartModule = (order: string[]): Module<{ svc: string }> =>
  defineModule({
    name: 'restart',
    describe: (p) => `restart ${p.svc}`,
    probe: () => null,
    decide: (_r, p) => ({ change: true, why: 'notified', apply: async (hc) => void order.push(`${hc.host.name}:restart:${p.svc}`) }),
  });

/** A fake run over `hosts` with a kv module that records each apply in `order`. */
function kvRun(hosts: string[]) {
  const order: string[] = [];
  const kv = kvModule(new Map(), order);
  const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
  return { order, kv, ctx };
}

describe('play runner', () => {
  const hosts = ['m1', 'm2', 'm3', 'm4', 'm5'];

  it('serial 20% over 5 hosts runs 5 batches of 1, tasks in lockstep, handlers once per host at batch end', async () => {
    const state = new Map<string, Map<string, string>>();
    const order: string[] = [];
    const { ctx, events } = fakeRun(hosts, (n) => new FakeConn(n));
    const kv = kvModule(state, order);
    const play: Play = {
      name: 'test',
      hosts,
      serial: '20%',
      tasks: [
        { module: kv, params: { key: 'a', value: '1' }, notify: ['restart x'] },
        { module: kv, params: { key: 'b', value: '1' }, notify: ['restart x'] },
      ],
      handlers: [{ name: 'restart x', module: restartModule(order), params: { svc: 'x' } }],
    };
    const r = await runPlay(ctx, play);
    expect(r.done).toEqual(hosts);
    expect(events.filter((e) => e.type === 'batch').map((e) => e.type === 'batch' && e.hosts)).toEqual(hosts.map((h) => [h]));
    expect(order).toEqual(hosts.flatMap((h) => [`${h}:a`, `${h}:b`, `${h}:restart:x`]));
    expect(ctx.recap.get('m1')).toEqual({ ok: 0, changed: 3, failed: 0, unreachable: 0, skipped: 0 });
  });

  it('within a batch, task 1 finishes on every host before task 2 starts (lockstep)', async () => {
    const state = new Map<string, Map<string, string>>();
    const order: string[] = [];
    const { ctx } = fakeRun(['m1', 'm2', 'm3'], (n) => new FakeConn(n));
    const kv = kvModule(state, order);
    await runPlay(ctx, {
      name: 'p',
      hosts: ['m1', 'm2', 'm3'],
      tasks: [
        { module: kv, params: { key: 'a', value: '1' } },
        { module: kv, params: { key: 'b', value: '1' } },
      ],
    });
    expect(order.slice(0, 3).every((o) => o.endsWith(':a'))).toBe(true);
    expect(order.slice(3).every((o) => o.endsWith(':b'))).toBe(true);
  });

  it('second run changes nothing, runs no handler, and plans every host in one parallel round', async () => {
    const state = new Map<string, Map<string, string>>();
    const order: string[] = [];
    const kv = kvModule(state, order);
    const play = (h: string[]): Play => ({
      name: 'p',
      hosts: h,
      serial: 1,
      tasks: [{ module: kv, params: { key: 'a', value: '1' }, notify: ['r'] }],
      handlers: [{ name: 'r', module: restartModule(order), params: { svc: 'x' } }],
    });
    await runPlay(fakeRun(hosts, (n) => new FakeConn(n)).ctx, play(hosts));
    order.length = 0;
    const { ctx, events } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, play(hosts));
    expect(order).toEqual([]);
    expect(r.done).toEqual(hosts);
    expect(events.filter((e) => e.type === 'batch')).toHaveLength(0);
    expect(events.filter((e) => e.type === 'task').every((e) => e.type === 'task' && e.status === 'ok' && e.why === 'a already 1')).toBe(true);
  });

  it('a failed host stops the play (max fail 0): later batches are untouched', async () => {
    const state = new Map<string, Map<string, string>>();
    const order: string[] = [];
    const kv = kvModule(state, order);
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, {
      name: 'p',
      hosts,
      serial: 2,
      tasks: [{ module: kv, params: (hc: HostContext) => ({ key: 'a', value: '1', fail: hc.host.name === 'm3' }) }],
    });
    expect(r.done).toEqual(['m1', 'm2', 'm4']);
    expect(r.failed).toEqual(['m3']);
    expect(r.untouched).toEqual(['m5']);
    expect(r.stopped).toBe(true);
    expect(r.stopReason).toBe('1 of 5 hosts failed (max fail 0%)');
    expect(order).not.toContain('m5:a');
  });

  it('a host lost mid-batch: unreachable, the play stops, and the PlayStopped line names done / failed / unreachable / untouched', async () => {
    const state = new Map<string, Map<string, string>>();
    const kv = kvModule(state, []);
    const { TransportError } = await import('../../src/errors.js');
    const lost: Module<Record<string, never>> = defineModule({
      name: 'lost',
      describe: () => 'step 2',
      probe: () => null,
      decide(_r, _p, ctx) {
        if (ctx.host.name === 'm3') throw new TransportError('m3: connection to 10.0.0.13:22 was lost', { host: 'm3', code: 'E_CONNECTION_LOST' });
        return { change: false, why: 'fine' };
      },
    });
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, {
      name: 'start the others',
      hosts,
      serial: 1,
      tasks: [
        { module: kv, params: { key: 'a', value: '1' } },
        { module: lost, params: {} },
      ],
    });
    expect(r).toMatchObject({ done: ['m1', 'm2'], failed: [], unreachable: ['m3'], untouched: ['m4', 'm5'], stopped: true });
    expect(ctx.unreachable.has('m3')).toBe(true);
    expect(state.get('m4')).toBeUndefined();
    expect(new PlayStopped(r).message).toBe(
      'start the others: stopped: every host of batch 3 failed or was unreachable; done: m1, m2; failed: none; unreachable: m3; untouched: m4, m5',
    );
  });

  it('a task that fails because its host is dying (the connection is gone right after) is reported unreachable, not failed', async () => {
    const { TransportError } = await import('../../src/errors.js');
    const dying = (name: string) => {
      let dead = false;
      return new FakeConn(name, (script) => {
        if (name !== 'm2') return undefined;
        if (dead) throw new TransportError('m2: connection to 10.0.0.12:22 was lost', { host: 'm2', code: 'E_CONNECTION_LOST' });
        if (script.includes('systemctl start')) {
          dead = true;
          return { code: 1, stderr: 'Failed to start haproxy.service: Connection reset by peer' };
        }
        return undefined;
      });
    };
    const startModule: Module<Record<string, never>> = defineModule({
      name: 'start',
      describe: () => 'start haproxy',
      probe: () => null,
      decide: () => ({
        change: true,
        why: 'inactive',
        apply: async (ctx) => {
          const r = await ctx.conn.exec({ argv: ['systemctl', 'start', 'haproxy'] });
          if (r.code !== 0) throw new TaskFailed(`start haproxy failed: ${r.stderr}`);
        },
      }),
    });
    const { ctx, events } = fakeRun(['m1', 'm2', 'm3'], dying);
    const r = await runPlay(ctx, { name: 'p', hosts: ['m1', 'm2', 'm3'], serial: 1, tasks: [{ module: startModule, params: {} }] });
    expect(r).toMatchObject({ done: ['m1'], failed: [], unreachable: ['m2'], untouched: ['m3'], stopped: true });
    expect(ctx.failed.size).toBe(0);
    expect(ctx.recap.get('m2')).toMatchObject({ failed: 0, unreachable: 1 });
    const ev = events.find((e) => e.type === 'task' && e.host === 'm2');
    expect(ev).toMatchObject({
      status: 'unreachable',
      error:
        'm2: connection to 10.0.0.12:22 was lost (the task had just failed: start haproxy failed: Failed to start haproxy.service: Connection reset by peer)',
    });
  });

  it('a host that can no longer run `true` after a failed task is going down: unreachable', async () => {
    const { ctx } = fakeRun(
      ['m1'],
      (n) => new FakeConn(n, (script) => (script === 'true' ? { code: 254, stderr: 'sh: fork: Cannot allocate memory' } : undefined)),
    );
    const kv = kvModule(new Map(), []);
    const r = await runPlay(ctx, { name: 'p', hosts: ['m1'], tasks: [{ module: kv, params: { key: 'a', value: '1', fail: true } }] });
    expect(r.unreachable).toEqual(['m1']);
    expect(ctx.unreachable.get('m1')).toBe(
      'm1: `true` failed (exit 254: sh: fork: Cannot allocate memory): the host is going down (the task had just failed: cannot set a)',
    );
  });

  it('a task that fails on a host that still answers stays failed (one `true` asked it)', async () => {
    const state = new Map<string, Map<string, string>>();
    const kv = kvModule(state, []);
    const conns = new Map<string, FakeConn>();
    const { ctx } = fakeRun(['m1', 'm2'], (n) => {
      const c = new FakeConn(n);
      conns.set(n, c);
      return c;
    });
    const r = await runPlay(ctx, {
      name: 'p',
      hosts: ['m1', 'm2'],
      tasks: [{ module: kv, params: (hc: HostContext) => ({ key: 'a', value: '1', fail: hc.host.name === 'm2' }) }],
    });
    expect(r.failed).toEqual(['m2']);
    expect(r.unreachable).toEqual([]);
    expect(conns.get('m2')!.log).toEqual(['true']);
    expect(conns.get('m1')!.log).toEqual([]);
  });

  it('max_fail_percentage lets the play go on below the threshold', async () => {
    const state = new Map<string, Map<string, string>>();
    const kv = kvModule(state, []);
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, {
      name: 'p',
      hosts,
      serial: 2,
      maxFailPercentage: 20,
      tasks: [{ module: kv, params: (hc: HostContext) => ({ key: 'a', value: '1', fail: hc.host.name === 'm2' }) }],
    });
    expect(r.stopped).toBe(false);
    expect(r.done).toEqual(['m1', 'm3', 'm4', 'm5']);
    expect(r.failed).toEqual(['m2']);
  });

  it('an unreachable host is reported unreachable, not failed, and the others go on per max fail', async () => {
    const state = new Map<string, Map<string, string>>();
    const kv = kvModule(state, []);
    const { ctx, connector } = fakeRun(['m1', 'm2', 'm3'], (n) => new FakeConn(n));
    ctx.facts.delete('m2');
    connector.down.add('m2');
    const r = await runPlay(ctx, { name: 'p', hosts: ['m1', 'm2', 'm3'], maxFailPercentage: 50, tasks: [{ module: kv, params: { key: 'a', value: '1' } }] });
    expect(r.unreachable).toEqual(['m2']);
    expect(r.done).toEqual(['m1', 'm3']);
    expect(ctx.recap.get('m2')?.unreachable).toBe(1);
  });

  it('check mode plans every task and never applies', async () => {
    const state = new Map<string, Map<string, string>>();
    const order: string[] = [];
    const kv = kvModule(state, order);
    const { ctx, events } = fakeRun(['m1', 'm2'], (n) => new FakeConn(n), { check: true });
    await runPlay(ctx, {
      name: 'p',
      hosts: ['m1', 'm2'],
      tasks: [{ module: kv, params: { key: 'a', value: '1' }, notify: ['r'] }],
      handlers: [{ name: 'r', module: restartModule(order), params: { svc: 'x' } }],
    });
    expect(order).toEqual([]);
    expect(state.size).toBe(0);
    const tasks = events.filter((e) => e.type === 'task');
    // the notified handler is reported as a change that would happen, and is not applied either
    expect(tasks.map((e) => e.type === 'task' && [e.host, e.task, e.status, e.check])).toEqual([
      ['m1', 'set a', 'changed', true],
      ['m2', 'set a', 'changed', true],
      ['m1', 'restart x', 'changed', true],
      ['m2', 'restart x', 'changed', true],
    ]);
  });

  it('a whole batch failing stops the play even within max fail', async () => {
    const kv = kvModule(new Map(), []);
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, {
      name: 'p',
      hosts,
      serial: 1,
      maxFailPercentage: 50,
      tasks: [{ module: kv, params: (hc: HostContext) => ({ key: 'a', value: '1', fail: hc.host.name === 'm2' }) }],
    });
    expect(r.stopReason).toBe('every host of batch 2 failed or was unreachable');
    expect(r.untouched).toEqual(['m3', 'm4', 'm5']);
  });

  it('afterBatch failing stops the play after that batch', async () => {
    const kv = kvModule(new Map(), []);
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, {
      name: 'p',
      hosts,
      serial: 2,
      tasks: [{ module: kv, params: { key: 'a', value: '1' } }],
      afterBatch: async (_h, i) => {
        if (i === 1) throw new Error('VIP moved');
      },
    });
    expect(r.stopped).toBe(true);
    expect(r.stopReason).toBe('after batch 2: VIP moved');
    expect(r.untouched).toEqual(['m5']);
  });

  it('a handler notified in a play with flushHandlers false runs in the next play', async () => {
    const order: string[] = [];
    const kv = kvModule(new Map(), order);
    const { ctx } = fakeRun(['m1'], (n) => new FakeConn(n));
    const handlers = [{ name: 'r', module: restartModule(order), params: { svc: 'x' } }];
    await runPlay(ctx, {
      name: 'configure',
      hosts: ['m1'],
      flushHandlers: false,
      tasks: [{ module: kv, params: { key: 'a', value: '1' }, notify: ['r'] }],
      handlers,
    });
    expect(order).toEqual(['m1:a']);
    await runPlay(ctx, { name: 'start', hosts: ['m1'], tasks: [], handlers });
    expect(order).toEqual(['m1:a', 'm1:restart:x']);
  });
});

describe('flush_handlers', () => {
  it('runs the handlers notified so far at that point, so later tasks see the restarted service', async () => {
    const { FLUSH_HANDLERS } = await import('../../src/engine/play.js');
    const { order, kv, ctx } = kvRun(['m1', 'm2']);
    await runPlay(ctx, {
      name: 'p',
      hosts: ['m1', 'm2'],
      serial: 1,
      tasks: [{ module: kv, params: { key: 'a', value: '1' }, notify: ['r'] }, FLUSH_HANDLERS, { module: kv, params: { key: 'b', value: '1' } }],
      handlers: [{ name: 'r', module: restartModule(order), params: { svc: 'x' } }],
    });
    expect(order).toEqual(['m1:a', 'm1:restart:x', 'm1:b', 'm2:a', 'm2:restart:x', 'm2:b']);
  });
});

describe('handlers that supersede others', () => {
  it("a handler's clears drops a later handler notified with it (a restart makes the reload moot), and only on that host", async () => {
    const { order, kv, ctx } = kvRun(['m1', 'm2']);
    await runPlay(ctx, {
      name: 'p',
      hosts: ['m1', 'm2'],
      tasks: [
        { module: kv, params: { key: 'unit', value: '1' }, notify: ['restart'], when: (hc) => hc.host.name === 'm1' },
        { module: kv, params: { key: 'cfg', value: '1' }, notify: ['reload'] },
      ],
      handlers: [
        { name: 'restart', module: restartModule(order), params: { svc: 'x' }, clears: ['reload'] },
        { name: 'reload', module: restartModule(order), params: { svc: 'reload-x' } },
      ],
    });
    expect(order.filter((o) => o.includes('restart:'))).toEqual(['m1:restart:x', 'm2:restart:reload-x']);
  });

  it('the haproxy and nginx restart handlers clear their reload', async () => {
    const { haHandlers } = await import('../../src/roles/ha.js');
    const { nodeProxyHandlers } = await import('../../src/roles/nodes.js');
    const clears = (hs: Array<{ name: string; clears?: string[] }>) => Object.fromEntries(hs.filter((h) => h.clears).map((h) => [h.name, h.clears]));
    expect(clears(haHandlers())).toEqual({ 'restart haproxy': ['reload haproxy'] });
    expect(clears(nodeProxyHandlers())).toEqual({ 'restart haproxy': ['reload haproxy'], 'restart nginx': ['reload nginx'] });
  });
});

describe('hosts lost while planning', () => {
  it('count against max fail: the others finish their batch, then the play stops (max fail 0)', async () => {
    const order: string[] = [];
    const kv = kvModule(new Map(), order);
    const { ctx, connector } = fakeRun(['m1', 'm2', 'm3', 'm4', 'm5'], (n) => new FakeConn(n));
    ctx.facts.delete('m5');
    connector.down.add('m5');
    const r = await runPlay(ctx, { name: 'p', hosts: ['m1', 'm2', 'm3', 'm4', 'm5'], tasks: [{ module: kv, params: { key: 'a', value: '1' } }] });
    expect(r.unreachable).toEqual(['m5']);
    expect(r.done).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(r.stopped).toBe(true);
    expect(r.stopReason).toBe('1 of 5 hosts failed (max fail 0%)');
    expect(connector.handshakes).toBe(4);
  });
});

describe('facts are current until a task changes the host', () => {
  it('hostContext says factsCurrent until the host has a change', async () => {
    const { ctx } = fakeRun(['m1', 'm2'], (n) => new FakeConn(n));
    expect((await ctx.hostContext('m1')).factsCurrent).toBe(true);
    ctx.count('m1', 'ok');
    expect((await ctx.hostContext('m1')).factsCurrent).toBe(true);
    ctx.count('m1', 'changed');
    expect((await ctx.hostContext('m1')).factsCurrent).toBe(false);
    expect((await ctx.hostContext('m2')).factsCurrent).toBe(true);
  });
});

describe('phases own their clean-up', () => {
  const setup = async () => {
    const { EventBus } = await import('../../src/engine/events.js');
    const { runPhases } = await import('../../src/engine/phases.js');
    const events = new EventBus();
    const warnings: string[] = [];
    events.add({
      emit: (e) => {
        if (e.type === 'message' && e.level === 'warn') warnings.push(e.text);
      },
    });
    return { events, runPhases, warnings };
  };
  it('runs the clean-ups of the phases that started, last first, after a failure too', async () => {
    const { events, runPhases } = await setup();
    const log: string[] = [];
    const phase = (name: string, o: { fail?: boolean; skip?: boolean } = {}) => ({
      title: name,
      ...(o.skip ? { shouldRun: () => false } : {}),
      run: async () => {
        log.push(`run ${name}`);
        if (o.fail) throw new Error(`${name} failed`);
      },
      cleanup: async () => void log.push(`clean ${name}`),
    });
    await expect(runPhases({}, events, [phase('a'), phase('skipped', { skip: true }), phase('b'), phase('c', { fail: true }), phase('never')])).rejects.toThrow(
      'c failed',
    );
    expect(log).toEqual(['run a', 'run b', 'run c', 'clean c', 'clean b', 'clean a']);
  });
  it('a clean-up that throws is reported and the others still run; the run itself succeeds', async () => {
    const { events, runPhases, warnings } = await setup();
    const log: string[] = [];
    await runPhases({}, events, [
      { title: 'lock', run: async () => {}, cleanup: async () => void log.push('unlock') },
      { title: 'broken', run: async () => {}, cleanup: async () => Promise.reject(new Error('boom')) },
    ]);
    expect(log).toEqual(['unlock']);
    expect(warnings).toEqual(['broken: clean-up failed: boom']);
  });
});

describe('explicit batches and batch hooks (kha upgrade: the holder last, the handover before its batch)', () => {
  const hosts = ['m1', 'm2', 'm3', 'm4'];
  const setup = () => {
    const state = new Map<string, Map<string, string>>();
    const order: string[] = [];
    const { ctx, events } = fakeRun(hosts, (n) => new FakeConn(n));
    return { ctx, events, order, kv: kvModule(state, order) };
  };

  it('runs the batches in the given order; hosts outside every batch count only in the max-fail base', async () => {
    const { ctx, events, order, kv } = setup();
    const hooks: string[] = [];
    const r = await runPlay(ctx, {
      name: 'upgrade',
      hosts,
      batches: [['m3'], ['m2'], ['m1']],
      planFirst: false,
      tasks: [{ module: kv, params: { key: 'a', value: '1' } }],
      beforeBatch: async (hs, i) => void hooks.push(`before ${i} ${hs.join(',')}`),
      afterBatch: async (hs, i) => void hooks.push(`after ${i} ${hs.join(',')}`),
    });
    expect(order).toEqual(['m3:a', 'm2:a', 'm1:a']);
    expect(hooks).toEqual(['before 0 m3', 'after 0 m3', 'before 1 m2', 'after 1 m2', 'before 2 m1', 'after 2 m1']);
    expect(r).toMatchObject({ done: ['m3', 'm2', 'm1'], untouched: [], stopped: false });
    expect(events.filter((e) => e.type === 'batch').map((e) => e.type === 'batch' && `${e.play} ${e.index}/${e.count}`)).toEqual([
      'upgrade 1/3',
      'upgrade 2/3',
      'upgrade 3/3',
    ]);
  });

  it('a before hook that throws stops the play before its batch: that batch and the later ones are untouched, onStop words the reason', async () => {
    const { ctx, order, kv } = setup();
    const stops: string[] = [];
    const r = await runPlay(ctx, {
      name: 'upgrade',
      hosts,
      batches: [['m2'], ['m3'], ['m1']],
      planFirst: false,
      tasks: [{ module: kv, params: { key: 'a', value: '1' } }],
      beforeBatch: async (hs) => {
        if (hs.includes('m3')) throw new Error('no other host took the VIP');
      },
      onStop: (stop, i) => {
        stops.push(`${stop.kind} at ${i}`);
        return stop.kind === 'hook' ? String((stop.error as Error).message) : stop.kind;
      },
    });
    expect(order).toEqual(['m2:a']);
    expect(r).toMatchObject({ done: ['m2'], untouched: ['m3', 'm1'], stopped: true, stopReason: 'no other host took the VIP' });
    expect(stops).toEqual(['hook at 1']);
  });

  it('a failed batch: onStop gets the batch failures (failed, then unreachable) and the max-fail count', async () => {
    const { ctx, kv } = setup();
    const seen: unknown[] = [];
    const r = await runPlay(ctx, {
      name: 'upgrade',
      hosts,
      batches: [['m2', 'm3'], ['m1']],
      planFirst: false,
      maxFailPercentage: 0,
      tasks: [{ module: kv, params: (hc: HostContext) => ({ key: 'a', value: '1', fail: hc.host.name === 'm3' }) }],
      onStop: (stop, i) => {
        seen.push(stop);
        return `batch ${i + 1} failed`;
      },
    });
    expect(seen).toEqual([{ kind: 'max-fail', failed: 1, of: 4, max: 0, hosts: ['m3'] }]);
    expect(r).toMatchObject({ done: ['m2'], failed: ['m3'], untouched: ['m1'], stopped: true, stopReason: 'batch 1 failed' });
  });

  it('without onStop, a before hook error is reported in the engine words', async () => {
    const { ctx, events, kv } = setup();
    const r = await runPlay(ctx, {
      name: 'p',
      hosts,
      batches: [['m1']],
      planFirst: false,
      tasks: [{ module: kv, params: { key: 'a', value: '1' } }],
      beforeBatch: async () => Promise.reject(new Error('not ready')),
    });
    expect(r.stopReason).toBe('before batch 1: not ready');
    expect(events.some((e) => e.type === 'message' && e.level === 'error' && e.text === 'before batch 1: not ready')).toBe(true);
  });
});

describe('interruptsService (kha upgrade: does the holder need a handover?)', () => {
  it.each([
    ['a haproxy.cfg change (reload)', ['reload haproxy'], {}, false],
    ['a keepalived.conf change (restart)', ['restart keepalived'], {}, true],
    ['a unit drop-in (haproxy restart)', ['restart haproxy'], {}, true],
    ['a keepalived change with keepalived reloaded (membership changes)', ['restart keepalived'], { keepalived: 'reload' as const }, false],
    ['nothing notified', [], {}, false],
    ['a metrics exporter change (its socket restarted: not the VIP)', ['restart kha-metrics.socket'], {}, false],
    ['the foreign-advert counter restarted (not the VIP)', ['restart kha-vrrp-count'], {}, false],
  ])('%s', async (_what, notify, opts, want) => {
    const { interruptsService } = await import('../../src/actions/rollout.js');
    const { haHandlers } = await import('../../src/roles/ha.js');
    const task = {
      module: defineModule({ name: 'x', describe: () => 'x', probe: () => null, decide: () => ({ change: false as const, why: '' }) }),
      params: {},
      notify,
    };
    expect(interruptsService([task], haHandlers(opts))).toBe(want);
  });
});

describe('what a task interrupts comes from its module (service: a restart or a stop of the unit)', () => {
  it.each([
    [{ name: 'keepalived', state: 'restarted' }, 'keepalived.service'],
    [{ name: 'haproxy', state: 'stopped' }, 'haproxy.service'],
    [{ name: 'haproxy', state: 'reloaded' }, null],
    [{ name: 'keepalived', state: 'started', enabled: true }, null],
    [{ name: 'kha-metrics.socket', state: 'restarted' }, 'kha-metrics.socket'],
  ])('%o -> %s', async (params, unit) => {
    const { serviceModule } = await import('../../src/modules/index.js');
    expect(serviceModule.interrupts?.(params as Parameters<NonNullable<typeof serviceModule.interrupts>>[0])).toBe(unit);
  });

  it('a changed task that itself restarts keepalived interrupts; one that starts it does not (touchesVrrp covers starts)', async () => {
    const { interruptsService } = await import('../../src/actions/rollout.js');
    const { serviceModule } = await import('../../src/modules/index.js');
    expect(interruptsService([{ module: serviceModule, params: { name: 'keepalived', state: 'restarted' } }], [])).toBe(true);
    expect(interruptsService([{ module: serviceModule, params: { name: 'keepalived', state: 'started' } }], [])).toBe(false);
  });
});

describe('touchesVrrp (kha up: does a start batch give VRRP an advert interval to settle?)', () => {
  const x = defineModule({ name: 'x', describe: () => 'x', probe: () => null, decide: () => ({ change: false as const, why: '' }) });
  it.each([
    ['only haproxy.cfg changed (a reload)', [{ module: x, params: {}, notify: ['reload haproxy'] }], false],
    ['keepalived.conf changed (a restart)', [{ module: x, params: {}, notify: ['restart keepalived'] }], true],
    ['nothing changed', [], false],
  ])('%s', async (_what, changed, want) => {
    const { touchesVrrp } = await import('../../src/actions/rollout.js');
    const { haHandlers } = await import('../../src/roles/ha.js');
    expect(touchesVrrp(changed, haHandlers())).toBe(want);
  });

  it('a service to start or enable (keepalived or haproxy not running) touches it', async () => {
    const { touchesVrrp } = await import('../../src/actions/rollout.js');
    const { haHandlers, startTasks } = await import('../../src/roles/ha.js');
    // startTasks reads only `metrics` from the settings
    const start = startTasks({ metrics: false } as Parameters<typeof startTasks>[0]);
    expect(start.map((t) => t.module.name)).toContain('service');
    for (const t of start.filter((x) => x.module.name === 'service')) expect(touchesVrrp([t], haHandlers())).toBe(true);
  });
});

describe('what a phase finds (Found)', () => {
  it('is read after the phase that finds it; read before, or found twice, it throws; peek says whether it ran', async () => {
    const { EventBus } = await import('../../src/engine/events.js');
    const { Found, runPhases } = await import('../../src/engine/phases.js');
    const holders = new Found<string[]>('preflight');
    expect(() => holders.get()).toThrow('preflight is read before the phase that finds it ran');
    expect(holders.peek()).toBeUndefined();
    const seen: string[][] = [];
    await runPhases({}, new EventBus(), [
      { title: 'find', run: async () => void holders.set(['m1']) },
      { title: 'read', run: async () => void seen.push(holders.get()) },
    ]);
    expect(seen).toEqual([['m1']]);
    expect(holders.peek()).toEqual(['m1']);
    expect(() => holders.set(['m2'])).toThrow('preflight was found twice');
  });

  it('kha up: a phase list read out of order fails loudly instead of reading an empty network', async () => {
    const { upPhases } = await import('../../src/actions/up.js');
    const { ctx } = fakeRun(['m1'], (n) => new FakeConn(n));
    const plan = upPhases().find((p) => p.title === 'Plan')!;
    const st = { run: ctx, s: { lbHosts: ['m1'] } as never, opts: { serial: 1 }, plays: [] };
    await expect(plan.run(st)).rejects.toThrow('preflight is read before the phase that finds it ran');
  });
});
