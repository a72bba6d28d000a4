// Secrets never leak: ansible_password (SSH), ansible_become_password (sudo) and vrrp_auth_pass
// must not appear in kha's human output, its --json document, its --log-file, its error lines,
// nor in any command line the SSH server received. The BUILT CLI (`npm run build` first) runs
// `kha play` against the in-process fake SSH server (password auth, user "deploy"); the server
// runs commands with a fake `sudo` first on PATH that behaves like the real one for kha: prints
// the prompt kha chose, reads the password from stdin, checks it, then execs the command.
// The playbook writes a file holding the VRRP pass (shown with --diff) and ends with a task that
// fails after echoing all three secrets on stderr and stdout (shown with -vv).
// The same holds for secrets given without plain text: read from files and the environment, typed
// at the -K prompt, and an encrypted key's passphrase. The prompts run on a real pseudo-terminal
// (util-linux `script`), where nothing typed may be echoed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { HostNet } from '../../src/actions/preflight.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import { desiredFiles, KEEPALIVED_CONF } from '../../src/roles/ha.js';
import { parseableKeyPair } from '../../src/transport/keygen.js';
import { quoteArgv } from '../../src/transport/quote.js';
import { outputProblems, type KhaJson } from '../helpers/cli.js';
import { startFakeSshServer, type FakeSshServer } from '../helpers/fake-ssh-server.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RUN_JS = path.join(REPO, 'bin', 'run.js');

const SSH_PASSWORD = 'Ssh-Pa55word-7q';
const BECOME_PASSWORD = 'Bec0me-S3cret-x9';
const VRRP_PASS = 'Vr9Pa55'; // VRRP keeps 8 characters at most
const WRONG_BECOME = 'Wr0ng-Bec0me-k4';
const PASSPHRASE = 'Key-Pa55phrase-z3';
const SECRETS = [SSH_PASSWORD, BECOME_PASSWORD, VRRP_PASS, WRONG_BECOME, PASSPHRASE];

/** sudo as kha needs it: -S -p PROMPT | -n, -H, -u USER, --, command. Never sees a password on argv. */
const FAKE_SUDO = `#!/bin/sh
prompt='[sudo] password for deploy: '; nonint=0
while [ $# -gt 0 ]; do
  case $1 in
    -S|-H) shift ;;
    -n) nonint=1; shift ;;
    -p) prompt=$2; shift 2 ;;
    -u) shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
if [ $nonint = 1 ]; then echo 'sudo: a password is required' >&2; exit 1; fi
printf '%s' "$prompt" >&2
IFS= read -r pw || exit 1
if [ "$pw" != "$(cat "$FAKE_SUDO_PASSWORD_FILE")" ]; then echo 'sudo: 1 incorrect password attempt' >&2; echo bad >> "$FAKE_SUDO_LOG"; exit 1; fi
echo ok >> "$FAKE_SUDO_LOG"
exec "$@"
`;

interface Run {
  code: number;
  /** on a pseudo-terminal: the whole terminal transcript (stdout and stderr) */
  stdout: string;
  stderr: string;
  log: string;
  /** successful sudo password checks during the run */
  sudoOk: number;
}

let dir = '';
let server: FakeSshServer;
type RunName = 'human' | 'json' | 'wrongSudo' | 'sources' | 'sourcesJson' | 'askBecome' | 'askBecomeNoTty' | 'passphrase';
const runs: Record<RunName, Run> = {} as never;
const KEY = parseableKeyPair(undefined, { passphrase: PASSPHRASE, cipher: 'aes256-ctr', rounds: 2 });

/** vars: the secret lines (default: all three in plain text) */
function inventory(becomePassword: string, secretVars?: string[]): string {
  return [
    'all:',
    '  vars:',
    '    vip: 10.0.0.100',
    '    ansible_user: deploy',
    '    ansible_become: true',
    ...(secretVars ?? [`vrrp_auth_pass: ${VRRP_PASS}`, `ansible_password: ${SSH_PASSWORD}`, `ansible_become_password: ${becomePassword}`]).map(
      (l) => `    ${l}`,
    ),
    '  children:',
    '    masters:',
    '      hosts:',
    `        m1: { ansible_host: 127.0.0.1, ansible_port: ${server.port} }`,
    '',
  ].join('\n');
}

