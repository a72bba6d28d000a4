// Long-lived clients through the VIP (issue: kubelets' and controllers' watches, kubectl logs -f):
// six watch clients hold GET /watch on the stand-in apiservers (a line every 200 ms) through
// VIP:8443 and reconnect at once when a stream ends, as client-go does. On real hosts:
// - a haproxy reload (kha upgrade, haproxy-only change): every watch survives, no reconnect;
// - a planned VIP handover (kha upgrade, keepalived change: the holder last): the watches through
//   the old holder are cut (RST from the new one) and every client is back within 2 s;
// - a hung apiserver (SIGSTOP): its watches go quiet until haproxy marks it down, then
//   on-marked-down shutdown-sessions cuts them and they reconnect to live apiservers;
// - the VIP moves while the old holder's haproxy still runs: IDLE watches (no data) learn it from
//   haproxy's TCP keepalive (clitcpka, idle 10 s) instead of never.
//
// Order: one lab, tests in order; each leaves the cluster healthy with the VIP on m1.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, test } from 'vitest';
import { writeLabInventory } from '../../src/lab/lab.js';
import type { UpgradeReport } from '../../src/actions/upgrade.js';
import { useLab } from '../helpers/lab.js';
import { kha, parseJson, secs, showRun } from '../helpers/cli.js';
import { sh, vipHolders, waitHolders } from '../helpers/hosts.js';
import { gapsBetween, LIVE_STALL_MS, startWatches } from '../helpers/watch.js';
import { monitorVip, vipGains } from '../helpers/vip-watch.js';

const s1 = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

