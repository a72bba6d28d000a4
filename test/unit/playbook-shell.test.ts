// Playbook values never become shell code or options (issue 14, defect 4):
// - wait_for.host is checked when the playbook loads (an IP address or a DNS name) and reaches
//   bash as an argument, so even a value that slipped past the check is only an address;
// - owner/group of file and copy are checked when the playbook loads (a user/group name or a
//   numeric id) and follow `--` in chown/chgrp/install, so `--reference=...` is never an option.
// The scripts run under a real sh/bash with stand-ins for chown/install on PATH that record argv.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tcpConnectScript } from '../../src/actions/probes.js';
import { ExitCode, InputError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { applyScript } from '../../src/modules/file.js';
import { isHostAddress, isOwnerName, parsePlaybook } from '../../src/playbook/load.js';
import { parseableKeyPair } from '../../src/transport/keygen.js';
import { connect } from '../../src/transport/ssh.js';
import type { Connection } from '../../src/transport/types.js';
import { runKha } from '../helpers/cli.js';
import { startFakeSshServer, type FakeSshServer } from '../helpers/fake-ssh-server.js';

const INJECTION = '127.0.0.1/1; echo INJECTED >&2; #';
const inv = parseInventory(['all:', '  children:', '    masters:', '      hosts:', '        m1: { ansible_host: 10.0.0.11 }', ''].join('\n'), 'hosts.yaml');

let dir = '';
const open: Array<{ close(): Promise<void> | void }> = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-playbook-shell-'));
  // stand-ins that record their argv, one word per line, and succeed
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  for (const tool of ['chown', 'chgrp', 'install']) {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "$ARGV_DIR/${tool}"\n`, { mode: 0o755 });
  }
  fs.writeFileSync(
    path.join(bin, 'sudo'),
    '#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -n|-H) shift;; -u) shift 2;; --) shift; break;; *) break;; esac; done\nexec "$@"\n',
    { mode: 0o755 },
  );
});

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A playbook of one task, `wait_for` or another module, as text. */
function playbook(task: string): string {
  return ['- name: p', '  hosts: masters', '  tasks:', '    - name: the task', `      ${task}`, ''].join('\n');
}

function loadError(text: string): InputError {
  let err: unknown;
  try {
    parsePlaybook(text, 'site.yaml', inv);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

describe('wait_for.host is an address or a DNS name (checked when the playbook loads)', () => {
  test.each(['127.0.0.1', '10.0.0.100', '::1', 'fe80::1', '2001:db8::7', 'localhost', 'api.example.com', 'kube-apiserver.kha.internal', 'node1.'])(
    '%s is accepted',
    (h) => {
      expect(isHostAddress(h)).toBe(true);
      const [play] = parsePlaybook(playbook(`wait_for: { port: 6443, host: ${JSON.stringify(h)} }`), 'site.yaml', inv);
      expect(play!.tasks).toHaveLength(1);
    },
  );

  test.each([INJECTION, '127.0.0.1/1', '$(id)', '`id`', 'a b', 'host;', '-x', '[::1]', 'fe80::1%eth0', 'a..b', '-a.b', 'a_b', '', 'x\ny', 'a'.repeat(64)])(
    '%j is refused',
    (h) => {
      expect(isHostAddress(h)).toBe(false);
    },
  );

  test("the issue's value: one error line naming the file, the task and the field; exit 4", () => {
    const e = loadError(playbook(`wait_for: { port: 6443, host: ${JSON.stringify(INJECTION)} }`));
    expect(e.exit).toBe(ExitCode.usage);
    expect(e.message).toBe(
      `site.yaml: play 1.tasks[0].wait_for.host (task "the task"): "127.0.0.1/1; echo INJECTED >&2; #" is not an IPv4 or IPv6 address or a DNS name (e.g. 127.0.0.1, ::1, api.example.com)`,
    );
  });

  test('a value with a newline still makes one line', () => {
    const e = loadError(playbook('wait_for: { port: 6443, host: "a\\nb" }'));
    expect(e.message.split('\n')).toHaveLength(1);
    expect(e.message).toContain('wait_for.host');
  });
});

describe('owner and group are user/group names or numeric ids (checked when the playbook loads)', () => {
  test.each(['root', 'www-data', '_apt', 'kha', 'nobody', 'user$', '0', '1000', 'a'.repeat(32)])('%s is accepted', (o) => {
    expect(isOwnerName(o)).toBe(true);
  });

  test.each(['--reference=/etc/shadow', '-1', 'root:root', 'a b', 'Root', '1abc', '$(id)', 'a;b', '', 'x\ny', 'a'.repeat(33), 'us$er'])(
    '%j is refused',
    (o) => {
      expect(isOwnerName(o)).toBe(false);
    },
  );

  test.each([
    ['file', 'owner', 'file: { path: /etc/x, state: file, owner: "--reference=/etc/shadow" }'],
    ['file', 'group', 'file: { path: /etc/x, state: directory, group: "--reference=/etc/shadow" }'],
    ['copy', 'owner', 'copy: { path: /etc/x, content: "x", mode: "0644", owner: "--reference=/etc/shadow" }'],
    ['copy', 'group', 'copy: { path: /etc/x, content: "x", mode: "0644", group: "--reference=/etc/shadow" }'],
  ])('%s.%s: --reference=... is refused with one line naming file, task and field; exit 4', (mod, field, task) => {
    const e = loadError(playbook(task));
    expect(e.exit).toBe(ExitCode.usage);
    expect(e.message).toMatch(
      new RegExp(`^site\\.yaml: play 1\\.tasks\\[0\\]\\.${mod}\\.${field} \\(task "the task"\\): "--reference=/etc/shadow" is not a (user|group) name `),
    );
    expect(e.message.split('\n')).toHaveLength(1);
  });

  test('a numeric owner in YAML (owner: 0) is an id', () => {
    const [play] = parsePlaybook(playbook('file: { path: /etc/x, state: file, owner: 0, group: 4 }'), 'site.yaml', inv);
    expect(play!.tasks[0]!.params).toMatchObject({ owner: '0', group: '4' });
  });
});

describe('the built CLI refuses such a playbook before connecting (exit 4, one line)', () => {
  test("kha play with the issue's wait_for.host", async () => {
    let connections = 0;
    const listener = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    open.push({ close: () => new Promise<void>((r) => listener.close(() => r())) });
    const port = (listener.address() as net.AddressInfo).port;
    const hosts = path.join(dir, 'cli-hosts.yaml');
    const site = path.join(dir, 'cli-site.yaml');
    fs.writeFileSync(
      hosts,
      ['all:', '  children:', '    masters:', '      hosts:', `        m1: { ansible_host: 127.0.0.1, ansible_port: ${port} }`, ''].join('\n'),
    );
    fs.writeFileSync(site, playbook(`wait_for: { port: 6443, host: ${JSON.stringify(INJECTION)} }`));
    const r = await runKha(['play', '-i', hosts, site, '--yes', '--log-file', path.join(dir, 'cli.log')], { timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toEqual([
      `error: ${site}: play 1.tasks[0].wait_for.host (task "the task"): "127.0.0.1/1; echo INJECTED >&2; #" is not an IPv4 or IPv6 address or a DNS name (e.g. 127.0.0.1, ::1, api.example.com)`,
    ]);
    expect(r.stdout + r.stderr).not.toMatch(/^INJECTED$/m);
    expect(connections).toBe(0);
  });
});

describe('wait_for host and port reach bash as arguments, never as code (real bash, loopback listener)', () => {
  let server: net.Server;
  let port = 0;
  let accepted = 0;
  beforeAll(async () => {
    server = net.createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** sh -c script, asynchronously: the listener must accept while the script runs */
  const run = (script: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  test('a good address connects (exit 0); a closed port does not', async () => {
    const before = accepted;
    expect((await run(tcpConnectScript('127.0.0.1', port))).status).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toBe(before + 1);
    // port 1 on loopback: nothing listens there (privileged, never bound by tests)
    expect((await run(tcpConnectScript('127.0.0.1', 1))).status).not.toBe(0);
  });

  test.each([
    ["the issue's value", INJECTION],
    // this one reaches the listener first, so the injected commands would surely run after it
    ['a value that connects, then injects', () => `127.0.0.1/${port}; echo INJECTED >&2; touch ${path.join(dir, 'injected')}; #`],
    ['command substitution', () => `$(touch ${path.join(dir, 'injected')})`],
    ['backticks', () => `\`touch ${path.join(dir, 'injected')}\``],
  ])('%s runs nothing', async (_what, value) => {
    const host = typeof value === 'function' ? value() : value;
    fs.rmSync(path.join(dir, 'injected'), { force: true });
    const r = await run(tcpConnectScript(host, port));
    expect(r.status).not.toBe(0);
    // bash names the bad path in its error; the injected echo would print INJECTED on a line of its own
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/^INJECTED$/m);
    expect(fs.existsSync(path.join(dir, 'injected'))).toBe(false);
  });
});

