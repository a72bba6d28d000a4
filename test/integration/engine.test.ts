// The engine proven on real systemd hosts: `kha play` (the built CLI, as a subprocess) drives a
// 5-host lab over real SSH. Every test observes the hosts themselves (docker exec) besides what
// kha reports. One lab is shared by the whole file; each describe uses its own files on the hosts.
// Needs `npm run build` first (the tests run dist/ through bin/run.js).
//
// Order: the tests share one 5-host lab (started once) and run as written. Each describe uses its
// own files on the hosts; the one that stops m5 starts it again before it ends, so none depends on
// another's files; within a describe, a later test may start from the earlier one's files.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KHA_SUDO_PASSWORD, writeLabInventory } from '../../src/lab/lab.js';
import { outputProblems, runKha, runKhaJson, type JsonTask, type KhaJsonDoc, type KhaRun, type RunKhaOptions } from '../helpers/cli.js';
import { journalCursor, sshdJournal, sshdLines, useLab } from '../helpers/lab.js';
import { parseableKeyPair } from '../../src/transport/keygen.js';

const PLAYBOOKS = fileURLToPath(new URL('./playbooks/', import.meta.url));
const HOSTS = ['m1', 'm2', 'm3', 'm4', 'm5'];

const lab = useLab(5, { aptCache: true });

let tmp: string;
/** root login, the lab's known_hosts */
let inventory: string;
let runs = 0;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-engine-test-'));
  inventory = path.join(tmp, 'hosts.yaml');
  writeLabInventory(lab(), inventory);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface PlayOpts extends RunKhaOptions {
  inventory?: string;
  knownHosts?: string;
  logFile?: string;
}

/** `kha play -i INV PLAYBOOK --known-hosts KH --log-file LOG ...extra` */
function playArgs(playbook: string, extra: string[], o: PlayOpts): string[] {
  return [
    'play',
    '-i',
    o.inventory ?? inventory,
    path.join(PLAYBOOKS, playbook),
    '--known-hosts',
    o.knownHosts ?? lab().knownHostsFile,
    '--log-file',
    o.logFile ?? path.join(tmp, `run-${++runs}.log`),
    ...extra,
  ];
}

function play(playbook: string, extra: string[] = [], o: PlayOpts = {}): Promise<KhaRun> {
  return runKha(playArgs(playbook, extra, o), o);
}

function playJson(playbook: string, extra: string[] = [], o: PlayOpts = {}) {
  return runKhaJson(playArgs(playbook, extra, o), o);
}

