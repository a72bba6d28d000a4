// A host that dies in the middle of its batch (docker kill: no clean shutdown, like a power cut),
// on a 5-master lab: first during the "start the others" batches of a fresh kha up, then during
// a kha upgrade --serial 1 roll. What must hold: the roll stops, the exit code says unreachable
// (3), the report lists done / failed / untouched, untouched hosts keep their config byte for byte,
// exactly one host holds the VIP and VIP:8443 answers, and once the host is back a rerun converges.
//
// To kill the host while its batch really runs (not after it), the victim's batch is made slower
// on purpose: a systemd drop-in that sleeps after haproxy starts (kha up), a haproxy wrapper that
// sleeps before a config check (kha upgrade). The kill is sent when kha prints that host's batch.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import type { UpgradeReport } from '../../src/actions/upgrade.js';
import { writeLabInventory, type Lab } from '../../src/lab/lab.js';
import { kha, parseJson, readLog, runKha, secs, showRun, type KhaRun } from '../helpers/cli.js';
import { haproxyCfg, httpsGet, sh, unitState, vipHolders } from '../helpers/hosts.js';
import { sshdLinesPerHost, useLab } from '../helpers/lab.js';

const execFileP = promisify(execFile);
const ALL = ['m1', 'm2', 'm3', 'm4', 'm5'];
const timeoutConnect = (cfg: string) => /^\s*timeout connect (\S+)/m.exec(cfg)?.[1];

/**
 * Runs kha and calls `onLine` for every stdout line as it arrives (the batch lines are the cue);
 * resolves when kha exits. Bounded in time (SIGKILL after timeoutMs).
 */
function khaWatching(args: string[], onLine: (line: string) => void, timeoutMs = 5 * 60_000): Promise<KhaRun> {
  return runKha(args, { onLine, timeoutMs, onTimeout: 'resolve' });
}

/** `docker kill` (SIGKILL to the container's init): the host dies without shutting anything down */
async function killHost(lab: Lab, host: string): Promise<void> {
  const id = lab.hosts.find((h) => h.name === host)!.containerId;
  await execFileP('docker', ['kill', id], { timeout: 30_000 });
}

async function running(lab: Lab, host: string): Promise<boolean> {
  const id = lab.hosts.find((h) => h.name === host)!.containerId;
  const r = await execFileP('docker', ['inspect', '-f', '{{.State.Running}}', id], { timeout: 30_000 });
  return r.stdout.trim() === 'true';
}

