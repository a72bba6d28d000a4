// Section "startup": how long the CLI takes before its first line of work, side by side with bare
// node. Each round runs `node -e 0`, `kha --version`, `kha status --help` and `kha help` once, in
// that order (A B C D A B C D ...), so that whatever else loads the machine falls on every command
// alike; the medians, and each median minus bare node's. The target (issue 17): `kha --version`
// and `kha status --help` within 150 ms of bare node.
//
// Beside the wall time, the CPU time (user + system) each process reports for itself when it exits
// (a preload, `node -r`, in every command, bare node included): on a busy machine the wall time
// grows with the load, the CPU time much less. `--startup-baseline BIN` adds the same commands of
// another build (its bin/run.js, e.g. a worktree of an older commit) to the same rounds.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, scratch, summarize, type Summary } from './lib.js';

export const STARTUP_TARGET_MS = 150;

export interface StartupRow {
  build: 'kha' | 'baseline' | 'node';
  command: string;
  wallMs: Summary;
  cpuMs: Summary;
  /** median minus bare node's median */
  overNodeWallMs: number;
  overNodeCpuMs: number;
}

export interface StartupSection {
  rounds: number;
  loadavgBefore: number[];
  loadavgAfter: number[];
  baseline?: string;
  rows: StartupRow[];
}

const COMMANDS: Array<[string, string[]]> = [
  ['kha --version', ['--version']],
  ['kha status --help', ['status', '--help']],
  ['kha help', ['help']],
];

// writes the process's own CPU time to fd 3 as it exits
const PRELOAD = "process.on('exit', () => { const u = process.cpuUsage(); try { require('node:fs').writeSync(3, `${u.user + u.system}\\n`); } catch {} });\n";

/** One process: wall ms (spawn to close) and its own CPU ms. */
function timed(argv: string[], preload: string): Promise<{ wallMs: number; cpuMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-r', preload, ...argv], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    let cpu = '';
    (child.stdio[3] as NodeJS.ReadableStream).setEncoding('utf8').on('data', (d: string) => (cpu += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      if (code !== 0) reject(new Error(`node ${argv.join(' ')} exited ${code}`));
      else resolve({ wallMs, cpuMs: Number(cpu.trim()) / 1000 });
    });
  });
}

export async function startupSection(opts: { bin: string; rounds: number; baselineBin?: string }): Promise<StartupSection> {
  const dir = scratch('startup');
  const preload = path.join(dir, 'cpu.cjs');
  fs.writeFileSync(preload, PRELOAD);
  const runs: Array<{ build: StartupRow['build']; command: string; argv: string[] }> = [{ build: 'node', command: 'node -e 0', argv: ['-e', '0'] }];
  for (const [command, args] of COMMANDS) {
    runs.push({ build: 'kha', command, argv: [opts.bin, ...args] });
    if (opts.baselineBin) runs.push({ build: 'baseline', command, argv: [opts.baselineBin, ...args] });
  }
  const loadavgBefore = os.loadavg().map((x) => Number(x.toFixed(2)));
  const wall = runs.map(() => [] as number[]);
  const cpu = runs.map(() => [] as number[]);
  try {
    // one warm-up round (the page cache), not counted
    for (const r of runs) await timed(r.argv, preload);
    for (let i = 0; i < opts.rounds; i++) {
      for (const [j, r] of runs.entries()) {
        const t = await timed(r.argv, preload);
        wall[j]!.push(t.wallMs);
        cpu[j]!.push(t.cpuMs);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const round = (s: Summary): Summary => ({ n: s.n, median: Math.round(s.median), min: Math.round(s.min), max: Math.round(s.max) });
  const wallS = wall.map((xs) => round(summarize(xs)));
  const cpuS = cpu.map((xs) => round(summarize(xs)));
  return {
    rounds: opts.rounds,
    loadavgBefore,
    loadavgAfter: os.loadavg().map((x) => Number(x.toFixed(2))),
    ...(opts.baselineBin ? { baseline: opts.baselineBin } : {}),
    rows: runs.map((r, j) => ({
      build: r.build,
      command: r.command,
      wallMs: wallS[j]!,
      cpuMs: cpuS[j]!,
      overNodeWallMs: wallS[j]!.median - wallS[0]!.median,
      overNodeCpuMs: cpuS[j]!.median - cpuS[0]!.median,
    })),
  };
}
