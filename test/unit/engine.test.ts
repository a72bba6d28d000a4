import { describe, expect, it } from 'vitest';
import { PlayStopped, runPlay } from '../../src/engine/play.js';
import type { HostContext, Module, Play } from '../../src/engine/types.js';
import { TaskFailed } from '../../src/errors.js';
import { FakeConn, fakeRun } from '../helpers/fake-conn.js';

/** A module whose wanted state is a key in a per-host map: plan compares, apply sets. */
function kvModule(state: Map<string, Map<string, string>>, order: string[]): Module<{ key: string; value: string; fail?: boolean }> {
  return {
    name: 'kv',
    describe: (p) => `set ${p.key}`,
    async plan(ctx, p) {
      const cur = state.get(ctx.host.name)?.get(p.key);
      if (cur === p.value) return { change: false, why: `${p.key} already ${p.value}` };
      return {
        change: true,
        why: `${p.key} ${cur ?? 'unset'} -> ${p.value}`,
        apply: async () => {
          order.push(`${ctx.host.name}:${p.key}`);
          if (p.fail) throw new TaskFailed(`cannot set ${p.key}`);
          if (!state.has(ctx.host.name)) state.set(ctx.host.name, new Map());
          state.get(ctx.host.name)!.set(p.key, p.value);
        },
      };
    },
  };
}

