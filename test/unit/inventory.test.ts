import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { InputError } from '../../src/errors.js';
import { loadInventory, parseInventory } from '../../src/inventory/load.js';
import { selectHosts } from '../../src/inventory/select.js';
import { resolveSettings, SETTING_NAMES, settingsSchema } from '../../src/inventory/settings.js';
import { editDistance, suggest } from '../../src/inventory/suggest.js';

const fixture = (name: string) => path.join(import.meta.dirname, '../fixtures/inventory', name);
const y = (lines: string[]) => lines.join('\n') + '\n';

const BASIC = y([
  'all:',
  '  vars:',
  '    vip: 10.0.0.100',
  '    ansible_user: ubuntu',
  '  hosts:',
  '    m1: { ansible_host: 10.0.0.11 }',
  '    m2: { ansible_host: 10.0.0.12 }',
  '    m3: { ansible_host: 10.0.0.13 }',
  '    w1: { ansible_host: 10.0.0.21 }',
  '  children:',
  '    masters:',
  '      hosts:',
  '        m1:',
  '        m2:',
  '        m3:',
  '    workers:',
  '      hosts:',
  '        w1:',
]);

describe('parseInventory', () => {
  test('hosts in file order, groups with nested hosts, connection defaults', () => {
    const inv = parseInventory(y(['all:', '  hosts:', '    m1:', '    m2: { ansible_host: m2.example.com }']), 'hosts.yaml');
    expect(inv.file).toBe(path.resolve('hosts.yaml'));
    expect(inv.hosts.map((h) => h.name)).toEqual(['m1', 'm2']);
    expect(inv.groups).toEqual({ all: ['m1', 'm2'] });
    expect(inv.hosts[0]?.connection).toEqual({
      name: 'm1',
      address: 'm1',
      port: 22,
      user: os.userInfo().username,
      become: false,
      becomeUser: 'root',
      explicit: {},
    });
    expect(inv.hosts[1]?.connection.address).toBe('m2.example.com');
    expect(inv.hosts[1]?.connection.explicit).toEqual({ address: true });
    expect(inv.secrets).toEqual([]);
  });

  test('precedence: all < parent < child < host; later sibling wins; one host in many groups', () => {
    const inv = parseInventory(
      y([
        'all:',
        '  vars: { v: all, a: all, b: all, c: all, s: all }',
        '  hosts:',
        '    m1: { ansible_host: 10.0.0.11, c: host }',
        '    m2: { ansible_host: 10.0.0.12 }',
        '  children:',
        '    cluster:',
        '      vars: { a: parent, b: parent, c: parent }',
        '      children:',
        '        masters:',
        '          vars: { b: child, c: child }',
        '          hosts: { m1: , m2: { ansible_port: 2222 } }',
        '    zone_a:',
        '      vars: { s: zone_a }',
        '      hosts: { m1: , m2: }',
        '    zone_b:',
        '      vars: { s: zone_b }',
        '      hosts: { m1: }',
      ]),
      'hosts.yaml',
    );
    expect(inv.hosts.map((h) => h.name)).toEqual(['m1', 'm2']);
    const [m1, m2] = inv.hosts;
    expect(m1?.vars).toMatchObject({ v: 'all', a: 'parent', b: 'child', c: 'host', s: 'zone_b' });
    expect(m2?.vars).toMatchObject({ v: 'all', a: 'parent', b: 'child', c: 'child', s: 'zone_a' });
    expect(m1?.groups).toEqual(['all', 'cluster', 'zone_a', 'zone_b', 'masters']);
    expect(m2?.connection.port).toBe(2222);
    expect(inv.groups).toEqual({
      all: ['m1', 'm2'],
      cluster: ['m1', 'm2'],
      masters: ['m1', 'm2'],
      zone_a: ['m1', 'm2'],
      zone_b: ['m1'],
    });
    expect(inv.groupVars?.['masters']).toMatchObject({ a: 'parent', b: 'child', c: 'child' });
  });

  test('a deeper group wins over a shallower one defined later', () => {
    const inv = parseInventory(
      y([
        'all:',
        '  children:',
        '    k8s:',
        '      children:',
        '        masters:',
        '          vars: { x: deep }',
        '          hosts: { m1: }',
        '    flat:',
        '      vars: { x: shallow }',
        '      hosts: { m1: }',
      ]),
      'hosts.yaml',
    );
    expect(inv.hosts[0]?.vars['x']).toBe('deep');
  });

  test('host vars from several appearances merge in file order', () => {
    const inv = parseInventory(
      y(['all:', '  hosts:', '    m1: { a: 1, b: 1 }', '  children:', '    masters:', '      hosts:', '        m1: { b: 2 }']),
      'hosts.yaml',
    );
    expect(inv.hosts).toHaveLength(1);
    expect(inv.hosts[0]?.vars).toEqual({ a: 1, b: 2 });
  });

  test('kubespray inventory: kube_control_plane, unknown operator vars kept, group vars from k8s_cluster', async () => {
    const inv = await loadInventory(fixture('kubespray.yaml'));
    expect(inv.hosts.map((h) => h.name)).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(inv.hosts[0]?.vars).toMatchObject({ ip: '10.0.0.11', access_ip: '10.0.0.11', etcd_member_name: 'etcd1', kube_version: 'v1.30.4' });
    expect(inv.hosts[0]?.connection).toMatchObject({ address: '10.0.0.11', user: 'ubuntu', become: true });
    expect(inv.groups['k8s_cluster']).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(inv.groups['calico_rr']).toEqual([]);
    const s = resolveSettings(inv);
    expect(s.mastersGroup).toBe('kube_control_plane');
    expect(s.lbGroup).toBe('kube_control_plane');
    expect(s.masters).toEqual(['node1', 'node2', 'node3']);
    expect(s.hosts['node1']).toEqual({ name: 'node1', address: '10.0.0.11', priority: 250, interface: 'ens3', apiserverPort: 6443, metricsBind: '10.0.0.11' });
    expect(s.hosts['node2']?.priority).toBe(120);
    expect(s.hosts['node3']?.priority).toBe(150);
    expect(s.hosts['node4']).toBeUndefined();
    expect(s.primary).toBe('node1');
    expect(s.unicast).toBe(false);
  });

  test('top level without all: (kubeasz groups, kube-master + ex_lb)', async () => {
    const inv = await loadInventory(fixture('kubeasz.yaml'));
    expect(inv.groups['all']).toEqual(['192.168.1.1', '192.168.1.2', '192.168.1.6', '192.168.1.7']);
    expect(inv.hosts[2]?.groups).toEqual(['all', 'ex_lb']);
    const s = resolveSettings(inv);
    expect(s.mastersGroup).toBe('kube-master');
    expect(s.lbGroup).toBe('ex_lb');
    expect(s.lbHosts).toEqual(['192.168.1.6', '192.168.1.7']);
    expect(s.unicast).toBe(true);
    expect(s.primary).toBe('192.168.1.7');
    // LB_ROLE=master (192.168.1.7) ranks first for the default priorities, so the backup gets the second
    expect(s.hosts['192.168.1.6']).toMatchObject({ priority: 200, interface: 'eth1' });
    expect(s.hosts['192.168.1.1']).toMatchObject({ priority: 0, address: '192.168.1.1' });
    expect(s.hosts['192.168.1.1']?.interface).toBeUndefined();
  });

  test('connection variables, aliases, become strings, secrets, ~ expansion', () => {
    const inv = parseInventory(
      y([
        'all:',
        '  vars:',
        '    ansible_become: "no"',
        '    ansible_ssh_private_key_file: ~/.ssh/kha',
        '    ansible_become_pass: s3cret',
        '    vrrp_auth_pass: k8s-ha',
        '  hosts:',
        '    m1: { ansible_host: 10.0.0.11, ansible_port: "2200", ansible_ssh_pass: 123456, ansible_become: yes, ansible_become_user: admin }',
        '    m2: { ansible_ssh_host: 10.0.0.12, ansible_ssh_user: core, ansible_become_password: other }',
      ]),
      'hosts.yaml',
    );
    const [m1, m2] = inv.hosts;
    expect(m1?.connection).toEqual({
      name: 'm1',
      address: '10.0.0.11',
      port: 2200,
      user: os.userInfo().username,
      privateKeyFile: path.join(os.homedir(), '.ssh/kha'),
      password: '123456',
      become: true,
      becomeUser: 'admin',
      becomePassword: 's3cret',
      explicit: { address: true, port: true, privateKeyFile: true },
    });
    expect(m2?.connection).toMatchObject({ address: '10.0.0.12', user: 'core', become: false, becomePassword: 'other' });
    expect(inv.secrets).toEqual(['s3cret', 'k8s-ha', '123456', 'other']);
  });

  test('ansible_ssh_common_args: -o UserKnownHostsFile= is read, the rest ignored', () => {
    const inv = parseInventory(
      y(['all:', '  vars:', '    ansible_ssh_common_args: -o UserKnownHostsFile=~/lab/known_hosts -o StrictHostKeyChecking=yes', '  hosts:', '    m1:']),
      'hosts.yaml',
    );
    expect(inv.hosts[0]?.connection.knownHostsFile).toBe(path.join(os.homedir(), 'lab/known_hosts'));
  });

  test('command-line overrides win over every inventory level', () => {
    const text = y([
      'all:',
      '  vars: { ansible_user: ubuntu, ansible_become: false }',
      '  hosts:',
      '    m1: { ansible_user: core, ansible_ssh_private_key_file: /k }',
    ]);
    const inv = parseInventory(text, 'hosts.yaml', { user: 'ops', privateKey: '~/id', become: true });
    expect(inv.hosts[0]?.connection).toMatchObject({ user: 'ops', privateKeyFile: path.join(os.homedir(), 'id'), become: true });
    expect(() => parseInventory(text, 'hosts.yaml', { user: 'op s' })).toThrow(
      '--user: "op s" is not a valid user name; use a name like ubuntu (lowercase letters, digits, _ . -, starting with a letter or _)',
    );
  });

  test('anchors and merge keys work, and errors point at the anchored line', () => {
    const text = y([
      'all:',
      '  vars:',
      '    conn: &conn',
      '      ansible_user: ubuntu',
      '      ansible_port: 70000',
      '  hosts:',
      '    m1:',
      '      <<: *conn',
      '      ansible_host: 10.0.0.11',
    ]);
    expect(() => parseInventory(text, 'hosts.yaml')).toThrow(
      new InputError('hosts.yaml:5: all.hosts.m1.ansible_port: 70000 is not a port; use a number from 1 to 65535'),
    );
    const ok = parseInventory(text.replace('70000', '2222'), 'hosts.yaml');
    expect(ok.hosts[0]?.connection).toMatchObject({ user: 'ubuntu', port: 2222, address: '10.0.0.11' });
  });

  test('source map: lines of keys for later checks', () => {
    const inv = parseInventory(BASIC, 'hosts.yaml');
    expect(inv.source?.lineOf(['all', 'children', 'masters', 'hosts', 'm2'])).toBe(14);
    expect(inv.source?.hostVarPaths['m1']?.['ansible_host']).toEqual(['all', 'hosts', 'm1', 'ansible_host']);
    expect(inv.source?.groupAncestors['masters']).toEqual(['all']);
  });
});

