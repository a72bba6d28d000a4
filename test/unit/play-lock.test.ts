// kha play is a changing command like kha up (issue 14, defect 3): it locks every host of the
// playbook (/run/kha.lock) before any change, shows the plan and asks on a terminal (--yes, --json
// or no TTY: no question), releases the lock on every way out, and --check takes no lock and
// asks nothing.
//  - the action (src/actions/play.ts) against FakeConn with an in-memory /run and file system;
//  - the prompt (src/cli/confirm.ts) on fake TTY streams;
//  - the BUILT CLI (`npm run build` first) against the fake SSH server, commands run by a local
//    sh with /run/kha.lock moved into a temp dir: the real lock scripts, in the real order.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { refusal } from '../helpers/refusal.js';
import { LOCK_PATH, type LockEnv } from '../../src/actions/lock.js';
import { playbook } from '../../src/actions/play.js';
import { exitCodeOf } from '../../src/cli/exit.js';
import { terminalConfirm } from '../../src/cli/confirm.js';
import PlayCommand from '../../src/commands/play.js';
import UpCommand from '../../src/commands/up.js';
import { RunContext } from '../../src/engine/context.js';
import { EventBus, type RunEvent } from '../../src/engine/events.js';
import { ExitCode, KhaError } from '../../src/errors.js';
import { parsePlaybook } from '../../src/playbook/load.js';
import type { ExecOptions } from '../../src/transport/types.js';
import { JsonSink, type OutputError } from '../../src/report/json.js';
import { outputProblems, REPO_ROOT, runKha, type KhaRun } from '../helpers/cli.js';
import { FakeConn, FakeConnector, fakeFacts, fakeInventory, type Handler } from '../helpers/fake-conn.js';
import { startFakeSshServer, type FakeSshServer } from '../helpers/fake-ssh-server.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const ENV: LockEnv = { now: () => NOW, user: 'alice', hostname: 'ops1', pid: 4242, isAlive: () => true };
const other = (startedMsAgo = 12 * 60_000) =>
  `${JSON.stringify({ holder: 'bob@ops2', pid: 777, started: new Date(NOW - startedMsAgo).toISOString(), command: 'up' })}\n`;

const isAcquire = (s: string) => s.includes('ln -- "$t"');
const isRelease = (s: string) => s.includes('KHA-LOCK-RELEASED');
const isLockRead = (s: string) => s.startsWith(`if [ -e ${LOCK_PATH} ]; then echo KHA-LOCK-HELD; cat -- ${LOCK_PATH}; fi`);
const isChange = (s: string) => s.startsWith('mkdir -p -- ');

// ---- the action against FakeConn --------------------------------------------------------------