describe('owner/group follow `--` in chown/chgrp/install (stand-ins on PATH record the argv)', () => {
  const env = () => ({ ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, ARGV_DIR: dir });
  const argvOf = (tool: string) => fs.readFileSync(path.join(dir, tool), 'utf8').split('\n').slice(0, -1);

  test('file: chown -- OWNER:GROUP PATH', () => {
    const target = path.join(dir, 'f.conf');
    const r = spawnSync('sh', ['-c', applyScript({ path: target, state: 'file', owner: '--reference=/etc/shadow', group: 'adm' })], {
      env: env(),
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(argvOf('chown')).toEqual(['--', '--reference=/etc/shadow:adm', target]);
  });

  describe('upload (copy/template) over SSH', () => {
    let s: FakeSshServer;
    let key = '';
    let pub = '';
    beforeAll(() => {
      const kp = parseableKeyPair();
      key = path.join(dir, 'id_test');
      fs.writeFileSync(key, kp.private, { mode: 0o600 });
      pub = kp.public;
    });

    async function conn(become: boolean): Promise<Connection> {
      s = await startFakeSshServer({ authorizedKey: pub, sftp: 'fs', env: { ...env(), FAKE_SUDO_NOPASSWD: '1' } });
      open.push(s);
      const kh = path.join(dir, `known_hosts_${s.port}`);
      fs.writeFileSync(kh, `[127.0.0.1]:${s.port} ${s.hostKeyPublic}\n`, { mode: 0o600 });
      const c = await connect(
        { name: 'm1', address: '127.0.0.1', port: s.port, user: 'kha', privateKeyFile: key, become, becomeUser: 'root' },
        { knownHostsFile: kh, sshConfigFile: path.join(dir, 'no-ssh-config'), agentSocket: '', connectTimeoutMs: 3000 },
      );
      open.push(c);
      return c;
    }

    test('without become: chown -- OWNER:GROUP PATH, chgrp -- GROUP PATH', async () => {
      const c = await conn(false);
      const target = path.join(dir, 'up1.conf');
      await c.upload('x\n', target, { mode: 0o644, owner: '--reference=/etc/shadow', group: 'adm' });
      expect(argvOf('chown')).toEqual(['--', '--reference=/etc/shadow:adm', target]);
      await c.upload('x\n', target, { mode: 0o644, group: '--reference=/etc/shadow' });
      expect(argvOf('chgrp')).toEqual(['--', '--reference=/etc/shadow', target]);
    });

    test('with become: install ... -- TMP PATH', async () => {
      const c = await conn(true);
      const target = path.join(dir, 'up2.conf');
      await c.upload('x\n', target, { mode: 0o640, owner: 'root', group: 'adm' });
      const argv = argvOf('install');
      expect(argv.slice(0, 7)).toEqual(['-m', '0640', '-o', 'root', '-g', 'adm', '--']);
      expect(argv.slice(8)).toEqual([target]);
      expect(argv[7]).toMatch(/^\/tmp\/\.kha-upload-/);
    });
  });
});
