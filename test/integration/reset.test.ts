// `kha reset` against real systemd + sshd containers, from the image WITHOUT keepalived and haproxy
// (kha installs them), one lab of 3 masters, the tests IN ORDER:
//   snapshot (packages, unit files, files) -> reset where kha never ran (no-op) -> up ->
//   reset --check --diff (nothing touched: hashes and pids the same) -> reset (the VIP served by
//   its holder until the holder's turn, the holder last) -> status says nothing managed ->
//   reset --purge -> the snapshot is EQUAL to the one before up -> up again converges -> rerun: 0.
// Observations go through `docker exec` (lab.exec) and the lab's addresses, never through kha.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { useLab, type Lab } from '../helpers/lab.js';
import { errorLines, kha, outputProblems, parseJson, recapTotal, secs, showRun, upLab as up } from '../helpers/cli.js';
import { mainPid, sh, tcpAccepts, unitState, vipHolders } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';

const HOSTS = ['m1', 'm2', 'm3'];
const AUTH_PASS = 'rst-pw01';

interface Snapshot {
  packages: string[];
  units: string[];
  files: string[];
}

/**
 * What must be the same before kha up and after kha reset --purge. Left out, because they change
 * without kha or because kha cannot keep them: the SSH host keys and machine-id (the brief), and
 * the backups and lock that every useradd/userdel/adduser writes next to the user database
 * (haproxy's own postinst runs adduser; Debian never deletes a package's system user on purge, so
 * /etc/passwd's content differs anyway: only the listing is compared).
 */
const LEFT_OUT = [/^\/etc\/ssh\/ssh_host_/, /^\/etc\/machine-id$/, /^\/etc\/(passwd|group|shadow|gshadow|subuid|subgid)-$/, /^\/etc\/\.pwd\.lock$/];

async function snapshot(lab: Lab, host: string): Promise<Snapshot> {
  const lines = (s: string) =>
    s
      .split('\n')
      .map((l) => l.trim().replace(/\s+/g, ' '))
      .filter(Boolean)
      .sort();
  // installed or config-files-left packages, with versions (dpkg -l's content, without its columns)
  const packages = lines(await sh(lab, host, ['sh', '-c', "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n' | grep -E '^.[^n]'"]));
  const units = lines(await sh(lab, host, ['systemctl', 'list-unit-files', '--no-legend', '--no-pager']));
  const files = lines(
    await sh(lab, host, [
      'sh',
      '-c',
      'find /etc /usr/local -xdev \\( -type f -o -type l -o -type d \\) -print; find /var/lib/kha /run/kha /run/kha.lock /run/keepalived-kha.state /run/kha-haproxy.down -print 2>/dev/null; true',
    ]),
  ).filter((f) => !LEFT_OUT.some((re) => re.test(f)));
  return { packages, units, files };
}

/** `- line` (gone) and `+ line` (new), for an assertion message */
function listDiff(before: string[], after: string[]): string[] {
  const a = new Set(after);
  const b = new Set(before);
  return [...before.filter((l) => !a.has(l)).map((l) => `- ${l}`), ...after.filter((l) => !b.has(l)).map((l) => `+ ${l}`)];
}

/** sha256 of every file kha writes, and the services' main pids: what --check must not change */
async function fingerprint(lab: Lab, host: string): Promise<string> {
  const files = await sh(lab, host, [
    'sh',
    '-c',
    'find /etc/keepalived /etc/haproxy /etc/systemd/system/haproxy.service.d /etc/tmpfiles.d /run/kha -type f -exec sha256sum {} + 2>/dev/null | sort; sha256sum /etc/hosts; true',
  ]);
  return `${files}keepalived ${await mainPid(lab, host, 'keepalived')} haproxy ${await mainPid(lab, host, 'haproxy')}`;
}

/** until stop(): every 100 ms, who holds the VIP and whether VIP:8443 takes a connection */
function watchVip(lab: Lab) {
  const samples: Array<{ ms: number; holders: string[]; answers: boolean }> = [];
  let done = false;
  const t0 = performance.now();
  const loop = (async () => {
    while (!done) {
      const [holders, answers] = await Promise.all([vipHolders(lab), tcpAccepts(lab.vip, 8443, 1_000)]);
      samples.push({ ms: Math.round(performance.now() - t0), holders, answers });
      await sleep(100);
    }
  })();
  return {
    samples,
    stop: async () => {
      done = true;
      await loop;
      return samples;
    },
  };
}

