// Jump hosts (bastions), the pure part: reading ProxyJump (`[user@]host[:port]`, chains `a,b`,
// `none`, `ssh://` URIs), a ProxyCommand of the one shape that means the same (`ssh -W %h:%p
// [user@]host`), and the route to a host: which hops, each resolved through ~/.ssh/config like a
// target (HostName, User, Port, IdentityFile, and the first hop's own ProxyJump, as OpenSSH does).
//
// Where a host's jump comes from, first found wins: the inventory (ansible_ssh_common_args), then
// --bastion (both arrive as spec.jump), then ~/.ssh/config. ssh.ts opens the hops; the pool
// shares one connection per bastion.
import { InputError } from '../errors.js';
import { isIPv4 } from '../net/ipv4.js';
import { expandPath, lookupSshConfig, resolveTarget, type ResolvedTarget, type SshConfigHost } from './ssh-config.js';
import { shellWords } from './shell-words.js';
import type { HostConnectionSpec, JumpHost } from './types.js';

/** OpenSSH refuses nothing shorter; kha refuses longer chains as surely a loop or a typo */
export const MAX_HOPS = 8;

const USER_RE = /^[a-z_][a-z0-9_.-]*$/;
const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const bad = (message: string): { ok: false; message: string } => ({ ok: false, message });

/** One `[user@]host[:port]` (or `ssh://[user@]host[:port]`). */
export function parseJumpHost(text: string): Parsed<JumpHost> {
  const s = text.startsWith('ssh://') ? text.slice('ssh://'.length).replace(/\/$/, '') : text;
  const at = s.lastIndexOf('@');
  const user = at >= 0 ? s.slice(0, at) : undefined;
  let hostPort = at >= 0 ? s.slice(at + 1) : s;
  let port: number | undefined;
  if (hostPort.startsWith('[')) return bad(`${JSON.stringify(text)}: kha connects over IPv4 only; give an IPv4 address or a host name`);
  const colon = hostPort.lastIndexOf(':');
  if (colon >= 0) {
    const p = hostPort.slice(colon + 1);
    port = /^\d{1,5}$/.test(p) ? Number(p) : NaN;
    if (!(port >= 1 && port <= 65535)) return bad(`${JSON.stringify(text)}: ${JSON.stringify(p)} is not a port; use a number from 1 to 65535`);
    hostPort = hostPort.slice(0, colon);
  }
  if (user !== undefined && (!USER_RE.test(user) || user.length > 32)) {
    return bad(`${JSON.stringify(text)}: ${JSON.stringify(user)} is not a valid user name; use a name like ubuntu (lowercase letters, digits, _ . -)`);
  }
  const host = hostPort;
  if (!host) return bad(`${JSON.stringify(text)}: no host; write [user@]host[:port]`);
  if (host.length > 253 || !(isIPv4(host) || (HOST_RE.test(host) && !/^[\d.]+$/.test(host)))) {
    return bad(`${JSON.stringify(text)}: ${JSON.stringify(host)} is not an IPv4 address or a host name; write [user@]host[:port]`);
  }
  return { ok: true, value: { host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) } };
}

/** A ProxyJump value: `none`, or hops separated by commas (the first is connected to first). */
export function parseProxyJump(text: string): Parsed<JumpHost[] | 'none'> {
  const t = text.trim();
  if (t.toLowerCase() === 'none') return { ok: true, value: 'none' };
  if (t === '') return bad('empty; write [user@]host[:port] (comma-separated for a chain), or none');
  const parts = t.split(',');
  if (parts.length > MAX_HOPS) return bad(`${JSON.stringify(t)}: a chain of ${parts.length} jump hosts; kha follows at most ${MAX_HOPS}`);
  const hops: JumpHost[] = [];
  for (const p of parts) {
    if (p.trim() === '') return bad(`${JSON.stringify(t)}: an empty hop; write hops as a,b with no empty entry`);
    if (p.trim().toLowerCase() === 'none') return bad(`${JSON.stringify(t)}: none cannot be part of a chain; write none alone`);
    const h = parseJumpHost(p.trim());
    if (!h.ok) return h;
    hops.push(h.value);
  }
  return { ok: true, value: hops };
}