/** One host's /run/kha.lock and the directories made, interpreting the lock and file scripts. */
function fakeHost(state: { lock?: string; dirs: Set<string> }, hooks: { onChange?: () => Partial<{ code: number; stderr: string }> | void } = {}): Handler {
  return (script: string, opts: ExecOptions) => {
    if (isAcquire(script)) {
      if (state.lock !== undefined) return { stdout: `KHA-LOCK-HELD\n${state.lock}` };
      state.lock = String(opts.stdin ?? '');
      return { stdout: 'KHA-LOCK-TAKEN\n' };
    }
    if (isRelease(script)) {
      const m = /\[ "\$c" = '((?:[^']|'\\'')*)' \]/.exec(script);
      if (state.lock === undefined) return { stdout: 'KHA-LOCK-GONE\n' };
      if (!m || state.lock.replace(/\n+$/, '') !== m[1]!.replace(/'\\''/g, "'")) return { stdout: 'KHA-LOCK-OTHER\n' };
      state.lock = undefined;
      return { stdout: 'KHA-LOCK-RELEASED\n' };
    }
    if (script.includes(`rm -f -- ${LOCK_PATH}`)) {
      const was = state.lock;
      state.lock = undefined;
      return { stdout: was === undefined ? '' : `KHA-LOCK-HELD\n${was}` };
    }
    if (isLockRead(script)) return { stdout: state.lock === undefined ? '' : `KHA-LOCK-HELD\n${state.lock}` };
    const stat = /^stat -c '%F\|%a\|%U\|%G' -- (\S+) /.exec(script);
    if (stat) return { stdout: state.dirs.has(stat[1]!) ? 'directory|755|root|root\n' : 'missing\n' };
    const mkdir = /^mkdir -p -- (\S+)/.exec(script);
    if (mkdir) {
      const r = hooks.onChange?.();
      if (r && r.code) return r;
      state.dirs.add(mkdir[1]!);
      return {};
    }
    throw new Error(`unexpected command: ${script}`);
  };
}

const PLAYBOOK = [
  '- name: make a directory',
  '  hosts: masters',
  '  serial: 1',
  '  tasks:',
  '    - file: { path: /etc/kha-play, state: directory, mode: "0755" }',
  '',
].join('\n');

function setup(opts: { check?: boolean; hosts?: string[]; onChange?: (host: string) => Partial<{ code: number; stderr: string }> | void } = {}) {
  const hosts = opts.hosts ?? ['m1', 'm2'];
  const state = new Map(hosts.map((h) => [h, { lock: undefined as string | undefined, dirs: new Set<string>() }]));
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.add({ emit: (e) => events.push(e) });
  /** every command of every host, in the order they ran */
  const seq: string[] = [];
  const connector = new FakeConnector((n) => {
    const h = fakeHost(state.get(n)!, { onChange: () => opts.onChange?.(n) });
    return new FakeConn(n, (script, o) => (seq.push(script), h(script, o)));
  });
  const abort = new AbortController();
  const inv = fakeInventory(hosts);
  const run = new RunContext(inv, connector, bus, { check: opts.check ?? false, diff: false, forks: 20, signal: abort.signal });
  for (const h of hosts) run.facts.set(h, fakeFacts({ hostname: h }));
  const plays = parsePlaybook(PLAYBOOK, 'site.yaml', inv);
  const log = (h: string) => connector.conns.get(h)?.log ?? [];
  const all = () => [...connector.conns.values()].flatMap((c) => c.log);
  const infos = () => events.filter((e): e is Extract<RunEvent, { type: 'message' }> => e.type === 'message').map((e) => `${e.level}: ${e.text}`);
  return { run, plays, state, log, all, seq, infos, events, abort, connector };
}

describe('kha play (the action): the lock', () => {
  test('every host is locked before any change and released after the last one', async () => {
    const t = setup();
    await playbook(t.run, t.plays, { lockEnv: ENV });
    expect(exitCodeOf(t.run)).toBe(ExitCode.ok);
    for (const h of ['m1', 'm2']) {
      const log = t.log(h);
      const acquire = log.findIndex(isAcquire);
      const change = log.findIndex(isChange);
      const release = log.findIndex(isRelease);
      expect(acquire, log.join('\n')).toBeGreaterThanOrEqual(0);
      expect(change).toBeGreaterThan(acquire);
      expect(release).toBeGreaterThan(change);
      expect(log.slice(0, acquire).some(isChange)).toBe(false);
      expect(t.state.get(h)!.lock).toBeUndefined();
      expect(t.state.get(h)!.dirs.has('/etc/kha-play')).toBe(true);
    }
    // across hosts too: every lock is taken before the first change on any host (m2 waits for m1: serial 1)
    const acquires = t.seq.flatMap((s, i) => (isAcquire(s) ? [i] : []));
    expect(acquires).toHaveLength(2);
    expect(t.seq.findIndex(isChange)).toBeGreaterThan(Math.max(...acquires));
  });

  test('a host locked by another run refuses the whole run: nothing changes anywhere, the error names host and holder and says --break-lock', async () => {
    const t = setup();
    t.state.get('m2')!.lock = other();
    const err = await refusal(playbook(t.run, t.plays, { lockEnv: ENV }));
    expect(err.code).toBe('E_LOCKED');
    expect(err.exit).toBe(ExitCode.preflight);
    expect(err.message).toBe(
      'm2 is locked by bob@ops2 (pid 777, kha up, started 2026-03-01T11:48:00.000Z, 12 min ago): nothing was changed; if that run is over, rerun with --break-lock',
    );
    expect(err.suggestions.join('\n')).toContain('kha play --break-lock');
    expect(t.all().some(isChange)).toBe(false);
    expect(t.state.get('m1')!.lock).toBeUndefined(); // the lock just taken on m1 is given back
    expect(t.state.get('m2')!.lock).toBe(other());
  });

  test('a stale lock is reported as stale, refused, and --break-lock removes it (saying whose) and runs', async () => {
    const t = setup();
    t.state.get('m1')!.lock = other(3 * 60 * 60_000);
    const err = await refusal(playbook(t.run, t.plays, { lockEnv: ENV }));
    expect(err.message).toMatch(
      /^m1 has a stale lock, older than 2 h: bob@ops2 \(pid 777, kha up, .*3 h ago\): nothing was changed; if that run is over, rerun with --break-lock$/,
    );
    expect(t.all().some(isChange)).toBe(false);

    const u = setup();
    u.state.get('m1')!.lock = other(3 * 60 * 60_000);
    await playbook(u.run, u.plays, { lockEnv: ENV, breakLock: true });
    expect(u.infos().some((l) => /^warn: --break-lock: removed \/run\/kha\.lock on m1, held by bob@ops2/.test(l))).toBe(true);
    expect(u.state.get('m1')!.dirs.has('/etc/kha-play')).toBe(true);
    expect(u.state.get('m1')!.lock).toBeUndefined();
  });

  test('--check takes no lock and asks nothing (it only warns about a lock it finds)', async () => {
    const t = setup({ check: true });
    t.state.get('m2')!.lock = other();
    const confirm = vi.fn(async () => true);
    await playbook(t.run, t.plays, { lockEnv: ENV, confirm });
    expect(confirm).not.toHaveBeenCalled();
    expect(t.all().some(isAcquire)).toBe(false);
    expect(t.all().some(isChange)).toBe(false);
    expect(t.state.get('m1')!.lock).toBeUndefined();
    expect(t.state.get('m2')!.lock).toBe(other());
    expect(t.infos()).toContain(
      'warn: m2 is locked by bob@ops2 (pid 777, kha up, started 2026-03-01T11:48:00.000Z, 12 min ago); check mode takes no lock, the plan may change under it',
    );
  });

  test('Ctrl-C between plays: the run stops with the interruption and still releases every lock', async () => {
    const t = setup({
      onChange: () => {
        t.abort.abort(new KhaError('interrupted', { code: 'E_INTERRUPTED', exit: ExitCode.interrupted }));
      },
    });
    const two = [...t.plays, { ...t.plays[0]!, name: 'again' }];
    const err = await refusal(playbook(t.run, two, { lockEnv: ENV }));
    expect(err.code).toBe('E_INTERRUPTED');
    for (const h of ['m1', 'm2']) expect(t.state.get(h)!.lock).toBeUndefined();
  });

  test('a failed task still releases every lock', async () => {
    const t = setup({ onChange: (h) => (h === 'm1' ? { code: 1, stderr: 'mkdir: Permission denied' } : undefined) });
    await playbook(t.run, t.plays, { lockEnv: ENV });
    expect(exitCodeOf(t.run)).toBe(ExitCode.failed);
    for (const h of ['m1', 'm2']) expect(t.state.get(h)!.lock).toBeUndefined();
    expect(t.state.get('m2')!.dirs.size).toBe(0); // serial 1, max fail 0: m2 is never reached
  });

  test('Ctrl-C during the play still releases every lock', async () => {
    const t = setup({
      onChange: () => {
        t.abort.abort(new KhaError('interrupted', { code: 'E_INTERRUPTED', exit: ExitCode.interrupted }));
      },
    });
    const st = await playbook(t.run, t.plays, { lockEnv: ENV });
    expect(st.results[0]).toMatchObject({ stopped: true, stopReason: 'interrupted', done: ['m1'], untouched: ['m2'] });
    expect(exitCodeOf(t.run)).toBe(ExitCode.interrupted);
    for (const h of ['m1', 'm2']) expect(t.state.get(h)!.lock).toBeUndefined();
    expect(t.state.get('m2')!.dirs.size).toBe(0);
  });

  test('a host unreachable while locking is never changed: the others are locked and run, the play counts it', async () => {
    const t = setup({ hosts: ['m1', 'm2', 'm3'] });
    t.connector.down.add('m3');
    const st = await playbook(t.run, t.plays, { lockEnv: ENV });
    expect(exitCodeOf(t.run)).toBe(ExitCode.unreachable);
    const m3 = t.events.filter((e) => e.type === 'task' && e.host === 'm3');
    expect(m3).toMatchObject([{ status: 'unreachable', error: 'm3: connect ECONNREFUSED' }]);
    expect(t.run.recap.get('m3')).toMatchObject({ unreachable: 1 });
    // max fail 0: m3's loss stops the play after its first batch, as when the play found it itself
    expect(st.results[0]).toMatchObject({ stopped: true, unreachable: ['m3'], done: ['m1'], untouched: ['m2'] });
    expect(t.state.get('m1')!.dirs.has('/etc/kha-play')).toBe(true);
    for (const h of ['m1', 'm2']) expect(t.state.get(h)!.lock).toBeUndefined();
  });
});

describe('kha play (the action): its --json document fits the published schema', () => {
  /** the document the CLI would print for this run: its events through the JSON sink */
  const docOf = (t: ReturnType<typeof setup>, exit: number, error: OutputError | null) => {
    const sink = new JsonSink();
    for (const e of t.events) sink.emit(e);
    return sink.document({ command: 'play', exit, error, log: null });
  };

  test('every host done: ok, every play in result', async () => {
    const t = setup();
    await playbook(t.run, t.plays, { lockEnv: ENV });
    const doc = docOf(t, exitCodeOf(t.run), null);
    expect(outputProblems(doc)).toEqual([]);
    expect(doc.result).toMatchObject({ plays: [{ play: 'make a directory', done: ['m1', 'm2'], stopped: false }], handshakes: 2 });
    expect(doc.tasks.filter((x) => x.status === 'changed').map((x) => x.host)).toEqual(['m1', 'm2']);
  });

  test('a change that fails on m1 and a host lost while locking: exit 2, the failed and unreachable hosts, the document fits', async () => {
    const t = setup({ hosts: ['m1', 'm2', 'm3'], onChange: (h) => (h === 'm1' ? { code: 1, stderr: 'mkdir: Permission denied' } : undefined) });
    t.connector.down.add('m3');
    await playbook(t.run, t.plays, { lockEnv: ENV });
    expect(exitCodeOf(t.run)).toBe(ExitCode.failed);
    const doc = docOf(t, ExitCode.failed, { code: 'E_TASK_FAILED', message: 'a task failed on at least one host', hosts: ['m1', 'm3'], hint: null });
    expect(outputProblems(doc)).toEqual([]);
    expect(doc.result).toMatchObject({ plays: [{ failed: ['m1'], unreachable: ['m3'], stopped: true }] });
    expect(doc.recap).toMatchObject({ m1: { failed: 1 }, m3: { unreachable: 1 } });
  });
});

describe('kha play (the action): plan, then confirm', () => {
  test('the plan is shown and confirmed before the first change; a no changes nothing and releases the locks', async () => {
    const t = setup();
    let changesWhenAsked = -1;
    let lockedWhenAsked = false;
    const confirm = vi.fn(async () => {
      changesWhenAsked = t.all().filter(isChange).length;
      lockedWhenAsked = [...t.state.values()].every((s) => s.lock !== undefined);
      return false;
    });
    const err = await refusal(playbook(t.run, t.plays, { lockEnv: ENV, confirm }));
    expect(err.code).toBe('E_CANCELLED');
    expect(err.exit).toBe(ExitCode.cancelled);
    expect(confirm).toHaveBeenCalledOnce();
    expect(confirm).toHaveBeenCalledWith(['m1: 1 change: directory /etc/kha-play', 'm2: 1 change: directory /etc/kha-play']);
    expect(changesWhenAsked).toBe(0);
    expect(lockedWhenAsked).toBe(true);
    expect(t.all().some(isChange)).toBe(false);
    for (const h of ['m1', 'm2']) expect(t.state.get(h)!.lock).toBeUndefined();
    expect(t.infos()).toEqual(expect.arrayContaining(['info: m1: 1 change: directory /etc/kha-play', 'info: m2: 1 change: directory /etc/kha-play']));
  });

  test('several plays: one plan over all of them, each change named with its play', async () => {
    const t = setup();
    const plays = parsePlaybook(
      [
        PLAYBOOK,
        '- name: second',
        '  hosts: m2',
        '  tasks:',
        '    - name: another directory',
        '      file: { path: /etc/kha-play-2, state: directory }',
        '',
      ].join('\n'),
      'site.yaml',
      t.run.inventory,
    );
    const confirm = vi.fn(async () => true);
    await playbook(t.run, plays, { lockEnv: ENV, confirm });
    expect(confirm).toHaveBeenCalledOnce();
    expect(confirm).toHaveBeenCalledWith([
      'm1: 1 change: make a directory: directory /etc/kha-play',
      'm2: 2 changes: make a directory: directory /etc/kha-play; second: another directory',
    ]);
    expect([...t.state.get('m2')!.dirs].sort()).toEqual(['/etc/kha-play', '/etc/kha-play-2']);
  });

  test('a yes applies; no question when nothing would change; without a confirm callback (--yes, no TTY) it applies without asking', async () => {
    const yes = setup();
    await playbook(yes.run, yes.plays, { lockEnv: ENV, confirm: async () => true });
    expect(yes.state.get('m2')!.dirs.has('/etc/kha-play')).toBe(true);

    const converged = setup();
    for (const s of converged.state.values()) s.dirs.add('/etc/kha-play');
    const confirm = vi.fn(async () => false);
    await playbook(converged.run, converged.plays, { lockEnv: ENV, confirm });
    expect(confirm).not.toHaveBeenCalled();
    expect(converged.infos()).toEqual(expect.arrayContaining(['info: m1: nothing to change', 'info: m2: nothing to change']));

    const unattended = setup();
    await playbook(unattended.run, unattended.plays, { lockEnv: ENV });
    expect(unattended.infos()).toContain('info: m1: 1 change: directory /etc/kha-play');
    expect(unattended.state.get('m1')!.dirs.has('/etc/kha-play')).toBe(true);
  });
});

// ---- the prompt ---------------------------------------------------------------------------

describe('the prompt (shared with kha up): --yes, --check, --json or stdin not a TTY ask nothing', () => {
  function tty() {
    const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
    const output = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    let shown = '';
    output.on('data', (d: Buffer) => (shown += d.toString()));
    return { term: { input, output }, shown: () => shown };
  }

  test('no prompt: --yes, --check, --json, or stdin not a TTY', () => {
    const { term } = tty();
    expect(terminalConfirm({ yes: true }, term)).toBeUndefined();
    expect(terminalConfirm({ check: true }, term)).toBeUndefined();
    expect(terminalConfirm({ json: true }, term)).toBeUndefined();
    expect(terminalConfirm({}, { input: new PassThrough(), output: term.output })).toBeUndefined();
    expect(terminalConfirm({}, term)).toBeTypeOf('function');
  });

  test('stdout a pipe (kha up | tee up.log), stdin a terminal: it still asks, on stderr', async () => {
    const { term } = tty();
    const piped = new PassThrough();
    let toPipe = '';
    piped.on('data', (d: Buffer) => (toPipe += d.toString()));
    const error = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    let toTerminal = '';
    error.on('data', (d: Buffer) => (toTerminal += d.toString()));
    const confirm = terminalConfirm({}, { input: term.input, output: piped, error });
    expect(confirm).toBeTypeOf('function');
    const answer = confirm!(['m1: 1 change: x']);
    setTimeout(() => term.input.write('n\r'), 20);
    await expect(answer).resolves.toBe(false);
    expect(toTerminal).toContain('Apply these changes? [y/N] ');
    expect(toPipe).toBe('');
  });

  test.each([
    ['y', 'y\r', true],
    ['yes', 'yes\r', true],
    ['n', 'n\r', false],
    ['an empty answer', '\r', false],
    ['Ctrl-C', '\x03', false],
    ['Ctrl-D', '\x04', false],
  ])('%s answers %s', async (_what, keys, want) => {
    const { term, shown } = tty();
    const answer = terminalConfirm({}, term)!(['m1: 1 change: x']);
    setTimeout(() => term.input.write(keys), 20);
    await expect(answer).resolves.toBe(want);
    expect(shown()).toContain('Apply these changes? [y/N] ');
  });

  test('kha play --help: every playbook its examples name exists', () => {
    const named = PlayCommand.examples.flatMap((e) => [...String(e).matchAll(/\S+\.ya?ml\b/g)].map((m) => m[0])).filter((f) => f !== 'hosts.yaml');
    expect(named.length).toBeGreaterThan(0);
    for (const f of named) expect(fs.existsSync(path.join(REPO_ROOT, f)), f).toBe(true);
  });

  test('kha play has the flags of the other changing commands: --yes, --check, --break-lock', () => {
    for (const f of ['yes', 'check', 'diff', 'break-lock', 'json']) {
      expect(PlayCommand.flags[f as keyof typeof PlayCommand.flags], f).toBeDefined();
      expect(PlayCommand.flags[f as keyof typeof PlayCommand.flags]).toBe(UpCommand.flags[f as keyof typeof UpCommand.flags]);
    }
  });
});

// ---- the built CLI against the fake SSH server ------------------------------------------------

describe('the built CLI: kha play without a TTY (as kha up: no question) over SSH', () => {
  let dir = '';
  let lockDir = '';
  let server: FakeSshServer;
  const made = () => path.join(dir, 'made');
  const lockFile = () => path.join(lockDir, 'kha.lock');

  beforeAll(async () => {
    if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'actions', 'play.js'))) throw new Error('kha is not built: run npm run build first');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-play-lock-'));
    lockDir = path.join(dir, 'run');
    fs.mkdirSync(lockDir);
    // every command runs in a local sh; /run/kha.lock (and its temp files) live in lockDir instead
    server = await startFakeSshServer({
      password: 'pw-play-lock',
      handler: (command, stdin) =>
        new Promise((resolve, reject) => {
          const moved = command.replaceAll('/run/kha.lock', `${lockDir}/kha.lock`).replaceAll('/run/.kha.lock.', `${lockDir}/.kha.lock.`);
          const child = spawn('sh', ['-c', moved], { stdio: ['pipe', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code: code ?? 255, stdout, stderr }));
          child.stdin.on('error', () => undefined);
          child.stdin.end(stdin);
        }),
    });
    fs.writeFileSync(
      path.join(dir, 'hosts.yaml'),
      [
        'all:',
        '  vars:',
        '    ansible_user: root',
        '    ansible_password: pw-play-lock',
        '  children:',
        '    masters:',
        '      hosts:',
        `        m1: { ansible_host: 127.0.0.1, ansible_port: ${server.port} }`,
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(dir, 'site.yaml'),
      ['- name: make a directory', '  hosts: masters', '  tasks:', `    - file: { path: ${made()}, state: directory, mode: "0755" }`, ''].join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** kha play ... and the commands the host received during that run */
  async function play(extra: string[]): Promise<KhaRun & { commands: string[] }> {
    const from = server.stats.commands.length;
    const r = await runKha(
      [
        'play',
        '-i',
        path.join(dir, 'hosts.yaml'),
        path.join(dir, 'site.yaml'),
        '--known-hosts',
        path.join(dir, 'known_hosts'),
        '--accept-new-host-keys',
        '--log-file',
        path.join(dir, 'run.log'),
        ...extra,
      ],
      {
        env: { HOME: dir, SSH_AUTH_SOCK: '' },
        timeoutMs: 60_000,
      },
    );
    return { ...r, commands: server.stats.commands.slice(from) };
  }
  const show = (r: KhaRun) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  const holder = (startedMsAgo: number) =>
    `${JSON.stringify({ holder: 'bob@ops2', pid: 777, started: new Date(Date.now() - startedMsAgo).toISOString(), command: 'up' })}\n`;

  test('no --yes and no TTY: no question; the lock is taken before the change and removed after it', { timeout: 60_000 }, async () => {
    fs.rmSync(made(), { recursive: true, force: true });
    const r = await play([]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).not.toContain('Apply these changes?');
    expect(r.stdout).toContain(`m1: 1 change: directory ${made()}`);
    const acquire = r.commands.findIndex(isAcquire);
    const change = r.commands.findIndex((c) => c.includes('mkdir -p -- '));
    const release = r.commands.findIndex(isRelease);
    expect(acquire, r.commands.join('\n')).toBeGreaterThanOrEqual(0);
    expect(change).toBeGreaterThan(acquire);
    expect(release).toBeGreaterThan(change);
    expect(fs.statSync(made()).isDirectory()).toBe(true);
    expect(fs.existsSync(lockFile())).toBe(false);
  });

  test('a held lock refuses the run (exit 5) naming the holder, with the --break-lock hint; nothing changes', { timeout: 60_000 }, async () => {
    fs.rmSync(made(), { recursive: true, force: true });
    const lock = holder(5 * 60_000);
    fs.writeFileSync(lockFile(), lock);
    const r = await play(['--yes']);
    expect(r.code, show(r)).toBe(ExitCode.preflight);
    expect(r.stderr).toMatch(
      /^error: m1 is locked by bob@ops2 \(pid 777, kha up, started \S+, 5 min ago\): nothing was changed; if that run is over, rerun with --break-lock$/m,
    );
    expect(r.stderr).toMatch(/^ {2}try: kha play --break-lock /m);
    expect(r.commands.some((c) => c.includes('mkdir -p -- '))).toBe(false);
    expect(fs.existsSync(made())).toBe(false);
    expect(fs.readFileSync(lockFile(), 'utf8')).toBe(lock);
  });

  test('a stale lock is reported as stale, with --break-lock', { timeout: 60_000 }, async () => {
    fs.rmSync(made(), { recursive: true, force: true });
    fs.writeFileSync(lockFile(), holder(3 * 60 * 60_000));
    const r = await play([]);
    expect(r.code, show(r)).toBe(ExitCode.preflight);
    expect(r.stderr).toMatch(/^error: m1 has a stale lock, older than 2 h: bob@ops2 .*rerun with --break-lock$/m);
    expect(r.stderr).toMatch(/^ {2}try: kha play --break-lock /m);
    expect(fs.existsSync(made())).toBe(false);
  });

  test('--break-lock removes a lock (saying whose) and runs', { timeout: 60_000 }, async () => {
    fs.rmSync(made(), { recursive: true, force: true });
    fs.writeFileSync(lockFile(), holder(3 * 60 * 60_000));
    const b = await play(['--break-lock']);
    expect(b.code, show(b)).toBe(0);
    expect(b.stdout).toMatch(/--break-lock: removed \/run\/kha\.lock on m1, held by bob@ops2/);
    expect(fs.statSync(made()).isDirectory()).toBe(true);
    expect(fs.existsSync(lockFile())).toBe(false);
  });

  test('--check takes no lock (a held one only warns) and changes nothing', { timeout: 60_000 }, async () => {
    fs.rmSync(made(), { recursive: true, force: true });
    const lock = holder(60_000);
    fs.writeFileSync(lockFile(), lock);
    const r = await play(['--check']);
    expect(r.code, show(r)).toBe(0);
    expect(r.commands.some(isAcquire)).toBe(false);
    expect(r.stdout).toContain('check mode takes no lock');
    expect(r.stdout).not.toContain('Apply these changes?');
    expect(fs.readFileSync(lockFile(), 'utf8')).toBe(lock);
    expect(fs.existsSync(made())).toBe(false);
    fs.rmSync(lockFile());
  });
});
