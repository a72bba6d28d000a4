// Build what every inventory command needs: the inventory, kha's settings, the SSH pool and the
// run context. Bad input fails here, before any connection is opened.
import type { Connector } from '../engine/context.js';
import { RunContext } from '../engine/context.js';
import type { HaSettings, SettingOrigins } from '../inventory/settings.js';
import { explainSettings } from '../inventory/settings.js';
import { loadInventory } from '../inventory/load.js';
import type { ConnectionOverrides, Inventory, InventoryHost } from '../inventory/types.js';
import { resolveHostNames, type Lookup } from '../inventory/resolve.js';
import { sshArgWarnings } from '../inventory/ssh-args.js';
import { tildify } from '../transport/handshake.js';
import { resolveRoute, routeLabel } from '../transport/jump.js';
import { readSshConfigText } from '../transport/ssh-config.js';
import os from 'node:os';
import path from 'node:path';
import type { ConnectOptions } from '../transport/ssh.js';
import type { Command, Connection, ExecOptions } from '../transport/types.js';
import { ConnectionPool } from '../transport/pool.js';
import { accessSync, constants, statSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { Io, TrackedRun } from './base.js';
import { terminalConfirm } from './confirm.js';
import { parseSerialFlag } from '../engine/serial.js';
import type { SerialSpec } from '../engine/types.js';
import type { Confirm } from '../actions/plan.js';
import type { EventBus } from '../engine/events.js';
import { quote, render } from '../transport/quote.js';

export interface InventoryFlagValues {
  inventory: string;
  user?: string | undefined;
  'private-key'?: string | undefined;
  become?: boolean | undefined;
  'ask-become-pass'?: boolean | undefined;
  forks: number;
  'accept-new-host-keys'?: boolean | undefined;
  'known-hosts'?: string | undefined;
  'connect-timeout': number;
  bastion?: string | undefined;
  'extra-vars'?: string[] | undefined;
  check?: boolean | undefined;
  diff?: boolean | undefined;
}

/** The engine's Connector over the transport's pool: one connection per host, reused. */
export class SshConnector implements Connector {
  private pool: ConnectionPool;
  private traced = new Map<Connection, Connection>();
  /**
   * @param becomePassword -K: the password asked on the terminal, for every become host that has
   *   none of its own
   */
  /**
   * @param onSession called each time a host's connection is open (kha keeps the log file of a run
   *   that reached a host: base.ts)
   */
  constructor(
    opts: ConnectOptions,
    forks: number,
    private readonly events?: EventBus,
    private readonly becomePassword?: Promise<string>,
    private readonly onSession?: () => void,
  ) {
    this.pool = new ConnectionPool({ ...opts, forks });
  }
  async get(host: InventoryHost): Promise<Connection> {
    const spec = host.connection;
    const c = await this.pool.get(this.becomePassword && needsBecomePassword(spec) ? { ...spec, becomePassword: await this.becomePassword } : spec);
    this.onSession?.();
    if (!this.events) return c;
    let t = this.traced.get(c);
    if (!t) this.traced.set(c, (t = traced(c, this.events)));
    return t;
  }
  get handshakes(): number {
    return this.pool.handshakes;
  }
  /** bastion logins (one per jump host, shared by the hosts behind it) */
  get bastionHandshakes(): number {
    return this.pool.bastionHandshakes;
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
    ...(c.via !== undefined ? { via: c.via } : {}),
    async exec(cmd, opts) {
      const t0 = Date.now();
      const r = await c.exec(cmd, opts);
      events.emit({
        type: 'command',
        host: c.name,
        command: render(cmd),
        code: r.code,
        ms: Date.now() - t0,
        stdout: r.stdout.slice(0, 4000),
        stderr: r.stderr.slice(0, 4000),
      });
      return r;
    },
    ...(c.execBatch
      ? {
          async execBatch(cmds: Command[], opts?: ExecOptions) {
            const t0 = Date.now();
            const rs = await c.execBatch!(cmds, opts);
            const ms = Date.now() - t0;
            rs.forEach((r, i) =>
              events.emit({
                type: 'command',
                host: c.name,
                command: `(batch ${i + 1}/${cmds.length}) ${render(cmds[i]!)}`,
                code: r.code,
                ms,
                stdout: r.stdout.slice(0, 4000),
                stderr: r.stderr.slice(0, 4000),
              }),
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

function passphrasePrompt(io: Io): (keyFile: string) => Promise<string> {
  return async (keyFile) => {
    if (!process.stdin.isTTY || !io.askSecret) {
      throw new Error(`${keyFile} is encrypted and there is no terminal to ask for its passphrase; load it into ssh-agent (ssh-add ${keyFile})`);
    }
    return io.askSecret(`passphrase for ${keyFile}: `);
  };
}

const needsBecomePassword = (c: InventoryHost['connection']) => c.become && c.becomePassword === undefined;

/**
 * -K: ask once, now (before any output), for every host that becomes without a password of its
 * own. Without a terminal it is bad input that says how else to give the password.
 */
export function askBecomePassword(inv: Inventory, flags: InventoryFlagValues, io: Io): Promise<string> | undefined {
  if (!flags['ask-become-pass']) return undefined;
  if (!process.stdin.isTTY || !io.askSecret) {
    throw new InputError(
      '-K/--ask-become-pass: there is no terminal to ask for the become password on (stdin is not a TTY); give it in the inventory instead: ansible_become_password_file: FILE (its first line, mode 0600) or ansible_become_password: ${env:NAME}',
    );
  }
  if (!inv.hosts.some((h) => needsBecomePassword(h.connection))) {
    io.events.warn('-K: no host uses become without a password of its own (ansible_become or -b); the become password was not asked');
    return undefined;
  }
  const asked = io.askSecret('BECOME password: ').then((pw) => {
    if (!pw) throw new InputError('-K/--ask-become-pass: no password was typed');
    return pw;
  });
  // awaited by each connection that needs it; a Ctrl-C before the first one is not unhandled
  asked.catch(() => undefined);
  return asked;
}

/** The ssh options the inventory gives that kha ignores (warnings), and the hosts behind bastions. */
export async function reportConnections(inv: Inventory, io: Io, sshConfigFile?: string): Promise<void> {
  for (const w of sshArgWarnings(inv.hosts)) io.events.warn(w);
  await reportRoutes(inv, io, sshConfigFile);
}

const ROUTE_FROM = { inventory: 'ansible_ssh_common_args', flag: '--bastion', 'ssh-config': 'ProxyJump in ~/.ssh/config' } as const;

/**
 * Each host's way in, before any connection: a ProxyJump in ~/.ssh/config kha cannot follow (a
 * loop, a bad value) is bad input here (exit 4); the hosts behind each bastion are named once
 * (`m2, m3 via b1`), a ProxyCommand kha does not run is warned about.
 */
export async function reportRoutes(inv: Inventory, io: Io, configFile = path.join(os.homedir(), '.ssh', 'config')): Promise<void> {
  let text: string;
  try {
    text = await readSshConfigText(configFile);
  } catch {
    return; // unreadable: each connection says so
  }
  const env = { home: os.homedir(), localUser: os.userInfo().username, configFile: tildify(configFile) };
  const behind = new Map<string, string[]>();
  const notes = new Set<string>();
  for (const h of inv.hosts) {
    const r = resolveRoute(h.connection, text, env);
    for (const n of r.notes) notes.add(n);
    if (!r.from) continue;
    const key = `${routeLabel(r.hops)} (${ROUTE_FROM[r.from]})`;
    behind.set(key, [...(behind.get(key) ?? []), h.name]);
  }
  for (const n of notes) io.events.warn(n);
  for (const [via, names] of behind) io.events.info(`${names.join(', ')} via ${via}`);
}

export function connectOptions(flags: InventoryFlagValues, io: Io): ConnectOptions {
  return {
    ...(flags['known-hosts'] ? { knownHostsFile: flags['known-hosts'] } : {}),
    acceptNewHostKeys: Boolean(flags['accept-new-host-keys']),
    connectTimeoutMs: flags['connect-timeout'] * 1000,
    onPassphrase: passphrasePrompt(io),
    log: (m) => io.events.debug(m),
  };
}

type OverrideFlags = Pick<InventoryFlagValues, 'inventory' | 'user' | 'private-key' | 'become' | 'bastion' | 'extra-vars'>;

/** What the command line overrides in every host's connection (-u, --private-key, -b, --bastion). */
export function connectionOverrides(flags: OverrideFlags): ConnectionOverrides {
  return {
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags['private-key'] ? { privateKey: flags['private-key'] } : {}),
    ...(flags.become !== undefined ? { become: flags.become } : {}),
    ...(flags.bastion !== undefined ? { bastion: flags.bastion } : {}),
  };
}

/**
 * The inventory and kha's settings, or one InputError: what the loader skipped is a warning,
 * key files are checked, the hosts reached through a bastion are named, and ansible_host names
 * are resolved (one `host: ansible_host NAME -> ADDRESS` line each) before the settings need
 * their addresses. `keyFiles: 'warn'` (kha inventory, which connects nowhere) reports a key-file
 * problem as a warning of the inventory.
 */
export async function loadForRun(
  flags: OverrideFlags,
  io: Io,
  opts: { lookup?: Lookup; keyFiles?: 'error' | 'warn' } = {},
): Promise<{ inv: Inventory; settings: HaSettings; origins: SettingOrigins }> {
  const inv = await loadInventory(flags.inventory, connectionOverrides(flags), flags['extra-vars']);
  for (const w of inv.warnings ?? []) io.events.warn(w);
  io.addSecrets(inv.secrets);
  try {
    checkKeyFiles(inv, flags['private-key'] !== undefined);
  } catch (err) {
    if (opts.keyFiles !== 'warn' || !(err instanceof InputError)) throw err;
    inv.warnings = [...(inv.warnings ?? []), err.message];
    io.events.warn(err.message);
  }
  await reportConnections(inv, io);
  for (const r of await resolveHostNames(inv, opts.lookup)) io.events.info(`ansible_host ${r.name} -> ${r.address}`, r.host);
  const { settings, origins } = explainSettings(inv);
  if (settings.authPass) io.addSecrets([settings.authPass]);
  return { inv, settings, origins };
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
    const keyVar =
      h.vars['ansible_ssh_private_key_file'] === undefined && h.vars['ansible_private_key_file'] !== undefined
        ? 'ansible_private_key_file'
        : 'ansible_ssh_private_key_file';
    // -e ansible_ssh_private_key_file wins over --private-key (Ansible's extra vars)
    const keyPath = inv.source?.hostVarPaths[h.name]?.[keyVar];
    const where = fromFlag && !(keyPath && inv.source?.isExtraVars(keyPath)) ? '--private-key' : `${h.name}: ${keyVar}`;
    let st;
    try {
      st = statSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new InputError(
        `${where}: ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}; give the path of the private key, e.g. ~/.ssh/id_ed25519`,
      );
    }
    if (st.isDirectory())
      throw new InputError(`${where}: ${file} is a directory; give the path of the private key file in it, e.g. ${file.replace(/\/$/, '')}/id_ed25519`);
    if (!st.isFile()) throw new InputError(`${where}: ${file} is not a regular file; give the path of the private key file`);
    if (st.mode & 0o077) {
      throw new InputError(
        `${where}: permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')} for ${file} are too open (OpenSSH refuses such keys too); run chmod 600 ${quote(file)}`,
      );
    }
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new InputError(`${where}: ${file} is not readable by this user; check its owner and mode`);
    }
  }
}

export function makeRun(inv: Inventory, flags: InventoryFlagValues, io: Io, connector?: Connector): RunContext {
  const becomePassword = askBecomePassword(inv, flags, io);
  connector ??= new SshConnector(connectOptions(flags, io), flags.forks, io.events, becomePassword, () => io.sessionOpened?.());
  return new RunContext(inv, connector, io.events, {
    check: Boolean(flags.check),
    diff: Boolean(flags.diff),
    forks: flags.forks,
    signal: io.signal,
  });
}

/** The flags of a rolling, locked command: the inventory flags, rolloutFlags, lockFlags, changeFlags. */
export type RolloutFlagValues = OverrideFlags &
  InventoryFlagValues & { serial: string; 'max-fail': number; 'break-lock': boolean; yes?: boolean; json?: boolean };

/** The options every rolling action takes (up, reset, upgrade). */
export interface RolloutOptions {
  serial: SerialSpec;
  maxFailPercentage: number;
  breakLock: boolean;
  confirm?: Confirm;
}

/**
 * What a rolling command does before its action: --serial parsed (bad input before the inventory
 * is read), the inventory and settings loaded, the run made and tracked (closed and counted by
 * KhaCommand), and the rollout options. `confirm`: the verb asks y/N before changing (up, reset).
 */
export async function prepareRollout(
  flags: RolloutFlagValues,
  io: Io,
  track: (run: TrackedRun) => void,
  o: { confirm?: boolean } = {},
): Promise<{ inv: Inventory; settings: HaSettings; run: RunContext; rollout: RolloutOptions }> {
  const serial = parseSerialFlag(flags.serial);
  const { inv, settings } = await loadForRun(flags, io);
  const run = makeRun(inv, flags, io);
  track(run);
  const confirm = o.confirm ? terminalConfirm(flags) : undefined;
  return { inv, settings, run, rollout: { serial, maxFailPercentage: flags['max-fail'], breakLock: flags['break-lock'], ...(confirm ? { confirm } : {}) } };
}
