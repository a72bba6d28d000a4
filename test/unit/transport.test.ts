// The SSH transport against an in-process ssh2 server (test/helpers/fake-ssh-server.ts).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, TransportError } from '../../src/errors.js';
import { hashKnownHostName } from '../../src/transport/known-hosts.js';
import { ConnectionPool } from '../../src/transport/pool.js';
import { cmd, sh } from '../../src/transport/quote.js';
import { connect, hostKeyAlgorithms, type ConnectOptions } from '../../src/transport/ssh.js';
import type { Connection, HostConnectionSpec } from '../../src/transport/types.js';
import { startFakeSshServer, type FakeSshServer, type FakeSshServerOptions } from '../helpers/fake-ssh-server.js';
import { parseableKeyPair } from '../../src/transport/keygen.js';

let dir: string;
let keyFile: string;
let publicKey: string;
const open: Array<{ close(): Promise<void> }> = [];

// A stand-in for sudo on PATH: parses the flags kha uses, prompts on stderr, reads one line.
const FAKE_SUDO = `#!/bin/sh
prompt=; nonint=
while [ $# -gt 0 ]; do
  case "$1" in
    -S|-H) shift;;
    -n) nonint=1; shift;;
    -p) prompt="$2"; shift 2;;
    -u) shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
[ -n "$FAKE_SUDO_NOPASSWD" ] && exec "$@"
if [ -n "$nonint" ]; then echo "sudo: a password is required" >&2; exit 1; fi
printf '%s' "$prompt" >&2
IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
if [ "$pw" != "$FAKE_SUDO_PASSWORD" ]; then
  echo "Sorry, try again." >&2
  printf '%s' "$prompt" >&2
  IFS= read -r pw || { echo "sudo: 1 incorrect password attempt" >&2; exit 1; }
  [ "$pw" = "$FAKE_SUDO_PASSWORD" ] || { echo "sudo: 2 incorrect password attempts" >&2; exit 1; }
fi
exec "$@"
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-transport-'));
  const kp = parseableKeyPair();
  keyFile = path.join(dir, 'id_test');
  fs.writeFileSync(keyFile, kp.private, { mode: 0o600 });
  publicKey = kp.public;
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin', 'sudo'), FAKE_SUDO, { mode: 0o755 });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function server(opts: FakeSshServerOptions = {}): Promise<FakeSshServer> {
  const s = await startFakeSshServer({ authorizedKey: publicKey, ...opts });
  open.push(s);
  return s;
}

let khCount = 0;
/** a known_hosts file that already trusts the server */
function knownHosts(s: FakeSshServer, content = `[127.0.0.1]:${s.port} ${s.hostKeyPublic}\n`): string {
  const f = path.join(dir, `known_hosts_${khCount++}`);
  fs.writeFileSync(f, content, { mode: 0o600 });
  return f;
}

function spec(s: { port: number }, over: Partial<HostConnectionSpec> = {}): HostConnectionSpec {
  return {
    name: 'm1',
    address: '127.0.0.1',
    port: s.port,
    user: 'kha',
    privateKeyFile: keyFile,
    become: false,
    becomeUser: 'root',
    ...over,
  };
}

function options(knownHostsFile: string, over: ConnectOptions = {}): ConnectOptions {
  return {
    knownHostsFile,
    sshConfigFile: path.join(dir, 'no-ssh-config'),
    agentSocket: '',
    connectTimeoutMs: 3000,
    ...over,
  };
}

async function conn(s: FakeSshServer, over: Partial<HostConnectionSpec> = {}, opts: ConnectOptions = {}): Promise<Connection> {
  const c = await connect(spec(s, over), options(knownHosts(s), opts));
  open.push(c);
  return c;
}

/** `type base64` of a private key's public half, as known_hosts holds it */
function publicLineOf(privateKey: string): string {
  const k = ssh2.utils.parseKey(privateKey);
  if (k instanceof Error || Array.isArray(k)) throw new Error('bad key');
  return `${k.type} ${k.getPublicSSH().toString('base64')}`;
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TransportError);
  return e as TransportError;
}

describe('exec', () => {
  it('returns stdout, stderr and the exit code; a non-zero exit does not throw', async () => {
    const s = await server();
    const c = await conn(s);
    const r = await c.exec(sh`echo out; echo err >&2; exit 3`);
    expect(r).toMatchObject({ code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
    expect(s.stats.commands[0]).toBe(`sh -c 'echo out; echo err >&2; exit 3'`);
    expect(c.stats.execs).toBe(1);
  });

  it('quotes argv words and writes stdin', async () => {
    const s = await server();
    const c = await conn(s);
    expect((await c.exec(cmd('printf', '%s|', 'a b', "it's", '$HOME'))).stdout).toBe(`a b|it's|$HOME|`);
    expect((await c.exec(cmd('cat'), { stdin: 'hello\nworld' })).stdout).toBe('hello\nworld');
  });

  it('kills a command that outlives its timeout and reports timedOut', async () => {
    const s = await server();
    const c = await conn(s);
    const t0 = Date.now();
    const r = await c.exec(sh`sleep 5`, { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.code).toBeNull();
    expect(Date.now() - t0).toBeLessThan(2500);
    // the connection is still usable
    expect((await c.exec(cmd('echo', 'ok'))).stdout).toBe('ok\n');
  });

  it('stops a command when its AbortSignal fires', async () => {
    const s = await server();
    const c = await conn(s);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await c.exec(sh`sleep 5`, { signal: ac.signal });
    expect(r.code).toBeNull();
    expect(r.timedOut).toBeUndefined();
  });

  it('fails promptly, with a TransportError, once the connection is gone', async () => {
    const s = await server();
    const c = await conn(s);
    const running = c.exec(sh`sleep 5`);
    await new Promise((r) => setTimeout(r, 100));
    await s.close();
    const e = await failure(running);
    expect(e.message).toMatch(/^m1: connection to 127\.0\.0\.1:\d+ was lost/);
    const t0 = Date.now();
    await failure(c.exec(cmd('true')));
    expect(Date.now() - t0).toBeLessThan(100);
  });
});

