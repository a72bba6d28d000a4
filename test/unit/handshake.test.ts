// The handshake's decisions without a socket: ssh2 errors -> what kha says and whether it retries;
// presented host keys -> trust, record or refuse (transport.test.ts drives the same through a
// real SSH server).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TransportError } from '../../src/errors.js';
import {
  authHint,
  classifySshError,
  closedDuringHandshake,
  decideHostKey,
  hostVerifier,
  type HandshakeContext,
  type HostKeyPlace,
  type SshError,
} from '../../src/transport/handshake.js';
import { fingerprint, parseKnownHosts } from '../../src/transport/known-hosts.js';
import { quote } from '../../src/transport/quote.js';

const ctx = (tried: string[] = []): HandshakeContext => ({ host: 'm1', where: '10.0.0.11:22', address: '10.0.0.11', user: 'ubuntu', timeoutMs: 10_000, tried });
const sshErr = (message: string, extra: { code?: string; level?: string } = {}): SshError => Object.assign(new Error(message), extra);

describe('classifySshError', () => {
  const cases: Array<{
    name: string;
    err: SshError;
    tried?: string[];
    want: { code: string; fatal: boolean; transient: boolean; message: string } | undefined;
  }> = [
    { name: 'an ssh-agent error is only logged', err: sshErr('agent refused', { level: 'agent' }), want: undefined },
    {
      name: 'every auth method failed: fatal, names the methods and the settings behind them',
      err: sshErr('All configured authentication methods failed', { level: 'client-authentication' }),
      tried: ['publickey', 'password'],
      want: {
        code: 'E_AUTH',
        fatal: true,
        transient: false,
        message:
          'm1: authentication failed for user ubuntu at 10.0.0.11:22 (tried: publickey, password): check ansible_user and ansible_ssh_private_key_file and ansible_password',
      },
    },
    {
      name: 'nothing tried at all',
      err: sshErr('All configured authentication methods failed', { level: 'client-authentication' }),
      want: {
        code: 'E_AUTH',
        fatal: true,
        transient: false,
        message: 'm1: authentication failed for user ubuntu at 10.0.0.11:22 (tried: none): check ansible_user and ansible_ssh_private_key_file',
      },
    },
    {
      name: 'refused: retried',
      err: sshErr('connect ECONNREFUSED 10.0.0.11:22', { code: 'ECONNREFUSED' }),
      want: {
        code: 'E_CONNECT',
        fatal: false,
        transient: true,
        message: 'm1: cannot connect to 10.0.0.11:22: connection refused (ECONNREFUSED): is sshd running there, and are ansible_host/ansible_port right?',
      },
    },
    {
      name: 'reset: retried, with the system message',
      err: sshErr('read ECONNRESET', { code: 'ECONNRESET' }),
      want: {
        code: 'E_CONNECT',
        fatal: false,
        transient: true,
        message: 'm1: cannot connect to 10.0.0.11:22: read ECONNRESET (ECONNRESET): is sshd running there, and are ansible_host/ansible_port right?',
      },
    },
    ...['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE'].map((code) => ({
      name: `${code}: retried`,
      err: sshErr(`x ${code}`, { code }),
      want: {
        code: 'E_CONNECT',
        fatal: false,
        transient: true,
        message: `m1: cannot connect to 10.0.0.11:22: x ${code} (${code}): is sshd running there, and are ansible_host/ansible_port right?`,
      },
    })),
    {
      name: 'a handshake that times out: retried',
      err: sshErr('Timed out while waiting for handshake', { level: 'client-timeout' }),
      want: {
        code: 'E_CONNECT',
        fatal: false,
        transient: true,
        message:
          'm1: SSH handshake with 10.0.0.11:22 did not complete within 10000 ms (Timed out while waiting for handshake): is the host up and reachable, and is ansible_host/ansible_port an SSH server?',
      },
    },
    {
      name: 'closed before the handshake (no level): retried as a timeout',
      err: sshErr('Connection lost before handshake'),
      want: {
        code: 'E_CONNECT',
        fatal: false,
        transient: true,
        message:
          'm1: SSH handshake with 10.0.0.11:22 did not complete within 10000 ms (Connection lost before handshake): is the host up and reachable, and is ansible_host/ansible_port an SSH server?',
      },
    },
    {
      name: 'no algorithm in common: fatal, says which ones kha leaves out',
      err: sshErr('Handshake failed: no matching host key format', { level: 'handshake' }),
      want: {
        code: 'E_CONNECT',
        fatal: true,
        transient: false,
        message:
          'm1: 10.0.0.11:22 and kha have no SSH algorithm in common (Handshake failed: no matching host key format): kha does not offer the SHA-1 ones (ssh-rsa host key signatures, hmac-sha1); give that sshd an ed25519 or ECDSA host key, or rsa-sha2-256/512 (OpenSSH 7.2+) and hmac-sha2-256/512',
      },
    },
    {
      name: 'a name that does not resolve: fatal',
      err: sshErr('getaddrinfo ENOTFOUND m1.example', { code: 'ENOTFOUND' }),
      want: { code: 'E_CONNECT', fatal: true, transient: false, message: 'm1: cannot resolve 10.0.0.11: check ansible_host (or HostName in ~/.ssh/config)' },
    },
    {
      name: 'anything else: neither fatal nor retried',
      err: sshErr('Protocol error: bad packet length', { level: 'protocol' }),
      want: { code: 'E_CONNECT', fatal: false, transient: false, message: 'm1: connect to 10.0.0.11:22 failed: Protocol error: bad packet length' },
    },
    {
      name: 'a handshake-level error other than missing algorithms',
      err: sshErr('Handshake failed: signature verification failed', { level: 'handshake' }),
      want: {
        code: 'E_CONNECT',
        fatal: false,
        transient: false,
        message: 'm1: connect to 10.0.0.11:22 failed: Handshake failed: signature verification failed',
      },
    },
  ];
  it.each(cases)('$name', ({ err, tried, want }) => {
    const e = classifySshError(err, ctx(tried));
    if (want === undefined) return expect(e).toBeUndefined();
    expect(e).toBeInstanceOf(TransportError);
    expect({ code: e!.code, fatal: e!.fatal, transient: e!.transient === true, message: e!.message }).toEqual(want);
    expect(e!.host).toBe('m1');
    expect(e!.exit).toBe(3);
    expect(e!.cause).toBe(err);
  });

  it('a retryable error keeps its parts, for the message after the last attempt', () => {
    const e = classifySshError(sshErr('connect ECONNREFUSED', { code: 'ECONNREFUSED' }), ctx());
    expect(e).toMatchObject({
      transient: true,
      what: 'cannot connect to 10.0.0.11:22: connection refused (ECONNREFUSED)',
      advice: 'is sshd running there, and are ansible_host/ansible_port right?',
    });
  });

  it('a connection closed during the handshake is retried, with no cause', () => {
    const e = closedDuringHandshake('m1', '10.0.0.11:22');
    expect(e.message).toBe('m1: 10.0.0.11:22 closed the connection during the SSH handshake: is sshd healthy there (MaxStartups, sshd logs)?');
    expect(e).toMatchObject({ code: 'E_CONNECT', fatal: false, transient: true });
    expect(e.cause).toBeUndefined();
  });

  it.each([
    [[], 'ansible_ssh_private_key_file'],
    [['publickey'], 'ansible_ssh_private_key_file'],
    [['publickey (agent)'], 'ansible_ssh_private_key_file'],
    [['password'], 'ansible_password'],
    [['publickey', 'password'], 'ansible_ssh_private_key_file and ansible_password'],
  ])('authHint(%j) = %s', (tried, want) => {
    expect(authHint(tried)).toBe(want);
  });
});