/**
 * The jump host of a ProxyCommand that only relays through another sshd: `ssh [-q] -W %h:%p
 * [-p PORT] [-l USER] [user@]host` (`-W [%h]:%p` too). Anything else is undefined: kha runs no
 * proxy command.
 */
export function proxyCommandJump(command: string): JumpHost | undefined {
  const sw = shellWords(command);
  if (!sw.ok) return undefined;
  const [ssh, ...rest] = sw.words;
  if (ssh !== 'ssh' && !/^\/(usr\/)?(local\/)?bin\/ssh$/.test(ssh ?? '')) return undefined;
  let relay = false;
  let port: number | undefined;
  let user: string | undefined;
  const dest: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    if (w === '-q') continue;
    const flag = /^-[Wpl]/.exec(w)?.[0];
    if (flag === undefined) {
      if (w.startsWith('-')) return undefined;
      dest.push(w);
      continue;
    }
    const value = w === flag ? rest[++i] : w.slice(2);
    if (value === undefined) return undefined;
    if (flag === '-W') {
      if (value !== '%h:%p' && value !== '[%h]:%p') return undefined;
      relay = true;
    } else if (flag === '-p') {
      port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
      if (!(port >= 1 && port <= 65535)) return undefined;
    } else {
      if (!USER_RE.test(value)) return undefined;
      user = value;
    }
  }
  if (!relay || dest.length !== 1) return undefined;
  const parsed = parseJumpHost(dest[0]!);
  if (!parsed.ok) return undefined;
  const h = parsed.value;
  // user@host and host:port in the destination win over -l and -p, as with ssh
  const u = h.user ?? user;
  const p = h.port ?? port;
  return { host: h.host, ...(u !== undefined ? { user: u } : {}), ...(p !== undefined ? { port: p } : {}) };
}

/** `user@host:port` as ProxyJump would take it back (messages, ssh -J suggestions). */
export function formatJumpHost(j: JumpHost): string {
  return `${j.user ? `${j.user}@` : ''}${j.host}${j.port !== undefined && j.port !== 22 ? `:${j.port}` : ''}`;
}

// ---- routes -------------------------------------------------------------------------------

/** A jump host, resolved: where it is, who logs in, with which keys. */
export interface Hop {
  /** the host as the ProxyJump wrote it (an alias or an address): messages name it */
  label: string;
  target: ResolvedTarget;
}

export interface Route {
  target: ResolvedTarget;
  /** first hop first; empty: a direct connection */
  hops: Hop[];
  /** where the jump came from; undefined when direct */
  from?: 'inventory' | 'flag' | 'ssh-config';
  /** things worth a warning (a ProxyCommand kha does not run) */
  notes: string[];
}

export interface RouteEnv {
  home: string;
  localUser: string;
  /** the config file as messages name it (~/.ssh/config) */
  configFile: string;
}

/** `b1`, `b1 > b2`: the hops as messages and log lines name them. */
export function routeLabel(hops: readonly Hop[]): string {
  return hops.map((h) => h.label).join(' > ');
}

/** The jump a host's ~/.ssh/config entry asks for; errors name the file and the host. */
function configJump(cfg: SshConfigHost, host: string, env: RouteEnv, notes: string[]): JumpHost[] | 'none' | undefined {
  if (!cfg.proxy) return undefined;
  if (cfg.proxy.kind === 'ProxyJump') {
    const r = parseProxyJump(cfg.proxy.value);
    if (!r.ok) throw new InputError(`${env.configFile}: ProxyJump for ${host}: ${r.message}`);
    return r.value;
  }
  if (cfg.proxy.value.trim().toLowerCase() === 'none') return 'none';
  const j = proxyCommandJump(cfg.proxy.value);
  if (j) return [j];
  notes.push(
    `${env.configFile}: the ProxyCommand for ${host} is not run by kha (it reads only "ssh -W %h:%p [user@]host" as a jump host); connecting without it (ProxyJump works)`,
  );
  return undefined;
}

