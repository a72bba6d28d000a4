// kha's own settings: one zod shape (the single source of names, types, defaults and messages)
// and resolveSettings(), which picks the groups, applies defaults and runs the pure cross-field
// checks. Subnet checks need facts and happen later.
import { z } from 'zod';
import type { Inventory, InventoryHost, InventorySource } from './types.js';
import { IPV4_RE, isIPv4 } from '../net/ipv4.js';
import { agreedValue, FOREIGN_VARS, foreignLabel, LB_ROLE_VAR, mappedValues, type ForeignVar, type MappedSetting, type VarSource } from './foreign.js';
import { inputErrorAt, show, suggest, type ErrorSite } from './suggest.js';

// ---- value patterns ----------------------------------------------------------------------

/** usable as a VIP: not 0/8, loopback, multicast/reserved or broadcast */
function unicastIPv4(s: string): boolean {
  const first = Number(s.split('.')[0]);
  return first !== 0 && first !== 127 && first < 224;
}
/** never starting with `-`: an interface name is an argument of ip(8) (`ip addr show dev --help`) */
export const INTERFACE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/;
const HEALTH_PATH_RE = /^\/[A-Za-z0-9/_.?=&-]*$/;
const HAPROXY_TIME_RE = /^\d+(us|ms|s|m|h|d)?$/;
/** a DNS name for /etc/hosts: dot-separated RFC 1123 labels (1-63 letters, digits, inner hyphens), at most 253 */
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** a package version starts with a digit or letter (never `-`: it ends up in an apt/dnf argument) */
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9.:+~-]*$/;
/** VRRP auth: printable ASCII without space, quotes, backslash, and keepalived's comment marks # ! */
// the renderer's set (roles/keepalived.ts): safe inside keepalived.conf without quoting
const AUTH_PASS_RE = /^[A-Za-z0-9._@%+:=,^~-]+$/;

// ---- coercions (YAML and Ansible habits: "2222", yes/no) ---------------------------------

const numeric = (v: unknown): unknown => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v);
const boolish = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  const s = v.toLowerCase();
  if (['yes', 'true', 'on'].includes(s)) return true;
  if (['no', 'false', 'off'].includes(s)) return false;
  return v;
};
const stringish = (v: unknown): unknown => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v);
const seconds = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  const m = /^(\d+)(s|m|h)?$/.exec(v.trim());
  if (!m) return v;
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
};

/** zod error option whose message sees the offending value */
const says = (m: (v: unknown) => string) => ({ error: (iss: { input?: unknown }) => m(iss.input) });

/** default api_endpoint_name: see the setting's comment */
export const DEFAULT_API_ENDPOINT_NAME = 'kube-apiserver.kha.internal';
const VIP_FIX = "set vip: <a free IPv4 address in the masters' subnet> under all.vars";
const portMsg = (v: unknown) => `${show(v)} is not a port; use a number from 1 to 65535`;
export const portSchema = z.preprocess(numeric, z.int(says(portMsg)).min(1).max(65535));
export const boolSchema = (name: string) => z.preprocess(boolish, z.boolean(says((v) => `${show(v)} is not a boolean; set ${name}: true or false`)));
const haproxyTime = (name: string, dflt: string) =>
  z
    .preprocess(
      stringish,
      z
        .string(says((v) => `${show(v)} is not a haproxy time; use a number with an optional unit (us, ms, s, m, h, d), e.g. ${name}: ${dflt}`))
        .regex(HAPROXY_TIME_RE),
    )
    .default(dflt);

/**
 * kha's settings, by inventory variable name. Cluster-wide ones are read from the masters group's
 * effective vars (all.vars < parents < masters); PER_HOST_SETTINGS also per host.
 */
