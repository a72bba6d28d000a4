// Metrics for Prometheus (issue 19): the renderers of src/roles/metrics.ts byte for byte against
// test/golden (regenerate with `-u`, then READ THE DIFF), their value guards, the exporter script
// run for real in bash on this machine (keepalived does not run here: STOP; a second run fakes the
// host's tools with exported bash functions), `promtool check metrics` on what it prints, and the
// merge of `kha status -o prometheus`.
//
// The goldens were checked with the real tools: kha-vrrp-count.nft with `nft -c -f` (nftables
// 1.0.6, as root: nft needs CAP_NET_ADMIN even to check, so that check is not repeated here), the
// units with `systemd-analyze verify` (systemd 252).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeExpositions, statusMetrics, type HostExposition } from '../../src/actions/status-metrics.js';
import { InputError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings, type HaSettings } from '../../src/inventory/settings.js';
import { NOTIFY_STATE_FILE } from '../../src/roles/files.js';
import { HAPROXY_CFG, STATS_SOCKET, configureTasks, desiredFiles, haHandlers, installTasks, metricsScript, startTasks } from '../../src/roles/ha.js';
import { HAPROXY_BACKEND } from '../../src/roles/haproxy.js';
import {
  METRICS_SCRIPT_PATH,
  METRICS_SERVICE_PATH,
  METRICS_SOCKET_PATH,
  VRRP_COUNT_NFT_PATH,
  VRRP_COUNT_UNIT_PATH,
  metricsFrontend,
  renderMetricsScript,
  renderMetricsServer,
  renderMetricsService,
  renderMetricsSocket,
  renderVrrpCountNft,
  renderVrrpCountUnit,
  type MetricsScriptVars,
} from '../../src/roles/metrics.js';
import { FakeConn, fakeRun } from '../helpers/fake-conn.js';

const GOLDEN_DIR = fileURLToPath(new URL('../golden/', import.meta.url));
/** Byte for byte against test/golden/<name> (vitest's file snapshot: `-u` rewrites it). */
function golden(name: string, actual: string): Promise<void> {
  return expect(actual).toMatchFileSnapshot(join(GOLDEN_DIR, name));
}

/** roles.test.ts's cluster: VIP 192.168.50.100, VRID 51, three load balancers .11 .12 .13 */
const SCRIPT: MetricsScriptVars = {
  vip: '192.168.50.100',
  virtualRouterId: 51,
  instance: 'VI_KHA',
  stateFile: NOTIFY_STATE_FILE,
  statsSocket: STATS_SOCKET,
  backend: HAPROXY_BACKEND,
};
const PEERS = ['192.168.50.11', '192.168.50.12', '192.168.50.13'];

describe('golden files', () => {
  it.each([
    ['kha-metrics.sh', () => renderMetricsScript(SCRIPT)],
    ['kha-metrics.socket', () => renderMetricsSocket({ bind: '192.168.50.11', port: 8406 })],
    ['kha-metrics.service', () => renderMetricsService()],
    ['kha-metrics-server.pl', () => renderMetricsServer()],
    ['kha-vrrp-count.nft', () => renderVrrpCountNft({ virtualRouterId: 51, peers: PEERS })],
    ['kha-vrrp-count.service', () => renderVrrpCountUnit()],
    // what the frontend appends to a haproxy.cfg (from its blank separator line on): render.test.ts appends it to the haproxy goldens
    ['haproxy.metrics-frontend.cfg', () => `${metricsFrontend({ bind: '192.168.50.13', port: 8405 }).join('\n')}\n`],
  ])('%s', async (name, render) => {
    await golden(name, render());
  });
});

