// A host that dies in the middle of its batch (docker kill: no clean shutdown, like a power cut),
// on a 5-master lab: first during the "start the others" batches of a fresh kha up, then during
// a kha upgrade --serial 1 roll. What must hold: the roll stops, the exit code says unreachable
// (3), the report lists done / failed / untouched, untouched hosts keep their config byte for byte,
// exactly one host holds the VIP and VIP:8443 answers, and once the host is back a rerun converges.
//
// To kill the host while its batch really runs (not after it), the victim's batch is made slower
// on purpose: a systemd drop-in that sleeps after haproxy starts (kha up), a haproxy wrapper that
// sleeps before a config check (kha upgrade). The kill is sent when kha prints that host's batch.
//
// Order: the two tests share one 5-host lab: the upgrade kill needs the cluster the kha up test
// converged.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import type { UpgradeReport } from '../../src/actions/upgrade.js';
import { writeLabInventory, type Lab } from '../../src/lab/lab.js';
import { kha, outputProblems, parseJson, readLog, runKha, secs, showRun, type KhaRun } from '../helpers/cli.js';
import { haproxyCfg, httpsGet, sh, unitState, vipHolders } from '../helpers/hosts.js';
import { useLab } from '../helpers/lab.js';

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
    await sh(l, 'm4', [
      'sh',
      '-c',
      'mkdir -p /etc/systemd/system/haproxy.service.d && printf "[Service]\\nExecStartPost=/bin/sleep 6\\n" > /etc/systemd/system/haproxy.service.d/zz-kha-test-slow.conf',
    ]);
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
    console.log(
      `[kill] kha up --serial 1, m4 killed during its batch: kha exited ${secs(Date.now() - killedAt)} after the kill, total ${secs(r.ms)} (exit ${r.code})`,
    );
    expect(killing, `the batch line for m4 never came\n${showRun(r)}`).toBeDefined();
    expect(await running(l, 'm4')).toBe(false);
    expect(r.code, showRun(r)).toBe(3);
    // the batches before m4 ran, none after it; m4 is reported unreachable with the lost connection
    const batches = r.stdout
      .split('\n')
      .filter((x) => /^\s*batch \d+\/\d+:/.test(x))
      .map((x) => x.trim());
    expect(batches.slice(-3), showRun(r)).toEqual(['batch 1/4: m2', 'batch 2/4: m3', 'batch 3/4: m4']);
    expect(r.stdout, showRun(r)).toMatch(/m4: unreachable .*(connection .* was lost|cannot connect|handshake|no answer)/);
    console.log(
      `[kill] ${r.stdout
        .split('\n')
        .find((x) => /m4: unreachable/.test(x))
        ?.trim()}`,
    );
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
    expect(outputProblems(parseJson(r2)), showRun(r2)).toEqual([]);
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
    await sh(l, 'm3', [
      'sh',
      '-c',
      `mv /usr/sbin/haproxy /usr/sbin/haproxy.real && cat > /usr/sbin/haproxy <<'EOF'\n${wrapper}EOF\nchmod 755 /usr/sbin/haproxy`,
    ]);

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
    console.log(
      `[kill] kha upgrade --serial 1, m3 killed during its batch: kha exited ${secs(Date.now() - killedAt)} after the kill, total ${secs(r.ms)} (exit ${r.code})`,
    );
    expect(killing, `the batch line for m3 never came\n${showRun(r)}`).toBeDefined();
    expect(r.code, showRun(r)).toBe(3);
    const batches = r.stdout
      .split('\n')
      .filter((x) => /^\s*batch \d+\/\d+:/.test(x))
      .map((x) => x.trim());
    expect(batches, showRun(r)).toEqual(['batch 1/5: m2', 'batch 2/5: m3']);
    expect(r.stdout, showRun(r)).toMatch(/m3: unreachable /);
    console.log(
      `[kill] ${r.stdout
        .split('\n')
        .find((x) => /m3: unreachable/.test(x))
        ?.trim()}`,
    );
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
