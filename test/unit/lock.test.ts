// The run lock (/run/kha.lock on every host) against FakeConn with a small in-memory filesystem,
// plus the same scripts run by a real `sh` on a temp directory (atomicity under concurrency,
// quoting of awkward content).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { refusal } from '../helpers/refusal.js';
import {
  acquireLocks,
  acquireScript,
  breakScript,
  formatAge,
  LOCK_PATH,
  parseLock,
  releaseScript,
  ridingLock,
  type LockEnv,
  type LockInfo,
} from '../../src/actions/lock.js';
import type { RunEvent } from '../../src/engine/events.js';
import { ExitCode, describeError } from '../../src/errors.js';
import type { ExecOptions, ExecResult } from '../../src/transport/types.js';
import { FakeConn, fakeRun, type Handler } from '../helpers/fake-conn.js';

const HOSTS = ['m1', 'm2', 'm3'];
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const ENV: LockEnv = { now: () => NOW, user: 'alice', hostname: 'ops1', pid: 4242, isAlive: () => true };

/** POSIX single-quoted word (as quote() writes it) -> its value */
function unquote(word: string): string {
  return word.startsWith("'") ? word.slice(1, -1).replace(/'\\''/g, "'") : word;
}

/** In-memory /run: interprets the four lock scripts (create-if-absent, read, break, release). */
function lockFs(files: Map<string, string>, seen: Array<{ script: string; opts: ExecOptions }>, lockPath = LOCK_PATH): Handler {
  return (script, opts) => {
    seen.push({ script, opts });
    if (!opts.become) return { code: 1, stderr: `sh: cannot create ${lockPath}: Permission denied` };
    const cur = files.get(lockPath);
    if (script.includes('ln -- "$t"')) {
      if (cur !== undefined) return { stdout: `KHA-LOCK-HELD\n${cur}` };
      // the content on stdin, or inline (ridingLock: the script rides in a batch, which has no stdin)
      const inline = /printf '%s' ('(?:[^']|'\\'')*'|\S+) > "\$t"/.exec(script);
      files.set(lockPath, inline ? unquote(inline[1]!) : String(opts.stdin ?? ''));
      return { stdout: 'KHA-LOCK-TAKEN\n' };
    }
    if (script.startsWith('c=$(cat')) {
      const m = /\[ "\$c" = ('(?:[^']|'\\'')*'|\S+) \]/.exec(script);
      if (!m) throw new Error(`unexpected release script: ${script}`);
      if (cur === undefined) return { stdout: 'KHA-LOCK-GONE\n' };
      if (cur.replace(/\n+$/, '') !== unquote(m[1]!)) return { stdout: 'KHA-LOCK-OTHER\n' };
      files.delete(lockPath);
      return { stdout: 'KHA-LOCK-RELEASED\n' };
    }
    if (script.includes('rm -f')) {
      if (cur === undefined) return { stdout: '' };
      files.delete(lockPath);
      return { stdout: `KHA-LOCK-HELD\n${cur}` };
    }
    if (script.startsWith('if [ -e')) return { stdout: cur === undefined ? '' : `KHA-LOCK-HELD\n${cur}` };
    throw new Error(`unexpected script: ${script}`);
  };
}

function setup(opts: { check?: boolean; handler?: (host: string) => Handler | undefined } = {}) {
  const fsByHost = new Map(HOSTS.map((h) => [h, new Map<string, string>()]));
  const seen = new Map(HOSTS.map((h) => [h, [] as Array<{ script: string; opts: ExecOptions }>]));
  const { ctx, events, connector } = fakeRun(HOSTS, (n) => new FakeConn(n, opts.handler?.(n) ?? lockFs(fsByHost.get(n)!, seen.get(n)!)), {
    check: opts.check ?? false,
  });
  const lock = (h: string) => fsByHost.get(h)!.get(LOCK_PATH);
  const setLock = (h: string, content: string) => fsByHost.get(h)!.set(LOCK_PATH, content);
  const warnings = () => events.filter((e): e is Extract<RunEvent, { type: 'message' }> => e.type === 'message' && e.level === 'warn').map((e) => e.text);
  const execs = () => [...connector.conns.values()].reduce((n, c) => n + c.stats.execs, 0);
  return { ctx, events, connector, lock, setLock, seen, warnings, execs };
}

const other = (over: Partial<LockInfo> = {}): string =>
  `${JSON.stringify({ holder: 'bob@ops2', pid: 777, started: new Date(NOW - 12 * 60_000).toISOString(), command: 'up', ...over })}\n`;

