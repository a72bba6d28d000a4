// kha inventory: the inventory as kha resolved it, without connecting anywhere (like
// `ansible-inventory --list`): every host with its groups, role, address, port, user, priority and
// whether it is the primary; every setting with its value and where it came from (kha's default,
// a key of the inventory or of group_vars/, or a kubespray/kubeasz variable kha maps). Secrets are
// shown as ********. Pure: the report is built from the loaded inventory, and rendered as text.
import { InputError } from '../errors.js';
import {
  NODES_GROUP_ALIASES,
  PER_HOST_SETTINGS,
  SETTING_NAMES,
  type HaSettings,
  type SettingName,
  type SettingOrigin,
  type SettingOrigins,
} from '../inventory/settings.js';
import { SECRET_VARS } from '../inventory/secrets.js';
import { suggest } from '../inventory/suggest.js';
import type { Inventory, InventoryHost } from '../inventory/types.js';
import { alignColumns } from '../report/table.js';

const MASK = '********';

/** Where a value came from, as `kha inventory --json` prints it. */
export type OriginReport =
  | { kind: 'default'; note?: string }
  | { kind: 'inventory'; file: string; line: number | null; key: string }
  /** -e/--extra-vars: file is `-e` for KEY=VALUE (line null), or `-e @FILE` */
  | { kind: 'extra-vars'; file: string; line: number | null; key: string }
  | { kind: 'mapped'; variable: string; tool: string; file: string; line: number | null; key: string; note?: string };

export interface SettingReport {
  value: unknown;
  from: OriginReport;
}

export type HostRole = 'master' | 'load balancer' | 'node';

export interface HostReport {
  name: string;
  /** outermost first, as Ansible orders them (depth, then name) */
  groups: string[];
  roles: HostRole[];
  /** what the configs use: the IPv4 (resolved from a DNS name when ansible_host is one), else what SSH connects to */
  address: string;
  /** the ansible_host name the address was resolved from */
  addressFrom: string | null;
  port: number;
  user: string;
  become: boolean;
  /** VRRP priority of a load-balancer host */
  priority: number | null;
  primary: boolean;
  /** priority, vrrp_interface, apiserver_port: the hosts kha configures */
  settings: Partial<Record<SettingName, SettingReport>>;
}

export interface InventoryReport {
  inventory: { file: string; format: 'yaml' | 'ini'; varFiles: string[] };
  groups: { masters: string; loadBalancers: string; nodes: string | null };
  hosts: HostReport[];
  settings: Partial<Record<SettingName, SettingReport>>;
  warnings: string[];
}

/** Each cluster-wide setting's value in HaSettings (a new setting fails to compile until it is listed here). */
const VALUE_OF: Record<Exclude<SettingName, 'priority' | 'vrrp_interface' | 'metrics_bind'>, (s: HaSettings) => unknown> = {
  vip: (s) => s.vip,
  vip_prefix: (s) => s.vipPrefix,
  virtual_router_id: (s) => s.virtualRouterId,
  advert_int: (s) => s.advertInt,
  vrrp_auth_pass: (s) => s.authPass,
  vrrp_unicast: (s) => s.unicast,
  frontend_port: (s) => s.frontendPort,
  apiserver_port: (s) => s.apiserverPort,
  lb_algorithm: (s) => s.lbAlgorithm,
  apiserver_health_path: (s) => s.apiserverHealthPath,
  haproxy_timeout_client: (s) => s.timeouts.client,
  haproxy_timeout_server: (s) => s.timeouts.server,
  haproxy_timeout_connect: (s) => s.timeouts.connect,
  haproxy_hard_stop_after: (s) => s.hardStopAfter,
  vip_wait_timeout: (s) => s.vipWaitTimeoutSec,
  track_apiserver: (s) => s.trackApiserver,
  vrrp_nopreempt: (s) => s.nopreempt,
  keepalived_version: (s) => s.keepalivedVersion,
  haproxy_version: (s) => s.haproxyVersion,
  node_local_proxy: (s) => s.nodeLocalProxy,
  node_proxy: (s) => s.nodeProxy,
  manage_etc_hosts: (s) => s.manageEtcHosts,
  api_endpoint_name: (s) => s.apiEndpointName,
  metrics: (s) => s.metrics,
  metrics_port: (s) => s.metricsPort,
  vrrp_metrics_port: (s) => s.vrrpMetricsPort,
};

/** The report of a loaded inventory; `host` keeps only that host (an unknown name is bad input). */
export function inventoryReport(inv: Inventory, settings: HaSettings, origins: SettingOrigins, host?: string): InventoryReport {
  const origin = originReport(inv);
  const shown = (k: SettingName, v: unknown) => (v !== undefined && SECRET_VARS.has(k) ? MASK : (v ?? null));
  const cluster: Partial<Record<SettingName, SettingReport>> = {};
  for (const k of SETTING_NAMES) {
    if (k === 'priority' || k === 'vrrp_interface' || k === 'metrics_bind') continue;
    cluster[k] = { value: shown(k, VALUE_OF[k](settings)), from: origin(origins.cluster[k]) };
  }
  const hosts = inv.hosts.map((h) => hostReport(h, settings, origins, origin));
  if (host !== undefined && !hosts.some((h) => h.name === host)) {
    const near = suggest(
      host,
      inv.hosts.map((h) => h.name),
      { mode: 'name' },
    );
    throw new InputError(`--host: ${host} is not a host of ${inv.source?.display ?? inv.file}${near !== undefined ? `; did you mean ${near}?` : ''}`);
  }
  const src = inv.source;
  return {
    inventory: {
      file: src?.display ?? inv.file,
      format: src?.format ?? 'yaml',
      varFiles: (src?.varFiles ?? []).filter((f) => usedVarFile(inv, f)).map((f) => f.display),
    },
    groups: { masters: settings.mastersGroup, loadBalancers: settings.lbGroup, nodes: nodesGroupOf(inv) },
    hosts: host === undefined ? hosts : hosts.filter((h) => h.name === host),
    settings: cluster,
    warnings: [...(inv.warnings ?? [])],
  };
}

