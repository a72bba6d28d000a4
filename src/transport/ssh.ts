// The SSH transport (src/transport is the only place in kha that imports ssh2). One connection
// per host; every command is one exec channel on it (`sh -c <quoted>`, through sudo when
// becoming); uploads go over one lazily opened SFTP session. Errors start with the host name and
// say what to do; the ones that must never be retried (host key, auth, key file, sudo password)
// carry fatal: true. Nothing here logs passwords, passphrases or key material. Hosts behind jump
// hosts connect over a channel of the bastion's connection (jump.ts: the route; tunnel.ts: the
// shared bastions).
import { createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2 from 'ssh2';
import type {
  AnyAuthMethod,
  AuthHandlerMiddleware,
  Client as SshClient,
  ClientChannel,
  ConnectConfig,
  MacAlgorithm,
  ParsedKey,
  ServerHostKeyAlgorithm,
  SFTPWrapper,
} from 'ssh2';
import { ExitCode, TransportError } from '../errors.js';
import { appendKnownHost, entriesFor, knownKeyTypes, readKnownHostsIndex, type KnownHostsCache } from './known-hosts.js';
import {
  classifySshError,
  closedDuringHandshake,
  connectFailed,
  hostVerifier,
  tildify,
  type HandshakeContext,
  type SshError,
  type Transient,
} from './handshake.js';
import { batchScript, splitBatch } from './batch.js';
import { ChannelCommand, KILL_GRACE_MS, becomeCommand, type ChannelHost, type Pending } from './channel.js';
import { quote, render } from './quote.js';
import { readSshConfigText, type ResolvedTarget } from './ssh-config.js';
import { resolveRoute, routeLabel, type Hop, type Route } from './jump.js';
import { Tunnel, TunnelSet } from './tunnel.js';
import type { Command, Connection, ExecOptions, ExecResult, HostConnectionSpec, UploadOptions } from './types.js';

const { Client, utils } = ssh2;

export interface ConnectOptions {
  /** default ~/.ssh/known_hosts */
  knownHostsFile?: string;
  /** record unknown host keys instead of refusing them (a changed key is always refused) */
  acceptNewHostKeys?: boolean;
  /** default ~/.ssh/config */
  sshConfigFile?: string;
  /** TCP connect + SSH handshake timeout, default 10000 */
  connectTimeoutMs?: number;
  /** default per-command timeout, default 300000 */
  commandTimeoutMs?: number;
  /** retries for transient connect errors (refused, reset, timeout), default 3 */
  retries?: number;
  /** first backoff delay in ms, doubled each retry; default 250 */
  retryDelayMs?: number;
  /** asked for the passphrase of an encrypted key file */
  onPassphrase?: (keyFile: string) => Promise<string>;
  log?: (msg: string) => void;
  /** ssh-agent socket, default process.env.SSH_AUTH_SOCK; '' disables the agent */
  agentSocket?: string;
  /** parsed known_hosts files shared by the connections of one pool (one parse per run) */
  knownHostsCache?: KnownHostsCache;
  /** SSH keepalive interval, default 15000 */
  keepaliveIntervalMs?: number;
  /** the bastion connections of a pool, shared by the hosts behind them; without it a connection opens its own */
  tunnels?: TunnelSet;
  /**
   * Files read once per pool (the pool passes one map): ~/.ssh/config and the key files, with
   * their stat, content and parsed key. A pool connecting to 1000 hosts read and parsed them
   * 1000 times.
   */
  fileCache?: Map<string, Promise<unknown>>;
}

/** What a key file held when first read: its stat and content, or the error. */
interface KeyFileRead {
  st?: import('node:fs').Stats;
  data?: Buffer;
  err?: NodeJS.ErrnoException;
  /** utils.parseKey(data) without a passphrase, made fast to sign with */
  parsed?: ParsedKey | Error;
}

function once<T>(cache: Map<string, Promise<unknown>> | undefined, key: string, load: () => Promise<T>): Promise<T> {
  if (!cache) return load();
  let p = cache.get(key) as Promise<T> | undefined;
  if (!p) cache.set(key, (p = load()));
  return p;
}

async function readKeyFile(file: string): Promise<KeyFileRead> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    return { err: err as NodeJS.ErrnoException };
  }
  if (!st.isFile()) return { st };
  try {
    const data = await fs.readFile(file);
    const parsed = firstKey(utils.parseKey(data));
    return { st, data, parsed: parsed instanceof Error ? parsed : withKeyObjects(parsed) };
  } catch (err) {
    return { st, err: err as NodeJS.ErrnoException };
  }
}