describe('pool', () => {
  it('reuses one connection (one handshake) for many execs on a host', async () => {
    const s = await server();
    const pool = new ConnectionPool(options(knownHosts(s)));
    open.push({ close: () => pool.closeAll() });
    const [a, b] = await Promise.all([pool.get(spec(s)), pool.get(spec(s))]);
    expect(a).toBe(b);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.get(spec(s)).then((c) => c.exec(cmd('echo', String(i))))));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    expect(pool.handshakes).toBe(1);
    expect(s.stats.handshakes).toBe(1);
    expect(s.stats.execs).toBe(20);
    expect((await pool.get(spec(s))).stats.execs).toBe(20);
  });

  it('opens at most `forks` connections at a time', async () => {
    let inFlight = 0;
    let peak = 0;
    const pool = new ConnectionPool({
      forks: 3,
      connect: async (sp) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 20));
        inFlight--;
        return {
          name: sp.name,
          stats: { execs: 0, uploads: 0 },
          exec: async () => ({ code: 0, signal: null, stdout: '', stderr: '' }),
          upload: async () => {},
          close: async () => {},
        };
      },
    });
    const conns = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.get(spec({ port: 22 }, { name: `h${i}` }))));
    expect(new Set(conns.map((c) => c.name)).size).toBe(10);
    expect(peak).toBe(3);
    expect(pool.handshakes).toBe(10);
    await pool.closeAll();
  });

  it('opens real connections to several hosts concurrently', async () => {
    const servers = await Promise.all([server(), server(), server()]);
    const kh = path.join(dir, 'known_hosts_many');
    fs.writeFileSync(kh, servers.map((s) => `[127.0.0.1]:${s.port} ${s.hostKeyPublic}\n`).join(''));
    const pool = new ConnectionPool({ ...options(kh), forks: 2 });
    open.push({ close: () => pool.closeAll() });
    const out = await Promise.all(servers.map((s, i) => pool.get(spec(s, { name: `m${i}` })).then((c) => c.exec(cmd('echo', c.name)))));
    expect(out.map((r) => r.stdout)).toEqual(['m0\n', 'm1\n', 'm2\n']);
    expect(pool.handshakes).toBe(3);
  });
});

