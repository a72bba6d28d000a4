// Pure parts of the transport: known_hosts matching and ~/.ssh/config precedence.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import {
  entriesFor,
  indexKnownHosts,
  knownKeyTypes,
  checkHostKey,
  fingerprint,
  hashKnownHostName,
  hostsFieldMatches,
  knownHostName,
  parseKnownHosts,
} from '../../src/transport/known-hosts.js';
import { lookupSshConfig, resolveTarget } from '../../src/transport/ssh-config.js';
import { connect, withKeyObjects } from '../../src/transport/ssh.js';
import type { HostConnectionSpec } from '../../src/transport/types.js';
import { startFakeSshServer } from '../helpers/fake-ssh-server.js';
import { parseableKeyPair } from '../../src/transport/keygen.js';

function blobOf(line: string): Buffer {
  const k = ssh2.utils.parseKey(line);
  if (k instanceof Error || Array.isArray(k)) throw new Error('bad key');
  return k.getPublicSSH();
}
const keyA = parseableKeyPair().public;
const keyB = parseableKeyPair().public;
const blobA = blobOf(keyA);

describe('known_hosts', () => {
  it('names non-22 ports as [host]:port', () => {
    expect(knownHostName('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(knownHostName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
  });

  it.each([
    ['10.0.0.1', '10.0.0.1', true],
    ['m1,10.0.0.1', '10.0.0.1', true],
    ['10.0.0.*', '10.0.0.7', true],
    ['10.0.0.?', '10.0.0.17', false],
    ['10.0.0.*,!10.0.0.7', '10.0.0.7', false],
    ['[10.0.0.1]:2222', '[10.0.0.1]:2222', true],
    ['10.0.0.1', '[10.0.0.1]:2222', false],
    ['M1.Example', 'm1.example', true],
  ])('pattern %s vs %s -> %s', (field, name, want) => {
    expect(hostsFieldMatches(field, name)).toBe(want);
  });

  it('matches hashed entries only for the hashed name', () => {
    const h = hashKnownHostName('[10.0.0.1]:2222');
    expect(h).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+$/);
    expect(hostsFieldMatches(h, '[10.0.0.1]:2222')).toBe(true);
    expect(hostsFieldMatches(h, '10.0.0.1')).toBe(false);
  });

  it('tells ok / changed / type-changed / cert-authority / unknown / revoked apart, with line numbers', () => {
    const text = [
      '# managed by hand',
      '',
      `10.0.0.1 ${keyA}`,
      `10.0.0.2 ${keyB}`,
      `10.0.0.3 ecdsa-sha2-nistp256 AAAAE2VjZHNh`,
      `@revoked * ${keyB}`,
      '@cert-authority *.example ssh-ed25519 AAAA',
      'garbage',
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => e.line)).toEqual([3, 4, 5, 6, 7]);
    expect(checkHostKey(entries, '10.0.0.1', 22, blobA)).toEqual({ status: 'ok', line: 3 });
    expect(checkHostKey(entries, '10.0.0.2', 22, blobA)).toEqual({ status: 'changed', line: 4, keyType: 'ssh-ed25519' });
    // known only by another key type: a changed identity, not an unknown host
    expect(checkHostKey(entries, '10.0.0.3', 22, blobA)).toEqual({
      status: 'type-changed',
      keyType: 'ssh-ed25519',
      knownTypes: ['ecdsa-sha2-nistp256'],
      lines: [5],
    });
    expect(checkHostKey(entries, '10.0.0.1', 2222, blobA)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, 'm1.example', 22, blobA)).toEqual({ status: 'cert-authority', line: 7 });
    expect(checkHostKey(entries, '10.0.0.2', 22, blobOf(keyB))).toEqual({ status: 'revoked', line: 6 });
  });

  it('the index by host name gives the same answers as scanning every line', () => {
    const hashed = hashKnownHostName('10.0.0.9');
    const text = [
      `10.0.0.1 ${keyA}`,
      `10.0.0.2,M5.example ${keyB}`,
      `10.0.0.* ecdsa-sha2-nistp256 AAAAE2VjZHNh`,
      `${hashed} ${keyA}`,
      `[10.0.0.1]:2222 ${keyB}`,
      `!10.0.0.4,10.0.0.* ${keyA}`,
      `@revoked * ${keyB}`,
    ].join('\n');
    const entries = parseKnownHosts(text);
    const index = indexKnownHosts(entries);
    expect(index.byName.size).toBe(4);
    for (const [host, port] of [
      ['10.0.0.1', 22],
      ['10.0.0.2', 22],
      ['m5.example', 22],
      ['10.0.0.4', 22],
      ['10.0.0.9', 22],
      ['10.0.0.1', 2222],
      ['10.0.1.1', 22],
    ] as const) {
      for (const blob of [blobA, blobOf(keyB)]) {
        const sub = entriesFor(index, host, port);
        expect(checkHostKey(sub, host, port, blob), `${host}:${port}`).toEqual(checkHostKey(entries, host, port, blob));
        expect(knownKeyTypes(sub, host, port)).toEqual(knownKeyTypes(entries, host, port));
      }
    }
  });

  it('prints SHA256 fingerprints like ssh-keygen', () => {
    expect(fingerprint(blobA)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe('ssh config', () => {
  const config = `
Host m1 m2
  HostName 10.0.0.1
  User admin
  Port 2200
  IdentityFile ~/.ssh/k1

Host *
  IdentityFile %d/.ssh/k_%r
`;
  const env = { home: '/home/op', localUser: 'op' };
  const base: HostConnectionSpec = { name: 'm1', address: 'm1', port: 22, user: '', become: false, becomeUser: 'root' };

  it('reads HostName, User, Port and every IdentityFile for an alias', () => {
    expect(lookupSshConfig(config, 'm1')).toEqual({
      hostName: '10.0.0.1',
      user: 'admin',
      port: 2200,
      identityFiles: ['~/.ssh/k1', '%d/.ssh/k_%r'],
    });
    expect(lookupSshConfig('', 'm1')).toEqual({ identityFiles: [] });
  });

  it('fills what the inventory left at defaults', () => {
    expect(resolveTarget(base, lookupSshConfig(config, 'm1'), env)).toEqual({
      address: '10.0.0.1',
      port: 2200,
      user: 'admin',
      identityFiles: ['/home/op/.ssh/k1', '/home/op/.ssh/k_admin'],
      keySource: 'ssh-config',
    });
  });

  it('lets explicit inventory values win', () => {
    const spec = { ...base, address: '192.168.1.5', port: 2022, user: 'kha', privateKeyFile: '~/keys/kha' };
    expect(resolveTarget(spec, lookupSshConfig(config, 'm1'), env)).toEqual({
      address: '192.168.1.5',
      port: 2022,
      user: 'kha',
      identityFiles: ['/home/op/keys/kha'],
      keySource: 'inventory',
    });
    // spec.explicit says what the inventory set, even when it equals a default
    const marked = { ...base, port: 22, user: 'root', explicit: { port: true, user: true } };
    expect(resolveTarget(marked, lookupSshConfig(config, 'm1'), env)).toMatchObject({ address: '10.0.0.1', port: 22, user: 'root' });
  });

  it('treats the local user name as the default user when the inventory does not say', () => {
    expect(resolveTarget({ ...base, user: 'op' }, lookupSshConfig(config, 'm1'), env).user).toBe('admin');
    expect(resolveTarget({ ...base, user: 'op', explicit: { user: true } }, lookupSshConfig(config, 'm1'), env).user).toBe('op');
  });

  it('falls back to OpenSSH defaults: local user, port 22, ~/.ssh/id_*', () => {
    expect(resolveTarget({ ...base, name: 'x', address: 'x' }, lookupSshConfig('', 'x'), env)).toEqual({
      address: 'x',
      port: 22,
      user: 'op',
      identityFiles: ['/home/op/.ssh/id_ed25519', '/home/op/.ssh/id_ecdsa', '/home/op/.ssh/id_rsa'],
      keySource: 'default',
    });
  });
});

describe('connect through an ssh config alias', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-sshcfg-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('uses HostName, Port, User and IdentityFile from the config', async () => {
    const kp = parseableKeyPair();
    const key = path.join(dir, 'id alias');
    fs.writeFileSync(key, kp.private, { mode: 0o600 });
    const s = await startFakeSshServer({ authorizedKey: kp.public, username: 'deploy', handler: (c) => ({ code: 0, stdout: c, stderr: '' }) });
    try {
      const cfg = path.join(dir, 'config');
      fs.writeFileSync(cfg, `Host lb1\n  HostName 127.0.0.1\n  Port ${s.port}\n  User deploy\n  IdentityFile "${key}"\n`);
      const kh = path.join(dir, 'known_hosts');
      fs.writeFileSync(kh, `[127.0.0.1]:${s.port} ${s.hostKeyPublic}\n`);
      const c = await connect(
        { name: 'lb1', address: 'lb1', port: 22, user: '', become: false, becomeUser: 'root' },
        { sshConfigFile: cfg, knownHostsFile: kh, agentSocket: '' },
      );
      expect((await c.exec({ argv: ['id'] })).stdout).toBe('sh -c id');
      await c.close();
      expect(s.stats.users).toEqual(['deploy']);
    } finally {
      await s.close();
    }
  });
});

describe('withKeyObjects', () => {
  it('signs and verifies exactly as ssh2 does, for ed25519, ECDSA and RSA', () => {
    const data = Buffer.from('exchange hash');
    const keys = [parseableKeyPair(), ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }), ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 })];
    for (const k of keys) {
      const parsed = ssh2.utils.parseKey(k.private);
      if (parsed instanceof Error || Array.isArray(parsed)) continue; // ssh2 rejects a few generated ed25519 keys
      const fast = withKeyObjects(parsed);
      expect(fast.type).toBe(parsed.type);
      expect(fast.getPublicSSH().equals(parsed.getPublicSSH())).toBe(true);
      for (const algo of parsed.type === 'ssh-rsa' ? [undefined, 'sha256', 'sha512'] : [undefined]) {
        const sig = fast.sign(data, algo) as Buffer;
        if (parsed.type !== 'ecdsa-sha2-nistp256') expect(sig.equals(parsed.sign(data, algo) as Buffer), `${parsed.type} ${algo}`).toBe(true);
        expect(parsed.verify(data, sig, algo), `${parsed.type} ${algo}`).toBe(true);
        expect(fast.verify(data, sig, algo)).toBe(true);
        expect(fast.verify(Buffer.from('other'), sig, algo)).toBe(false);
      }
    }
  });
});
