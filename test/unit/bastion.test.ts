// Jump hosts end to end in-process: one fake sshd acts as the bastion (it pipes `direct-tcpip`
// channels to loopback ports), others are the hosts behind it. The bastion's host key is checked
// like any host's, errors say which hop failed, and a pool logs in to a bastion once for all the
// hosts behind it.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../../src/cli/base.js';
import { renderStatusTable, type HostStatus } from '../../src/actions/status.js';
import { reportConnections, SshConnector } from '../../src/cli/prepare.js';
import { EventBus, type RunEvent } from '../../src/engine/events.js';
import { InputError, TransportError } from '../../src/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import { parseableKeyPair } from '../../src/transport/keygen.js';
import { ConnectionPool } from '../../src/transport/pool.js';
import { connect, type ConnectOptions } from '../../src/transport/ssh.js';
import type { Connection, HostConnectionSpec } from '../../src/transport/types.js';
import { startFakeSshServer, type FakeSshServer, type FakeSshServerOptions } from '../helpers/fake-ssh-server.js';

let dir: string;
let keyFile: string;
let publicKey: string;
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-bastion-'));
  const kp = parseableKeyPair();
  keyFile = path.join(dir, 'id_test');
  fs.writeFileSync(keyFile, kp.private, { mode: 0o600 });
  publicKey = kp.public;
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

const canned = (command: string) => ({ code: 0, stdout: command.includes('hostname') ? 'behind\n' : '', stderr: '' });

async function server(opts: FakeSshServerOptions = {}): Promise<FakeSshServer> {
  const s = await startFakeSshServer({ authorizedKey: publicKey, handler: canned, ...opts });
  open.push(s);
  return s;
}

let n = 0;
function file(name: string, content: string): string {
  const f = path.join(dir, `${name}-${n++}`);
  fs.writeFileSync(f, content, { mode: 0o600 });
  return f;
}

const khLine = (s: FakeSshServer) => `[127.0.0.1]:${s.port} ${s.hostKeyPublic}\n`;

/** ~/.ssh/config with Host aliases b1, b2... for the bastions (HostName 127.0.0.1, their port) */
function sshConfig(bastions: Record<string, FakeSshServer>, extra = ''): string {
  const hosts = Object.entries(bastions).map(([name, s]) => `Host ${name}\n  HostName 127.0.0.1\n  Port ${s.port}\n  User kha\n`);
  return file('ssh_config', hosts.join('') + extra);
}

function spec(s: { port: number }, over: Partial<HostConnectionSpec> = {}): HostConnectionSpec {
  return { name: 'm2', address: '127.0.0.1', port: s.port, user: 'kha', privateKeyFile: keyFile, become: false, becomeUser: 'root', ...over };
}

function options(knownHostsFile: string, sshConfigFile: string, over: ConnectOptions = {}): ConnectOptions {
  return { knownHostsFile, sshConfigFile, agentSocket: '', connectTimeoutMs: 3000, retries: 0, ...over };
}

async function conn(p: Promise<Connection>): Promise<Connection> {
  const c = await p;
  open.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TransportError);
  return e as TransportError;
}