export const settingsShape = {
  vip: z
    .string(says((v) => (v === undefined ? `vip is required; ${VIP_FIX}` : `${show(v)} is not an IPv4 address; ${VIP_FIX}`)))
    .regex(IPV4_RE, {
      error: (iss) =>
        typeof iss.input === 'string' && /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(iss.input.trim())
          ? `${show(iss.input)} has a prefix length; write the address alone (vip: ${iss.input.trim().split('/')[0]}) and the prefix as vip_prefix: ${iss.input.trim().split('/')[1]}`
          : `${show(iss.input)} is not an IPv4 address; ${VIP_FIX}`,
    })
    .refine(unicastIPv4, { error: (iss) => `${show(iss.input)} is a loopback, multicast or reserved address, not usable as a VIP; ${VIP_FIX}` }),
  vip_prefix: z
    .preprocess(
      numeric,
      z
        .int(says((v) => `${show(v)} is not a prefix length; use a number from 1 to 32 (default 32)`))
        .min(1)
        .max(32),
    )
    .default(32),
  virtual_router_id: z
    .preprocess(
      numeric,
      z
        .int(says((v) => `${show(v)} is not a VRRP router id; use a number from 1 to 255 that no other VRRP group on the network uses`))
        .min(1)
        .max(255),
    )
    .default(51),
  advert_int: z
    .preprocess(
      numeric,
      z
        .int(says((v) => `${show(v)} is not an advertisement interval; use whole seconds from 1 to 255 (default 1)`))
        .min(1)
        .max(255),
    )
    .default(1),
  vrrp_auth_pass: z
    .preprocess(
      stringish,
      z
        .string(says(() => 'vrrp_auth_pass must be 1 to 8 letters, digits or . _ @ % + : = , ^ ~ -; choose such a password'))
        .max(8, { error: 'VRRP PASS keeps only 8 characters; use at most 8' })
        .min(1)
        .regex(AUTH_PASS_RE),
    )
    .optional(),
  vrrp_unicast: boolSchema('vrrp_unicast').optional(),
  frontend_port: portSchema.default(8443),
  apiserver_port: portSchema.default(6443),
  lb_algorithm: z
    .enum(
      ['roundrobin', 'leastconn'],
      says((v) => `${show(v)} is not a load-balancing algorithm kha supports; use roundrobin or leastconn`),
    )
    .default('roundrobin'),
  apiserver_health_path: z
    .string(says((v) => `${show(v)} is not a safe URL path; use a path like /readyz (letters, digits and / _ . ? = & -)`))
    .regex(HEALTH_PATH_RE)
    .default('/readyz'),
  haproxy_timeout_client: haproxyTime('haproxy_timeout_client', '4h'),
  haproxy_timeout_server: haproxyTime('haproxy_timeout_server', '4h'),
  haproxy_timeout_connect: haproxyTime('haproxy_timeout_connect', '5s'),
  // how long an old haproxy worker keeps its sessions after a reload: see the README (reloads and long connections)
  haproxy_hard_stop_after: haproxyTime('haproxy_hard_stop_after', '1h'),
  vip_wait_timeout: z
    .preprocess(
      seconds,
      z
        .int(says((v) => `${show(v)} is not a duration; use seconds from 1 to 86400, e.g. 30, 30s or 2m`))
        .min(1)
        .max(86400),
    )
    .default(30),
  track_apiserver: boolSchema('track_apiserver').default(false),
  vrrp_nopreempt: boolSchema('vrrp_nopreempt').default(false),
  keepalived_version: z
    .preprocess(stringish, z.string(says((v) => `${show(v)} is not a package version; use letters, digits and . : + ~ -, e.g. 1:2.2.8-1`)).regex(VERSION_RE))
    .optional(),
  haproxy_version: z
    .preprocess(stringish, z.string(says((v) => `${show(v)} is not a package version; use letters, digits and . : + ~ -, e.g. 2.8.5-1`)).regex(VERSION_RE))
    .optional(),
  // -- nodes (workers) and /etc/hosts
  node_local_proxy: boolSchema('node_local_proxy').default(false),
  node_proxy: z
    .enum(
      ['haproxy', 'nginx'],
      says((v) => `${show(v)} is not a node-local proxy kha supports; use haproxy or nginx`),
    )
    .default('haproxy'),
  manage_etc_hosts: boolSchema('manage_etc_hosts').default(false),
  /**
   * The name /etc/hosts maps to the VIP (manage_etc_hosts). `.internal` is the TLD ICANN reserved
   * for private use (2024); `.local` is mDNS's (RFC 6762) and may be resolved by multicast first.
   */
  api_endpoint_name: z
    .string(
      says(
        (v) =>
          `${show(v)} is not a host name; use dot-separated labels of letters, digits and inner hyphens, e.g. api_endpoint_name: ${DEFAULT_API_ENDPOINT_NAME}`,
      ),
    )
    .regex(HOSTNAME_RE)
    .default(DEFAULT_API_ENDPOINT_NAME),
  priority: z
    .preprocess(
      numeric,
      z
        .int(says((v) => `${show(v)} is not a valid priority; use a number from 1 to 254 (255 is reserved for the address owner)`))
        .min(1)
        .max(254),
    )
    .optional(),
  // -- Prometheus metrics (README: Monitoring)
  metrics: boolSchema('metrics').default(true),
  metrics_port: portSchema.default(8405),
  vrrp_metrics_port: portSchema.default(8406),
  /** per host; default the host's own address (never the VIP) */
  metrics_bind: z
    .string(says((v) => `${show(v)} is not an IPv4 address; set metrics_bind to an address of the host (default: its own address) or 0.0.0.0`))
    .regex(IPV4_RE)
    .optional(),
  vrrp_interface: z
    .string(says((v) => `${show(v)} is not an interface name; use the Linux name of the interface (up to 15 letters, digits or _ . : @ -), e.g. eth0`))
    .regex(INTERFACE_RE)
    .optional(),
} as const;

export const settingsSchema = z.object(settingsShape);
export type SettingName = keyof typeof settingsShape;
/** every kha setting name, for unknown-key detection */
export const SETTING_NAMES: readonly SettingName[] = Object.keys(settingsShape) as SettingName[];
/** settings a host (or any group it is in) may set for itself */
export const PER_HOST_SETTINGS: readonly SettingName[] = ['priority', 'vrrp_interface', 'apiserver_port', 'metrics_bind'];
/** names with these prefixes are kha's: an unknown one is an error, not an operator var */
export const SETTING_PREFIXES = ['kha_', 'vrrp_', 'haproxy_', 'keepalived_', 'apiserver_'] as const;
export function isSettingName(key: string): key is SettingName {
  return Object.hasOwn(settingsShape, key);
}

