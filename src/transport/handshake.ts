// The decisions of an SSH handshake, apart from the socket: whether to trust the host key the
// server presented (known_hosts), and what an error ssh2 reports means for the user (retry or
// not, and what to check). ssh.ts wires them to ssh2; tests call them with plain values.
import os from 'node:os';
import path from 'node:path';
import { TransportError } from '../errors.js';
import { checkHostKey, fingerprint, keyTypeOf, knownHostName, type HostKeyCheck, type KnownHostEntry } from './known-hosts.js';
import { quote } from './quote.js';

/** `~/...` for a path under the home directory, as messages show it. */
export function tildify(p: string): string {
  const home = os.homedir();
  return p === home || p.startsWith(home + path.sep) ? '~' + p.slice(home.length) : p;
}

// ---- host keys ----------------------------------------------------------------------------

/** Where a host key was checked: names for the messages of hostKeyRefusal(). */
export interface HostKeyPlace {
  host: string;
  /** address:port */
  where: string;
  address: string;
  port: number;
  khFile: string;
  /** the known_hosts file was given (--known-hosts, UserKnownHostsFile): commands name it */
  custom: boolean;
  /** a host behind a bastion: ssh-keyscan must run there, e.g. ['ssh', '-p', '22', 'root@10.0.0.11'] */
  scanVia?: readonly string[];
}

/**
 * Why a presented host key that known_hosts does not hold is refused (all fatal, never retried);
 * undefined: it is new and `acceptNew` says to record it. Commands in the messages name the
 * known_hosts file by its absolute path: a quoted `~` is not expanded by the shell.
 */
export function hostKeyRefusal(res: Exclude<HostKeyCheck, { status: 'ok' }>, key: Buffer, p: HostKeyPlace, acceptNew: boolean): TransportError | undefined {
  const { host, where } = p;
  const type = keyTypeOf(key);
  const presented = `${type} ${fingerprint(key)}`;
  const abs = path.resolve(p.khFile);
  const shown = tildify(abs);
  const name = knownHostName(p.address, p.port);
  const keygen = `ssh-keygen${p.custom ? ` -f ${quote(abs)}` : ''} -R ${quote(name)}`;
  const scan = `${p.scanVia ? `${p.scanVia.map(quote).join(' ')} ` : ''}ssh-keyscan -p ${p.port} ${quote(p.address)} >> ${quote(abs)}`;
  const changed = (why: string) => new TransportError(`${host}: ${why}`, { host, code: 'E_HOSTKEY_CHANGED', fatal: true, suggestions: [keygen] });
  const unknown = (why: string, suggestions: string[]) => new TransportError(`${host}: ${why}`, { host, code: 'E_HOSTKEY_UNKNOWN', fatal: true, suggestions });
  switch (res.status) {
    case 'revoked':
      return changed(`host key for ${where} (${presented}) is marked @revoked in ${shown} line ${res.line}: refusing to connect`);
    case 'changed':
      return changed(
        `host key for ${where} does not match ${shown} line ${res.line}: possible man-in-the-middle; if the host was rebuilt, remove the old key with: ${keygen}`,
      );
    case 'type-changed': {
      const word = res.lines.length === 1 ? 'line' : 'lines';
      return changed(
        `host key for ${where} changed type: it presented ${presented}, but ${shown} knows this host only by ${res.knownTypes.join(', ')} (${word} ${res.lines.join(', ')}): possible man-in-the-middle, refused even with --accept-new-host-keys; if the host's keys were changed on purpose, remove the old ${word} with: ${keygen}`,
      );
    }
    case 'cert-authority':
      return unknown(
        `host key for ${where} (${presented}) is not in ${shown}, and its @cert-authority line ${res.line} covers this host, but kha cannot verify host certificates: it neither trusts nor records a key for this host, even with --accept-new-host-keys; add the host's plain key line, e.g. with: ${scan}`,
        [scan],
      );
    case 'unknown':
      if (acceptNew) return undefined;
      return unknown(
        `host key for ${where} is not known (${presented} is not in ${shown}): kha refuses unknown hosts; re-run with --accept-new-host-keys to record it, or add it first with: ${scan}`,
        ['--accept-new-host-keys', scan],
      );
  }
}

/** What to do with a presented host key: trust it (and record it first when new), or refuse it. */
export type HostKeyDecision = { trust: true; record: boolean } | { trust: false; refusal: TransportError };

/** Pure: the presented key against this host's known_hosts entries. */
export function decideHostKey(entries: readonly KnownHostEntry[], key: Buffer, place: HostKeyPlace, acceptNew: boolean): HostKeyDecision {
  const res = checkHostKey(entries, place.address, place.port, key);
  if (res.status === 'ok') return { trust: true, record: false };
  const refusal = hostKeyRefusal(res, key, place, acceptNew);
  return refusal ? { trust: false, refusal } : { trust: true, record: true };
}

export interface HostVerifierOptions {
  /** the known_hosts entries that can matter for this host (entriesFor) */
  entries: readonly KnownHostEntry[];
  place: HostKeyPlace;
  acceptNew: boolean;
  /** appends the key to known_hosts (appendKnownHost) */
  record: (key: Buffer) => Promise<void>;
  /** told why a key was refused, before the handshake hears `false` */
  refuse: (why: TransportError) => void;
  log: (m: string) => void;
}

/**
 * ssh2's hostVerifier: a known key is trusted at once, a new one (with acceptNew) once it is
 * recorded, anything else refused with the reason passed to `refuse`.
 */
