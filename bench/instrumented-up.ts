// A `kha up` run in this process (the built dist/ code, exactly what the CLI runs after parsing
// its flags), with every command attributed to the module plan()/apply() that sent it, or to the
// phase when no module did (facts, preflight probes, verify). Counting only: commands are passed
// through unchanged. Used on a converged lab to check "at most 3 commands per host per module,
// facts in 1" on real hosts.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Connector } from '../src/engine/context.js';
import type { RunEvent } from '../src/engine/events.js';
import type { Module, Plan } from '../src/engine/types.js';
import type { InventoryHost } from '../src/inventory/types.js';
import type { Connection } from '../src/transport/types.js';
import type { EventsModule, KhaBuild, ModulesIndex, PrepareModule, QuoteModule, SerialModule, UpModule } from './dist.js';

interface CallTag {
  module: string;
  call: number;
}

export interface InstrumentedUp {
  ok: boolean;
  error?: string;
  /** in-process time of the run, no node/oclif start-up */
  ms: number;
  phases: Array<{ title: string; ms: number }>;
  changed: number;
  /** commands per host, total */
  commandsPerHost: Record<string, number>;
  /** per module (or `phase: title` for commands outside modules): calls, commands, max commands in one plan/apply call */
  byModule: Array<{ source: string; calls: number; commands: number; maxPerCall: number; perHostPerCall: number }>;
  /** commands of the facts gathering per host */
  factsCommandsPerHost: number;
}

export async function instrumentedUp(kha: KhaBuild, inventory: string): Promise<InstrumentedUp> {
  const fromDist = <T>(rel: string) => kha.load<T>(rel);
  const prepare = await fromDist<PrepareModule>('cli/prepare.js');
  const upMod = await fromDist<UpModule>('actions/up.js');
  const modules = await fromDist<ModulesIndex>('modules/index.js');
  const { waitForModule } = await fromDist<{ waitForModule: Module<unknown> }>('modules/wait-for.js');
  const { EventBus } = await fromDist<EventsModule>('engine/events.js');
  const { parseSerialFlag } = await fromDist<SerialModule>('engine/serial.js');
  const { mask } = await fromDist<QuoteModule>('transport/quote.js');

  const als = new AsyncLocalStorage<CallTag>();
  let nextCall = 0;
  const calls = new Map<number, { module: string; commands: number }>();
  const restore: Array<() => void> = [];
  const all = [...new Set([...Object.values(modules), waitForModule])] as Array<Module<unknown>>;
  for (const m of all) {
    const plan = m.plan;
    const wrapped = async (ctx: Parameters<Module<unknown>['plan']>[0], p: unknown): Promise<Plan> => {
      const call = ++nextCall;
      calls.set(call, { module: m.name, commands: 0 });
      const res = await als.run({ module: m.name, call }, () => plan.call(m, ctx, p));
      if (!res.change) return res;
      const apply = res.apply;
      const applyCall = ++nextCall;
      calls.set(applyCall, { module: `${m.name} (apply)`, commands: 0 });
      return { ...res, apply: () => als.run({ module: `${m.name} (apply)`, call: applyCall }, apply) };
    };
    (m as { plan: Module<unknown>['plan'] }).plan = wrapped;
    restore.push(() => void ((m as { plan: Module<unknown>['plan'] }).plan = plan));
  }

  let phase = '(before phases)';
  const phases: Array<{ title: string; ms: number }> = [];
  const perHost: Record<string, number> = {};
  const outside = new Map<string, number>();
  let factsCommands = 0;
  const count = (host: string) => {
    perHost[host] = (perHost[host] ?? 0) + 1;
    const tag = als.getStore();
    if (tag) calls.get(tag.call)!.commands++;
    else {
      outside.set(phase, (outside.get(phase) ?? 0) + 1);
      if (/gather facts/i.test(phase)) factsCommands++;
    }
  };

  const events = new EventBus((s) => mask(s, []));
  let changed = 0;
  events.add({
    emit: (e: RunEvent) => {
      if (e.type === 'phase') phase = e.title;
      if (e.type === 'phase-done') phases.push({ title: e.title, ms: e.ms });
      if (e.type === 'task' && e.status === 'changed') changed++;
    },
  });
  const abort = new AbortController();
  const io = { events, logFile: '/dev/null', signal: abort.signal, verbose: 0, json: true, addSecrets: () => undefined };
  const flags = { inventory, forks: 20, 'connect-timeout': 10 };
  const t0 = performance.now();
  let error: string | undefined;
  let hosts = 0;
  try {
    const { inv, settings } = await prepare.loadForRun(flags, io);
    hosts = inv.hosts.length;
    const inner = new prepare.SshConnector(prepare.connectOptions(flags, io), flags.forks);
    const wrapped = new Map<string, Connection>();
    const connector: Connector = {
      async get(h: InventoryHost) {
        const c = await inner.get(h);
        let w = wrapped.get(h.name);
        if (!w || (w as unknown as { inner: Connection }).inner !== c) {
          const cc = c;
          w = {
            name: cc.name,
            get stats() {
              return cc.stats;
            },
            exec: (cmd, o) => {
              count(h.name);
              return cc.exec(cmd, o);
            },
            // a batch of plan probes is one command on the wire, counted where it was sent from
            // (the planning, outside any one module's plan call)
            ...(cc.execBatch
              ? {
                  execBatch: (cmds: Parameters<NonNullable<Connection['execBatch']>>[0], o?: Parameters<NonNullable<Connection['execBatch']>>[1]) => {
                    count(h.name);
                    return cc.execBatch!(cmds, o);
                  },
                }
              : {}),
            upload: (...a) => cc.upload(...a),
            close: () => cc.close(),
          };
          Object.defineProperty(w, 'inner', { value: c });
          wrapped.set(h.name, w);
        }
        return w;
      },
      closeAll: () => inner.closeAll(),
      get handshakes() {
        return inner.handshakes;
      },
    };
    const run = prepare.makeRun(inv, flags, io, connector);
    try {
      await upMod.up(run, settings, { serial: parseSerialFlag('20%'), maxFailPercentage: 0 });
    } finally {
      await run.connector.closeAll();
    }
  } catch (err) {
    error = (err as Error).message;
  } finally {
    for (const r of restore) r();
  }
  const ms = Math.round(performance.now() - t0);

  const agg = new Map<string, { calls: number; commands: number; maxPerCall: number }>();
  for (const c of calls.values()) {
    const a = agg.get(c.module) ?? { calls: 0, commands: 0, maxPerCall: 0 };
    a.calls++;
    a.commands += c.commands;
    a.maxPerCall = Math.max(a.maxPerCall, c.commands);
    agg.set(c.module, a);
  }
  for (const [p, n] of outside) agg.set(`phase: ${p}`, { calls: hosts, commands: n, maxPerCall: NaN });
  return {
    ok: !error,
    ...(error ? { error } : {}),
    ms,
    phases,
    changed,
    commandsPerHost: perHost,
    byModule: [...agg.entries()].map(([source, a]) => ({
      source,
      calls: a.calls,
      commands: a.commands,
      maxPerCall: a.maxPerCall,
      perHostPerCall: Number((a.commands / Math.max(1, a.calls)).toFixed(2)),
    })),
    factsCommandsPerHost: hosts ? factsCommands / hosts : 0,
  };
}