/** `sh -c script` as root on a lab host (docker exec); throws on a non-zero exit */
async function sh(host: string, script: string): Promise<string> {
  const r = await lab().exec(host, ['sh', '-c', script]);
  if (r.code !== 0) throw new Error(`${host}: sh -c ${JSON.stringify(script)} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** exit code of `sh -c script` on a lab host */
async function status(host: string, script: string): Promise<number> {
  return (await lab().exec(host, ['sh', '-c', script])).code;
}

function onAll<T>(fn: (host: string) => Promise<T>, hosts = HOSTS): Promise<T[]> {
  return Promise.all(hosts.map(fn));
}

function tasksOf(doc: KhaJsonDoc, host: string, task?: string): JsonTask[] {
  return doc.tasks.filter((t) => t.host === host && (task === undefined || t.task === task));
}

/** the run, for assertion messages */
function show(r: KhaRun): string {
  return `exit ${r.code} after ${r.ms} ms\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

describe('package', () => {
  test('installs jq on every host (changed), then reports no change', { timeout: 240_000 }, async () => {
    // precondition: the image does not have it
    expect(await onAll((h) => status(h, 'test -e /usr/bin/jq'))).toEqual(HOSTS.map(() => 1));

    const first = await playJson('package.yaml');
    expect(first.code, show(first)).toBe(0);
    expect(outputProblems(first.json), show(first)).toEqual([]);
    for (const h of HOSTS) {
      expect(first.json.recap[h]).toMatchObject({ changed: 1, failed: 0, unreachable: 0 });
      expect(tasksOf(first.json, h).map((t) => [t.task, t.status])).toEqual([['install jq', 'changed']]);
    }
    const versions = await onAll((h) => sh(h, "jq --version && dpkg-query -W -f='${db:Status-Abbrev}' jq"));
    for (const v of versions) expect(v).toMatch(/^jq-1\.\d[^\n]*\nii/);

    const second = await playJson('package.yaml');
    expect(second.code, show(second)).toBe(0);
    for (const h of HOSTS) {
      expect(second.json.recap[h]).toMatchObject({ ok: 1, changed: 0, failed: 0 });
      const [t] = tasksOf(second.json, h);
      expect(t?.status).toBe('ok');
      expect(t?.why).toMatch(/^installed: jq 1\./);
    }
  });
});

describe('copy with validate', () => {
  const file = '/etc/kha-validate/app.conf';
  const leftovers = `find /etc/kha-validate /tmp -maxdepth 1 \\( -name '.app.conf.kha-*' -o -name '.kha-upload-*' \\) -print`;

  test('writes a validated file atomically and keeps the previous one as .kha-prev', { timeout: 120_000 }, async () => {
    const r = await playJson('copy-validate.yaml');
    expect(r.code, show(r)).toBe(0);
    for (const h of HOSTS) {
      expect(tasksOf(r.json, h).map((t) => [t.task, t.status, t.why])).toEqual([
        ['write app.conf v1', 'changed', 'missing'],
        ['write app.conf v2', 'changed', 'content differs'],
      ]);
    }
    for (const h of HOSTS) {
      expect(await sh(h, `cat ${file}`)).toBe('ok v2\n');
      expect(await sh(h, `stat -c '%a %U %F' ${file}`)).toBe('640 root regular file\n');
      expect(await sh(h, `cat ${file}.kha-prev`)).toBe('ok v1\n');
      expect(await sh(h, leftovers)).toBe('');
    }
  });

  test('content the validator rejects fails the task (exit 2) and leaves the old file untouched', { timeout: 120_000 }, async () => {
    const before = await onAll((h) => sh(h, `stat -c '%Y %i' ${file}; sha256sum ${file}`));
    const r = await playJson('copy-validate-bad.yaml');
    expect(r.code, show(r)).toBe(2);
    for (const h of HOSTS) {
      expect(r.json.recap[h]).toMatchObject({ failed: 1, changed: 0 });
      const [t] = tasksOf(r.json, h);
      expect(t?.status).toBe('failed');
      expect(t?.error).toContain('rejected by `grep -q ok %s`');
    }
    const after = await onAll((h) => sh(h, `stat -c '%Y %i' ${file}; sha256sum ${file}`));
    expect(after).toEqual(before);
    for (const h of HOSTS) {
      expect(await sh(h, `cat ${file}`)).toBe('ok v2\n');
      expect(await sh(h, `cat ${file}.kha-prev`)).toBe('ok v1\n');
      expect(await sh(h, leftovers)).toBe('');
    }
  });
});

describe('service and handler', () => {
  // the handler's event carries its name or (engine choice) what it does
  const HANDLER = ['restart sleeper', 'restart kha-sleeper'];
  const handlerRuns = (doc: KhaJsonDoc, h: string) => tasksOf(doc, h).filter((t) => HANDLER.includes(t.task));
  interface SvcState {
    pid: number;
    started: number;
    active: string;
  }
  async function svc(host: string): Promise<SvcState> {
    const out = await sh(host, 'systemctl show -p MainPID -p ExecMainStartTimestampMonotonic -p ActiveState kha-sleeper.service');
    const m = new Map(
      out
        .trim()
        .split('\n')
        .map((l) => l.split('=', 2) as [string, string]),
    );
    return { pid: Number(m.get('MainPID')), started: Number(m.get('ExecMainStartTimestampMonotonic')), active: m.get('ActiveState') ?? '' };
  }

  test('restarts only when notified: started, untouched on a no-change rerun, restarted once on a config change', { timeout: 180_000 }, async () => {
    const first = await playJson('service-v1.yaml');
    expect(first.code, show(first)).toBe(0);
    for (const h of HOSTS) expect(handlerRuns(first.json, h).map((t) => t.status)).toEqual(['changed']);
    const s1 = await onAll(svc);
    for (const s of s1) expect(s).toMatchObject({ active: 'active' });
    for (const s of s1) expect(s.pid).toBeGreaterThan(0);

    // nothing changed: no handler, same process
    const second = await playJson('service-v1.yaml');
    expect(second.code, show(second)).toBe(0);
    for (const h of HOSTS) {
      expect(second.json.recap[h]).toMatchObject({ changed: 0, ok: 4, failed: 0 });
      expect(handlerRuns(second.json, h)).toEqual([]);
    }
    expect(await onAll(svc)).toEqual(s1);

    // two changed files notify the same handler: it runs once, after the tasks
    const third = await playJson('service-v2.yaml');
    expect(third.code, show(third)).toBe(0);
    for (const h of HOSTS) {
      const events = tasksOf(third.json, h);
      expect(events.slice(0, 4).map((t) => [t.task, t.status])).toEqual([
        ['sleeper unit', 'ok'],
        ['sleeper started', 'ok'],
        ['sleeper config', 'changed'],
        ['sleeper extra config', 'changed'],
      ]);
      expect(events.slice(4).map((t) => [HANDLER.includes(t.task), t.status])).toEqual([[true, 'changed']]);
    }
    const s3 = await onAll(svc);
    s3.forEach((s, i) => {
      expect(s.active).toBe('active');
      expect(s.pid).not.toBe(s1[i]!.pid);
      expect(s.started).toBeGreaterThan(s1[i]!.started);
    });
  });
});

describe('wait_for', () => {
  test('the apiserver port holds; a port nothing listens on times out (failed, exit 2)', { timeout: 120_000 }, async () => {
    const r = await playJson('wait-for.yaml');
    expect(r.code, show(r)).toBe(2);
    for (const h of HOSTS) {
      const [ok, timedOut, ...rest] = tasksOf(r.json, h);
      expect(rest).toEqual([]);
      expect(ok).toMatchObject({ task: 'wait for the apiserver', status: 'ok' });
      expect(ok?.why).toMatch(/^held after/);
      expect(timedOut).toMatchObject({ task: 'wait for port 1', status: 'failed' });
      expect(timedOut?.error).toContain('timed out after 2 s');
      expect(timedOut?.ms).toBeGreaterThanOrEqual(2_000);
      expect(timedOut?.ms).toBeLessThan(8_000);
      expect(r.json.recap[h]).toMatchObject({ ok: 1, failed: 1 });
    }
  });

  test('the timeout bounds the wait: a 2 s wait_for probes for 2 s, not twice (plan phase + run)', { timeout: 120_000 }, async () => {
    const hosts = ['m1', 'm2']; // two hosts: the engine plans first (it skips that for one host)
    await onAll((h) => sh(h, 'rm -f /tmp/kha-wait-probes'), hosts);
    const r = await playJson('wait-for-once.yaml', ['--limit', hosts.join(',')]);
    expect(r.code, show(r)).toBe(2);
    for (const h of hosts) {
      expect(tasksOf(r.json, h).map((t) => [t.status, t.error?.includes('timed out after 2 s')])).toEqual([['failed', true]]);
      // every probe stamped its time on the host: they must all fall in one 2 s window
      const stamps = (await sh(h, 'cat /tmp/kha-wait-probes'))
        .trim()
        .split('\n')
        .map((x) => Number(BigInt(x) / 1_000_000n));
      const spanMs = stamps[stamps.length - 1]! - stamps[0]!;
      expect(spanMs, `${h}: ${stamps.length} probes over ${spanMs} ms`).toBeLessThan(3_500);
    }
  });
});

describe('serial', () => {
  test('serial "20%" over 5 hosts runs 5 batches of 1, one after the other', { timeout: 120_000 }, async () => {
    const r = await play('serial.yaml');
    expect(r.code, show(r)).toBe(0);
    const batchLines = r.stdout
      .split('\n')
      .filter((l) => /^\s*batch \d+\/\d+:/.test(l))
      .map((l) => l.trim());
    expect(batchLines).toEqual(HOSTS.map((h, i) => `batch ${i + 1}/5: ${h}`));
    // each host recorded when its task started and ended (ns, one kernel clock for all containers)
    const spans = await onAll(async (h) => {
      const [start, end] = (await sh(h, 'cat /tmp/kha-serial-ran'))
        .trim()
        .split('\n')
        .map((x) => BigInt(x));
      return { h, start: start!, end: end! };
    });
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i]!.start > spans[i - 1]!.end, `${spans[i]!.h} started before ${spans[i - 1]!.h} ended`).toBe(true);
    }
  });
});

