// A real Prometheus (Debian's /usr/bin/prometheus) for tests: a temp dir with the config, the rule
// files and the TSDB, a listener on a free loopback port, and typed reads of its HTTP API (instant
// queries, alerts, targets) plus the waits the alert tests need. Integration tests point it at lab
// containers; test/unit/prometheus-harness.test.ts checks the harness against a local target.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

export interface PromOptions {
  /**
   * YAML: either the items of `scrape_configs` (a list: `- job_name: ...`) or a whole
   * `scrape_configs:` block; both are parsed, so a bad fragment fails here with YAML's message.
   */
  scrapeConfigs: string;
  /** contents of rule files (each a `groups:` document), written to the temp dir */
  ruleFiles?: string[];
  /** global scrape_interval, default '1s' */
  scrapeInterval?: string;
  /** global evaluation_interval, default '1s' */
  evaluationInterval?: string;
  /** how long to wait for /-/ready, default 30 s */
  readyTimeoutMs?: number;
  /** the binary, default /usr/bin/prometheus */
  bin?: string;
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PromAlert {
  name: string;
  state: 'pending' | 'firing';
  labels: Record<string, string>;
  activeAt: string;
}

export interface PromTarget {
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  labels: Record<string, string>;
}

export interface Prometheus {
  /** http://127.0.0.1:PORT */
  url: string;
  /** the temp dir (config, rules, data) */
  dir: string;
  query(expr: string): Promise<PromSample[]>;
  alerts(): Promise<PromAlert[]>;
  /**
   * Polls /api/v1/alerts every 250 ms until an alert named `name` whose labels include `labels`
   * is firing ('firing'), or until none is pending or firing ('inactive'). `ms` is the time from
   * the call to the poll that saw it, `at` that poll's Date.now().
   */
  waitAlert(name: string, want: 'firing' | 'inactive', o: { timeoutMs: number; labels?: Record<string, string> }): Promise<{ ms: number; at: number }>;
  targets(): Promise<PromTarget[]>;
  /**
   * Until there is at least one active target and every one is up. Prometheus 2.42 applies target
   * sets on a 5 s tick, so the first scrape comes about 5 s after ready: allow 10 s or more.
   */
  waitTargetsUp(timeoutMs: number): Promise<PromTarget[]>;
  /**
   * For failure messages: every failed scrape seen since start (targets polled every second, one
   * line per target and error, with the first and last time seen) and each target's slowest scrape
   * in the last 5 minutes.
   */
  diagnose(): Promise<string>;
  /** SIGTERM, SIGKILL after 5 s, then the temp dir removed; safe to call twice */
  stop(): Promise<void>;
}

const POLL_MS = 250;
const STDERR_KEEP = 8192;

export async function startPrometheus(o: PromOptions): Promise<Prometheus> {
  const bin = o.bin ?? PROMETHEUS_BIN;
  if (!isExecutable(bin)) throw new Error(`prometheus: ${bin} not found: apt-get install prometheus (or scripts/ensure-prometheus.sh)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-prom-'));
  try {
    const config = writeConfig(dir, o);
    // the free port is found by binding and closing it: another process may take it before
    // prometheus binds, so an "address already in use" start is retried on a new port
    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const url = `http://127.0.0.1:${port}`;
      const proc = spawnPrometheus(bin, dir, config, port);
      try {
        await waitReady(url, proc, o.readyTimeoutMs ?? 30_000);
        return client(url, dir, proc);
      } catch (e) {
        await kill(proc);
        if (attempt < 3 && /address already in use/.test(proc.stderrTail())) continue;
        throw e;
      }
    }
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** the config file: global intervals, the rule files by absolute path, the scrape configs */
function writeConfig(dir: string, o: PromOptions): string {
  const ruleFiles = (o.ruleFiles ?? []).map((text, i) => {
    const file = path.join(dir, `rules-${i}.yml`);
    fs.writeFileSync(file, text);
    return file;
  });
  const config = {
    global: { scrape_interval: o.scrapeInterval ?? '1s', evaluation_interval: o.evaluationInterval ?? '1s' },
    rule_files: ruleFiles,
    scrape_configs: parseScrapeConfigs(o.scrapeConfigs),
  };
  const file = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}

function parseScrapeConfigs(text: string): unknown[] {
  const doc: unknown = YAML.parse(text);
  const list = doc && typeof doc === 'object' && !Array.isArray(doc) && 'scrape_configs' in doc ? doc.scrape_configs : doc;
  if (!Array.isArray(list)) throw new Error('prometheus: scrapeConfigs must be a YAML list of scrape configs (or a scrape_configs: block)');
  return list;
}

async function freeLoopbackPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

type PromProcess = ChildProcess & { stderrTail(): string; exited: Promise<void> };

function spawnPrometheus(bin: string, dir: string, config: string, port: number): PromProcess {
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Debian's defaults point at /etc/prometheus: keep the instance inside its temp dir
    `--web.console.templates=${path.join(dir, 'consoles')}`,
    `--web.console.libraries=${path.join(dir, 'console_libraries')}`,
  ];
  const proc = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] }) as PromProcess;
  let tail = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_KEEP);
  });
  proc.stderrTail = () => tail;
  // 'close', not 'exit': 'exit' can come before the last of stderr is read, and the error
  // message quotes stderr's tail (a CI run lost prometheus's "parse error" line that way)
  proc.exited = new Promise((resolve) => proc.once('close', () => resolve()));
  proc.once('error', () => undefined); // spawn failures surface as an exit with the tail
  return proc;
}

