// One engine-scale measurement, in a process of its own (so peak RSS and the CPU profile are this
// configuration's and kha's alone): N simulated hosts, `forks` F, kha's real engine and transport.
//
//   node dist-bench/bench/sim-client.js --hosts 1000 --forks 200 [--delay 10] --out result.json
//
// What runs is what `kha up` runs for a converged fleet: connectAndGather (one connection and one
// facts command per host, through SshConnector -> ConnectionPool -> ssh.ts connect with host keys
// checked against a generated known_hosts), then runPlay of a 10-task play (sim-play.ts) whose
// plan-first pass finds nothing to change. The fake servers run in a forked child (sim-server.ts).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connectAndGather } from '../src/actions/up.js';
import { SshConnector } from '../src/cli/prepare.js';
import { RunContext, type Connector } from '../src/engine/context.js';
import { EventBus, type RunEvent } from '../src/engine/events.js';
import { runPlay } from '../src/engine/play.js';
import type { Inventory, InventoryHost } from '../src/inventory/types.js';
import { PinoSink } from '../src/report/log.js';
import { mask } from '../src/transport/quote.js';
import type { Connection } from '../src/transport/types.js';
import { EXPERIMENTS, type ExperimentName } from './experiments.js';
import { parseableKeyPair } from '../src/transport/keygen.js';
import { BENCH_JS_DIR, scratch, summarize, type Summary } from './lib.js';
import { SIM_TASKS, simHostName, simPlay } from './sim-play.js';
import type { SimReadyMsg, SimServerStats, SimStartMsg } from './sim-server.js';

export interface SimResult {
  experiment?: string;
  hosts: number;
  forks: number;
  delayMs: number;
  serverNoDelay: boolean;
  tasks: number;
  ok: boolean;
  problems: string[];
  wallMs: number;
  connectFactsMs: number;
  playMs: number;
  closeMs: number;
  perHostMs: number;
  peakRssMB: number;
  /** process.resourceUsage().maxRSS of the kha process (lifetime peak) */
  maxRssMB: number;
  sampledPeakRssMB: number;
  rssBeforeMB: number;
  heapUsedPeakMB: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  handshakesClient: number;
  handshakesServer: number;
  connectionsServer: number;
  hostsWithOneHandshake: number;
  commandsPerHost: Summary & { mean: number };
  commandsTotal: number;
  unexpectedCommands: number;
  unexpectedSamples: string[];
  recap: { ok: number; changed: number; failed: number; unreachable: number; skipped: number };
  taskEvents: number;
  serverMaxRssMB: number;
  serverCpuMs: number;
}

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : def;
  if (v === undefined) throw new Error(`sim-client: --${name} is required`);
  return v;
}

/** Counts what each connection sent (client side), without changing what it does. */
class CountingConnector implements Connector {
  readonly conns = new Map<string, Connection>();
  private readonly plain = new Map<Connection, Connection>();
  /** noBatch: hide Connection.execBatch, so planning sends one command per task (kha before batching) */
  constructor(
    private readonly inner: Connector,
    private readonly noBatch = false,
  ) {}
  async get(host: InventoryHost): Promise<Connection> {
    const c = await this.inner.get(host);
    this.conns.set(host.name, c);
    if (!this.noBatch) return c;
    let p = this.plain.get(c);
    if (!p)
      this.plain.set(
        c,
        (p = { name: c.name, stats: c.stats, exec: (cmd, o) => c.exec(cmd, o), upload: (a, b, o) => c.upload(a, b, o), close: () => c.close() }),
      );
    return p;
  }
  get handshakes(): number {
    return this.inner.handshakes;
  }
  closeAll(): Promise<void> {
    return this.inner.closeAll();
  }
}

/**
 * Experiments (comma separated): `nodelay` patches ssh2 (experiments.ts); `khper` gives every host
 * its own one-line known_hosts file (ansible_ssh_common_args -o UserKnownHostsFile=...), which
 * costs what an indexed, read-once known_hosts would: each handshake then parses one line instead
 * of the whole fleet's file. `nobatch` hides Connection.execBatch: every task's probe is its own
 * command again (11 per host instead of 2), to measure the engine and transport without batching.
 */