describe('selectHosts (--limit)', () => {
  const inv = parseInventory(BASIC, 'hosts.yaml');
  const names = (limit: string | undefined) => selectHosts(inv, limit).map((h) => h.name);

  test('no limit selects every host', () => {
    expect(names(undefined)).toEqual(['m1', 'm2', 'm3', 'w1']);
    expect(names(' ')).toEqual(['m1', 'm2', 'm3', 'w1']);
  });
  test('host names, group names, comma and colon, file order', () => {
    expect(names('w1,m2')).toEqual(['m2', 'w1']);
    expect(names('workers:m1')).toEqual(['m1', 'w1']);
    expect(names('masters')).toEqual(['m1', 'm2', 'm3']);
  });
  test('exclusion, intersection and wildcards', () => {
    expect(names('masters,!m2')).toEqual(['m1', 'm3']);
    expect(names('!masters')).toEqual(['w1']);
    expect(names('all,&masters,!m1')).toEqual(['m2', 'm3']);
    expect(names('m*')).toEqual(['m1', 'm2', 'm3']);
  });
  test('unknown names are an InputError with a suggestion', () => {
    expect(() => names('masters,m4')).toThrow(new InputError('--limit: m4 is not a host or group in hosts.yaml; did you mean m1?'));
    expect(() => names('mastrs')).toThrow(new InputError('--limit: mastrs is not a host or group in hosts.yaml; did you mean masters?'));
    expect(() => names('etcd')).toThrow(
      new InputError('--limit: etcd is not a host or group in hosts.yaml; use names from the inventory, e.g. m1, m2, m3, masters, workers'),
    );
    expect(() => names('m1;reboot')).toThrow(
      new InputError('--limit: "m1;reboot" is not a host or group name; use names from hosts.yaml separated by commas, ! to exclude'),
    );
    expect(() => names('constructor')).toThrow(InputError);
    expect(() => names('m1,!m1')).toThrow(new InputError('--limit: "m1,!m1" selects no host; loosen the limit or drop it to run on every host'));
    try {
      names('x9');
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).exit).toBe(4);
    }
  });
});