/** Parse one setting value; null counts as unset. Returns the message on failure. */
export function parseSetting<K extends SettingName>(
  key: K,
  value: unknown,
): { ok: true; value: z.output<(typeof settingsShape)[K]> } | { ok: false; message: string } {
  const r = (settingsShape[key] as z.ZodType).safeParse(value === null ? undefined : value);
  if (r.success) return { ok: true, value: r.data as z.output<(typeof settingsShape)[K]> };
  return { ok: false, message: r.error.issues[0]?.message ?? `invalid ${key}` };
}

// ---- the resolved settings ---------------------------------------------------------------

export interface HaHostSettings {
  name: string;
  /** ansible_host; always an IPv4 here (VRRP and the haproxy backends need it) */
  address: string;
  /** VRRP priority 1..254 for lb hosts; 0 for masters that only serve as haproxy backends */
  priority: number;
  /** undefined = find from facts later */
  interface?: string;
  apiserverPort: number;
  /** where the metrics endpoints listen (metrics_bind; default the host's own address) */
  metricsBind: string;
}

export interface HaSettings {
  mastersGroup: string;
  lbGroup: string;
  masters: string[];
  lbHosts: string[];
  vip: string;
  vipPrefix: number;
  virtualRouterId: number;
  advertInt: number;
  authPass?: string;
  unicast: boolean;
  frontendPort: number;
  apiserverPort: number;
  lbAlgorithm: 'roundrobin' | 'leastconn';
  apiserverHealthPath: string;
  timeouts: { client: string; server: string; connect: string };
  /** haproxy's hard-stop-after: old workers' sessions end this long after a reload */
  hardStopAfter: string;
  vipWaitTimeoutSec: number;
  trackApiserver: boolean;
  nopreempt: boolean;
  keepalivedVersion?: string;
  haproxyVersion?: string;
  /**
   * Worker hosts: the nodes group (`nodes`, kubespray's `kube_node`, kubeasz's `kube-node`) minus
   * every master and load-balancer host. kubespray lists the masters in kube_node too; a master
   * reaches its own apiserver directly (and 127.0.0.1:<apiserver_port> is the apiserver itself),
   * and a load-balancer host's haproxy.service already runs the VIP frontend, so a node-local
   * proxy would collide on both. Empty when there is no nodes group.
   */
  nodes: string[];
  /** run a proxy on every node: 127.0.0.1:<apiserver_port> -> every master (node_local_proxy) */
  nodeLocalProxy: boolean;
  nodeProxy: 'haproxy' | 'nginx';
  /** keep a marked block in /etc/hosts on every host (manage_etc_hosts) */
  manageEtcHosts: boolean;
  /** /etc/hosts: `<vip> <apiEndpointName>` */
  apiEndpointName: string;
  /** Prometheus metrics on every haproxy host (metrics: haproxy's exporter on metricsPort, kha's VRRP exporter on vrrpMetricsPort) */
  metrics: boolean;
  metricsPort: number;
  vrrpMetricsPort: number;
  /**
   * masters and load-balancer hosts; nodes too when node_local_proxy or manage_etc_hosts is on
   * (only then must a node's address be an IPv4, so inventories that do not use them load as before)
   */
  hosts: Record<string, HaHostSettings>;
  primary: string;
}

/** Accepted names of the masters group, in order of preference. */
export const MASTERS_GROUP_ALIASES = ['masters', 'kube_control_plane', 'kube_master', 'kube-master'] as const;
/** Groups that, when present and non-empty, run keepalived+haproxy instead of the masters (kubeasz writes ex_lb, older docs ex-lb). */
export const LB_GROUP_ALIASES = ['loadbalancers', 'ex_lb', 'ex-lb'] as const;
/** Accepted names of the worker nodes group, in order of preference (kha, kubespray, kubeasz). */
export const NODES_GROUP_ALIASES = ['nodes', 'kube_node', 'kube-node'] as const;
/**
 * Default priorities: 250, 200, 150, ... A backup takes over after 3 x advert_int plus a skew of
 * (256 - priority) / 256 s, and at once (after the skew alone) when the holder sends priority 0
 * (a clean stop, a FAULT). A high top makes the hand-over quick (~220 ms of skew for 200), and
 * steps of 50 put ~195 ms between the backups, so one clear winner takes the VIP even on a loaded
 * host: steps of 10 left them 39 ms apart, and a loaded third master took the VIP for a moment
 * before the second one's advert reached it (steps of 1, 4 ms apart, made it flap). Larger groups
 * get smaller steps so that the spread stays within 240 (a check's weight must exceed it and
 * keepalived caps weights at 253).
 */
export const DEFAULT_TOP_PRIORITY = 250;
export const DEFAULT_PRIORITY_STEP = 50;
export function defaultPriorityStep(lbCount: number): number {
  return lbCount <= 1 ? DEFAULT_PRIORITY_STEP : Math.max(1, Math.min(DEFAULT_PRIORITY_STEP, Math.floor(240 / (lbCount - 1))));
}

