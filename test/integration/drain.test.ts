// kha drain / kha undrain on a live lab of 3 masters (kha up first): apiserver maintenance without
// a failed request. A request loop through the VIP (new connection per request) runs while m2 is
// drained, its stand-in apiserver restarted, and undrained; then the same with `kha drain m2 --
// systemctl restart kha-standin-apiserver`; then a drain that must survive `systemctl reload
// haproxy` (and a restart: haproxy's server-state-file, saved by kha's drop-in before the reload).
//
// Order: the tests share one lab and run as written, each leaving m2 undrained. Observations go
// through `docker exec` (the stats socket read with perl on the host), never through kha itself.
// Figures are printed as `[drain] ...` lines.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, test } from 'vitest';
import type { DrainResult } from '../../src/actions/drain.js';
import type { StatusResult } from '../../src/actions/status.js';
import { kha, outputProblems, secs, showRun, upLab, type KhaRun } from '../helpers/cli.js';
import { sh, vipHolders } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';
import { useLab, type Lab } from '../helpers/lab.js';
import { STALL_TOLERANT_TIMEOUT_MS, startTraffic, type TrafficSummary } from '../helpers/traffic.js';
import { monitorVip, vipGains } from '../helpers/vip-watch.js';
import { gapsBetween, LIVE_STALL_MS, startWatches } from '../helpers/watch.js';

const MASTERS = ['m1', 'm2', 'm3'];

/** m2's row in `show stat` on a host: haproxy's status word, sessions now, sessions ever (read with perl: no socat on the hosts) */
async function m2On(l: Lab, host: string): Promise<{ status: string; scur: number; stot: number }> {
  const perl =
    'use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => "/run/haproxy/admin.sock") or die "socket: $!\\n"; print $s "show stat\\n"; print while <$s>;';
  const out = await sh(l, host, ['perl', '-e', perl]);
  const [head, ...rows] = out.split('\n').filter((x) => x.trim());
  const cols = head!.replace(/^# /, '').split(',');
  const row = rows.map((r) => r.split(',')).find((c) => c[cols.indexOf('pxname')] === 'kube-apiservers' && c[cols.indexOf('svname')] === 'm2');
  if (!row) throw new Error(`${host}: haproxy does not list m2:\n${out}`);
  const at = (k: string) => row[cols.indexOf(k)] ?? '';
  return { status: at('status'), scur: Number(at('scur')), stot: Number(at('stot')) };
}

async function m2Everywhere(l: Lab): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(MASTERS.map(async (h) => [h, (await m2On(l, h)).status] as const)));
}

/** until every host shows m2 with `status` (after a reload the new worker may take a moment) */
async function untilM2(l: Lab, status: string, timeoutMs: number): Promise<Record<string, string>> {
  const t0 = Date.now();
  for (;;) {
    const seen = await m2Everywhere(l).catch(() => ({}) as Record<string, string>);
    if (MASTERS.every((h) => seen[h] === status) || Date.now() - t0 > timeoutMs) return seen;
    await sleep(250);
  }
}

function result<R>(r: KhaRun): R {
  const doc = JSON.parse(r.stdout) as { result: R };
  expect(outputProblems(doc), 'the --json document fits the schema').toEqual([]);
  return doc.result;
}

function trafficLine(what: string, t: TrafficSummary): string {
  return `[drain] ${what}: ${t.total} requests through the VIP in ${secs(t.durationMs)}, ${t.failed} failed${t.failed ? ` (${JSON.stringify(t.reasons)})` : ''}; answered by ${JSON.stringify(t.bodies)}`;
}

function figures(what: string, r: DrainResult, wallMs: number): string {
  const left = r.hosts.map((h) => `${h.host} ${h.sessions}`).join(', ');
  return `[drain] ${what}: kha ran ${secs(wallMs)}; sessions ended in ${r.drainMs == null ? '-' : secs(r.drainMs)}; sessions left per host at the end: ${left}${
    r.cmd ? `; command exit ${r.cmd.exit} in ${secs(r.cmd.ms)}` : ''
  }${r.ready?.ms != null ? `; /readyz answered after ${secs(r.ready.ms)} (from ${r.ready.from})` : ''}${r.upMs != null ? `; UP everywhere ${secs(r.upMs)} after READY` : ''}`;
}

