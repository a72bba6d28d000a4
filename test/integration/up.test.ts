// `kha up` against real systemd + sshd containers (the lab): keepalived + haproxy installed over
// SSH, the primary first, the others in serial batches, the VIP verified from outside.
//
// This file: 3 masters, one lab shared by the tests IN ORDER: bad settings on the FRESH lab (nothing
// may be installed afterwards) -> up -> no-change rerun -> failover (keepalived, then haproxy) ->
// a rerun that changes keepalived.conf. Also: up-serial.test.ts (5 masters, start order),
// up-unicast.test.ts (vrrp_unicast). One lab per file: useLab in a second describe of the same
// file trips test/helpers/lab.ts (stale currentTestName -> onTestFinished outside a test).
// Observations go through `docker exec` (lab.exec), never through kha itself. Network traffic
// from this process goes only to lab addresses (the hosts and the VIP on the lab's bridge).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { useLab } from '../helpers/lab.js';
import type { Lab } from '../helpers/lab.js';
import { errorLines, jsonChanged, outputProblems, runUp, secs, showRun, upLab as up } from '../helpers/cli.js';
import { ADVERT_INT_S, bodiesThroughVip, installed, journalAtUs, mainPid, readyz, sh, vipHolders, waitHolders } from '../helpers/hosts.js';
import { writeInv, type InvOptions } from '../helpers/inventories.js';

/**
 * Polling through `docker exec` adds its own latency (3 execs per round; more on a loaded machine),
 * so the polled time is an upper bound. The exact time is in the new holder's journal ("Entering
 * MASTER STATE"); the containers share this machine's clock. The limit applies to the journal time,
 * the polled time gets this much slack on top.
 */
const POLL_SLACK_MS = 1_000;

/** run `argv` on m1 (the holder), poll every 100 ms until only `to` holds the VIP */
async function failover(lab: Lab, argv: string[], to: string, limitMs: number) {
  const t0Us = Date.now() * 1000;
  const t0 = performance.now();
  await sh(lab, 'm1', argv);
  const moved = await waitHolders(lab, (hs) => hs.length === 1 && hs[0] === to, t0, limitMs + 10_000);
  const masterAt = (await journalAtUs(lab, to, /Entering MASTER STATE/)).filter((t) => t >= t0Us);
  return {
    holders: moved.holders,
    polledMs: moved.ms,
    journalMs: masterAt.length ? Math.round((masterAt[0]! - t0Us) / 1000) : Number.POSITIVE_INFINITY,
  };
}

// ---------------------------------------------------------------------------------------------