describe('host key changed', () => {
  test('a changed host key is refused at once, not retried, and only for that host', { timeout: 120_000 }, async () => {
    const l = lab();
    const victim = l.hosts.find((h) => h.name === 'm3')!;
    // a known_hosts copy where m3's entry carries another (freshly generated) ed25519 key
    const other = parseableKeyPair().public.trim().split(/\s+/);
    const badKh = path.join(tmp, 'known_hosts.changed');
    const lines = fs.readFileSync(l.knownHostsFile, 'utf8').trim().split('\n');
    expect(lines.filter((x) => x.startsWith(`${victim.address} `))).toHaveLength(1);
    fs.writeFileSync(badKh, `${lines.map((x) => (x.startsWith(`${victim.address} `) ? `${victim.address} ${other[0]} ${other[1]}` : x)).join('\n')}\n`);
    // the inventory points at the same copy, so the test holds however the known_hosts file is chosen
    const badInv = path.join(tmp, 'hosts.changed.yaml');
    writeLabInventory(l, badInv, { vars: { ansible_ssh_common_args: `-o UserKnownHostsFile=${badKh} -o StrictHostKeyChecking=yes` } });

    const good = await play('hostkey.yaml');
    expect(good.code, show(good)).toBe(0); // the same play with the right known_hosts works

    const cursor = await journalCursor(l, 'm3');
    const badLog = path.join(tmp, 'hostkey-bad.log');
    const bad = await play('hostkey.yaml', ['-v'], { inventory: badInv, knownHosts: badKh, logFile: badLog });
    expect(bad.code, show(bad)).toBe(3);
    const out = bad.stdout + bad.stderr;
    expect(out).toMatch(new RegExp(`m3: unreachable .*host key for ${victim.address.replace(/\./g, '\\.')}:22 does not match`));
    expect(out).toContain('possible man-in-the-middle');
    expect(out).not.toMatch(/retrying/);
    for (const h of ['m1', 'm2', 'm4', 'm5']) expect(out).not.toMatch(new RegExp(`${h}: (unreachable|failed)`));
    // no backoff: m3's task (its connect included) took less than the retry delays alone (250 + 500 + 1000 ms)
    const events = fs
      .readFileSync(badLog, 'utf8')
      .trim()
      .split('\n')
      .map((x) => JSON.parse(x) as { type: string; host?: string; status?: string; ms?: number });
    const m3 = events.filter((e) => e.type === 'task' && e.host === 'm3');
    expect(m3.map((e) => e.status)).toEqual(['unreachable']);
    expect(m3[0]!.ms).toBeLessThan(1_750);

    // sshd on m3 saw the connections: count the distinct client ports from kha (via the gateway)
    const ports = async () => {
      const log = await sshdJournal(l, 'm3', cursor);
      return new Set([...log.matchAll(new RegExp(`from ${l.gateway.replace(/\./g, '\\.')} port (\\d+)`, 'g'))].map((m) => m[1]));
    };
    const deadline = Date.now() + 5_000;
    while ((await ports()).size === 0 && Date.now() < deadline) await sleep(200);
    await sleep(1_000); // let late journal lines arrive
    expect([...(await ports())], 'SSH connections to m3 during the run').toHaveLength(1);
  });
});

