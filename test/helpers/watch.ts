// Long-lived clients through a lab's VIP, like kubelets' and controllers' watches: each holds
// GET /watch on the stand-in apiserver (a line `<host> <seq>` every `everyMs`) and, when the stream
// ends for any reason, reconnects at once, as client-go does. Records every line's arrival, every
// end (and why), so a test can tell a watch that survived from one that was cut, and measure the
// time each client went without data. Only the lab's own VIP is contacted (checked, as traffic.ts).
import type { ClientRequest } from 'node:http';
import https from 'node:https';
import type { Lab } from '../../src/lab/lab.js';
import { inLabSubnet } from './traffic.js';

/**
 * The longest silence of a live 200 ms stream that is still the machine, not the event under test:
 * a loaded CI machine has stalled one for 1.2 s, while a hung backend silences its watches for the
 * health-check budget (5 s at the very least) and a cut stream shows as an end.
 */
export const LIVE_STALL_MS = 3_000;

export interface WatchEnd {
  /** ms since the epoch */
  t: number;
  /** the backend that served the stream that ended ('?' before the first line) */
  backend: string;
  reason: string;
}

export interface WatchClient {
  id: number;
  /** arrival times (ms since the epoch) of every line, across reconnects */
  lines: number[];
  /** the backend of each connection, in order */
  backends: string[];
  ends: WatchEnd[];
}

export interface WatchSummary {
  clients: WatchClient[];
  /** ends across all clients */
  reconnects: number;
  /** per client: the longest time between two lines (ms), across reconnects */
  longestGapMs: number[];
  /** the longest of them */
  worstGapMs: number;
  /** the reasons streams ended, counted */
  reasons: Record<string, number>;
}

export interface WatchOptions {
  clients?: number;
  port?: number;
  /** ms between the stand-in's lines (default 200; large = an idle watch) */
  everyMs?: number;
  /** TCP keepalive on the client's sockets: initial delay in ms (default: off, like a plain client) */
  keepAliveMs?: number;
  /** connect + first byte timeout per connection (default 3000) */
  connectTimeoutMs?: number;
  /** hard cap on the run (default 5 min) */
  maxMs?: number;
}

/** Starts `clients` watches through https://<vip>:<port>/watch; stop() ends them and summarizes. */
export function startWatches(lab: Lab, o: WatchOptions = {}) {
  const host = lab.vip;
  if (!inLabSubnet(lab, host)) throw new Error(`watch: ${host} is not in the lab subnet; refusing`);
  const port = o.port ?? 8443;
  const every = o.everyMs ?? 200;
  const connectTimeout = o.connectTimeoutMs ?? 3000;
  const maxMs = o.maxMs ?? 5 * 60_000;
  const t0 = Date.now();
  let stopped = false;
  const live = new Set<ClientRequest>();
  const clients: WatchClient[] = Array.from({ length: o.clients ?? 6 }, (_, id) => ({ id, lines: [], backends: [], ends: [] }));

  const connect = (c: WatchClient) => {
    if (stopped || Date.now() - t0 > maxMs) return;
    let backend = '?';
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      live.delete(req);
      if (stopped) return;
      c.ends.push({ t: Date.now(), backend, reason });
      // reconnect at once (a little later after a failure to connect, to stay bounded)
      setTimeout(() => connect(c), backend === '?' ? 100 : 0);
    };
    const req = https.get({ host, port, path: `/watch?every=${every}`, agent: false, rejectUnauthorized: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        end(`HTTP ${res.statusCode}`);
        return;
      }
      firstByte.refresh();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        clearTimeout(firstByte);
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const b = line.split(' ')[0] ?? '?';
          if (backend === '?') {
            backend = b;
            c.backends.push(b);
          }
          c.lines.push(Date.now());
        }
      });
      res.on('end', () => end('closed by the server side'));
      res.on('error', (e) => end((e as NodeJS.ErrnoException).code ?? e.message));
      res.on('close', () => end('closed'));
    });
    live.add(req);
    const firstByte = setTimeout(() => req.destroy(new Error('timeout (no first line)')), connectTimeout);
    req.on('socket', (s) => {
      if (o.keepAliveMs !== undefined) s.setKeepAlive(true, o.keepAliveMs);
    });
    req.on('error', (e) => {
      clearTimeout(firstByte);
      end((e as NodeJS.ErrnoException).code ?? e.message);
    });
    req.on('close', () => {
      clearTimeout(firstByte);
      end('closed');
    });
  };
  for (const c of clients) connect(c);

  return {
    clients,
    /** ms since the epoch of each client's last line */
    lastLines: () => clients.map((c) => c.lines[c.lines.length - 1] ?? 0),
    async stop(): Promise<WatchSummary> {
      stopped = true;
      for (const r of live) r.destroy();
      const longestGapMs = clients.map((c) => c.lines.reduce((m, t, i) => (i === 0 ? m : Math.max(m, t - c.lines[i - 1]!)), 0));
      const reasons: Record<string, number> = {};
      for (const c of clients) for (const e of c.ends) reasons[e.reason] = (reasons[e.reason] ?? 0) + 1;
      return {
        clients,
        reconnects: clients.reduce((n, c) => n + c.ends.length, 0),
        longestGapMs,
        worstGapMs: Math.max(0, ...longestGapMs),
        reasons,
      };
    },
  };
}