function firstKey(k: ParsedKey | ParsedKey[] | Error): ParsedKey | Error {
  return Array.isArray(k) ? (k[0] ?? new Error('empty key file')) : k;
}

const ECDSA_HASH: Record<string, string> = { 'ecdsa-sha2-nistp256': 'sha256', 'ecdsa-sha2-nistp384': 'sha384', 'ecdsa-sha2-nistp521': 'sha512' };

/**
 * The same parsed key, signing and verifying with node:crypto KeyObjects made once. ssh2 signs
 * with the key's PEM text, which node:crypto parses again on every call: 0.67 ms per ed25519
 * signature here against 0.04 ms with a KeyObject (the largest single cost of a handshake in the
 * 1000-host profile). Signatures are byte for byte what ssh2's own sign() returns (same
 * node:crypto call, same algorithm); anything unusual falls back to ssh2's method.
 */
export function withKeyObjects(key: ParsedKey): ParsedKey {
  let priv: KeyObject | undefined;
  let pub: KeyObject | undefined;
  try {
    const pem = key.getPrivatePEM();
    if (pem) priv = createPrivateKey(pem);
  } catch {
    priv = undefined;
  }
  try {
    pub = createPublicKey(key.getPublicPEM());
  } catch {
    pub = undefined;
  }
  // the hash ssh2 uses when none is given: none for ed25519, the curve's for ECDSA, sha1 for RSA
  const defaultHash = (algo: string | undefined): string | null | undefined =>
    algo ?? (key.type === 'ssh-ed25519' ? null : (ECDSA_HASH[key.type] ?? (key.type === 'ssh-rsa' ? 'sha1' : undefined)));
  const fast = Object.create(key) as ParsedKey;
  Object.defineProperty(fast, 'sign', {
    value: (data: Buffer, algo?: string) => {
      const h = defaultHash(algo);
      if (!priv || h === undefined) return key.sign(data, algo);
      try {
        return cryptoSign(h, data, priv);
      } catch (e) {
        return e as Error;
      }
    },
  });
  Object.defineProperty(fast, 'verify', {
    value: (data: Buffer, signature: Buffer, algo?: string) => {
      const h = defaultHash(algo);
      if (!pub || h === undefined) return key.verify(data, signature, algo);
      try {
        return cryptoVerify(h, data, pub, signature);
      } catch (e) {
        return e as Error;
      }
    },
  });
  return fast;
}

/**
 * Host key algorithms kha offers. Not `ssh-rsa`: that is an RSA key signing with SHA-1; an RSA
 * host key is still accepted through rsa-sha2-512/256 (OpenSSH 7.2+).
 */
const HOST_KEY_ALGOS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
];
/** MACs kha offers: ssh2's defaults without the SHA-1 ones (hmac-sha1, hmac-sha1-etm@openssh.com) */
const MAC_ALGOS: MacAlgorithm[] = ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'];

/**
 * The host key algorithms to offer a host, the types known_hosts already holds for it first (as
 * OpenSSH orders them): a host with several keys then proves the one kha knows, instead of one
 * kha would refuse as a changed identity.
 */
export function hostKeyAlgorithms(knownTypes: readonly string[]): ServerHostKeyAlgorithm[] {
  const known = knownTypes.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256'] : [t]));
  const preferred = known.filter((t): t is ServerHostKeyAlgorithm => (HOST_KEY_ALGOS as string[]).includes(t));
  return [...new Set([...preferred, ...HOST_KEY_ALGOS])];
}
interface LoadedKey {
  file: string;
  /** parsed (and decrypted) once here; ssh2 takes the parsed key as is */
  key: ParsedKey;
}

function keyError(host: string, message: string, suggestions: string[] = []): TransportError {
  return new TransportError(`${host}: ${message}`, {
    host,
    code: 'E_KEY',
    exit: ExitCode.usage,
    fatal: true,
    suggestions,
  });
}

/** One candidate key file, for the checks below: messages name `shown`; `strict` keys (not the defaults) must be usable. */
interface KeyCandidate {
  host: string;
  file: string;
  shown: string;
  strict: boolean;
  log: (m: string) => void;
}

