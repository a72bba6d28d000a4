// Build what every inventory command needs: the inventory, kha's settings, the SSH pool and the
// run context. Bad input fails here, before any connection is opened.
import { createInterface } from 'node:readline/promises';
import type { Connector } from '../engine/context.js';
import { RunContext } from '../engine/context.js';
import type { HaSettings } from '../inventory/settings.js';
import { resolveSettings } from '../inventory/settings.js';
import { loadInventory } from '../inventory/load.js';
import type { Inventory, InventoryHost } from '../inventory/types.js';
import { connect, type ConnectOptions } from '../transport/ssh.js';
import type { Command, Connection, ExecOptions } from '../transport/types.js';
import { ConnectionPool } from '../transport/pool.js';
import { accessSync, constants, statSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { Io } from './base.js';
import type { EventBus } from '../engine/events.js';
import { quote, render } from '../transport/quote.js';

export interface InventoryFlagValues {
  inventory: string;
  user?: string | undefined;
  'private-key'?: string | undefined;
  become?: boolean | undefined;
  forks: number;
  'accept-new-host-keys'?: boolean | undefined;
  'known-hosts'?: string | undefined;
  'connect-timeout': number;
  check?: boolean | undefined;
  diff?: boolean | undefined;
}

/** The engine's Connector over the transport's pool: one connection per host, reused. */
export class SshConnector implements Connector {
  private pool: ConnectionPool;
  private traced = new Map<Connection, Connection>();
  constructor(opts: ConnectOptions, forks: number, private readonly events?: EventBus) {
    this.pool = new ConnectionPool({ ...opts, forks });
  }
  async get(host: InventoryHost): Promise<Connection> {
    const c = await this.pool.get(host.connection);
    if (!this.events) return c;
    let t = this.traced.get(c);
    if (!t) this.traced.set(c, (t = traced(c, this.events)));
    return t;
  }
  get handshakes(): number {
    return this.pool.handshakes;
  }
  closeAll(): Promise<void> {
    return this.pool.closeAll();
  }
}

/** Report every command (for -v / -vv and the log file); the EventBus masks secrets. */
function traced(c: Connection, events: EventBus): Connection {
  return {
    name: c.name,
    stats: c.stats,
    async exec(cmd, opts) {
      const t0 = Date.now();
      const r = await c.exec(cmd, opts);
      events.emit({ type: 'command', host: c.name, command: render(cmd), code: r.code, ms: Date.now() - t0, stdout: r.stdout.slice(0, 4000), stderr: r.stderr.slice(0, 4000) });
      return r;
    },
    ...(c.execBatch
      ? {
          async execBatch(cmds: Command[], opts?: ExecOptions) {
            const t0 = Date.now();
            const rs = await c.execBatch!(cmds, opts);
            const ms = Date.now() - t0;
            rs.forEach((r, i) =>
              events.emit({ type: 'command', host: c.name, command: `(batch ${i + 1}/${cmds.length}) ${render(cmds[i]!)}`, code: r.code, ms, stdout: r.stdout.slice(0, 4000), stderr: r.stderr.slice(0, 4000) }),
            );
            return rs;
          },
        }
      : {}),
    async upload(content, path, opts) {
      const t0 = Date.now();
      await c.upload(content, path, opts);
      events.emit({ type: 'command', host: c.name, command: `(sftp) write ${path} mode ${opts.mode.toString(8)}`, code: 0, ms: Date.now() - t0 });
    },
    close: () => c.close(),
  };
}

async function askPassphrase(keyFile: string): Promise<string> {
  if (!process.stdin.isTTY) throw new Error(`${keyFile} is encrypted and there is no terminal to ask for its passphrase; load it into ssh-agent (ssh-add ${keyFile})`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // do not echo the passphrase
  const out = process.stderr.write.bind(process.stderr);
  let muted = false;
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => { if (!muted) out(s); };
  const p = rl.question(`passphrase for ${keyFile}: `);
  muted = true;
  const answer = await p;
  rl.close();
  process.stderr.write('\n');
  return answer;
}

export function connectOptions(flags: InventoryFlagValues, io: Io): ConnectOptions {
  return {
    ...(flags['known-hosts'] ? { knownHostsFile: flags['known-hosts'] } : {}),
    acceptNewHostKeys: Boolean(flags['accept-new-host-keys']),
    connectTimeoutMs: flags['connect-timeout'] * 1000,
    onPassphrase: askPassphrase,
    log: (m) => io.events.debug(m),
  };
}

export async function loadForRun(flags: InventoryFlagValues, io: Io): Promise<{ inv: Inventory; settings: HaSettings }> {
  const inv = await loadInventory(flags.inventory, {
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags['private-key'] ? { privateKey: flags['private-key'] } : {}),
    ...(flags.become !== undefined ? { become: flags.become } : {}),
  });
  io.addSecrets(inv.secrets);
  checkKeyFiles(inv, flags['private-key'] !== undefined);
  const settings = resolveSettings(inv);
  if (settings.authPass) io.addSecrets([settings.authPass]);
  return { inv, settings };
}

/**
 * Private key files named by the inventory or --private-key: checked once each, before any
 * connection, as OpenSSH would (a regular file, readable, not accessible by others). Bad input,
 * exit 4, naming the host and where the key came from.
 */
export function checkKeyFiles(inv: Inventory, fromFlag: boolean): void {
  const seen = new Set<string>();
  for (const h of inv.hosts) {
    const file = h.connection.privateKeyFile;
    if (!file || seen.has(file)) continue;
    seen.add(file);
    const where = fromFlag ? '--private-key' : `${h.name}: ansible_ssh_private_key_file`;
    let st;
    try {
      st = statSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new InputError(`${where}: ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}; give the path of the private key, e.g. ~/.ssh/id_ed25519`);
    }
    if (st.isDirectory()) throw new InputError(`${where}: ${file} is a directory; give the path of the private key file in it, e.g. ${file.replace(/\/$/, '')}/id_ed25519`);
    if (!st.isFile()) throw new InputError(`${where}: ${file} is not a regular file; give the path of the private key file`);
    if (st.mode & 0o077) {
      throw new InputError(`${where}: permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')} for ${file} are too open (OpenSSH refuses such keys too); run chmod 600 ${quote(file)}`);
    }
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new InputError(`${where}: ${file} is not readable by this user; check its owner and mode`);
    }
  }
}

export function makeRun(inv: Inventory, flags: InventoryFlagValues, io: Io, connector?: Connector): RunContext {
  return new RunContext(inv, connector ?? new SshConnector(connectOptions(flags, io), flags.forks, io.events), io.events, {
    check: Boolean(flags.check),
    diff: Boolean(flags.diff),
    forks: flags.forks,
    signal: io.signal,
  });
}