/** An SSH wire-format key blob: uint32 length + type name + some key bytes. */
function blob(type: string, fill: number): Buffer {
  const name = Buffer.from(type, 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(name.length);
  return Buffer.concat([len, name, Buffer.alloc(32, fill)]);
}
const ED = blob('ssh-ed25519', 1);
const ED_OTHER = blob('ssh-ed25519', 2);
const ECDSA = blob('ecdsa-sha2-nistp256', 3);
const KH = '/tmp/kha-test/known_hosts';
const place = (over: Partial<HostKeyPlace> = {}): HostKeyPlace => ({
  host: 'm1',
  where: '10.0.0.11:2222',
  address: '10.0.0.11',
  port: 2222,
  khFile: KH,
  custom: false,
  ...over,
});
const line = (hosts: string, key: Buffer, marker = '') =>
  `${marker ? `${marker} ` : ''}${hosts} ${key.subarray(4, 4 + key.readUInt32BE(0)).toString('latin1')} ${key.toString('base64')}`;

describe('decideHostKey', () => {
  const cases: Array<{
    name: string;
    known: string[];
    key: Buffer;
    acceptNew?: boolean;
    want: { trust: true; record: boolean } | { code: string; has: string };
  }> = [
    { name: 'the known key: trusted', known: [line('[10.0.0.11]:2222', ED)], key: ED, want: { trust: true, record: false } },
    { name: 'unknown, with acceptNew: trusted once recorded', known: [], key: ED, acceptNew: true, want: { trust: true, record: true } },
    { name: 'unknown, without acceptNew: refused', known: [], key: ED, want: { code: 'E_HOSTKEY_UNKNOWN', has: 'is not known' } },
    {
      name: 'the same type, another key: changed',
      known: [line('[10.0.0.11]:2222', ED)],
      key: ED_OTHER,
      acceptNew: true,
      want: { code: 'E_HOSTKEY_CHANGED', has: 'does not match /tmp/kha-test/known_hosts line 1: possible man-in-the-middle' },
    },
    {
      name: 'known only by another type: changed identity',
      known: [line('[10.0.0.11]:2222', ECDSA)],
      key: ED,
      acceptNew: true,
      want: { code: 'E_HOSTKEY_CHANGED', has: 'changed type' },
    },
    {
      name: 'revoked, even with a plain line for it',
      known: [line('*', ED, '@revoked'), line('[10.0.0.11]:2222', ED)],
      key: ED,
      acceptNew: true,
      want: { code: 'E_HOSTKEY_CHANGED', has: 'is marked @revoked' },
    },
    {
      name: 'covered only by a @cert-authority line',
      known: [line('*', ECDSA, '@cert-authority')],
      key: ED,
      acceptNew: true,
      want: { code: 'E_HOSTKEY_UNKNOWN', has: 'cannot verify host certificates' },
    },
    {
      name: 'another port of the same address is another host',
      known: [line('10.0.0.11', ED_OTHER)],
      key: ED,
      acceptNew: true,
      want: { trust: true, record: true },
    },
  ];
  it.each(cases)('$name', ({ known, key, acceptNew, want }) => {
    const d = decideHostKey(parseKnownHosts(known.join('\n')), key, place(), acceptNew === true);
    if ('trust' in want) return expect(d).toEqual(want);
    expect(d.trust).toBe(false);
    if (d.trust) return;
    expect(d.refusal).toMatchObject({ code: want.code, fatal: true, host: 'm1' });
    expect(d.refusal.message).toContain(want.has);
  });

  it('the ssh-keygen hint names a custom known_hosts file by its absolute path', () => {
    const d = decideHostKey(parseKnownHosts(line('[10.0.0.11]:2222', ED)), ED_OTHER, place({ custom: true, khFile: 'rel/kh' }), false);
    expect(d.trust).toBe(false);
    if (d.trust) return;
    expect(d.refusal.suggestions).toEqual([`ssh-keygen -f ${quote(path.resolve('rel/kh'))} -R '[10.0.0.11]:2222'`]);
  });
});

describe('hostVerifier', () => {
  const run = (known: string[], key: Buffer, record: (k: Buffer) => Promise<void>, acceptNew = true) =>
    new Promise<{ valid: boolean; refused: TransportError | undefined; logs: string[]; recorded: number }>((resolve) => {
      let refused: TransportError | undefined;
      let recorded = 0;
      const logs: string[] = [];
      const verify = hostVerifier({
        entries: parseKnownHosts(known.join('\n')),
        place: place(),
        acceptNew,
        record: (k) => {
          recorded++;
          return record(k);
        },
        refuse: (why) => (refused = why),
        log: (m) => logs.push(m),
      });
      verify(key, (valid) => resolve({ valid, refused, logs, recorded }));
    });

  it('trusts a known key at once, records nothing', async () => {
    expect(await run([line('[10.0.0.11]:2222', ED)], ED, async () => {})).toEqual({ valid: true, refused: undefined, logs: [], recorded: 0 });
  });

  it('records a new key, then trusts it and says so', async () => {
    const r = await run([], ED, async () => {});
    expect(r).toMatchObject({ valid: true, refused: undefined, recorded: 1 });
    expect(r.logs).toEqual([`m1: recorded new host key ssh-ed25519 ${fingerprint(ED)} for 10.0.0.11:2222 in ${KH}`]);
  });

  it('refuses a new key it cannot record (fatal)', async () => {
    const r = await run([], ED, async () => {
      throw new Error('EACCES: permission denied');
    });
    expect(r.valid).toBe(false);
    expect(r.refused).toMatchObject({ code: 'E_HOSTKEY_UNKNOWN', fatal: true, message: `m1: cannot record the host key in ${KH}: EACCES: permission denied` });
  });

  it('refuses a changed key with the reason, before answering, and records nothing', async () => {
    const r = await run([line('[10.0.0.11]:2222', ED)], ED_OTHER, async () => {});
    expect(r).toMatchObject({ valid: false, recorded: 0, refused: { code: 'E_HOSTKEY_CHANGED' } });
  });
});