describe('value guards: one line naming the var, nothing rendered', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['script: a vip with a prefix', () => renderMetricsScript({ ...SCRIPT, vip: '10.0.0.100/24' }), 'vip: "10.0.0.100/24" must be an IPv4 address'],
    ['script: a vip that is a name', () => renderMetricsScript({ ...SCRIPT, vip: 'vip.example' }), 'vip: "vip.example" must be an IPv4 address'],
    ['script: an IPv6 vip', () => renderMetricsScript({ ...SCRIPT, vip: 'fd00::100' }), 'vip: "fd00::100" must be an IPv4 address'],
    ['script: vrid 0', () => renderMetricsScript({ ...SCRIPT, virtualRouterId: 0 }), 'virtualRouterId: 0 must be an integer in 1..255'],
    ['script: vrid 256', () => renderMetricsScript({ ...SCRIPT, virtualRouterId: 256 }), 'virtualRouterId: 256 must be an integer in 1..255'],
    [
      'script: an instance name with a space',
      () => renderMetricsScript({ ...SCRIPT, instance: 'VI KHA' }),
      'instance: "VI KHA" must be one word of letters, digits and . _ : @ % + -',
    ],
    [
      'script: a relative state file',
      () => renderMetricsScript({ ...SCRIPT, stateFile: 'run/state' }),
      'stateFile: "run/state" must be an absolute path of letters, digits and . _ @ % + -',
    ],
    [
      'script: a backend with a quote',
      () => renderMetricsScript({ ...SCRIPT, backend: 'kube"apiservers' }),
      'backend: "kube\\"apiservers" must be one word of letters, digits and . _ : @ % + -',
    ],
    ['nft: vrid 0', () => renderVrrpCountNft({ virtualRouterId: 0, peers: PEERS }), 'virtualRouterId: 0 must be an integer in 1..255'],
    ['nft: vrid 256', () => renderVrrpCountNft({ virtualRouterId: 256, peers: PEERS }), 'virtualRouterId: 256 must be an integer in 1..255'],
    [
      'nft: a peer that is a name',
      () => renderVrrpCountNft({ virtualRouterId: 51, peers: ['192.168.50.11', 'm2.example'] }),
      'peers[1]: "m2.example" must be an IPv4 address',
    ],
    [
      'nft: an IPv6 peer',
      () => renderVrrpCountNft({ virtualRouterId: 51, peers: ['fd00::11', '192.168.50.12'] }),
      'peers[0]: "fd00::11" must be an IPv4 address',
    ],
    [
      'nft: a peer that would end the set',
      () => renderVrrpCountNft({ virtualRouterId: 51, peers: ['192.168.50.11 } }'] }),
      'peers[0]: "192.168.50.11 } }" must be an IPv4 address',
    ],
    ['nft: no peers', () => renderVrrpCountNft({ virtualRouterId: 51, peers: [] }), 'peers: [] must list the load balancers'],
    ['socket: a bind that is an interface', () => renderMetricsSocket({ bind: 'eth0', port: 8406 }), 'bind: "eth0" must be an IPv4 or IPv6 address'],
    [
      'socket: a bind with a space',
      () => renderMetricsSocket({ bind: '10.0.0.11 8406', port: 8406 }),
      'bind: "10.0.0.11 8406" must be an IPv4 or IPv6 address',
    ],
    ['socket: port 0', () => renderMetricsSocket({ bind: '10.0.0.11', port: 0 }), 'port: 0 must be an integer in 1..65535'],
    ['socket: port 65536', () => renderMetricsSocket({ bind: '10.0.0.11', port: 65536 }), 'port: 65536 must be an integer in 1..65535'],
    [
      'service: a relative script',
      () => renderMetricsService({ script: 'kha-metrics.sh' }),
      'script: "kha-metrics.sh" must be an absolute path of letters, digits and . _ @ % + -',
    ],
    [
      'unit: a path with ..',
      () => renderVrrpCountUnit({ nftFile: '/etc/../tmp/x.nft' }),
      'nftFile: "/etc/../tmp/x.nft" must be an absolute path of letters, digits and . _ @ % + -',
    ],
    ['frontend: a bind that is a name', () => metricsFrontend({ bind: 'localhost', port: 8405 }), 'metrics.bind: "localhost" must be an IPv4 or IPv6 address'],
    ['frontend: port 70000', () => metricsFrontend({ bind: '10.0.0.11', port: 70000 }), 'metrics.port: 70000 must be an integer in 1..65535'],
  ];
  it.each(cases)('%s', (_name, render, message) => {
    let err: unknown;
    try {
      render();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe(message);
    expect((err as InputError).code).toBe('E_ROLE_VARS');
  });
});

// ---- the exporter script, run for real -------------------------------------------------------

/** A strict enough reader of the Prometheus text format 0.0.4: HELP and TYPE before each family's samples, families contiguous, labels quoted. */
function parseExposition(text: string): Map<string, { help: string; type: string; samples: Array<{ labels: Record<string, string>; value: number }> }> {
  expect(text.endsWith('\n'), 'the exposition ends with a newline').toBe(true);
  const fams = new Map<string, { help: string; type: string; samples: Array<{ labels: Record<string, string>; value: number }> }>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line))) {
      expect(fams.has(m[1]!), `${m[1]}: a second HELP, or the family is not contiguous`).toBe(false);
      fams.set(m[1]!, { help: m[2]!, type: '', samples: [] });
      current = m[1];
    } else if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|untyped|histogram|summary)$/.exec(line))) {
      expect(m[1], `TYPE ${m[1]} right after its HELP`).toBe(current);
      fams.get(m[1]!)!.type = m[2]!;
    } else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (\S+)$/.exec(line))) {
      expect(m[1], `${line}: a sample of the family declared last`).toBe(current);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
      const value = Number(m[3]);
      expect(Number.isNaN(value), `${line}: the value is a number`).toBe(false);
      fams.get(current!)!.samples.push({ labels, value });
    } else {
      throw new Error(`not Prometheus text format: ${JSON.stringify(line)}`);
    }
  }
  for (const [name, f] of fams) expect(f.type, `${name} has a TYPE`).not.toBe('');
  return fams;
}

