// A logged-in connection to a jump host (bastion), and the set of them a pool shares: one
// connection per bastion, however many hosts sit behind it. Each host behind it gets its own
// `direct-tcpip` channel (forwardOut), over which ssh.ts runs that host's own SSH handshake; the
// bastion never sees the host's keys or commands. ssh.ts logs the bastion in and hands the ssh2
// client over; this file only forwards and closes.
import type { Client as SshClient, ClientChannel } from 'ssh2';
import { TransportError } from '../errors.js';
import { transientError, type Transient } from './handshake.js';

/** RFC 4254 channel open failure reasons */
const PROHIBITED = 1;
const CONNECT_FAILED = 2;
const UNKNOWN_CHANNEL_TYPE = 3;
const RESOURCE_SHORTAGE = 4;

/**
 * Pure: what a refused `direct-tcpip` open means, for the host behind the bastion. A refused or
 * failed connection from the bastion is retried like a refused direct one; a bastion that forbids
 * forwarding is not.
 */
export function forwardFailure(host: string, where: string, bastion: string, err: Error & { reason?: number | string }): TransportError & Partial<Transient> {
  const said = err.message.replace(/^\(SSH\) Channel open failure:\s*/, '').trim();
  const desc = said ? said[0]!.toLowerCase() + said.slice(1) : '';
  switch (err.reason) {
    case PROHIBITED:
    case UNKNOWN_CHANNEL_TYPE:
      return new TransportError(
        `${host}: bastion ${bastion} refused to forward a connection to ${where}${desc ? ` (${desc})` : ''}: allow TCP forwarding for this user there (sshd_config: AllowTcpForwarding yes; PermitOpen, if set, must list ${where})`,
        { host, code: 'E_FORWARD', fatal: true, cause: err },
      );
    case CONNECT_FAILED:
    case RESOURCE_SHORTAGE:
      return transientError(
        host,
        `cannot connect to ${where} through ${bastion}: ${desc || 'the bastion could not open a connection'}`,
        'is sshd running there, and are ansible_host/ansible_port right as the bastion sees them?',
        err,
      );
    default:
      return new TransportError(`${host}: cannot connect to ${where} through ${bastion}: ${err.message}`, { host, code: 'E_CONNECT', cause: err });
  }
}

export class Tunnel {
  private lost: string | undefined;
  private readonly closed: Promise<void>;

  /**
   * @param label the bastion as messages name it (`b1`)
   * @param where its address:port
   */
  constructor(
    readonly label: string,
    readonly where: string,
    private readonly client: SshClient,
    private readonly log: (m: string) => void,
  ) {
    client.on('error', (err: Error) => {
      this.lost ??= err.message;
      log(`bastion ${label}: connection error: ${err.message}`);
    });
    this.closed = new Promise<void>((resolve) =>
      client.once('close', () => {
        this.lost ??= 'closed';
        resolve();
      }),
    );
  }

  /** true once the bastion connection is closed or lost (a new one is opened then) */
  get isClosed(): boolean {
    return this.lost !== undefined;
  }

  /**
   * A channel to address:port opened by the bastion, for `host` (messages). Fails after
   * timeoutMs when the bastion does not answer (a target that drops packets: sshd's own connect
   * waits minutes).
   */
  forward(host: string, address: string, port: number, timeoutMs: number): Promise<ClientChannel> {
    const where = `${address}:${port}`;
    return new Promise<ClientChannel>((resolve, reject) => {
      if (this.lost !== undefined) {
        reject(transientError(host, `the connection to bastion ${this.label} was lost (${this.lost})`, 'is the bastion up?'));
        return;
      }
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        reject(
          transientError(
            host,
            `no connection to ${where} through ${this.label} within ${timeoutMs} ms`,
            'is the host up, and can the bastion reach it (ansible_host/ansible_port as the bastion sees them)?',
          ),
        );
      }, timeoutMs);
      try {
        this.client.forwardOut('127.0.0.1', 0, address, port, (err, channel) => {
          if (done) {
            channel?.close();
            return;
          }
          done = true;
          clearTimeout(timer);
          if (err) reject(forwardFailure(host, where, this.label, err as Error & { reason?: number }));
          else resolve(channel);
        });
      } catch (err) {
        done = true;
        clearTimeout(timer);
        reject(transientError(host, `the connection to bastion ${this.label} was lost (${(err as Error).message})`, 'is the bastion up?', err as Error));
      }
    });
  }

  async close(): Promise<void> {
    if (this.lost === undefined) {
      this.lost = 'closed';
      this.client.end();
    }
    await Promise.race([this.closed, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
  }
}

/**
 * The bastion connections of one pool, by route (`user@address:port` of each hop): opened once,
 * shared by every host behind them, opened again only once lost. Concurrent callers share the
 * pending open; a failed open is not kept (the next host tries again).
 */
export class TunnelSet {
  /** bastion logins so far (tests: one per bastion, not one per host) */
  opened = 0;
  private readonly tunnels = new Map<string, { promise: Promise<Tunnel>; tunnel?: Tunnel }>();

  get(key: string, open: () => Promise<Tunnel>): Promise<Tunnel> {
    const cur = this.tunnels.get(key);
    if (cur && !cur.tunnel?.isClosed) return cur.promise;
    const entry: { promise: Promise<Tunnel>; tunnel?: Tunnel } = {
      promise: open().then((t) => {
        this.opened++;
        entry.tunnel = t;
        return t;
      }),
    };
    entry.promise.catch(() => {
      if (this.tunnels.get(key) === entry) this.tunnels.delete(key);
    });
    this.tunnels.set(key, entry);
    return entry.promise;
  }

  /** Close every bastion connection, the innermost first (waits for opens in flight). */
  async closeAll(): Promise<void> {
    const all = [...this.tunnels.values()].reverse();
    this.tunnels.clear();
    for (const e of all) await e.promise.then((t) => t.close()).catch(() => undefined);
  }
}