describe('kha up, 3 masters: bad settings change nothing; up; rerun; failover', () => {
  const lab = useLab(3, { aptCache: true });
  let invFile = '';

  // Bad settings run FIRST, on the fresh lab: afterwards nothing may be installed or written.
  const bad: Array<{ name: string; inv: InvOptions; exit: number; says: RegExp[]; secret?: string }> = [
    { name: 'VIP outside the subnet', inv: { vars: { vip: '10.255.255.250' } }, exit: 5, says: [/10\.255\.255\.250/, /subnet/] },
    {
      name: 'duplicate priority',
      inv: { hostVars: { m1: { priority: 250 }, m2: { priority: 250 } } },
      exit: 4,
      says: [/\bm1\b/, /\bm2\b/, /priority 250/, /unique/],
    },
    { name: 'VRID 0', inv: { vars: { virtual_router_id: 0 } }, exit: 4, says: [/virtual_router_id/, /1 to 255/] },
    { name: '9-character auth pass', inv: { vars: { vrrp_auth_pass: 'abcd12345' } }, exit: 4, says: [/vrrp_auth_pass/, /8 characters/], secret: 'abcd12345' },
    { name: 'missing interface', inv: { vars: { vrrp_interface: 'eth9' } }, exit: 5, says: [/eth9/, /does not exist/] },
  ];
  for (const b of bad) {
    test(`bad setting, ${b.name}: exit ${b.exit}, one error line, no host changed`, async () => {
      const file = writeInv(lab(), `bad-${b.name.replace(/\W+/g, '-')}`, b.inv);
      const r = await up(lab(), file);
      const errs = errorLines(r.stderr);
      console.log(`[bad setting: ${b.name}] exit ${r.code} in ${r.ms} ms; stderr error line(s):\n  ${errs.join('\n  ')}`);
      expect(r.code, showRun(r)).toBe(b.exit);
      expect(errs, showRun(r)).toHaveLength(1);
      for (const re of b.says) expect(errs[0]).toMatch(re);
      if (b.secret) expect(r.stdout + r.stderr).not.toContain(b.secret);
      // nothing was installed, written or started on any host
      expect(r.stdout).not.toMatch(/==> Install/);
      for (const h of lab().hosts) {
        expect(await installed(lab(), h.name, 'keepalived'), `${h.name}: keepalived installed after '${b.name}'`).toBe(false);
        expect(await installed(lab(), h.name, 'haproxy'), `${h.name}: haproxy installed after '${b.name}'`).toBe(false);
        for (const f of ['/etc/keepalived', '/etc/systemd/system/haproxy.service.d', '/etc/tmpfiles.d/haproxy.conf']) {
          expect((await lab().exec(h.name, ['test', '-e', f])).code, `${h.name}: ${f} exists after '${b.name}'`).not.toBe(0);
        }
        expect((await lab().exec(h.name, ['id', '-u', 'keepalived_script'])).code).not.toBe(0);
      }
    });
  }

  const pids: Record<string, { keepalived: number; haproxy: number }> = {};

  test('up: exit 0, the VIP on the primary (m1) only, VIP:8443 reaches every master', async () => {
    invFile = writeInv(lab(), 'hosts');
    expect(await vipHolders(lab())).toEqual([]);
    const r = await up(lab(), invFile);
    console.log(`[timing] kha up, 3 fresh hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toMatch(/==> Verify/);
    // the first converge says how much of it apt took (#21)
    const apt = /time in apt \(update and install on m1, m2, m3, at once\): (\d+\.\d) s of this run's (\d+\.\d) s/.exec(r.stdout);
    expect(apt, r.stdout).not.toBeNull();
    console.log(`[timing] ${apt![0]}`);
    expect(Number(apt![1])).toBeGreaterThan(1);
    expect(Number(apt![1])).toBeLessThan(Number(apt![2]));

    expect(await vipHolders(lab())).toEqual(['m1']);
    const { statuses, bodies } = await bodiesThroughVip(lab(), 12);
    console.log(`[VIP:8443] 12 fresh connections answered by: ${bodies.join(', ')}`);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(new Set(bodies)).toEqual(new Set(['ok m1', 'ok m2', 'ok m3']));

    for (const h of lab().hosts) {
      pids[h.name] = { keepalived: await mainPid(lab(), h.name, 'keepalived'), haproxy: await mainPid(lab(), h.name, 'haproxy') };
      expect(pids[h.name]!.keepalived, h.name).toBeGreaterThan(0);
      expect(pids[h.name]!.haproxy, h.name).toBeGreaterThan(0);
      expect((await sh(lab(), h.name, ['systemctl', 'is-enabled', 'keepalived', 'haproxy'])).split('\n').slice(0, 2)).toEqual(['enabled', 'enabled']);
    }
  });

  test('a second kha up --json changes nothing, restarts nothing, the VIP stays on m1', async () => {
    expect(Object.keys(pids)).toHaveLength(3); // the up test ran
    const r = await up(lab(), invFile, { json: true });
    console.log(`[timing] kha up rerun (no change), 3 hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    const { changed, doc } = jsonChanged(r);
    expect(outputProblems(doc), showRun(r)).toEqual([]);
    expect(Object.keys(doc.recap).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(changed, JSON.stringify(doc.recap)).toBe(0);
    expect(doc.result?.changed).toBe(false);
    expect(doc.result?.holder).toBe('m1');
    expect(await vipHolders(lab())).toEqual(['m1']);
    for (const h of lab().hosts) {
      expect(await mainPid(lab(), h.name, 'keepalived'), `${h.name} keepalived restarted`).toBe(pids[h.name]!.keepalived);
      expect(await mainPid(lab(), h.name, 'haproxy'), `${h.name} haproxy restarted`).toBe(pids[h.name]!.haproxy);
    }
    // the lock rode in the Plan's round trip and was given back (a converged run changes nothing)
    for (const h of lab().hosts) expect((await lab().exec(h.name, ['test', '-e', '/run/kha.lock'])).code, `${h.name} /run/kha.lock left`).toBe(1);
  });

  test("another run's lock on m2: kha up refuses (exit 5) naming m2 and its holder, changes nothing, leaves that lock and takes none", async () => {
    const theirs = `${JSON.stringify({ holder: 'bob@ops2', pid: 777, started: new Date().toISOString(), command: 'upgrade' })}\n`;
    await sh(lab(), 'm2', ['sh', '-c', `printf '%s' "$0" > /run/kha.lock`, theirs]);
    try {
      const r = await up(lab(), invFile);
      expect(r.code, showRun(r)).toBe(5);
      expect(errorLines(r.stderr)).toEqual([
        expect.stringMatching(
          /^error: m2 is locked by bob@ops2 \(pid 777, kha upgrade, started .*\): nothing was changed; if that run is over, rerun with --break-lock$/,
        ),
      ]);
      expect(await sh(lab(), 'm2', ['cat', '/run/kha.lock'])).toBe(theirs);
      for (const h of ['m1', 'm3']) expect((await lab().exec(h, ['test', '-e', '/run/kha.lock'])).code, `${h} /run/kha.lock left`).toBe(1);
      expect(await vipHolders(lab())).toEqual(['m1']);
    } finally {
      await sh(lab(), 'm2', ['rm', '-f', '/run/kha.lock']);
    }
  });

  test('failover: keepalived stopped on the holder -> m2 within 3 x advert_int + 1 s; back to m1 after restart', async () => {
    expect(await vipHolders(lab())).toEqual(['m1']);
    const limit = 3 * ADVERT_INT_S * 1000 + 1000;
    const moved = await failover(lab(), ['systemctl', 'stop', 'keepalived'], 'm2', limit);
    console.log(
      `[failover] keepalived stopped on m1: m2 MASTER after ${moved.journalMs} ms (its journal), VIP seen on ${moved.holders.join(',') || 'nobody'} by polling after ${moved.polledMs} ms (limit ${limit} ms)`,
    );
    expect(moved.holders).toEqual(['m2']);
    expect(moved.journalMs).toBeLessThanOrEqual(limit);
    expect(moved.polledMs).toBeLessThanOrEqual(limit + POLL_SLACK_MS);

    const t1 = performance.now();
    await sh(lab(), 'm1', ['systemctl', 'start', 'keepalived']);
    const back = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm1', t1, 20_000, 200);
    console.log(`[failover] keepalived started on m1 again: VIP back on ${back.holders.join(',')} after ${back.ms} ms (preemption)`);
    expect(back.holders).toEqual(['m1']);
  });

  test('failover: haproxy stopped on the holder -> m2 within 3 s (FAULT through the track_file, not the check); back after restart', async () => {
    expect(await vipHolders(lab())).toEqual(['m1']);
    // (m1 holding the VIP again implies its check passes: init_fail would keep it below m2)
    // haproxy's unit writes the track_file: FAULT, a priority-0 advert, m2 takes over within the skew time
    const limit = 3000;
    const moved = await failover(lab(), ['systemctl', 'stop', 'haproxy'], 'm2', limit);
    console.log(
      `[failover] haproxy stopped on m1: m2 MASTER after ${moved.journalMs} ms (its journal), VIP seen on ${moved.holders.join(',') || 'nobody'} by polling after ${moved.polledMs} ms (limit ${limit} ms)`,
    );
    expect(moved.holders).toEqual(['m2']);
    expect(moved.journalMs).toBeLessThanOrEqual(limit);
    expect(moved.polledMs).toBeLessThanOrEqual(limit + POLL_SLACK_MS);
    // the new holder serves: VIP:8443 answers (m1's apiserver stand-in is still a healthy backend)
    expect((await readyz(lab().vip, 8443)).status).toBe(200);

    const t1 = performance.now();
    await sh(lab(), 'm1', ['systemctl', 'start', 'haproxy']);
    const back = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm1', t1, 30_000, 200);
    console.log(`[failover] haproxy started on m1 again: VIP back on ${back.holders.join(',')} after ${back.ms} ms`);
    expect(back.holders).toEqual(['m1']);
    expect((await readyz(lab().vip, 8443)).status).toBe(200);
  });

  // Regression test (fixed in src/actions/up.ts): on a rerun that changes keepalived.conf, the primary's
  // "restart keepalived" handler runs at the END of the start-primary play, i.e. after the VIP
  // wait and the check wait already passed against the OLD keepalived; the restart then hands the
  // VIP to m2 for a moment and startOthers takes `expected` from whoever holds it right then (m2),
  // so batch 1 fails with "the VIP moved while starting m2: held by m1, expected m2" (exit 2).
  // The fix: restarts run (flush_handlers) before the waits, and the others expect the primary.
  test('a rerun that changes keepalived.conf everywhere (m3 priority 100) restarts each host and ends with the VIP on m1', async () => {
    expect(await vipHolders(lab())).toEqual(['m1']);
    const before = Object.fromEntries(await Promise.all(lab().hosts.map(async (h) => [h.name, await mainPid(lab(), h.name, 'keepalived')] as const)));
    const file = writeInv(lab(), 'hosts-m3-prio', { hostVars: { m3: { priority: 100 } } });
    const r = await up(lab(), file);
    console.log(`[config change rerun] exit ${r.code} in ${secs(r.ms)}; stderr: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await sh(lab(), 'm3', ['cat', '/etc/keepalived/keepalived.conf'])).toMatch(/^\s*priority 100$/m);
    for (const h of lab().hosts) expect(await mainPid(lab(), h.name, 'keepalived'), `${h.name} not restarted`).not.toBe(before[h.name]);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });

  // Secrets (#14): a rotated vrrp_auth_pass must not leak. Only the current value is known to the
  // masker, so the old one must never enter kha at all: the file is compared by a keyed hash and
  // diffed redacted ON THE HOST, the VRRP signature is computed there, keepalived's SIGUSR1 dump is
  // removed after reading. Checked with everything turned up: -vv --diff --json and a log file.
  test('rotating vrrp_auth_pass with -vv --diff --json: neither value appears in stdout, stderr, the log or a file kha left', async () => {
    const OLD = 'OldPw123';
    const NEW = 'NewPw456';
    const oldInv = writeInv(lab(), 'hosts-auth-old', { vars: { vrrp_auth_pass: OLD } });
    const first = await up(lab(), oldInv);
    expect(first.code, showRun(first)).toBe(0);
    const newInv = writeInv(lab(), 'hosts-auth-new', { vars: { vrrp_auth_pass: NEW } });
    const logFile = `${newInv}.rotate.log`;
    const r = await runUp({ inventory: newInv, knownHosts: lab().knownHostsFile, json: true, logFile, extra: ['-vv', '--diff'] });
    expect(r.code, showRun(r)).toBe(0);
    for (const h of lab().hosts) expect(await sh(lab(), h.name, ['cat', '/etc/keepalived/keepalived.conf'])).toContain(`auth_pass ${NEW}`);
    expect(await vipHolders(lab())).toEqual(['m1']);
    // the diff was shown, redacted: the task says what changed without a value
    const doc = JSON.parse(r.stdout) as { tasks: Array<{ host: string; task: string; diff?: string }> };
    const diffs = doc.tasks.filter((t) => t.task.includes('/etc/keepalived/keepalived.conf') && t.diff).map((t) => t.diff!);
    expect(diffs.length, r.stdout.slice(0, 2000)).toBe(3);
    for (const d of diffs) expect(d).toMatch(/only a secret value \(auth_pass\) changed/);
    const log = fs.readFileSync(logFile, 'utf8');
    // the log really holds the run at -vv: the commands and their output
    expect(log).toMatch(/"type":"command"/);
    let sinks = 0;
    for (const [name, text] of [
      ['stdout', r.stdout],
      ['stderr', r.stderr],
      ['log file', log],
    ] as const) {
      sinks++;
      expect(text, `${name} holds the old password`).not.toContain(OLD);
      expect(text, `${name} holds the new password`).not.toContain(NEW);
    }
    // every file kha wrote on this machine (the lab's state dir holds the inventories, which name the values)
    for (const f of fs.readdirSync(lab().stateDir).filter((x) => x.endsWith('.log'))) {
      sinks++;
      const text = fs.readFileSync(path.join(lab().stateDir, f), 'utf8');
      expect(text, f).not.toContain(OLD);
      expect(text, f).not.toContain(NEW);
    }
    // on the hosts: no keepalived dump left in /tmp, the applied records root-only, no copy of a
    // value outside keepalived.conf and its 0600 rollback copy
    for (const h of lab().hosts) {
      expect((await lab().exec(h.name, ['test', '-e', '/tmp/keepalived.data'])).code, `${h.name}: /tmp/keepalived.data left behind`).not.toBe(0);
      expect((await sh(lab(), h.name, ['sh', '-c', 'stat -c "%a %U" /run/kha/*.applied'])).trim().split('\n')).toEqual(['600 root', '600 root']);
      expect((await sh(lab(), h.name, ['stat', '-c', '%a %U', '/etc/keepalived/keepalived.conf.kha-prev'])).trim()).toBe('600 root');
      const found = await lab().exec(h.name, ['grep', '-rlsE', `${OLD}|${NEW}`, '/tmp', '/var/tmp', '/run', '/root', '/home']);
      expect(found.stdout.trim(), `${h.name}: files holding a password`).toBe('');
      sinks++;
    }
    console.log(
      `[secrets] rotation with -vv --diff --json: ${sinks} sinks checked (stdout, stderr, the log, every .log kha wrote, and /tmp /var/tmp /run /root /home on each host), no value found`,
    );
  });
});
