// Proves the lab harness: real systemd containers with sshd and the stand-in apiserver, static
// addresses, a free VIP, key login with a verified host key, and a clean teardown.
//
// Order: the harness tests share one 3-host lab and run as written; stopHost/startHost restores
// what it stops, and down() comes last because it removes the lab.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLab } from '../helpers/lab.js';
import type { Lab } from '../helpers/lab.js';

const execFileP = promisify(execFile);

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => ((acc << 8) + Number(o)) >>> 0, 0);
}
function inSubnet(ip: string, base: string, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (ipToInt(ip) & mask) >>> 0 === (ipToInt(base) & mask) >>> 0;
}

function httpsGet(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Self-signed stand-in certificate; traffic only to the lab container's own address.
    const req = https.get({ host, port, path, rejectUnauthorized: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: https://${host}:${port}${path}`)));
    req.on('error', reject);
  });
}

/** ssh login by key; the host key must equal the one recorded in knownHostsFile for `address` */
function sshRun(lab: Lab, address: string, user: string, command: string): Promise<{ out: string; code: number | null; hostKeyOk: boolean }> {
  const recorded = fs
    .readFileSync(lab.knownHostsFile, 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[0] === address);
  if (!recorded || !recorded[2]) throw new Error(`no known_hosts entry for ${address}`);
  const expected = Buffer.from(recorded[2], 'base64');
  return new Promise((resolve, reject) => {
    const conn = new ssh2.Client();
    let hostKeyOk = false;
    conn
      .on('ready', () => {
        conn.exec(command, (err, stream) => {
          if (err) return reject(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.stderr.on('data', () => undefined);
          stream.on('close', (code: number | null) => {
            conn.end();
            resolve({ out, code, hostKeyOk });
          });
        });
      })
      .on('error', reject)
      .connect({
        host: address,
        port: 22,
        username: user,
        privateKey: fs.readFileSync(lab.keyFile),
        hostVerifier: (key: Buffer) => {
          hostKeyOk = Buffer.compare(key, expected) === 0;
          return hostKeyOk;
        },
        readyTimeout: 15_000,
      });
  });
}

describe('lab harness', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await startLab(3);
  });

  afterAll(async () => {
    await lab?.down();
  });

  test('3 hosts with distinct addresses in the subnet, gateway and VIP excluded', () => {
    expect(lab.hosts.map((h) => h.name)).toEqual(['m1', 'm2', 'm3']);
    const addrs = lab.hosts.map((h) => h.address);
    expect(new Set(addrs).size).toBe(3);
    for (const a of addrs) expect(inSubnet(a, lab.subnet.base, lab.subnet.prefix)).toBe(true);
    expect(addrs).not.toContain(lab.gateway);
    expect(inSubnet(lab.vip, lab.subnet.base, lab.subnet.prefix)).toBe(true);
    expect(addrs).not.toContain(lab.vip);
    expect(lab.vip).not.toBe(lab.gateway);
    expect(fs.statSync(lab.keyFile).mode & 0o777).toBe(0o600);
  });

  test('each container reports its own address; ssh is active; the VIP is on no interface', async () => {
    for (const h of lab.hosts) {
      const ip = await lab.exec(h.name, ['ip', '-4', '-o', 'addr', 'show']);
      expect(ip.code).toBe(0);
      expect(ip.stdout).toContain(` ${h.address}/`);
      expect(ip.stdout).not.toContain(` ${lab.vip}/`);
      // the same addresses read without docker exec (/proc/<pid>/net/fib_trie), as vipHolders does
      expect([...(await lab.ipv4Addresses(h.name))].sort()).toEqual(['127.0.0.1', h.address].sort());
      const ssh = await lab.exec(h.name, ['systemctl', 'is-active', 'ssh']);
      expect(ssh.stdout.trim()).toBe('active');
    }
    const { stdout } = await execFileP('docker', ['network', 'inspect', lab.network, '--format', '{{range .Containers}}{{.IPv4Address}} {{end}}']);
    const used = stdout
      .trim()
      .split(/\s+/)
      .map((a) => a.split('/')[0]);
    expect(used.sort()).toEqual(lab.hosts.map((h) => h.address).sort());
    expect(used).not.toContain(lab.vip);
  });

  test('the stand-in apiserver answers /readyz with 200 and its host name', async () => {
    for (const h of lab.hosts) {
      const r = await httpsGet(h.address, 6443, '/readyz');
      expect(r.status).toBe(200);
      expect(r.body.trim()).toBe(`ok ${h.name}`);
    }
    const r = await httpsGet(lab.hosts[0]!.address, 6443, '/healthz');
    expect(r.status).toBe(200);
  });

  test('ssh by key works as root and as kha, with host keys verified against knownHostsFile', async () => {
    const hostKeys = new Set<string>();
    for (const h of lab.hosts) {
      const r = await sshRun(lab, h.address, 'root', 'hostname; id -u');
      expect(r.hostKeyOk).toBe(true);
      expect(r.code).toBe(0);
      expect(r.out.split('\n').slice(0, 2)).toEqual([h.name, '0']);
      hostKeys.add(
        fs
          .readFileSync(lab.knownHostsFile, 'utf8')
          .split('\n')
          .find((l) => l.startsWith(`${h.address} `))!,
      );
    }
    expect(hostKeys.size).toBe(3); // every container generated its own host key
    const k = await sshRun(lab, lab.hosts[0]!.address, 'kha', `printf '%s\\n' kha-sudo-pw | sudo -S -p '' id -u`);
    expect(k.hostKeyOk).toBe(true);
    expect(k.out.trim()).toBe('0');
  });

  test('a wrong host key is refused', async () => {
    const other = lab.hosts[1]!.address;
    const wrongLab = { ...lab, knownHostsFile: `${lab.knownHostsFile}.wrong` } as Lab;
    const line = fs
      .readFileSync(lab.knownHostsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${other} `))!;
    fs.writeFileSync(wrongLab.knownHostsFile, line.replace(other, lab.hosts[0]!.address));
    await expect(sshRun(wrongLab, lab.hosts[0]!.address, 'root', 'true')).rejects.toThrow();
  });

  test('stopHost/startHost keeps the address and the host key', async () => {
    const h = lab.hosts[2]!;
    await lab.stopHost(h.name);
    await expect(httpsGet(h.address, 6443, '/livez')).rejects.toThrow();
    await lab.startHost(h.name);
    const r = await sshRun(lab, h.address, 'root', 'hostname');
    expect(r.hostKeyOk).toBe(true);
    expect(r.out.trim()).toBe(h.name);
  });

  test('down() leaves no container, no network and no state dir', async () => {
    const label = `label=kha.lab=${lab.name}`;
    const before = await execFileP('docker', ['ps', '-aq', '--filter', label]);
    expect(before.stdout.trim().split('\n')).toHaveLength(3);
    await lab.down();
    const ps = await execFileP('docker', ['ps', '-aq', '--filter', label]);
    const nets = await execFileP('docker', ['network', 'ls', '-q', '--filter', label]);
    expect(ps.stdout.trim()).toBe('');
    expect(nets.stdout.trim()).toBe('');
    expect(fs.existsSync(lab.stateDir)).toBe(false);
    await lab.down(); // idempotent
  });
});