/** Where a setting's value came from: kha's default, the inventory (the key path), or a kubespray/kubeasz variable kha maps. */
export type SettingOrigin =
  | { kind: 'default'; note?: string }
  | { kind: 'inventory'; path: string[] }
  /** -e/--extra-vars: the path into the argument (a KEY=VALUE one, or an @FILE) */
  | { kind: 'extra-vars'; path: string[] }
  | { kind: 'mapped'; variable: string; tool: ForeignVar['tool']; path: string[]; note?: string };

/** Each setting's origin: cluster-wide ones by name, per-host ones by host. */
export interface SettingOrigins {
  cluster: Partial<Record<SettingName, SettingOrigin>>;
  hosts: Record<string, Partial<Record<SettingName, SettingOrigin>>>;
}

export function resolveSettings(inv: Inventory): HaSettings {
  return explainSettings(inv).settings;
}

/** The settings and where each value came from (kha inventory shows them). */
export function explainSettings(inv: Inventory): { settings: HaSettings; origins: SettingOrigins } {
  const origins: SettingOrigins = { cluster: {}, hosts: {} };
  const at = settingsSite(inv);
  const g = pickGroups(inv, at);
  const cluster = clusterSettings(inv, g, at, origins);
  const { get } = cluster;
  const vip = get('vip');
  const frontendPort = get('frontend_port');
  const apiserverPort = get('apiserver_port');
  const authPass = get('vrrp_auth_pass');
  const unicast = get('vrrp_unicast') ?? g.lbGroup !== g.mastersGroup;
  const keepalivedVersion = get('keepalived_version');
  const haproxyVersion = get('haproxy_version');
  const nodeLocalProxy = get('node_local_proxy');
  const manageEtcHosts = get('manage_etc_hosts');
  checkNodeProxyHasNodes(g, nodeLocalProxy, cluster, at);
  checkFrontendPort(inv, g, frontendPort, apiserverPort, cluster, at);
  checkMetricsPorts(cluster, at, [
    { what: 'the frontend_port', port: frontendPort, key: 'frontend_port' },
    { what: 'the apiserver_port', port: apiserverPort, key: 'apiserver_port' },
    { what: "haproxy's local monitor port", port: 8404 },
  ]);
  const { hosts, lbOrdered } = resolveHosts(
    inv,
    g,
    {
      frontendPort,
      nodeLocalProxy,
      withNodes: nodeLocalProxy || manageEtcHosts,
      vip,
      metricsPorts: get('metrics') ? [get('metrics_port'), get('vrrp_metrics_port')] : [],
    },
    at,
    origins,
  );
  checkVipIsFree(inv, vip, cluster, at);
  const primary = uniquePrimary(inv, hosts, lbOrdered, at);
  checkLbRole(inv, hosts, lbOrdered, primary, at);
  const settings: HaSettings = {
    mastersGroup: g.mastersGroup,
    lbGroup: g.lbGroup,
    masters: [...g.masters],
    lbHosts: [...g.lbHosts],
    vip,
    vipPrefix: get('vip_prefix'),
    virtualRouterId: get('virtual_router_id'),
    advertInt: get('advert_int'),
    ...(authPass !== undefined ? { authPass } : {}),
    unicast,
    frontendPort,
    apiserverPort,
    lbAlgorithm: get('lb_algorithm'),
    apiserverHealthPath: get('apiserver_health_path'),
    timeouts: {
      client: get('haproxy_timeout_client'),
      server: get('haproxy_timeout_server'),
      connect: get('haproxy_timeout_connect'),
    },
    hardStopAfter: get('haproxy_hard_stop_after'),
    vipWaitTimeoutSec: get('vip_wait_timeout'),
    trackApiserver: trackApiserver(inv, g, cluster, at),
    nopreempt: get('vrrp_nopreempt'),
    ...(keepalivedVersion !== undefined ? { keepalivedVersion } : {}),
    ...(haproxyVersion !== undefined ? { haproxyVersion } : {}),
    nodes: [...g.nodes],
    nodeLocalProxy,
    nodeProxy: get('node_proxy'),
    manageEtcHosts,
    apiEndpointName: get('api_endpoint_name'),
    metrics: get('metrics'),
    metricsPort: get('metrics_port'),
    vrrpMetricsPort: get('vrrp_metrics_port'),
    hosts,
    primary,
  };
  return { settings, origins };
}

/**
 * The hosts whose IPv4 goes into a config: masters and load-balancer hosts, and the nodes when
 * node_local_proxy or manage_etc_hosts is on (resolve.ts resolves their ansible_host names).
 */
export function hostsNeedingIPv4(inv: Inventory): string[] {
  const at = settingsSite(inv);
  const g = pickGroups(inv, at);
  const cluster = clusterSettings(inv, g, at, { cluster: {}, hosts: {} });
  const withNodes = cluster.get('node_local_proxy') || cluster.get('manage_etc_hosts');
  return [...new Set([...g.masters, ...g.lbHosts, ...(withNodes ? g.nodes : [])])];
}

