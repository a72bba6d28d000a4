// Bastions on real hosts: m2 and m3 accept SSH only from m1 (sshd `AllowUsers *@<m1>`), so kha
// reaches them only with m1 as a jump host. In order, on one lab (keepalived and haproxy
// preinstalled: this file is about the route, not about installing):
//   1. the restriction holds: a direct SSH login to m2 is refused, a direct `kha status` cannot
//      reach m2 or m3;
//   2. `kha up` with `ansible_ssh_common_args: -o ProxyJump=root@<m1>` on m2 and m3 converges
//      (exit 0, the VIP on m1); m2 and m3 see their logins come from m1;
//   3. a rerun through the bastion changes nothing, and logs in to m1 as a bastion once for both
//      hosts behind it;
//   4. `kha status --bastion root@<m1>` on the inventory without ProxyJump: healthy, m2 and m3
//      shown `via <m1>`, m1 itself reached directly;
//   5. the restriction lifted: the same rerun and status directly, for the timing comparison.
// kha runs with a HOME of its own (no ~/.ssh/config, no default keys, no agent): the lab's key,
// known_hosts and the inventory are all it uses, for the hosts and for the bastion alike. The
// lab's known_hosts holds every host's key by address, the bastion's (m1) included.
// Traffic from this process goes only to lab addresses (the hosts and the VIP on the lab bridge).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, test } from 'vitest';
import { TransportError } from '../../src/errors.js';
import { connect } from '../../src/transport/ssh.js';
import { jsonChanged, kha, outputProblems, parseJson, runUp, secs, showRun, type KhaRun } from '../helpers/cli.js';
import { bodiesThroughVip, sh, vipHolders, waitFor } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';
import { journalCursor, sshdJournal, useLab, type Lab } from '../helpers/lab.js';

const ONLY_FROM_M1 = '/etc/ssh/sshd_config.d/50-kha-test-only-from-m1.conf';
const BEHIND = ['m2', 'm3'];

