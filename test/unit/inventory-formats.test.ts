// Inventories as operators already have them: INI and YAML, a file or a directory, group_vars/
// and host_vars/ beside it (files or directories of files), kubespray's and kubeasz's variables
// mapped to kha's settings, Ansible's precedence. Each fixture under
// test/fixtures/inventories/ (see its README) is loaded and checked host by host.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InputError } from '../../src/errors.js';
import { editableInventory } from '../../src/inventory/edit.js';
import { loadInventory, parseInventory } from '../../src/inventory/load.js';
import { explainSettings, resolveSettings } from '../../src/inventory/settings.js';
import type { Inventory } from '../../src/inventory/types.js';

const FIX = path.join(import.meta.dirname, '../fixtures/inventories');
const fixture = (p: string) => path.join(FIX, p);
const rel = (p: string) => path.relative(FIX, p);
const host = (inv: Inventory, name: string) => {
  const h = inv.hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name}`);
  return h;
};
/** where a key path points, relative to the fixtures directory */
const at = (inv: Inventory, p: string[] | undefined) => {
  const site = inv.source!.locate(p ?? []);
  return `${rel(site.display)}:${site.line}: ${site.shown}`;
};
const errorOf = async (f: () => unknown): Promise<string> => {
  try {
    await f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
};

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'kha-inv-formats-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A directory of files (path -> text) under the temp dir. */
async function tree(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(tmp, name);
  for (const [p, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await writeFile(path.join(dir, p), text);
  }
  return dir;
}
const lines = (...l: string[]) => l.join('\n') + '\n';

describe('kubespray-ini: inventory.ini + group_vars/all/ + group_vars/k8s_cluster/', () => {
  test('hosts, groups (k8s_cluster made as kubespray makes it), foreign variables kept', async () => {
    const inv = await loadInventory(fixture('kubespray-ini'));
    expect(inv.source?.format).toBe('ini');
    expect(rel(inv.source!.display)).toBe('kubespray-ini/inventory.ini');
    expect(inv.hosts.map((h) => h.name)).toEqual(['node1', 'node2', 'node3', 'node4', 'node5', 'node6']);
    expect(inv.groups).toEqual({
      all: ['node1', 'node2', 'node3', 'node4', 'node5', 'node6'],
      kube_control_plane: ['node1', 'node2', 'node3'],
      etcd: ['node1', 'node2', 'node3'],
      kube_node: ['node4', 'node5', 'node6'],
      k8s_cluster: ['node1', 'node2', 'node3', 'node4', 'node5', 'node6'],
    });
    expect(host(inv, 'node1').groups).toEqual(['all', 'etcd', 'k8s_cluster', 'kube_control_plane']);
    expect(host(inv, 'node1').vars).toMatchObject({
      ip: '10.0.0.11',
      etcd_member_name: 'etcd1',
      bin_dir: '/usr/local/bin',
      kube_cert_dir: '{{ kube_config_dir }}/ssl',
      kube_memory_reserved: '512Mi',
      haproxy_image_tag: '3.2.4-alpine',
      apiserver_extra_volumes: {},
    });
    expect(host(inv, 'node4').vars['ip']).toBeUndefined();
    expect(host(inv, 'node4').connection).toMatchObject({ address: '10.0.0.14', user: 'ubuntu', become: true });
    expect(inv.source?.varFiles.map((f) => rel(f.display))).toEqual([
      'kubespray-ini/group_vars/all/all.yml',
      'kubespray-ini/group_vars/all/containerd.yml',
      'kubespray-ini/group_vars/all/kha.yml',
      'kubespray-ini/group_vars/k8s_cluster/k8s-cluster.yml',
      'kubespray-ini/group_vars/k8s_cluster/kube_control_plane.yml',
    ]);
  });

  test('loadbalancer_apiserver, apiserver_loadbalancer_domain_name and kube_apiserver_port give kha settings, with their origins', async () => {
    const inv = await loadInventory(fixture('kubespray-ini'));
    const { settings: s, origins } = explainSettings(inv);
    expect(s).toMatchObject({
      mastersGroup: 'kube_control_plane',
      lbGroup: 'kube_control_plane',
      masters: ['node1', 'node2', 'node3'],
      nodes: ['node4', 'node5', 'node6'],
      vip: '10.0.0.100',
      frontendPort: 8443,
      apiserverPort: 6443,
      apiEndpointName: 'api.cluster.internal',
      virtualRouterId: 61,
      unicast: false,
      primary: 'node1',
    });
    expect(s.hosts['node2']).toEqual({ name: 'node2', address: '10.0.0.12', priority: 200, interface: 'ens3', apiserverPort: 6443, metricsBind: '10.0.0.12' });
    const vip = origins.cluster.vip;
    expect(vip).toMatchObject({ kind: 'mapped', variable: 'loadbalancer_apiserver.address', tool: 'kubespray' });
    expect(vip?.kind === 'mapped' && at(inv, vip.path)).toBe('kubespray-ini/group_vars/all/all.yml:8: loadbalancer_apiserver.address');
    const name = origins.cluster.api_endpoint_name;
    expect(name?.kind === 'mapped' && at(inv, name.path)).toBe('kubespray-ini/group_vars/all/all.yml:6: apiserver_loadbalancer_domain_name');
    const vrid = origins.cluster.virtual_router_id;
    expect(vrid?.kind === 'inventory' && at(inv, vrid.path)).toBe('kubespray-ini/group_vars/all/kha.yml:4: virtual_router_id');
    const port = origins.hosts['node1']?.apiserver_port;
    expect(port).toMatchObject({ kind: 'mapped', variable: 'kube_apiserver_port' });
    expect(port?.kind === 'mapped' && at(inv, port.path)).toBe('kubespray-ini/group_vars/k8s_cluster/k8s-cluster.yml:8: kube_apiserver_port');
    expect(origins.cluster.lb_algorithm).toEqual({ kind: 'default' });
  });
});

describe('kubespray-yaml-dir: Ansible precedence across the inventory and the var files', () => {
  test('inventory group vars < group_vars/ (all, then deeper) < inventory host vars < host_vars/', async () => {
    const inv = await loadInventory(fixture('kubespray-yaml-dir'));
    const from = (h: string) => host(inv, h).vars['from_where'];
    // group_vars/kube_control_plane.yml beats every group var written in hosts.yaml, the deeper k8s_cluster's too
    expect(from('node1')).toBe('group_vars/kube_control_plane.yml');
    // a host var in hosts.yaml beats the group_vars files
    expect(from('node2')).toBe('inventory host var');
    // host_vars/node3.yml beats the host's own vars in hosts.yaml
    expect(from('node3')).toBe('host_vars/node3.yml');
    // node4 is in no group with a group_vars file but all: group_vars/all.yml beats hosts.yaml's k8s_cluster vars
    expect(from('node4')).toBe('group_vars/all.yml');
    expect(at(inv, inv.source?.hostVarPaths['node1']?.['from_where'])).toBe('kubespray-yaml-dir/group_vars/kube_control_plane.yml:1: from_where');
    expect(at(inv, inv.source?.hostVarPaths['node2']?.['from_where'])).toBe('kubespray-yaml-dir/hosts.yaml:12: all.hosts.node2.from_where');
    const s = resolveSettings(inv);
    expect(s.frontendPort).toBe(9443);
    expect(s.hosts['node1']).toMatchObject({ interface: 'eth1', priority: 250 });
    expect(s.hosts['node3']).toMatchObject({ interface: 'eth9', priority: 100 });
    expect(host(inv, 'node3').connection.user).toBe('ops');
  });

  test('-i naming the file inside the directory reads the same var files (Ansible reads group_vars/ beside a file too)', async () => {
    const byDir = await loadInventory(fixture('kubespray-yaml-dir'));
    const byFile = await loadInventory(fixture('kubespray-yaml-dir/hosts.yaml'));
    expect(byFile.hosts.map((h) => [h.name, h.vars])).toEqual(byDir.hosts.map((h) => [h.name, h.vars]));
    expect(byFile.source?.varFiles).toHaveLength(3);
  });
});

describe('kubeasz-ini/hosts: ex_lb with LB_ROLE, EX_APISERVER_VIP and EX_APISERVER_PORT', () => {
  test('the ex_lb hosts run keepalived and haproxy; LB_ROLE=master is the primary; SECURE_PORT is the apiserver port', async () => {
    const inv = await loadInventory(fixture('kubeasz-ini/hosts'));
    expect(inv.hosts.map((h) => h.name)).toEqual(['10.0.2.1', '10.0.2.2', '10.0.2.3', '10.0.2.4', '10.0.2.5', '10.0.2.6', '10.0.2.7']);
    expect(inv.groups).toMatchObject({ harbor: [], chrony: [], ex_lb: ['10.0.2.6', '10.0.2.7'], kube_master: ['10.0.2.1', '10.0.2.2', '10.0.2.3'] });
    expect(host(inv, '10.0.2.1').vars).toMatchObject({ k8s_nodename: 'master-01', SECURE_PORT: '6443', cluster_dir: '{{ base_dir }}/clusters/_cluster_name_' });
    expect(host(inv, '10.0.2.4').vars['k8s_nodename']).toBe('worker-01');
    const { settings: s, origins } = explainSettings(inv);
    expect(s).toMatchObject({
      mastersGroup: 'kube_master',
      lbGroup: 'ex_lb',
      lbHosts: ['10.0.2.6', '10.0.2.7'],
      vip: '10.0.2.250',
      frontendPort: 8443,
      apiserverPort: 6443,
      unicast: true,
      primary: '10.0.2.7',
    });
    expect([s.hosts['10.0.2.6']?.priority, s.hosts['10.0.2.7']?.priority]).toEqual([200, 250]);
    const vip = origins.cluster.vip;
    expect(vip?.kind === 'mapped' && at(inv, vip.path)).toBe('kubeasz-ini/hosts:25: [ex_lb] 10.0.2.6 EX_APISERVER_VIP');
    expect(origins.hosts['10.0.2.7']?.priority).toMatchObject({ kind: 'mapped', variable: 'LB_ROLE', tool: 'kubeasz' });
  });

  test('the group may be written ex-lb', () => {
    const inv = parseInventory(
      lines('[kube_master]', '10.0.2.1', '[ex-lb]', '10.0.2.6 LB_ROLE=master EX_APISERVER_VIP=10.0.2.250 EX_APISERVER_PORT=8443', '10.0.2.7 LB_ROLE=backup'),
      'hosts',
    );
    const s = resolveSettings(inv);
    expect([s.lbGroup, s.lbHosts, s.vip, s.primary]).toEqual(['ex-lb', ['10.0.2.6', '10.0.2.7'], '10.0.2.250', '10.0.2.6']);
  });
});

describe('ansible-ini/hosts.ini: a plain Ansible INI inventory', () => {
  test('ungrouped hosts, host:port, ranges, children, vars, Python literals', async () => {
    const inv = await loadInventory(fixture('ansible-ini/hosts.ini'));
    expect(inv.hosts.map((h) => h.name)).toEqual([
      'jump.example.com',
      'm1',
      'm2',
      'm3',
      'w01',
      'w02',
      'w03',
      'node-a',
      'node-b',
      'node-c',
      'node10',
      'node15',
      'node20',
    ]);
    expect(inv.groups['ungrouped']).toEqual(['jump.example.com']);
    expect(inv.groups['k8s']).toEqual(inv.hosts.slice(1).map((h) => h.name));
    expect(host(inv, 'jump.example.com').groups).toEqual(['all', 'ungrouped']);
    expect(host(inv, 'jump.example.com').connection).toMatchObject({ address: '10.0.3.5', become: false });
    expect(host(inv, 'w02').connection).toMatchObject({ address: 'w02', port: 2222, user: 'ubuntu', become: true });
    expect(host(inv, 'node15').connection.user).toBe('deploy');
    expect(host(inv, 'm3').vars).toMatchObject({
      rack: 'r3',
      vrrp_interface: 'eth2',
      cluster_name: 'prod cluster',
      replicas: 3,
      labels: ['a', 'b'],
      ansible_become: true,
    });
    expect(host(inv, 'm1').vars['priority']).toBe(180);
    const s = resolveSettings(inv);
    expect(s).toMatchObject({ mastersGroup: 'masters', vip: '10.0.3.100', advertInt: 2, primary: 'm2', nodes: [] });
    expect(s.hosts['m1']).toEqual({ name: 'm1', address: '10.0.3.11', priority: 180, interface: 'eth1', apiserverPort: 6443, metricsBind: '10.0.3.11' });
    expect(s.hosts['m3']).toMatchObject({ interface: 'eth2', priority: 150 });
    expect(at(inv, inv.source?.hostVarPaths['m3']?.['vrrp_interface'])).toBe('ansible-ini/hosts.ini:7: [masters] m3 vrrp_interface');
    expect(at(inv, inv.source?.hostVarPaths['m1']?.['vrrp_interface'])).toBe('ansible-ini/hosts.ini:10: [masters:vars] vrrp_interface');
  });

  test('a host listed before any section and in a section later is not ungrouped (as Ansible reconciles it)', () => {
    const inv = parseInventory(lines('m1 ansible_host=10.0.0.11', '[masters]', 'm1', '[all:vars]', 'vip=10.0.0.100'), 'hosts');
    expect(inv.groups['ungrouped']).toEqual([]);
    expect(host(inv, 'm1').groups).toEqual(['all', 'masters']);
  });
});

describe('host-vars-dir: host_vars/<host>/ and group_vars/all/ directories', () => {
  test('files merged in lexical order, subdirectories read, hidden files, ~ backups and other extensions skipped', async () => {
    const inv = await loadInventory(fixture('host-vars-dir'));
    expect(inv.source?.format).toBe('ini');
    expect(inv.source?.varFiles.map((f) => rel(f.display))).toEqual([
      'host-vars-dir/group_vars/all/a.yml',
      'host-vars-dir/group_vars/all/b.yml',
      'host-vars-dir/host_vars/m1/10-address.yml',
      'host-vars-dir/host_vars/m1/20-override.yaml',
      'host-vars-dir/host_vars/m1/sub/30-more.json',
      'host-vars-dir/host_vars/m2',
    ]);
    expect(host(inv, 'm1').vars).toMatchObject({ x: 'b', priority: 150, vrrp_interface: 'eth3', ansible_host: '10.0.4.11' });
    expect(host(inv, 'm2').connection.address).toBe('10.0.4.12');
    const s = resolveSettings(inv);
    expect(s.virtualRouterId).toBe(77);
    expect(s.hosts['m1']).toMatchObject({ address: '10.0.4.11', priority: 150, interface: 'eth3' });
    expect(s.primary).toBe('m2');
    expect(at(inv, inv.source?.hostVarPaths['m1']?.['priority'])).toBe('host-vars-dir/host_vars/m1/20-override.yaml:2: priority');
  });
});

describe('group order within a depth: ansible_group_priority, then the name', () => {
  test('zone_b beats zone_a whatever the file order; ansible_group_priority beats the name', () => {
    const base = (zoneA: string[]) =>
      parseInventory(
        lines(
          'all:',
          '  children:',
          '    zone_b:',
          '      vars: { s: zone_b }',
          '      hosts: { m1: }',
          '    zone_a:',
          '      vars:',
          '        s: zone_a',
          ...zoneA,
          '      hosts: { m1: }',
        ),
        'hosts.yaml',
      );
    expect(base([]).hosts[0]?.vars['s']).toBe('zone_b');
    expect(base([]).hosts[0]?.groups).toEqual(['all', 'zone_a', 'zone_b']);
    expect(base(['        ansible_group_priority: 10']).hosts[0]?.vars['s']).toBe('zone_a');
  });
});

describe('bad inputs beside the inventory: one line naming file:line', () => {
  const inv = lines('[masters]', 'm1 ansible_host=10.0.0.11', 'm2 ansible_host=10.0.0.12', '[all:vars]', 'vip=10.0.0.100');

  test('a directory holding two inventory files', async () => {
    const dir = await tree('two-files', { 'hosts.yaml': 'all: {}\n', 'inventory.ini': inv });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}: holds both hosts.yaml and inventory.ini; Ansible would read them as one inventory, kha reads one: pass the one to use with -i ${dir}/hosts.yaml`,
    );
  });

  test('group_vars/all/ and group_vars/all.yml both there', async () => {
    const dir = await tree('two-all', { 'inventory.ini': inv, 'group_vars/all/a.yml': 'x: 1\n', 'group_vars/all.yml': 'x: 2\n' });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}/group_vars/all and ${dir}/group_vars/all.yml both hold the variables of group all; Ansible reads only ${dir}/group_vars/all: merge them into one`,
    );
  });

  test('a kha setting in the group_vars of a group the inventory does not have', async () => {
    const dir = await tree('unknown-group', { 'inventory.ini': inv, 'group_vars/master.yml': '# typo\nvirtual_router_id: 60\n' });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}/group_vars/master.yml:2: virtual_router_id: the inventory has no group master, so this file is not read (nor by Ansible); did you mean masters? rename the file`,
    );
  });

  test('a host_vars file of a host the inventory does not have: an error for a kha setting, a warning for ansible_host', async () => {
    const dir = await tree('unknown-host', { 'inventory.ini': inv, 'host_vars/m9.yml': 'ansible_host: 10.0.0.19\npriority: 90\n' });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}/host_vars/m9.yml:2: priority: the inventory has no host m9, so this file is not read (nor by Ansible); did you mean m1? rename the file`,
    );
    const dir2 = await tree('stale-host', { 'inventory.ini': inv, 'host_vars/old-m7.yml': 'ansible_host: 10.0.0.17\n' });
    expect((await loadInventory(dir2)).warnings).toEqual([
      `${dir2}/host_vars/old-m7.yml: the inventory has no host old-m7, so this file is not read (nor by Ansible)`,
    ]);
  });

  test('a var file of an unknown group with only foreign variables is left alone (a playbook may make the group)', async () => {
    const dir = await tree('foreign-group', { 'inventory.ini': inv, 'group_vars/no_floating.yml': 'kube_proxy_mode: ipvs\n: not yaml [\n' });
    expect((await loadInventory(dir)).hosts).toHaveLength(2);
  });

  test('a YAML error in a var file', async () => {
    const dir = await tree('yaml-error', { 'inventory.ini': inv, 'group_vars/all.yml': 'x: 1\n  y: 2\n' });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}/group_vars/all.yml:1:4: YAML syntax error: Nested mappings are not allowed in compact mappings; fix the indentation or quoting there`,
    );
  });

  test('a bad kha value in a var file', async () => {
    const dir = await tree('bad-value', { 'inventory.ini': inv, 'group_vars/all.yml': 'ansible_user: ubuntu\nadvert_int: often\n' });
    expect(await errorOf(async () => resolveSettings(await loadInventory(dir)))).toBe(
      `${dir}/group_vars/all.yml:2: advert_int: often is not an advertisement interval; use whole seconds from 1 to 255 (default 1)`,
    );
  });

  test('a cluster-wide setting in host_vars', async () => {
    const dir = await tree('host-vip', { 'inventory.ini': inv, 'host_vars/m1.yml': 'vip: 10.0.0.101\n' });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}/host_vars/m1.yml:1: vip: vip is cluster-wide; set it under all.vars (or the masters group's vars), not on a host`,
    );
  });

  test('a var file that is a list', async () => {
    const dir = await tree('list-file', { 'inventory.ini': inv, 'group_vars/masters.yml': '- a\n- b\n' });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}/group_vars/masters.yml:1: (top level): the file holds a list, not variables; write one name: value per line`,
    );
  });

  test('an Ansible Vault file is skipped with a warning; a vault value is refused only where kha reads it', async () => {
    const vault = '$ANSIBLE_VAULT;1.1;AES256\n6231336539666234\n';
    const dir = await tree('vault', {
      'inventory.ini': inv,
      'group_vars/all/vault.yml': vault,
      'group_vars/all/other.yml': `rh_subscription_password: !vault |\n  ${vault.replace('\n', '\n  ')}`,
    });
    const loaded = await loadInventory(dir);
    expect(loaded.warnings).toEqual([`${dir}/group_vars/all/vault.yml: encrypted with Ansible Vault, which kha cannot decrypt; its variables are not read`]);
    expect(String(host(loaded, 'm1').vars['rh_subscription_password'])).toMatch(/^\$ANSIBLE_VAULT;/);
    const dir2 = await tree('vault-kha', { 'inventory.ini': inv, 'group_vars/all.yml': `ansible_password: !vault |\n  ${vault.replace('\n', '\n  ')}` });
    expect(await errorOf(() => loadInventory(dir2))).toBe(
      `${dir2}/group_vars/all.yml:1: ansible_password: Ansible Vault values (!vault) are not supported: kha cannot decrypt them; use ansible_password_file: FILE (its first line is the secret) or ansible_password: \${env:NAME}`,
    );
  });

  test('an empty INI inventory', async () => {
    const dir = await tree('empty', { 'inventory.ini': '# nothing yet\n; really\n' });
    expect(await errorOf(() => loadInventory(dir))).toBe(
      `${dir}/inventory.ini: the inventory is empty; add a [masters] section with the masters' host lines and an [all:vars] section with vip=<address>`,
    );
  });

  test('a master without an IPv4 is named in the INI way', () => {
    expect(errorOfSync(() => resolveSettings(parseInventory(lines('[masters]', 'm1', '[all:vars]', 'vip=10.0.0.100'), 'inventory.ini')))).toBe(
      'inventory.ini:2: [masters] m1: m1 has no ansible_host and its name is not an IPv4 address; keepalived (VRRP) and haproxy need the IPv4 of every master and load balancer, set ansible_host: <its IPv4>',
    );
  });
});