/** Read and check the candidate key files (OpenSSH's rules: a regular file, not group/world-accessible). */
async function loadKeys(host: string, target: ResolvedTarget, opts: ConnectOptions, hasAgent: boolean, log: (m: string) => void): Promise<LoadedKey[]> {
  const keys: LoadedKey[] = [];
  const strict = target.keySource !== 'default';
  for (const file of target.identityFiles) {
    const k: KeyCandidate = { host, file, shown: tildify(file), strict, log };
    const read = await once(opts.fileCache, `key:${file}`, () => readKeyFile(file));
    if (!keyFileUsable(k, read, target.keySource)) continue;
    const key = await usableKey(k, read, opts, hasAgent);
    if (key) keys.push({ file, key });
  }
  return keys;
}

/** The file is there, a regular file, private and read: true; a default file that is missing or too open: false (skipped); else the error. */
function keyFileUsable(
  k: KeyCandidate,
  read: KeyFileRead,
  source: ResolvedTarget['keySource'],
): read is KeyFileRead & { data: Buffer; parsed: ParsedKey | Error } {
  const { host, file, shown } = k;
  const st = read.st;
  if (!st) {
    const err = read.err!;
    if (err.code === 'ENOENT' && source !== 'inventory') return false;
    if (err.code === 'ENOENT') throw keyError(host, `private key file ${shown} does not exist: check ansible_ssh_private_key_file`);
    throw keyError(host, `cannot read private key file ${shown}: ${(err as Error).message}`);
  }
  if (st.isDirectory()) {
    throw keyError(
      host,
      `private key file ${shown} is a directory, not a key: point ansible_ssh_private_key_file at the key file itself (e.g. ${shown}/id_ed25519)`,
    );
  }
  if (!st.isFile()) throw keyError(host, `private key file ${shown} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    const perms = (st.mode & 0o777).toString(8).padStart(4, '0');
    if (!k.strict) {
      k.log(`${host}: skipping ${shown}: permissions ${perms} are too open`);
      return false;
    }
    throw keyError(
      host,
      `permissions ${perms} for private key ${shown} are too open: it must not be accessible by others (OpenSSH refuses it too); chmod 600 ${quote(file)}`,
      [`chmod 600 ${quote(file)}`],
    );
  }
  if (!read.data || !read.parsed) throw keyError(host, `cannot read private key file ${shown}: ${read.err?.message ?? 'unreadable'}`);
  return true;
}

/** The parsed key (decrypted with the passphrase when asked for one); undefined: skipped, or left to ssh-agent. */
async function usableKey(
  k: KeyCandidate,
  read: { data: Buffer; parsed: ParsedKey | Error },
  opts: ConnectOptions,
  hasAgent: boolean,
): Promise<ParsedKey | undefined> {
  const { host, file, shown, strict, log } = k;
  const parsed = read.parsed;
  if (!(parsed instanceof Error)) return parsed;
  if (!/passphrase|encrypted/i.test(parsed.message)) {
    if (strict) throw keyError(host, `${shown} is not a private key kha can use: ${parsed.message}`);
    log(`${host}: skipping ${shown}: not a usable private key`);
    return undefined;
  }
  if (opts.onPassphrase) {
    const decrypted = firstKey(utils.parseKey(read.data, await opts.onPassphrase(file)));
    if (decrypted instanceof Error) throw keyError(host, `wrong passphrase for private key ${shown}`);
    return withKeyObjects(decrypted);
  }
  if (hasAgent) log(`${host}: ${shown} is encrypted; relying on ssh-agent for it`);
  else if (strict) {
    throw keyError(
      host,
      `private key ${shown} is encrypted and kha cannot ask for its passphrase here: load it into ssh-agent (ssh-add ${quote(shown)}) and re-run`,
      [`eval "$(ssh-agent)" && ssh-add ${quote(file)}`],
    );
  } else log(`${host}: skipping encrypted ${shown} (no ssh-agent, no passphrase prompt)`);
  return undefined;
}

async function isSocket(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isSocket();
  } catch {
    return false;
  }
}

/** a wait that does not keep the process alive */
const grace = (ms: number) => sleep(ms, undefined, { ref: false });

/**
 * Open an SSH connection to one host: ~/.ssh/config applied, host key verified against
 * known_hosts, key/agent/password auth, bounded retries with backoff for transient errors only.
 * Behind jump hosts (spec.jump, else ProxyJump in ~/.ssh/config), the host's own handshake runs
 * over a channel the last bastion opens; each bastion is logged in like a host (its key checked
 * against the same known_hosts), once per pool (opts.tunnels), else once for this connection.
 */
export async function connect(spec: HostConnectionSpec, opts: ConnectOptions = {}): Promise<Connection> {
  const log = opts.log ?? (() => {});
  const home = os.homedir();
  const host = spec.name;
  const cfgFile = opts.sshConfigFile ?? path.join(home, '.ssh', 'config');
  const cfgText = await once(opts.fileCache, `ssh-config:${cfgFile}`, () => readSshConfigText(cfgFile));
  const route = resolveRoute(spec, cfgText, { home, localUser: os.userInfo().username, configFile: tildify(cfgFile) });
  const target = route.target;
  const agentPath = opts.agentSocket ?? process.env['SSH_AUTH_SOCK'] ?? '';
  const agent = agentPath !== '' && (await isSocket(agentPath)) ? agentPath : undefined;
  const methods = await authMethods(host, target, spec.password, opts, agent, log);
  const via = route.hops.length ? routeLabel(route.hops) : undefined;
  // without a pool's shared set, the bastions are this connection's own, closed with it
  const own = opts.tunnels ? undefined : new TunnelSet();
  const tunnels = opts.tunnels ?? own!;
  try {
    return await withRetries(host, opts, log, async () => {
      const sock = route.hops.length ? await throughHops(spec, route, tunnels, agent, opts, log) : undefined;
      const client = await handshake(
        {
          host,
          target,
          knownHostsFile: spec.knownHostsFile,
          ...(via && sock ? { via, sock, scanVia: sshVia(route.hops) } : {}),
        },
        methods,
        opts,
        log,
      );
      if (via) log(`${host} via ${via}: connected to ${target.address}:${target.port}`);
      return new SshConnection(spec, target, client, opts, log, via, own);
    });
  } catch (err) {
    await own?.closeAll();
    throw err;
  }
}

/** The auth methods for a host or a bastion (keys, agent, password), in order; none at all is an error. */
async function authMethods(
  host: string,
  target: ResolvedTarget,
  password: string | undefined,
  opts: ConnectOptions,
  agent: string | undefined,
  log: (m: string) => void,
): Promise<AnyAuthMethod[]> {
  const keys = await loadKeys(host, target, opts, agent !== undefined, log);
  const methods: AnyAuthMethod[] = [
    ...keys.map((k): AnyAuthMethod => ({
      type: 'publickey',
      username: target.user,
      key: k.key,
    })),
    ...(agent ? [{ type: 'agent', username: target.user, agent } as AnyAuthMethod] : []),
    ...(password !== undefined ? [{ type: 'password', username: target.user, password } as AnyAuthMethod] : []),
  ];
  if (methods.length === 0) {
    throw new TransportError(
      `${host}: no way to authenticate as ${target.user} at ${target.address}:${target.port}: no private key found (tried ${target.identityFiles.map(tildify).join(', ')}), no ssh-agent, no password: set ansible_ssh_private_key_file`,
      { host, code: 'E_AUTH', fatal: true },
    );
  }
  return methods;
}

/** Run one connect attempt, again with backoff while it fails transiently; the last failure says how often. */
async function withRetries<T>(host: string, opts: ConnectOptions, log: (m: string) => void, attempt: () => Promise<T>): Promise<T> {
  const attempts = 1 + Math.max(0, opts.retries ?? 3);
  const baseDelay = opts.retryDelayMs ?? 250;
  let last: (TransportError & Transient) | undefined;
  for (let n = 1; n <= attempts; n++) {
    try {
      return await attempt();
    } catch (err) {
      const e = err as TransportError & Partial<Transient>;
      if (!e.transient) throw e;
      last = e as TransportError & Transient;
      if (n < attempts) {
        const delay = baseDelay * 2 ** (n - 1);
        log(`${host}: ${e.message}; retrying in ${delay} ms (attempt ${n + 1}/${attempts})`);
        await sleep(delay);
      }
    }
  }
  const final = last as TransportError & Transient;
  throw new TransportError(`${host}: ${final.what} (after ${attempts} attempt${attempts === 1 ? '' : 's'}): ${final.advice}`, {
    host,
    code: 'E_CONNECT',
    cause: final.cause,
  });
}

// ---- jump hosts ---------------------------------------------------------------------------

/** `ssh [-J first,...] -p PORT user@last`: how to run a command (ssh-keyscan) where the last hop is. */
function sshVia(hops: readonly Hop[]): string[] {
  const dest = (h: Hop) => `${h.target.user}@${h.target.address}`;
  const before = hops.slice(0, -1);
  const last = hops[hops.length - 1]!;
  return ['ssh', ...(before.length ? ['-J', before.map((h) => `${dest(h)}:${h.target.port}`).join(',')] : []), '-p', String(last.target.port), dest(last)];
}

/** A bastion's failure, as the host behind it reports it: `m2: via bastion b1: <what failed>`. */
function viaBastion(host: string, bastion: string, err: unknown): TransportError {
  if (!(err instanceof TransportError)) return connectFailed(host, `bastion ${bastion}`, err);
  const t = err as TransportError & Partial<Transient>;
  const e = new TransportError(`${host}: via bastion ${err.message}`, {
    host,
    code: err.code,
    exit: err.exit,
    fatal: err.fatal,
    suggestions: err.suggestions,
    ...(err.cause !== undefined ? { cause: err.cause } : {}),
  });
  return t.transient ? Object.assign(e, { transient: true as const, what: `via bastion ${bastion}: ${t.what}`, advice: t.advice ?? '' }) : e;
}

/** Log in to each hop in turn (shared through `tunnels`), then open a channel from the last one to the host. */
async function throughHops(
  spec: HostConnectionSpec,
  route: Route,
  tunnels: TunnelSet,
  agent: string | undefined,
  opts: ConnectOptions,
  log: (m: string) => void,
): Promise<ClientChannel> {
  let tunnel: Tunnel | undefined;
  for (let i = 0; i < route.hops.length; i++) {
    const hops = route.hops.slice(0, i + 1);
    const upstream = tunnel;
    const key = hops.map((h) => `${h.target.user}@${h.target.address}:${h.target.port}`).join(' > ');
    try {
      tunnel = await tunnels.get(key, () => openTunnel(spec, hops, upstream, agent, opts, log));
    } catch (err) {
      throw viaBastion(spec.name, hops[i]!.label, err);
    }
  }
  return tunnel!.forward(spec.name, route.target.address, route.target.port, opts.connectTimeoutMs ?? 10_000);
}

/** Log in to the last of `hops` (directly, or through `upstream`, the one before it). */
async function openTunnel(
  spec: HostConnectionSpec,
  hops: readonly Hop[],
  upstream: Tunnel | undefined,
  agent: string | undefined,
  opts: ConnectOptions,
  log: (m: string) => void,
): Promise<Tunnel> {
  const hop = hops[hops.length - 1]!;
  const t = hop.target;
  const where = `${t.address}:${t.port}`;
  const methods = await authMethods(hop.label, t, undefined, opts, agent, log);
  const sock = upstream ? await upstream.forward(hop.label, t.address, t.port, opts.connectTimeoutMs ?? 10_000) : undefined;
  const client = await handshake(
    {
      host: hop.label,
      target: t,
      knownHostsFile: spec.knownHostsFile,
      bastion: true,
      ...(upstream && sock ? { via: upstream.label, sock, scanVia: sshVia(hops.slice(0, -1)) } : {}),
    },
    methods,
    opts,
    log,
  );
  log(`bastion ${hop.label}: connected to ${where}${upstream ? ` through ${upstream.label}` : ''} as ${t.user}; the hosts behind it share this connection`);
  return new Tunnel(hop.label, where, client, log);
}

/** What one handshake is with: a host or a bastion, directly or over a bastion's channel. */
interface Endpoint {
  /** messages start with it: the inventory name, or the bastion as ProxyJump names it */
  host: string;
  target: ResolvedTarget;
  /** the host's known_hosts file (ansible_ssh_common_args -o UserKnownHostsFile); a bastion uses its host's */
  knownHostsFile: string | undefined;
  /** a jump host: advice names --bastion / ProxyJump */
  bastion?: boolean;
  /** over this channel of the bastion `via` instead of TCP */
  sock?: ClientChannel;
  via?: string;
  scanVia?: string[];
}

/** One TCP connect (or bastion channel) + SSH handshake + auth. Rejects with a TransportError; `transient` marks retryable ones. */
async function handshake(ep: Endpoint, methods: AnyAuthMethod[], opts: ConnectOptions, log: (m: string) => void): Promise<SshClient> {
  const { host, target } = ep;
  const where = `${target.address}:${target.port}${ep.via ? ` (through ${ep.via})` : ''}`;
  const khFile = opts.knownHostsFile ?? ep.knownHostsFile ?? path.join(os.homedir(), '.ssh', 'known_hosts');
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  // only this host's lines (and the patterned ones): the same answers as scanning them all
  const entries = entriesFor(await readKnownHostsIndex(khFile, opts.knownHostsCache), target.address, target.port);
  return new Promise<SshClient>((resolve, reject) => {
    const client = new Client();
    let hostKeyProblem: TransportError | undefined;
    let settled = false;
    const tried: string[] = [];
    const ctx: HandshakeContext = { host, where, address: target.address, user: target.user, timeoutMs, tried, ...(ep.bastion ? { bastion: true } : {}) };
    const fail = (e: TransportError) => {
      if (settled) return;
      settled = true;
      client.removeAllListeners('ready');
      client.on('error', () => {});
      client.end();
      ep.sock?.close();
      reject(e);
    };
    const verifier = hostVerifier({
      entries,
      place: {
        host,
        where,
        address: target.address,
        port: target.port,
        khFile,
        custom: (opts.knownHostsFile ?? ep.knownHostsFile) !== undefined,
        ...(ep.scanVia ? { scanVia: ep.scanVia } : {}),
      },
      acceptNew: opts.acceptNewHostKeys === true,
      record: (key) => appendKnownHost(khFile, target.address, target.port, key),
      refuse: (why) => (hostKeyProblem = why),
      log,
    });
    client.on('ready', () => {
      if (settled) return;
      settled = true;
      client.removeAllListeners('error');
      client.removeAllListeners('close');
      resolve(client);
    });
    client.on('error', (err: SshError) => {
      const e = classifySshError(err, ctx);
      if (!e) return log(`${host}: ssh-agent: ${err.message}`);
      fail(hostKeyProblem ?? e);
    });
    client.on('close', () => fail(hostKeyProblem ?? closedDuringHandshake(host, where)));
    try {
      client.connect({
        ...connectConfig(target, opts, timeoutMs, knownKeyTypes(entries, target.address, target.port), verifier, authSequence(methods, tried)),
        ...(ep.sock ? { sock: ep.sock } : {}),
      });
      // ssh2 leaves Nagle's algorithm on: every sequential command then waits ~40 ms for a
      // delayed ACK (measured: 49.5 -> 15 ms per command with TCP_NODELAY); a bastion's channel
      // has no socket of its own (the bastion's connection has it set)
      client.setNoDelay(true);
    } catch (err) {
      fail(connectFailed(host, where, err));
    }
  });
}

function connectConfig(
  target: ResolvedTarget,
  opts: ConnectOptions,
  timeoutMs: number,
  knownTypes: string[],
  hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => void,
  authHandler: AuthHandlerMiddleware,
): ConnectConfig {
  return {
    host: target.address,
    port: target.port,
    username: target.user,
    readyTimeout: timeoutMs,
    keepaliveInterval: opts.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: 3,
    algorithms: { serverHostKey: hostKeyAlgorithms(knownTypes), hmac: MAC_ALGOS },
    hostVerifier,
    authHandler,
  };
}

/** ssh2's authHandler: the methods in order, skipping those the server does not offer; `tried` collects each kind used. */
function authSequence(methods: AnyAuthMethod[], tried: string[]): AuthHandlerMiddleware {
  let next = 0;
  return (methodsLeft, _partial, nextAuth) => {
    let m = methods[next++];
    // skip methods the server does not offer (agent keys are publickey on the wire)
    while (m && methodsLeft && !methodsLeft.includes(m.type === 'agent' ? 'publickey' : m.type)) {
      m = methods[next++];
    }
    if (!m) return nextAuth(false as never);
    const t = m.type === 'agent' ? 'publickey (agent)' : m.type;
    if (!tried.includes(t)) tried.push(t);
    nextAuth(m);
  };
}

class SshConnection implements Connection {
  readonly name: string;
  readonly stats = { execs: 0, uploads: 0 };
  private dead: TransportError | undefined;
  private readonly pending = new Set<Pending>();
  private sftpSession: Promise<SFTPWrapper> | undefined;
  /** SFTP sessions whose channel has ended: ssh2 never answers a request sent on one */
  private readonly endedSftp = new WeakSet<SFTPWrapper>();
  private closed: Promise<void>;

  constructor(
    private readonly spec: HostConnectionSpec,
    private readonly target: ResolvedTarget,
    private readonly client: SshClient,
    private readonly opts: ConnectOptions,
    private readonly log: (m: string) => void,
    /** the jump hosts it goes through (`b1`, `b1 > b2`) */
    readonly via?: string,
    /** bastion connections of its own (no pool): closed with it */
    private readonly ownTunnels?: TunnelSet,
  ) {
    this.name = spec.name;
    let lastError: Error | undefined;
    client.on('error', (err: Error) => {
      lastError = err;
      this.log(`${this.name}: connection error: ${err.message}`);
    });
    this.closed = new Promise<void>((resolve) => {
      client.once('close', () => {
        this.markDead(
          new TransportError(`${this.name}: connection to ${this.where} was lost${lastError ? `: ${lastError.message}` : ''}`, {
            host: this.name,
            code: 'E_CONNECTION_LOST',
            ...(lastError ? { cause: lastError } : {}),
          }),
        );
        resolve();
      });
    });
  }

  private get where(): string {
    return `${this.target.address}:${this.target.port}${this.via ? ` (through ${this.via})` : ''}`;
  }

  /** true once the connection is closed or lost (the pool opens a new one then) */
  get isClosed(): boolean {
    return this.dead !== undefined;
  }

  private markDead(err: TransportError): void {
    this.dead ??= err;
    for (const p of [...this.pending]) p.fail(this.dead);
    this.pending.clear();
  }

  /** sudo is needed unless we are root becoming root */
  private needsSudo(become: boolean): boolean {
    return become && !(this.target.user === 'root' && this.spec.becomeUser === 'root');
  }

  async exec(cmd: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    this.stats.execs++;
    return this.run(render(cmd), opts);
  }

  /** Several read-only commands in one channel (one round trip); see transport/batch.ts. */
  async execBatch(cmds: Command[], opts: ExecOptions = {}): Promise<ExecResult[]> {
    if (opts.stdin !== undefined) throw new Error('execBatch takes no stdin');
    this.stats.execs++;
    const nonce = randomBytes(8).toString('hex');
    return splitBatch(await this.run(batchScript(cmds, nonce), opts), cmds.length, nonce);
  }

  /**
   * Run a shell script on one channel (transport/channel.ts). With sudo and a become password,
   * sudo gets a unique prompt and the script prints a marker first: the password is written only
   * when sudo asks for it, and the caller's stdin only once the script runs, so neither ever
   * reaches the wrong reader (with NOPASSWD, sudo never asks and the password is never sent).
   */
  private run(script: string, opts: ExecOptions): Promise<ExecResult> {
    if (this.dead) return Promise.reject(this.dead);
    const become = this.needsSudo(opts.become ?? this.spec.become);
    const password = become ? this.spec.becomePassword : undefined;
    // the nonce only matters with a sudo password (randomBytes per command showed in the profile)
    const nonce = password === undefined ? '' : randomBytes(8).toString('hex');
    const wrapped = becomeCommand(script, { become, becomeUser: this.spec.becomeUser, ...(password !== undefined ? { password } : {}), nonce });
    const timeoutMs = opts.timeoutMs ?? this.opts.commandTimeoutMs ?? 300_000;
    return new ChannelCommand(this.channelHost, wrapped, opts, timeoutMs).run();
  }

  /** what a command's channel needs from this connection */
  private get channelHost(): ChannelHost {
    return {
      name: this.name,
      where: this.where,
      becomeUser: this.spec.becomeUser,
      user: this.target.user,
      pending: this.pending,
      exec: (command, cb) => this.client.exec(command, cb),
      log: this.log,
    };
  }

  private sftp(): Promise<SFTPWrapper> {
    if (this.dead) return Promise.reject(this.dead);
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, s) => {
        if (err) {
          this.sftpSession = undefined;
          reject(new TransportError(`${this.name}: cannot start SFTP on ${this.where}: ${err.message}`, { host: this.name, code: 'E_UPLOAD', cause: err }));
          return;
        }
        s.on('end', () => this.endedSftp.add(s));
        s.on('close', () => {
          this.endedSftp.add(s);
          this.sftpSession = undefined;
        });
        resolve(s);
      });
    });
    return this.sftpSession;
  }

  /**
   * One SFTP request, failed with the connection when it is lost. A request sent once the
   * connection is dead, or once the SFTP channel has ended, is never answered by ssh2 (its
   * callback would never run): it fails at once instead. (Seen: a host killed mid-write; the
   * write failed, and the `close` in its finally block waited forever.)
   */
  private sftpCall<T>(sftp: SFTPWrapper, file: string, what: string, f: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      if (this.endedSftp.has(sftp)) {
        return reject(new TransportError(`${this.name}: upload to ${file}: ${what}: the SFTP session has ended`, { host: this.name, code: 'E_UPLOAD' }));
      }
      const pending: Pending = { fail: reject };
      this.pending.add(pending);
      f((err, v) => {
        this.pending.delete(pending);
        if (err) reject(new TransportError(`${this.name}: upload to ${file}: ${what}: ${err.message}`, { host: this.name, code: 'E_UPLOAD', cause: err }));
        else resolve(v as T);
      });
    });
  }

  /** open (create/truncate, or exclusive), write in chunks, set the mode, close */
  private async sftpWrite(sftp: SFTPWrapper, file: string, data: Buffer, mode: number, exclusive: boolean): Promise<void> {
    const call = <T>(what: string, f: (cb: (err: Error | null | undefined, v?: T) => void) => void) => this.sftpCall<T>(sftp, file, what, f);
    const handle = await call<Buffer>('open', (cb) => sftp.open(file, exclusive ? 'wx' : 'w', { mode }, cb));
    try {
      const chunk = 32 * 1024;
      for (let off = 0; off < data.length; off += chunk) {
        const len = Math.min(chunk, data.length - off);
        await call<void>('write', (cb) => sftp.write(handle, data, off, len, off, (e) => cb(e)));
      }
      await call<void>('chmod', (cb) => sftp.fchmod(handle, mode, (e) => cb(e)));
    } finally {
      await call<void>('close', (cb) => sftp.close(handle, (e) => cb(e))).catch(() => {});
    }
  }

  async upload(content: string | Buffer, remotePath: string, opts: UploadOptions): Promise<void> {
    this.stats.uploads++;
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const sftp = await this.sftp();
    const fail = (what: string, r: ExecResult) =>
      new TransportError(`${this.name}: upload to ${remotePath}: ${what} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`, {
        host: this.name,
        code: 'E_UPLOAD',
      });

    if (!this.needsSudo(this.spec.become)) {
      await this.sftpWrite(sftp, remotePath, data, opts.mode, opts.exclusive === true);
      if (opts.owner !== undefined || opts.group !== undefined) {
        // `--` first: an owner or group that starts with `-` is an operand, never an option
        const script =
          opts.owner !== undefined
            ? `chown -- ${quote(opts.owner + (opts.group !== undefined ? `:${opts.group}` : ''))} ${quote(remotePath)}`
            : `chgrp -- ${quote(opts.group ?? '')} ${quote(remotePath)}`;
        const r = await this.run(script, { become: this.spec.become });
        if (r.code !== 0) throw fail('chown', r);
      }
      return;
    }

    // becoming: write a private temp file as the login user, then `install` it as the become user
    const tmp = `/tmp/.kha-upload-${randomBytes(12).toString('hex')}`;
    let installed = false;
    try {
      await this.sftpWrite(sftp, tmp, data, 0o600, true);
      const argv = ['install', '-m', opts.mode.toString(8).padStart(4, '0')];
      if (opts.owner !== undefined) argv.push('-o', opts.owner);
      if (opts.group !== undefined) argv.push('-g', opts.group);
      argv.push('--', tmp, remotePath);
      const dest = quote(remotePath);
      // `install` replaces whatever is there: an exclusive upload checks first (as root, in the
      // target's own directory)
      const run = opts.exclusive
        ? `if [ -e ${dest} ] || [ -L ${dest} ]; then echo ${quote(`${remotePath} already exists`)} >&2; rc=1; else ${argv.map(quote).join(' ')}; rc=$?; fi`
        : `${argv.map(quote).join(' ')}; rc=$?`;
      const r = await this.run(`${run}; rm -f ${quote(tmp)}; exit $rc`, { become: true });
      installed = true;
      if (r.code !== 0) throw fail('install', r);
    } finally {
      if (!installed) await this.sftpCall<void>(sftp, tmp, 'remove', (cb) => sftp.unlink(tmp, (e) => cb(e))).catch(() => {});
    }
  }

  async close(): Promise<void> {
    if (!this.dead) {
      this.markDead(new TransportError(`${this.name}: connection closed`, { host: this.name, code: 'E_CLOSED' }));
      this.client.end();
    }
    await Promise.race([this.closed, grace(KILL_GRACE_MS)]);
    await this.ownTunnels?.closeAll();
  }
}