// ---- steps of resolveSettings -------------------------------------------------------------

/** Where the inventory's keys are: every error points at the file:line of the offending key. */
interface SettingsSite {
  src: InventorySource | undefined;
  fail: (path: readonly string[], msg: string) => Error;
  /** `file:line` of a key path, for a message that names a second place */
  where: (path: readonly string[]) => string;
  groupPath: (g: string) => string[];
  hostPath: (h: string) => string[];
  hostVarPath: (h: string, k: string) => string[];
  /** where a value set at this key path came from: the inventory, or -e/--extra-vars */
  origin: (path: string[]) => SettingOrigin;
}

function settingsSite(inv: Inventory): SettingsSite {
  const src = inv.source;
  const site: ErrorSite = { display: src?.display ?? inv.file, ...(src ? { lineOf: src.lineOf, locate: src.locate } : {}) };
  const hostPath = (h: string) => src?.hostPaths[h] ?? ['all', 'hosts', h];
  return {
    src,
    fail: (path, msg) => inputErrorAt(site, path, msg),
    where: (path) => {
      const at = src?.locate(path);
      return at ? (at.line === undefined ? at.display : `${at.display}:${at.line}`) : site.display;
    },
    groupPath: (g) => src?.groupPaths[g] ?? (g === 'all' ? ['all'] : ['all', 'children', g]),
    hostPath,
    hostVarPath: (h, k) => src?.hostVarPaths[h]?.[k] ?? [...hostPath(h), k],
    origin: (path) => (src?.isExtraVars(path) ? { kind: 'extra-vars', path } : { kind: 'inventory', path }),
  };
}

interface PickedGroups {
  mastersGroup: string;
  masters: string[];
  lbGroup: string;
  lbHosts: string[];
  nodesGroup: string | undefined;
  /** the nodes group minus masters and load-balancer hosts */
  nodes: string[];
}

function pickGroups(inv: Inventory, at: SettingsSite): PickedGroups {
  const mastersGroup = findMastersGroup(inv, at.fail, at.groupPath);
  const masters = inv.groups[mastersGroup] ?? [];
  const lbGroup = LB_GROUP_ALIASES.find((g) => (inv.groups[g]?.length ?? 0) > 0) ?? mastersGroup;
  const lbHosts = inv.groups[lbGroup] ?? [];
  const nodesGroup = NODES_GROUP_ALIASES.find((g) => (inv.groups[g]?.length ?? 0) > 0);
  const nodes = (nodesGroup ? (inv.groups[nodesGroup] ?? []) : []).filter((h) => !masters.includes(h) && !lbHosts.includes(h));
  return { mastersGroup, masters, lbGroup, lbHosts, nodesGroup, nodes };
}

/** Cluster-wide settings: the effective vars of the masters group (and the variables kha maps, where their tools read them). */
interface ClusterSettings {
  vars: Record<string, unknown>;
  /** the key path of a cluster-wide setting (where it was set, or where it would go) */
  path: (k: string) => string[];
  get: <K extends SettingName>(k: K) => z.output<(typeof settingsShape)[K]>;
  /** did the inventory set it (by kha's name or a mapped one)? */
  isSet: (k: SettingName) => boolean;
}

function clusterSettings(inv: Inventory, g: PickedGroups, at: SettingsSite, origins: SettingOrigins): ClusterSettings {
  const { src } = at;
  const { mastersGroup } = g;
  const firstMaster = hostNamed(inv, inv.groups[mastersGroup]?.[0] ?? '');
  const vars = inv.groupVars?.[mastersGroup] ?? firstMaster?.vars ?? {};
  const varsBase = src && src.lineOf(['all']) === undefined ? [...at.groupPath(mastersGroup), 'vars'] : ['all', 'vars'];
  const path = (k: string) => src?.groupVarPaths[mastersGroup]?.[k] ?? [...varsBase, k];
  // a cluster-wide setting in a group kha does not read from is silently ignored otherwise
  if (src) {
    const readFrom = new Set([...(src.groupAncestors[mastersGroup] ?? []), mastersGroup]);
    for (const [g, keys] of Object.entries(src.ownVarPaths)) {
      if (readFrom.has(g)) continue;
      for (const [k, p] of Object.entries(keys)) {
        if (isSettingName(k) && !PER_HOST_SETTINGS.includes(k)) {
          throw at.fail(p, `kha reads ${k} only from all.vars or the ${mastersGroup} group's vars; move it there`);
        }
      }
    }
  }
  // kubeasz writes EX_APISERVER_VIP on each ex_lb host: a cluster-wide mapped variable is read there too
  const sources: VarSource[] = [
    { vars, pathOf: path },
    ...g.lbHosts.flatMap((h) => {
      const host = hostNamed(inv, h);
      return host ? [{ vars: host.vars, pathOf: (k: string) => at.hostVarPath(h, k), host: h }] : [];
    }),
  ];
  const mappedPaths: Partial<Record<SettingName, string[]>> = {};
  const get = <K extends SettingName>(k: K) => {
    const own = vars[k] ?? undefined;
    const parsed = () => {
      const r = parseSetting(k, own);
      if (!r.ok) throw at.fail(path(k), r.message);
      return r.value;
    };
    // a per-host setting's cluster-wide value (apiserver_port) comes from the masters group's vars alone
    const m = mapped(k, own === undefined ? undefined : { value: parsed(), path: path(k) }, PER_HOST_SETTINGS.includes(k) ? sources.slice(0, 1) : sources, at);
    if (m) {
      origins.cluster[k] = { kind: 'mapped', variable: foreignLabel(m.foreign), tool: m.foreign.tool, path: m.path };
      mappedPaths[k] = m.path;
      return m.value as z.output<(typeof settingsShape)[K]>;
    }
    origins.cluster[k] = own === undefined ? { kind: 'default' } : at.origin(path(k));
    return parsed();
  };
  return {
    vars,
    path: (k) => mappedPaths[k as SettingName] ?? path(k),
    get,
    isSet: (k) => vars[k] !== undefined || mappedPaths[k] !== undefined,
  };
}