/** The longest time without a line for each client, counted only from `from` (ms since the epoch) to `to`. */
export function gapsBetween(c: WatchClient, from: number, to: number): number {
  const ts = [from, ...c.lines.filter((t) => t > from && t < to), to];
  return ts.reduce((m, t, i) => (i === 0 ? m : Math.max(m, t - ts[i - 1]!)), 0);
}

/**
 * A watch from inside a lab host (a node, through its local proxy on 127.0.0.1): curl holds GET
 * /watch and every line is stamped with the host's clock into a file. stop() reads it back: the
 * lines' times, the longest gap between them, and whether the stream was still open at the end.
 */
export async function startHostWatch(lab: Lab, host: string, url = 'https://127.0.0.1:6443/watch?every=200') {
  const log = `/tmp/kha-watch-${process.pid}.log`;
  const script =
    `rm -f ${log}; (curl -skN --max-time 900 '${url}' | while IFS= read -r l; do echo "$(date +%s.%N) $l"; done >${log} 2>&1) </dev/null >/dev/null 2>&1 & ` +
    // anchored: the command line of curl itself, not of the shells around it
    "sleep 0.5; pgrep -f '^curl -skN --max-time 900 ' | head -1";
  const pid = (await lab.exec(host, ['sh', '-c', script])).stdout.trim();
  if (!/^\d+$/.test(pid)) throw new Error(`${host}: the watch (curl) did not start`);
  const read = async () => {
    const text = (await lab.exec(host, ['cat', log])).stdout;
    const rows = text
      .split('\n')
      .map((l) => l.split(' '))
      .filter((p) => p.length >= 3 && Number.isFinite(Number(p[0])));
    return { rows, ts: rows.map((p) => Number(p[0]) * 1000) };
  };
  return {
    /** the stream so far, curl left running: open, line count, the backends that sent, the last line's time (ms, host clock) */
    async peek(): Promise<{ open: boolean; lines: number; backends: string[]; lastAt: number | null }> {
      const open = (await lab.exec(host, ['sh', '-c', `kill -0 ${pid} 2>/dev/null && echo open`])).stdout.includes('open');
      const { rows, ts } = await read();
      return { open, lines: ts.length, backends: [...new Set(rows.map((p) => p[1]!))], lastAt: ts.length ? ts[ts.length - 1]! : null };
    },
    async stop(): Promise<{ lines: number; longestGapMs: number; open: boolean; backends: string[] }> {
      const alive = (await lab.exec(host, ['sh', '-c', `kill -0 ${pid} 2>/dev/null && echo open`])).stdout.includes('open');
      await lab.exec(host, ['sh', '-c', `kill ${pid} 2>/dev/null; true`]);
      const { rows, ts } = await read();
      const longestGapMs = ts.reduce((m, t, i) => (i === 0 ? m : Math.max(m, t - ts[i - 1]!)), 0);
      return { lines: ts.length, longestGapMs, open: alive, backends: [...new Set(rows.map((p) => p[1]!))] };
    },
  };
}