describe('watches through the VIP: reloads, handovers, a hung apiserver, a moved VIP', () => {
  const lab = useLab(3, { aptCache: true, preinstalled: true });
  let inv = '';
  const logFile = (name: string) => path.join(lab().stateDir, `${name}.log`);

  beforeAll(async () => {
    inv = path.join(lab().stateDir, 'hosts.yaml');
    writeLabInventory(lab(), inv);
    const r = await kha(['up', '-i', inv, '--log-file', logFile('up')], { timeoutMs: 5 * 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });

  test('a haproxy reload on every host (kha upgrade, haproxy-only change): every watch survives, none reconnects', async () => {
    const w = startWatches(lab(), { clients: 6 });
    await sleep(2_000);
    writeLabInventory(lab(), inv, { vars: { haproxy_timeout_connect: '6s' } });
    const r = await kha(['upgrade', '-i', inv, '--serial', '1', '--json', '--log-file', logFile('upgrade-reload')], { timeoutMs: 4 * 60_000 });
    await sleep(1_000);
    const sum = await w.stop();
    console.log(
      `[watch] haproxy reloaded on 3 hosts (${secs(r.ms)}): ${sum.clients.length} watches, ${sum.reconnects} reconnects, longest gap ${s1(sum.worstGapMs)}; backends ${sum.clients.map((c) => c.backends.join('>')).join(' ')}`,
    );
    expect(r.code, showRun(r)).toBe(0);
    expect(parseJson<UpgradeReport>(r).result?.handover ?? null).toBeNull();
    expect(sum.reconnects, JSON.stringify(sum.reasons)).toBe(0);
    expect(sum.worstGapMs).toBeLessThan(LIVE_STALL_MS);
    // the old workers still hold the watches (hard-stop-after 1h), beside the new ones
    expect(await sh(lab(), 'm1', ['sh', '-c', 'grep -c "hard-stop-after 1h" /etc/haproxy/haproxy.cfg'])).toBe('1\n');
  });

  test('a planned handover (kha upgrade, keepalived change): watches through the old holder reconnect, every client back within 2 s of the VIP being held', async () => {
    const monitor = await monitorVip(lab(), { maxSeconds: 300 });
    const w = startWatches(lab(), { clients: 6 });
    await sleep(2_000);
    writeLabInventory(lab(), inv, { vars: { haproxy_timeout_connect: '6s', track_apiserver: true } });
    const r = await kha(['upgrade', '-i', inv, '--serial', '1', '--json', '--log-file', logFile('upgrade-handover')], { timeoutMs: 4 * 60_000 });
    await sleep(2_000);
    const sum = await w.stop();
    const exact = await monitor.stop();
    const rep = parseJson<UpgradeReport>(r).result;
    console.log(
      `[watch] planned handover m1 -> ${rep?.handover?.to} and back (${secs(r.ms)}): ${vipGains(exact)} VIP gains, longest time without a holder ${s1(exact.longestGapMs)}; ` +
        `${sum.reconnects} reconnects (${JSON.stringify(sum.reasons)}), longest gap per client ${sum.longestGapMs.map(s1).join(', ')}`,
    );
    expect(r.code, showRun(r)).toBe(0);
    expect(rep?.handover?.from).toBe('m1');
    expect(rep?.holderAfter).toBe('m1');
    // the VIP moved (at least the handover and the way back): the streams through the holder of the moment were cut and came back
    expect(vipGains(exact)).toBeGreaterThanOrEqual(2);
    expect(sum.reconnects).toBeGreaterThan(0);
    // a reconnect needs a holder: 2 s from the cut, plus the longest time no host held the VIP
    expect(sum.worstGapMs).toBeLessThanOrEqual(2_000 + exact.longestGapMs);
  });

  test('a hung apiserver (SIGSTOP): its watches are cut once haproxy marks it down (on-marked-down shutdown-sessions) and move to live ones', async () => {
    const w = startWatches(lab(), { clients: 6 });
    await sleep(2_000);
    const onM2 = w.clients.filter((c) => c.backends[c.backends.length - 1] === 'm2');
    expect(onM2.length, 'roundrobin puts some of 6 watches on m2').toBeGreaterThan(0);
    const t0 = Date.now();
    await sh(lab(), 'm2', ['systemctl', 'kill', '-s', 'STOP', 'kha-standin-apiserver']);
    try {
      // until every watch that was on m2 has a line from another apiserver
      const deadline = t0 + 60_000;
      while (Date.now() < deadline && !onM2.every((c) => c.backends.length > 1 && c.lines[c.lines.length - 1]! > t0)) await sleep(200);
      const now = Date.now();
      const sum = await w.stop();
      const quiet = onM2.map((c) => gapsBetween(c, t0, now));
      // the budget: the next check (inter 2 s), then fall 3 checks that each wait timeout check 5 s, fastinter 500 ms apart
      const budget = 2_000 + 3 * 5_000 + 2 * 500 + 2_000;
      console.log(
        `[watch] m2's apiserver hung: ${onM2.length} watches on it, each without data for ${quiet.map(s1).join(', ')} (budget ${s1(budget)}), then on ${onM2.map((c) => c.backends[c.backends.length - 1]).join(', ')}; reasons ${JSON.stringify(sum.reasons)}`,
      );
      for (const c of onM2) expect(c.backends[c.backends.length - 1]).not.toBe('m2');
      for (const q of quiet) expect(q).toBeLessThanOrEqual(budget);
      // the watches on live apiservers never noticed: no stream ended, no silence near the hung ones'
      const others = sum.clients.filter((c) => !onM2.includes(c));
      for (const c of others) {
        expect(
          c.ends.filter((e) => e.t >= t0),
          `watch ${c.id} on ${c.backends.join('>')}`,
        ).toEqual([]);
        expect(gapsBetween(c, t0, now)).toBeLessThan(LIVE_STALL_MS);
      }
    } finally {
      await sh(lab(), 'm2', ['systemctl', 'kill', '-s', 'CONT', 'kha-standin-apiserver']);
    }
    // m2 back up in every haproxy before the next test
    let up: number[] = [];
    for (let i = 0; i < 30; i++) {
      const st = await kha(['status', '-i', inv, '--json']);
      up = (parseJson<{ hosts: Array<{ backendsUp: number }> }>(st).result?.hosts ?? []).map((h) => h.backendsUp);
      if (up.length === 3 && up.every((n) => n === 3)) break;
      await sleep(1_000);
    }
    expect(up).toEqual([3, 3, 3]);
  });

  test("the VIP moves while the old holder's haproxy runs: idle watches learn it from haproxy's TCP keepalive within idle 10 s + slack", async () => {
    // one line, then silence: an idle watch; the client itself has no TCP keepalive
    const w = startWatches(lab(), { clients: 4, everyMs: 600_000 });
    await sleep(1_500);
    expect(w.clients.every((c) => c.lines.length === 1)).toBe(true);
    const t0 = Date.now();
    await sh(lab(), 'm1', ['systemctl', 'stop', 'keepalived']);
    try {
      const moved = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] !== 'm1', performance.now(), 10_000);
      expect(moved.holders).toHaveLength(1);
      const deadline = t0 + 40_000;
      while (Date.now() < deadline && !w.clients.every((c) => c.ends.length > 0)) await sleep(200);
      const sum = await w.stop();
      const noticed = sum.clients.map((c) => (c.ends[0] ? c.ends[0].t - t0 : null));
      console.log(
        `[watch] VIP m1 -> ${moved.holders[0]} (keepalived stopped, haproxy running): idle watches noticed after ${noticed.map((n) => (n === null ? 'never' : s1(n))).join(', ')} (${JSON.stringify(sum.reasons)})`,
      );
      // clitcpka-idle 10 s after the last byte (the line at connect, 1.5 s before), one probe, the RST
      for (const n of noticed) {
        expect(n).not.toBeNull();
        expect(n!).toBeLessThanOrEqual(15_000);
      }
    } finally {
      await sh(lab(), 'm1', ['systemctl', 'start', 'keepalived']);
    }
    const back = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm1', performance.now(), 30_000, 200);
    expect(back.holders).toEqual(['m1']);
  });
});
