// Bad inventories: every one is a single exact line `<file>:<line>: <path>: <problem>; <fix>`,
// thrown as an InputError (exit 4), before anything connects anywhere.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InputError } from '../../src/errors.js';
import { loadInventory, parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';

const y = (lines: string[]) => lines.join('\n') + '\n';
const M1 = '        m1: { ansible_host: 10.0.0.11 }';
const M2 = '        m2: { ansible_host: 10.0.0.12 }';
/**
 * A good inventory; `vars` lines go under all.vars from line 4 on, `hosts` under masters.hosts.
 * With no extra vars: 1 all, 2 vars, 3 vip, 4 children, 5 masters, 6 hosts, 7 m1, 8 m2.
 */
const inv = (vars: string[] = [], hosts: string[] = [M1, M2], vip = '10.0.0.100') =>
  y(['all:', '  vars:', `    vip: ${vip}`, ...vars, '  children:', '    masters:', '      hosts:', ...hosts]);
const FIX_VIP = "set vip: <a free IPv4 address in the masters' subnet> under all.vars";

const cases: Array<[string, string, string]> = [
  [
    'YAML syntax error with line:col',
    y(['all:', '  vars:', '    vip: 10.0.0.100', '   hosts:', '    m1:']),
    'hosts.yaml:4:1: YAML syntax error: All mapping items must start at the same column; fix the indentation or quoting there',
  ],
  [
    'YAML duplicate key',
    y(['all:', '  vars:', '    vip: 10.0.0.100', '    vip: 10.0.0.101']),
    'hosts.yaml:4:5: vip is listed twice under vars (first on line 3); remove or rename one of them',
  ],
  [
    'YAML duplicate host, flow maps',
    y([
      'all:',
      '  vars:',
      '    vip: 10.0.0.100',
      '  hosts:',
      '    m1: { ansible_host: 10.0.0.11 }',
      '    # a comment',
      '    m2: { ansible_host: 10.0.0.12 }',
      '    m1: { ansible_host: 10.0.0.13 }',
    ]),
    'hosts.yaml:8:5: host m1 is listed twice under hosts (first on line 5); remove or rename one of them',
  ],
  [
    'YAML unclosed quote: the line where it opened',
    y(['all:', '  vars:', "    vip: '10.0.0.100", '  hosts:', '    m1: { ansible_host: 10.0.0.11 }']),
    'hosts.yaml:3:10: YAML syntax error: the single quote opened here is never closed; close it on the same line',
  ],
  [
    'vip with a prefix length',
    y(['all:', '  vars:', '    vip: 10.0.0.100/24', '  hosts:', '    m1: { ansible_host: 10.0.0.11 }']),
    'hosts.yaml:3: all.vars.vip: 10.0.0.100/24 has a prefix length; write the address alone (vip: 10.0.0.100) and the prefix as vip_prefix: 24',
  ],
  [
    'unknown key close to a kha setting',
    inv(['    virtual_router_idd: 52']),
    'hosts.yaml:4: all.vars.virtual_router_idd: unknown kha setting; did you mean virtual_router_id?',
  ],
  [
    'unknown key close to a connection variable',
    inv([], ['        m1: { ansible_host: 10.0.0.11, ansible_prot: 22 }', M2]),
    'hosts.yaml:7: all.children.masters.hosts.m1.ansible_prot: unknown connection variable; did you mean ansible_port?',
  ],
  ['unknown key with a kha prefix', inv(['    vrrp_priority: 100']), 'hosts.yaml:4: all.vars.vrrp_priority: unknown kha setting; did you mean priority?'],
  [
    'unknown key with a kha prefix, nothing close',
    inv(['    haproxy_maxconn: 4000']),
    "hosts.yaml:4: all.vars.haproxy_maxconn: unknown kha setting; names starting with haproxy_ are kha's, the known ones are haproxy_timeout_client, haproxy_timeout_server, haproxy_timeout_connect, haproxy_hard_stop_after, haproxy_version",
  ],
  [
    'missing vip',
    y(['all:', '  vars:', '    ansible_user: ubuntu', '  children:', '    masters:', '      hosts:', M1]),
    `hosts.yaml:2: all.vars.vip: vip is required; ${FIX_VIP}`,
  ],
  ['malformed vip', inv([], [M1, M2], '10.0.0.300'), `hosts.yaml:3: all.vars.vip: 10.0.0.300 is not an IPv4 address; ${FIX_VIP}`],
  [
    'loopback vip',
    inv([], [M1, M2], '127.0.0.1'),
    `hosts.yaml:3: all.vars.vip: 127.0.0.1 is a loopback, multicast or reserved address, not usable as a VIP; ${FIX_VIP}`,
  ],
  [
    'vip equal to a host address',
    inv([], [M1, M2], '10.0.0.12'),
    `hosts.yaml:3: all.vars.vip: 10.0.0.12 is the address of m2; the VIP must be a free address, ${FIX_VIP}`,
  ],
  [
    'virtual_router_id 0',
    inv(['    virtual_router_id: 0']),
    'hosts.yaml:4: all.vars.virtual_router_id: 0 is not a VRRP router id; use a number from 1 to 255 that no other VRRP group on the network uses',
  ],
  [
    'virtual_router_id 256',
    inv(['    virtual_router_id: 256']),
    'hosts.yaml:4: all.vars.virtual_router_id: 256 is not a VRRP router id; use a number from 1 to 255 that no other VRRP group on the network uses',
  ],
  [
    'priority tie at the top',
    inv([], [M1, '        m2: { ansible_host: 10.0.0.12, priority: 250 }']),
    'hosts.yaml:8: all.children.masters.hosts.m2.priority: m1 and m2 both have priority 250: the primary must be unique; give one of them a higher priority',
  ],
  [
    'priority 255',
    inv([], ['        m1: { ansible_host: 10.0.0.11, priority: 255 }', M2]),
    'hosts.yaml:7: all.children.masters.hosts.m1.priority: 255 is not a valid priority; use a number from 1 to 254 (255 is reserved for the address owner)',
  ],
  [
    'vrrp_auth_pass of 9 characters',
    inv(['    vrrp_auth_pass: abcdefghi']),
    'hosts.yaml:4: all.vars.vrrp_auth_pass: VRRP PASS keeps only 8 characters; use at most 8',
  ],
  [
    'vrrp_auth_pass with a space (value not echoed)',
    inv(['    vrrp_auth_pass: "se cret"']),
    'hosts.yaml:4: all.vars.vrrp_auth_pass: vrrp_auth_pass must be 1 to 8 letters, digits or . _ @ % + : = , ^ ~ -; choose such a password',
  ],
  [
    'ansible_port 70000',
    inv([], [M1, '        m2: { ansible_host: 10.0.0.12, ansible_port: 70000 }']),
    'hosts.yaml:8: all.children.masters.hosts.m2.ansible_port: 70000 is not a port; use a number from 1 to 65535',
  ],
  [
    'frontend_port equal to apiserver_port',
    inv(['    frontend_port: 6443']),
    'hosts.yaml:4: all.vars.frontend_port: frontend_port and apiserver_port are both 6443; haproxy and the apiserver need different ports, e.g. frontend_port: 8443',
  ],
  [
    'per-host apiserver_port equal to frontend_port',
    inv([], [M1, '        m2: { ansible_host: 10.0.0.12, apiserver_port: 8443 }']),
    'hosts.yaml:8: all.children.masters.hosts.m2.apiserver_port: frontend_port and apiserver_port are both 8443; haproxy and the apiserver need different ports, e.g. frontend_port: 9443',
  ],
  // the metrics ports (issue 19): their own two, and never a port haproxy or the apiservers listen on
  [
    'metrics_port equal to vrrp_metrics_port',
    inv(['    metrics_port: 9000', '    vrrp_metrics_port: 9000']),
    'hosts.yaml:5: all.vars.vrrp_metrics_port: metrics_port and vrrp_metrics_port are both 9000; give each its own port (defaults 8405 and 8406)',
  ],
  [
    "metrics_port set to vrrp_metrics_port's default",
    inv(['    metrics_port: 8406']),
    'hosts.yaml:4: all.vars.metrics_port: metrics_port and vrrp_metrics_port are both 8406; give each its own port (defaults 8405 and 8406)',
  ],
  [
    'metrics_port equal to frontend_port 8443',
    inv(['    metrics_port: 8443']),
    'hosts.yaml:4: all.vars.metrics_port: metrics_port 8443 is already the frontend_port; choose another port (default 8405)',
  ],
  [
    "metrics_port 8404, haproxy's local monitor",
    inv(['    metrics_port: 8404']),
    "hosts.yaml:4: all.vars.metrics_port: metrics_port 8404 is already haproxy's local monitor port; choose another port (default 8405)",
  ],
  [
    'vrrp_metrics_port equal to apiserver_port',
    inv(['    vrrp_metrics_port: 6443']),
    'hosts.yaml:4: all.vars.vrrp_metrics_port: vrrp_metrics_port 6443 is already the apiserver_port; choose another port (default 8406)',
  ],
  [
    "frontend_port set to metrics_port's default: the line written, not one nobody wrote",
    inv(['    frontend_port: 8405']),
    "hosts.yaml:4: all.vars.frontend_port: frontend_port 8405 is also the default metrics_port (haproxy's metrics); choose another frontend_port, or set metrics_port to a free port",
  ],
  [
    'per-host apiserver_port equal to the metrics port',
    inv([], [M1, '        m2: { ansible_host: 10.0.0.12, apiserver_port: 8405 }']),
    'hosts.yaml:8: all.children.masters.hosts.m2.apiserver_port: 8405 is also a metrics port on m2 (metrics_port / vrrp_metrics_port); choose another apiserver_port, or move the metrics ports',
  ],
  [
    'metrics_bind the VIP, on a host',
    inv([], [M1, '        m2: { ansible_host: 10.0.0.12, metrics_bind: 10.0.0.100 }']),
    "hosts.yaml:8: all.children.masters.hosts.m2.metrics_bind: 10.0.0.100 is the VIP; metrics are per host: use the host's own address (the default) or 0.0.0.0",
  ],
  [
    'metrics_bind the VIP, for every host',
    inv(['    metrics_bind: 10.0.0.100']),
    "hosts.yaml:4: all.vars.metrics_bind: 10.0.0.100 is the VIP; metrics are per host: use the host's own address (the default) or 0.0.0.0",
  ],
  [
    'metrics_bind not an address',
    inv([], [M1, '        m2: { ansible_host: 10.0.0.12, metrics_bind: eth0 }']),
    'hosts.yaml:8: all.children.masters.hosts.m2.metrics_bind: eth0 is not an IPv4 address; set metrics_bind to an address of the host (default: its own address) or 0.0.0.0',
  ],
  ['metrics not a boolean', inv(['    metrics: maybe']), 'hosts.yaml:4: all.vars.metrics: maybe is not a boolean; set metrics: true or false'],
  [
    'host name with ;',
    inv([], ['        "m1;reboot": { ansible_host: 10.0.0.11 }']),
    `hosts.yaml:7: all.children.masters.hosts."m1;reboot": "m1;reboot" is not a safe host name; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
  ],
  [
    'host name with a newline',
    inv([], ['        "m1\\nreboot": { ansible_host: 10.0.0.11 }']),
    `hosts.yaml:7: all.children.masters.hosts."m1\\nreboot": "m1\\nreboot" is not a safe host name; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
  ],
  [
    'host range that ends before it starts',
    inv([], ['        "m[3:1]":']),
    'hosts.yaml:7: all.children.masters.hosts."m[3:1]": "m[3:1]": the range starts after it ends (3 > 1); write the smaller bound first',
  ],
  [
    'ansible_host $(reboot)',
    inv([], ['        m1: { ansible_host: "$(reboot)" }']),
    'hosts.yaml:7: all.children.masters.hosts.m1.ansible_host: "$(reboot)" is not an IPv4 address or a host name; use an address like 10.0.0.11 or a name like m1.example.com',
  ],
  [
    'ansible_host a Jinja template',
    inv([], ['        m1: { ansible_host: "{{ ip }}" }']),
    'hosts.yaml:7: all.children.masters.hosts.m1.ansible_host: "{{ ip }}" is a Jinja template; kha does not evaluate templates, write the value itself',
  ],
  [
    'ansible_user with a space',
    inv(['    ansible_user: "Root User"']),
    'hosts.yaml:4: all.vars.ansible_user: "Root User" is not a valid user name; use a name like ubuntu (lowercase letters, digits, _ . -, starting with a letter or _)',
  ],
  [
    'ansible_become not a boolean',
    inv(['    ansible_become: sometimes']),
    'hosts.yaml:4: all.vars.ansible_become: sometimes is not a boolean; set ansible_become: true or false',
  ],
  [
    'interface name with shell metacharacters',
    inv(['    vrrp_interface: "eth0;reboot"']),
    'hosts.yaml:4: all.vars.vrrp_interface: "eth0;reboot" is not an interface name; use the Linux name of the interface (up to 15 letters, digits or _ . : @ -), e.g. eth0',
  ],
  [
    'package version that is an option (apt install haproxy=--allow-downgrades)',
    inv(['    haproxy_version: "--allow-downgrades"']),
    'hosts.yaml:4: all.vars.haproxy_version: --allow-downgrades is not a package version; use letters, digits and . : + ~ -, e.g. 2.8.5-1',
  ],
  [
    'interface name that is an option (ip addr show dev --help)',
    inv(['    vrrp_interface: "--help"']),
    'hosts.yaml:4: all.vars.vrrp_interface: --help is not an interface name; use the Linux name of the interface (up to 15 letters, digits or _ . : @ -), e.g. eth0',
  ],
  [
    'lb host without an IPv4',
    inv([], ['        m1: { ansible_host: m1.example.com }', M2]),
    'hosts.yaml:7: all.children.masters.hosts.m1.ansible_host: m1.example.com is not an IPv4 address; keepalived (VRRP) and haproxy need the IPv4 of every master and load balancer, set ansible_host: <its IPv4>',
  ],
  [
    'lb host without ansible_host',
    inv([], ['        m1:', M2]),
    'hosts.yaml:7: all.children.masters.hosts.m1: m1 has no ansible_host and its name is not an IPv4 address; keepalived (VRRP) and haproxy need the IPv4 of every master and load balancer, set ansible_host: <its IPv4>',
  ],
  ['empty file', '', 'hosts.yaml: the inventory is empty; add an all: group with hosts and vars'],
  ['file with only comments', '# nothing yet\n\n', 'hosts.yaml: the inventory is empty; add an all: group with hosts and vars'],
  [
    'INI inventory (told by its first line, whatever the name): its errors name the INI line',
    y(['# kubeasz hosts', '[kube_master]', '10.0.0.11 ansible_user=root ansible_port=70000']),
    'hosts.yaml:3: [kube_master] 10.0.0.11 ansible_port: 70000 is not a port; use a number from 1 to 65535',
  ],
  [
    'top level is a list',
    y(['- m1', '- m2']),
    'hosts.yaml:1: (top level): the inventory is a list, not a mapping of groups; start the file with all: and put hosts, vars and children under it',
  ],
  [
    'missing masters group',
    y(['all:', '  vars:', '    vip: 10.0.0.100', '  hosts:', '    m1: { ansible_host: 10.0.0.11 }']),
    'hosts.yaml:1: all.children: no masters group; add a group named masters (or kube_control_plane, kube_master) with at least one host',
  ],
  [
    'masters group misspelled',
    y(['all:', '  vars:', '    vip: 10.0.0.100', '  children:', '    master:', '      hosts:', M1]),
    'hosts.yaml:5: all.children.master: no masters group; rename master to masters (kha also accepts kube_control_plane, kube_master)',
  ],
  [
    'empty masters group',
    y(['all:', '  vars:', '    vip: 10.0.0.100', '  hosts:', '    m1: { ansible_host: 10.0.0.11 }', '  children:', '    masters:', '      hosts: {}']),
    'hosts.yaml:7: all.children.masters: the masters group has no hosts; add at least one host under masters.hosts (or a child group with hosts)',
  ],
  [
    'no hosts at all',
    y(['all:', '  vars:', '    vip: 10.0.0.100']),
    "hosts.yaml:1: all: the inventory has no hosts; add hosts under all.hosts or under a group's hosts:",
  ],
  [
    'duplicate address',
    inv([], [M1, '        m2: { ansible_host: 10.0.0.11 }']),
    'hosts.yaml:8: all.children.masters.hosts.m2.ansible_host: m1 and m2 both connect to 10.0.0.11:22; give each host its own ansible_host (or ansible_port)',
  ],
  [
    'bad lb_algorithm',
    inv(['    lb_algorithm: random']),
    'hosts.yaml:4: all.vars.lb_algorithm: random is not a load-balancing algorithm kha supports; use roundrobin or leastconn',
  ],
  [
    'bad haproxy timeout',
    inv(['    haproxy_timeout_client: 4 hours']),
    'hosts.yaml:4: all.vars.haproxy_timeout_client: "4 hours" is not a haproxy time; use a number with an optional unit (us, ms, s, m, h, d), e.g. haproxy_timeout_client: 4h',
  ],
  [
    'bad vip_wait_timeout',
    inv(['    vip_wait_timeout: soon']),
    'hosts.yaml:4: all.vars.vip_wait_timeout: soon is not a duration; use seconds from 1 to 86400, e.g. 30, 30s or 2m',
  ],
  [
    'bad health path',
    inv(['    apiserver_health_path: "readyz; reboot"']),
    'hosts.yaml:4: all.vars.apiserver_health_path: "readyz; reboot" is not a safe URL path; use a path like /readyz (letters, digits and / _ . ? = & -)',
  ],
  [
    'a cluster-wide setting on a host',
    inv([], ['        m1: { ansible_host: 10.0.0.11, vip: 10.0.0.99 }', M2]),
    "hosts.yaml:7: all.children.masters.hosts.m1.vip: vip is cluster-wide; set it under all.vars (or the masters group's vars), not on a host",
  ],
  [
    'a cluster-wide setting in a group kha does not read',
    inv([], [M1, M2, '    loadbalancers:', '      vars: { virtual_router_id: 60 }', '      hosts:', '        lb1: { ansible_host: 10.0.0.31 }']),
    "hosts.yaml:10: all.children.loadbalancers.vars.virtual_router_id: kha reads virtual_router_id only from all.vars or the masters group's vars; move it there",
  ],
  [
    'unknown group key',
    y(['all:', '  vars:', '    vip: 10.0.0.100', '  children:', '    masters:', '      host:', M1]),
    'hosts.yaml:6: all.children.masters.host: unknown group key; did you mean hosts?',
  ],
  [
    'hosts written directly under a group',
    y(['all:', '  children:', '    masters:', '      m1:', '      m2:']),
    'hosts.yaml:4: all.children.masters.m1: unknown key in group masters; a group holds only hosts, vars and children (hosts go under hosts:, variables under vars:)',
  ],
  [
    'hosts as a list',
    y(['all:', '  children:', '    masters:', '      hosts: [m1, m2]']),
    'hosts.yaml:4: all.children.masters.hosts: hosts must be a mapping, not a list; write each host as "name:" on its own line under hosts:',
  ],
  [
    'a host whose value is an address',
    y(['all:', '  hosts:', '    m1: 10.0.0.11']),
    "hosts.yaml:3: all.hosts.m1: a host's value must be its variables, not 10.0.0.11; write m1: { ansible_host: <address> } or leave it empty",
  ],
  [
    'a group cycle',
    y(['all:', '  children:', '    a:', '      hosts: { m1: }', '      children: { b: }', '    b:', '      children: { a: }']),
    'hosts.yaml:3: all.children.a: group a is its own ancestor (a > b > a); remove one of these children entries',
  ],
  [
    'a __proto__ variable',
    inv(['    __proto__: { ansible_host: 10.9.9.9 }']),
    'hosts.yaml:4: all.vars.__proto__: __proto__ is not a usable variable name; rename the variable',
  ],
  [
    'a host that is also a group',
    y(['all:', '  hosts:', '    masters:', '  children:', '    masters:', '      hosts: { m1: }']),
    'hosts.yaml:3: all.hosts.masters: masters is both a host and a group; rename one of them',
  ],
];

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, nothing was thrown');
}

