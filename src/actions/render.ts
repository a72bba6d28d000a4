// kha render: the config files kha up would write to one host, rendered without connecting. The
// same code as kha up from settings to text (desiredFiles for a load balancer, nodeProxyFile for
// a node, the blockinfile block for /etc/hosts); the facts up would gather (the VRRP interface,
// the host's address on it, the package manager) are given or assumed, and every assumption is
// listed. Secrets are masked here, before anything can print them.
import { featuresOf, hostVersions, parseVersion, type Features } from '../facts/versions.js';
import { InputError, KhaError, ExitCode } from '../errors.js';
import type { HaSettings } from '../inventory/settings.js';
import { parseSetting } from '../inventory/settings.js';
import { suggest } from '../inventory/suggest.js';
import { replaceBlock } from '../modules/blockinfile.js';
import { REDACTED, redactText } from '../modules/secret-file.js';
import { isIPv4 } from '../net/ipv4.js';
import type { VrrpPlace } from '../net/host-net.js';
import { etcHostsEntries, renderEtcHostsBlock } from '../roles/etc-hosts.js';
import { HAPROXY_CFG, KEEPALIVED_CONF, KEEPALIVED_SECRET_KEYS, desiredFiles } from '../roles/ha.js';
import { ETC_HOSTS, etcHostsTargets, nodeProxyFile } from '../roles/nodes.js';
import { mask } from '../transport/quote.js';

export const RENDER_WHAT = ['all', 'keepalived', 'haproxy', 'nginx', 'etc-hosts'] as const;
export type RenderWhat = (typeof RENDER_WHAT)[number];
export type RenderKind = Exclude<RenderWhat, 'all'>;
export type PkgMgr = 'apt' | 'dnf' | 'yum';

/** kha render's assumptions when nothing is given: what a Debian-family host with one NIC has */
export const RENDER_DEFAULT_INTERFACE = 'eth0';
export const RENDER_DEFAULT_PKG_MGR: PkgMgr = 'apt';

/** The facts kha up would read from the host; each one left out is assumed (and said so). */
export interface RenderFacts {
  /** --interface: the VRRP interface */
  iface?: string;
  /** --address: the host's own address on it */
  address?: string;
  /** --pkg-mgr: only the nginx node proxy depends on it (worker user, module path) */
  pkgMgr?: PkgMgr;
  /** --keepalived-version / --haproxy-version: the host's versions (default: the inventory's pins, else the newest keywords) */
  versions?: { keepalived?: string; haproxy?: string };
}

/**
 * The keywords the host's versions accept: the given versions, else the inventory's pins, else
 * every keyword (the newest versions; kha up reads the host's own, see facts/versions.ts).
 */
function renderFeatures(s: HaSettings, facts: RenderFacts): Features {
  const v = hostVersions(
    { os: { id: 'unknown', idLike: [], versionId: '', prettyName: 'unknown' }, packages: {} },
    { keepalived: facts.versions?.keepalived ?? s.keepalivedVersion, haproxy: facts.versions?.haproxy ?? s.haproxyVersion },
  );
  return featuresOf(v);
}

export interface RenderedFile {
  what: RenderKind;
  path: string;
  content: string;
  /** config keywords whose values are shown as ******** */
  masked: string[];
}

export interface RenderResult {
  host: string;
  files: RenderedFile[];
  /** one phrase per fact that was assumed rather than given */
  assumed: string[];
}

/** The inventory's hosts (names) and its name in messages, for the unknown-host line. */
export interface RenderTarget {
  host: string;
  what: RenderWhat;
  inventoryHosts: readonly string[];
  inventoryName: string;
}

/** Every host kha writes a config file to, in a stable order. */
export function renderableHosts(s: HaSettings): string[] {
  return [...new Set([...s.lbHosts, ...(s.nodeLocalProxy ? s.nodes : []), ...(s.manageEtcHosts ? etcHostsTargets(s) : [])])];
}

/** The files kha would write to `t.host` (masked), and the facts it assumed. Pure; bad input is an InputError. */
export function renderHost(s: HaSettings, t: RenderTarget, facts: RenderFacts = {}): RenderResult {
  checkHost(s, t);
  checkFacts(facts);
  const kinds = kindsOn(s, t.host);
  const wanted = t.what === 'all' ? kinds : kinds.filter((k) => k === t.what);
  if (wanted.length === 0) {
    throw new InputError(`--what ${t.what}: kha writes no ${t.what} config to ${t.host}; it writes ${kinds.join(', ')} there: pass --what ${kinds[0]} or all`);
  }
  const assumed: string[] = [];
  const files = wanted.map((k) => renderKind(s, t.host, k, facts, assumed));
  return { host: t.host, files, assumed: [...new Set(assumed)] };
}

function checkHost(s: HaSettings, t: RenderTarget): void {
  const targets = renderableHosts(s);
  if (targets.includes(t.host)) return;
  const list = targets.join(', ');
  if (!t.inventoryHosts.includes(t.host)) {
    const near = suggest(t.host, targets, { mode: 'name' });
    throw new KhaError(`--host ${t.host}: no such host in ${t.inventoryName}${near ? ` (did you mean ${near}?)` : ''}; kha writes configs to ${list}`, {
      code: 'E_UNKNOWN_HOST',
      exit: ExitCode.usage,
    });
  }
  throw new KhaError(
    `--host ${t.host}: kha writes no config to ${t.host} (it is no load balancer${s.nodeLocalProxy ? ' and no node' : ', and node_local_proxy is off'}); kha writes configs to ${list}`,
    { code: 'E_UNKNOWN_HOST', exit: ExitCode.usage },
  );
}