/** the VIP answers over HTTPS (the stand-in apiservers' self-signed certificate; a fresh connection) */
async function vipServes(lab: Lab): Promise<string> {
  let last = '';
  for (let i = 0; i < 20; i++) {
    try {
      const r = await httpsGet(lab.vip, 8443, '/healthz');
      if (r.status === 200) return r.body;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`${lab.vip}:8443 does not answer: ${last}`);
}

async function sha256(lab: Lab, host: string, file: string): Promise<string> {
  return (await sh(lab, host, ['sha256sum', file])).split(' ')[0]!;
}

describe('a host killed while its batch runs (5 masters)', () => {
  const lab = useLab(5, { aptCache: true, preinstalled: true });
  const inv = () => path.join(lab().stateDir, 'hosts.yaml');
  const logFile = (name: string) => path.join(lab().stateDir, `${name}.log`);

  test('kha up --serial 1: m4 killed during its "start the others" batch: exit 3, m5 never started, the VIP stays on m1 and answers; after m4 is back a rerun converges', async () => {
    const l = lab();
    writeLabInventory(l, inv());
    // m4 only: starting haproxy takes 6 s longer (the drop-in is read at the daemon-reload that
    // installing the package and kha's own drop-in cause)
    await sh(l, 'm4', ['sh', '-c', 'mkdir -p /etc/systemd/system/haproxy.service.d && printf "[Service]\\nExecStartPost=/bin/sleep 6\\n" > /etc/systemd/system/haproxy.service.d/zz-kha-test-slow.conf']);
    let killedAt = 0;
    let killing: Promise<void> | undefined;
    let inOthers = false;
    const r = await khaWatching(['up', '-i', inv(), '--serial', '1', '--log-file', logFile('up-kill')], (line) => {
      if (line.startsWith('==> Start the other')) inOthers = true;
      if (inOthers && !killing && /^\s*batch \d+\/\d+: m4$/.test(line)) {
        killedAt = Date.now();
        killing = killHost(l, 'm4');
      }
    });
    await killing;
    console.log(`[kill] kha up --serial 1, m4 killed during its batch: kha exited ${secs(Date.now() - killedAt)} after the kill, total ${secs(r.ms)} (exit ${r.code})`);
    expect(killing, `the batch line for m4 never came\n${showRun(r)}`).toBeDefined();
    expect(await running(l, 'm4')).toBe(false);
    expect(r.code, showRun(r)).toBe(3);
    // the batches before m4 ran, none after it; m4 is reported unreachable with the lost connection
    const batches = r.stdout.split('\n').filter((x) => /^\s*batch \d+\/\d+:/.test(x)).map((x) => x.trim());
    expect(batches.slice(-3), showRun(r)).toEqual(['batch 1/4: m2', 'batch 2/4: m3', 'batch 3/4: m4']);
    expect(r.stdout, showRun(r)).toMatch(/m4: unreachable .*(connection .* was lost|cannot connect|handshake|no answer)/);
    console.log(`[kill] ${r.stdout.split('\n').find((x) => /m4: unreachable/.test(x))?.trim()}`);
    // one clear line: which play stopped and who is done, unreachable and untouched
    expect(r.stderr, showRun(r)).toMatch(/^error: start the others: stopped: .*; done: m2, m3; failed: none; unreachable: m4; untouched: m5$/m);
    expect(r.stdout).toContain('==> Recap');
    expect(r.stdout).not.toContain('==> Verify');
    // m5 was never started: nothing of the roll reached it after the failure
    expect((await unitState(l, 'm5', 'keepalived')).active).not.toBe('active');
    expect((await unitState(l, 'm5', 'haproxy')).active).not.toBe('active');
    // the VIP: on m1 alone among the living, and served
    expect(await vipHolders(l, ['m1', 'm2', 'm3', 'm5'])).toEqual(['m1']);
    expect(await vipServes(l)).toMatch(/^ok m[1-5]$/);

    // m4 back (its VIP config is complete: configure ran before the start phase); a rerun converges
    const t0 = Date.now();
    await l.startHost('m4');
    console.log(`[kill] m4 started again and ready in ${secs(Date.now() - t0)}`);
    await sh(l, 'm4', ['sh', '-c', 'rm -f /etc/systemd/system/haproxy.service.d/zz-kha-test-slow.conf && systemctl daemon-reload']);
    const r2 = await kha(['up', '-i', inv(), '--serial', '1', '--json', '--log-file', logFile('up-rerun')], { timeoutMs: 5 * 60_000 });
    console.log(`[kill] kha up rerun after m4 came back: ${secs(r2.ms)} (exit ${r2.code})`);
    expect(r2.code, showRun(r2)).toBe(0);
    expect(parseJson<{ holder: string }>(r2).result?.holder).toBe('m1');
    expect(await vipHolders(l)).toEqual(['m1']);
    for (const h of ALL) {
      expect((await unitState(l, h, 'keepalived')).active, h).toBe('active');
      expect((await unitState(l, h, 'haproxy')).active, h).toBe('active');
    }
    expect(await vipServes(l)).toMatch(/^ok m[1-5]$/);
  });

  test('kha upgrade --serial 1: m3 killed during its batch: the roll stops (exit 3), done m2 / failed m3 / untouched m4, m5, m1 with their configs unchanged, VIP on m1 and served; a rerun converges', async () => {
    const l = lab();
    // precondition: the cluster is converged (previous test)
    expect(await vipHolders(l)).toEqual(['m1']);
    const before: Record<string, string> = {};
    for (const h of ALL) before[h] = await sha256(l, h, '/etc/haproxy/haproxy.cfg');
    for (const h of ALL) expect(timeoutConnect(await haproxyCfg(l, h)), h).toBe('5s');
    // m3's config checks (haproxy -c) take 6 s: its batch is still running when the kill comes
    const wrapper = '#!/bin/sh\nfor a in "$@"; do [ "$a" = "-c" ] && sleep 6; done\nexec /usr/sbin/haproxy.real "$@"\n';
    await sh(l, 'm3', ['sh', '-c', `mv /usr/sbin/haproxy /usr/sbin/haproxy.real && cat > /usr/sbin/haproxy <<'EOF'\n${wrapper}EOF\nchmod 755 /usr/sbin/haproxy`]);

    writeLabInventory(l, inv(), { vars: { haproxy_timeout_connect: '6s' } });
    const log = logFile('upgrade-kill');
    let killedAt = 0;
    let killing: Promise<void> | undefined;
    const r = await khaWatching(['upgrade', '-i', inv(), '--serial', '1', '--log-file', log], (line) => {
      if (!killing && /^\s*batch \d+\/5: m3$/.test(line)) {
        killedAt = Date.now();
        killing = killHost(l, 'm3');
      }
    });
    await killing;
    console.log(`[kill] kha upgrade --serial 1, m3 killed during its batch: kha exited ${secs(Date.now() - killedAt)} after the kill, total ${secs(r.ms)} (exit ${r.code})`);
    expect(killing, `the batch line for m3 never came\n${showRun(r)}`).toBeDefined();
    expect(r.code, showRun(r)).toBe(3);
    const batches = r.stdout.split('\n').filter((x) => /^\s*batch \d+\/\d+:/.test(x)).map((x) => x.trim());
    expect(batches, showRun(r)).toEqual(['batch 1/5: m2', 'batch 2/5: m3']);
    expect(r.stdout, showRun(r)).toMatch(/m3: unreachable /);
    console.log(`[kill] ${r.stdout.split('\n').find((x) => /m3: unreachable/.test(x))?.trim()}`);
    expect(r.stdout, showRun(r)).toMatch(/upgrade stopped at batch 2/);
    expect(r.stdout, showRun(r)).toMatch(/done: m2; failed: m3; untouched: m4, m5, m1; unchanged: none; VIP on m1/);
    expect(r.stdout, showRun(r)).toMatch(/to resume .*run the same kha upgrade again/);
    const rep = readLog(log).find((e) => e.type === 'result') as unknown as { data: UpgradeReport } | undefined;
    expect(rep?.data).toMatchObject({ done: ['m2'], failed: ['m3'], untouched: ['m4', 'm5', 'm1'], stopped: true, holderBefore: 'm1', holderAfter: 'm1' });

    // untouched hosts: config byte for byte as before; m2 has the new one; services active
    for (const h of ['m4', 'm5', 'm1']) expect(await sha256(l, h, '/etc/haproxy/haproxy.cfg'), `${h}: config changed`).toBe(before[h]);
    expect(timeoutConnect(await haproxyCfg(l, 'm2'))).toBe('6s');
    for (const h of ['m1', 'm2', 'm4', 'm5']) {
      expect((await unitState(l, h, 'haproxy')).active, `${h} haproxy`).toBe('active');
      expect((await unitState(l, h, 'keepalived')).active, `${h} keepalived`).toBe('active');
    }
    expect(await vipHolders(l, ['m1', 'm2', 'm4', 'm5'])).toEqual(['m1']);
    expect(await vipServes(l)).toMatch(/^ok m[1-5]$/);

    // m3 back: its config is whole (old or new, never half), valid, and no temp file is in the way
    await l.startHost('m3');
    // the slow wrapper goes; haproxy's master started through it at boot (it re-executes
    // /usr/sbin/haproxy.real on reload), so it restarts on the real binary
    await sh(l, 'm3', ['sh', '-c', 'mv -f /usr/sbin/haproxy.real /usr/sbin/haproxy && systemctl restart haproxy']);
    const m3cfg = await sha256(l, 'm3', '/etc/haproxy/haproxy.cfg');
    const m2cfgNew = await sha256(l, 'm2', '/etc/haproxy/haproxy.cfg');
    console.log(`[kill] m3 after the restart holds the ${m3cfg === before.m3 ? 'old' : m3cfg === m2cfgNew ? 'new' : 'OTHER'} haproxy.cfg`);
    expect([before.m3, m2cfgNew]).toContain(m3cfg);
    expect((await l.exec('m3', ['haproxy', '-c', '-q', '-f', '/etc/haproxy/haproxy.cfg'])).code).toBe(0);
    const leftovers = (await l.exec('m3', ['sh', '-c', 'ls -A /etc/haproxy | grep "\\.kha-" | grep -v "kha-prev$" || true'])).stdout.trim();
    console.log(`[kill] temp files left on m3 by the killed batch: ${leftovers || 'none'}`);
    // one such file for sure (the kill does not always land between upload and rename)
    await sh(l, 'm3', ['touch', '/etc/haproxy/.haproxy.cfg.kha-deadbeef']);

    // resume: the same command again; m2 is already converged
    const r2 = await kha(['upgrade', '-i', inv(), '--serial', '1', '--json', '--log-file', logFile('upgrade-rerun')], { timeoutMs: 5 * 60_000 });
    console.log(`[kill] kha upgrade rerun after m3 came back: ${secs(r2.ms)} (exit ${r2.code})`);
    expect(r2.code, showRun(r2)).toBe(0);
    const rep2 = parseJson<UpgradeReport>(r2).result!;
    expect(rep2.unchanged).toContain('m2');
    expect(rep2.failed).toEqual([]);
    expect(rep2.untouched).toEqual([]);
    for (const h of ALL) expect(timeoutConnect(await haproxyCfg(l, h)), h).toBe('6s');
    // rewriting m3's haproxy.cfg (it held the old one) removed the temp files left beside it
    expect(m3cfg).toBe(before.m3);
    expect((await l.exec('m3', ['sh', '-c', 'ls -A /etc/haproxy | grep "^\\.haproxy\\.cfg\\.kha-" || true'])).stdout.trim()).toBe('');
    expect(await vipHolders(l)).toEqual(['m1']);
    expect(await vipServes(l)).toMatch(/^ok m[1-5]$/);
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile inventory values: every field that can reach a remote command, with shell
// metacharacters, newlines, quotes, option injection and look-alike unicode. Each is refused at
// load (exit 4, one error line naming the field, nothing printed on stdout, no SSH login on any
// host) or, where the value is legitimately free-form (the sudo password travels on stdin; a
// health path may carry a query with `&`), used safely on real hosts. The marker file
// /tmp/kha-pwned must never appear, on the lab hosts nor here.

const MARKER = '/tmp/kha-pwned';
const SUB = `$(touch ${MARKER})`;
const TICKS = `\`touch ${MARKER}\``;

interface Hostile {
  /** what is tried, for the report */
  name: string;
  /** the field the error line must name */
  field: string;
  /** change the inventory document (all.vars / masters hosts) */
  edit?: (doc: InvDoc) => void;
  /** extra command-line arguments */
  args?: string[];
  /** a secret: the error must not print it */
  secret?: string;
}

interface InvDoc {
  all: { vars: Record<string, unknown>; children: Record<string, { hosts: Record<string, Record<string, unknown>> }> };
}

const masters = (d: InvDoc) => d.all.children['masters']!.hosts;
const renameHost = (d: InvDoc, from: string, to: string) => {
  const hs = masters(d);
  hs[to] = hs[from]!;
  delete hs[from];
};

const HOSTILE: Hostile[] = [
  { name: 'host name with ;', field: 'masters.hosts', edit: (d) => renameHost(d, 'm1', `m1;touch ${MARKER}`) },
  { name: 'host name with a newline', field: 'masters.hosts', edit: (d) => renameHost(d, 'm1', `m1\ntouch ${MARKER}`) },
  { name: 'host name, look-alike unicode', field: 'masters.hosts', edit: (d) => renameHost(d, 'm1', 'm1-mаster') },
  { name: 'ansible_host with $()', field: 'm1.ansible_host', edit: (d) => (masters(d)['m1']!['ansible_host'] = `10.0.0.1${SUB}`) },
  { name: 'ansible_port with backticks', field: 'm1.ansible_port', edit: (d) => (masters(d)['m1']!['ansible_port'] = `22;${TICKS}`) },
  { name: 'ansible_user with $()', field: 'all.vars.ansible_user', edit: (d) => (d.all.vars['ansible_user'] = `kha${SUB}`) },
  { name: 'ansible_user as an ssh option', field: 'all.vars.ansible_user', edit: (d) => (d.all.vars['ansible_user'] = `-oProxyCommand=touch ${MARKER}`) },
  { name: 'ansible_become_user with ;', field: 'all.vars.ansible_become_user', edit: (d) => (d.all.vars['ansible_become_user'] = `root; touch ${MARKER}`) },
  {
    name: 'ansible_become_password with a newline (a second command for sudo -S)',
    field: 'all.vars.ansible_become_password',
    edit: (d) => (d.all.vars['ansible_become_password'] = `pw\ntouch ${MARKER}`),
    secret: `pw\ntouch ${MARKER}`,
  },
  { name: 'ansible_ssh_private_key_file with a newline', field: 'ansible_ssh_private_key_file', edit: (d) => (d.all.vars['ansible_ssh_private_key_file'] = `/tmp/k\n${SUB}`) },
  { name: 'ansible_ssh_private_key_file with $() (a local path only: does not exist)', field: 'ansible_ssh_private_key_file', edit: (d) => (d.all.vars['ansible_ssh_private_key_file'] = `/tmp/${SUB}`) },
  { name: 'vrrp_interface with $()', field: 'm1.vrrp_interface', edit: (d) => (masters(d)['m1']!['vrrp_interface'] = `eth0${SUB}`) },
  { name: 'vrrp_interface as an option of ip(8)', field: 'all.vars.vrrp_interface', edit: (d) => (d.all.vars['vrrp_interface'] = '--help') },
  { name: 'vrrp_interface, unicode', field: 'all.vars.vrrp_interface', edit: (d) => (d.all.vars['vrrp_interface'] = 'eth0é') },
  { name: 'vip with backticks', field: 'all.vars.vip', edit: (d) => (d.all.vars['vip'] = `${String(d.all.vars['vip'])};${TICKS}`) },
  { name: 'virtual_router_id with &&', field: 'all.vars.virtual_router_id', edit: (d) => (d.all.vars['virtual_router_id'] = `51 && touch ${MARKER}`) },
  { name: 'frontend_port with |', field: 'all.vars.frontend_port', edit: (d) => (d.all.vars['frontend_port'] = `8443|touch ${MARKER}`) },
  { name: 'apiserver_port with a newline (config injection)', field: 'm2.apiserver_port', edit: (d) => (masters(d)['m2']!['apiserver_port'] = '6443\n    bind *:1') },
  { name: 'api_endpoint_name with $()', field: 'all.vars.api_endpoint_name', edit: (d) => (d.all.vars['api_endpoint_name'] = `api.internal${SUB}`) },
  { name: 'api_endpoint_name, look-alike unicode', field: 'all.vars.api_endpoint_name', edit: (d) => (d.all.vars['api_endpoint_name'] = 'kube-аpiserver.kha.internal') },
  { name: 'haproxy_timeout_client with a newline (config injection)', field: 'all.vars.haproxy_timeout_client', edit: (d) => (d.all.vars['haproxy_timeout_client'] = '4h\n    bind *:9999') },
  { name: 'haproxy_timeout_connect with backticks', field: 'all.vars.haproxy_timeout_connect', edit: (d) => (d.all.vars['haproxy_timeout_connect'] = `5s;${TICKS}`) },
  { name: 'lb_algorithm with an extra server line', field: 'all.vars.lb_algorithm', edit: (d) => (d.all.vars['lb_algorithm'] = 'roundrobin\n    server evil 10.0.0.1:1') },
  { name: 'apiserver_health_path with quotes and ;', field: 'all.vars.apiserver_health_path', edit: (d) => (d.all.vars['apiserver_health_path'] = `/readyz';touch ${MARKER};'`) },
  { name: 'apiserver_health_path with $() and $IFS', field: 'all.vars.apiserver_health_path', edit: (d) => (d.all.vars['apiserver_health_path'] = `/readyz$(touch\${IFS}${MARKER})`) },
  { name: 'vrrp_auth_pass with $()', field: 'all.vars.vrrp_auth_pass', edit: (d) => (d.all.vars['vrrp_auth_pass'] = 'p$(id)'), secret: 'p$(id)' },
  { name: 'keepalived_version with ;', field: 'all.vars.keepalived_version', edit: (d) => (d.all.vars['keepalived_version'] = `1:2.2.7;touch ${MARKER}`) },
  { name: 'haproxy_version as an apt option', field: 'all.vars.haproxy_version', edit: (d) => (d.all.vars['haproxy_version'] = '--allow-downgrades') },
  {
    name: 'node name with | (nodes group, node_local_proxy)',
    field: 'nodes.hosts',
    edit: (d) => {
      d.all.vars['node_local_proxy'] = true;
      d.all.children['nodes'] = { hosts: { [`n1|touch ${MARKER}`]: { ansible_host: '10.0.0.99' } } };
    },
  },
  { name: '--user with $()', field: '--user', args: ['--user', `kha${SUB}`] },
  { name: '--private-key with a newline', field: '--private-key', args: ['--private-key', `/tmp/k\n${SUB}`] },
  { name: '--serial with ;', field: '--serial', args: ['--serial', `1;touch ${MARKER}`] },
];

/** at most `n` promises at a time */
async function pool<T, R>(items: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

async function markerOn(lab: Lab): Promise<string[]> {
  const out: string[] = [];
  for (const h of lab.hosts) if ((await lab.exec(h.name, ['test', '-e', MARKER])).code === 0) out.push(h.name);
  if (fs.existsSync(MARKER)) out.push('local');
  return out;
}

describe('hostile inventory values (2 masters, login as kha with sudo)', () => {
  const lab = useLab(2, { aptCache: true, user: 'kha', preinstalled: true });

  test(`${HOSTILE.length} hostile values are refused before any connection: exit 4, one error line naming the field; no marker anywhere`, async () => {
    const l = lab();
    fs.rmSync(MARKER, { force: true });
    const base = path.join(l.stateDir, 'base.yaml');
    writeLabInventory(l, base);
    const before = await sshdLinesPerHost(l, /^Accepted /);
    const results = await pool(HOSTILE, 4, async (c, i = HOSTILE.indexOf(c)) => {
      const doc = YAML.parse(fs.readFileSync(base, 'utf8')) as InvDoc;
      c.edit?.(doc);
      const file = path.join(l.stateDir, `hostile-${i}.yaml`);
      fs.writeFileSync(file, YAML.stringify(doc));
      const r = await kha(['up', '-i', file, '--yes', ...(c.args ?? [])], { timeoutMs: 60_000 });
      return { c, r };
    });
    const report = results.map(({ c, r }) => `${c.name}: exit ${r.code}: ${r.stderr.split('\n').find((x) => x.startsWith('error: ')) ?? r.stderr.trim()}`);
    console.log(`[hostile] tried at load (${results.length}):\n  ${report.join('\n  ')}`);
    for (const { c, r } of results) {
      const lines = r.stderr.split('\n').filter((x) => x !== '');
      const errors = lines.filter((x) => x.startsWith('error: '));
      expect(r.code, `${c.name}\n${showRun(r)}`).toBe(4);
      expect(errors, `${c.name}: one error line\n${showRun(r)}`).toHaveLength(1);
      expect(lines.filter((x) => !x.startsWith('error: ') && !x.startsWith('  try: ')), `${c.name}: only the error line (and suggestions)\n${showRun(r)}`).toEqual([]);
      expect(errors[0], `${c.name}: the error names ${c.field}`).toContain(c.field);
      expect(r.stdout, `${c.name}: nothing ran`).toBe('');
      if (c.secret) expect(r.stderr + r.stdout, `${c.name}: the secret is printed`).not.toContain(c.secret);
    }
    const after = await sshdLinesPerHost(l, /^Accepted /);
    expect(after, 'SSH logins on the lab hosts during the refused runs').toEqual(before);
    expect(await markerOn(l)).toEqual([]);
  });

  test('free-form values used safely on real hosts: a sudo password full of shell syntax (stdin only), a health path with a query and & (quoted in the check script); kha up converges, the marker never appears', async () => {
    const l = lab();
    fs.rmSync(MARKER, { force: true });
    // if the health path were pasted unquoted into the check script, `&/tmp/kha-mark` would run this
    for (const h of l.hosts) {
      await sh(l, h.name, ['sh', '-c', `rm -f ${MARKER}; printf '#!/bin/sh\\ntouch ${MARKER}\\n' > /tmp/kha-mark && chmod 755 /tmp/kha-mark`]);
    }
    const password = `p'w"${SUB};${TICKS}|&& -- --prompt=x \\ $HOME ü`;
    const b64 = Buffer.from(`kha:${password}\n`).toString('base64');
    for (const h of l.hosts) await sh(l, h.name, ['sh', '-c', `printf %s ${b64} | base64 -d | chpasswd`]);
    const healthPath = '/readyz?verbose&/tmp/kha-mark';
    const file = path.join(l.stateDir, 'hostile-ok.yaml');
    writeLabInventory(l, file, { vars: { ansible_become_password: password, apiserver_health_path: healthPath, track_apiserver: true } });
    const log = path.join(l.stateDir, 'hostile-ok.log');
    const r = await kha(['up', '-i', file, '--log-file', log], { timeoutMs: 5 * 60_000 });
    console.log(`[hostile] kha up with the hostile sudo password and health path: ${secs(r.ms)} (exit ${r.code})`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(l)).toEqual(['m1']);
    // the check script holds the URL as one quoted word, and it passes against the stand-in apiserver
    for (const h of l.hosts) {
      const script = await sh(l, h.name, ['cat', '/etc/keepalived/kha-check-apiserver.sh']);
      expect(script).toContain(`'https://127.0.0.1:6443${healthPath}'`);
      expect((await l.exec(h.name, ['sh', '/etc/keepalived/kha-check-apiserver.sh'])).code, `${h.name}: the check script fails`).toBe(0);
    }
    // keepalived has run both check scripts several times by now (interval 2 s)
    await new Promise((res) => setTimeout(res, 5_000));
    expect(await markerOn(l)).toEqual([]);
    // the password: never printed, never logged
    expect(r.stdout + r.stderr).not.toContain(password);
    expect(fs.readFileSync(log, 'utf8')).not.toContain('kha-pwned');
  });

  test('an SSH login password full of shell syntax (ansible_password, no key): kha up logs in with it and converges; a wrong one is tried once and refused (exit 3); never printed or logged', async () => {
    const l = lab();
    fs.rmSync(MARKER, { force: true });
    const password = `s'h"${SUB};${TICKS}|| -oProxyCommand=x \\ $PATH ß`;
    const b64 = Buffer.from(`kha:${password}\n`).toString('base64');
    // the lab image allows keys only; this test opens password logins for its own duration
    const passwordLogins = (on: boolean) =>
      Promise.all(
        l.hosts.map((h) =>
          sh(l, h.name, ['sh', '-c', `sed -i 's/^PasswordAuthentication ${on ? 'no' : 'yes'}$/PasswordAuthentication ${on ? 'yes' : 'no'}/' /etc/ssh/sshd_config.d/00-kha.conf && systemctl reload ssh`]),
        ),
      );
    for (const h of l.hosts) await sh(l, h.name, ['sh', '-c', `printf %s ${b64} | base64 -d | chpasswd`]);
    await passwordLogins(true);
    try {
      const file = path.join(l.stateDir, 'ssh-password.yaml');
      // no key file at all: the password is the only way in (HOME without keys, no agent)
      writeLabInventory(l, file, { vars: { ansible_ssh_private_key_file: undefined, ansible_password: password, ansible_become_password: password } });
      expect(fs.readFileSync(file, 'utf8')).not.toContain('ansible_ssh_private_key_file');
      const env = { HOME: l.stateDir, SSH_AUTH_SOCK: '' };
      const before = await sshdLinesPerHost(l, /^Accepted password for kha /);
      const log = path.join(l.stateDir, 'ssh-password.log');
      const r = await kha(['up', '-i', file, '--log-file', log], { timeoutMs: 5 * 60_000, env });
      console.log(`[hostile] kha up with a hostile SSH login password: ${secs(r.ms)} (exit ${r.code})`);
      expect(r.code, showRun(r)).toBe(0);
      expect(await vipHolders(l)).toEqual(['m1']);
      const after = await sshdLinesPerHost(l, /^Accepted password for kha /);
      expect(after.map((a, i) => a - before[i]!), 'password logins per host').toEqual(l.hosts.map(() => 1));

      // the wrong password: one attempt per host, exit 3, the host named, the password never shown
      const wrong = `${password}x`;
      const bad = path.join(l.stateDir, 'ssh-password-wrong.yaml');
      writeLabInventory(l, bad, { vars: { ansible_ssh_private_key_file: undefined, ansible_password: wrong, ansible_become_password: password } });
      const failedBefore = await sshdLinesPerHost(l, /^Failed password for kha /);
      const w = await kha(['up', '-i', bad, '--log-file', log], { timeoutMs: 2 * 60_000, env });
      console.log(`[hostile] wrong SSH password: exit ${w.code}: ${w.stderr.split('\n').filter((x) => x.startsWith('error') || / m[12]: /.test(x)).join(' | ')}`);
      expect(w.code, showRun(w)).toBe(3);
      expect(w.stderr, showRun(w)).toMatch(/m1|m2/);
      expect(w.stderr, showRun(w)).toContain('(tried: password): check ansible_user and ansible_password');
      const failedAfter = await sshdLinesPerHost(l, /^Failed password for kha /);
      expect(failedAfter.map((a, i) => a - failedBefore[i]!), 'failed password attempts per host (never retried)').toEqual(l.hosts.map(() => 1));

      const out = r.stdout + r.stderr + w.stdout + w.stderr + fs.readFileSync(log, 'utf8');
      expect(out).not.toContain(password);
      expect(out).not.toContain('ProxyCommand=x');
      expect(await markerOn(l)).toEqual([]);
    } finally {
      await passwordLogins(false);
    }
  });
});