describe('become with sudo', () => {
  test('a non-root login writes root-owned files through sudo; the password never shows', { timeout: 120_000 }, async () => {
    const l = lab();
    const kinv = path.join(tmp, 'hosts.kha.yaml');
    writeLabInventory(l, kinv, { vars: { ansible_user: 'kha', ansible_become: true, ansible_become_password: KHA_SUDO_PASSWORD } });
    const logFile = path.join(tmp, 'become.log');

    // sample every host's process list while the play runs (its last task sleeps 3 s)
    let running = true;
    const snapshots: string[] = [];
    const sampler = (async () => {
      while (running) {
        snapshots.push(...(await onAll((h) => sh(h, 'ps -eo user,args --no-headers'))));
        await sleep(150);
      }
    })();
    let r: KhaRun;
    try {
      r = await play('become.yaml', ['-vv'], { inventory: kinv, logFile });
    } finally {
      running = false;
      await sampler;
    }
    expect(r.code, show(r)).toBe(0);

    for (const h of HOSTS) {
      expect(await sh(h, 'stat -c "%U:%G %a" /etc/kha-become/owned.conf')).toBe('root:root 640\n');
      expect(await sh(h, 'cat /etc/kha-become/owned.conf')).toBe('written through sudo\n');
      expect(await sh(h, 'cat /tmp/kha-become-whoami')).toBe('root\n');
      // the task's stdin was empty: the password went to sudo only
      expect(await sh(h, 'stat -c %s /tmp/kha-become-stdin')).toBe('0\n');
      expect(await sh(h, `ls -A /tmp | grep '^\\.kha-upload-' || true`)).toBe('');
    }
    // the login really was kha (sshd's record of the session)
    expect(await sshdLines(lab(), 'm1', /^Accepted publickey for kha /)).toBeGreaterThan(0);

    expect(r.stdout + r.stderr).not.toContain(KHA_SUDO_PASSWORD);
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain('root-owned file');
    expect(log).not.toContain(KHA_SUDO_PASSWORD);
    expect(
      snapshots.some((s) => /sleep 3/.test(s)),
      'a process snapshot during the long task',
    ).toBe(true);
    for (const s of snapshots) expect(s).not.toContain(KHA_SUDO_PASSWORD);
  });
});