function applyExperiments(names: string[]): void {
  for (const name of names) {
    if (name === 'khper' || name === 'nobatch') continue;
    if (!(name in EXPERIMENTS)) throw new Error(`unknown experiment ${name} (known: ${[...Object.keys(EXPERIMENTS), 'khper', 'nobatch'].join(', ')})`);
    EXPERIMENTS[name as ExperimentName]();
  }
}

async function main(): Promise<void> {
  const experiment = process.argv.includes('--experiment') ? arg('experiment') : undefined;
  const experiments = experiment ? experiment.split(',') : [];
  applyExperiments(experiments);
  const heapSnapshot = process.argv.includes('--heap-snapshot') ? arg('heap-snapshot') : undefined;
  const hosts = Number(arg('hosts'));
  const forks = Number(arg('forks'));
  const delayMs = Number(arg('delay', '10'));
  const out = arg('out');
  const dir = scratch(`sim-${hosts}x${forks}`);

  // client key and the server child
  const key = parseableKeyPair();
  const keyFile = path.join(dir, 'id_ed25519');
  fs.writeFileSync(keyFile, key.private, { mode: 0o600 });
  const server = fork(path.join(BENCH_JS_DIR, 'sim-server.js'), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const nextMsg = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const on = (m: { type: string }) => {
        if (m.type === type) {
          server.off('message', on);
          resolve(m as T);
        }
      };
      server.on('message', on);
      server.once('exit', (code) => reject(new Error(`sim-server exited (${code}) before '${type}'`)));
    });
  const ready = nextMsg<SimReadyMsg>('ready');
  const serverNoDelay = !process.argv.includes('--server-nagle');
  server.send({ type: 'start', hosts, delayMs, authorizedKey: key.public, serverNoDelay } satisfies SimStartMsg);
  const fleet = (await ready).hosts;

  // known_hosts: one line per host, as `[127.0.0.1]:port ssh-ed25519 AAAA...`
  const knownHosts = path.join(dir, 'known_hosts');
  const khPer = experiments.includes('khper');
  fs.writeFileSync(knownHosts, fleet.map((h) => `[127.0.0.1]:${h.port} ${h.hostKey}\n`).join(''));
  if (khPer) fleet.forEach((h, i) => fs.writeFileSync(path.join(dir, `known_hosts.${i}`), `[127.0.0.1]:${h.port} ${h.hostKey}\n`));

  const names = fleet.map((_, i) => simHostName(i));
  const index = new Map(names.map((n, i) => [n, i]));
  const inv: Inventory = {
    file: path.join(dir, 'sim.yaml'),
    hosts: fleet.map((h, i) => ({
      name: names[i]!,
      vars: {},
      groups: ['all', 'sim'],
      connection: {
        name: names[i]!,
        address: '127.0.0.1',
        port: h.port,
        user: 'root',
        privateKeyFile: keyFile,
        become: true,
        becomeUser: 'root',
        explicit: { address: true, port: true, user: true, privateKeyFile: true },
        ...(khPer ? { knownHostsFile: path.join(dir, `known_hosts.${i}`) } : {}),
      },
    })),
    groups: { all: names, sim: names },
    secrets: [],
  };

  // the CLI's sinks minus the terminal: masking bus + pino log file; plus a counter
  const events = new EventBus((s) => mask(s, []));
  const logFile = path.join(dir, 'kha.log');
  events.add(new PinoSink(logFile));
  let taskEvents = 0;
  events.add({ emit: (e: RunEvent) => void (e.type === 'task' && taskEvents++) });
  const connector = new CountingConnector(
    new SshConnector(
      { ...(khPer ? {} : { knownHostsFile: knownHosts }), acceptNewHostKeys: false, connectTimeoutMs: 10_000, agentSocket: '', log: (m) => events.debug(m) },
      forks,
    ),
    experiments.includes('nobatch'),
  );
  const abort = new AbortController();
  const run = new RunContext(inv, connector, events, { check: false, diff: false, forks, signal: abort.signal });
  const play = simPlay(names, (h) => index.get(h)!);

  // measurements: sampled RSS and heap, event-loop delay, CPU
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  let peakHeap = 0;
  let tick = 0;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
    if (++tick % 10 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 20);
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const cpu0 = process.cpuUsage();

  const t0 = performance.now();
  await connectAndGather(run, names);
  const t1 = performance.now();
  const pr = await runPlay(run, play);
  const t2 = performance.now();
  if (heapSnapshot) {
    const v8 = await import('node:v8');
    v8.writeHeapSnapshot(heapSnapshot);
  }
  const perHostClient = names.map((n) => connector.conns.get(n)?.stats.execs ?? 0);
  const handshakesClient = connector.handshakes;
  await connector.closeAll();
  const t3 = performance.now();

  const cpu = process.cpuUsage(cpu0);
  eld.disable();
  clearInterval(sampler);
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  await events.close();

  const statsP = nextMsg<SimServerStats>('stats');
  server.send({ type: 'stats' });
  const st = await statsP;
  server.send({ type: 'close' });

  const problems: string[] = [];
  const recap = { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 };
  for (const r of run.recap.values()) for (const k of Object.keys(recap) as Array<keyof typeof recap>) recap[k] += r[k];
  if (pr.done.length !== hosts)
    problems.push(
      `play done on ${pr.done.length}/${hosts} hosts (failed ${pr.failed.length}, unreachable ${pr.unreachable.length}${pr.stopReason ? `, ${pr.stopReason}` : ''})`,
    );
  if (recap.changed || recap.failed || recap.unreachable) problems.push(`recap: ${JSON.stringify(recap)} (a no-change run has only ok)`);
  if (st.unexpected) problems.push(`${st.unexpected} unexpected commands reached the fake hosts`);
  const handshakesServer = st.handshakes.reduce((a, b) => a + b, 0);
  const oneEach = st.handshakes.filter((x) => x === 1).length;
  if (handshakesClient !== hosts || handshakesServer !== hosts || oneEach !== hosts) {
    problems.push(`handshakes: client ${handshakesClient}, server ${handshakesServer}, hosts with exactly one ${oneEach} (want ${hosts})`);
  }
  const clientTotal = perHostClient.reduce((a, b) => a + b, 0);
  const serverTotal = st.execs.reduce((a, b) => a + b, 0);
  if (clientTotal !== serverTotal) problems.push(`commands: client counted ${clientTotal}, server ${serverTotal}`);

  const cph = summarize(st.execs);
  const result: SimResult = {
    ...(experiment ? { experiment } : {}),
    hosts,
    forks,
    delayMs,
    serverNoDelay,
    tasks: SIM_TASKS,
    ok: problems.length === 0,
    problems,
    wallMs: Math.round(t3 - t0),
    connectFactsMs: Math.round(t1 - t0),
    playMs: Math.round(t2 - t1),
    closeMs: Math.round(t3 - t2),
    perHostMs: Number(((t3 - t0) / hosts).toFixed(2)),
    peakRssMB: Math.round(Math.max(process.resourceUsage().maxRSS * 1024, peakRss) / 2 ** 20),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    sampledPeakRssMB: Math.round(peakRss / 2 ** 20),
    rssBeforeMB: Math.round(rssBefore / 2 ** 20),
    heapUsedPeakMB: Math.round(peakHeap / 2 ** 20),
    cpuUserMs: Math.round(cpu.user / 1000),
    cpuSystemMs: Math.round(cpu.system / 1000),
    eventLoopDelayP99Ms: Number((eld.percentile(99) / 1e6).toFixed(1)),
    eventLoopDelayMaxMs: Number((eld.max / 1e6).toFixed(1)),
    handshakesClient,
    handshakesServer,
    connectionsServer: st.connections.reduce((a, b) => a + b, 0),
    hostsWithOneHandshake: oneEach,
    commandsPerHost: { ...cph, mean: Number((serverTotal / hosts).toFixed(2)) },
    commandsTotal: serverTotal,
    unexpectedCommands: st.unexpected,
    unexpectedSamples: st.unexpectedSamples,
    recap,
    taskEvents,
    serverMaxRssMB: Math.round(st.maxRssMB),
    serverCpuMs: st.cpuMs,
  };
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  await new Promise<void>((r) => {
    server.once('exit', () => r());
    setTimeout(r, 3000).unref();
  });
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`sim-client: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
