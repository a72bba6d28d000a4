// Section "sim": engine scale with simulated hosts. Each configuration runs in a fresh process
// (sim-client.js, which forks its own fake fleet), so peak RSS and CPU are that run's and kha's.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_JS_DIR, log, scratch, summarize, type Summary } from './lib.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import type { SimResult } from './sim-client.js';

export interface SimConfig {
  hosts: number;
  forks: number;
  experiment?: string;
}

export interface SimSection {
  delayMs: number;
  runs: Array<SimResult & { rep: number; loadavg1: number }>;
  /** per configuration: wall time over the repetitions */
  configs: Array<
    SimConfig & {
      reps: number;
      wallMs: Summary;
      perHostMs: number;
      /** wall / commands per host: with forks 1 this is the latency of one command (10 ms injected) */
      msPerSequentialCommand?: number;
      peakRssMB: Summary;
      cpuMs: Summary;
      handshakes: number;
      commandsPerHostMax: number;
      ok: boolean;
    }
  >;
  profile?: ProfileSummary & { config: SimConfig; cpuprofile: string };
}

function runClient(c: SimConfig, delayMs: number, extra: { nodeArgs?: string[] } = {}): Promise<SimResult> {
  const dir = scratch('simrun');
  const out = path.join(dir, 'result.json');
  const args = [
    ...(extra.nodeArgs ?? []),
    path.join(BENCH_JS_DIR, 'sim-client.js'),
    '--hosts',
    String(c.hosts),
    '--forks',
    String(c.forks),
    '--delay',
    String(delayMs),
    '--out',
    out,
  ];
  if (c.experiment) args.push('--experiment', c.experiment);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0 || !fs.existsSync(out)) return reject(new Error(`sim-client ${c.hosts}x${c.forks} exited ${code}`));
      const r = JSON.parse(fs.readFileSync(out, 'utf8')) as SimResult;
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(r);
    });
  });
}

/**
 * `schedule`: the runs in order. Variants of one size are meant to be interleaved (A B C A B C)
 * so that a change of the machine's load hits them alike.
 */
export async function simSection(opts: { schedule: SimConfig[]; delayMs: number; profile?: SimConfig; profileDir: string }): Promise<SimSection> {
  const runs: SimSection['runs'] = [];
  const key = (c: SimConfig) => `${c.hosts}/${c.forks}/${c.experiment ?? ''}`;
  const seen = new Map<string, number>();
  for (const c of opts.schedule) {
    const rep = (seen.get(key(c)) ?? 0) + 1;
    seen.set(key(c), rep);
    const loadavg1 = Number(os.loadavg()[0]!.toFixed(2));
    const r = await runClient(c, opts.delayMs);
    runs.push({ ...r, rep, loadavg1 });
    log(
      `  sim ${c.hosts} hosts x forks ${c.forks}${c.experiment ? ` [${c.experiment}]` : ''} #${rep}: ${(r.wallMs / 1000).toFixed(2)} s wall, ` +
        `peak RSS ${r.peakRssMB} MB, ${r.handshakesServer} handshakes, ${r.commandsPerHost.max} commands/host${r.ok ? '' : `; PROBLEMS: ${r.problems.join('; ')}`} (load ${loadavg1})`,
    );
  }
  const distinct = [...new Map(opts.schedule.map((c) => [key(c), c])).values()];
  const configs: SimSection['configs'] = distinct.map((c) => {
    const rs = runs.filter((r) => key(r) === key(c));
    const wall = summarize(rs.map((r) => r.wallMs));
    return {
      ...c,
      reps: rs.length,
      wallMs: wall,
      perHostMs: Number((wall.median / c.hosts).toFixed(2)),
      ...(c.forks === 1 ? { msPerSequentialCommand: Number((wall.median / (rs[0]?.commandsTotal ?? 1)).toFixed(1)) } : {}),
      cpuMs: summarize(rs.map((r) => r.cpuUserMs + r.cpuSystemMs)),
      peakRssMB: summarize(rs.map((r) => r.peakRssMB)),
      handshakes: Math.max(...rs.map((r) => r.handshakesServer)),
      commandsPerHostMax: Math.max(...rs.map((r) => r.commandsPerHost.max)),
      ok: rs.every((r) => r.ok),
    };
  });
  const out: SimSection = { delayMs: opts.delayMs, runs, configs };
  if (opts.profile) {
    fs.mkdirSync(opts.profileDir, { recursive: true });
    const before = new Set(fs.readdirSync(opts.profileDir));
    await runClient(opts.profile, opts.delayMs, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] });
    const file = fs.readdirSync(opts.profileDir).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
    if (file) {
      const cpuprofile = path.join(opts.profileDir, file);
      out.profile = { ...summarizeProfile(cpuprofile, 20), config: opts.profile, cpuprofile };
      log(`  profile of ${opts.profile.hosts}x${opts.profile.forks}: ${cpuprofile}`);
    }
  }
  return out;
}