describe('kubespray and kubeasz variables against kha settings', () => {
  const ks = (extra: string[], hostLine = 'node1 ansible_host=10.0.0.11') => ({
    'inventory.ini': lines('[kube_control_plane]', hostLine, 'node2 ansible_host=10.0.0.12'),
    'group_vars/all.yml': lines(...extra),
  });

  test('vip and loadbalancer_apiserver.address that differ: one line naming both', async () => {
    const dir = await tree('vip-conflict', ks(['vip: 10.0.0.100', 'loadbalancer_apiserver:', '  address: 10.0.0.101', '  port: 8443']));
    expect(await errorOf(async () => resolveSettings(await loadInventory(dir)))).toBe(
      `${dir}/group_vars/all.yml:1: vip: vip is 10.0.0.100 but loadbalancer_apiserver.address (kubespray) is 10.0.0.101 (${dir}/group_vars/all.yml:3); kha reads both as vip: make them the same, or remove one`,
    );
  });

  test('the same values agree', async () => {
    const dir = await tree('vip-agree', ks(['vip: 10.0.0.100', 'frontend_port: 8443', 'loadbalancer_apiserver: { address: 10.0.0.100, port: 8443 }']));
    const { settings, origins } = explainSettings(await loadInventory(dir));
    expect([settings.vip, settings.frontendPort, origins.cluster.vip?.kind]).toEqual(['10.0.0.100', 8443, 'inventory']);
  });

  test('an address in apiserver_loadbalancer_domain_name is the vip', async () => {
    const dir = await tree('domain-ip', ks(['apiserver_loadbalancer_domain_name: "10.0.0.100"']));
    const s = resolveSettings(await loadInventory(dir));
    expect([s.vip, s.apiEndpointName]).toEqual(['10.0.0.100', 'kube-apiserver.kha.internal']);
  });

  test('loadbalancer_apiserver that is not a mapping, and a template', async () => {
    const dir = await tree('lb-string', ks(['loadbalancer_apiserver: 10.0.0.100']));
    expect(await errorOf(async () => resolveSettings(await loadInventory(dir)))).toBe(
      `${dir}/group_vars/all.yml:1: loadbalancer_apiserver: loadbalancer_apiserver must be a mapping like { address: 10.0.0.100, port: 8443 } (as kubespray reads it)`,
    );
    const dir2 = await tree('lb-template', ks(['loadbalancer_apiserver:', '  address: "{{ vip_address }}"']));
    expect(await errorOf(async () => resolveSettings(await loadInventory(dir2)))).toBe(
      `${dir2}/group_vars/all.yml:2: loadbalancer_apiserver.address: "{{ vip_address }}" is a Jinja template; kha does not evaluate templates (kha reads loadbalancer_apiserver.address (kubespray) as vip), write the value itself`,
    );
  });

  test('a mapped value that is not valid for the kha setting', async () => {
    const dir = await tree('lb-port', ks(['loadbalancer_apiserver: { address: 10.0.0.100, port: 99999 }']));
    expect(await errorOf(async () => resolveSettings(await loadInventory(dir)))).toBe(
      `${dir}/group_vars/all.yml:1: loadbalancer_apiserver.port: 99999 is not a port; use a number from 1 to 65535 (kha reads loadbalancer_apiserver.port (kubespray) as frontend_port)`,
    );
  });

  test('kube_apiserver_port against apiserver_port on a host', async () => {
    const dir = await tree('port-conflict', ks(['vip: 10.0.0.100', 'kube_apiserver_port: 6443'], 'node1 ansible_host=10.0.0.11 apiserver_port=7443'));
    expect(await errorOf(async () => resolveSettings(await loadInventory(dir)))).toBe(
      `${dir}/inventory.ini:2: [kube_control_plane] node1 apiserver_port: apiserver_port is 7443 but kube_apiserver_port (kubespray) is 6443 (${dir}/group_vars/all.yml:2); kha reads both as apiserver_port: make them the same, or remove one`,
    );
  });

  const ez = (...lbLines: string[]) => parseInventory(lines('[kube_master]', '10.0.2.1', '[ex_lb]', ...lbLines), 'hosts');
  const ezError = (...lbLines: string[]) => errorOfSync(() => resolveSettings(ez(...lbLines)));

  test('EX_APISERVER_VIP that differs between ex_lb hosts', () => {
    expect(ezError('10.0.2.6 EX_APISERVER_VIP=10.0.2.250', '10.0.2.7 EX_APISERVER_VIP=10.0.2.251')).toBe(
      'hosts:4: [ex_lb] 10.0.2.6 EX_APISERVER_VIP: EX_APISERVER_VIP of 10.0.2.6 is 10.0.2.250 but EX_APISERVER_VIP of 10.0.2.7 is 10.0.2.251 (hosts:5); kha reads both as vip: make them the same',
    );
  });

  test('LB_ROLE=master on two hosts, and against the priorities', () => {
    expect(ezError('10.0.2.6 LB_ROLE=master EX_APISERVER_VIP=10.0.2.250', '10.0.2.7 LB_ROLE=master')).toBe(
      'hosts:5: [ex_lb] 10.0.2.7 LB_ROLE: 10.0.2.6 and 10.0.2.7 both have LB_ROLE=master (kubeasz); one host holds the VIP first: set LB_ROLE=backup on the other',
    );
    expect(ezError('10.0.2.6 LB_ROLE=master EX_APISERVER_VIP=10.0.2.250 priority=100', '10.0.2.7 LB_ROLE=backup priority=200')).toBe(
      "hosts:5: [ex_lb] 10.0.2.7 priority: 10.0.2.6 has LB_ROLE=master (kubeasz) but 10.0.2.7 has the higher priority (200 > 100); kha's primary is the host with the highest priority: remove LB_ROLE, or give 10.0.2.6 the highest priority",
    );
  });

  test("kubespray's own variables with kha's prefixes are left alone; kha's prefixes still catch typos", () => {
    const y = (v: string) => parseInventory(lines('all:', '  vars:', `    ${v}`, '  hosts: { m1: }'), 'hosts.yaml');
    expect(y('haproxy_image_tag: 2.8').hosts[0]?.vars['haproxy_image_tag']).toBe(2.8);
    expect(y('apiserver_extra_volumes: {}').hosts).toHaveLength(1);
    // kubespray's no_proxy is two edits from node_proxy: still theirs
    expect(y('no_proxy: "10.0.0.0/8"').hosts[0]?.vars['no_proxy']).toBe('10.0.0.0/8');
    expect(errorOfSync(() => y('haproxy_timeout_clinet: 4h'))).toBe(
      'hosts.yaml:3: all.vars.haproxy_timeout_clinet: unknown kha setting; did you mean haproxy_timeout_client?',
    );
  });
});