function checkFacts(f: RenderFacts): void {
  for (const pkg of ['keepalived', 'haproxy'] as const) {
    const v = f.versions?.[pkg];
    if (v !== undefined && !parseVersion(v))
      throw new InputError(
        `--${pkg}-version: ${JSON.stringify(v)} is not a version; give it as ${pkg === 'keepalived' ? '2.1.5' : '2.2'} or as the package's version`,
      );
  }
  if (f.iface !== undefined) {
    const r = parseSetting('vrrp_interface', f.iface);
    if (!r.ok) throw new InputError(`--interface: ${r.message}`);
  }
  if (f.address !== undefined && !isIPv4(f.address)) {
    throw new InputError(`--address: ${JSON.stringify(f.address)} is not an IPv4 address; give the host's own address on its VRRP interface, e.g. 10.0.0.11`);
  }
}

/** What kha writes to a host, by kind: a load balancer's keepalived and haproxy, a node's proxy, the /etc/hosts block. */
function kindsOn(s: HaSettings, host: string): RenderKind[] {
  const kinds: RenderKind[] = [];
  if (s.lbHosts.includes(host)) kinds.push('keepalived', 'haproxy');
  else if (s.nodeLocalProxy && s.nodes.includes(host)) kinds.push(s.nodeProxy);
  if (s.manageEtcHosts && etcHostsTargets(s).includes(host)) kinds.push('etc-hosts');
  return kinds;
}

function renderKind(s: HaSettings, host: string, kind: RenderKind, facts: RenderFacts, assumed: string[]): RenderedFile {
  if (kind === 'etc-hosts') return { what: kind, path: ETC_HOSTS, content: replaceBlock('', renderEtcHostsBlock(etcHostsEntries(s))), masked: [] };
  if (!s.lbHosts.includes(host)) {
    if (s.nodeProxy === 'nginx' && facts.pkgMgr === undefined) assumed.push(`package manager ${RENDER_DEFAULT_PKG_MGR} (pass --pkg-mgr)`);
    const f = nodeProxyFile(s, host, facts.pkgMgr ?? RENDER_DEFAULT_PKG_MGR, renderFeatures(s, facts));
    return { what: kind, path: f.path, content: f.content, masked: [] };
  }
  const path = kind === 'keepalived' ? KEEPALIVED_CONF : HAPROXY_CFG;
  // desiredFiles renders every file of the host: haproxy.cfg needs no fact, so only keepalived's count as assumed
  const net = { [host]: vrrpPlace(s, host, facts, kind === 'keepalived' ? assumed : []) };
  if (kind === 'keepalived' && s.unicast && s.lbHosts.length > 1)
    assumed.push("unicast peers at their ansible_host (kha up uses each peer's address on its VRRP interface)");
  const file = desiredFiles(s, net, host, renderFeatures(s, facts)).find((f) => f.path === path);
  if (!file) throw new Error(`no ${path} among the files of ${host}`);
  const masked = kind === 'keepalived' && s.authPass !== undefined ? [...KEEPALIVED_SECRET_KEYS] : [];
  // redacted by keyword as on the host (kha up --diff), then masked wherever else the value might appear
  const content = masked.length ? mask(redactText(file.content, masked), [s.authPass ?? '']) : file.content;
  return { what: kind, path, content, masked };
}

/**
 * The host's place on the VRRP network as kha up would find it: the inventory's vrrp_interface
 * (or --interface, or eth0 assumed) and its address there (--address, or its ansible_host).
 */
function vrrpPlace(s: HaSettings, host: string, facts: RenderFacts, assumed: string[]): VrrpPlace {
  const hs = s.hosts[host]!;
  if (hs.interface !== undefined && facts.iface !== undefined && facts.iface !== hs.interface) {
    throw new InputError(
      `--interface ${facts.iface}: the inventory sets vrrp_interface: ${hs.interface} for ${host}, which kha up uses; drop --interface or change vrrp_interface`,
    );
  }
  const iface = hs.interface ?? facts.iface;
  if (iface === undefined) assumed.push(`VRRP interface ${RENDER_DEFAULT_INTERFACE} (pass --interface or set vrrp_interface)`);
  if (facts.address === undefined) assumed.push(`address ${hs.address} (its ansible_host; pass --address)`);
  return { iface: iface ?? RENDER_DEFAULT_INTERFACE, address: facts.address ?? hs.address };
}

/** The one stderr line naming what was assumed, or undefined when every fact was given. */
export function assumedLine(r: RenderResult): string | undefined {
  return r.assumed.length ? `note: ${r.host}: assumed ${r.assumed.join('; ')}; kha up reads these from the host itself` : undefined;
}

/**
 * The human output: each file after a comment line naming its path (every format here takes `#`
 * comments, so one file alone stays a valid config to diff), a second comment line where a secret
 * is masked, and a blank line between files.
 */
export function formatRendered(r: RenderResult): string {
  return r.files
    .map((f) => {
      const head = [`# kha render: ${f.path} on ${r.host}${f.what === 'etc-hosts' ? " (kha's block only; the rest of the file is left as it is)" : ''}`];
      if (f.masked.length) {
        head.push(`# ${f.masked.join(', ')} shown as ${REDACTED}: kha prints no secret (kha up -i ... --check --diff compares the real file on the host)`);
      }
      return `${head.join('\n')}\n${f.content}`;
    })
    .join('\n');
}