const sudoOkCount = () =>
  fs.existsSync(path.join(dir, 'sudo.log'))
    ? fs
        .readFileSync(path.join(dir, 'sudo.log'), 'utf8')
        .split('\n')
        .filter((l) => l === 'ok').length
    : 0;

/**
 * Run the built CLI; with `answer`, on a pseudo-terminal (`script`), typing `answer.text` once
 * `answer.prompt` shows. stdin is closed otherwise (no terminal).
 */
function kha(name: RunName, args: string[], opts: { env?: Record<string, string>; answer?: { prompt: string; text: string } } = {}): Promise<void> {
  const logFile = path.join(dir, `${name}.log`);
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, XDG_STATE_HOME: path.join(dir, 'state'), SSH_AUTH_SOCK: '', NO_COLOR: '1', ...opts.env };
  delete env['KHA_DEBUG'];
  const argv = [RUN_JS, ...args, '--known-hosts', path.join(dir, 'known_hosts'), '--accept-new-host-keys', '--log-file', logFile];
  const sudoBefore = sudoOkCount();
  return new Promise((resolve, reject) => {
    const answer = opts.answer;
    const child = answer
      ? spawn('script', ['-qfec', quoteArgv([process.execPath, ...argv]), '/dev/null'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(process.execPath, argv, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let answered = false;
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (answer && !answered && stdout.includes(answer.prompt)) {
        answered = true;
        child.stdin!.write(`${answer.text}\r`);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin?.end();
      runs[name] = {
        code: code ?? -1,
        stdout,
        stderr,
        log: fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '',
        sudoOk: sudoOkCount() - sudoBefore,
      };
      resolve();
    });
  });
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'commands', 'play.js'))) throw new Error('kha is not built: run npm run build first');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-secrets-'));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'sudo'), FAKE_SUDO, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'sudo-password'), BECOME_PASSWORD, { mode: 0o600 });
  // what the failing task prints: every secret, as a careless program on the host might
  fs.writeFileSync(path.join(dir, 'leak'), `ssh=${SSH_PASSWORD} become=${BECOME_PASSWORD} vrrp=${VRRP_PASS}\n`);
  fs.writeFileSync(path.join(dir, 'conf.txt'), `vrrp_instance VI_1 {\n  authentication {\n    auth_type PASS\n    auth_pass ${VRRP_PASS}\n  }\n}\n`);
  const out = path.join(dir, 'out');
  fs.writeFileSync(
    path.join(dir, 'site.yaml'),
    [
      '- name: secrets stay secret',
      '  hosts: masters',
      '  tasks:',
      '    - name: a directory, through sudo',
      `      file: { path: ${out}, state: directory, mode: "0750" }`,
      '    - name: a config holding the VRRP pass',
      `      copy: { path: ${out}/keepalived.conf, src: conf.txt, mode: "0600" }`,
      '    - name: a command that echoes secrets and fails',
      `      command: { argv: [sh, -c, "cat ${path.join(dir, 'leak')} >&2; cat ${path.join(dir, 'leak')}; exit 3"] }`,
      '',
    ].join('\n'),
  );
  server = await startFakeSshServer({
    password: SSH_PASSWORD,
    authorizedKey: KEY.public,
    username: 'deploy',
    sftp: 'fs',
    env: {
      ...process.env,
      PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      FAKE_SUDO_PASSWORD_FILE: path.join(dir, 'sudo-password'),
      FAKE_SUDO_LOG: path.join(dir, 'sudo.log'),
    },
  });
  fs.writeFileSync(path.join(dir, 'hosts.yaml'), inventory(BECOME_PASSWORD));
  fs.writeFileSync(path.join(dir, 'wrong-sudo.yaml'), inventory(WRONG_BECOME));

  // one after the other: the second run must see the same changes (and diffs) as the first
  await kha('human', ['play', '-i', 'hosts.yaml', 'site.yaml', '--diff', '-vv']);
  fs.rmSync(out, { recursive: true, force: true });
  await kha('json', ['play', '-i', 'hosts.yaml', 'site.yaml', '--diff', '-vv', '--json']);
  await kha('wrongSudo', ['play', '-i', 'wrong-sudo.yaml', 'site.yaml', '-vv']);

  // the secrets from files (relative to the inventory, mode 0600) and the environment
  fs.writeFileSync(path.join(dir, 'vrrp-pass'), `${VRRP_PASS}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'ssh-pass'), `${SSH_PASSWORD}\n`, { mode: 0o600 });
  fs.writeFileSync(
    path.join(dir, 'sources.yaml'),
    inventory('', ['vrrp_auth_pass_file: vrrp-pass', 'ansible_password_file: ssh-pass', 'ansible_become_password: ${env:KHA_TEST_BECOME}']),
  );
  const fromEnv = { env: { KHA_TEST_BECOME: BECOME_PASSWORD } };
  fs.rmSync(out, { recursive: true, force: true });
  await kha('sources', ['play', '-i', 'sources.yaml', 'site.yaml', '--diff', '-vv'], fromEnv);
  fs.rmSync(out, { recursive: true, force: true });
  await kha('sourcesJson', ['play', '-i', 'sources.yaml', 'site.yaml', '--diff', '-vv', '--json'], fromEnv);

  // -K: no become password in the inventory; typed on a terminal, or refused without one
  fs.writeFileSync(path.join(dir, 'ask.yaml'), inventory('', [`vrrp_auth_pass: ${VRRP_PASS}`, `ansible_password: ${SSH_PASSWORD}`]));
  fs.rmSync(out, { recursive: true, force: true });
  await kha('askBecome', ['play', '-i', 'ask.yaml', 'site.yaml', '-K', '--yes', '-vv'], { answer: { prompt: 'BECOME password: ', text: BECOME_PASSWORD } });
  await kha('askBecomeNoTty', ['play', '-i', 'ask.yaml', 'site.yaml', '--ask-become-pass']);

  // an encrypted key: its passphrase typed on a terminal
  const keyFile = path.join(dir, 'id_enc');
  fs.writeFileSync(keyFile, KEY.private, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'key.yaml'), inventory('', [`ansible_become_password: ${BECOME_PASSWORD}`, `ansible_ssh_private_key_file: ${keyFile}`]));
  fs.rmSync(out, { recursive: true, force: true });
  await kha('passphrase', ['play', '-i', 'key.yaml', 'site.yaml', '--yes', '-vv'], { answer: { prompt: `passphrase for ${keyFile}: `, text: PASSPHRASE } });
}, 360_000);

afterAll(async () => {
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const leaks = (text: string) => SECRETS.filter((s) => text.includes(s));

describe('secrets never leak (kha play against the fake SSH server, become through sudo)', () => {
  test('the runs really used the secrets: password login, sudo with the password, the file, the failing echo', () => {
    const h = runs.human;
    expect(h.code, h.stdout + h.stderr).toBe(2);
    expect(server.stats.users.every((u) => u === 'deploy')).toBe(true);
    expect(server.stats.handshakes).toBeGreaterThanOrEqual(3);
    const sudo = fs.readFileSync(path.join(dir, 'sudo.log'), 'utf8').split('\n').filter(Boolean);
    expect(sudo.filter((l) => l === 'ok').length).toBeGreaterThanOrEqual(6);
    expect(fs.readFileSync(path.join(dir, 'out', 'keepalived.conf'), 'utf8')).toContain(`auth_pass ${VRRP_PASS}`);
    expect((fs.statSync(path.join(dir, 'out', 'keepalived.conf')).mode & 0o777).toString(8)).toBe('600');
    // the secrets reached kha's output paths, masked: the diff, -vv command output, the task error
    expect(h.stdout).toContain('+    auth_pass ********');
    expect(h.stdout).toContain('ssh=******** become=******** vrrp=********');
    expect(h.log).toContain('ssh=******** become=******** vrrp=********');
  });

  test('human output and its log file', () => {
    const r = runs.human;
    expect(leaks(r.stdout)).toEqual([]);
    expect(leaks(r.stderr)).toEqual([]);
    expect(r.log.length).toBeGreaterThan(0);
    expect(leaks(r.log)).toEqual([]);
    expect(r.stderr).toMatch(/^log: /m);
  });

  test('--json output and its log file', () => {
    const r = runs.json;
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as KhaJson<unknown>;
    expect(outputProblems(doc)).toEqual([]);
    expect(doc.error).toMatchObject({ code: 'E_TASK_FAILED', hosts: ['m1'] });
    const failed = doc.tasks.find((t) => t.status === 'failed');
    expect(failed?.error).toContain('********');
    expect(doc.tasks.some((t) => t.diff?.includes('auth_pass ********'))).toBe(true);
    expect(leaks(r.stdout)).toEqual([]);
    expect(leaks(r.stderr)).toEqual([]);
    expect(leaks(r.log)).toEqual([]);
  });

  test('error messages: a wrong sudo password is named as the problem, never shown', () => {
    const r = runs.wrongSudo;
    expect(r.code).not.toBe(0);
    const errorLine = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => /sudo as root failed for user deploy/.test(l));
    expect(errorLine, r.stdout + r.stderr).toMatch(/check ansible_become_password/);
    expect(leaks(r.stdout)).toEqual([]);
    expect(leaks(r.stderr)).toEqual([]);
    expect(leaks(r.log)).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'sudo.log'), 'utf8')).toContain('bad');
  });

  test('no command line the server received holds a secret (passwords go on stdin only)', () => {
    expect(server.stats.commands.length).toBeGreaterThan(10);
    expect(server.stats.commands.some((c) => c.startsWith('sudo -S -p '))).toBe(true);
    expect(server.stats.commands.flatMap(leaks)).toEqual([]);
  });
});

describe('secrets without plain text: from files and the environment, typed at -K, a key passphrase', () => {
  test('_file and ${env:NAME} secrets are used (password login, sudo, the VRRP file) and masked in the human output and its log', () => {
    const r = runs.sources;
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.sudoOk).toBeGreaterThanOrEqual(3);
    expect(r.stdout).toContain('+    auth_pass ********');
    expect(r.stdout).toContain('ssh=******** become=******** vrrp=********');
    expect(r.log).toContain('ssh=******** become=******** vrrp=********');
    expect(leaks(r.stdout)).toEqual([]);
    expect(leaks(r.stderr)).toEqual([]);
    expect(leaks(r.log)).toEqual([]);
  });

  test('... and in the --json document and its log', () => {
    const r = runs.sourcesJson;
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toContain('ssh=******** become=******** vrrp=********');
    expect(leaks(r.stdout)).toEqual([]);
    expect(leaks(r.stderr)).toEqual([]);
    expect(leaks(r.log)).toEqual([]);
  });

  test('-K on a terminal: asked once, nothing typed is echoed, sudo gets it, and it is masked like any secret', () => {
    const r = runs.askBecome;
    expect(r.code, r.stdout).toBe(2);
    expect(r.stdout.split('BECOME password: ').length - 1, r.stdout).toBe(1);
    expect(r.sudoOk).toBeGreaterThanOrEqual(3);
    expect(r.stdout).toContain('ssh=******** become=******** vrrp=********');
    expect(leaks(r.stdout)).toEqual([]);
    expect(leaks(r.log)).toEqual([]);
  });

  test('-K without a terminal: bad input (exit 4) that says how else to give the password; nothing connects', () => {
    const r = runs.askBecomeNoTty;
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stderr).toContain(
      'error: -K/--ask-become-pass: there is no terminal to ask for the become password on (stdin is not a TTY); give it in the inventory instead: ansible_become_password_file: FILE (its first line, mode 0600) or ansible_become_password: ${env:NAME}',
    );
    expect(r.sudoOk).toBe(0);
  });

  test("an encrypted key's passphrase is asked on the terminal without echo", () => {
    const r = runs.passphrase;
    expect(r.code, r.stdout).toBe(2);
    expect(r.stdout.split('passphrase for ').length - 1, r.stdout).toBe(1);
    expect(r.stdout).toContain('      ! ssh=Ssh-Pa55word-7q become=******** vrrp=Vr9Pa55');
    // this inventory holds only the become password: the other two are no secrets of this run
    for (const text of [r.stdout, r.log]) expect([PASSPHRASE, BECOME_PASSWORD].filter((x) => text.includes(x))).toEqual([]);
  });
});

describe('inventory errors about a secret never show its value (they come before masking is set up)', () => {
  const secretVars = ['ansible_password', 'ansible_ssh_pass', 'ansible_become_password', 'ansible_become_pass', 'vrrp_auth_pass'];
  const bad: Array<[string, string]> = [
    ['two lines', '"Sup3r-Secret-Pw\\nline2"'],
    ['a list', '[Sup3r-Secret-Pw]'],
    ['a mapping', '{ a: Sup3r-Secret-Pw }'],
    ['a huge number', '12345678901234567890123'],
  ];
  const vrrpOnly: Array<[string, string]> = [
    ['9 characters', 'Sup3rS3cr'],
    ['a space and #', '"Sup3r S#"'],
  ];
  const cases = [
    ...secretVars.flatMap((k) => bad.map(([what, v]) => [k, what, v] as const)),
    ...vrrpOnly.map(([what, v]) => ['vrrp_auth_pass', what, v] as const),
  ];
  test.each(cases)('%s: %s', (key, _what, value) => {
    const text = [
      'all:',
      '  vars:',
      '    vip: 10.0.0.100',
      `    ${key}: ${value}`,
      '  children:',
      '    masters:',
      '      hosts:',
      '        m1: { ansible_host: 10.0.0.11 }',
      '',
    ].join('\n');
    let message = '';
    try {
      resolveSettings(parseInventory(text, 'hosts.yaml'));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(new RegExp(`^hosts\\.yaml:4: all\\.vars\\.${key}: `));
    for (const part of ['Sup3r', 'S3cr', '1234567890']) expect(message).not.toContain(part);
  });
});

describe('keepalived.conf holds the VRRP pass and is written 0600; nothing else holds it', () => {
  test('desiredFiles', () => {
    const inv = parseInventory(
      [
        'all:',
        '  vars:',
        '    vip: 10.0.0.100',
        `    vrrp_auth_pass: ${VRRP_PASS}`,
        '  children:',
        '    masters:',
        '      hosts:',
        '        m1: { ansible_host: 10.0.0.11 }',
        '        m2: { ansible_host: 10.0.0.12 }',
        '',
      ].join('\n'),
      'hosts.yaml',
    );
    const s = resolveSettings(inv);
    const net: Record<string, HostNet> = {
      m1: { iface: 'eth0', address: '10.0.0.11', prefix: 24, holdsVip: false },
      m2: { iface: 'eth0', address: '10.0.0.12', prefix: 24, holdsVip: false },
    };
    for (const host of ['m1', 'm2']) {
      const files = desiredFiles(s, net, host);
      const conf = files.find((f) => f.path === KEEPALIVED_CONF);
      expect(conf?.mode).toBe(0o600);
      expect(conf?.owner).toBe('root');
      expect(conf?.content).toContain(`auth_pass ${VRRP_PASS}`);
      for (const f of files.filter((x) => x.path !== KEEPALIVED_CONF)) expect(f.content, f.path).not.toContain(VRRP_PASS);
    }
  });
});
