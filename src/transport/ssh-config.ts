// ~/.ssh/config support: Host alias -> HostName, User, Port, IdentityFile.
//
// Precedence rule (kept simple on purpose): what the inventory set explicitly (ansible_host,
// ansible_port, ansible_user, ansible_ssh_private_key_file) wins; ~/.ssh/config fills only what
// the inventory left at its default; OpenSSH's own defaults (port 22, the local user name,
// ~/.ssh/id_ed25519|id_ecdsa|id_rsa) come last. "Explicit" comes from spec.explicit when the
// inventory loader sets it, else: address === name, port === 22, user === '' or the local user
// name (the loader's fallback, and OpenSSH's) and no key file are treated as defaults. The
// config is looked up by the address the inventory gave (the host name
// when ansible_host is unset), as `ssh <address>` would do.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import SSHConfig from 'ssh-config';
import type { HostConnectionSpec } from './types.js';

export interface SshConfigHost {
  hostName?: string;
  user?: string;
  port?: number;
  /** as written (~ and %-tokens not yet expanded) */
  identityFiles: string[];
  /**
   * ProxyJump or ProxyCommand, as written: whichever the config sets first (OpenSSH: the first
   * of the two prevents the other)
   */
  proxy?: { kind: 'ProxyJump' | 'ProxyCommand'; value: string };
}

export interface ResolvedTarget {
  address: string;
  port: number;
  user: string;
  /** key files to try, in order (paths expanded) */
  identityFiles: string[];
  /**
   * where they came from: a missing inventory key is an error, missing ssh-config or default keys
   * are skipped (as OpenSSH does); unsafe permissions are an error unless the key is a default.
   */
  keySource: 'inventory' | 'ssh-config' | 'default';
}

export const DEFAULT_IDENTITY_FILES = ['~/.ssh/id_ed25519', '~/.ssh/id_ecdsa', '~/.ssh/id_rsa'];

/** Read the config file's text; a missing file is an empty config. */
export async function readSshConfigText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** Pure: the values ~/.ssh/config gives for `host`. `Match exec` is never evaluated. */
export function lookupSshConfig(configText: string, host: string): SshConfigHost {
  if (configText.trim() === '') return { identityFiles: [] };
  const computed = SSHConfig.parse(configText).compute(host, { ignoreCase: true, matchExec: false });
  const one = (k: string): string | undefined => {
    const v = computed[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const ids = computed['identityfile'];
  const out: SshConfigHost = {
    identityFiles: ids === undefined ? [] : Array.isArray(ids) ? ids : [ids],
  };
  const hostName = one('hostname');
  const user = one('user');
  const port = Number(one('port'));
  if (hostName) out.hostName = hostName;
  if (user) out.user = user;
  if (Number.isInteger(port) && port > 0 && port < 65536) out.port = port;
  // compute() keeps the order in which values were first set
  const proxyKey = Object.keys(computed).find((k) => k === 'proxyjump' || k === 'proxycommand');
  const proxy = proxyKey ? one(proxyKey) : undefined;
  if (proxy) out.proxy = { kind: proxyKey === 'proxyjump' ? 'ProxyJump' : 'ProxyCommand', value: proxy };
  return out;
}

/** Expand `~`, `%d` (home), `%h` (host), `%r` (remote user), `%u` (local user), `%%`. */
export function expandPath(p: string, ctx: { home: string; host?: string; user?: string; localUser?: string }): string {
  let out = p.replace(/%([%dhru])/g, (_m, c: string) => {
    switch (c) {
      case 'd':
        return ctx.home;
      case 'h':
        return ctx.host ?? '';
      case 'r':
        return ctx.user ?? '';
      case 'u':
        return ctx.localUser ?? '';
      default:
        return '%';
    }
  });
  if (out === '~') out = ctx.home;
  else if (out.startsWith('~/')) out = path.join(ctx.home, out.slice(2));
  return out;
}

/** Pure: merge the inventory spec with ssh config values by the rule at the top of this file. */
export function resolveTarget(spec: HostConnectionSpec, cfg: SshConfigHost, env: { home: string; localUser: string }): ResolvedTarget {
  const ex = spec.explicit;
  const explicitAddress = ex?.address ?? spec.address !== spec.name;
  const explicitPort = ex?.port ?? spec.port !== 22;
  const explicitUser = ex?.user ?? (spec.user !== '' && spec.user !== env.localUser);
  const explicitKey = (ex?.privateKeyFile ?? true) && spec.privateKeyFile !== undefined;

  const address = explicitAddress ? spec.address : (cfg.hostName ?? spec.address);
  const port = explicitPort ? spec.port : (cfg.port ?? spec.port);
  const user = (explicitUser ? spec.user : cfg.user || spec.user) || env.localUser;
  const ctx = { home: env.home, host: address, user, localUser: env.localUser };
  if (explicitKey && spec.privateKeyFile !== undefined) {
    return { address, port, user, identityFiles: [expandPath(spec.privateKeyFile, ctx)], keySource: 'inventory' };
  }
  if (cfg.identityFiles.length > 0) {
    return { address, port, user, identityFiles: cfg.identityFiles.map((f) => expandPath(f, ctx)), keySource: 'ssh-config' };
  }
  if (spec.privateKeyFile !== undefined) {
    return { address, port, user, identityFiles: [expandPath(spec.privateKeyFile, ctx)], keySource: 'inventory' };
  }
  return { address, port, user, identityFiles: DEFAULT_IDENTITY_FILES.map((f) => expandPath(f, ctx)), keySource: 'default' };
}
