// Observing the lab hosts from the outside, through `docker exec` (never through kha itself):
// VIP holders, units and their start times, the keepalived journal, files, HTTPS through the VIP.
import https from 'node:https';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '../../src/lab/lab.js';

/** kha's default advert_int, seconds */
export const ADVERT_INT_S = 1;

/** docker exec that must succeed; returns stdout */
export async function sh(lab: Lab, host: string, argv: string[]): Promise<string> {
  const r = await lab.exec(host, argv);
  if (r.code !== 0) throw new Error(`${host}: ${argv.join(' ')} -> exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** the hosts that have the VIP as a local address (what `ip a s` shows; read without docker exec) */
export async function vipHolders(lab: Lab, hosts = lab.hosts.map((h) => h.name)): Promise<string[]> {
  const out = await Promise.all(hosts.map(async (h) => ((await lab.ipv4Addresses(h)).has(lab.vip) ? h : null)));
  return out.filter((h): h is string => h !== null);
}

/** poll every `intervalMs` until `ok(holders)`; returns the holders and ms since `t0` */
export async function waitHolders(lab: Lab, ok: (holders: string[]) => boolean, t0: number, timeoutMs: number, intervalMs = 100) {
  for (;;) {
    const holders = await vipHolders(lab);
    const ms = Math.round(performance.now() - t0);
    if (ok(holders)) return { holders, ms, ok: true };
    if (ms > timeoutMs) return { holders, ms, ok: false };
    await sleep(intervalMs);
  }
}

export async function mainPid(lab: Lab, host: string, unit: string): Promise<number> {
  return Number((await sh(lab, host, ['systemctl', 'show', '-p', 'MainPID', '--value', unit])).trim());
}

/** `systemctl is-active` / `is-enabled` words (no throw: inactive units exit non-zero) */
export async function unitState(lab: Lab, host: string, unit: string): Promise<{ active: string; enabled: string }> {
  const a = await lab.exec(host, ['systemctl', 'is-active', unit]);
  const e = await lab.exec(host, ['systemctl', 'is-enabled', unit]);
  return { active: a.stdout.trim(), enabled: e.stdout.trim() };
}

/** wall clock (µs since the epoch) of the unit's main process start: `--timestamp=us+utc` */
export async function startedAtUs(lab: Lab, host: string, unit: string): Promise<number> {
  const out = await sh(lab, host, ['systemctl', 'show', unit, '-p', 'ExecMainStartTimestamp', '--timestamp=us+utc']);
  const m = /=\w+ (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6}) UTC/.exec(out);
  if (m) return Date.parse(`${m[1]}T${m[2]}Z`) * 1000 + Number(m[3]);
  // systemd before 248 (Debian 11's 247) prints `show` timestamps in seconds whatever --timestamp
  // says: the monotonic start (µs), moved onto the wall clock by reading both clocks now
  const mono = await sh(lab, host, ['systemctl', 'show', unit, '-p', 'ExecMainStartTimestampMonotonic', '--value']);
  const clocks = await sh(lab, host, ['python3', '-c', 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000, time.time_ns() // 1000)']);
  const [monoNow, wallNow] = clocks.trim().split(' ').map(Number);
  const start = Number(mono.trim());
  if (!start || !monoNow || !wallNow) throw new Error(`${host}: cannot parse ${unit} ExecMainStartTimestamp: ${out.trim()} / ${mono.trim()}`);
  return wallNow - (monoNow - start);
}

/** wall clock (µs) of keepalived's journal lines matching `re` on host, e.g. "Entering MASTER STATE" */
export async function journalAtUs(lab: Lab, host: string, re: RegExp): Promise<number[]> {
  const out = await sh(lab, host, ['journalctl', '-u', 'keepalived.service', '-o', 'short-iso-precise', '--no-pager']);
  const times: number[] = [];
  for (const line of out.split('\n')) {
    if (!re.test(line)) continue;
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})([+-])(\d\d):?(\d\d)/.exec(line);
    if (!m) throw new Error(`${host}: cannot parse the journal time of: ${line}`);
    const offsetMin = (m[3] === '-' ? -1 : 1) * (Number(m[4]) * 60 + Number(m[5]));
    times.push((Date.parse(`${m[1]}Z`) - offsetMin * 60_000) * 1000 + Number(m[2]));
  }
  return times;
}

export async function installed(lab: Lab, host: string, pkg: string): Promise<boolean> {
  const r = await lab.exec(host, ['dpkg-query', '-W', '-f', '${Status}', pkg]);
  return r.code === 0 && r.stdout.includes('install ok installed');
}

export async function haproxyCfg(lab: Lab, host: string): Promise<string> {
  return sh(lab, host, ['cat', '/etc/haproxy/haproxy.cfg']);
}

/** names of the `server` lines of haproxy.cfg on host */
export async function haproxyServers(lab: Lab, host: string): Promise<string[]> {
  return (await haproxyCfg(lab, host))
    .split('\n')
    .map((l) => /^\s*server\s+(\S+)\s/.exec(l)?.[1])
    .filter((x): x is string => Boolean(x));
}

export async function sha(lab: Lab, host: string, file: string): Promise<string> {
  return (await sh(lab, host, ['sha256sum', file])).split(' ')[0]!;
}

// ---------------------------------------------------------------------------------------------
// HTTPS to lab addresses only

/** one fresh TLS connection (agent: false) to https://host:port/path; stand-in certs are self-signed */
export function httpsGet(host: string, port: number, urlPath = '/healthz', timeoutMs = 3_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: urlPath, rejectUnauthorized: false, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: https://${host}:${port}${urlPath}`)));
    req.on('error', reject);
  });
}