describe('acquireLocks (in-memory /run)', () => {
  test('takes the lock on every host: JSON on stdin (never on the command line), as root', async () => {
    const t = setup();
    const release = await acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV);
    for (const h of HOSTS) {
      const content = t.lock(h);
      expect(content).toBe('{"holder":"alice@ops1","pid":4242,"started":"2026-03-01T12:00:00.000Z","command":"up"}\n');
      expect(parseLock(content!)).toEqual({ holder: 'alice@ops1', pid: 4242, started: '2026-03-01T12:00:00.000Z', command: 'up' });
      const [first] = t.seen.get(h)!;
      expect(first!.opts.become).toBe(true);
      expect(first!.opts.stdin).toBe(content);
      expect(first!.script).toBe(acquireScript());
      expect(first!.script).not.toContain('alice');
    }
    await release();
  });

  test('release removes exactly our lock on every host, and a second call does nothing', async () => {
    const t = setup();
    const release = await acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV);
    const before = t.execs();
    await release();
    for (const h of HOSTS) expect(t.lock(h)).toBeUndefined();
    expect(t.execs()).toBe(before + HOSTS.length);
    await release();
    expect(t.execs()).toBe(before + HOSTS.length);
    expect(t.warnings()).toEqual([]);
  });

  test('release does not reconnect to a host lost during the run: it says the lock stays there (tmpfs: gone after a reboot)', async () => {
    const t = setup();
    const release = await acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV);
    t.ctx.markUnreachable('m2', new Error('m2: connection to 10.0.0.12:22 was lost'));
    t.connector.down.add('m2');
    const before = t.execs();
    await release();
    expect(t.lock('m1')).toBeUndefined();
    expect(t.lock('m3')).toBeUndefined();
    expect(t.lock('m2')).toBeDefined();
    expect(t.execs()).toBe(before + 2);
    expect(t.warnings()).toEqual([
      `could not remove our lock ${LOCK_PATH} on m2: the host became unreachable during the run; ${LOCK_PATH} is gone after a reboot, otherwise the next run needs --break-lock`,
    ]);
  });

  test('release leaves a lock that is no longer ours (someone broke and retook it) and says so', async () => {
    const t = setup();
    const release = await acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV);
    t.setLock('m2', other());
    await release();
    expect(t.lock('m1')).toBeUndefined();
    expect(t.lock('m2')).toBe(other());
    expect(t.warnings()).toEqual(['the lock on m2 is no longer ours (broken by another run?); left it in place']);
  });

  test('a locked host refuses the run: the locks just taken are released, the error names host, holder, pid, start, age and --break-lock', async () => {
    const t = setup();
    t.setLock('m2', other());
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV));
    expect(err.message).toBe(
      'm2 is locked by bob@ops2 (pid 777, kha up, started 2026-03-01T11:48:00.000Z, 12 min ago): nothing was changed; if that run is over, rerun with --break-lock',
    );
    expect(err.exit).toBe(ExitCode.preflight);
    expect(err.code).toBe('E_LOCKED');
    expect(err.host).toBe('m2');
    expect(err.suggestions).toEqual(['kha up --break-lock ...   (only once that run is over; it removes the lock on m2)']);
    expect(t.lock('m1')).toBeUndefined();
    expect(t.lock('m3')).toBeUndefined();
    expect(t.lock('m2')).toBe(other());
  });

  test('every locked host is named, in inventory order', async () => {
    const t = setup();
    t.setLock('m3', other());
    t.setLock('m1', other({ holder: 'carol@ops3', pid: 9 }));
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'upgrade', breakLock: false }, ENV));
    expect(err.message).toMatch(
      /^m1 is locked by carol@ops3 \(pid 9, .*\); m3 is locked by bob@ops2 \(pid 777, .*\): nothing was changed; if that run is over, rerun with --break-lock$/,
    );
    expect(t.lock('m2')).toBeUndefined();
  });

  test('a lock older than 2 h is reported as stale, and still refused', async () => {
    const t = setup();
    t.setLock('m1', other({ started: new Date(NOW - (3 * 3600 + 5 * 60) * 1000).toISOString() }));
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV));
    expect(err.message).toBe(
      'm1 has a stale lock, older than 2 h: bob@ops2 (pid 777, kha up, started 2026-03-01T08:55:00.000Z, 3 h 5 min ago): nothing was changed; if that run is over, rerun with --break-lock',
    );
  });

  test('a lock of this machine whose pid no longer runs is stale ("held by a process that no longer runs"), and still refused', async () => {
    const t = setup();
    t.setLock('m1', other({ holder: 'alice@ops1', pid: 31337 }));
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, { ...ENV, isAlive: (pid) => pid !== 31337 }));
    expect(err.message).toBe(
      'm1 has a stale lock held by a process that no longer runs: alice@ops1 (pid 31337, kha up, started 2026-03-01T11:48:00.000Z, 12 min ago): nothing was changed; if that run is over, rerun with --break-lock',
    );
  });

  test('liveness uses process.kill(pid, 0): a real exited pid is dead, a running one is not; other machines are never judged', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    const host = os.hostname();
    const real: LockEnv = { now: () => NOW, user: 'alice', hostname: host, pid: process.pid };

    const t1 = setup();
    t1.setLock('m1', other({ holder: `alice@${host}`, pid: deadPid }));
    expect((await refusal(acquireLocks(t1.ctx, ['m1'], { command: 'up', breakLock: false }, real))).message).toContain('held by a process that no longer runs');

    const t2 = setup();
    t2.setLock('m1', other({ holder: `alice@${host}`, pid: process.ppid }));
    expect((await refusal(acquireLocks(t2.ctx, ['m1'], { command: 'up', breakLock: false }, real))).message).toMatch(/^m1 is locked by alice@/);

    const t3 = setup();
    t3.setLock('m1', other({ holder: 'alice@elsewhere', pid: deadPid }));
    expect((await refusal(acquireLocks(t3.ctx, ['m1'], { command: 'up', breakLock: false }, real))).message).toMatch(/^m1 is locked by alice@elsewhere/);
  });

  test('a lock file kha did not write is refused and shown', async () => {
    const t = setup();
    t.setLock('m2', 'manual maintenance\n');
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV));
    expect(err.message).toBe(
      'm2 is locked by an unknown holder (the file is not kha\'s: "manual maintenance"): nothing was changed; if that run is over, rerun with --break-lock',
    );
    const t2 = setup();
    t2.setLock('m2', '');
    expect((await refusal(acquireLocks(t2.ctx, HOSTS, { command: 'up', breakLock: false }, ENV))).message).toContain('an unknown holder (the file is empty)');
  });

  test('--break-lock removes the existing locks first, warns naming them, then takes ours', async () => {
    const t = setup();
    t.setLock('m2', other());
    t.setLock('m3', other({ holder: 'alice@ops1', pid: 31337 }));
    const release = await acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: true }, ENV);
    for (const h of HOSTS) expect(parseLock(t.lock(h)!)?.holder).toBe('alice@ops1');
    expect(t.warnings().sort()).toEqual([
      '--break-lock: removed /run/kha.lock on m2, held by bob@ops2 (pid 777, kha up, started 2026-03-01T11:48:00.000Z, 12 min ago)',
      '--break-lock: removed /run/kha.lock on m3, held by alice@ops1 (pid 31337, kha up, started 2026-03-01T11:48:00.000Z, 12 min ago)',
    ]);
    await release();
    for (const h of HOSTS) expect(t.lock(h)).toBeUndefined();
  });

  test('check mode takes no lock: it warns about the locks it finds and its release does nothing', async () => {
    const t = setup({ check: true });
    t.setLock('m2', other());
    const release = await acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV);
    expect(t.lock('m1')).toBeUndefined();
    expect(t.lock('m2')).toBe(other());
    expect(t.warnings()).toEqual([
      'm2 is locked by bob@ops2 (pid 777, kha up, started 2026-03-01T11:48:00.000Z, 12 min ago); check mode takes no lock, the plan may change under it',
    ]);
    for (const h of HOSTS) for (const s of t.seen.get(h)!) expect(s.script).not.toMatch(/\bln\b|rm -f/);
    const n = t.execs();
    await release();
    expect(t.execs()).toBe(n);
  });

  test('a host that cannot create the lock fails the run (E_LOCK, exit 5) after the others are released', async () => {
    const files = new Map(HOSTS.map((h) => [h, new Map<string, string>()]));
    const t = setup({
      handler: (h) =>
        h === 'm3'
          ? () => ({ code: 1, stderr: 'mktemp: failed to create file via template /run/.kha.lock.XXXXXX: Read-only file system\n' })
          : lockFs(files.get(h)!, []),
    });
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV));
    expect(err.message).toBe('m3: cannot create /run/kha.lock: mktemp: failed to create file via template /run/.kha.lock.XXXXXX: Read-only file system');
    expect(err.code).toBe('E_LOCK');
    expect(err.exit).toBe(ExitCode.preflight);
    expect(files.get('m1')!.size).toBe(0);
    expect(files.get('m2')!.size).toBe(0);
    expect(t.warnings()).toEqual([]);
  });

  test('a create that timed out may have linked the lock: it is released too (only if it is ours)', async () => {
    const files = new Map<string, string>();
    const inner = lockFs(files, []);
    let first = true;
    const t = setup({
      handler: (h) =>
        h === 'm2'
          ? (script, opts) => {
              const r = inner(script, opts);
              if (first && script.includes('ln -- "$t"')) {
                first = false;
                return { code: null, signal: 'KILL', timedOut: true, stdout: '' };
              }
              return r;
            }
          : undefined,
    });
    t.setLock('m3', other());
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV));
    expect(err.code).toBe('E_LOCKED');
    expect(files.size).toBe(0);
    expect(t.lock('m1')).toBeUndefined();
    expect(t.lock('m3')).toBe(other());
  });

  test('an unreachable host fails the run after the others are released', async () => {
    const t = setup();
    t.connector.down.add('m2');
    const err = await refusal(acquireLocks(t.ctx, HOSTS, { command: 'up', breakLock: false }, ENV));
    expect(describeError(err)).toBe('m2: cannot take the lock /run/kha.lock: connect ECONNREFUSED');
    expect(t.lock('m1')).toBeUndefined();
    expect(t.lock('m3')).toBeUndefined();
  });

  /** ridingLock's probe sent as kha up's Plan sends it (one command per host), then settled */
  async function ride(t: ReturnType<typeof setup>, breakLock = false) {
    const rl = ridingLock(t.ctx, HOSTS, { command: 'up', breakLock }, ENV);
    await rl.prepare();
    const printed = new Map<string, { r: ExecResult } | { err: unknown }>(
      await Promise.all(
        HOSTS.map(async (h) => {
          try {
            const conn = await t.ctx.connector.get(t.ctx.host(h));
            return [h, { r: await conn.exec(rl.probe.cmd, { become: rl.probe.become }) }] as [string, { r: ExecResult }];
          } catch (err) {
            return [h, { err }] as [string, { err: unknown }];
          }
        }),
      ),
    );
    return { rl, settled: rl.settle(printed) };
  }

  test('ridingLock: the lock as one command that rides in a batch (content inline, no stdin); settled, it is ours and released', async () => {
    const t = setup();
    const { rl, settled } = await ride(t);
    expect(rl.probe.cmd.script).toContain(`printf '%s'`);
    for (const h of HOSTS) for (const x of t.seen.get(h)!) expect(x.opts.stdin).toBeUndefined();
    const release = await settled;
    for (const h of HOSTS) expect(parseLock(t.lock(h)!)).toEqual({ holder: 'alice@ops1', pid: 4242, started: '2026-03-01T12:00:00.000Z', command: 'up' });
    await release();
    for (const h of HOSTS) expect(t.lock(h)).toBeUndefined();
  });

  test('ridingLock: a host held by another run refuses as acquireLocks does, the locks it took are released, the holder keeps its own', async () => {
    const t = setup();
    t.setLock('m2', other());
    const err = await refusal((await ride(t)).settled);
    expect(err).toMatchObject({ code: 'E_LOCKED', exit: ExitCode.preflight, host: 'm2' });
    expect(describeError(err)).toMatch(/^m2 is locked by bob@ops2 \(pid 777, kha up, .*\): nothing was changed; if that run is over, rerun with --break-lock$/);
    expect([t.lock('m1'), t.lock('m2'), t.lock('m3')]).toEqual([undefined, other(), undefined]);
  });

  test('ridingLock: an unreachable host fails the run (exit 3) after the others are released; --break-lock breaks first, in its own round trip', async () => {
    const t = setup();
    t.connector.down.add('m2');
    const err = await refusal((await ride(t)).settled);
    expect(err).toMatchObject({ exit: ExitCode.unreachable });
    expect(describeError(err)).toBe('m2: cannot take the lock /run/kha.lock: connect ECONNREFUSED');
    expect([t.lock('m1'), t.lock('m3')]).toEqual([undefined, undefined]);
    const t2 = setup();
    t2.setLock('m3', other());
    const release = await (await ride(t2, true)).settled;
    expect(parseLock(t2.lock('m3')!)?.holder).toBe('alice@ops1');
    expect(t2.warnings()).toEqual([expect.stringMatching(/^--break-lock: removed \/run\/kha.lock on m3, held by bob@ops2/)]);
    await release();
  });

  test('ridingLock in check mode: it only reads, warns about the locks it finds, takes nothing', async () => {
    const t = setup({ check: true });
    t.setLock('m2', other());
    const { rl, settled } = await ride(t);
    expect(rl.probe.cmd.script).not.toMatch(/\bln\b|rm -f/);
    await (
      await settled
    )();
    expect([t.lock('m1'), t.lock('m2'), t.lock('m3')]).toEqual([undefined, other(), undefined]);
    expect(t.warnings()).toEqual([expect.stringMatching(/^m2 is locked by bob@ops2 .*; check mode takes no lock, the plan may change under it$/)]);
  });

  test('formatAge', () => {
    expect([40_000, 12 * 60_000, 3600_000, (3 * 3600 + 5 * 60) * 1000, 5 * 86400_000, -1].map(formatAge)).toEqual([
      '40 s',
      '12 min',
      '1 h',
      '3 h 5 min',
      '5 days',
      'an unknown time',
    ]);
  });
});

