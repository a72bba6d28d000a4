// Section "failover": `kha drill --json` for each mode on a converged 3-master lab, and failed
// client connections during a rolling config change on 5 masters (a bounded client loop: a new
// TCP connection + HTTPS GET /healthz to VIP:8443 every 50 ms, only to the lab's VIP).
import https from 'node:https';
import path from 'node:path';
import type { DrillMode, DrillRound } from '../src/actions/drill.js';
import { LabPool, up, writeInventory, type UpRun } from './labs.js';
import { log, runKha, sleep, summarize, type Summary } from './lib.js';

export interface DrillModeResult {
  mode: DrillMode;
  code: number | null;
  wallMs: number;
  rounds: DrillRound[];
  vipMovedMs: Summary;
  /** the same from the hosts' own address events (ip -ts monitor address) */
  vipMovedExactMs: Summary;
  frontendAfterMoveMs: Summary;
  settledMs: Summary;
  error?: string;
}

export interface ClientLoop {
  intervalMs: number;
  attempts: number;
  ok: number;
  failed: number;
  /** attempts not started because 20 were already in flight */
  skipped: number;
  failures: Array<{ atMs: number; reason: string }>;
  latencyMs: Summary & { p99: number };
  /** which apiserver answered (stand-in body `ok <host>`) */
  backends: Record<string, number>;
  durationMs: number;
}

export interface RollingUnderLoad {
  baseline: ClientLoop;
  runs: Array<{ up: UpRun; loop: ClientLoop }>;
}

export interface FailoverSection {
  size: number;
  drills: DrillModeResult[];
  rolling?: RollingUnderLoad & { size: number };
}

/** the VIP must be inside the lab's own /24: the loop never sends anywhere else */
function assertLabAddress(vip: string, subnet: { base: string; prefix: number }): void {
  const p = (a: string) => a.split('.').map(Number);
  const [a, b] = [p(vip), p(subnet.base)];
  if (subnet.prefix !== 24 || a.length !== 4 || a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2]) {
    throw new Error(`refusing to send traffic to ${vip}: not in the lab subnet ${subnet.base}/${subnet.prefix}`);
  }
}

function probe(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; reason?: string; backend?: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: { ok: boolean; reason?: string; backend?: string }) => {
      if (done) return;
      done = true;
      resolve({ ...r, ms: performance.now() - t0 });
    };
    const req = https.get(
      { host, port, path: '/healthz', agent: false, rejectUnauthorized: false, timeout: timeoutMs, headers: { connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const m = /^ok (\S+)/.exec(body);
          if (res.statusCode === 200 && m) finish({ ok: true, backend: m[1]! });
          else finish({ ok: false, reason: `HTTP ${res.statusCode}` });
        });
        res.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: e.code ?? e.message }));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      finish({ ok: false, reason: 'timeout' });
    });
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: e.code ?? e.message }));
  });
}