/** GET https://host:port/readyz on a fresh connection, 5 s bound */
export function readyz(host: string, port: number): Promise<{ status: number; body: string }> {
  return httpsGet(host, port, '/readyz', 5_000);
}

/** n sequential fresh connections through the VIP; the statuses and bodies seen */
export async function bodiesThroughVip(lab: Lab, n = 12): Promise<{ statuses: number[]; bodies: string[] }> {
  const statuses: number[] = [];
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await readyz(lab.vip, 8443);
    statuses.push(r.status);
    bodies.push(r.body);
  }
  return { statuses, bodies };
}

/** GET through VIP:8443 until a body is `ok <want>` (bounded); the bodies seen */
export async function untilBodyFrom(
  lab: Lab,
  want: string,
  maxTries = 120,
  gapMs = 250,
): Promise<{ found: boolean; tries: number; bodies: Map<string, number> }> {
  const bodies = new Map<string, number>();
  for (let i = 1; i <= maxTries; i++) {
    const b = await httpsGet(lab.vip, 8443).then(
      (r) => `${r.status} ${r.body}`,
      (e: Error) => `error ${e.message}`,
    );
    bodies.set(b, (bodies.get(b) ?? 0) + 1);
    if (b === `200 ok ${want}`) return { found: true, tries: i, bodies };
    await sleep(gapMs);
  }
  return { found: false, tries: maxTries, bodies };
}

/** Polls `probe` every intervalMs until ok(value) or timeoutMs: the last value, the time, whether ok. */
export async function waitFor<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs: number,
  intervalMs = 200,
): Promise<{ value: T; ms: number; ok: boolean }> {
  const t0 = performance.now();
  for (;;) {
    const value = await probe();
    const ms = Math.round(performance.now() - t0);
    if (ok(value)) return { value, ms, ok: true };
    if (ms > timeoutMs) return { value, ms, ok: false };
    await sleep(intervalMs);
  }
}

/** one TCP connect to host:port (a lab address): true when it is accepted within timeoutMs */
export function tcpAccepts(host: string, port: number, timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}