/** One jump host resolved like a target: ~/.ssh/config fills what ProxyJump did not say; keys as the host's. */
function hopOf(j: JumpHost, behind: HostConnectionSpec, cfgText: string, env: RouteEnv): { hop: Hop; cfg: SshConfigHost } {
  const cfg = lookupSshConfig(cfgText, j.host);
  const spec: HostConnectionSpec = {
    name: j.host,
    address: j.host,
    port: j.port ?? 22,
    user: j.user ?? '',
    // the bastion's keys come from where the host's do: its own IdentityFile in ~/.ssh/config,
    // then the host's key file (ansible_ssh_private_key_file, --private-key); else ~/.ssh/id_*
    ...(behind.privateKeyFile !== undefined ? { privateKeyFile: behind.privateKeyFile } : {}),
    become: false,
    becomeUser: 'root',
    explicit: { address: false, port: j.port !== undefined, user: j.user !== undefined, privateKeyFile: false },
  };
  const target = resolveTarget(spec, cfg, env);
  // a `Host *` IdentityFile must not hide the key the host behind uses (OpenSSH too tries them all)
  if (target.keySource === 'ssh-config' && behind.privateKeyFile !== undefined) {
    const own = expandPath(behind.privateKeyFile, { home: env.home, host: target.address, user: target.user, localUser: env.localUser });
    if (!target.identityFiles.includes(own)) target.identityFiles.push(own);
  }
  return { hop: { label: j.host, target }, cfg };
}

const endpoint = (t: ResolvedTarget) => `${t.address.toLowerCase()}:${t.port}`;

/** The same jump host twice on one route is a loop; more than MAX_HOPS hops, surely one too. */
function checkLoop(host: string, hops: readonly Hop[], env: RouteEnv): void {
  const seen = hops.map((h) => endpoint(h.target));
  const again = seen.findIndex((e, i) => seen.indexOf(e) !== i);
  if (again >= 0) {
    throw new InputError(
      `${host}: the jump hosts loop (${routeLabel(hops)}): ${hops[again]!.label} comes twice; check its ProxyJump (for a bastion in ${env.configFile}, add "ProxyJump none" under its Host entry)`,
    );
  }
  if (hops.length > MAX_HOPS) {
    throw new InputError(`${host}: the route ${routeLabel(hops)} has more than ${MAX_HOPS} jump hosts; check ProxyJump in ${env.configFile}`);
  }
}

/**
 * Pure: how to reach a host. Throws InputError for a ProxyJump in ~/.ssh/config kha cannot read,
 * for a loop, or a chain longer than MAX_HOPS. A host that is itself one of its hops (the
 * bastion listed in the inventory, with --bastion) is reached the way that hop is.
 */
export function resolveRoute(spec: HostConnectionSpec, cfgText: string, env: RouteEnv): Route {
  const notes: string[] = [];
  const cfg = lookupSshConfig(cfgText, spec.address);
  const target = resolveTarget(spec, cfg, env);
  let jump: readonly JumpHost[] | 'none' | undefined;
  let from: Route['from'];
  if (spec.jump !== undefined) [jump, from] = [spec.jump, spec.jumpFrom ?? 'inventory'];
  else [jump, from] = [configJump(cfg, spec.address, env, notes), 'ssh-config'];
  if (jump === undefined || jump === 'none' || jump.length === 0) return { target, hops: [], notes };

  const hops: Hop[] = [];
  let first: SshConfigHost | undefined;
  for (const j of jump) {
    const { hop, cfg: c } = hopOf(j, spec, cfgText, env);
    hops.push(hop);
    first ??= c;
  }
  checkLoop(spec.name, hops, env);
  // the first hop's own ProxyJump in ~/.ssh/config puts its hops in front (ssh -W runs with it)
  for (let c = first; c;) {
    const more = configJump(c, hops[0]!.label, env, notes);
    if (more === undefined || more === 'none') break;
    const added = more.map((j) => hopOf(j, spec, cfgText, env));
    hops.unshift(...added.map((a) => a.hop));
    checkLoop(spec.name, hops, env);
    c = added[0]?.cfg;
  }
  const self = hops.findIndex((h) => endpoint(h.target) === endpoint(target));
  const kept = self >= 0 ? hops.slice(0, self) : hops;
  return { target, hops: kept, ...(kept.length ? { from } : {}), notes };
}
