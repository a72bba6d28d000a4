// The releases operators run, on real hosts: one cluster of a Debian 11, a 12 and a 13 master (an
// operator halfway through an OS upgrade), each host on its own release's keepalived and haproxy
// (2.1.5 / 2.2, 2.2.7 / 2.6, 2.3.x / 3.0). The core proofs run on all three at once, the smallest
// lab that holds every release:
// - kha up installs each release's packages, writes only the keywords each version has, starts
//   the primary (Debian 11) first, waits for the VIP, then the others one batch at a time;
// - kha's own validators accept every config variant on every release, and refuse the newer
//   keywords on the older versions (keepalived 2.1's -t alone would not);
// - a no-change rerun restarts nothing; failover by keepalived stop and by haproxy death, across
//   versions both ways; kha upgrade with a client loop: 0 failures; unicast VRRP across versions;
//   kha upgrade --packages moves nothing on hosts whose packages are current.
//
// Order: one lab, the tests in order; each leaves the cluster healthy with the VIP on m1.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { writeLabInventory } from '../../src/lab/lab.js';
import type { UpgradeReport } from '../../src/actions/upgrade.js';
import type { DrillResult } from '../../src/actions/drill.js';
import { featuresOf, hostVersions, parseVersion, type Features } from '../../src/facts/versions.js';
import {
  HAPROXY_VALIDATE_ARGV,
  KEEPALIVED_VALIDATE_ARGV,
  renderCheckApiserverScript,
  renderCheckHaproxyScript,
  renderNotifyScript,
} from '../../src/roles/files.js';
import { renderKeepalived, type KeepalivedVars } from '../../src/roles/keepalived.js';
import { renderHaproxy, type HaproxyVars } from '../../src/roles/haproxy.js';
import { renderNodeHaproxy } from '../../src/roles/node-proxy.js';
import { useLab } from '../helpers/lab.js';
import { jsonChanged, kha, outputProblems, parseJson, secs, showRun } from '../helpers/cli.js';
import { journalAtUs, mainPid, sh, startedAtUs, vipHolders, waitHolders } from '../helpers/hosts.js';
import { monitorVip, vipGains } from '../helpers/vip-watch.js';
import { STALL_TOLERANT_TIMEOUT_MS, startTraffic } from '../helpers/traffic.js';

const RELEASE = { m1: 'bullseye', m3: 'trixie' } as const; // m2: bookworm
const HOSTS = ['m1', 'm2', 'm3'] as const;
const WANT = {
  m1: { os: '11', keepalived: /^2\.1\./, haproxy: /^2\.2\./ },
  m2: { os: '12', keepalived: /^2\.2\./, haproxy: /^2\.6\./ },
  m3: { os: '13', keepalived: /^2\.3\./, haproxy: /^3\.0\./ },
};