/** a loopback port nothing listens on */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('through a jump host', () => {
  it('runs a command on the host behind the bastion; the bastion only forwards', async () => {
    const b1 = await server({ forward: true });
    const m2 = await server();
    const c = await conn(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(file('kh', khLine(b1) + khLine(m2)), sshConfig({ b1 }))));
    const r = await c.exec({ argv: ['hostname'] });
    expect(r).toMatchObject({ code: 0, stdout: 'behind\n' });
    expect(c.via).toBe('b1');
    expect(b1.stats.forwards).toEqual([`127.0.0.1:${m2.port}`]);
    expect(b1.stats.execs).toBe(0);
    expect(m2.stats.commands).toEqual(['sh -c hostname']);
  });

  it('a Host alias of ~/.ssh/config resolves the bastion (HostName, Port, User); user@ in the jump wins over User', async () => {
    const b1 = await server({ forward: true, username: 'ops' });
    const m2 = await server();
    const cfg = sshConfig({ b1 });
    const kh = file('kh', khLine(b1) + khLine(m2));
    const failed = await failure(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(kh, cfg)));
    expect(failed.message).toMatch(/^m2: via bastion b1: authentication failed for user kha at 127\.0\.0\.1:\d+ /);
    const c = await conn(connect(spec(m2, { jump: [{ host: 'b1', user: 'ops' }] }), options(kh, cfg)));
    expect((await c.exec({ argv: ['hostname'] })).stdout).toBe('behind\n');
    expect(b1.stats.users).toEqual(['ops']);
  });

  it('follows a chain b1,b2: b2 is reached through b1, the host through b2', async () => {
    const b1 = await server({ forward: true });
    const b2 = await server({ forward: true });
    const m2 = await server();
    const c = await conn(
      connect(spec(m2, { jump: [{ host: 'b1' }, { host: 'b2' }] }), options(file('kh', khLine(b1) + khLine(b2) + khLine(m2)), sshConfig({ b1, b2 }))),
    );
    expect((await c.exec({ argv: ['hostname'] })).stdout).toBe('behind\n');
    expect(c.via).toBe('b1 > b2');
    expect(b1.stats.forwards).toEqual([`127.0.0.1:${b2.port}`]);
    expect(b2.stats.forwards).toEqual([`127.0.0.1:${m2.port}`]);
  });

  it('takes ProxyJump from ~/.ssh/config when the inventory gives none; jump: none connects directly', async () => {
    const b1 = await server({ forward: true });
    const m2 = await server();
    const cfg = sshConfig({ b1 }, `Host behind\n  HostName 127.0.0.1\n  Port ${m2.port}\n  ProxyJump b1\n`);
    const kh = file('kh', khLine(b1) + khLine(m2));
    // the inventory names the host `behind` (no ansible_host): ~/.ssh/config says where and how
    const viaConfig = await conn(connect(spec(m2, { name: 'behind', address: 'behind', port: 22 }), options(kh, cfg)));
    expect(viaConfig.via).toBe('b1');
    expect(b1.stats.forwards).toEqual([`127.0.0.1:${m2.port}`]);
    const direct = await conn(connect(spec(m2, { name: 'behind', address: 'behind', port: 22, jump: 'none' }), options(kh, cfg)));
    expect(direct.via).toBeUndefined();
    expect((await direct.exec({ argv: ['hostname'] })).stdout).toBe('behind\n');
    expect(b1.stats.forwards).toHaveLength(1);
  });

  it('a host that is its own bastion (--bastion naming a host of the inventory) connects directly', async () => {
    const b1 = await server({ forward: true });
    const c = await conn(connect(spec(b1, { name: 'm1', jump: [{ host: '127.0.0.1', port: b1.port }] }), options(file('kh', khLine(b1)), sshConfig({}))));
    expect(c.via).toBeUndefined();
    expect(b1.stats.forwards).toEqual([]);
    expect(b1.stats.connections).toBe(1);
  });
});