const MAPPED = new Set<string>(FOREIGN_VARS.map((f) => f.setting));

/**
 * The value kubespray's or kubeasz's variables give a setting in `sources`, checked against kha's
 * own (`own`); undefined when kha's own is set or nothing maps.
 */
function mapped(k: SettingName, own: { value: unknown; path: string[] } | undefined, sources: VarSource[], at: SettingsSite) {
  if (!MAPPED.has(k)) return undefined;
  // -e wins over everything, a kubespray or kubeasz variable of the inventory too (Ansible's extra vars)
  if (own !== undefined && at.src?.isExtraVars(own.path)) return undefined;
  const values = mappedValues(k as MappedSetting, sources, (raw) => parseSetting(k, raw), at.fail);
  return agreedValue(k as MappedSetting, own, values, at.fail, at.where);
}

function checkNodeProxyHasNodes(g: PickedGroups, nodeLocalProxy: boolean, cluster: ClusterSettings, at: SettingsSite): void {
  if (!nodeLocalProxy || g.nodes.length > 0) return;
  throw at.fail(
    cluster.path('node_local_proxy'),
    g.nodesGroup
      ? `node_local_proxy is true but every host of ${g.nodesGroup} is also a master or load balancer (they need no node-local proxy); add the worker hosts to ${g.nodesGroup}, or set node_local_proxy: false`
      : `node_local_proxy is true but there is no nodes group; add a group named nodes (or kube_node) with the worker hosts, or set node_local_proxy: false`,
  );
}

const portClash = (p: number) =>
  `frontend_port and apiserver_port are both ${p}; haproxy and the apiserver need different ports, e.g. frontend_port: ${p === 8443 ? 9443 : 8443}`;

/** The clash matters only where haproxy and an apiserver share a host (load balancers that are masters). */
function checkFrontendPort(inv: Inventory, g: PickedGroups, frontendPort: number, apiserverPort: number, cluster: ClusterSettings, at: SettingsSite): void {
  const lbMasters = (inv.groups[g.lbGroup] ?? []).filter((h) => g.masters.includes(h));
  if (frontendPort === apiserverPort && lbMasters.length > 0) {
    const explicit = cluster.isSet('frontend_port') ? 'frontend_port' : 'apiserver_port';
    throw at.fail(cluster.path(explicit), portClash(frontendPort));
  }
}

/**
 * The metrics ports may not take a port haproxy or the apiservers already listen on (8404:
 * haproxy's local monitor). The error names the setting the operator wrote: a metrics port left at
 * its default that another setting took is that setting's line, not a line nobody wrote.
 */
function checkMetricsPorts(cluster: ClusterSettings, at: SettingsSite, taken: ReadonlyArray<{ what: string; port: number; key?: SettingName }>): void {
  if (!cluster.get('metrics')) return;
  const mine = { metrics_port: cluster.get('metrics_port'), vrrp_metrics_port: cluster.get('vrrp_metrics_port') } as const;
  if (mine.metrics_port === mine.vrrp_metrics_port) {
    const k = cluster.isSet('vrrp_metrics_port') ? 'vrrp_metrics_port' : 'metrics_port';
    throw at.fail(cluster.path(k), `metrics_port and vrrp_metrics_port are both ${mine.metrics_port}; give each its own port (defaults 8405 and 8406)`);
  }
  for (const [k, port] of Object.entries(mine) as Array<[keyof typeof mine, number]>) {
    const clash = taken.find((t) => t.port === port);
    if (!clash) continue;
    if (!cluster.isSet(k) && clash.key && cluster.isSet(clash.key))
      throw at.fail(
        cluster.path(clash.key),
        `${clash.key} ${port} is also the default ${k} (${k === 'metrics_port' ? "haproxy's" : "kha's VRRP"} metrics); choose another ${clash.key}, or set ${k} to a free port`,
      );
    throw at.fail(cluster.path(k), `${k} ${port} is already ${clash.what}; choose another port (default ${k === 'metrics_port' ? 8405 : 8406})`);
  }
}