export function hostVerifier(o: HostVerifierOptions): (key: Buffer, verify: (valid: boolean) => void) => void {
  const { host, where, khFile } = o.place;
  const khShown = tildify(khFile);
  return (key, verify) => {
    const d = decideHostKey(o.entries, key, o.place, o.acceptNew);
    if (!d.trust) {
      o.refuse(d.refusal);
      return verify(false);
    }
    if (!d.record) return verify(true);
    const type = keyTypeOf(key);
    o.record(key).then(
      () => {
        o.log(`${host}: recorded new host key ${type} ${fingerprint(key)} for ${where} in ${khShown}`);
        verify(true);
      },
      (err: Error) => {
        o.refuse(
          new TransportError(`${host}: cannot record the host key in ${khShown}: ${err.message}`, { host, code: 'E_HOSTKEY_UNKNOWN', fatal: true, cause: err }),
        );
        verify(false);
      },
    );
  };
}

// ---- errors -------------------------------------------------------------------------------

/** An error as ssh2 and node:net report it. */
export type SshError = Error & { code?: string; level?: string };

/** A retryable connect failure: `what` and `advice` are reassembled with the attempt count at the end. */
export interface Transient {
  transient: true;
  what: string;
  advice: string;
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE']);

/** What the handshake knows when an error comes: names for the messages. */
export interface HandshakeContext {
  host: string;
  /** address:port */
  where: string;
  /** the address connected to (ansible_host, or HostName from ~/.ssh/config) */
  address: string;
  user: string;
  timeoutMs: number;
  /** the auth methods tried so far, in order (`publickey`, `publickey (agent)`, `password`) */
  tried: readonly string[];
  /** a jump host: the advice names --bastion / ProxyJump, not the host's ansible_* variables */
  bastion?: boolean;
}

export function transientError(host: string, what: string, advice: string, cause?: Error): TransportError & Transient {
  return Object.assign(new TransportError(`${host}: ${what}: ${advice}`, { host, code: 'E_CONNECT', ...(cause ? { cause } : {}) }), {
    transient: true as const,
    what,
    advice,
  });
}

/** What to check after a refused login: the settings behind the methods that were tried. */
export function authHint(tried: readonly string[]): string {
  const fields = [
    ...(tried.some((t) => t.startsWith('publickey')) || tried.length === 0 ? ['ansible_ssh_private_key_file'] : []),
    ...(tried.includes('password') ? ['ansible_password'] : []),
  ];
  return fields.join(' and ');
}

/**
 * Pure: what an error ssh2 reported during the handshake means. undefined: an ssh-agent error,
 * which is only logged (the other methods go on). Authentication failures, missing algorithms
 * and unknown names are fatal; refused, reset and timed-out connections are transient.
 */
export function classifySshError(err: SshError, c: HandshakeContext): (TransportError & Partial<Transient>) | undefined {
  const { host, where } = c;
  const jumpHost = 'the jump host (--bastion, ProxyJump, or HostName/Port in ~/.ssh/config)';
  if (err.level === 'agent') return undefined;
  if (err.level === 'client-authentication' && /authentication methods failed/i.test(err.message)) {
    const check = c.bastion
      ? "the user in --bastion/ProxyJump (or User in ~/.ssh/config) and the bastion's key (IdentityFile in ~/.ssh/config, the host's ansible_ssh_private_key_file, or ssh-agent)"
      : `ansible_user and ${authHint(c.tried)}`;
    return new TransportError(`${host}: authentication failed for user ${c.user} at ${where} (tried: ${c.tried.join(', ') || 'none'}): check ${check}`, {
      host,
      code: 'E_AUTH',
      fatal: true,
      cause: err,
    });
  }
  if (err.code && TRANSIENT_CODES.has(err.code)) {
    const why = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
    return transientError(
      host,
      `cannot connect to ${where}: ${why} (${err.code})`,
      c.bastion ? `is sshd running there, and is ${jumpHost} right?` : 'is sshd running there, and are ansible_host/ansible_port right?',
      err,
    );
  }
  if (err.level === 'client-timeout' || /before handshake|timed out/i.test(err.message)) {
    return transientError(
      host,
      `SSH handshake with ${where} did not complete within ${c.timeoutMs} ms (${err.message})`,
      `is the host up and reachable, and is ${c.bastion ? jumpHost : 'ansible_host/ansible_port'} an SSH server?`,
      err,
    );
  }
  if (err.level === 'handshake' && /no matching/i.test(err.message)) {
    return new TransportError(
      `${host}: ${where} and kha have no SSH algorithm in common (${err.message}): kha does not offer the SHA-1 ones (ssh-rsa host key signatures, hmac-sha1); give that sshd an ed25519 or ECDSA host key, or rsa-sha2-256/512 (OpenSSH 7.2+) and hmac-sha2-256/512`,
      { host, code: 'E_CONNECT', fatal: true, cause: err },
    );
  }
  if (err.code === 'ENOTFOUND') {
    return new TransportError(`${host}: cannot resolve ${c.address}: check ${c.bastion ? 'the jump host' : 'ansible_host'} (or HostName in ~/.ssh/config)`, {
      host,
      code: 'E_CONNECT',
      fatal: true,
      cause: err,
    });
  }
  return connectFailed(host, where, err);
}

/** Any other failure to connect: not retried, not fatal. */
export function connectFailed(host: string, where: string, err: unknown): TransportError {
  return new TransportError(`${host}: connect to ${where} failed: ${(err as Error).message}`, { host, code: 'E_CONNECT', cause: err });
}

/** The server closed the connection before the handshake was done (sshd MaxStartups): retried. */
export function closedDuringHandshake(host: string, where: string): TransportError & Transient {
  return transientError(host, `${where} closed the connection during the SSH handshake`, 'is sshd healthy there (MaxStartups, sshd logs)?');
}