/** Bounded: at most maxAttempts, at most 20 in flight, until stop() is called. */
export function startClientLoop(vip: string, port: number, opts: { intervalMs?: number; maxAttempts?: number } = {}): { stop: () => Promise<ClientLoop> } {
  const intervalMs = opts.intervalMs ?? 50;
  const maxAttempts = opts.maxAttempts ?? 4000;
  const t0 = performance.now();
  const inflight = new Set<Promise<void>>();
  const lat: number[] = [];
  const failures: ClientLoop['failures'] = [];
  const backends: Record<string, number> = {};
  let attempts = 0;
  let ok = 0;
  let skipped = 0;
  let stopped = false;
  const loop = (async () => {
    for (let k = 0; !stopped && attempts < maxAttempts; k++) {
      const due = t0 + k * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (stopped) break;
      if (inflight.size >= 20) {
        skipped++;
        continue;
      }
      attempts++;
      const at = performance.now() - t0;
      const p = probe(vip, port, 2000).then((r) => {
        lat.push(r.ms);
        if (r.ok) {
          ok++;
          backends[r.backend!] = (backends[r.backend!] ?? 0) + 1;
        } else failures.push({ atMs: Math.round(at), reason: r.reason ?? 'failed' });
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await Promise.all([...inflight]);
      const s = summarize(lat);
      const sorted = [...lat].sort((a, b) => a - b);
      return {
        intervalMs,
        attempts,
        ok,
        failed: failures.length,
        skipped,
        failures,
        latencyMs: {
          ...s,
          median: Math.round(s.median),
          min: Math.round(s.min),
          max: Math.round(s.max),
          p99: Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? NaN),
        },
        backends,
        durationMs: Math.round(performance.now() - t0),
      };
    },
  };
}

export async function failoverSection(pool: LabPool, opts: { rounds: number; rollingRuns: number; baselineMs: number }): Promise<FailoverSection> {
  log('failover: drills on 3 masters');
  const bl = await pool.converged(3);
  const drills: DrillModeResult[] = [];
  for (const mode of ['keepalived', 'haproxy', 'host'] as DrillMode[]) {
    const logFile = path.join(bl.dir, `drill-${mode}.log`);
    const r = await runKha(
      bl.kha.bin,
      ['drill', '-i', bl.inventory, '--mode', mode, '--rounds', String(opts.rounds), '--json', '--yes', '--log-file', logFile],
      { timeoutMs: 10 * 60_000, env: { XDG_STATE_HOME: bl.dir } },
    );
    let rounds: DrillRound[] = [];
    let error: string | undefined;
    try {
      // the --json envelope (result.rounds); a build from before it printed { rounds } alone
      const doc = JSON.parse(r.stdout) as { result?: { rounds?: DrillRound[] } | null; rounds?: DrillRound[]; error?: { message: string } | null };
      rounds = doc.result?.rounds ?? doc.rounds ?? [];
      if (doc.error) error = doc.error.message;
    } catch {
      error = r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.code}`;
    }
    const num = (xs: Array<number | null>) => xs.filter((x): x is number => x !== null);
    drills.push({
      mode,
      code: r.code,
      wallMs: r.ms,
      rounds,
      vipMovedMs: summarize(num(rounds.map((x) => x.vipMovedMs))),
      vipMovedExactMs: summarize(num(rounds.map((x) => x.vipMovedExactMs ?? null))),
      frontendAfterMoveMs: summarize(num(rounds.map((x) => x.frontendAfterMoveMs))),
      settledMs: summarize(num(rounds.map((x) => x.settledMs))),
      ...(error ? { error } : {}),
    });
    log(
      `  drill ${mode}: exit ${r.code}, ${rounds.map((x) => `moved ${x.vipMovedMs} ms (exact ${x.vipMovedExactMs ?? '-'} ms), frontend +${x.frontendAfterMoveMs} ms`).join('; ')}${error ? `: ${error}` : ''}`,
    );
  }

  let rolling: FailoverSection['rolling'];
  if (opts.rollingRuns > 0) {
    log('failover: client loop during rolling config changes on 5 masters');
    const b5 = await pool.converged(5);
    assertLabAddress(b5.lab.vip, b5.lab.subnet);
    const base = startClientLoop(b5.lab.vip, 8443);
    await sleep(opts.baselineMs);
    const baseline = await base.stop();
    log(`  baseline (no change running): ${baseline.failed}/${baseline.attempts} failed`);
    const runs: RollingUnderLoad['runs'] = [];
    for (let i = 0; i < opts.rollingRuns; i++) {
      b5.connectTimeout = b5.connectTimeout >= 9 ? 6 : b5.connectTimeout + 1;
      writeInventory(b5);
      const loop = startClientLoop(b5.lab.vip, 8443);
      await sleep(1000);
      const u = await up(b5, 'config-change');
      await sleep(2000);
      const l = await loop.stop();
      runs.push({ up: u, loop: l });
      log(
        `  rolling change #${i + 1}: ${l.failed}/${l.attempts} requests failed${l.failed ? ` (${[...new Set(l.failures.map((f) => f.reason))].join(', ')})` : ''}`,
      );
    }
    rolling = { size: 5, baseline, runs };
  }
  return { size: 3, drills, ...(rolling ? { rolling } : {}) };
}