/**
 * stderr's error lines, then its last `n` lines: prometheus logs its shutdown after the error
 * that caused it, and a CI run had the cause (a rule's parse error) pushed out of the last 15.
 */
function tailLines(proc: PromProcess, n = 15): string {
  const all = proc.stderrTail().trimEnd().split('\n').filter(Boolean);
  const last = all.slice(-n);
  const errors = all.slice(0, -n).filter((l) => /level=error/.test(l));
  if (!last.length) return ' (no stderr)';
  return `${errors.length ? `\n--- prometheus stderr, its errors ---\n${errors.join('\n')}` : ''}\n--- prometheus stderr (last ${last.length} lines) ---\n${last.join('\n')}`;
}

async function waitReady(url: string, proc: PromProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`prometheus: exited (code ${proc.exitCode}, signal ${proc.signalCode}) before ready on ${url}${tailLines(proc)}`);
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`prometheus: not ready on ${url} after ${timeoutMs} ms${tailLines(proc)}`);
}

async function kill(proc: PromProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const done = await Promise.race([proc.exited.then(() => true), sleep(5000).then(() => false)]);
  if (!done) {
    proc.kill('SIGKILL');
    await proc.exited;
  }
}

/** GET an API path, unwrap `{status, data}`, and name the path in every error */
async function api<T>(url: string, pathAndQuery: string): Promise<T> {
  const res = await fetch(`${url}${pathAndQuery}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json().catch(() => null)) as { status?: string; data?: T; errorType?: string; error?: string } | null;
  if (!body || body.status !== 'success') {
    throw new Error(`prometheus: GET ${pathAndQuery}: HTTP ${res.status}${body ? `: ${body.errorType}: ${body.error}` : ''}`);
  }
  return body.data as T;
}

interface RawAlert {
  labels: Record<string, string>;
  state: string;
  activeAt: string;
}

interface RawTarget {
  scrapeUrl: string;
  health: PromTarget['health'];
  lastError: string;
  labels: Record<string, string>;
}

function includes(labels: Record<string, string>, want: Record<string, string> = {}): boolean {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

function describeAlerts(alerts: PromAlert[]): string {
  if (!alerts.length) return '  (no alerts pending or firing)';
  return alerts.map((a) => `  ${a.name} ${a.state} since ${a.activeAt} ${JSON.stringify(a.labels)}`).join('\n');
}

function describeTargets(targets: PromTarget[]): string {
  if (!targets.length) return '  (no active targets)';
  return targets.map((t) => `  ${t.scrapeUrl} ${t.health}${t.lastError ? `: ${t.lastError}` : ''}`).join('\n');
}

function client(url: string, dir: string, proc: PromProcess): Prometheus {
  // a test process that dies without stop() must not leave prometheus behind
  const onExit = () => proc.kill('SIGKILL');
  process.once('exit', onExit);
  let stopped: Promise<void> | undefined;

  const query = async (expr: string): Promise<PromSample[]> => {
    const data = await api<{ resultType: string; result: unknown }>(url, `/api/v1/query?query=${encodeURIComponent(expr)}`);
    if (data.resultType === 'vector') {
      return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    }
    if (data.resultType === 'scalar') return [{ metric: {}, value: Number((data.result as [number, string])[1]) }];
    throw new Error(`prometheus: query ${JSON.stringify(expr)}: result type ${data.resultType}, want an instant vector or a scalar`);
  };

  const alerts = async (): Promise<PromAlert[]> => {
    const data = await api<{ alerts: RawAlert[] }>(url, '/api/v1/alerts');
    return data.alerts.map((a) => ({ name: a.labels.alertname ?? '', state: a.state as PromAlert['state'], labels: a.labels, activeAt: a.activeAt }));
  };

  const waitAlert: Prometheus['waitAlert'] = async (name, want, o) => {
    const t0 = Date.now();
    for (;;) {
      const now = await alerts();
      const mine = now.filter((a) => a.name === name && includes(a.labels, o.labels));
      const at = Date.now();
      if (want === 'firing' ? mine.some((a) => a.state === 'firing') : mine.length === 0) return { ms: at - t0, at };
      if (at - t0 >= o.timeoutMs) {
        const which = o.labels ? `${name}${JSON.stringify(o.labels)}` : name;
        throw new Error(`prometheus: ${which} not ${want} after ${o.timeoutMs} ms; alerts now:\n${describeAlerts(now)}\n${await diagnose()}`);
      }
      await sleep(POLL_MS);
    }
  };

  const targets = async (): Promise<PromTarget[]> => {
    const data = await api<{ activeTargets: RawTarget[] }>(url, '/api/v1/targets?state=active');
    return data.activeTargets.map((t) => ({ scrapeUrl: t.scrapeUrl, health: t.health, lastError: t.lastError, labels: t.labels }));
  };

  const waitTargetsUp = async (timeoutMs: number): Promise<PromTarget[]> => {
    const t0 = Date.now();
    for (;;) {
      const now = await targets();
      if (now.length && now.every((t) => t.health === 'up')) return now;
      if (Date.now() - t0 >= timeoutMs) throw new Error(`prometheus: targets not all up after ${timeoutMs} ms:\n${describeTargets(now)}`);
      await sleep(POLL_MS);
    }
  };

  // failed scrapes, by target and error: Prometheus keeps only the last error of each target
  const scrapeErrors = new Map<string, { first: number; last: number; n: number }>();
  const watcher = setInterval(() => {
    targets()
      .then((ts) => {
        for (const t of ts) {
          if (t.health !== 'down') continue;
          const k = `${t.scrapeUrl}: ${t.lastError}`;
          const e = scrapeErrors.get(k);
          if (e) {
            e.last = Date.now();
            e.n++;
          } else scrapeErrors.set(k, { first: Date.now(), last: Date.now(), n: 1 });
        }
      })
      .catch(() => undefined);
  }, 1000);
  watcher.unref();

  const diagnose = async (): Promise<string> => {
    const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);
    const errs = [...scrapeErrors].map(([k, e]) => `  ${k} (seen ${e.n}x, ${iso(e.first)}..${iso(e.last)})`);
    let slow = '';
    try {
      const d = await query('max_over_time(scrape_duration_seconds[5m])');
      slow = d
        .map((x) => `  ${x.metric['instance']} ${x.metric['job']}: ${x.value.toFixed(3)} s`)
        .sort()
        .join('\n');
    } catch (e) {
      slow = `  (query failed: ${String(e)})`;
    }
    return `failed scrapes seen:\n${errs.join('\n') || '  none'}\nslowest scrape per target, last 5 min:\n${slow}`;
  };

  const stop = (): Promise<void> => {
    clearInterval(watcher);
    stopped ??= (async () => {
      await kill(proc);
      process.removeListener('exit', onExit);
      fs.rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  return { url, dir, query, alerts, waitAlert, targets, waitTargetsUp, diagnose, stop };
}