/** Per host: its IPv4, apiserver port, interface and priority (default 250, 200, 150, ... in inventory order, kubeasz's LB_ROLE=master first). */
function resolveHosts(
  inv: Inventory,
  g: PickedGroups,
  o: { frontendPort: number; nodeLocalProxy: boolean; withNodes: boolean; vip: string; metricsPorts: readonly number[] },
  at: SettingsSite,
  origins: SettingOrigins,
): { hosts: Record<string, HaHostSettings>; lbOrdered: string[] } {
  const hostGet = <K extends SettingName>(h: InventoryHost, k: K) => {
    const own = h.vars[k] ?? undefined;
    const parsed = () => {
      const r = parseSetting(k, own);
      if (!r.ok) throw at.fail(at.hostVarPath(h.name, k), r.message);
      return r.value;
    };
    const from = (origins.hosts[h.name] ??= {});
    const src: VarSource = { vars: h.vars, pathOf: (v) => at.hostVarPath(h.name, v) };
    const m = mapped(k, own === undefined ? undefined : { value: parsed(), path: at.hostVarPath(h.name, k) }, [src], at);
    if (m) {
      from[k] = { kind: 'mapped', variable: foreignLabel(m.foreign), tool: m.foreign.tool, path: m.path };
      return m.value as z.output<(typeof settingsShape)[K]>;
    }
    from[k] = own === undefined ? { kind: 'default' } : at.origin(at.hostVarPath(h.name, k));
    return parsed();
  };
  const lbSet = new Set(g.lbHosts);
  const nodeSet = new Set(o.withNodes ? g.nodes : []);
  const involved = inv.hosts.filter((h) => lbSet.has(h.name) || g.masters.includes(h.name) || nodeSet.has(h.name));
  const lbOrdered = involved.filter((h) => lbSet.has(h.name));
  const lbRank = new Map(lbRoleFirst(lbOrdered, at).map((h, i) => [h.name, i]));
  const hosts: Record<string, HaHostSettings> = {};
  for (const h of involved) {
    const address = hostIPv4(h, nodeSet.has(h.name) ? (o.nodeLocalProxy ? 'node_local_proxy' : 'manage_etc_hosts') : undefined, at);
    const hostApiPort = hostGet(h, 'apiserver_port');
    const isLb = lbSet.has(h.name);
    if (isLb && g.masters.includes(h.name) && hostApiPort === o.frontendPort)
      throw at.fail(at.hostVarPath(h.name, 'apiserver_port'), portClash(o.frontendPort));
    // a master's own apiserver listens on every address, the metrics endpoints on the host's
    if (isLb && g.masters.includes(h.name) && o.metricsPorts.includes(hostApiPort) && h.vars['apiserver_port'] !== undefined)
      throw at.fail(
        at.hostVarPath(h.name, 'apiserver_port'),
        `${hostApiPort} is also a metrics port on ${h.name} (metrics_port / vrrp_metrics_port); choose another apiserver_port, or move the metrics ports`,
      );
    const iface = hostGet(h, 'vrrp_interface');
    const explicitPriority = hostGet(h, 'priority');
    const rank = lbRank.get(h.name) ?? 0;
    const priority = isLb ? (explicitPriority ?? Math.max(1, DEFAULT_TOP_PRIORITY - defaultPriorityStep(inv.groups[g.lbGroup]?.length ?? 1) * rank)) : 0;
    if (isLb && explicitPriority === undefined && isLbRoleMaster(h)) {
      origins.hosts[h.name]!.priority = {
        kind: 'mapped',
        variable: LB_ROLE_VAR,
        tool: 'kubeasz',
        path: at.hostVarPath(h.name, LB_ROLE_VAR),
        note: 'the top default priority',
      };
    }
    const explicitBind = hostGet(h, 'metrics_bind');
    const metricsBind = explicitBind ?? address;
    if (explicitBind === o.vip)
      throw at.fail(
        at.hostVarPath(h.name, 'metrics_bind'),
        `${metricsBind} is the VIP; metrics are per host: use the host's own address (the default) or 0.0.0.0`,
      );
    hosts[h.name] = { name: h.name, address, priority, apiserverPort: hostApiPort, ...(iface !== undefined ? { interface: iface } : {}), metricsBind };
  }
  return { hosts, lbOrdered: lbOrdered.map((h) => h.name) };
}

const isLbRoleMaster = (h: InventoryHost) => String(h.vars[LB_ROLE_VAR] ?? '').toLowerCase() === 'master';

/** kubeasz's ex_lb host with LB_ROLE=master starts the VIP: it goes first for the default priorities (one such host at most). */
function lbRoleFirst(lb: InventoryHost[], at: SettingsSite): InventoryHost[] {
  const masters = lb.filter(isLbRoleMaster);
  if (masters.length > 1) {
    const [a, b] = masters as [InventoryHost, InventoryHost];
    throw at.fail(
      at.hostVarPath(b.name, LB_ROLE_VAR),
      `${a.name} and ${b.name} both have LB_ROLE=master (kubeasz); one host holds the VIP first: set LB_ROLE=backup on the other`,
    );
  }
  return masters.length ? [masters[0]!, ...lb.filter((h) => h !== masters[0])] : lb;
}