describe('--check', () => {
  const snapshot = (h: string) =>
    sh(
      h,
      [
        `find /etc/kha-check -printf '%p %y %m %U %s %T@\\n' | sort`,
        'sha256sum /etc/kha-check/*.conf',
        'dpkg -s tree >/dev/null 2>&1 && echo tree installed || echo tree absent',
        `ls -A /etc/kha-check /tmp | grep 'kha-' || true`,
      ].join('; '),
    );

  test('reports what would change and changes nothing on the hosts', { timeout: 120_000 }, async () => {
    const setup = await play('check-setup.yaml');
    expect(setup.code, show(setup)).toBe(0);
    const before = await onAll(snapshot);
    for (const s of before) {
      expect(s).toContain('/etc/kha-check/a.conf f 644');
      expect(s).toContain('tree absent');
      expect(s).not.toContain('b.conf');
    }

    const r = await play('check.yaml', ['--check', '--diff']);
    expect(r.code, show(r)).toBe(0);
    for (const h of HOSTS) {
      const lines = r.stdout.split('\n').filter((l) => new RegExp(`^\\s+${h}: would change`).test(l));
      expect(lines.map((l) => l.replace(/^\s+\S+: would change\s+/, '').replace(/ \(.*$/, '')).sort()).toEqual(
        [
          'directory /etc/kha-check/dir',
          'install tree',
          'run touch /etc/kha-check/ran',
          'touch marker',
          'write /etc/kha-check/a.conf',
          'write /etc/kha-check/b.conf',
        ].sort(),
      );
    }
    expect(r.stdout).toContain('-a v1');
    expect(r.stdout).toContain('+a v2');
    expect(r.stdout).not.toMatch(/^\s+m\d: (changed|failed)/m);

    expect(await onAll(snapshot)).toEqual(before);
  });
});

describe('one kha run at a time: /run/kha.lock', () => {
  test(
    'a second kha play while one runs is refused naming the holder and changes nothing; the first releases the lock when done',
    { timeout: 180_000 },
    async () => {
      await onAll((h) => sh(h, 'rm -f /tmp/kha-lock-slow-ran /tmp/kha-lock-second-ran /run/kha.lock'));
      let firstPid = 0;
      const first = play('lock-slow.yaml', [], { onSpawn: (c) => (firstPid = c.pid ?? 0) });
      // the first run holds the lock on every host (its task sleeps 15 s)
      const deadline = Date.now() + 60_000;
      while ((await onAll((h) => status(h, 'test -e /run/kha.lock'))).some((c) => c !== 0)) {
        if (Date.now() > deadline) throw new Error(`the first run never locked every host:\n${show(await first)}`);
        await sleep(200);
      }
      const lock = JSON.parse(await sh('m1', 'cat /run/kha.lock')) as { holder: string; pid: number; started: string; command: string };
      const holder = `${os.userInfo().username}@${os.hostname()}`;
      expect(lock).toMatchObject({ holder, pid: firstPid, command: 'play' });

      const second = await play('lock-second.yaml', ['--yes']);
      expect(second.code, show(second)).toBe(5);
      const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const one = (h: string) => `${h} is locked by ${esc(holder)} \\(pid ${firstPid}, kha play, started ${esc(lock.started)}, [^)]+ ago\\)`;
      expect(second.stderr).toMatch(
        new RegExp(`^error: ${HOSTS.map(one).join('; ')}: nothing was changed; if that run is over, rerun with --break-lock$`, 'm'),
      );
      expect(second.stderr).toMatch(/^ {2}try: kha play --break-lock /m);
      expect(second.stdout).not.toMatch(/lock second/);
      expect(await onAll((h) => status(h, 'test -e /tmp/kha-lock-second-ran'))).toEqual(HOSTS.map(() => 1));
      // the refused run left the first run's lock as it was
      expect(JSON.parse(await sh('m1', 'cat /run/kha.lock'))).toEqual(lock);

      const r = await first;
      expect(r.code, show(r)).toBe(0);
      expect(await onAll((h) => status(h, 'test -e /tmp/kha-lock-slow-ran'))).toEqual(HOSTS.map(() => 0));
      expect(await onAll((h) => status(h, 'test -e /run/kha.lock'))).toEqual(HOSTS.map(() => 1));
    },
  );
});

describe('a host that is down', () => {
  test('m5 stopped: unreachable (exit 3); max_fail_percentage decides whether the others go on', { timeout: 300_000 }, async () => {
    const l = lab();
    await l.stopHost('m5');
    let dflt: Awaited<ReturnType<typeof playJson>>;
    let maxf: Awaited<ReturnType<typeof playJson>>;
    try {
      // one after the other: each run locks the hosts (/run/kha.lock), so a second one at the same
      // time would be refused; each waits out m5's connect retries while locking, then never dials it
      // again. A host that has just stopped still has this machine's ARP entry, so each try waits for
      // the connect timeout: 4 s here (4 tries) instead of the default 10 s.
      dflt = await playJson('down-default.yaml', ['--connect-timeout', '4']);
      maxf = await playJson('down-maxfail.yaml', ['--connect-timeout', '4']);
    } finally {
      await l.startHost('m5');
    }
    const up = ['m1', 'm2', 'm3', 'm4'];

    // default max_fail_percentage 0: m5's failure stops the run after the first play
    expect(dflt.code, show(dflt)).toBe(3);
    // the failure's document fits the schema too, its error naming the lost host
    expect(outputProblems(dflt.json), show(dflt)).toEqual([]);
    expect(dflt.json.error?.hosts).toContain('m5');
    expect(dflt.json.recap.m5).toMatchObject({ unreachable: 1, changed: 0, ok: 0 });
    expect(tasksOf(dflt.json, 'm5').map((t) => t.status)).toEqual(['unreachable']);
    // a stopped host: ARP fails (EHOSTUNREACH) or, when ARP is slow, the handshake times out first
    expect(tasksOf(dflt.json, 'm5')[0]?.error).toMatch(
      /m5: (cannot connect to [\d.]+:22: .*EHOSTUNREACH|SSH handshake with [\d.]+:22 did not complete within \d+ ms)/,
    );
    for (const h of up) expect(dflt.json.recap[h]).toMatchObject({ changed: 1, failed: 0, unreachable: 0 });
    const dPlays = (dflt.json.result as { plays: Array<{ play: string; stopped: boolean; stopReason?: string; unreachable: string[] }> }).plays;
    expect(dPlays.map((p) => [p.play, p.stopped])).toEqual([['down first', true]]);
    expect(dPlays[0]?.stopReason).toContain('max fail 0%');
    expect(dPlays[0]?.unreachable).toEqual(['m5']);
    expect(dflt.json.messages.some((m) => m.level === 'error' && m.text.includes('down first: stopped'))).toBe(true);
    expect(await onAll((h) => status(h, 'test -e /tmp/kha-down-default-p1'), up)).toEqual([0, 0, 0, 0]);
    expect(await onAll((h) => status(h, 'test -e /tmp/kha-down-default-p2'), up)).toEqual([1, 1, 1, 1]);

    // max_fail_percentage 20: one host of five may fail; both plays complete on the others
    expect(maxf.code, show(maxf)).toBe(3);
    expect(maxf.json.recap.m5).toMatchObject({ unreachable: 1, changed: 0 });
    for (const h of up) expect(maxf.json.recap[h]).toMatchObject({ changed: 2, failed: 0, unreachable: 0 });
    const mPlays = (maxf.json.result as { plays: Array<{ play: string; stopped: boolean }> }).plays;
    expect(mPlays.map((p) => [p.play, p.stopped])).toEqual([
      ['down first', false],
      ['down second', false],
    ]);
    expect(await onAll((h) => status(h, 'test -e /tmp/kha-down-maxfail-p1 && test -e /tmp/kha-down-maxfail-p2'), up)).toEqual([0, 0, 0, 0]);

    // m5 is back with its address and host key, untouched by both runs
    expect(await status('m5', 'test -e /tmp/kha-down-default-p1 || test -e /tmp/kha-down-maxfail-p1')).toBe(1);
    const again = await playJson('hostkey.yaml', ['--limit', 'm5']);
    expect(again.code, show(again)).toBe(0);
  });
});