describe('bad inventories: one exact line, InputError, exit 4', () => {
  test.each(cases)('%s', (_name, text, message) => {
    const run = () => resolveSettings(parseInventory(text, 'hosts.yaml'));
    expect(run).toThrow(new InputError(message));
    const err = errorOf(run);
    expect(err.message).toBe(message);
    expect(err.message).not.toMatch(/[\r\n]/);
    expect(err.exit).toBe(4);
    expect(err.code).toBe('E_INPUT');
  });

  test('secrets never appear in messages', () => {
    const err = errorOf(() => parseInventory(inv(['    vrrp_auth_pass: "se cret"']), 'hosts.yaml'));
    expect(err.message).not.toContain('se cret');
    const err2 = errorOf(() => parseInventory(inv(['    ansible_become_pass: "line1\\nline2"']), 'hosts.yaml'));
    expect(err2.message).toBe('hosts.yaml:4: all.vars.ansible_become_pass: a password must be a non-empty single-line string; quote it in the inventory');
  });
});

describe('files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kha-inv-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a directory', async () => {
    const err = await loadInventory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe(
      `${dir}: no inventory file in this directory; kha reads one of hosts.yaml, hosts.yml, inventory.ini, hosts.ini, hosts (or pass the inventory file itself with -i)`,
    );
    expect((err as InputError).exit).toBe(4);
  });

  test('a missing file', async () => {
    const file = path.join(dir, 'nope.yaml');
    const err = await loadInventory(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe(`${file}: not found; pass the path of the inventory with -i`);
    expect((err as InputError).exit).toBe(4);
  });

  test('an empty file on disk, and errors name the file as given', async () => {
    const file = path.join(dir, 'empty.yaml');
    await writeFile(file, '\n');
    await expect(loadInventory(file)).rejects.toThrow(new InputError(`${file}: the inventory is empty; add an all: group with hosts and vars`));
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, inv(['    advert_int: 0']));
    await expect(loadInventory(bad)).rejects.toThrow(
      new InputError(`${bad}:4: all.vars.advert_int: 0 is not an advertisement interval; use whole seconds from 1 to 255 (default 1)`),
    );
  });
});