/** LB_ROLE=master names the primary; priorities that make another host primary contradict it. */
function checkLbRole(inv: Inventory, hosts: Record<string, HaHostSettings>, lbOrdered: string[], primary: string, at: SettingsSite): void {
  const m = lbOrdered.map((n) => hostNamed(inv, n)).find((h) => h && isLbRoleMaster(h));
  if (!m || m.name === primary) return;
  throw at.fail(
    at.hostVarPath(primary, 'priority'),
    `${m.name} has LB_ROLE=master (kubeasz) but ${primary} has the higher priority (${hosts[primary]?.priority} > ${hosts[m.name]?.priority}); kha's primary is the host with the highest priority: remove LB_ROLE, or give ${m.name} the highest priority`,
  );
}

/** The host's address, which must be an IPv4. `asNode`: the setting that makes a node need one. */
function hostIPv4(h: InventoryHost, asNode: string | undefined, at: SettingsSite): string {
  const address = h.resolved?.address ?? h.connection.address;
  if (isIPv4(address)) return address;
  const hasAnsibleHost = h.vars['ansible_host'] !== undefined && h.vars['ansible_host'] !== null;
  const what = hasAnsibleHost ? `${show(address)} is not an IPv4 address` : `${show(h.name)} has no ansible_host and its name is not an IPv4 address`;
  throw at.fail(
    hasAnsibleHost ? at.hostVarPath(h.name, 'ansible_host') : at.hostPath(h.name),
    asNode !== undefined
      ? `${what}; with ${asNode} kha needs the IPv4 of every node, set ansible_host: <its IPv4>`
      : `${what}; keepalived (VRRP) and haproxy need the IPv4 of every master and load balancer, set ansible_host: <its IPv4>`,
  );
}

function checkVipIsFree(inv: Inventory, vip: string, cluster: ClusterSettings, at: SettingsSite): void {
  const owner = inv.hosts.find((h) => (h.resolved?.address ?? h.connection.address) === vip);
  if (owner) {
    throw at.fail(cluster.path('vip'), `${vip} is the address of ${owner.name}; the VIP must be a free address, ${VIP_FIX}`);
  }
}

/** The load-balancer host with the highest priority; a tie for the top is an error. */
function uniquePrimary(inv: Inventory, hosts: Record<string, HaHostSettings>, lbOrdered: string[], at: SettingsSite): string {
  let primary = lbOrdered[0] ?? '';
  for (const name of lbOrdered) if ((hosts[name]?.priority ?? 0) > (hosts[primary]?.priority ?? 0)) primary = name;
  const top = hosts[primary]?.priority ?? 0;
  const rival = lbOrdered.find((n) => n !== primary && hosts[n]?.priority === top);
  if (rival !== undefined) {
    const [a, b] = [primary, rival];
    const blame = hostNamed(inv, b)?.vars['priority'] !== undefined ? b : a;
    throw at.fail(at.hostVarPath(blame, 'priority'), `${a} and ${b} both have priority ${top}: the primary must be unique; give one of them a higher priority`);
  }
  return primary;
}

/** The host of that name (the last one, should a hand-built inventory list it twice). */
function hostNamed(inv: Inventory, name: string): InventoryHost | undefined {
  return new Map(inv.hosts.map((h) => [h.name, h] as const)).get(name);
}

/** track_apiserver needs an apiserver on every load-balancer host. */
function trackApiserver(inv: Inventory, g: PickedGroups, cluster: ClusterSettings, at: SettingsSite): boolean {
  const on = cluster.get('track_apiserver');
  const plainLb = (inv.groups[g.lbGroup] ?? []).filter((h) => !g.masters.includes(h));
  if (on && plainLb.length) {
    throw at.fail(
      cluster.path('track_apiserver'),
      `track_apiserver checks the apiserver on each load-balancer host, and ${plainLb.join(', ')} run${plainLb.length === 1 ? 's' : ''} none (dedicated load balancers); remove track_apiserver`,
    );
  }
  return on;
}

function findMastersGroup(inv: Inventory, fail: (path: readonly string[], msg: string) => Error, groupPath: (g: string) => string[]): string {
  const found = MASTERS_GROUP_ALIASES.find((g) => (inv.groups[g]?.length ?? 0) > 0);
  if (found) return found;
  const empty = MASTERS_GROUP_ALIASES.find((g) => g in inv.groups);
  if (empty) {
    throw fail(groupPath(empty), `the ${empty} group has no hosts; add at least one host under ${empty}.hosts (or a child group with hosts)`);
  }
  const near = Object.keys(inv.groups).find((g) => g.toLowerCase() === 'master' || suggest(g, MASTERS_GROUP_ALIASES, { mode: 'name' }) !== undefined);
  if (near) {
    throw fail(groupPath(near), `no masters group; rename ${near} to masters (kha also accepts kube_control_plane, kube_master)`);
  }
  throw fail(['all', 'children'], 'no masters group; add a group named masters (or kube_control_plane, kube_master) with at least one host');
}