describe("the bastion's host key", () => {
  it('an unknown bastion key is refused without acceptNewHostKeys: fatal, named by hop, the host behind never reached', async () => {
    const b1 = await server({ forward: true });
    const m2 = await server();
    const kh = file('kh', khLine(m2));
    const e = await failure(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(kh, sshConfig({ b1 }), { retries: 2 })));
    expect(e.message).toMatch(/^m2: via bastion b1: host key for 127\.0\.0\.1:\d+ is not known \(ssh-ed25519 SHA256:/);
    expect(e.code).toBe('E_HOSTKEY_UNKNOWN');
    expect(e.fatal).toBe(true);
    expect(b1.stats.connections).toBe(1);
    expect(b1.stats.handshakes).toBe(0);
    expect(m2.stats.connections).toBe(0);
  });

  it('with acceptNewHostKeys the bastion key is recorded (as [host]:port) and the host behind is checked as usual', async () => {
    const b1 = await server({ forward: true });
    const m2 = await server();
    const kh = file('kh', khLine(m2));
    const c = await conn(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(kh, sshConfig({ b1 }), { acceptNewHostKeys: true })));
    expect((await c.exec({ argv: ['hostname'] })).code).toBe(0);
    expect(fs.readFileSync(kh, 'utf8')).toContain(`[127.0.0.1]:${b1.port} ${b1.hostKeyPublic}`);
  });

  it('a changed bastion key is refused even with acceptNewHostKeys', async () => {
    const b1 = await server({ forward: true });
    const m2 = await server();
    const other = await server();
    const kh = file('kh', `[127.0.0.1]:${b1.port} ${other.hostKeyPublic}\n${khLine(m2)}`);
    const e = await failure(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(kh, sshConfig({ b1 }), { acceptNewHostKeys: true })));
    expect(e.message).toMatch(/^m2: via bastion b1: host key for 127\.0\.0\.1:\d+ does not match .* line 1: possible man-in-the-middle/);
    expect(e.code).toBe('E_HOSTKEY_CHANGED');
    expect(m2.stats.connections).toBe(0);
  });

  it('the host behind keeps its own check: an unknown key names the hop, and the keyscan hint runs on the bastion', async () => {
    const b1 = await server({ forward: true });
    const m2 = await server();
    const e = await failure(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(file('kh', khLine(b1)), sshConfig({ b1 }))));
    expect(e.message).toMatch(/^m2: host key for 127\.0\.0\.1:\d+ \(through b1\) is not known/);
    expect(e.code).toBe('E_HOSTKEY_UNKNOWN');
    expect(e.suggestions.join('\n')).toContain(`ssh -p ${b1.port} kha@127.0.0.1 ssh-keyscan -p ${m2.port} 127.0.0.1 >> `);
  });
});

