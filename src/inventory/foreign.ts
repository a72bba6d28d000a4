// Variables of kubespray and kubeasz inventories that mean the same as a kha setting, so their
// inventories work as they are. The table is the one the README shows. Where a kha setting and
// the variable it maps from are both set, they must agree (settings.ts refuses otherwise).
import { isIPv4 } from '../net/ipv4.js';
import type { Walk } from './walk.js';

/** kha settings a foreign variable can give (a subset of settings.ts's SettingName). */
export type MappedSetting = 'vip' | 'frontend_port' | 'apiserver_port' | 'virtual_router_id' | 'api_endpoint_name';

export interface ForeignVar {
  /** the variable as the other tool names it */
  name: string;
  /** a key of the variable's mapping: loadbalancer_apiserver.address */
  field?: string;
  tool: 'kubespray' | 'kubeasz';
  /**
   * Read where kha reads the setting: a cluster-wide one from the masters group's vars and every
   * load-balancer host (kubeasz writes EX_APISERVER_VIP on each ex_lb host line), a per-host
   * one (apiserver_port) from each host.
   */
  setting: MappedSetting;
  /** when only some values map (an address vs a name) */
  when?: (v: unknown) => boolean;
}

const ipv4 = (v: unknown) => typeof v === 'string' && isIPv4(v.trim());

export const FOREIGN_VARS: readonly ForeignVar[] = [
  { name: 'loadbalancer_apiserver', field: 'address', tool: 'kubespray', setting: 'vip' },
  { name: 'loadbalancer_apiserver', field: 'port', tool: 'kubespray', setting: 'frontend_port' },
  // the name clients use for the endpoint; kubespray also takes an address there
  { name: 'apiserver_loadbalancer_domain_name', tool: 'kubespray', setting: 'api_endpoint_name', when: (v) => !ipv4(v) },
  { name: 'apiserver_loadbalancer_domain_name', tool: 'kubespray', setting: 'vip', when: ipv4 },
  { name: 'kube_apiserver_port', tool: 'kubespray', setting: 'apiserver_port' },
  { name: 'EX_APISERVER_VIP', tool: 'kubeasz', setting: 'vip' },
  { name: 'EX_APISERVER_PORT', tool: 'kubeasz', setting: 'frontend_port' },
  { name: 'SECURE_PORT', tool: 'kubeasz', setting: 'apiserver_port' },
  { name: 'ROUTER_ID', tool: 'kubeasz', setting: 'virtual_router_id' },
];

/** kubeasz: `LB_ROLE=master` on the ex_lb host that holds the VIP first (kha's primary), `backup` on the others. */
export const LB_ROLE_VAR = 'LB_ROLE';

/**
 * kubespray's variables whose names look like kha's own (the haproxy_ and apiserver_ prefixes,
 * or a small typo away, as no_proxy from node_proxy): theirs, not typos of kha settings, so they
 * are left alone like any other variable of the operator's. Checked against every top-level
 * variable of kubespray's role defaults and sample inventory, and of kubeasz's.
 */
export const FOREIGN_LOOKALIKES: ReadonlySet<string> = new Set([
  'apiserver_extra_volumes',
  'no_proxy',
  'apiserver_loadbalancer_domain_name',
  'haproxy_config_dir',
  'haproxy_digest_checksum',
  'haproxy_image_repo',
  'haproxy_image_tag',
]);

const FOREIGN_NAMES: ReadonlySet<string> = new Set([...FOREIGN_VARS.map((f) => f.name), LB_ROLE_VAR]);

/** A variable kha reads from a kubespray or kubeasz inventory. */
export function isForeignVar(name: string): boolean {
  return FOREIGN_NAMES.has(name);
}

/** How a mapped variable is named in messages: `loadbalancer_apiserver.address` */
export const foreignLabel = (f: ForeignVar) => (f.field ? `${f.name}.${f.field}` : f.name);

export type ForeignValue = { set: false } | { set: true; value: unknown; keyPath: string[] } | { set: true; message: string; keyPath: string[] };

/** The value `f` gives in `vars` (a host's or a group's effective vars), and the key path under the variable. */
export function foreignValue(f: ForeignVar, vars: Readonly<Record<string, unknown>>): ForeignValue {
  const v = vars[f.name];
  if (v === undefined || v === null) return { set: false };
  if (f.field === undefined) return f.when && !f.when(v) ? { set: false } : { set: true, value: v, keyPath: [] };
  if (typeof v !== 'object' || Array.isArray(v)) {
    return { set: true, keyPath: [], message: `${f.name} must be a mapping like { address: 10.0.0.100, port: 8443 } (as kubespray reads it)` };
  }
  const x = (v as Record<string, unknown>)[f.field];
  if (x === undefined || x === null) return { set: false };
  return { set: true, value: x, keyPath: [f.field] };
}