function errorOfSync(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
}

describe('add-master and remove-master on these inventories (editableInventory)', () => {
  test('a YAML file in a directory: that file is rewritten, and the reparse keeps its group_vars/', async () => {
    const inv = await loadInventory(fixture('kubespray-yaml-dir'));
    const edit = editableInventory(inv, 'add-master');
    expect(rel(edit.file)).toBe('kubespray-yaml-dir/hosts.yaml');
    const again = edit.reparse(edit.text);
    expect(resolveSettings(again).frontendPort).toBe(9443);
    expect(again.hosts.find((h) => h.name === 'node3')?.vars['from_where']).toBe('host_vars/node3.yml');
  });

  test('an INI inventory is refused in one line; resolved names carry over to a reparsed YAML one', () => {
    const inv = parseInventory(lines('[masters]', 'm1 ansible_host=m1.example.internal'), 'inventory.yaml');
    inv.hosts[0]!.resolved = { name: 'm1.example.internal', address: '10.0.0.11' };
    expect(inv.source?.format).toBe('ini');
    expect(() => editableInventory(inv, 'remove-master')).toThrow(
      'inventory.yaml: kha remove-master rewrites YAML inventories, and this one is INI; convert it first (ansible-inventory -i inventory.yaml --list -y > hosts.yaml), or change the INI file by hand',
    );
    const yaml = parseInventory(lines('all:', '  hosts:', '    m1: { ansible_host: m1.example.internal }'), 'hosts.yaml');
    yaml.hosts[0]!.resolved = { name: 'm1.example.internal', address: '10.0.0.11' };
    expect(
      editableInventory(yaml, 'add-master').reparse(lines('all:', '  hosts:', '    m1: { ansible_host: m1.example.internal }', '    m2:')).hosts[0]?.resolved,
    ).toEqual({
      name: 'm1.example.internal',
      address: '10.0.0.11',
    });
  });
});