/** A var file's variables count when its group or host is in the inventory (others are not read, as in Ansible). */
function usedVarFile(inv: Inventory, f: { kind: 'group' | 'host'; name: string; vault?: boolean }): boolean {
  if (f.vault) return false;
  return f.kind === 'group' ? Object.hasOwn(inv.groups, f.name) : inv.hosts.some((h) => h.name === f.name);
}

/** the nodes group as settings.ts picks it */
function nodesGroupOf(inv: Inventory): string | null {
  return NODES_GROUP_ALIASES.find((g) => (inv.groups[g]?.length ?? 0) > 0) ?? null;
}

function hostReport(h: InventoryHost, s: HaSettings, origins: SettingOrigins, origin: (o: SettingOrigin | undefined) => OriginReport): HostReport {
  const roles: HostRole[] = [];
  if (s.masters.includes(h.name)) roles.push('master');
  if (s.lbHosts.includes(h.name)) roles.push('load balancer');
  if (s.nodes.includes(h.name)) roles.push('node');
  const ha = s.hosts[h.name];
  const settings: Partial<Record<SettingName, SettingReport>> = {};
  if (ha) {
    const values: Partial<Record<SettingName, unknown>> = {
      priority: s.lbHosts.includes(h.name) ? ha.priority : undefined,
      vrrp_interface: ha.interface,
      apiserver_port: ha.apiserverPort,
      metrics_bind: ha.metricsBind,
    };
    for (const k of PER_HOST_SETTINGS) settings[k] = { value: values[k] ?? null, from: origin(origins.hosts[h.name]?.[k]) };
  }
  return {
    name: h.name,
    groups: h.groups,
    roles,
    address: ha?.address ?? h.resolved?.address ?? h.connection.address,
    addressFrom: h.resolved?.name ?? null,
    port: h.connection.port,
    user: h.connection.user,
    become: h.connection.become,
    priority: ha && s.lbHosts.includes(h.name) ? ha.priority : null,
    primary: s.primary === h.name,
    settings,
  };
}

function originReport(inv: Inventory): (o: SettingOrigin | undefined) => OriginReport {
  const at = (p: string[]) => {
    const site = inv.source?.locate(p);
    return { file: site?.display ?? inv.file, line: site?.line ?? null, key: site?.shown ?? p.join('.') };
  };
  return (o) => {
    if (!o || o.kind === 'default') return { kind: 'default', ...(o?.note ? { note: o.note } : {}) };
    if (o.kind === 'inventory' || o.kind === 'extra-vars') return { kind: o.kind, ...at(o.path) };
    return { kind: 'mapped', variable: o.variable, tool: o.tool, ...at(o.path), ...(o.note ? { note: o.note } : {}) };
  };
}

// ---- text ---------------------------------------------------------------------------------

/** `file:line key`, `default`, `extra-vars (-e key)`, or `file:line VARIABLE (kubeasz)` */
export function originText(o: OriginReport): string {
  if (o.kind === 'default') return o.note ? `default (${o.note})` : 'default';
  const where = `${o.file}${o.line !== null ? `:${o.line}` : ''}`;
  if (o.kind === 'inventory') return `${where} ${o.key}`;
  if (o.kind === 'extra-vars') return `extra-vars (${where} ${o.key})`;
  return `${where} ${o.key} (${o.tool}${o.note ? `: ${o.note}` : ''})`;
}

const valueText = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));

export function renderInventoryReport(r: InventoryReport): string {
  const lines = [
    `inventory: ${r.inventory.file} (${r.inventory.format === 'ini' ? 'INI' : 'YAML'})`,
    ...(r.inventory.varFiles.length ? ['vars files:', ...r.inventory.varFiles.map((f) => `  ${f}`)] : ['vars files: none']),
    `masters: ${r.groups.masters}  load balancers: ${r.groups.loadBalancers}${r.groups.loadBalancers === r.groups.masters ? ' (the masters)' : ''}  nodes: ${r.groups.nodes ?? '-'}`,
    '',
    ...alignColumns(
      ['HOST', 'ROLE', 'ADDRESS', 'PORT', 'USER', 'PRIORITY', 'PRIMARY', 'GROUPS'],
      r.hosts.map((h) => [
        h.name,
        h.roles.join(', ') || '-',
        h.addressFrom ? `${h.address} (${h.addressFrom})` : h.address,
        String(h.port),
        `${h.user}${h.become ? ' (become)' : ''}`,
        h.priority === null ? '-' : String(h.priority),
        h.primary ? 'yes' : '-',
        h.groups.join(', '),
      ]),
    ),
    '',
    ...alignColumns(
      ['SETTING', 'VALUE', 'FROM'],
      Object.entries(r.settings).map(([k, s]) => [k, valueText(s.value), originText(s.from)]),
    ),
  ];
  const hostSettings = r.hosts.flatMap((h) =>
    Object.entries(h.settings)
      .filter(([, s]) => s.from.kind !== 'default' || r.hosts.length === 1)
      .map(([k, s]) => [h.name, k, valueText(s.value), originText(s.from)]),
  );
  if (hostSettings.length) lines.push('', ...alignColumns(['HOST', 'HOST SETTING', 'VALUE', 'FROM'], hostSettings));
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
