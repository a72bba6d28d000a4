// Labs for the benchmarks (real systemd containers, src/lab/lab.ts from dist/) and `kha up` runs
// on them through the built CLI. Lab names start with `bench-` (never `lab`, which is someone's
// demo lab); every lab this process starts is removed by downAll(), also after a failure.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Lab } from '../src/lab/lab.js';
import type { KhaBuild, LabModule } from './dist.js';
import { log, readLog, runKha, scratch, type CliRun } from './lib.js';

/** short names of `kha up`'s phases, by title prefix (src/actions/up.ts) */
export const PHASES: Array<[string, RegExp]> = [
  ['connect+facts', /^Connect/],
  ['lock', /^Lock/],
  ['preflight', /^Preflight/],
  ['plan', /^Plan/],
  ['install', /^Install/],
  ['configure', /^Configure/],
  ['start primary + VIP', /^Start the primary/],
  ['roll the rest', /^Start the other/],
  ['verify', /^Verify/],
];

export function phaseName(title: string): string {
  return PHASES.find(([, re]) => re.test(title))?.[0] ?? title;
}

export interface BenchLab {
  lab: Lab;
  size: number;
  inventory: string;
  dir: string;
  /** `kha up` succeeded on it at least once */
  converged: boolean;
  /** haproxy_timeout_connect currently in the inventory (seconds) */
  connectTimeout: number;
  writeLabInventory: LabModule['writeLabInventory'];
  /** the kha build the runs on this lab use */
  kha: KhaBuild;
}

export interface UpRun {
  kind: 'fresh' | 'no-change' | 'config-change';
  size: number;
  code: number | null;
  /** process wall time: node start-up + oclif + the run */
  wallMs: number;
  /** sum of kha's own phase times (from the log's phase-done events) */
  phasesMs: number;
  phases: Record<string, number>;
  changedTasks: number;
  changedHosts: number;
  /** batches of the "start the others" play: host names per batch */
  rollBatches: string[][];
  /** handler tasks that ran (reload/restart), per host */
  handlerRuns: Array<{ host: string; task: string }>;
  error?: string;
  loadavg1: number;
}

export class LabPool {
  constructor(private readonly kha: KhaBuild) {}
  private readonly labs = new Map<number, BenchLab>();
  private readonly all: BenchLab[] = [];
  private readonly tag = randomBytes(2).toString('hex');
  private seq = 0;

  async create(size: number): Promise<BenchLab> {
    const L = await this.kha.load<LabModule>('lab/lab.js');
    const name = `bench-m${size}-${this.tag}-${++this.seq}`;
    const dir = scratch(name);
    const t0 = performance.now();
    const lab = await L.labUp({ name, hosts: size, aptCache: true, stateDir: path.join(dir, 'state'), log: (l) => log(`  [${name}] ${l}`) });
    const bl: BenchLab = {
      lab,
      size,
      inventory: path.join(dir, 'hosts.yaml'),
      dir,
      converged: false,
      connectTimeout: 5,
      writeLabInventory: L.writeLabInventory,
      kha: this.kha,
    };
    this.all.push(bl);
    writeInventory(bl);
    log(`  lab ${name} up in ${((performance.now() - t0) / 1000).toFixed(1)} s (${lab.hosts.map((h) => h.address).join(', ')}; VIP ${lab.vip})`);
    return bl;
  }

  /** a converged lab of this size, made (lab up + kha up) when there is none */
  async converged(size: number): Promise<BenchLab> {
    const have = this.labs.get(size);
    if (have?.converged) return have;
    const bl = have ?? (await this.create(size));
    this.labs.set(size, bl);
    const r = await up(bl, 'fresh');
    if (r.code !== 0) throw new Error(`kha up on ${bl.lab.name} failed (exit ${r.code}): ${r.error ?? ''}`);
    return bl;
  }

  /** keep this lab for later sections (the previous one of its size is removed) */
  async keep(bl: BenchLab): Promise<void> {
    const prev = this.labs.get(bl.size);
    if (prev && prev !== bl) await this.down(prev);
    this.labs.set(bl.size, bl);
  }

  async down(bl: BenchLab): Promise<void> {
    const i = this.all.indexOf(bl);
    if (i >= 0) this.all.splice(i, 1);
    if (this.labs.get(bl.size) === bl) this.labs.delete(bl.size);
    await bl.lab.down().catch((e: unknown) => log(`  removing lab ${bl.lab.name} failed: ${String(e)}`));
    fs.rmSync(bl.dir, { recursive: true, force: true });
  }

  async downAll(): Promise<void> {
    for (const bl of [...this.all]) await this.down(bl);
  }
}

export function writeInventory(bl: BenchLab): void {
  const vars: Record<string, unknown> = bl.connectTimeout !== 5 ? { haproxy_timeout_connect: `${bl.connectTimeout}s` } : {};
  bl.writeLabInventory(bl.lab, bl.inventory, { vars });
}

interface JsonDoc {
  recap?: Record<string, { changed: number }>;
  tasks?: Array<{ host: string; task: string; status: string }>;
  error?: { message: string } | null;
}

/** `kha up -i INV --json --yes --log-file F` through the built CLI; phases from the log. */
/** `opts.kha`: another build (the manifest experiment); default the lab's */
export async function up(bl: BenchLab, kind: UpRun['kind'], opts: { nodeArgs?: string[]; kha?: KhaBuild } = {}): Promise<UpRun> {
  const logFile = path.join(bl.dir, `up-${Date.now()}.log`);
  const loadavg1 = Number((await import('node:os')).loadavg()[0]!.toFixed(2));
  const r: CliRun = await runKha((opts.kha ?? bl.kha).bin, ['up', '-i', bl.inventory, '--json', '--yes', '--log-file', logFile], {
    timeoutMs: 15 * 60_000,
    env: { XDG_STATE_HOME: bl.dir },
    ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
  });
  const lines = readLog(logFile);
  const phases: Record<string, number> = {};
  for (const l of lines) if (l.type === 'phase-done' && l.title) phases[phaseName(l.title)] = l.ms ?? 0;
  const rollBatches: string[][] = [];
  let inOthers = false;
  for (const l of lines as Array<{ type?: string; play?: string; hosts?: string[]; title?: string }>) {
    if (l.type === 'phase') inOthers = /^Start the other/.test(l.title ?? '');
    if (l.type === 'batch' && inOthers && l.hosts) rollBatches.push(l.hosts);
  }
  let doc: JsonDoc = {};
  try {
    doc = JSON.parse(r.stdout) as JsonDoc;
  } catch {
    /* the error is in stderr */
  }
  const tasks = doc.tasks ?? [];
  const changed = tasks.filter((t) => t.status === 'changed');
  const handlerRuns = changed.filter((t) => /^(reload|restart) /.test(t.task)).map((t) => ({ host: t.host, task: t.task }));
  const run: UpRun = {
    kind,
    size: bl.size,
    code: r.code,
    wallMs: r.ms,
    phasesMs: Object.values(phases).reduce((a, b) => a + b, 0),
    phases,
    changedTasks: changed.length,
    changedHosts: new Set(changed.map((t) => t.host)).size,
    rollBatches,
    handlerRuns,
    loadavg1,
    ...(r.code !== 0 ? { error: (doc.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' ')).slice(0, 500) } : {}),
  };
  if (r.code === 0) bl.converged = true;
  log(
    `  kha up (${kind}, ${bl.size} hosts): exit ${r.code}, ${(r.ms / 1000).toFixed(2)} s wall, ${changed.length} changed tasks${run.error ? `: ${run.error}` : ''}`,
  );
  return run;
}
