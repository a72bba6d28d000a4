// For the `kha up` integration tests: runs the built CLI (`node bin/run.js ...`) as a subprocess,
// without a shell (needs `npm run build` first: bin/run.js loads dist/), writes lab inventories,
// and observes the lab hosts through `docker exec` (VIP holders, unit start times, journal).
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import YAML from 'yaml';
import { writeLabInventory } from '../../src/lab/lab.js';
import type { Lab } from '../../src/lab/lab.js';
import { runKha as runCli, type KhaRun } from './cli.js';


export type CliResult = KhaRun;

export interface RunOptions {
  /** kill the process (SIGKILL) after this many ms; default 5 min */
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
}

/** `node bin/run.js <args>` (test/helpers/cli.ts); a timeout resolves with code null. */
export function runKha(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return runCli(args, { timeoutMs: opts.timeoutMs ?? 5 * 60_000, onTimeout: 'resolve', ...(opts.env ? { env: opts.env } : {}) });
}

export interface UpArgs {
  inventory: string;
  knownHosts: string;
  json?: boolean;
  serial?: string;
  /** where kha writes its JSON log (default: next to the inventory) */
  logFile?: string;
  extra?: string[];
}

/** `kha up -i INV --known-hosts FILE [--json] [--serial S] --log-file F` */
export function runUp(a: UpArgs, opts: RunOptions = {}): Promise<CliResult> {
  const args = ['up', '-i', a.inventory, '--known-hosts', a.knownHosts];
  if (a.json) args.push('--json');
  if (a.serial !== undefined) args.push('--serial', a.serial);
  args.push('--log-file', a.logFile ?? `${a.inventory.replace(/\.ya?ml$/, '')}.log`);
  args.push(...(a.extra ?? []));
  return runKha(args, opts);
}

/** Lines of `text` that start with `error:` (after leading spaces). */
export function errorLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\s*error:/.test(l));
}

/** One-paragraph description of a run, for assertion messages. */
export function describeRun(r: CliResult): string {
  return `kha ${r.argv.join(' ')} -> exit ${r.code}${r.signal ? ` (${r.signal})` : ''} in ${r.ms} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

export const ADVERT_INT_S = 1; // kha's default advert_int
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// lab observations (docker exec, never kha itself) and traffic to lab addresses only

export interface InvOptions {
  vars?: Record<string, unknown>;
  hostVars?: Record<string, Record<string, unknown>>;
}

/** writeLabInventory + per-host vars; the file lives in the lab's state dir (removed with the lab) */
export function writeInv(lab: Lab, name: string, o: InvOptions = {}): string {
  const file = path.join(lab.stateDir, `${name}.yaml`);
  writeLabInventory(lab, file, { vars: o.vars ?? {} });
  if (o.hostVars) {
    const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as {
      all: { children: { masters: { hosts: Record<string, Record<string, unknown>> } } };
    };
    for (const [h, v] of Object.entries(o.hostVars)) Object.assign(doc.all.children.masters.hosts[h]!, v);
    fs.writeFileSync(file, YAML.stringify(doc));
  }
  return file;
}

/** kha up against the lab, always with --known-hosts <lab.knownHostsFile> */
export function upLab(lab: Lab, inventory: string, o: { json?: boolean; serial?: string } = {}): Promise<CliResult> {
  return runUp({ inventory, knownHosts: lab.knownHostsFile, ...o });
}

export async function sh(lab: Lab, host: string, argv: string[]): Promise<string> {
  const r = await lab.exec(host, argv);
  if (r.code !== 0) throw new Error(`${host}: ${argv.join(' ')} -> exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** the hosts whose `ip -o -4 addr show` lists the VIP */
export async function vipHolders(lab: Lab, hosts = lab.hosts.map((h) => h.name)): Promise<string[]> {
  const out = await Promise.all(
    hosts.map(async (h) => ((await sh(lab, h, ['ip', '-o', '-4', 'addr', 'show'])).includes(` ${lab.vip}/`) ? h : null)),
  );
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

/** one fresh TLS connection (agent: false) to https://host:port/readyz; stand-in certs are self-signed */
export function readyz(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: '/readyz', rejectUnauthorized: false, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: https://${host}:${port}/readyz`)));
    req.on('error', reject);
  });
}

/** n sequential fresh connections through the VIP; the set of bodies seen */
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

export async function mainPid(lab: Lab, host: string, unit: string): Promise<number> {
  const out = await sh(lab, host, ['systemctl', 'show', unit, '-p', 'MainPID', '--value']);
  return Number(out.trim());
}

/** wall clock (µs since the epoch) of the unit's main process start: `--timestamp=us+utc` */
export async function startedAtUs(lab: Lab, host: string, unit: string): Promise<number> {
  const out = await sh(lab, host, ['systemctl', 'show', unit, '-p', 'ExecMainStartTimestamp', '--timestamp=us+utc']);
  const m = /=\w+ (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6}) UTC/.exec(out);
  if (!m) throw new Error(`${host}: cannot parse ${unit} ExecMainStartTimestamp: ${out.trim()}`);
  return Date.parse(`${m[1]}T${m[2]}Z`) * 1000 + Number(m[3]);
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

export interface UpJson {
  result: { holder: string | null; changed: boolean; endpoint: string } | null;
  recap: Record<string, { ok: number; changed: number; failed: number; unreachable: number; skipped: number }>;
}

/** the --json document of a run, and the sum of `changed` over its recap */
export function jsonChanged(r: CliResult): { changed: number; doc: UpJson } {
  const doc = JSON.parse(r.stdout) as UpJson;
  return { changed: Object.values(doc.recap).reduce((a, h) => a + h.changed, 0), doc };
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