describe('host keys', () => {
  it('refuses an unknown host without --accept-new-host-keys, and does not retry', async () => {
    const s = await server();
    const kh = path.join(dir, 'kh-missing', 'known_hosts');
    const e = await failure(connect(spec(s), options(kh)));
    expect(e.fatal).toBe(true);
    expect(e.code).toBe('E_HOSTKEY_UNKNOWN');
    expect(e.message).toMatch(new RegExp(`^m1: host key for 127\\.0\\.0\\.1:${s.port} is not known`));
    expect(e.message).toContain('--accept-new-host-keys');
    expect(e.message).toContain('ssh-keyscan');
    expect(s.stats.connections).toBe(1);
    expect(fs.existsSync(kh)).toBe(false);
  });

  it('records an unknown key with acceptNewHostKeys (file 0600, dir 0700, [host]:port form)', async () => {
    const s = await server();
    const kh = path.join(dir, 'kh-new', '.ssh', 'known_hosts');
    const c = await connect(spec(s), options(kh, { acceptNewHostKeys: true }));
    await c.close();
    expect(fs.readFileSync(kh, 'utf8')).toBe(`[127.0.0.1]:${s.port} ${s.hostKeyPublic}\n`);
    expect(fs.statSync(kh).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(kh)).mode & 0o777).toBe(0o700);
    // now known: a plain connect works and nothing is appended
    const c2 = await connect(spec(s), options(kh));
    await c2.close();
    expect(fs.readFileSync(kh, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('refuses a CHANGED key even with acceptNewHostKeys, fatal, after exactly one attempt', async () => {
    const s = await server();
    const other = ssh2.utils.parseKey(parseableKeyPair().public);
    if (other instanceof Error) throw other;
    const kh = knownHosts(s, `# comment\n[127.0.0.1]:${s.port} ssh-ed25519 ${other.getPublicSSH().toString('base64')}\n`);
    const e = await failure(connect(spec(s), options(kh, { acceptNewHostKeys: true, retries: 3 })));
    expect(e.fatal).toBe(true);
    expect(e.code).toBe('E_HOSTKEY_CHANGED');
    expect(e.message).toMatch(new RegExp(`^m1: host key for 127\\.0\\.0\\.1:${s.port} does not match .*known_hosts_\\d+ line 2: possible man-in-the-middle`));
    expect(e.message).toContain(`ssh-keygen -f ${kh} -R '[127.0.0.1]:${s.port}'`);
    expect(s.stats.connections).toBe(1);
    expect(fs.readFileSync(kh, 'utf8')).not.toContain(s.hostKeyPublic.split(' ')[1]);
  });

  it('refuses a host known by an ECDSA key that presents an ed25519 one: a changed identity, even with acceptNewHostKeys', async () => {
    const s = await server(); // an ed25519 host key only
    const kh = knownHosts(s, `[127.0.0.1]:${s.port} ${publicLineOf(ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }).private)}\n`);
    const before = fs.readFileSync(kh, 'utf8');
    const e = await failure(connect(spec(s), options(kh, { acceptNewHostKeys: true, retries: 3 })));
    expect(e.fatal).toBe(true);
    expect(e.code).toBe('E_HOSTKEY_CHANGED');
    expect(e.exit).toBe(ExitCode.unreachable); // as for a changed key
    expect(e.message).toMatch(
      new RegExp(
        `^m1: host key for 127\\.0\\.0\\.1:${s.port} changed type: it presented ssh-ed25519 SHA256:\\S+, but .*known_hosts_\\d+ knows this host only by ecdsa-sha2-nistp256 \\(line 1\\): possible man-in-the-middle`,
      ),
    );
    expect(e.message).toContain(`remove the old line with: ssh-keygen -f ${kh} -R '[127.0.0.1]:${s.port}'`);
    expect(e.message).not.toContain('\n');
    expect(s.stats.connections).toBe(1);
    expect(s.stats.handshakes).toBe(0);
    expect(fs.readFileSync(kh, 'utf8')).toBe(before);
  });

  it('a host with ed25519 and ECDSA keys proves the type known_hosts holds (offered first), whichever it is', async () => {
    const ecdsa = ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }).private;
    const ed = parseableKeyPair().private;
    const s = await server({ hostKeys: [ed, ecdsa] });
    for (const known of [ecdsa, ed]) {
      const kh = knownHosts(s, `[127.0.0.1]:${s.port} ${publicLineOf(known)}\n`);
      const c = await connect(spec(s), options(kh));
      open.push(c);
      expect((await c.exec(cmd('echo', 'ok'))).stdout).toBe('ok\n');
      expect(fs.readFileSync(kh, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    }
  });

  it('refuses to record a key for a host a @cert-authority line covers (ssh2 cannot verify host certificates), in one line', async () => {
    const s = await server();
    const kh = knownHosts(s, `@cert-authority [127.0.0.1]:* ${publicLineOf(parseableKeyPair().private)}\n`);
    const e = await failure(connect(spec(s), options(kh, { acceptNewHostKeys: true })));
    expect(e.fatal).toBe(true);
    expect(e.code).toBe('E_HOSTKEY_UNKNOWN');
    expect(e.message).toMatch(
      new RegExp(
        `^m1: host key for 127\\.0\\.0\\.1:${s.port} \\(ssh-ed25519 SHA256:\\S+\\) is not in .*, and its @cert-authority line 1 covers this host, but kha cannot verify host certificates`,
      ),
    );
    expect(e.message).toContain(`add the host's plain key line, e.g. with: ssh-keyscan -p ${s.port} 127.0.0.1 >> ${kh}`);
    expect(e.message).not.toContain('\n');
    expect(s.stats.handshakes).toBe(0);
    expect(fs.readFileSync(kh, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('refuses a key marked @revoked, even when a plain line also holds it and with acceptNewHostKeys', async () => {
    const s = await server();
    for (const content of [`[127.0.0.1]:${s.port} ${s.hostKeyPublic}\n@revoked * ${s.hostKeyPublic}\n`, `# x\n@revoked * ${s.hostKeyPublic}\n`]) {
      const kh = knownHosts(s, content);
      const e = await failure(connect(spec(s), options(kh, { acceptNewHostKeys: true })));
      expect(e.code).toBe('E_HOSTKEY_CHANGED');
      expect(e.message).toMatch(/is marked @revoked in .*known_hosts_\d+ line 2: refusing to connect$/);
      expect(fs.readFileSync(kh, 'utf8')).toBe(content);
    }
    expect(s.stats.handshakes).toBe(0);
  });

  it('the ssh-keyscan hint for an unknown host names known_hosts by its absolute path, quoted (a quoted ~ is not expanded)', async () => {
    const s = await server();
    const home = path.join(dir, 'home dir');
    const kh = path.join(home, '.ssh', 'known_hosts');
    const saved = process.env['HOME'];
    process.env['HOME'] = home;
    try {
      expect(os.homedir()).toBe(home);
      const e = await failure(connect(spec(s), options(kh)));
      expect(e.code).toBe('E_HOSTKEY_UNKNOWN');
      const scan = `ssh-keyscan -p ${s.port} 127.0.0.1 >> '${kh}'`;
      expect(e.message).toContain(`add it first with: ${scan}`);
      expect(e.suggestions).toContain(scan);
      expect(e.message).not.toContain("'~");
    } finally {
      if (saved === undefined) delete process.env['HOME'];
      else process.env['HOME'] = saved;
    }
  });

  it('matches a hashed known_hosts entry', async () => {
    const s = await server();
    const kh = knownHosts(s, `${hashKnownHostName(`[127.0.0.1]:${s.port}`)} ${s.hostKeyPublic}\n`);
    const c = await connect(spec(s), options(kh));
    open.push(c);
    expect((await c.exec(cmd('echo', 'hi'))).stdout).toBe('hi\n');
  });
});

describe('algorithms: no SHA-1', () => {
  const rsa = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 }).private;

  it('an RSA host key is accepted through rsa-sha2-512/256, but never with ssh-rsa (SHA-1) signatures', async () => {
    const good = await server({ hostKeys: [rsa], algorithms: { serverHostKey: ['rsa-sha2-256', 'ssh-rsa'] } });
    const c = await connect(spec(good), options(knownHosts(good, `[127.0.0.1]:${good.port} ${publicLineOf(rsa)}\n`)));
    open.push(c);
    expect((await c.exec(cmd('echo', 'ok'))).stdout).toBe('ok\n');

    const old = await server({ hostKeys: [rsa], algorithms: { serverHostKey: ['ssh-rsa'] } });
    const e = await failure(connect(spec(old), options(knownHosts(old, `[127.0.0.1]:${old.port} ${publicLineOf(rsa)}\n`), { retries: 3 })));
    expect(e.fatal).toBe(true);
    expect(e.message).toMatch(
      /^m1: 127\.0\.0\.1:\d+ and kha have no SSH algorithm in common \(Handshake failed: no matching host key format\): kha does not offer the SHA-1 ones/,
    );
    expect(old.stats.connections).toBe(1);
    expect(old.stats.handshakes).toBe(0);
  });

  it('hmac-sha1 is not offered', async () => {
    const s = await server({ algorithms: { cipher: ['aes128-ctr'], hmac: ['hmac-sha1', 'hmac-sha1-etm@openssh.com'] } });
    const e = await failure(connect(spec(s), options(knownHosts(s))));
    expect(e.message).toContain('no matching C->S MAC');
    expect(s.stats.handshakes).toBe(0);
  });

  it('known key types are offered first; ssh-rsa maps to rsa-sha2-512/256 and is never offered itself', () => {
    const all = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];
    expect(hostKeyAlgorithms([])).toEqual(all);
    expect(hostKeyAlgorithms(['ecdsa-sha2-nistp256'])).toEqual([
      'ecdsa-sha2-nistp256',
      'ssh-ed25519',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'rsa-sha2-512',
      'rsa-sha2-256',
    ]);
    expect(hostKeyAlgorithms(['ssh-rsa', 'ssh-dss'])).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
    ]);
  });
});

describe('a host that vanishes during an upload', () => {
  it('the upload fails at once with the lost connection (the SFTP close after a failed write must not wait forever)', async () => {
    const s = await server({ dropOnSftpWrite: true });
    const c = await conn(s);
    const t0 = Date.now();
    const e = await Promise.race([
      c.upload('data', '/tmp/kha-vanish-test', { mode: 0o644 }).then(
        () => new Error('the upload succeeded'),
        (err: unknown) => err,
      ),
      new Promise((r) => setTimeout(() => r(new Error('the upload still hangs after 5 s')), 5_000)),
    ]);
    expect(String(e)).toMatch(/m1: (connection to 127\.0\.0\.1:\d+ was lost|upload to \/tmp\/kha-vanish-test: write)/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await expect(c.exec(cmd('true'))).rejects.toThrow(/was lost/);
  });
});

describe('auth and retries', () => {
  it('does not retry an authentication failure', async () => {
    const s = await server({ authorizedKey: parseableKeyPair().public });
    const e = await failure(connect(spec(s), options(knownHosts(s), { retries: 3 })));
    expect(e.fatal).toBe(true);
    expect(e.message).toBe(
      `m1: authentication failed for user kha at 127.0.0.1:${s.port} (tried: publickey): check ansible_user and ansible_ssh_private_key_file`,
    );
    expect(s.stats.connections).toBe(1);
  });

  it('a refused password names ansible_password, is tried once and never echoed', async () => {
    const s = await server({ authorizedKey: undefined, password: 'right-pw' });
    const e = await failure(
      connect(spec(s, { privateKeyFile: undefined, password: 'wrong-pw' }), options(knownHosts(s), { retries: 3, sshConfigFile: path.join(dir, 'none') })),
    );
    expect(e.fatal).toBe(true);
    expect(e.message).toBe(`m1: authentication failed for user kha at 127.0.0.1:${s.port} (tried: password): check ansible_user and ansible_password`);
    expect(s.stats.connections).toBe(1);
  });

  it('logs in with a password', async () => {
    const s = await server({ authorizedKey: undefined, password: 'pw-123' });
    const c = await conn(s, { privateKeyFile: undefined, password: 'pw-123' }, { sshConfigFile: path.join(dir, 'none') });
    expect((await c.exec(cmd('echo', 'in'))).stdout).toBe('in\n');
  });

  it('retries a refused connection with backoff, then says how often it tried', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const logs: string[] = [];
    const t0 = Date.now();
    const e = await failure(connect(spec({ port }), options(path.join(dir, 'kh-none'), { retries: 2, log: (m) => logs.push(m) })));
    const elapsed = Date.now() - t0;
    expect(e.fatal).toBe(false);
    expect(e.message).toBe(
      `m1: cannot connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED) (after 3 attempts): is sshd running there, and are ansible_host/ansible_port right?`,
    );
    expect(logs.filter((l) => l.includes('retrying'))).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(700); // 250 + 500 ms
  });

  it('retries a server that closes the connection during the handshake (sshd MaxStartups), with backoff', async () => {
    let accepted = 0;
    const rude = net.createServer((sock) => {
      accepted++;
      sock.destroy();
    });
    await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
    open.push({ close: () => new Promise<void>((r) => rude.close(() => r())) });
    const port = (rude.address() as net.AddressInfo).port;
    const logs: string[] = [];
    const t0 = Date.now();
    const e = await failure(connect(spec({ port }), options(path.join(dir, 'kh-none'), { retries: 2, retryDelayMs: 50, log: (m) => logs.push(m) })));
    expect(e.fatal).toBe(false);
    expect(e.message).toMatch(/\(after 3 attempts\)/);
    expect(accepted).toBe(3);
    expect(logs.filter((l) => l.includes('retrying in 50 ms'))).toHaveLength(1);
    expect(logs.filter((l) => l.includes('retrying in 100 ms'))).toHaveLength(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });

  it('never re-runs a command: once its connection is lost, the pool reconnects only for the NEXT command', async () => {
    const s = await server();
    const pool = new ConnectionPool({ ...options(knownHosts(s)), retries: 0 });
    open.push({ close: () => pool.closeAll() });
    const c1 = await pool.get(spec(s));
    const running = c1.exec(sh`sleep 5; echo once`);
    await new Promise((r) => setTimeout(r, 100));
    s.dropConnections();
    await failure(running);
    const c2 = await pool.get(spec(s));
    expect(c2).not.toBe(c1);
    expect((await c2.exec(cmd('echo', 'next'))).stdout).toBe('next\n');
    expect(s.stats.commands.filter((x) => x.includes('sleep 5; echo once'))).toHaveLength(1);
    expect(pool.handshakes).toBe(2);
  });

  it('retries a handshake that times out (a port that accepts but never speaks SSH)', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    open.push({
      close: () => {
        sockets.forEach((x) => x.destroy());
        return new Promise<void>((r) => silent.close(() => r()));
      },
    });
    const port = (silent.address() as net.AddressInfo).port;
    const e = await failure(connect(spec({ port }), options(path.join(dir, 'kh-none'), { connectTimeoutMs: 200, retries: 1, retryDelayMs: 10 })));
    expect(e.fatal).toBe(false);
    expect(e.message).toMatch(/^m1: SSH handshake with 127\.0\.0\.1:\d+ did not complete within 200 ms .*\(after 2 attempts\)/);
    expect(sockets).toHaveLength(2);
  });

  it('refuses a group/world-readable key file like OpenSSH', async () => {
    const f = path.join(dir, 'id_open');
    fs.copyFileSync(keyFile, f);
    fs.chmodSync(f, 0o644);
    const e = await failure(connect(spec({ port: 1 }, { privateKeyFile: f }), options(path.join(dir, 'kh-none'))));
    expect(e).toMatchObject({ code: 'E_KEY', fatal: true });
    expect(e.message).toBe(
      `m1: permissions 0644 for private key ${f} are too open: it must not be accessible by others (OpenSSH refuses it too); chmod 600 ${f}`,
    );
  });

  it('refuses a key path that is a directory', async () => {
    const e = await failure(connect(spec({ port: 1 }, { privateKeyFile: dir }), options(path.join(dir, 'kh-none'))));
    expect(e).toMatchObject({ code: 'E_KEY', fatal: true });
    expect(e.message).toMatch(/is a directory, not a key/);
  });

  it('asks for the passphrase of an encrypted key, or says to use ssh-agent', async () => {
    const kp = parseableKeyPair(undefined, { passphrase: 'open sesame', cipher: 'aes256-ctr', rounds: 2 });
    const f = path.join(dir, 'id_enc');
    fs.writeFileSync(f, kp.private, { mode: 0o600 });
    const s = await server({ authorizedKey: kp.public });
    const asked: string[] = [];
    const c = await conn(s, { privateKeyFile: f }, { onPassphrase: async (file) => (asked.push(file), 'open sesame') });
    expect(asked).toEqual([f]);
    expect((await c.exec(cmd('echo', 'ok'))).stdout).toBe('ok\n');
    const e = await failure(connect(spec(s, { privateKeyFile: f }), options(knownHosts(s))));
    expect(e).toMatchObject({ code: 'E_KEY', fatal: true });
    expect(e.message).toMatch(/encrypted .*ssh-agent \(ssh-add/);
  });
});

describe('become', () => {
  const env = (extra: Record<string, string>) => ({ ...process.env, PATH: `${dir}/bin:${process.env['PATH'] ?? ''}`, ...extra });

  it('wraps in sudo and gives the password on stdin, never on the command line', async () => {
    const s = await server({ env: env({ FAKE_SUDO_PASSWORD: 's3cret-pw' }) });
    const c = await conn(s, { become: true, becomePassword: 's3cret-pw' });
    const r = await c.exec(cmd('cat'), { stdin: 'payload\n' });
    expect(r).toMatchObject({ code: 0, stdout: 'payload\n', stderr: '' });
    expect(s.stats.commands[0]).toMatch(/^sudo -S -p '\[kha-sudo-[0-9a-f]+\] password: ' -H -u root -- sh -c /);
    expect(s.stats.commands.join('\n')).not.toContain('s3cret-pw');
  });

  it('does not feed the password to the command when sudo does not ask (NOPASSWD)', async () => {
    const s = await server({ env: env({ FAKE_SUDO_NOPASSWD: '1' }) });
    const c = await conn(s, { become: true, becomePassword: 's3cret-pw' });
    expect((await c.exec(cmd('cat'), { stdin: 'only this' })).stdout).toBe('only this');
    expect((await c.exec(cmd('cat'))).stdout).toBe('');
  });

  it('turns a sudo authentication failure into a fatal TransportError', async () => {
    const s = await server({ env: env({ FAKE_SUDO_PASSWORD: 'right' }) });
    const c = await conn(s, { become: true, becomePassword: 'wrong' });
    const e = await failure(c.exec(cmd('true')));
    expect(e).toMatchObject({ code: 'E_BECOME', fatal: true });
    expect(e.message).toMatch(/^m1: sudo as root failed for user kha: .*check ansible_become_password$/);
    expect(e.message).not.toContain('wrong');
    const c2 = await conn(s, { become: true });
    const e2 = await failure(c2.exec(cmd('true')));
    expect(s.stats.commands.at(-1)).toMatch(/^sudo -n -H -u root -- sh -c /);
    expect(e2.message).toMatch(/a password is required: set ansible_become_password/);
  });

  it("streams the output as it comes (onOutput), never sudo's prompt nor the marker; the result still has all of it", async () => {
    const s = await server({ env: env({ FAKE_SUDO_PASSWORD: 's3cret-pw' }) });
    const c = await conn(s, { become: true, becomePassword: 's3cret-pw' });
    const seen: Array<[string, string]> = [];
    const r = await c.exec(sh`echo one; echo warn >&2; sleep 0.2; printf 'tw'; sleep 0.2; echo o`, { onOutput: (st, t) => seen.push([st, t]) });
    expect(r).toMatchObject({ code: 0, stdout: 'one\ntwo\n', stderr: 'warn\n' });
    const of = (stream: string) =>
      seen
        .filter(([st]) => st === stream)
        .map(([, t]) => t)
        .join('');
    expect(of('stdout')).toBe('one\ntwo\n');
    expect(of('stderr')).toBe('warn\n');
    // in pieces, as they came (the sleeps part them)
    expect(seen.filter(([st]) => st === 'stdout').length).toBeGreaterThan(1);
    expect(seen.map(([, t]) => t).join('')).not.toMatch(/KHA-BECOME|kha-sudo|s3cret/);
  });

  it('runs directly, without sudo, as root becoming root', async () => {
    const s = await server();
    const c = await conn(s, { user: 'root', become: true, becomePassword: 'unused' });
    await c.exec(cmd('true'));
    expect(s.stats.commands).toEqual(['sh -c true']);
    expect(s.stats.users).toEqual(['root']);
  });
});

describe('upload', () => {
  it('writes content and mode over SFTP (no become)', async () => {
    const s = await server();
    const c = await conn(s, { user: 'root' });
    await c.upload('hello\n', '/etc/kha/test.cfg', { mode: 0o640 });
    await c.upload(Buffer.alloc(100_000, 7), '/etc/kha/big.bin', { mode: 0o600 });
    expect(s.files.get('/etc/kha/test.cfg')).toEqual({ data: Buffer.from('hello\n'), mode: 0o640 });
    expect(s.files.get('/etc/kha/big.bin')?.data.equals(Buffer.alloc(100_000, 7))).toBe(true);
    expect(c.stats.uploads).toBe(2);
    expect(s.stats.execs).toBe(0);
  });

  it('with become, writes a private temp file and installs it through sudo', async () => {
    const s = await server({ sftp: 'fs', env: { ...process.env, PATH: `${dir}/bin:${process.env['PATH'] ?? ''}`, FAKE_SUDO_NOPASSWD: '1' } });
    const c = await conn(s, { become: true });
    const dest = path.join(dir, 'installed.cfg');
    await c.upload('global\n  maxconn 100\n', dest, { mode: 0o644 });
    expect(fs.readFileSync(dest, 'utf8')).toBe('global\n  maxconn 100\n');
    expect(fs.statSync(dest).mode & 0o777).toBe(0o644);
    const install = s.stats.commands.at(-1) ?? '';
    expect(install).toMatch(/^sudo -n -H -u root -- sh -c .*install -m 0644 -- \/tmp\/\.kha-upload-[0-9a-f]+ /);
    const tmp = /\/tmp\/\.kha-upload-[0-9a-f]+/.exec(install)?.[0] ?? '';
    expect(fs.existsSync(tmp)).toBe(false);

    const e = await failure(c.upload('x', path.join(dir, 'no', 'such', 'dir', 'f'), { mode: 0o644 }));
    expect(e.message).toMatch(/^m1: upload to .*: install failed \(exit 1\): install: /);
  });

  it('an exclusive upload (a temp name) never replaces or writes through what is already there, with or without become', async () => {
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'precious\n');
    const planted = path.join(dir, 'planted-link');
    fs.symlinkSync(victim, planted);

    const plain = await server({ sftp: 'fs' });
    const c1 = await conn(plain, { user: 'root' });
    expect((await failure(c1.upload('evil\n', planted, { mode: 0o644, exclusive: true }))).message).toMatch(/upload to .*planted-link: open/);
    const fresh = path.join(dir, 'fresh-exclusive');
    await c1.upload('new\n', fresh, { mode: 0o640, exclusive: true });
    expect(fs.readFileSync(fresh, 'utf8')).toBe('new\n');

    const sudo = await server({ sftp: 'fs', env: { ...process.env, PATH: `${dir}/bin:${process.env['PATH'] ?? ''}`, FAKE_SUDO_NOPASSWD: '1' } });
    const c2 = await conn(sudo, { become: true });
    const e = await failure(c2.upload('evil\n', planted, { mode: 0o644, exclusive: true }));
    expect(e.message).toMatch(/install failed \(exit 1\): .*planted-link already exists/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(planted).isSymbolicLink()).toBe(true);
    const tmp = /\/tmp\/\.kha-upload-[0-9a-f]+/.exec(sudo.stats.commands.at(-1) ?? '')?.[0] ?? '';
    expect(fs.existsSync(tmp)).toBe(false);
  });
});
