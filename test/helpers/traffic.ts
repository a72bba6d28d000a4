// A bounded client loop against a lab's VIP: every `intervalMs` a NEW TCP connection (agent: false)
// and an HTTPS GET, each with its own timeout; hard caps on the number of requests, the run time
// and the requests in flight. Only the lab's own VIP is ever contacted (checked against the lab
// subnet: the network rule of /work/shared/ENVIRONMENT.md).
import https from 'node:https';
import type { Lab } from '../../src/lab/lab.js';

/**
 * A client timeout for loops that check a roll or a drain, not a failover: a request that answers
 * within 5 s has not failed (client-go waits far longer). With 2 s, CI runs on the loaded 2-core
 * machine counted requests whose TLS handshake or answer came later while the VIP did not move
 * (15 started within 0.4 s during a drain; 99 over 13 s during an upgrade): stalls of the hosts.
 * A request to a drained or stopped backend, or to a VIP in flight, is refused or reset at once,
 * which any timeout still counts.
 */
export const STALL_TOLERANT_TIMEOUT_MS = 5_000;

export interface TrafficOptions {
  port?: number;
  path?: string;
  /** ms between request starts (default 50) */
  intervalMs?: number;
  /** per request (default 2000) */
  timeoutMs?: number;
  /** hard caps (default 4000 requests, 3 minutes, 40 in flight) */
  maxRequests?: number;
  maxMs?: number;
  maxInFlight?: number;
}

export interface TrafficResult {
  t: number;
  ms: number;
  ok: boolean;
  /** `ok m2` (the stand-in's body) or the failure reason */
  detail: string;
}

export interface TrafficSummary {
  total: number;
  ok: number;
  failed: number;
  /** requests not started because maxInFlight was reached */
  skipped: number;
  /** failure reason (numbers stripped) -> count */
  reasons: Record<string, number>;
  /** body -> count of the successful requests (which backend answered) */
  bodies: Record<string, number>;
  /** the failed requests, in order */
  failures: TrafficResult[];
  /** first and last failure time (ms since the loop started) */
  failureSpanMs: [number, number] | null;
  durationMs: number;
  /** when the loop started (ms since the epoch): failures' `t` are relative to it */
  startedAt: number;
  /** true when a hard cap ended the loop before stop() */
  capped: boolean;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => ((acc << 8) + Number(o)) >>> 0, 0);
}

export function inLabSubnet(lab: Lab, ip: string): boolean {
  const p = lab.subnet.prefix;
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(lab.subnet.base) & mask) >>> 0;
}

function oneRequest(host: string, port: number, path: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, detail: string) => {
      if (!done) {
        done = true;
        resolve({ ok, detail });
      }
    };
    let gotResponse = false;
    const req = https.get({ host, port, path, agent: false, rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      gotResponse = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => finish(res.statusCode === 200, res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}: ${body.trim()}`));
      res.on('error', (e) => finish(false, `response: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      // 'close' follows 'end' on a complete response; before it, the body was cut
      res.on('close', () => setImmediate(() => finish(false, 'response cut short')));
    });
    // which step a timeout cut tells an unreachable VIP (no TCP connect: ARP, no holder) from a
    // stuck backend (haproxy accepts at once in TCP mode; the TLS handshake is the apiserver's)
    let step = 'connecting';
    req.on('socket', (sock) => {
      sock.once('connect', () => (step = 'TLS handshake'));
      sock.once('secureConnect', () => (step = 'waiting for the response'));
    });
    const timedOut = () => req.destroy(new Error(`timeout (${step})`));
    // the socket timeout only covers idleness: bound the whole request too
    const hard = setTimeout(timedOut, timeoutMs);
    req.on('timeout', timedOut);
    req.on('error', (e) => finish(false, (e as NodeJS.ErrnoException).code ?? e.message));
    req.on('close', () => {
      clearTimeout(hard);
      if (!gotResponse) setImmediate(() => finish(false, 'closed without a response'));
    });
  });
}

/** Starts the loop against https://<lab.vip>:<port><path>; stop() ends it and summarizes. */
export function startTraffic(lab: Lab, o: TrafficOptions = {}) {
  const host = lab.vip;
  if (!inLabSubnet(lab, host)) throw new Error(`traffic: ${host} is not in the lab subnet ${lab.subnet.base}/${lab.subnet.prefix}; refusing`);
  const port = o.port ?? 8443;
  const path = o.path ?? '/healthz';
  const intervalMs = o.intervalMs ?? 50;
  const timeoutMs = o.timeoutMs ?? 2_000;
  const maxRequests = o.maxRequests ?? 4_000;
  const maxMs = o.maxMs ?? 3 * 60_000;
  const maxInFlight = o.maxInFlight ?? 40;
  const results: TrafficResult[] = [];
  const inFlight = new Set<Promise<void>>();
  const t0 = Date.now();
  let started = 0;
  let skipped = 0;
  let stopped = false;
  let capped = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveEnded!: () => void;
  const ended = new Promise<void>((r) => (resolveEnded = r));

  const tick = () => {
    if (stopped) return;
    if (started >= maxRequests || Date.now() - t0 >= maxMs) {
      capped = true;
      stopped = true;
      resolveEnded();
      return;
    }
    if (inFlight.size >= maxInFlight) skipped++;
    else {
      started++;
      const t = Date.now();
      const p = oneRequest(host, port, path, timeoutMs).then((r) => {
        results.push({ t: t - t0, ms: Date.now() - t, ...r });
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    timer = setTimeout(tick, intervalMs);
  };
  tick();

  return {
    /** how many requests have finished so far */
    get finished(): number {
      return results.length;
    },
    async stop(): Promise<TrafficSummary> {
      stopped = true;
      if (timer) clearTimeout(timer);
      resolveEnded();
      await ended;
      await Promise.all([...inFlight]);
      results.sort((a, b) => a.t - b.t);
      const failures = results.filter((r) => !r.ok);
      const reasons: Record<string, number> = {};
      const bodies: Record<string, number> = {};
      for (const f of failures) {
        const k = f.detail.replace(/\d+/g, 'N');
        reasons[k] = (reasons[k] ?? 0) + 1;
      }
      for (const r of results) if (r.ok) bodies[r.detail] = (bodies[r.detail] ?? 0) + 1;
      return {
        total: results.length,
        ok: results.length - failures.length,
        failed: failures.length,
        skipped,
        reasons,
        bodies,
        failures,
        failureSpanMs: failures.length ? [failures[0]!.t, failures[failures.length - 1]!.t] : null,
        durationMs: Date.now() - t0,
        startedAt: t0,
        capped,
      };
    },
  };
}