const restartModule = (order: string[]): Module<{ svc: string }> => ({
  name: 'restart',
  describe: (p) => `restart ${p.svc}`,
  async plan(ctx, p) {
    return { change: true, why: 'notified', apply: async () => void order.push(`${ctx.host.name}:restart:${p.svc}`) };
  },
});

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
    await runPlay(ctx, { name: 'p', hosts: ['m1', 'm2', 'm3'], tasks: [{ module: kv, params: { key: 'a', value: '1' } }, { module: kv, params: { key: 'b', value: '1' } }] });
    expect(order.slice(0, 3).every((o) => o.endsWith(':a'))).toBe(true);
    expect(order.slice(3).every((o) => o.endsWith(':b'))).toBe(true);
  });

  it('second run changes nothing, runs no handler, and plans every host in one parallel round', async () => {
    const state = new Map<string, Map<string, string>>();
    const order: string[] = [];
    const kv = kvModule(state, order);
    const play = (h: string[]): Play => ({
      name: 'p', hosts: h, serial: 1,
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
      name: 'p', hosts, serial: 2,
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
    const lost: Module<Record<string, never>> = {
      name: 'lost',
      describe: () => 'step 2',
      async plan(ctx) {
        if (ctx.host.name === 'm3') throw new TransportError('m3: connection to 10.0.0.13:22 was lost', { host: 'm3', code: 'E_CONNECTION_LOST' });
        return { change: false, why: 'fine' };
      },
    };
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, { name: 'start the others', hosts, serial: 1, tasks: [{ module: kv, params: { key: 'a', value: '1' } }, { module: lost, params: {} }] });
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
    const startModule: Module<Record<string, never>> = {
      name: 'start',
      describe: () => 'start haproxy',
      async plan(ctx) {
        return {
          change: true,
          why: 'inactive',
          apply: async () => {
            const r = await ctx.conn.exec({ argv: ['systemctl', 'start', 'haproxy'] });
            if (r.code !== 0) throw new TaskFailed(`start haproxy failed: ${r.stderr}`);
          },
        };
      },
    };
    const { ctx, events } = fakeRun(['m1', 'm2', 'm3'], dying);
    const r = await runPlay(ctx, { name: 'p', hosts: ['m1', 'm2', 'm3'], serial: 1, tasks: [{ module: startModule, params: {} }] });
    expect(r).toMatchObject({ done: ['m1'], failed: [], unreachable: ['m2'], untouched: ['m3'], stopped: true });
    expect(ctx.failed.size).toBe(0);
    expect(ctx.recap.get('m2')).toMatchObject({ failed: 0, unreachable: 1 });
    const ev = events.find((e) => e.type === 'task' && e.host === 'm2');
    expect(ev).toMatchObject({ status: 'unreachable', error: 'm2: connection to 10.0.0.12:22 was lost (the task had just failed: start haproxy failed: Failed to start haproxy.service: Connection reset by peer)' });
  });

  it('a host that can no longer run `true` after a failed task is going down: unreachable', async () => {
    const { ctx } = fakeRun(['m1'], (n) => new FakeConn(n, (script) => (script === 'true' ? { code: 254, stderr: 'sh: fork: Cannot allocate memory' } : undefined)));
    const kv = kvModule(new Map(), []);
    const r = await runPlay(ctx, { name: 'p', hosts: ['m1'], tasks: [{ module: kv, params: { key: 'a', value: '1', fail: true } }] });
    expect(r.unreachable).toEqual(['m1']);
    expect(ctx.unreachable.get('m1')).toBe('m1: `true` failed (exit 254: sh: fork: Cannot allocate memory): the host is going down (the task had just failed: cannot set a)');
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
    const r = await runPlay(ctx, { name: 'p', hosts: ['m1', 'm2'], tasks: [{ module: kv, params: (hc: HostContext) => ({ key: 'a', value: '1', fail: hc.host.name === 'm2' }) }] });
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
      name: 'p', hosts, serial: 2, maxFailPercentage: 20,
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
    await runPlay(ctx, { name: 'p', hosts: ['m1', 'm2'], tasks: [{ module: kv, params: { key: 'a', value: '1' }, notify: ['r'] }], handlers: [{ name: 'r', module: restartModule(order), params: { svc: 'x' } }] });
    expect(order).toEqual([]);
    expect(state.size).toBe(0);
    const tasks = events.filter((e) => e.type === 'task');
    // the notified handler is reported as a change that would happen, and is not applied either
    expect(tasks.map((e) => e.type === 'task' && [e.host, e.task, e.status, e.check])).toEqual([
      ['m1', 'set a', 'changed', true], ['m2', 'set a', 'changed', true],
      ['m1', 'restart x', 'changed', true], ['m2', 'restart x', 'changed', true],
    ]);
  });

  it('a whole batch failing stops the play even within max fail', async () => {
    const kv = kvModule(new Map(), []);
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, {
      name: 'p', hosts, serial: 1, maxFailPercentage: 50,
      tasks: [{ module: kv, params: (hc: HostContext) => ({ key: 'a', value: '1', fail: hc.host.name === 'm2' }) }],
    });
    expect(r.stopReason).toBe('every host of batch 2 failed or was unreachable');
    expect(r.untouched).toEqual(['m3', 'm4', 'm5']);
  });

  it('afterBatch failing stops the play after that batch', async () => {
    const kv = kvModule(new Map(), []);
    const { ctx } = fakeRun(hosts, (n) => new FakeConn(n));
    const r = await runPlay(ctx, {
      name: 'p', hosts, serial: 2, tasks: [{ module: kv, params: { key: 'a', value: '1' } }],
      afterBatch: async (_h, i) => { if (i === 1) throw new Error('VIP moved'); },
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
    await runPlay(ctx, { name: 'configure', hosts: ['m1'], flushHandlers: false, tasks: [{ module: kv, params: { key: 'a', value: '1' }, notify: ['r'] }], handlers });
    expect(order).toEqual(['m1:a']);
    await runPlay(ctx, { name: 'start', hosts: ['m1'], tasks: [], handlers });
    expect(order).toEqual(['m1:a', 'm1:restart:x']);
  });
});

describe('flush_handlers', () => {
  it('runs the handlers notified so far at that point, so later tasks see the restarted service', async () => {
    const { FLUSH_HANDLERS } = await import('../../src/engine/play.js');
    const order: string[] = [];
    const state = new Map<string, Map<string, string>>();
    const kv = kvModule(state, order);
    const { ctx } = fakeRun(['m1', 'm2'], (n) => new FakeConn(n));
    await runPlay(ctx, {
      name: 'p', hosts: ['m1', 'm2'], serial: 1,
      tasks: [{ module: kv, params: { key: 'a', value: '1' }, notify: ['r'] }, FLUSH_HANDLERS, { module: kv, params: { key: 'b', value: '1' } }],
      handlers: [{ name: 'r', module: restartModule(order), params: { svc: 'x' } }],
    });
    expect(order).toEqual(['m1:a', 'm1:restart:x', 'm1:b', 'm2:a', 'm2:restart:x', 'm2:b']);
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