describe('errors name the hop that failed', () => {
  it('the bastion refuses the connection: via bastion b1, retried, with advice about the jump host', async () => {
    const port = await closedPort();
    const m2 = await server();
    const cfg = file('ssh_config', `Host b1\n  HostName 127.0.0.1\n  Port ${port}\n`);
    const e = await failure(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(file('kh', khLine(m2)), cfg, { retries: 1, retryDelayMs: 10 })));
    expect(e.message).toBe(
      `m2: via bastion b1: cannot connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED) (after 2 attempts): is sshd running there, and is the jump host (--bastion, ProxyJump, or HostName/Port in ~/.ssh/config) right?`,
    );
    expect(e.code).toBe('E_CONNECT');
  });

  it('the host behind refuses the connection: through b1, retried over the same bastion connection', async () => {
    const b1 = await server({ forward: true });
    const port = await closedPort();
    const e = await failure(
      connect(spec({ port }, { jump: [{ host: 'b1' }] }), options(file('kh', khLine(b1)), sshConfig({ b1 }), { retries: 1, retryDelayMs: 10 })),
    );
    expect(e.message).toMatch(new RegExp(`^m2: cannot connect to 127\\.0\\.0\\.1:${port} through b1: .* \\(after 2 attempts\\): is sshd running there`));
    expect(b1.stats.forwards).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`]);
    expect(b1.stats.handshakes).toBe(1);
  });

  it('a bastion that does not forward (AllowTcpForwarding no): fatal E_FORWARD naming the bastion', async () => {
    const b1 = await server();
    const m2 = await server();
    const e = await failure(connect(spec(m2, { jump: [{ host: 'b1' }] }), options(file('kh', khLine(b1) + khLine(m2)), sshConfig({ b1 }), { retries: 2 })));
    expect(e.message).toMatch(/^m2: bastion b1 refused to forward a connection to 127\.0\.0\.1:\d+.*: allow TCP forwarding .*AllowTcpForwarding yes/);
    expect(e.code).toBe('E_FORWARD');
    expect(e.fatal).toBe(true);
    expect(b1.stats.handshakes).toBe(1);
  });

  it('the connect timeout covers the second hop: a bastion that never opens the channel', async () => {
    const b1 = await server({ forward: 'hang' });
    const m2 = await server();
    const t0 = Date.now();
    const e = await failure(
      connect(spec(m2, { jump: [{ host: 'b1' }] }), options(file('kh', khLine(b1) + khLine(m2)), sshConfig({ b1 }), { connectTimeoutMs: 400 })),
    );
    expect(e.message).toMatch(/^m2: no connection to 127\.0\.0\.1:\d+ through b1 within 400 ms/);
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('the connect timeout covers the handshake behind the bastion: a port that accepts but never speaks SSH', async () => {
    const b1 = await server({ forward: true });
    const accepted = new Set<net.Socket>();
    const silent = net.createServer((sock) => accepted.add(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    open.push({
      close: () =>
        new Promise<void>((r) => {
          for (const sock of accepted) sock.destroy();
          silent.close(() => r());
        }),
    });
    const port = (silent.address() as net.AddressInfo).port;
    const e = await failure(connect(spec({ port }, { jump: [{ host: 'b1' }] }), options(file('kh', khLine(b1)), sshConfig({ b1 }), { connectTimeoutMs: 400 })));
    expect(e.message).toMatch(new RegExp(`^m2: SSH handshake with 127\\.0\\.0\\.1:${port} \\(through b1\\) did not complete within 400 ms`));
  });
});

describe('a pool shares one bastion connection', () => {
  it('three hosts behind b1: one bastion login, three forwarded channels; closeAll closes the bastion too', async () => {
    const b1 = await server({ forward: true });
    const hosts = [await server(), await server(), await server()];
    const logs: string[] = [];
    const pool = new ConnectionPool({
      ...options(file('kh', [b1, ...hosts].map(khLine).join('')), sshConfig({ b1 })),
      log: (m) => logs.push(m),
    });
    const conns = await Promise.all(hosts.map((h, i) => pool.get(spec(h, { name: `m${i + 1}`, jump: [{ host: 'b1' }] }))));
    for (const c of conns) expect((await c.exec({ argv: ['hostname'] })).stdout).toBe('behind\n');
    expect(b1.stats.handshakes).toBe(1);
    expect(pool.bastionHandshakes).toBe(1);
    expect(pool.handshakes).toBe(3);
    expect(b1.stats.forwards.sort()).toEqual(hosts.map((h) => `127.0.0.1:${h.port}`).sort());
    expect(logs.filter((l) => /^m\d via b1: connected to 127\.0\.0\.1:\d+$/.test(l))).toHaveLength(3);
    expect(logs.filter((l) => l.startsWith('bastion b1: connected to 127.0.0.1:'))).toHaveLength(1);
    await pool.closeAll();
    await expect.poll(() => b1.stats.disconnects).toBe(1);
    expect(hosts.map((h) => h.stats.disconnects)).toEqual([1, 1, 1]);
  });

  it('a lost bastion is logged in again for the next connection', async () => {
    const b1 = await server({ forward: true });
    const m2 = await server();
    const pool = new ConnectionPool(options(file('kh', khLine(b1) + khLine(m2)), sshConfig({ b1 })));
    open.push({ close: () => pool.closeAll() });
    const s = spec(m2, { jump: [{ host: 'b1' }] });
    await (await pool.get(s)).exec({ argv: ['true'] });
    b1.dropConnections();
    await expect
      .poll(async () =>
        (await pool.get(s)).exec({ argv: ['hostname'] }).then(
          (r) => r.stdout,
          () => 'lost',
        ),
      )
      .toBe('behind\n');
    expect(pool.bastionHandshakes).toBe(2);
    expect(b1.stats.handshakes).toBe(2);
  });
});

describe('the CLI wiring (cli/prepare.ts)', () => {
  it('warns about ignored ssh options, names the hosts behind each bastion once, and shares one bastion login', async () => {
    const b1 = await server({ forward: true });
    const [m1, m2, m3] = [await server(), await server(), await server()];
    const kh = file('kh', [b1, m1!, m2!, m3!].map(khLine).join(''));
    const behind = (s: FakeSshServer) =>
      `{ ansible_host: 127.0.0.1, ansible_port: ${s.port}, ansible_ssh_common_args: "-o UserKnownHostsFile=${kh} -o ProxyJump=kha@127.0.0.1:${b1.port} -C" }`;
    const invFile = file(
      'hosts.yaml',
      [
        'all:',
        '  vars:',
        '    ansible_user: kha',
        `    ansible_ssh_private_key_file: ${keyFile}`,
        `    ansible_ssh_common_args: -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=no`,
        '  hosts:',
        `    m1: { ansible_host: 127.0.0.1, ansible_port: ${m1!.port} }`,
        `    m2: ${behind(m2!)}`,
        `    m3: ${behind(m3!)}`,
        '',
      ].join('\n'),
    );
    const events: RunEvent[] = [];
    const bus = new EventBus();
    bus.add({ emit: (e) => events.push(e) });
    const io: Io = { events: bus, logFile: `${invFile}.log`, signal: new AbortController().signal, verbose: 0, json: false, addSecrets: () => undefined };
    const inv = await loadInventory(invFile);
    await reportConnections(inv, io, sshConfig({}));
    const said = events.flatMap((e) => (e.type === 'message' ? [`${e.level}: ${e.text}`] : []));
    expect(said).toEqual([
      'warn: m1: ansible_ssh_common_args: kha does not read -o StrictHostKeyChecking=no (kha always checks host keys against known_hosts; --accept-new-host-keys records unknown ones); ignored',
      'warn: m2, m3: ansible_ssh_common_args: kha does not read -C; ignored',
      'info: m2, m3 via 127.0.0.1 (ansible_ssh_common_args)',
    ]);
    const connector = new SshConnector(options(kh, sshConfig({})), 20, bus);
    open.push({ close: () => connector.closeAll() });
    const conns = await Promise.all(inv.hosts.map((h) => connector.get(h)));
    expect(conns.map((c) => c.via)).toEqual([undefined, '127.0.0.1', '127.0.0.1']);
    expect(connector.bastionHandshakes).toBe(1);
    expect(b1.stats.forwards.sort()).toEqual([`127.0.0.1:${m2!.port}`, `127.0.0.1:${m3!.port}`].sort());
  });

  it('a ProxyJump loop in ~/.ssh/config is bad input before any connection', async () => {
    const b1 = await server({ forward: true });
    const invFile = file('hosts.yaml', `all:\n  hosts:\n    m1: { ansible_host: 127.0.0.1, ansible_port: ${b1.port}, ansible_ssh_common_args: -J b1 }\n`);
    const cfg = file('ssh_config', 'Host b1\n  ProxyJump b2\nHost b2\n  ProxyJump b1\n');
    const io: Io = { events: new EventBus(), logFile: 'x.log', signal: new AbortController().signal, verbose: 0, json: false, addSecrets: () => undefined };
    const err = await reportConnections(await loadInventory(invFile), io, cfg).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toMatch(/^m1: the jump hosts loop \(b1 > b2 > b1\): b1 comes twice/);
    expect(b1.stats.connections).toBe(0);
  });
});

describe('kha status names the hop', () => {
  const row = (over: Partial<HostStatus>): HostStatus => ({
    name: 'm1',
    address: '10.0.0.11',
    reachable: true,
    vrrpState: 'MASTER',
    holdsVip: true,
    keepalived: { active: 'active', version: '2.2.7' },
    haproxy: { active: 'active', version: '2.6.12' },
    backendsUp: 3,
    backendsTotal: 3,
    backendsDown: [],
    drift: [],
    ...over,
  });

  it('ADDRESS says `via b1` for a host behind a bastion; an unreachable row says why, once', () => {
    const text = renderStatusTable({
      vip: '10.0.0.100',
      frontendPort: 8443,
      holders: ['m1'],
      healthy: true,
      bootstrap: false,
      certProblems: [],
      hosts: [
        row({}),
        row({ name: 'm2', address: '10.0.0.12', via: 'b1', holdsVip: false, vrrpState: 'BACKUP' }),
        row({
          name: 'm3',
          address: '10.0.0.13',
          reachable: false,
          holdsVip: false,
          vrrpState: 'UNREACHABLE',
          error: 'm3: via bastion b1: host key for 10.0.0.5:22 does not match',
        }),
      ],
    });
    const lines = text.split('\n');
    expect(lines.find((l) => l.startsWith('m2 '))).toMatch(/^m2\s+10\.0\.0\.12 via b1\s+BACKUP/);
    expect(lines.find((l) => l.startsWith('m1 '))).not.toContain('via');
    expect(lines.filter((l) => l.includes('via bastion b1'))).toEqual(['m3: via bastion b1: host key for 10.0.0.5:22 does not match']);
  });
});