describe('Debian 11, 12 and 13 in one cluster: up, rerun, failover, upgrade, unicast, packages', () => {
  const lab = useLab(3, { aptCache: true, release: RELEASE });
  let inv = '';
  const logFile = (name: string) => path.join(lab().stateDir, `${name}.log`);
  const versions: Record<string, { keepalived: string; haproxy: string; os: string }> = {};
  let upMs = 0;
  let upRun: Awaited<ReturnType<typeof kha>> | undefined;

  const pkgVersion = async (h: string, pkg: string) => (await sh(lab(), h, ['dpkg-query', '-W', '-f=${Version}', pkg])).trim();
  const pids = async () =>
    Object.fromEntries(await Promise.all(HOSTS.map(async (h) => [h, [await mainPid(lab(), h, 'keepalived'), await mainPid(lab(), h, 'haproxy')]] as const)));
  const featuresAt = (h: string): Features =>
    featuresOf(
      hostVersions({
        os: { id: 'debian', idLike: [], versionId: versions[h]!.os, prettyName: h },
        packages: { keepalived: versions[h]!.keepalived, haproxy: versions[h]!.haproxy },
      }),
    );

  beforeAll(async () => {
    inv = path.join(lab().stateDir, 'hosts.yaml');
    writeLabInventory(lab(), inv);
    upRun = await kha(['up', '-i', inv, '--log-file', logFile('up')], { timeoutMs: 6 * 60_000 });
    upMs = upRun.ms;
    for (const h of HOSTS) {
      versions[h] = {
        os: (await sh(lab(), h, ['sh', '-c', '. /etc/os-release; echo $VERSION_ID'])).trim(),
        keepalived: await pkgVersion(h, 'keepalived').catch(() => ''),
        haproxy: await pkgVersion(h, 'haproxy').catch(() => ''),
      };
    }
  });

  test('kha up: each host gets its own release packages and only the keywords its versions have; the primary (Debian 11) first, the others after the VIP', async () => {
    const r = upRun!;
    console.log(`[releases] kha up, Debian 11 + 12 + 13, fresh hosts (apt installs): ${secs(upMs)}; versions ${JSON.stringify(versions)}`);
    expect(r.code, showRun(r)).toBe(0);
    for (const h of HOSTS) {
      expect(versions[h]!.os, h).toBe(WANT[h].os);
      expect(parseVersion(versions[h]!.keepalived)?.join('.'), h).toMatch(WANT[h].keepalived);
      expect(parseVersion(versions[h]!.haproxy)?.join('.'), h).toMatch(WANT[h].haproxy);
    }
    // haproxy 2.2 (Debian 11) has no per-session keepalive timers; 2.6 and 3.0 do
    const tcpka = async (h: string) => Number((await sh(lab(), h, ['sh', '-c', 'grep -c tcpka-idle /etc/haproxy/haproxy.cfg || true'])).trim());
    expect(await tcpka('m1')).toBe(0);
    expect(await tcpka('m2')).toBe(2);
    expect(await tcpka('m3')).toBe(2);
    // the order, measured on the hosts: m1 MASTER before m2 and m3 start keepalived, m2 before m3
    const masterAt = (await journalAtUs(lab(), 'm1', /Entering MASTER STATE/))[0];
    expect(masterAt, 'm1 never entered MASTER state').toBeDefined();
    const startAt = Object.fromEntries(await Promise.all(HOSTS.map(async (h) => [h, await startedAtUs(lab(), h, 'keepalived')] as const)));
    expect(startAt.m1).toBeLessThan(masterAt!);
    expect(startAt.m2).toBeGreaterThan(masterAt!);
    expect(startAt.m3).toBeGreaterThan(startAt.m2!);
    expect(await vipHolders(lab())).toEqual(['m1']);
    // kha status sees no drift on any release (it renders per host, as up does)
    const st = await kha(['status', '-i', inv, '--json']);
    expect(st.code, showRun(st)).toBe(0);
    const rows = parseJson<{ hosts: Array<{ name: string; drift: string[]; backendsUp: number }> }>(st).result?.hosts ?? [];
    expect(rows.map((x) => [x.drift, x.backendsUp])).toEqual([
      [[], 3],
      [[], 3],
      [[], 3],
    ]);
  });

  test("kha's validators accept every config variant on every release, and refuse the newer keywords on Debian 11's older versions", async () => {
    const base: KeepalivedVars = {
      routerId: 'kha-x',
      instanceName: 'VI_KHA',
      state: 'MASTER',
      nopreempt: false,
      interface: 'eth0',
      virtualRouterId: 51,
      priority: 150,
      priorityGap: 20,
      advertInt: 1,
      authPass: 'kha-pw01',
      vip: '10.0.0.100',
      vipPrefix: 24,
      checkScript: '/etc/keepalived/kha-check-haproxy.sh',
      scriptUser: 'keepalived_script',
      notifyScript: '/etc/keepalived/kha-notify.sh',
      notifyFifo: '/run/keepalived-kha.fifo',
      haproxyDownFile: '/run/kha-haproxy.down',
      garpMasterRefresh: 60,
    };
    const unicast = { srcIp: '10.0.0.11', peers: ['10.0.0.12', '10.0.0.13'] };
    const hv: HaproxyVars = {
      frontendPort: 8443,
      bindAddress: '0.0.0.0',
      backends: [{ name: 'm1', address: '10.0.0.11', port: 6443 }],
      algorithm: 'roundrobin',
      healthPath: '/readyz',
      timeouts: { client: '20s', server: '20s', connect: '5s' },
      monitorPort: 8404,
      statsSocket: '/run/haproxy/admin.sock',
      hardStopAfter: '1h',
      metrics: { bind: '127.0.0.1', port: 8405 },
    };
    const variants = (f: Features) => ({
      'keepalived multicast': renderKeepalived({ ...base, unicastFaultNoPeer: f.unicastFaultNoPeer }),
      'keepalived unicast': renderKeepalived({ ...base, unicast, unicastFaultNoPeer: f.unicastFaultNoPeer }),
      'keepalived nopreempt unicast': renderKeepalived({ ...base, nopreempt: true, unicast, unicastFaultNoPeer: f.unicastFaultNoPeer }),
      'keepalived track_apiserver': renderKeepalived({
        ...base,
        trackApiserver: { script: '/etc/keepalived/kha-check-apiserver.sh' },
        unicastFaultNoPeer: f.unicastFaultNoPeer,
      }),
      'haproxy load balancer': renderHaproxy({ ...hv, tcpKeepaliveTimers: f.tcpKeepaliveTimers }),
      'haproxy leastconn on the VIP': renderHaproxy({ ...hv, algorithm: 'leastconn', bindAddress: '10.0.0.100', tcpKeepaliveTimers: f.tcpKeepaliveTimers }),
      'haproxy node proxy': renderNodeHaproxy({
        listenPort: 6443,
        backends: hv.backends,
        healthPath: '/readyz',
        timeouts: { connect: '5s', client: '4h', server: '4h' },
        statsSocket: '/run/haproxy/admin.sock',
        tcpKeepaliveTimers: f.tcpKeepaliveTimers,
      }),
    });
    // the scripts keepalived checks for (enable_script_security): as kha writes them
    const scripts = {
      '/etc/keepalived/kha-check-haproxy.sh': renderCheckHaproxyScript({ monitorPort: 8404 }),
      '/etc/keepalived/kha-check-apiserver.sh': renderCheckApiserverScript({ apiserverPort: 6443, healthPath: '/readyz' }),
      '/etc/keepalived/kha-notify.sh': renderNotifyScript(),
    };
    const validate = async (h: string, name: string, content: string): Promise<{ ok: boolean; out: string }> => {
      const file = `/tmp/kha-variant-${name.replace(/[^a-z0-9]+/g, '-')}`;
      const argv = name.startsWith('keepalived') ? KEEPALIVED_VALIDATE_ARGV : HAPROXY_VALIDATE_ARGV;
      const w = await lab().exec(h, ['sh', '-c', `cat > ${file} <<'KHA_EOF'\n${content}KHA_EOF`]);
      expect(w.code).toBe(0);
      const r = await lab().exec(
        h,
        argv.map((a) => (a === '%s' ? file : a)),
      );
      return { ok: r.code === 0, out: (r.stdout + r.stderr).trim() };
    };
    const failures: string[] = [];
    const written: Array<[string, string]> = [];
    onTestFinished(async () => {
      for (const [h, p] of written) await lab().exec(h, ['rm', '-f', p]);
      for (const h of HOSTS) await lab().exec(h, ['sh', '-c', 'rm -f /tmp/kha-variant-*']);
    });
    for (const h of HOSTS) {
      for (const [p, c] of Object.entries(scripts)) {
        const have = await lab().exec(h, ['cat', p]);
        if (have.code === 0) expect(have.stdout, `${h} ${p}`).toBe(c);
        else {
          // not written by kha here yet (track_apiserver is off): for the variant's check only
          expect((await lab().exec(h, ['sh', '-c', `cat > ${p} <<'KHA_EOF'\n${c}KHA_EOF\nchmod 0755 ${p}`])).code).toBe(0);
          written.push([h, p]);
        }
      }
      for (const [name, content] of Object.entries(variants(featuresAt(h)))) {
        const r = await validate(h, name, content);
        if (!r.ok) failures.push(`${h} (Debian ${versions[h]!.os}) ${name}: ${r.out}`);
      }
    }
    expect(failures).toEqual([]);
    // Debian 11 with every keyword: each family is refused, by kha's validators (keepalived 2.1.5's
    // own -t exits 0 without a word on unknown keywords; kha reads its log)
    const all = variants({ tcpKeepaliveTimers: true, unicastFaultNoPeer: true });
    const ku = await validate('m1', 'keepalived unicast newest', all['keepalived unicast']);
    expect(ku.ok).toBe(false);
    expect(ku.out).toMatch(/Unknown keyword 'unicast_fault_no_peer'/);
    const plain = await lab().exec('m1', ['sh', '-c', 'keepalived -t -f /tmp/kha-variant-keepalived-unicast-newest; echo "rc=$?"']);
    expect(plain.stdout.trim(), 'keepalived 2.1.5 -t alone says nothing').toBe('rc=0');
    const hp = await validate('m1', 'haproxy newest', all['haproxy load balancer']);
    expect(hp.ok).toBe(false);
    expect(hp.out).toMatch(/unknown keyword 'clitcpka-idle'/);
  });

  test('a no-change rerun on three releases: 0 changed, nothing restarted, VIP still on m1', async () => {
    const before = await pids();
    const r = await kha(['up', '-i', inv, '--json', '--log-file', logFile('rerun')]);
    console.log(`[releases] kha up rerun (no change), Debian 11 + 12 + 13: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    const { changed, doc } = jsonChanged(r);
    expect(outputProblems(doc), showRun(r)).toEqual([]);
    expect(changed, JSON.stringify(doc.recap)).toBe(0);
    expect(await pids()).toEqual(before);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });

  test('failover across versions, both ways: keepalived stop and haproxy death (kha drill), 11 -> 13 and 13 -> 11 by hand', async () => {
    const figures: string[] = [];
    for (const mode of ['keepalived', 'haproxy'] as const) {
      const r = await kha(['drill', '-i', inv, '--mode', mode, '--json', '--log-file', logFile(`drill-${mode}`)], { timeoutMs: 3 * 60_000 });
      expect(r.code, showRun(r)).toBe(0);
      const round = parseJson<DrillResult>(r).result!.rounds[0]!;
      figures.push(
        `${mode}: ${round.holderBefore} -> ${round.newHolder} ${secs(round.vipMovedMs ?? NaN)} polled, ${round.vipMovedExactMs === null ? '?' : secs(round.vipMovedExactMs)} exact, back on ${round.holderAfter}`,
      );
      expect(round.holderBefore).toBe('m1');
      expect(round.newHolder).toBe('m2');
      expect(round.withinBudget, JSON.stringify(round)).toBe(true);
      expect(round.holderAfter).toBe('m1');
    }
    // 11 -> 13 (m2 out of the way), then 13 -> 11 when m1 comes back (it preempts)
    await sh(lab(), 'm2', ['systemctl', 'stop', 'keepalived']);
    try {
      let t0 = performance.now();
      await sh(lab(), 'm1', ['systemctl', 'stop', 'keepalived']);
      const to13 = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm3', t0, 10_000);
      expect(to13.holders).toEqual(['m3']);
      t0 = performance.now();
      await sh(lab(), 'm1', ['systemctl', 'start', 'keepalived']);
      // m1's checks must pass first (rise 2 at interval 1 s), then it preempts
      const to11 = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm1', t0, 20_000);
      expect(to11.holders).toEqual(['m1']);
      figures.push(`keepalived stop m1 (11) -> m3 (13) ${secs(to13.ms)}; m1 back, preempts m3 (13) -> m1 (11) ${secs(to11.ms)}`);
    } finally {
      await sh(lab(), 'm2', ['systemctl', 'start', 'keepalived']);
    }
    console.log(`[releases] failover: ${figures.join('; ')}`);
    await sleep(3_000);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });

  test('kha upgrade, a haproxy setting (a reload on haproxy 2.2, 2.6 and 3.0) with a client loop: 0 failures, the VIP never moves', async () => {
    const monitor = await monitorVip(lab(), { maxSeconds: 300 });
    const traffic = startTraffic(lab(), { intervalMs: 50, timeoutMs: STALL_TOLERANT_TIMEOUT_MS, maxRequests: 4_000, maxMs: 3 * 60_000 });
    writeLabInventory(lab(), inv, { vars: { haproxy_timeout_connect: '6s' } });
    const r = await kha(['upgrade', '-i', inv, '--serial', '1', '--json', '--log-file', logFile('upgrade-haproxy')], { timeoutMs: 4 * 60_000 });
    await sleep(1_000);
    const tr = await traffic.stop();
    const exact = await monitor.stop();
    const rep = parseJson<UpgradeReport>(r).result;
    console.log(
      `[releases] kha upgrade, Debian 11 + 12 + 13 (haproxy reload): ${secs(r.ms)}; order ${JSON.stringify(rep?.order)}; ${tr.total} requests, ${tr.failed} failed ${JSON.stringify(tr.reasons)}; VIP gains ${vipGains(exact)}`,
    );
    expect(r.code, showRun(r)).toBe(0);
    expect(rep?.order).toEqual([['m2'], ['m3'], ['m1']]);
    expect(rep?.handover ?? null).toBeNull();
    expect(vipGains(exact)).toBe(0);
    expect(tr.total).toBeGreaterThan(50);
    expect(tr.failed, JSON.stringify(tr.failures.slice(0, 5))).toBe(0);
    for (const h of HOSTS) expect(await sh(lab(), h, ['sh', '-c', 'grep -c "timeout connect 6s" /etc/haproxy/haproxy.cfg']), h).toBe('1\n');
  });

  test('kha upgrade, a keepalived change (the planned handover m1 -> m2 and back, across versions) with a client loop: failures only at the two VIP moves', async () => {
    const monitor = await monitorVip(lab(), { maxSeconds: 300 });
    const traffic = startTraffic(lab(), { intervalMs: 50, timeoutMs: STALL_TOLERANT_TIMEOUT_MS, maxRequests: 4_000, maxMs: 3 * 60_000 });
    writeLabInventory(lab(), inv, { vars: { haproxy_timeout_connect: '6s', track_apiserver: true } });
    const r = await kha(['upgrade', '-i', inv, '--serial', '1', '--json', '--log-file', logFile('upgrade-keepalived')], { timeoutMs: 4 * 60_000 });
    await sleep(1_000);
    const tr = await traffic.stop();
    const exact = await monitor.stop();
    const rep = parseJson<UpgradeReport>(r).result;
    console.log(
      `[releases] kha upgrade, Debian 11 + 12 + 13 (keepalived change): ${secs(r.ms)}; order ${JSON.stringify(rep?.order)}, handover ${JSON.stringify(rep?.handover)}; ${tr.total} requests, ${tr.failed} failed ${JSON.stringify(tr.reasons)}; VIP gains ${vipGains(exact)}, longest time without a holder ${exact.longestGapMs.toFixed(0)} ms`,
    );
    expect(r.code, showRun(r)).toBe(0);
    expect(rep?.handover?.from).toBe('m1');
    expect(rep?.holderAfter).toBe('m1');
    expect(vipGains(exact)).toBe(2);
    expect(tr.total).toBeGreaterThan(50);
    // what a request in flight through a VIP that moves meets (a reset by the new holder): the project's budget, as day2-upgrade's
    expect(tr.failed, JSON.stringify(tr.failures.slice(0, 5))).toBeLessThanOrEqual(Math.floor(tr.total * 0.05));
    for (const h of HOSTS) expect(await sh(lab(), h, ['sh', '-c', 'grep -c kha_check_apiserver /etc/keepalived/keepalived.conf']), h).not.toBe('0\n');
    expect(await vipHolders(lab())).toEqual(['m1']);
  });

  test('unicast VRRP across versions: keepalived 2.1.5 without unicast_fault_no_peer hears 2.2.7 and 2.3.3 and they hear it', async () => {
    writeLabInventory(lab(), inv, { vars: { haproxy_timeout_connect: '6s', track_apiserver: true, vrrp_unicast: true } });
    const r = await kha(['upgrade', '-i', inv, '--serial', '1', '--json', '--log-file', logFile('upgrade-unicast')], { timeoutMs: 4 * 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const conf = async (h: string) => sh(lab(), h, ['cat', '/etc/keepalived/keepalived.conf']);
    expect(await conf('m1')).toContain('    unicast_peer {');
    expect(await conf('m1')).not.toContain('unicast_fault_no_peer');
    for (const h of ['m2', 'm3']) expect(await conf(h), h).toContain('    unicast_fault_no_peer\n');
    // adverts only by unicast now: the backups stay BACKUP for 5 s (they hear m1), one holder
    const monitor = await monitorVip(lab(), { maxSeconds: 60 });
    await sleep(5_000);
    const quiet = await monitor.stop();
    expect(vipGains(quiet)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['m1']);
    // and m1 hears them: stopped, the VIP goes to m2; started, m1 takes it back (it hears m2's adverts, preempts)
    let t0 = performance.now();
    await sh(lab(), 'm1', ['systemctl', 'stop', 'keepalived']);
    const moved = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm2', t0, 10_000);
    t0 = performance.now();
    await sh(lab(), 'm1', ['systemctl', 'start', 'keepalived']);
    const back = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm1', t0, 20_000);
    console.log(`[releases] unicast: m1 (11) stopped -> m2 (12) in ${secs(moved.ms)}; m1 back in ${secs(back.ms)}`);
    expect(moved.holders).toEqual(['m2']);
    expect(back.holders).toEqual(['m1']);
    await sleep(3_000);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });

  test('kha upgrade --packages on current hosts: every host keeps its own release version, nothing restarts, the VIP never moves', async () => {
    const before = await pids();
    const pkgsBefore = Object.fromEntries(
      await Promise.all(HOSTS.map(async (h) => [h, [await pkgVersion(h, 'keepalived'), await pkgVersion(h, 'haproxy')]] as const)),
    );
    const monitor = await monitorVip(lab(), { maxSeconds: 300 });
    const r = await kha(['upgrade', '-i', inv, '--packages', '--serial', '1', '--json', '--log-file', logFile('upgrade-packages')], { timeoutMs: 5 * 60_000 });
    const exact = await monitor.stop();
    const rep = parseJson<UpgradeReport>(r).result;
    console.log(
      `[releases] kha upgrade --packages (all current): ${secs(r.ms)}; unchanged ${JSON.stringify(rep?.unchanged)}, done ${JSON.stringify(rep?.done)}`,
    );
    expect(r.code, showRun(r)).toBe(0);
    const pkgsAfter = Object.fromEntries(
      await Promise.all(HOSTS.map(async (h) => [h, [await pkgVersion(h, 'keepalived'), await pkgVersion(h, 'haproxy')]] as const)),
    );
    expect(pkgsAfter).toEqual(pkgsBefore);
    expect(await pids()).toEqual(before);
    expect(vipGains(exact)).toBe(0);
    expect(rep?.handover ?? null).toBeNull();
    expect(await vipHolders(lab())).toEqual(['m1']);
    expect(fs.existsSync(logFile('upgrade-packages'))).toBe(true);
  });
});

// The other way round, on the smallest lab that shows it: Debian 13 the primary (its keepalived
// 2.3 and haproxy 3.0 start first and hold the VIP), Debian 11 the backup it fails over to.
describe('Debian 13 primary, Debian 11 backup: up in order, rerun, failover 13 -> 11 by keepalived stop and by haproxy death', () => {
  const lab = useLab(2, { aptCache: true, release: { m1: 'trixie', m2: 'bullseye' } });
  let inv = '';
  const logFile = (name: string) => path.join(lab().stateDir, `${name}.log`);

  test('kha up: m1 (Debian 13) MASTER before m2 (Debian 11) starts; a rerun changes nothing', async () => {
    inv = path.join(lab().stateDir, 'hosts.yaml');
    writeLabInventory(lab(), inv);
    const r = await kha(['up', '-i', inv, '--log-file', logFile('up')], { timeoutMs: 6 * 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const masterAt = (await journalAtUs(lab(), 'm1', /Entering MASTER STATE/))[0];
    expect(masterAt, 'm1 never entered MASTER state').toBeDefined();
    expect(await startedAtUs(lab(), 'm1', 'keepalived')).toBeLessThan(masterAt!);
    expect(await startedAtUs(lab(), 'm2', 'keepalived')).toBeGreaterThan(masterAt!);
    expect(await journalAtUs(lab(), 'm2', /Entering MASTER STATE/)).toEqual([]);
    expect(await vipHolders(lab())).toEqual(['m1']);
    const again = await kha(['up', '-i', inv, '--json', '--log-file', logFile('rerun')]);
    expect(again.code, showRun(again)).toBe(0);
    expect(jsonChanged(again).changed).toBe(0);
    console.log(`[releases] Debian 13 primary + Debian 11: kha up ${secs(r.ms)}, rerun ${secs(again.ms)} (0 changed)`);
  });

  test('kha drill, keepalived and haproxy: the VIP goes 13 -> 11 within budget and comes back', async () => {
    expect(inv).not.toBe('');
    const figures: string[] = [];
    for (const mode of ['keepalived', 'haproxy'] as const) {
      const r = await kha(['drill', '-i', inv, '--mode', mode, '--json', '--log-file', logFile(`drill-${mode}`)], { timeoutMs: 3 * 60_000 });
      expect(r.code, showRun(r)).toBe(0);
      const round = parseJson<DrillResult>(r).result!.rounds[0]!;
      figures.push(`${mode}: ${secs(round.vipMovedMs ?? NaN)} polled, ${round.vipMovedExactMs === null ? '?' : secs(round.vipMovedExactMs)} exact`);
      expect([round.holderBefore, round.newHolder, round.holderAfter]).toEqual(['m1', 'm2', 'm1']);
      expect(round.withinBudget, JSON.stringify(round)).toBe(true);
    }
    console.log(`[releases] failover Debian 13 -> Debian 11: ${figures.join('; ')}`);
  });
});
