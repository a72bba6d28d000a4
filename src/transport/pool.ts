// One SSH connection per host, opened once and reused by every task. Concurrent callers share
// the same pending Promise; opening connections to many hosts at once is bounded by `forks`.
import PQueue from 'p-queue';
import { connect as sshConnect, type ConnectOptions } from './ssh.js';
import { TunnelSet } from './tunnel.js';
import type { Connection, HostConnectionSpec } from './types.js';

export type ConnectFn = (spec: HostConnectionSpec, opts: ConnectOptions) => Promise<Connection>;

export interface ConnectionPoolOptions extends ConnectOptions {
  /** how many connections may be opened at the same time (Ansible's `forks`), default 20 */
  forks?: number;
  /** for tests: replaces the SSH connect */
  connect?: ConnectFn;
}

/** ssh.ts connections expose `isClosed` (true once closed or lost); others are assumed alive */
function isClosed(conn: Connection): boolean {
  return (conn as Connection & { isClosed?: boolean }).isClosed === true;
}

export class ConnectionPool {
  /** successful SSH handshakes so far (benchmarks: one per host means connections are reused) */
  handshakes = 0;
  private readonly conns = new Map<string, Promise<Connection>>();
  /** connections already open, to notice a lost one */
  private readonly opened = new Map<string, Connection>();
  private readonly queue: PQueue;
  private readonly connectFn: ConnectFn;
  private readonly connectOpts: ConnectOptions;

  constructor(opts: ConnectionPoolOptions = {}) {
    const { forks = 20, connect = sshConnect, ...connectOpts } = opts;
    this.queue = new PQueue({ concurrency: Math.max(1, forks) });
    this.connectFn = connect;
    connectOpts.knownHostsCache ??= new Map();
    connectOpts.fileCache ??= new Map();
    // one connection per bastion for every host behind it, closed by closeAll()
    connectOpts.tunnels ??= new TunnelSet();
    // ask for each key's passphrase once, not once per host
    const ask = connectOpts.onPassphrase;
    if (ask) {
      const asked = new Map<string, Promise<string>>();
      connectOpts.onPassphrase = (file) => {
        let p = asked.get(file);
        if (!p) {
          p = ask(file);
          asked.set(file, p);
        }
        return p;
      };
    }
    this.connectOpts = connectOpts;
  }

  /** The host's connection, opening it on first use (or again after it was lost). */
  get(spec: HostConnectionSpec): Promise<Connection> {
    const cached = this.conns.get(spec.name);
    const open = this.opened.get(spec.name);
    if (cached && !(open && isClosed(open))) return cached;
    this.opened.delete(spec.name);
    const p: Promise<Connection> = this.queue
      .add(() => this.connectFn(spec, this.connectOpts), { throwOnTimeout: true })
      .then((conn) => {
        this.handshakes++;
        if (this.conns.get(spec.name) === p) this.opened.set(spec.name, conn);
        return conn;
      });
    // a failed connect is not cached: a later get() tries again (connect already retried)
    p.catch(() => {
      if (this.conns.get(spec.name) === p) this.conns.delete(spec.name);
    });
    this.conns.set(spec.name, p);
    return p;
  }

  /** bastion logins so far: one per jump host, however many hosts sit behind it */
  get bastionHandshakes(): number {
    return this.connectOpts.tunnels?.opened ?? 0;
  }

  /** Close every connection (waits for connects still in flight), then the bastions'. */
  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    this.opened.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
    await this.connectOpts.tunnels?.closeAll();
  }
}