describe('kha drain / kha undrain on a live control plane', () => {
  const lab = useLab(3, { aptCache: true, preinstalled: true });
  let inv = '';
  const log = (name: string) => path.join(lab().stateDir, `${name}.log`);

  beforeAll(async () => {
    inv = writeInv(lab(), 'hosts');
    const r = await upLab(lab(), inv);
    console.log(`[timing] kha up, 3 preinstalled hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['m1']);
    expect(await m2Everywhere(lab())).toEqual({ m1: 'UP', m2: 'UP', m3: 'UP' });
  });

  test('drain m2, restart its apiserver, undrain: zero failed requests; DRAIN on every haproxy meanwhile, UP after; kha status shows it', async () => {
    const l = lab();
    const monitor = await monitorVip(l, { maxSeconds: 240 });
    const traffic = startTraffic(l, { intervalMs: 50, timeoutMs: STALL_TOLERANT_TIMEOUT_MS, maxMs: 3 * 60_000, maxRequests: 6000 });
    // the steps, in ms since the loop started: a failure's `t` is placed among them
    const steps: string[] = [];
    const tStart = Date.now();
    const mark = (what: string) => steps.push(`${Date.now() - tStart}ms ${what}`);
    await sleep(1500);

    const t0 = performance.now();
    mark('drain');
    const d = await kha(['drain', '-i', inv, 'm2', '--json', '--log-file', log('drain')]);
    mark('drained');
    const drainWall = performance.now() - t0;
    expect(d.code, showRun(d)).toBe(0);
    const dr = result<DrainResult>(d);
    console.log(figures('kha drain m2', dr, drainWall));
    expect(dr).toMatchObject({ server: 'm2', drained: true, sessionsLeft: 0, skipped: [] });
    expect(dr.hosts.map((h) => `${h.host} ${h.role} ${h.status}`)).toEqual(['m1 load balancer DRAIN', 'm2 load balancer DRAIN', 'm3 load balancer DRAIN']);

    // every haproxy: DRAIN, and no new connection to m2 while drained (stot stays)
    expect(await m2Everywhere(l)).toEqual({ m1: 'DRAIN', m2: 'DRAIN', m3: 'DRAIN' });
    const stotDrained = await Promise.all(MASTERS.map(async (h) => (await m2On(l, h)).stot));
    for (const h of MASTERS) expect(await sh(l, h, ['cat', '/var/lib/haproxy/server-state']), h).toMatch(/^\S+ kube-apiservers \S+ m2 /m);

    // kha status: DRAIN in the backends column and in --json
    const st = await kha(['status', '-i', inv, '--json']);
    expect(st.code, showRun(st)).toBe(0);
    expect(result<StatusResult>(st).hosts.map((h) => [h.name, h.backendsDrained, h.backendsDown])).toEqual(MASTERS.map((h) => [h, ['m2'], []]));
    const table = await kha(['status', '-i', inv]);
    expect(table.stdout).toMatch(/ 2\/3 \(DRAIN: m2\) /);

    mark('restart');
    await sh(l, 'm2', ['systemctl', 'restart', 'kha-standin-apiserver']);
    mark('restarted');
    await sleep(2000);
    const stotBefore = await Promise.all(MASTERS.map(async (h) => (await m2On(l, h)).stot));
    expect(stotBefore, 'no connection went to m2 while it was drained').toEqual(stotDrained);

    const t1 = performance.now();
    mark('undrain');
    const u = await kha(['undrain', '-i', inv, 'm2', '--json', '--log-file', log('undrain')]);
    mark('undrained');
    const undrainWall = performance.now() - t1;
    expect(u.code, showRun(u)).toBe(0);
    const ur = result<DrainResult>(u);
    console.log(figures('kha undrain m2', ur, undrainWall));
    expect(ur).toMatchObject({ server: 'm2', drained: false, ready: { from: 'm1', last: '200' } });
    expect(ur.upMs).not.toBeNull();
    expect(await m2Everywhere(l)).toEqual({ m1: 'UP', m2: 'UP', m3: 'UP' });

    await sleep(1500);
    const sum = await traffic.stop();
    const exact = await monitor.stop();
    console.log(trafficLine('drain, restart, undrain', sum));
    const vipMoves = exact.events.map((e) => `${Math.round(e.t - sum.startedAt)}ms ${e.host}${e.up ? '+' : '-'}`);
    const story = `failures: ${JSON.stringify(sum.failures.slice(0, 8))}; steps: ${steps.join(', ')}; VIP events: ${vipMoves.join(', ') || 'none'}`;
    // draining a backend never moves the VIP
    expect(vipGains(exact), story).toBe(0);
    expect(sum.failed, story).toBe(0);
    expect(sum.total).toBeGreaterThan(100);
    // m2 takes connections again: on the VIP holder its count moved on after the undrain
    expect((await m2On(l, 'm1')).stot).toBeGreaterThan(stotBefore[0]!);
  });

  test('kha drain m2 -- systemctl restart kha-standin-apiserver: drained, restarted, ready, back; zero failed requests', async () => {
    const l = lab();
    const before = (await sh(l, 'm2', ['systemctl', 'show', '-p', 'ExecMainStartTimestampMonotonic', '--value', 'kha-standin-apiserver'])).trim();
    const traffic = startTraffic(l, { intervalMs: 50, timeoutMs: STALL_TOLERANT_TIMEOUT_MS, maxMs: 3 * 60_000, maxRequests: 6000 });
    await sleep(1500);
    const t0 = performance.now();
    const r = await kha(['drain', '-i', inv, 'm2', '--json', '--log-file', log('drain-cmd'), '--', 'systemctl', 'restart', 'kha-standin-apiserver']);
    const wall = performance.now() - t0;
    await sleep(1500);
    const sum = await traffic.stop();
    expect(r.code, showRun(r)).toBe(0);
    const res = result<DrainResult>(r);
    console.log(figures('kha drain m2 -- systemctl restart kha-standin-apiserver', res, wall));
    console.log(trafficLine('drain -- restart', sum));
    expect(res).toMatchObject({ drained: false, sessionsLeft: 0, cmd: { argv: ['systemctl', 'restart', 'kha-standin-apiserver'], exit: 0 } });
    expect(res.ready?.ms).not.toBeNull();
    // the command ran on m2: its stand-in was started again
    const after = (await sh(l, 'm2', ['systemctl', 'show', '-p', 'ExecMainStartTimestampMonotonic', '--value', 'kha-standin-apiserver'])).trim();
    expect(after).not.toBe(before);
    expect(await m2Everywhere(l)).toEqual({ m1: 'UP', m2: 'UP', m3: 'UP' });
    expect(sum.failed, JSON.stringify(sum.failures.slice(0, 5))).toBe(0);
    expect(sum.bodies['ok m2'] ?? 0).toBeGreaterThan(0);
  });

  test('a drain survives systemctl reload haproxy (and a restart); after kha undrain a reload keeps m2 UP', async () => {
    const l = lab();
    const d = await kha(['drain', '-i', inv, 'm2', '--log-file', log('drain-reload')]);
    expect(d.code, showRun(d)).toBe(0);
    expect(d.stdout).toMatch(/^drain: m2: drained on m1 DRAIN, m2 DRAIN, m3 DRAIN; sessions ended in \d+\.\d s$/m);

    const pids = async (h: string) => (await sh(l, h, ['pgrep', '-x', 'haproxy'])).split('\n').filter(Boolean);
    const pidsBefore = await Promise.all(MASTERS.map(pids));
    const t0 = performance.now();
    for (const h of MASTERS) await sh(l, h, ['systemctl', 'reload', 'haproxy']);
    // a new worker on every host (the reload happened), and m2 still drained there
    for (const [i, h] of MASTERS.entries()) {
      for (let k = 0; k < 40 && (await pids(h)).every((p) => pidsBefore[i]!.includes(p)); k++) await sleep(250);
      expect(
        (await pids(h)).some((p) => !pidsBefore[i]!.includes(p)),
        `${h}: haproxy reloaded`,
      ).toBe(true);
    }
    const seen = await untilM2(l, 'DRAIN', 10_000);
    console.log(`[drain] after systemctl reload haproxy on every host (${secs(performance.now() - t0)}): m2 is ${JSON.stringify(seen)}`);
    expect(seen).toEqual({ m1: 'DRAIN', m2: 'DRAIN', m3: 'DRAIN' });

    await sh(l, 'm3', ['systemctl', 'restart', 'haproxy']);
    const m3 = await untilM2(l, 'DRAIN', 10_000);
    expect(m3['m3'], 'm3 after systemctl restart haproxy').toBe('DRAIN');

    const u = await kha(['undrain', '-i', inv, 'm2', '--log-file', log('undrain-reload')]);
    expect(u.code, showRun(u)).toBe(0);
    for (const h of MASTERS) expect(await sh(l, h, ['cat', '/var/lib/haproxy/server-state']), h).not.toMatch(/ m2 /);
    await sh(l, 'm1', ['systemctl', 'reload', 'haproxy']);
    await sleep(1500);
    expect(await untilM2(l, 'UP', 10_000)).toEqual({ m1: 'UP', m2: 'UP', m3: 'UP' });
    expect(await vipHolders(l)).toEqual(['m1']);
    // the logs of the runs above stay for a look after a failure
    expect(fs.existsSync(log('drain'))).toBe(true);
  });

  test('watches on m2 move off within the drain timeout (--timeout 5 --shutdown-sessions); the others never notice', async () => {
    const l = lab();
    const w = startWatches(l, { clients: 6 });
    await sleep(2_000);
    const onM2 = w.clients.filter((c) => c.backends[c.backends.length - 1] === 'm2');
    expect(onM2.length, 'roundrobin puts some of 6 watches on m2').toBeGreaterThan(0);
    const t0 = Date.now();
    const d = await kha(['drain', '-i', inv, 'm2', '--timeout', '5', '--shutdown-sessions', '--json', '--log-file', log('drain-watches')]);
    const t1 = Date.now();
    await sleep(1_000);
    const sum = await w.stop();
    expect(d.code, showRun(d)).toBe(0);
    const dr = result<DrainResult>(d);
    // a watch never ends by itself: the drain waited its 5 s, then closed them
    const moved = onM2.map((c) => {
      const end = c.ends.find((e) => e.t >= t0);
      const next = end ? c.lines.find((t) => t > end.t) : undefined;
      return { end: end ? end.t - t0 : null, back: next !== undefined ? next - t0 : null, on: c.backends[c.backends.length - 1] };
    });
    console.log(
      `[drain] ${onM2.length} watches on m2, drain --timeout 5 --shutdown-sessions (kha ran ${secs(t1 - t0)}): closed after ${moved.map((m) => (m.end === null ? 'never' : secs(m.end))).join(', ')}, streaming again from ${moved.map((m) => m.on).join(', ')} after ${moved.map((m) => (m.back === null ? 'never' : secs(m.back))).join(', ')}; sessions closed per host ${dr.hosts.map((h) => `${h.host} ${h.closed ?? 0}`).join(', ')}`,
    );
    for (const m of moved) {
      expect(m.on).not.toBe('m2');
      expect(m.back).not.toBeNull();
      expect(m.back!).toBeLessThanOrEqual(t1 - t0 + 2_000);
    }
    for (const c of sum.clients.filter((x) => !onM2.includes(x))) {
      expect(c.ends).toEqual([]);
      expect(gapsBetween(c, t0, t1)).toBeLessThan(LIVE_STALL_MS);
    }
    const u = await kha(['undrain', '-i', inv, 'm2', '--log-file', log('undrain-watches')]);
    expect(u.code, showRun(u)).toBe(0);
    expect(await untilM2(l, 'UP', 10_000)).toEqual({ m1: 'UP', m2: 'UP', m3: 'UP' });
  });
});