/**
 * When the unit last stopped (µs since the epoch), from systemd's own "Stopped" journal line: not
 * `systemctl show -p InactiveEnterTimestamp`, which is empty once systemd has unloaded the
 * disabled, inactive unit.
 */
async function stoppedAtUs(lab: Lab, host: string, unit: string): Promise<number> {
  const out = await sh(lab, host, ['journalctl', '-u', unit, '-o', 'short-unix', '--no-pager', '-q']);
  const stops = out.split('\n').filter((l) => /systemd\[1\]: Stopped /.test(l));
  const m = /^(\d+)\.(\d{6}) /.exec(stops.at(-1) ?? '');
  if (!m) throw new Error(`${host}: no "Stopped" line for ${unit} in its journal:\n${out.trim().split('\n').slice(-5).join('\n')}`);
  return Number(m[1]) * 1_000_000 + Number(m[2]);
}

describe('kha reset, 3 masters from the image without keepalived and haproxy', () => {
  const lab = useLab(HOSTS.length, { aptCache: true, preinstalled: false });
  let inv = '';
  const before: Record<string, Snapshot> = {};
  const reset = (...args: string[]) => kha(['reset', '-i', inv, '--known-hosts', lab().knownHostsFile, ...args]);

  test('snapshot, then a reset where kha never ran changes nothing', async () => {
    inv = writeInv(lab(), 'reset', { vars: { manage_etc_hosts: true, vrrp_auth_pass: AUTH_PASS } });
    for (const h of HOSTS) before[h] = await snapshot(lab(), h);
    expect(before.m1!.packages.some((p) => / keepalived /.test(p))).toBe(false);
    const r = await reset('--yes', '--json');
    console.log(`[timing] kha reset where kha never ran, 3 hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(outputProblems(parseJson(r)), showRun(r)).toEqual([]);
    expect(recapTotal(parseJson(r), 'changed'), showRun(r)).toBe(0);
    for (const h of HOSTS) expect(listDiff(before[h]!.files, (await snapshot(lab(), h)).files), h).toEqual([]);
  });

  test('up: the VIP on m1', async () => {
    expect(Object.keys(before)).toHaveLength(3);
    const r = await up(lab(), inv);
    console.log(`[timing] kha up, 3 fresh hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['m1']);
    const installed = await sh(lab(), 'm1', ['cat', '/var/lib/kha/installed']);
    console.log(`[record] /var/lib/kha/installed on m1: ${installed.trim().split('\n').join(' ')}`);
    expect(installed.split('\n')).toEqual(expect.arrayContaining(['haproxy', 'keepalived']));
    expect(await sh(lab(), 'm1', ['cat', '/var/lib/kha/users'])).toBe('keepalived_script\n');
  });

  test('reset --check --diff: every file listed, the secret masked, nothing touched (hashes, pids, the VIP)', async () => {
    const prints = await Promise.all(HOSTS.map((h) => fingerprint(lab(), h)));
    const r = await reset('--check', '--diff');
    console.log(`[timing] kha reset --check --diff, 3 hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    for (const f of [
      '/etc/keepalived/keepalived.conf',
      '/etc/haproxy/haproxy.cfg',
      '/etc/keepalived/kha-check-haproxy.sh',
      '/etc/systemd/system/haproxy.service.d/kha.conf',
    ]) {
      expect(r.stdout, showRun(r)).toContain(`remove ${f}`);
    }
    expect(r.stdout).toMatch(/load balancers, in this order: \[m2\] -> \[m3\] -> \[m1\] \(m1 holds the VIP/);
    expect(r.stdout).toContain('+++ /dev/null');
    expect(r.stdout).toContain('auth_pass ********');
    expect(r.stdout + r.stderr).not.toContain(AUTH_PASS);
    expect(await Promise.all(HOSTS.map((h) => fingerprint(lab(), h)))).toEqual(prints);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });

  test('reset: the hosts without the VIP first, the holder last; the VIP served until the holder goes; status: nothing managed', async () => {
    const watch = watchVip(lab());
    const r = await reset('--yes', '--serial', '1');
    const samples = await watch.stop();
    console.log(`[timing] kha reset, 3 hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(errorLines(r.stdout + r.stderr), showRun(r)).toEqual([]);
    expect(r.stdout).toContain('the VIP');
    expect(r.stdout).toContain('nothing managed by kha is left on m1, m2, m3');
    // m1 (the holder) stopped last
    const stopped = Object.fromEntries(await Promise.all(HOSTS.map(async (h) => [h, await stoppedAtUs(lab(), h, 'keepalived')] as const)));
    console.log(`[order] keepalived stopped at (ms after m2): ${HOSTS.map((h) => `${h} +${Math.round((stopped[h]! - stopped.m2!) / 1000)}`).join(', ')}`);
    expect(stopped.m1).toBeGreaterThan(stopped.m2!);
    expect(stopped.m1).toBeGreaterThan(stopped.m3!);
    // until it left m1, the VIP was on m1 alone and answered; it never went anywhere else
    const gone = samples.findIndex((s) => s.holders.length === 0);
    console.log(`[vip] ${samples.length} samples; the VIP left m1 after ${gone >= 0 ? samples[gone]!.ms : '?'} ms`);
    expect(gone, JSON.stringify(samples)).toBeGreaterThan(0);
    expect(samples.slice(0, gone).every((s) => s.holders.length === 1 && s.holders[0] === 'm1' && s.answers)).toBe(true);
    expect(samples.slice(gone).every((s) => s.holders.length === 0)).toBe(true);
    for (const h of HOSTS) {
      expect(await unitState(lab(), h, 'keepalived'), h).toEqual({ active: 'inactive', enabled: 'disabled' });
      expect(await unitState(lab(), h, 'haproxy'), h).toEqual({ active: 'inactive', enabled: 'disabled' });
      for (const f of [
        '/etc/keepalived/keepalived.conf',
        '/etc/haproxy/haproxy.cfg',
        '/etc/systemd/system/haproxy.service.d',
        '/etc/tmpfiles.d/haproxy.conf',
        '/run/kha',
      ]) {
        expect((await lab().exec(h, ['test', '-e', f])).code, `${h}: ${f} is still there`).not.toBe(0);
      }
      expect(await sh(lab(), h, ['cat', '/etc/hosts'])).not.toContain('kha managed block');
      // the packages stay, and so does the record --purge needs
      expect(await sh(lab(), h, ['cat', '/var/lib/kha/installed'])).toContain('keepalived');
    }
    const st = await kha(['status', '-i', inv, '--known-hosts', lab().knownHostsFile]);
    console.log(`[status after reset]\n${st.stdout}`);
    expect(st.code, showRun(st)).toBe(0);
    expect(st.stdout).toContain('nothing managed by kha on m1, m2, m3');
    expect(st.stdout).not.toContain('PROBLEM');
    const again = await reset('--yes', '--json');
    expect(again.code, showRun(again)).toBe(0);
    expect(recapTotal(parseJson(again), 'changed'), showRun(again)).toBe(0);
  });

  test('reset --purge: packages, unit files and files are what they were before kha up', async () => {
    const r = await reset('--yes', '--purge');
    console.log(`[timing] kha reset --purge, 3 hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toMatch(/--purge: purge keepalived|--purge: purge haproxy/);
    for (const h of HOSTS) {
      const after = await snapshot(lab(), h);
      const d = {
        packages: listDiff(before[h]!.packages, after.packages),
        units: listDiff(before[h]!.units, after.units),
        files: listDiff(before[h]!.files, after.files),
      };
      console.log(`[reset diff] ${h}: ${JSON.stringify(d)}`);
      expect(d.packages, `${h}: dpkg -l differs:\n${d.packages.join('\n')}`).toEqual([]);
      expect(d.units, `${h}: systemctl list-unit-files differs:\n${d.units.join('\n')}`).toEqual([]);
      expect(d.files, `${h}: files differ:\n${d.files.join('\n')}`).toEqual([]);
      expect((await lab().exec(h, ['id', '-u', 'keepalived_script'])).code, h).not.toBe(0);
    }
  });

  test('up after the reset converges as on fresh hosts, and a rerun changes nothing', async () => {
    const r = await up(lab(), inv);
    console.log(`[timing] kha up after reset --purge, 3 hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['m1']);
    const again = await up(lab(), inv, { json: true });
    console.log(`[timing] kha up rerun: ${secs(again.ms)}`);
    expect(again.code, showRun(again)).toBe(0);
    expect(recapTotal(parseJson(again), 'changed'), showRun(again)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });
});