/** `promtool check metrics` on the text: exit 0 and nothing said. Missing promtool fails the test. */
function promtoolCheck(text: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  expect(r.error, 'these tests need promtool (Prometheus) on PATH').toBeUndefined();
  expect(`${r.stdout}${r.stderr}`).toBe('');
  expect(r.status).toBe(0);
}

/** An HTTP/1.1 response read back: status line, headers, body (the body's length is checked against Content-Length). */
function parseResponse(raw: Buffer): { status: string; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  expect(end, 'the head ends with an empty line').toBeGreaterThan(0);
  const [status, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const body = raw.subarray(end + 4);
  expect(Number(headers['content-length']), 'Content-Length is the body in bytes').toBe(body.length);
  return { status: status!, headers, body: body.toString('utf8') };
}

describe('kha-metrics.sh, run in bash on this machine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kha-metrics-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // 192.0.2.0/24 is TEST-NET-1: no interface of this machine has the VIP
  const VIP = '192.0.2.100';
  const stateFile = join(dir, 'keepalived-kha.state');
  const script = join(dir, 'kha-metrics.sh');
  writeFileSync(script, renderMetricsScript({ ...SCRIPT, vip: VIP, stateFile }), { mode: 0o755 });
  // the notify script's file says MASTER: with keepalived not running the state is STOP all the same
  writeFileSync(stateFile, 'state=MASTER\ninstance=VI_KHA\npriority=250\nsince=1700000000\nchanges=3\nmasters=2\n');

  const run = (args: string[], input: string, env: NodeJS.ProcessEnv = process.env) =>
    spawnSync('bash', [script, ...args], { input, env, timeout: 15_000, maxBuffer: 1 << 20 });

  it('bash -n: the rendered script (the golden and this one) parses', () => {
    const golden = join(dir, 'golden.sh');
    writeFileSync(golden, renderMetricsScript(SCRIPT));
    for (const f of [golden, script]) {
      const r = spawnSync('bash', ['-n', f], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('prints the metrics in Prometheus text format; keepalived does not run here: up 0, state STOP; promtool accepts them', () => {
    const r = run([], '');
    expect(r.status).toBe(0);
    const text = r.stdout.toString();
    const fams = parseExposition(text);
    const vip = { vip: VIP };
    expect(fams.get('kha_keepalived_up')).toMatchObject({ type: 'gauge', samples: [{ labels: vip, value: 0 }] });
    expect(fams.get('kha_vrrp_state')!.samples).toEqual([
      { labels: { ...vip, state: 'MASTER' }, value: 0 },
      { labels: { ...vip, state: 'BACKUP' }, value: 0 },
      { labels: { ...vip, state: 'FAULT' }, value: 0 },
      { labels: { ...vip, state: 'STOP' }, value: 1 },
    ]);
    expect(fams.get('kha_vrrp_vip_held')!.samples).toEqual([{ labels: vip, value: 0 }]);
    // the counters come from the notify script's file, whether keepalived runs or not
    expect(fams.get('kha_vrrp_transitions_total')).toMatchObject({ type: 'counter', samples: [{ labels: vip, value: 3 }] });
    expect(fams.get('kha_vrrp_became_master_total')).toMatchObject({ type: 'counter', samples: [{ labels: vip, value: 2 }] });
    expect(fams.get('kha_vrrp_last_transition_timestamp_seconds')!.samples).toEqual([{ labels: vip, value: 1700000000 }]);
    // when it was collected: now, give or take a second
    const at = fams.get('kha_exporter_collected_timestamp_seconds')!.samples[0]!.value;
    expect(Math.abs(at - Date.now() / 1000)).toBeLessThan(5);
    // no family without a vip label, and no label named instance (Prometheus's own)
    for (const [name, f] of fams) for (const s of f.samples) expect(Object.keys(s.labels), name).not.toContain('instance');
    promtoolCheck(text);
  });

  it("with the host's tools faked (exported bash functions): keepalived MASTER holding the VIP, foreign adverts counted; byte for byte", () => {
    const fns = {
      // keepalived.service active, haproxy.service not (so no stats socket is asked)
      // `systemctl is-active keepalived.service haproxy.service`: one line per unit
      systemctl: '[ "$1 $2 $3" = "is-active keepalived.service haproxy.service" ] && printf "active\\ninactive\\n"',
      ip: `printf '2: eth0    inet 10.0.0.11/24 brd 10.0.0.255 scope global eth0\\n2: eth0    inet ${VIP}/32 scope global eth0\\n'`,
      // `nft list table inet kha_vrrp`: the counter, the peers (never reported) and the foreign sources over two lines
      nft: [
        'case "$1 $2 $3 $4" in',
        `  "list table inet kha_vrrp") printf '%b\\n' 'table inet kha_vrrp {' '\\tset peers {' '\\t\\ttype ipv4_addr' '\\t\\telements = { 10.0.0.11, 10.0.0.12 }' '\\t}' '\\tset foreign_src {' '\\t\\ttype ipv4_addr' '\\t\\tsize 64' '\\t\\tflags dynamic,timeout' '\\t\\ttimeout 1h' '\\t\\telements = { 10.0.0.99 timeout 1h expires 59m58s,' '\\t\\t\\t     10.0.0.98 timeout 1h expires 3m }' '\\t}' '\\tcounter foreign_adverts {' '\\t\\tpackets 3 bytes 156' '\\t}' '\\tchain input {' '\\t\\ttype filter hook input priority -400; policy accept;' '\\t}' '}' ;;`,
        '  *) return 1 ;;',
        'esac',
      ].join('\n'),
      // keepalived's dumps are not faked: no pid, no signal (and nothing is signalled for real)
      cat: 'return 1',
      keepalived: 'return 1',
      kill: 'return 1',
    };
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const [name, body] of Object.entries(fns)) env[`BASH_FUNC_${name}%%`] = `() { ${body}\n}`;
    const r = run([], '', env);
    expect(r.stderr.toString()).toBe('');
    const out = r.stdout.toString();
    const L = `vip="${VIP}"`;
    expect(out.replace(/(kha_exporter_collected_timestamp_seconds\{[^}]*\}) \d+\n/, '$1 NOW\n').split('\n')).toEqual([
      '# HELP kha_keepalived_up 1 when keepalived.service is active.',
      '# TYPE kha_keepalived_up gauge',
      `kha_keepalived_up{${L}} 1`,
      '# HELP kha_haproxy_up 1 when haproxy.service is active.',
      '# TYPE kha_haproxy_up gauge',
      `kha_haproxy_up{${L}} 0`,
      '# HELP kha_vrrp_state VRRP state of this host (one series per state, 1 for the current one; STOP when keepalived does not run).',
      '# TYPE kha_vrrp_state gauge',
      `kha_vrrp_state{${L},state="MASTER"} 1`,
      `kha_vrrp_state{${L},state="BACKUP"} 0`,
      `kha_vrrp_state{${L},state="FAULT"} 0`,
      `kha_vrrp_state{${L},state="STOP"} 0`,
      "# HELP kha_vrrp_vip_held 1 when the VIP is on one of this host's interfaces.",
      '# TYPE kha_vrrp_vip_held gauge',
      `kha_vrrp_vip_held{${L}} 1`,
      '# HELP kha_vrrp_transitions_total VRRP state changes of this host since boot.',
      '# TYPE kha_vrrp_transitions_total counter',
      `kha_vrrp_transitions_total{${L}} 3`,
      '# HELP kha_vrrp_became_master_total Times this host became MASTER (took the VIP) since boot.',
      '# TYPE kha_vrrp_became_master_total counter',
      `kha_vrrp_became_master_total{${L}} 2`,
      '# HELP kha_vrrp_last_transition_timestamp_seconds Unix time of the last VRRP state change (0: none since boot).',
      '# TYPE kha_vrrp_last_transition_timestamp_seconds gauge',
      `kha_vrrp_last_transition_timestamp_seconds{${L}} 1700000000`,
      "# HELP kha_vrrp_foreign_adverts_total VRRP adverts on kha's VRID from addresses that are not kha's load balancers (nftables counter).",
      '# TYPE kha_vrrp_foreign_adverts_total counter',
      `kha_vrrp_foreign_adverts_total{${L},vrid="51"} 3`,
      "# HELP kha_vrrp_foreign_router A foreign VRRP router seen on kha's VRID in the last hour, by source address.",
      '# TYPE kha_vrrp_foreign_router gauge',
      `kha_vrrp_foreign_router{${L},vrid="51",source="10.0.0.98"} 1`,
      `kha_vrrp_foreign_router{${L},vrid="51",source="10.0.0.99"} 1`,
      '# HELP kha_exporter_collected_timestamp_seconds Unix time these metrics were collected (a scrape may be answered with a collection a few seconds old).',
      '# TYPE kha_exporter_collected_timestamp_seconds gauge',
      `kha_exporter_collected_timestamp_seconds{${L}} NOW`,
      '',
    ]);
    parseExposition(out);
    promtoolCheck(out);
  });
});

// ---- kha-metrics-server.pl: the HTTP side, run in perl on this machine with a fake collector ----

/** One HTTP exchange with 127.0.0.1:port (the request sent, then the write side closed): the bytes back and the time. */
function exchange(port: number, request: string): Promise<{ raw: Buffer; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect(port, '127.0.0.1', () => c.end(request));
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => resolve({ raw: Buffer.concat(chunks), ms: Date.now() - t0 }));
    c.on('error', reject);
    c.setTimeout(15_000, () => c.destroy(new Error('no answer in 15 s')));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

describe('kha-metrics-server.pl, run in perl on this machine (the collector faked: it counts its runs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kha-metrics-server-'));
  const server = join(dir, 'kha-metrics-server.pl');
  const collector = join(dir, 'collector.sh');
  writeFileSync(server, renderMetricsServer(), { mode: 0o755 });
  // each run adds one to ./count; it sleeps ./slow seconds and fails while ./fail exists
  writeFileSync(
    collector,
    [
      '#!/bin/bash',
      `d=${dir}`,
      'n=$(( $(cat "$d/count" 2>/dev/null || echo 0) + 1 )); echo "$n" >"$d/count"',
      'sleep "$(cat "$d/slow" 2>/dev/null || echo 0)"',
      '[ -e "$d/fail" ] && exit 1',
      'printf \'# HELP t_collections Collections so far.\\n# TYPE t_collections counter\\nt_collections %s\\n\' "$n"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const procs: ChildProcess[] = [];
  const count = () => Number(readFileSync(join(dir, 'count'), 'utf8'));
  const GET = 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n';

  async function start(): Promise<number> {
    const port = await freePort();
    const p = spawn('perl', [server, collector, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>((r) => {
        const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
        c.on('error', () => r(false));
      });
      if (up) return port;
      await sleep(50);
    }
    throw new Error(`kha-metrics-server.pl did not listen on ${port}`);
  }
  let port = 0;
  beforeAll(async () => {
    port = await start();
  });
  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('perl -c: the server parses', () => {
    const r = spawnSync('perl', ['-c', server], { encoding: 'utf8' });
    expect(r.stderr).toBe(`${server} syntax OK\n`);
    expect(r.status).toBe(0);
  });

  it("GET /metrics: 200 with the collector's output; within a second it is served again without a new run; anything else is a 404; a client that sends nothing gets nothing", async () => {
    const a = parseResponse((await exchange(port, GET)).raw);
    expect(a.status).toBe('HTTP/1.1 200 OK');
    expect(a.headers).toEqual({ 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': String(a.body.length), connection: 'close' });
    expect(a.body).toBe('# HELP t_collections Collections so far.\n# TYPE t_collections counter\nt_collections 1\n');
    expect(parseResponse((await exchange(port, GET)).raw).body).toMatch(/^t_collections 1$/m);
    expect(count(), 'no second run within a second').toBe(1);
    for (const request of ['GET /nope HTTP/1.1\r\n\r\n', 'POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n', 'GET /metricsx HTTP/1.1\r\n\r\n']) {
      const res = parseResponse((await exchange(port, request)).raw);
      expect(res.status, request).toBe('HTTP/1.1 404 Not Found');
      expect(res.body).toBe('kha: the metrics are at GET /metrics\n');
    }
    expect((await exchange(port, '')).raw.length).toBe(0);
    await sleep(1_100);
    expect(parseResponse((await exchange(port, 'GET /metrics?x=1 HTTP/1.1\r\n\r\n')).raw).body).toMatch(/^t_collections 2$/m);
  });

  it('a slow collection: the scrape waits at most half its timeout and gets the last collection; the next scrape gets the new one; a failed one is never served', async () => {
    writeFileSync(join(dir, 'slow'), '3');
    await sleep(1_100);
    const slow = await exchange(port, `GET /metrics HTTP/1.1\r\nX-Prometheus-Scrape-Timeout-Seconds: 2\r\n\r\n`);
    expect(slow.ms, 'waited about 1 s (half of 2), not the 3 s the collection takes').toBeLessThan(2_000);
    expect(parseResponse(slow.raw).body).toMatch(/^t_collections 2$/m);
    writeFileSync(join(dir, 'slow'), '0');
    await sleep(2_500);
    // the slow run (3) has ended meanwhile: this scrape reads it at once
    const next = await exchange(port, GET);
    expect(next.ms).toBeLessThan(1_000);
    expect(parseResponse(next.raw).body).toMatch(/^t_collections 3$/m);
    writeFileSync(join(dir, 'fail'), '');
    await sleep(1_100);
    expect(parseResponse((await exchange(port, GET)).raw).body, 'the failed run (4) is not served').toMatch(/^t_collections 3$/m);
    expect(count()).toBe(4);
  });

  it('no collection has succeeded yet: 503, and the server goes on', async () => {
    const p2 = await start(); // ./fail still exists: every run fails
    const res = parseResponse((await exchange(p2, `GET /metrics HTTP/1.1\r\nX-Prometheus-Scrape-Timeout-Seconds: 2\r\n\r\n`)).raw);
    expect(res.status).toBe('HTTP/1.1 503 Service Unavailable');
    expect(res.body).toBe('kha: no metrics collected yet\n');
    rmSync(join(dir, 'fail'));
    await sleep(1_100);
    expect(parseResponse((await exchange(p2, GET)).raw).status).toBe('HTTP/1.1 200 OK');
  });
});

// ---- kha status -o prometheus: the merge -----------------------------------------------------

const help = (name: string, type: string, text = `${name} help.`) => [`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`];
const REACHABLE = help('kha_host_reachable', 'gauge', '1 when kha reached the host over SSH and ran its metrics exporter there.');

describe('mergeExpositions', () => {
  it('host label first, each HELP and TYPE once, families contiguous in the order first seen; an unreachable host is kha_host_reachable 0', () => {
    const hosts: HostExposition[] = [
      {
        host: 'm1',
        text: [...help('kha_keepalived_up', 'gauge'), 'kha_keepalived_up{vip="10.0.0.100"} 1', ...help('kha_up_plain', 'gauge'), 'kha_up_plain 7', ''].join(
          '\n',
        ),
      },
      {
        host: 'm2',
        // its families in another order, one only it has, a timestamp (dropped) and a comment (dropped)
        text: [
          '# a comment',
          ...help('kha_vrrp_foreign_adverts_total', 'counter'),
          'kha_vrrp_foreign_adverts_total{vip="10.0.0.100",vrid="51"} 4 1700000000000',
          ...help('kha_keepalived_up', 'gauge', 'a different help text: the first one stays'),
          'kha_keepalived_up{vip="10.0.0.100"} 0',
          '',
        ].join('\n'),
      },
      { host: 'm3', text: null, error: 'm3: connect ECONNREFUSED' },
    ];
    expect(mergeExpositions(hosts)).toBe(
      [
        ...REACHABLE,
        'kha_host_reachable{host="m1"} 1',
        'kha_host_reachable{host="m2"} 1',
        'kha_host_reachable{host="m3"} 0',
        ...help('kha_keepalived_up', 'gauge'),
        'kha_keepalived_up{host="m1",vip="10.0.0.100"} 1',
        'kha_keepalived_up{host="m2",vip="10.0.0.100"} 0',
        ...help('kha_up_plain', 'gauge'),
        'kha_up_plain{host="m1"} 7',
        ...help('kha_vrrp_foreign_adverts_total', 'counter'),
        'kha_vrrp_foreign_adverts_total{host="m2",vip="10.0.0.100",vrid="51"} 4',
        '',
      ].join('\n'),
    );
  });

  it('no host reachable: only kha_host_reachable, 0 each', () => {
    expect(
      mergeExpositions([
        { host: 'm1', text: null },
        { host: 'm2', text: null },
      ]),
    ).toBe([...REACHABLE, 'kha_host_reachable{host="m1"} 0', 'kha_host_reachable{host="m2"} 0', ''].join('\n'));
  });

  it("the exporter's real output of two hosts and an unreachable third: promtool accepts the merge, every sample has its host", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kha-merge-'));
    try {
      const script = join(dir, 'kha-metrics.sh');
      const stateFile = join(dir, 'state');
      writeFileSync(script, renderMetricsScript({ ...SCRIPT, vip: '192.0.2.100', stateFile }));
      writeFileSync(stateFile, 'state=BACKUP\nchanges=1\nmasters=0\nsince=1700000000\n');
      const out = spawnSync('bash', [script], { encoding: 'utf8', timeout: 15_000 }).stdout;
      expect(out).toContain('kha_vrrp_state{');
      const merged = mergeExpositions([
        { host: 'm1', text: out },
        { host: 'm2', text: out },
        { host: 'm3', text: null, error: 'timeout' },
      ]);
      const fams = parseExposition(merged);
      for (const [name, f] of fams) {
        for (const s of f.samples) expect(Object.keys(s.labels)[0], name).toBe('host');
        // m1's samples, then m2's: the family stays contiguous
        const hs = f.samples.map((s) => s.labels['host']!);
        if (name !== 'kha_host_reachable') expect([hs[0], hs.at(-1), hs.filter((h) => h === 'm1').length * 2], name).toEqual(['m1', 'm2', hs.length]);
      }
      expect(fams.get('kha_host_reachable')!.samples.map((s) => [s.labels['host'], s.value])).toEqual([
        ['m1', 1],
        ['m2', 1],
        ['m3', 0],
      ]);
      promtoolCheck(merged);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- settings and the role -------------------------------------------------------------------

const y = (lines: string[]) => `${lines.join('\n')}\n`;
const settingsOf = (vars: string[] = [], hostVars: Record<string, string> = {}): HaSettings =>
  resolveSettings(
    parseInventory(
      y([
        'all:',
        '  vars:',
        '    vip: 10.0.0.100',
        ...vars.map((v) => `    ${v}`),
        '  children:',
        '    masters:',
        '      hosts:',
        ...['m1', 'm2', 'm3'].map((h, i) => `        ${h}: { ansible_host: 10.0.0.${11 + i}${hostVars[h] ? `, ${hostVars[h]}` : ''} }`),
      ]),
      'hosts.yaml',
    ),
  );
const NET = Object.fromEntries(['m1', 'm2', 'm3'].map((h, i) => [h, { iface: 'eth0', address: `10.0.0.${11 + i}`, prefix: 24, holdsVip: false }]));
const content = (s: HaSettings, host: string, path: string) => desiredFiles(s, NET, host).find((f) => f.path === path)?.content;

describe('settings: metrics, metrics_port, vrrp_metrics_port, metrics_bind', () => {
  it("metrics_bind per host: that host's haproxy frontend and exporter socket use it, the others keep their own address", () => {
    const s = settingsOf([], { m2: 'metrics_bind: 0.0.0.0' });
    expect(Object.values(s.hosts).map((h) => h.metricsBind)).toEqual(['10.0.0.11', '0.0.0.0', '10.0.0.13']);
    expect(content(s, 'm2', HAPROXY_CFG)).toContain('\nfrontend kha-metrics\n    bind 0.0.0.0:8405\n');
    expect(content(s, 'm2', METRICS_SOCKET_PATH)).toContain('\nListenStream=0.0.0.0:8406\n');
    expect(content(s, 'm1', HAPROXY_CFG)).toContain('\nfrontend kha-metrics\n    bind 10.0.0.11:8405\n');
    expect(content(s, 'm1', METRICS_SOCKET_PATH)).toContain('\nListenStream=10.0.0.11:8406\n');
  });

  it('metrics_bind for every host (all.vars), and ports of their own', () => {
    const s = settingsOf(['metrics_bind: 0.0.0.0', 'metrics_port: 9105', 'vrrp_metrics_port: 9106']);
    expect(Object.values(s.hosts).map((h) => h.metricsBind)).toEqual(['0.0.0.0', '0.0.0.0', '0.0.0.0']);
    expect(content(s, 'm3', HAPROXY_CFG)).toContain('    bind 0.0.0.0:9105\n');
    expect(content(s, 'm3', METRICS_SOCKET_PATH)).toContain('ListenStream=0.0.0.0:9106\n');
  });

  it('metrics: false: no port checks, no metrics files, no frontend, no nftables, no metrics units or handlers', () => {
    const s = settingsOf(['metrics: false', 'metrics_port: 8443', 'vrrp_metrics_port: 8443']);
    expect(s.metrics).toBe(false);
    const paths = desiredFiles(s, NET, 'm1').map((f) => f.path);
    for (const p of [METRICS_SCRIPT_PATH, METRICS_SOCKET_PATH, METRICS_SERVICE_PATH, VRRP_COUNT_NFT_PATH, VRRP_COUNT_UNIT_PATH]) expect(paths).not.toContain(p);
    expect(content(s, 'm1', HAPROXY_CFG)).not.toContain('kha-metrics');
    const pkg = installTasks(s).find((t) => t.module.name === 'package')!;
    expect((pkg.params as { names: string[] }).names).toEqual(['keepalived', 'haproxy']);
    expect(startTasks(s).flatMap((t) => (t.module.name === 'service' ? [(t.params as { name: string }).name] : []))).toEqual(['haproxy', 'keepalived']);
  });

  it('metrics: true (the default): the five files, validated and notified; nftables installed; the units started before haproxy and keepalived', () => {
    const s = settingsOf();
    const files = desiredFiles(s, NET, 'm2');
    const byPath = (p: string) => files.find((f) => f.path === p)!;
    expect(byPath(METRICS_SCRIPT_PATH)).toMatchObject({ mode: 0o755, owner: 'root', group: 'root', content: metricsScript(s) });
    expect(metricsScript(s)).toBe(renderMetricsScript({ ...SCRIPT, vip: '10.0.0.100' }));
    expect(byPath(VRRP_COUNT_NFT_PATH)).toMatchObject({
      mode: 0o644,
      validate: ['nft', '-c', '-f', '%s'],
      notify: ['restart kha-vrrp-count'],
      content: renderVrrpCountNft({ virtualRouterId: 51, peers: ['10.0.0.11', '10.0.0.12', '10.0.0.13'] }),
    });
    expect(byPath(METRICS_SOCKET_PATH)).toMatchObject({
      notify: ['restart kha-metrics.socket'],
      content: renderMetricsSocket({ bind: '10.0.0.12', port: 8406 }),
    });
    expect(byPath(METRICS_SERVICE_PATH).notify).toEqual(['restart kha-metrics.socket']);
    expect(byPath(VRRP_COUNT_UNIT_PATH).notify).toEqual(['restart kha-vrrp-count']);
    const pkg = installTasks(s).find((t) => t.module.name === 'package')!;
    expect((pkg.params as { names: string[] }).names).toEqual(['keepalived', 'haproxy', 'nftables']);
    expect(startTasks(s).flatMap((t) => (t.module.name === 'service' ? [(t.params as { name: string }).name] : []))).toEqual([
      'kha-vrrp-count.service',
      'kha-metrics.socket',
      'haproxy',
      'keepalived',
    ]);
    // every notify of the configure tasks has its handler
    const handlers = new Set(haHandlers().map((h) => h.name));
    for (const f of files) for (const n of f.notify ?? []) expect(handlers, n).toContain(n);
    expect(configureTasks(s, NET).length).toBeGreaterThan(files.length - 1);
  });
});

describe('statusMetrics: every load balancer asked at once, as root, the outputs merged', () => {
  it('a host that answers, one whose exporter fails, one unreachable: exit-worthy errors per host, one merged text', async () => {
    const s = settingsOf();
    const asked: Array<{ host: string; cmd: string; become: boolean | undefined }> = [];
    const { ctx, connector } = fakeRun(
      ['m1', 'm2', 'm3'],
      (n) =>
        new FakeConn(n, (cmd, opts) => {
          asked.push({ host: n, cmd, become: opts.become });
          if (n === 'm2') return { code: 1, stderr: 'line one\nkha-metrics: ip: not found\n' };
          return { stdout: [...help('kha_keepalived_up', 'gauge'), 'kha_keepalived_up{vip="10.0.0.100"} 1', ''].join('\n') };
        }),
    );
    connector.down.add('m3');
    const r = await statusMetrics(ctx, s);
    expect(asked.map((a) => [a.host, a.become])).toEqual([
      ['m1', true],
      ['m2', true],
    ]);
    // the script itself goes over, as bash -c's argument: nothing is installed on the host for this
    expect(asked[0]!.cmd.startsWith('bash -c ')).toBe(true);
    expect(asked[0]!.cmd).toContain('kha_vrrp_became_master_total');
    expect(r.hosts.map((h) => [h.host, h.text === null, h.error])).toEqual([
      ['m1', false, undefined],
      ['m2', true, 'the exporter exited 1: kha-metrics: ip: not found'],
      ['m3', true, 'm3: connect ECONNREFUSED'],
    ]);
    expect(r.text).toBe(
      [
        ...REACHABLE,
        'kha_host_reachable{host="m1"} 1',
        'kha_host_reachable{host="m2"} 0',
        'kha_host_reachable{host="m3"} 0',
        ...help('kha_keepalived_up', 'gauge'),
        'kha_keepalived_up{host="m1",vip="10.0.0.100"} 1',
        '',
      ].join('\n'),
    );
    const only = await statusMetrics(ctx, s, { only: new Set(['m1']) });
    expect(only.hosts.map((h) => h.host)).toEqual(['m1']);
  });
});