/** kubespray's dynamic_groups role: the groups whose hosts make k8s_cluster (current and old names). */
const K8S_CLUSTER_FROM = ['kube_control_plane', 'kube_node', 'calico_rr', 'kube-master', 'kube_master', 'kube-node', 'calico-rr'];

/**
 * kubespray makes the group k8s_cluster at play time (the hosts of kube_control_plane, kube_node
 * and calico_rr) and its sample keeps variables in group_vars/k8s_cluster/. When the inventory
 * has no k8s_cluster of its own but such files exist, kha makes the group the same way, so those
 * variables apply to the same hosts as under kubespray.
 */
export function addKubesprayGroups(w: Walk, varFiles: ReadonlyArray<{ kind: 'group' | 'host'; name: string }>): void {
  if (w.groups.has('k8s_cluster') || !varFiles.some((f) => f.kind === 'group' && f.name === 'k8s_cluster')) return;
  const inGroups = (direct: string[]): Set<string> => {
    const seen = new Set<string>();
    const todo = [...direct];
    for (let g = todo.pop(); g !== undefined; g = todo.pop()) {
      if (seen.has(g)) continue;
      seen.add(g);
      todo.push(...(w.groups.get(g)?.parents ?? []));
    }
    return seen;
  };
  const members = [...w.hosts.values()].filter((h) => {
    const groups = inGroups(h.direct);
    return K8S_CLUSTER_FROM.some((g) => groups.has(g));
  });
  if (!members.length) return;
  const g = w.group('k8s_cluster', ['k8s_cluster']);
  g.parents.push('all');
  for (const h of members) w.host(h.name, h.path, 'k8s_cluster');
}

// ---- reading them for kha's settings (settings.ts) ----------------------------------------

/** Vars to look for mapped variables in: a group's or a host's, and where each key is written. */
export interface VarSource {
  vars: Readonly<Record<string, unknown>>;
  pathOf: (name: string) => string[];
  /** the host, when these are a host's vars (named in messages) */
  host?: string;
}

/** A value a mapped variable gives, parsed by the kha setting's own rules. */
export interface MappedValue {
  value: unknown;
  path: string[];
  foreign: ForeignVar;
  host?: string;
}

type Parse = (raw: unknown) => { ok: true; value: unknown } | { ok: false; message: string };
type Fail = (p: readonly string[], m: string) => Error;

/** Every value the variables mapped to `setting` give in `sources`, once per place written. */
export function mappedValues(setting: MappedSetting, sources: readonly VarSource[], parse: Parse, fail: Fail): MappedValue[] {
  const out: MappedValue[] = [];
  const seen = new Set<string>();
  for (const f of FOREIGN_VARS) {
    if (f.setting !== setting) continue;
    for (const src of sources) {
      const got = foreignValue(f, src.vars);
      if (!got.set) continue;
      const p = [...src.pathOf(f.name), ...got.keyPath];
      const id = p.join('\0');
      if (seen.has(id)) continue;
      seen.add(id);
      if ('message' in got) throw fail(p, got.message);
      const reads = `kha reads ${foreignLabel(f)} (${f.tool}) as ${setting}`;
      if (typeof got.value === 'string' && got.value.includes('{{')) {
        throw fail(p, `${JSON.stringify(got.value)} is a Jinja template; kha does not evaluate templates (${reads}), write the value itself`);
      }
      const r = parse(typeof got.value === 'string' ? got.value.trim() : got.value);
      if (!r.ok) throw fail(p, `${r.message} (${reads})`);
      out.push({ value: r.value, path: p, foreign: f, ...(src.host !== undefined ? { host: src.host } : {}) });
    }
  }
  return out;
}

/**
 * The value of a setting given by kha's own name (`own`) and by mapped variables: all of them
 * must agree. Two that differ are one error naming both and where each is written.
 */
export function agreedValue(
  setting: MappedSetting,
  own: { value: unknown; path: string[] } | undefined,
  mapped: readonly MappedValue[],
  fail: Fail,
  where: (p: readonly string[]) => string,
): MappedValue | undefined {
  const name = (m: MappedValue) => `${foreignLabel(m.foreign)}${m.host !== undefined ? ` of ${m.host}` : ''}`;
  const first = mapped[0];
  for (const m of mapped) {
    if (own !== undefined && m.value !== own.value) {
      throw fail(
        own.path,
        `${setting} is ${String(own.value)} but ${name(m)} (${m.foreign.tool}) is ${String(m.value)} (${where(m.path)}); kha reads both as ${setting}: make them the same, or remove one`,
      );
    }
    if (first && m.value !== first.value) {
      throw fail(
        first.path,
        `${name(first)} is ${String(first.value)} but ${name(m)} is ${String(m.value)} (${where(m.path)}); kha reads both as ${setting}: make them the same`,
      );
    }
  }
  return own === undefined ? first : undefined;
}