describe('the lock scripts under a real sh (temp dir instead of /run)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-lock-'));
  const lockPath = path.join(dir, 'kha.lock');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sh = (script: string, input = '') => {
    const r = spawnSync('sh', ['-c', script], { input, encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  test('create, refuse while held, release only with the same content, break', () => {
    fs.rmSync(lockPath, { force: true });
    const mine = `${JSON.stringify({ holder: "o'brien@h $(id) `x`", pid: 1, started: 'now', command: 'up' })}\n`;
    expect(sh(acquireScript(lockPath), mine)).toEqual({ code: 0, stdout: 'KHA-LOCK-TAKEN\n', stderr: '' });
    expect(fs.readFileSync(lockPath, 'utf8')).toBe(mine);
    expect((fs.statSync(lockPath).mode & 0o777).toString(8)).toBe('644');
    expect(sh(acquireScript(lockPath), other())).toEqual({ code: 0, stdout: `KHA-LOCK-HELD\n${mine}`, stderr: '' });
    expect(fs.readdirSync(dir)).toEqual(['kha.lock']); // no temp file left behind
    expect(sh(releaseScript(other(), lockPath)).stdout).toBe('KHA-LOCK-OTHER\n');
    expect(fs.existsSync(lockPath)).toBe(true);
    expect(sh(releaseScript(mine, lockPath)).stdout).toBe('KHA-LOCK-RELEASED\n');
    expect(fs.existsSync(lockPath)).toBe(false);
    expect(sh(releaseScript(mine, lockPath)).stdout).toBe('KHA-LOCK-GONE\n');
    fs.writeFileSync(lockPath, other());
    expect(sh(breakScript(lockPath)).stdout).toBe(`KHA-LOCK-HELD\n${other()}`);
    expect(fs.existsSync(lockPath)).toBe(false);
    expect(sh(breakScript(lockPath)).stdout).toBe('');
    // the inline form (ridingLock) writes the same bytes without stdin, awkward content included
    expect(sh(acquireScript(lockPath, mine))).toEqual({ code: 0, stdout: 'KHA-LOCK-TAKEN\n', stderr: '' });
    expect(fs.readFileSync(lockPath, 'utf8')).toBe(mine);
    expect(sh(acquireScript(lockPath, other()))).toEqual({ code: 0, stdout: `KHA-LOCK-HELD\n${mine}`, stderr: '' });
    expect(sh(releaseScript(mine, lockPath)).stdout).toBe('KHA-LOCK-RELEASED\n');
  });

  test('20 runs racing for the lock: exactly one gets it, and the lock is always whole', async () => {
    fs.rmSync(lockPath, { force: true });
    const script = acquireScript(lockPath);
    const results = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<string>((resolve) => {
            const c = spawn('sh', ['-c', script]);
            let out = '';
            c.stdout.on('data', (d: Buffer) => (out += d.toString()));
            c.on('close', () => resolve(out));
            c.stdin.end(other({ pid: 1000 + i }));
          }),
      ),
    );
    const winners = results.filter((r) => r === 'KHA-LOCK-TAKEN\n');
    expect(winners).toHaveLength(1);
    const content = fs.readFileSync(lockPath, 'utf8');
    expect(parseLock(content)).toBeDefined();
    for (const r of results.filter((x) => x !== 'KHA-LOCK-TAKEN\n')) expect(r).toBe(`KHA-LOCK-HELD\n${content}`);
    expect(fs.readdirSync(dir)).toEqual(['kha.lock']);
  });

  test('a directory where the lock cannot be created is an error, not "held"', () => {
    const r = sh(acquireScript(path.join(dir, 'missing-dir', 'kha.lock')), other());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/mktemp/);
  });
});