describe('bastion: m2 and m3 reachable over SSH only through m1', () => {
  const lab = useLab(3, { aptCache: true, preinstalled: true });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-bastion-home-'));
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));
  const env = { HOME: home, SSH_AUTH_SOCK: '' };
  const timing: Record<string, number> = {};

  const addr = (name: string) => lab().hosts.find((h) => h.name === name)!.address;
  const labArgs = () => `-o UserKnownHostsFile=${lab().knownHostsFile} -o StrictHostKeyChecking=yes`;
  /** the lab's inventory; with `jump`, m2 and m3 go through root@<m1> (ansible_ssh_common_args) */
  const inventory = (name: string, jump: boolean) =>
    writeInv(lab(), name, {
      ...(jump ? { hostVars: Object.fromEntries(BEHIND.map((h) => [h, { ansible_ssh_common_args: `${labArgs()} -o ProxyJump=root@${addr('m1')}` }])) } : {}),
    });
  const status = (inv: string, extra: string[] = []) => kha(['status', '-i', inv, '--known-hosts', lab().knownHostsFile, ...extra], { env });
  /** kha status until it exits 0 (up to 15 s): a backend that just started is marked up after haproxy's own checks */
  const healthyStatus = async (inv: string, extra: string[] = []): Promise<KhaRun> => {
    const t0 = performance.now();
    for (;;) {
      const r = await status(inv, extra);
      if (r.code === 0 || performance.now() - t0 > 15_000) return r;
      await sleep(500);
    }
  };
  /** a direct SSH login to `host` as root with the lab's key, through kha's own transport */
  const directLogin = (host: string) =>
    connect(
      { name: host, address: addr(host), port: 22, user: lab().user, privateKeyFile: lab().keyFile, become: false, becomeUser: 'root' },
      { knownHostsFile: lab().knownHostsFile, sshConfigFile: path.join(home, 'no-ssh-config'), agentSocket: '', retries: 0, connectTimeoutMs: 10_000 },
    ).then(
      async (c) => {
        await c.close();
        return 'logged in';
      },
      (e: unknown) => (e instanceof TransportError ? `${e.code}: ${e.message}` : String(e)),
    );
  /** sshd's `Accepted publickey for root from <ip>` lines on a host since `cursor`: the client addresses */
  const loginsFrom = async (l: Lab, host: string, cursor: string): Promise<string[]> =>
    [...(await sshdJournal(l, host, cursor)).matchAll(/^Accepted publickey for \S+ from (\S+) /gm)].map((m) => m[1]!);

  test('1. the restriction holds: a direct login to m2 is refused, a direct kha status reaches only m1', async () => {
    const l = lab();
    for (const h of BEHIND) {
      await sh(l, h, ['sh', '-c', `printf 'AllowUsers *@%s\\n' "$1" > ${ONLY_FROM_M1} && sshd -t && systemctl reload ssh`, 'sh', addr('m1')]);
    }
    // the reload re-executes sshd: wait until it answers again, refusing this machine
    const refused = await waitFor(
      () => directLogin('m2'),
      (v) => v.startsWith('E_AUTH:'),
      15_000,
      500,
    );
    console.log(`[bastion] direct login to m2 after the restriction: ${refused.value}`);
    expect(refused.value).toMatch(/^E_AUTH: m2: authentication failed for user root at /);
    expect(await directLogin('m3')).toMatch(/^E_AUTH: m3: authentication failed/);
    expect(await directLogin('m1')).toBe('logged in');

    const plain = inventory('plain', false);
    const r = await status(plain, ['--json']);
    // one document that fits the schema, also when kha status fails (exit 3): the report is its result
    expect(outputProblems(parseJson(r)), showRun(r)).toEqual([]);
    const doc = parseJson<{ hosts: Array<{ name: string; reachable: boolean; error?: string }> }>(r).result!;
    expect(Object.fromEntries(doc.hosts.map((h) => [h.name, h.reachable])), showRun(r)).toEqual({ m1: true, m2: false, m3: false });
    // the row says why: sshd refuses this machine's login
    expect(doc.hosts.find((h) => h.name === 'm2')?.error, showRun(r)).toMatch(/^m2: authentication failed for user root at /);
    expect(r.code, showRun(r)).not.toBe(0);
  });

  test('2. kha up with -o ProxyJump=root@<m1> on m2 and m3: exit 0, the VIP on m1; m2 and m3 see logins from m1 only', async () => {
    const l = lab();
    const cursors = Object.fromEntries(await Promise.all(BEHIND.map(async (h) => [h, await journalCursor(l, h)] as const)));
    const inv = inventory('bastion', true);
    const r = await runUp({ inventory: inv, knownHosts: l.knownHostsFile }, { env });
    timing['up via bastion'] = r.ms;
    console.log(`[timing] kha up, 3 hosts (preinstalled), m2 and m3 via bastion m1: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout, showRun(r)).toContain(`m2, m3 via ${addr('m1')} (ansible_ssh_common_args)`);
    // the lab's ssh args are all read (UserKnownHostsFile, StrictHostKeyChecking=yes, ProxyJump): no warning
    expect(r.stdout + r.stderr, showRun(r)).not.toMatch(/warning: .*ansible_ssh_common_args/);
    expect(await vipHolders(l)).toEqual(['m1']);
    const { statuses } = await bodiesThroughVip(l, 6);
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (const h of BEHIND) {
      const from = await loginsFrom(l, h, cursors[h]!);
      expect(from.length, `${h}: logins during kha up`).toBeGreaterThan(0);
      expect(new Set(from), `${h}: every login came through m1`).toEqual(new Set([addr('m1')]));
    }
  });

  test('3. a rerun through the bastion changes nothing; m1 is logged in to once as the bastion of both', async () => {
    const l = lab();
    const cursors = Object.fromEntries(await Promise.all(l.hosts.map(async (h) => [h.name, await journalCursor(l, h.name)] as const)));
    const r = await runUp({ inventory: inventory('bastion', true), knownHosts: l.knownHostsFile, json: true }, { env });
    timing['rerun via bastion'] = r.ms;
    console.log(`[timing] kha up rerun (nothing to change), m2 and m3 via bastion m1: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    const { changed, doc } = jsonChanged(r);
    expect(changed, showRun(r)).toBe(0);
    expect(doc.messages.map((m) => m.text)).toContain(`m2, m3 via ${addr('m1')} (ansible_ssh_common_args)`);
    const logins = Object.fromEntries(await Promise.all(l.hosts.map(async (h) => [h.name, await loginsFrom(l, h.name, cursors[h.name]!)] as const)));
    console.log(
      `[bastion] logins during the rerun: ${Object.entries(logins)
        .map(([h, f]) => `${h} ${f.length} (from ${[...new Set(f)].join(', ')})`)
        .join('; ')}`,
    );
    // m1 is logged in to as a host and as the bastion: at most 2 logins. A bastion login per host
    // behind it would make 3 (m2 and m3 each log in once, through m1)
    const [m1, m2, m3] = [logins['m1']!.length, logins['m2']!.length, logins['m3']!.length];
    expect([m2, m3]).toEqual([1, 1]);
    expect(m1, 'logins to m1 (as a host, and once as the bastion of both)').toBeGreaterThanOrEqual(1);
    expect(m1, 'logins to m1 (as a host, and once as the bastion of both)').toBeLessThanOrEqual(2);
  });

  test('4. kha status --bastion root@<m1> (inventory without ProxyJump): healthy, m2 and m3 via m1, m1 direct', async () => {
    const plain = inventory('plain', false);
    const r = await healthyStatus(plain, ['--bastion', `root@${addr('m1')}`]);
    timing['status via bastion'] = r.ms;
    console.log(`[timing] kha status, m2 and m3 via --bastion m1: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    const row = (h: string) => r.stdout.split('\n').find((x) => x.startsWith(`${h} `)) ?? '';
    for (const h of BEHIND) expect(row(h), showRun(r)).toContain(`${addr(h)} via ${addr('m1')}`);
    expect(row('m1'), showRun(r)).not.toContain(' via ');
    const j = await status(plain, ['--bastion', `root@${addr('m1')}`, '--json']);
    const doc = parseJson<{ holders: string[]; hosts: Array<{ name: string; via?: string; reachable: boolean }> }>(j).result!;
    expect(doc.holders).toEqual(['m1']);
    expect(doc.hosts.map((h) => [h.name, h.reachable, h.via ?? null])).toEqual([
      ['m1', true, null],
      ['m2', true, addr('m1')],
      ['m3', true, addr('m1')],
    ]);
  });

  test('5. the restriction lifted: the same rerun and status directly (timing against the bastion runs)', async () => {
    const l = lab();
    for (const h of BEHIND) await sh(l, h, ['sh', '-c', `rm -f ${ONLY_FROM_M1} && sshd -t && systemctl reload ssh`]);
    const back = await waitFor(
      () => directLogin('m2'),
      (v) => v === 'logged in',
      15_000,
      500,
    );
    expect(back.value).toBe('logged in');
    const plain = inventory('plain', false);
    const r = await runUp({ inventory: plain, knownHosts: l.knownHostsFile, json: true }, { env });
    timing['rerun direct'] = r.ms;
    expect(r.code, showRun(r)).toBe(0);
    expect(jsonChanged(r).changed, showRun(r)).toBe(0);
    const s = await healthyStatus(plain);
    timing['status direct'] = s.ms;
    expect(s.code, showRun(s)).toBe(0);
    expect(s.stdout).not.toContain(' via ');
    console.log(`[timing] kha up rerun (nothing to change): direct ${secs(timing['rerun direct'])}, via bastion ${secs(timing['rerun via bastion'] ?? NaN)}`);
    console.log(`[timing] kha status: direct ${secs(timing['status direct'])}, via bastion ${secs(timing['status via bastion'] ?? NaN)}`);
  });
});
