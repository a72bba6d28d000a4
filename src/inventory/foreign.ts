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
  setting: MappedSetting;
  /**
   * 'cluster': one value for the cluster, read where the other tool reads it: the masters group's
   * vars and every load-balancer host (kubeasz writes EX_APISERVER_VIP on each ex_lb host line).
   * 'host': per host, like kha's apiserver_port.
   */
  scope: 'cluster' | 'host';
  /** when only some values map (an address vs a name) */
  when?: (v: unknown) => boolean;
}

const ipv4 = (v: unknown) => typeof v === 'string' && isIPv4(v.trim());

export const FOREIGN_VARS: readonly ForeignVar[] = [
  { name: 'loadbalancer_apiserver', field: 'address', tool: 'kubespray', setting: 'vip', scope: 'cluster' },
  { name: 'loadbalancer_apiserver', field: 'port', tool: 'kubespray', setting: 'frontend_port', scope: 'cluster' },
  // the name clients use for the endpoint; kubespray also takes an address there
  { name: 'apiserver_loadbalancer_domain_name', tool: 'kubespray', setting: 'api_endpoint_name', scope: 'cluster', when: (v) => !ipv4(v) },
  { name: 'apiserver_loadbalancer_domain_name', tool: 'kubespray', setting: 'vip', scope: 'cluster', when: ipv4 },
  { name: 'kube_apiserver_port', tool: 'kubespray', setting: 'apiserver_port', scope: 'host' },
  { name: 'EX_APISERVER_VIP', tool: 'kubeasz', setting: 'vip', scope: 'cluster' },
  { name: 'EX_APISERVER_PORT', tool: 'kubeasz', setting: 'frontend_port', scope: 'cluster' },
  { name: 'SECURE_PORT', tool: 'kubeasz', setting: 'apiserver_port', scope: 'host' },
  { name: 'ROUTER_ID', tool: 'kubeasz', setting: 'virtual_router_id', scope: 'cluster' },
];

/** kubeasz: `LB_ROLE=master` on the ex_lb host that holds the VIP first (kha's primary), `backup` on the others. */
export const LB_ROLE_VAR = 'LB_ROLE';

/**
 * kubespray's variables whose names start like kha's own (haproxy_, apiserver_): theirs, not
 * typos of kha settings, so they are left alone like any other variable of the operator's.
 */
export const FOREIGN_PREFIXED_VARS: ReadonlySet<string> = new Set([
  'apiserver_extra_volumes',
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