describe('resolveSettings', () => {
  test('defaults', () => {
    const s = resolveSettings(parseInventory(BASIC, 'hosts.yaml'));
    expect(s).toEqual({
      mastersGroup: 'masters',
      lbGroup: 'masters',
      masters: ['m1', 'm2', 'm3'],
      lbHosts: ['m1', 'm2', 'm3'],
      vip: '10.0.0.100',
      vipPrefix: 32,
      virtualRouterId: 51,
      advertInt: 1,
      unicast: false,
      frontendPort: 8443,
      apiserverPort: 6443,
      lbAlgorithm: 'roundrobin',
      apiserverHealthPath: '/readyz',
      timeouts: { client: '4h', server: '4h', connect: '5s' },
      hardStopAfter: '1h',
      vipWaitTimeoutSec: 30,
      trackApiserver: false,
      nopreempt: false,
      nodes: [],
      nodeLocalProxy: false,
      nodeProxy: 'haproxy',
      manageEtcHosts: false,
      apiEndpointName: 'kube-apiserver.kha.internal',
      metrics: true,
      metricsPort: 8405,
      vrrpMetricsPort: 8406,
      hosts: {
        m1: { name: 'm1', address: '10.0.0.11', priority: 250, apiserverPort: 6443, metricsBind: '10.0.0.11' },
        m2: { name: 'm2', address: '10.0.0.12', priority: 200, apiserverPort: 6443, metricsBind: '10.0.0.12' },
        m3: { name: 'm3', address: '10.0.0.13', priority: 150, apiserverPort: 6443, metricsBind: '10.0.0.13' },
      },
      primary: 'm1',
    });
  });

  test('explicit values, coercions and per-host overrides', () => {
    const text = y([
      'all:',
      '  vars:',
      '    vip: 10.0.0.100',
      '    vip_prefix: 24',
      '    virtual_router_id: "77"',
      '    advert_int: 2',
      '    vrrp_auth_pass: pa55word',
      '    vrrp_unicast: "yes"',
      '    frontend_port: 9443',
      '    lb_algorithm: leastconn',
      '    apiserver_health_path: /livez?verbose',
      '    haproxy_timeout_client: 30m',
      '    haproxy_timeout_connect: 3000',
      '    vip_wait_timeout: 2m',
      '    track_apiserver: true',
      '    vrrp_nopreempt: on',
      '    keepalived_version: "1:2.2.8-1"',
      '    haproxy_version: 2.8.5-1ubuntu1',
      '  children:',
      '    masters:',
      '      vars: { vrrp_interface: eth0 }',
      '      hosts:',
      '        m1: { ansible_host: 10.0.0.11, priority: 100, apiserver_port: 6444 }',
      '        m2: { ansible_host: 10.0.0.12, vrrp_interface: bond0.100 }',
    ]);
    const inv = parseInventory(text, 'hosts.yaml');
    const s = resolveSettings(inv);
    expect(s).toMatchObject({
      vipPrefix: 24,
      virtualRouterId: 77,
      advertInt: 2,
      authPass: 'pa55word',
      unicast: true,
      frontendPort: 9443,
      lbAlgorithm: 'leastconn',
      apiserverHealthPath: '/livez?verbose',
      timeouts: { client: '30m', server: '4h', connect: '3000' },
      vipWaitTimeoutSec: 120,
      trackApiserver: true,
      nopreempt: true,
      keepalivedVersion: '1:2.2.8-1',
      haproxyVersion: '2.8.5-1ubuntu1',
      primary: 'm2',
    });
    expect(s.hosts['m1']).toEqual({ name: 'm1', address: '10.0.0.11', priority: 100, interface: 'eth0', apiserverPort: 6444, metricsBind: '10.0.0.11' });
    expect(s.hosts['m2']).toEqual({ name: 'm2', address: '10.0.0.12', priority: 200, interface: 'bond0.100', apiserverPort: 6443, metricsBind: '10.0.0.12' });
    expect(inv.secrets).toEqual(['pa55word']);
  });

  test('a dedicated loadbalancers group turns unicast on and keeps masters as backends', () => {
    const text = BASIC + y(['    loadbalancers:', '      hosts:', '        lb1: { ansible_host: 10.0.0.31 }', '        lb2: { ansible_host: 10.0.0.32 }']);
    const s = resolveSettings(parseInventory(text, 'hosts.yaml'));
    expect(s).toMatchObject({ lbGroup: 'loadbalancers', lbHosts: ['lb1', 'lb2'], masters: ['m1', 'm2', 'm3'], unicast: true, primary: 'lb1' });
    expect(s.hosts['lb2']?.priority).toBe(200);
    expect(s.hosts['m1']?.priority).toBe(0);
  });

  test('works on a hand-built Inventory (no source map)', () => {
    const host = (name: string, address: string) => ({
      name,
      vars: { vip: '10.0.0.100' },
      groups: ['all', 'masters'],
      connection: { name, address, port: 22, user: 'u', become: false, becomeUser: 'root' },
    });
    const s = resolveSettings({
      file: '/tmp/hosts.yaml',
      hosts: [host('a', '10.0.0.1'), host('b', '10.0.0.2')],
      groups: { all: ['a', 'b'], masters: ['a', 'b'] },
      secrets: [],
    });
    expect(s.primary).toBe('a');
    expect(() => resolveSettings({ file: '/tmp/hosts.yaml', hosts: [host('a', '10.0.0.100')], groups: { all: ['a'], masters: ['a'] }, secrets: [] })).toThrow(
      "/tmp/hosts.yaml: all.vars.vip: 10.0.0.100 is the address of a; the VIP must be a free address, set vip: <a free IPv4 address in the masters' subnet> under all.vars",
    );
  });

  test('the schema is the single source of the setting names', () => {
    expect(SETTING_NAMES).toEqual(Object.keys(settingsSchema.shape));
    expect(SETTING_NAMES).toContain('virtual_router_id');
  });
});

describe('suggest', () => {
  test('Damerau distance and thresholds', () => {
    expect(editDistance('virtual_router_id', 'virtual_router_idd')).toBe(1);
    expect(editDistance('masters', 'masetrs')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(suggest('virtual_router_idd', SETTING_NAMES)).toBe('virtual_router_id');
    expect(suggest('vipp', SETTING_NAMES)).toBe('vip');
    // kubespray's `ip` is an operator var, not a typo of vip
    expect(suggest('ip', SETTING_NAMES)).toBeUndefined();
    expect(suggest('m4', ['m1', 'm2'], { mode: 'name' })).toBe('m1');
    expect(suggest('xy', ['m1'], { mode: 'name' })).toBeUndefined();
  });
});
