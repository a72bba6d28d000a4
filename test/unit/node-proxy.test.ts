// Node-local proxy and /etc/hosts: the settings (groups, defaults, errors with file:line), the pure
// renderers (golden files, byte for byte), the task lists and the status parsers.
//
// Regenerate the goldens after an intended change with
//     npx vitest run --project unit test/unit/node-proxy.test.ts -u
// and READ THE DIFF. They were checked with the real tools on Debian bookworm (haproxy 2.6
// `haproxy -c -f`, nginx 1.22 + libnginx-mod-stream `nginx -t -c`).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parseInventory } from '../../src/inventory/load.js';
import { DEFAULT_API_ENDPOINT_NAME, resolveSettings } from '../../src/inventory/settings.js';
import {
  countNginxServers,
  nginxModulesInclude,
  nginxPackages,
  renderNodeHaproxy,
  renderNodeNginx,
  type NodeHaproxyVars,
  type NodeNginxVars,
} from '../../src/roles/node-proxy.js';
import { etcHostsEntries, renderEtcHostsBlock } from '../../src/roles/etc-hosts.js';
import { etcHostsTargets, etcHostsTasks, nodeHaproxyVars, nodeProxyHandlers, nodeProxyTasks } from '../../src/roles/nodes.js';
import { changedHosts, nodePreflightErrors } from '../../src/actions/nodes.js';
import { proxyAnswered, proxyProbeScript } from '../../src/actions/probes.js';
import { nginxProbeScript, nodeProxyProblem, parseNodeStatus, renderNodeProxyTable } from '../../src/actions/status.js';
import { fakeFacts } from '../helpers/fake-conn.js';

const GOLDEN_DIR = fileURLToPath(new URL('../golden/', import.meta.url));
/** Byte for byte against test/golden/<name> (vitest's file snapshot: `-u` rewrites it). */
function golden(name: string, actual: string): Promise<void> {
  return expect(actual).toMatchFileSnapshot(join(GOLDEN_DIR, name));
}

const y = (lines: string[]) => lines.join('\n') + '\n';

/** 3 masters, 3 nodes (kubespray puts the masters in kube_node too), 2 load balancers */
const TOPO = (vars: string[] = [], nodesGroup = 'kube_node') =>
  y([
    'all:',
    '  vars:',
    '    vip: 10.0.0.100',
    ...vars.map((v) => `    ${v}`),
    '  hosts:',
    '    m1: { ansible_host: 10.0.0.11 }',
    '    m2: { ansible_host: 10.0.0.12 }',
    '    m3: { ansible_host: 10.0.0.13 }',
    '    n1: { ansible_host: 10.0.0.21 }',
    '    n2: { ansible_host: 10.0.0.22, apiserver_port: 7443 }',
    '    n3: { ansible_host: 10.0.0.23 }',
    '    lb1: { ansible_host: 10.0.0.31 }',
    '    lb2: { ansible_host: 10.0.0.32 }',
    '  children:',
    '    kube_control_plane:',
    '      hosts: { m1: , m2: , m3: }',
    `    ${nodesGroup}:`,
    '      hosts: { m1: , m2: , m3: , n1: , n2: , n3: , lb1: }',
    '    loadbalancers:',
    '      hosts: { lb1: , lb2: }',
  ]);

describe('settings', () => {
  test('defaults: no proxy, no /etc/hosts; nodes are the nodes group minus masters and lb hosts; nodes not in hosts', () => {
    const s = resolveSettings(parseInventory(TOPO(), 'hosts.yaml'));
    expect(s).toMatchObject({
      nodes: ['n1', 'n2', 'n3'],
      nodeLocalProxy: false,
      nodeProxy: 'haproxy',
      manageEtcHosts: false,
      apiEndpointName: DEFAULT_API_ENDPOINT_NAME,
    });
    expect(DEFAULT_API_ENDPOINT_NAME).toBe('kube-apiserver.kha.internal');
    expect(s.hosts['n1']).toBeUndefined();
  });

  test.each(['nodes', 'kube_node', 'kube-node'])('group %s, node_local_proxy: the nodes join hosts with their own apiserver_port', (g) => {
    const s = resolveSettings(parseInventory(TOPO(['node_local_proxy: yes', 'node_proxy: nginx'], g), 'hosts.yaml'));
    expect(s.nodes).toEqual(['n1', 'n2', 'n3']);
    expect(s.nodeLocalProxy).toBe(true);
    expect(s.nodeProxy).toBe('nginx');
    expect(s.hosts['n1']).toEqual({ name: 'n1', address: '10.0.0.21', priority: 0, apiserverPort: 6443, metricsBind: '10.0.0.21' });
    expect(s.hosts['n2']?.apiserverPort).toBe(7443);
    // the load balancers and masters are unchanged
    expect(s.lbHosts).toEqual(['lb1', 'lb2']);
    expect(s.hosts['lb1']?.priority).toBeGreaterThan(0);
    expect(s.hosts['m1']?.priority).toBe(0);
  });

  test('manage_etc_hosts and api_endpoint_name', () => {
    const s = resolveSettings(parseInventory(TOPO(['manage_etc_hosts: true', 'api_endpoint_name: api.prod.example.com']), 'hosts.yaml'));
    expect(s.manageEtcHosts).toBe(true);
    expect(s.apiEndpointName).toBe('api.prod.example.com');
    expect(Object.keys(s.hosts).sort()).toEqual(['lb1', 'lb2', 'm1', 'm2', 'm3', 'n1', 'n2', 'n3']);
  });

  test.each([
    [
      'node_local_proxy without a nodes group',
      y([
        'all:',
        '  vars:',
        '    vip: 10.0.0.100',
        '    node_local_proxy: true',
        '  children:',
        '    masters:',
        '      hosts:',
        '        m1: { ansible_host: 10.0.0.11 }',
      ]),
      'hosts.yaml:4: all.vars.node_local_proxy: node_local_proxy is true but there is no nodes group; add a group named nodes (or kube_node) with the worker hosts, or set node_local_proxy: false',
    ],
    [
      'node_local_proxy when every node is a master',
      y([
        'all:',
        '  vars:',
        '    vip: 10.0.0.100',
        '    node_local_proxy: true',
        '  children:',
        '    masters:',
        '      hosts:',
        '        m1: { ansible_host: 10.0.0.11 }',
        '    nodes:',
        '      hosts:',
        '        m1:',
      ]),
      'hosts.yaml:4: all.vars.node_local_proxy: node_local_proxy is true but every host of nodes is also a master or load balancer (they need no node-local proxy); add the worker hosts to nodes, or set node_local_proxy: false',
    ],
    [
      'a node without an IPv4',
      y([
        'all:',
        '  vars:',
        '    vip: 10.0.0.100',
        '    manage_etc_hosts: true',
        '  children:',
        '    masters:',
        '      hosts:',
        '        m1: { ansible_host: 10.0.0.11 }',
        '    nodes:',
        '      hosts:',
        '        w1: { ansible_host: w1.example.com }',
      ]),
      'hosts.yaml:11: all.children.nodes.hosts.w1.ansible_host: w1.example.com is not an IPv4 address; with manage_etc_hosts kha needs the IPv4 of every node, set ansible_host: <its IPv4>',
    ],
  ])('%s is an error with file:line', (_n, text, message) => {
    expect(() => resolveSettings(parseInventory(text, 'hosts.yaml'))).toThrow(message);
  });

  test.each([
    ['node_proxy: envoy', 'hosts.yaml:3: all.vars.node_proxy: envoy is not a node-local proxy kha supports; use haproxy or nginx'],
    ['node_local_proxy: maybe', 'hosts.yaml:3: all.vars.node_local_proxy: maybe is not a boolean; set node_local_proxy: true or false'],
    ['api_endpoint_name: "api server.local"', 'hosts.yaml:3: all.vars.api_endpoint_name: "api server.local" is not a host name'],
    ['api_endpoint_name: -api.example.com', 'is not a host name'],
  ])('%s is refused when the file is loaded', (line, message) => {
    const text = y([
      'all:',
      '  vars:',
      `    ${line}`,
      '    vip: 10.0.0.100',
      '  children:',
      '    masters:',
      '      hosts:',
      '        m1: { ansible_host: 10.0.0.11 }',
    ]);
    expect(() => resolveSettings(parseInventory(text, 'hosts.yaml'))).toThrow(message);
  });

  test('a node without an IPv4 is fine while neither feature needs nodes (kubespray inventories load as before)', () => {
    const text = y([
      'all:',
      '  vars:',
      '    vip: 10.0.0.100',
      '  children:',
      '    masters:',
      '      hosts:',
      '        m1: { ansible_host: 10.0.0.11 }',
      '    nodes:',
      '      hosts:',
      '        w1: { ansible_host: w1.example.com }',
    ]);
    expect(resolveSettings(parseInventory(text, 'hosts.yaml')).nodes).toEqual(['w1']);
  });
});

const backends = [
  { name: 'm1', address: '10.0.0.11', port: 6443 },
  { name: 'm2', address: '10.0.0.12', port: 6443 },
  { name: 'm3', address: '10.0.0.13', port: 6443 },
];
const hvars: NodeHaproxyVars = {
  listenPort: 6443,
  backends,
  healthPath: '/readyz',
  timeouts: { connect: '5s', client: '4h', server: '4h', tunnel: '4h' },
  statsSocket: '/run/haproxy/admin.sock',
};
const nvars: NodeNginxVars = { listenPort: 6443, backends, user: 'www-data', modulesInclude: '/etc/nginx/modules-enabled/*.conf' };

describe('renderers (golden)', () => {
  test('haproxy for a node', async () => {
    const out = renderNodeHaproxy(hvars);
    await golden('node-proxy.haproxy.cfg', out);
    // haproxy before 2.4: keepalive on the kernel's timers (facts/versions.ts KEYWORD_GATES)
    await golden('haproxy-2.2/node-proxy.haproxy.cfg', renderNodeHaproxy({ ...hvars, tcpKeepaliveTimers: false }));
    expect(out).toContain('    bind 127.0.0.1:6443\n');
    expect(out).toContain('    balance leastconn\n');
    expect(out).toMatch(
      /default-server check check-ssl verify none inter 2s fastinter 500ms downinter 500ms fall 3 rise 2 observe layer4 error-limit 10 on-error mark-down/,
    );
    expect(out.match(/^ {4}server m\d 10\.0\.0\.1\d:6443$/gm)).toHaveLength(3);
    expect(out).toContain('    master-worker\n');
    expect(out).toContain('stats socket /run/haproxy/admin.sock');
  });

  test('nginx for a node (a full main config: nginx -t -c checks only those)', async () => {
    const out = renderNodeNginx(nvars);
    await golden('node-proxy.nginx.conf', out);
    expect(out).toContain('        least_conn;\n');
    expect(out).toContain('        listen 127.0.0.1:6443;\n');
    expect(out).toContain('        proxy_timeout 10m;\n');
    expect(out).toContain('        proxy_connect_timeout 1s;\n');
    expect(out).toContain('pid /run/nginx.pid;\n');
    expect(out).toContain('server 10.0.0.12:6443 max_fails=1 fail_timeout=10s; # m2');
    expect(out).not.toMatch(/^http\s*\{/m);
    expect(countNginxServers(out)).toBe(3);
  });

  test('/etc/hosts block', async () => {
    const s = resolveSettings(parseInventory(TOPO(['manage_etc_hosts: true']), 'hosts.yaml'));
    const out = renderEtcHostsBlock(etcHostsEntries(s));
    await golden('node-proxy.etc-hosts.block', out);
    expect(out.split('\n')[0]).toBe('10.0.0.100 kube-apiserver.kha.internal');
    expect(etcHostsTargets(s)).toEqual(['m1', 'm2', 'm3', 'lb1', 'lb2', 'n1', 'n2', 'n3']);
  });

  test('IPv6 backends and listen address are bracketed for nginx, not for haproxy', () => {
    const v6 = [{ name: 'm1', address: 'fd00::11', port: 6443 }];
    expect(renderNodeNginx({ ...nvars, backends: v6, listenAddress: '::1' })).toContain('listen [::1]:6443;');
    expect(renderNodeNginx({ ...nvars, backends: v6 })).toContain('server [fd00::11]:6443 ');
    expect(renderNodeHaproxy({ ...hvars, backends: v6 })).toContain('server m1 fd00::11:6443');
  });

  test.each<[string, () => string, RegExp]>([
    ['no backends', () => renderNodeHaproxy({ ...hvars, backends: [] }), /backends: \[\] must list at least one apiserver/],
    ['a duplicate backend', () => renderNodeNginx({ ...nvars, backends: [backends[0]!, backends[0]!] }), /is listed twice/],
    [
      'a bad address',
      () => renderNodeHaproxy({ ...hvars, backends: [{ name: 'm1', address: '10.0.0.1 ; x', port: 6443 }] }),
      /must be an IPv4 or IPv6 address/,
    ],
    ['an injected health path', () => renderNodeHaproxy({ ...hvars, healthPath: '/readyz\n    bind *:1' }), /healthPath/],
    ['a bad nginx time', () => renderNodeNginx({ ...nvars, proxyTimeout: '10 m' }), /proxyTimeout/],
    ['a bad nginx user', () => renderNodeNginx({ ...nvars, user: 'www data;' }), /user/],
    ['a bad module include', () => renderNodeNginx({ ...nvars, modulesInclude: 'modules/*.conf' }), /modulesInclude/],
    ['a bad hosts name', () => renderEtcHostsBlock([{ address: '10.0.0.1', names: ['a b'] }]), /must be a host name/],
  ])('value guards: %s', (_n, f, re) => {
    expect(f).toThrow(re);
  });

  test('nginx packages and module include by package manager', () => {
    expect(nginxPackages('apt')).toEqual(['nginx', 'libnginx-mod-stream']);
    expect(nginxPackages('dnf')).toEqual(['nginx', 'nginx-mod-stream']);
    expect(nginxModulesInclude('apt')).toBe('/etc/nginx/modules-enabled/*.conf');
    expect(nginxModulesInclude('yum')).toBe('/usr/share/nginx/modules/*.conf');
  });
});

describe('tasks, probes and status', () => {
  const s = resolveSettings(parseInventory(TOPO(['node_local_proxy: true', 'manage_etc_hosts: true']), 'hosts.yaml'));

  test('haproxy tasks: validated config with a reload, the other proxy retired before the start', () => {
    const tasks = nodeProxyTasks(s);
    expect(tasks.map((t) => t.module.name)).toEqual(['package', 'file', 'template', 'template', 'template', 'template', 'command', 'service', 'applied']);
    expect((tasks[5]!.params as { path: string }).path).toBe('/etc/haproxy/kha-server-state.pl');
    const cfg = tasks[4]!;
    const p = (cfg.params as (hc: unknown) => { path: string; validate: string[]; content: string })({ host: { name: 'n2' }, facts: fakeFacts() });
    expect(p.path).toBe('/etc/haproxy/haproxy.cfg');
    expect(p.validate).toEqual(['haproxy', '-c', '-q', '-f', '%s']);
    expect(p.content).toContain('bind 127.0.0.1:7443');
    expect(cfg.notify).toEqual(['reload haproxy']);
    expect(nodeHaproxyVars(s, 'n1').backends.map((b) => b.name)).toEqual(['m1', 'm2', 'm3']);
  });

  test('nginx tasks: packages by distro, nginx -t -c validation', () => {
    const tasks = nodeProxyTasks({ ...s, nodeProxy: 'nginx' });
    expect(tasks.map((t) => t.module.name)).toEqual(['package', 'template', 'command', 'service', 'applied']);
    const hc = { host: { name: 'n1' }, facts: fakeFacts({ pkgMgr: 'dnf' }) };
    expect((tasks[0]!.params as (h: unknown) => { names: string[] })(hc).names).toEqual(['nginx', 'nginx-mod-stream']);
    const t = (tasks[1]!.params as (h: unknown) => { validate: string[]; content: string })(hc);
    expect(t.validate).toEqual(['nginx', '-t', '-q', '-c', '%s']);
    expect(t.content).toContain('user nginx;');
    expect(t.content).toContain('include /usr/share/nginx/modules/*.conf;');
    expect(nodeProxyHandlers().map((h) => h.name)).toEqual(['restart haproxy', 'reload haproxy', 'restart nginx', 'reload nginx']);
  });

  test('the hosts a run changes (for the lock)', () => {
    expect(changedHosts(s)).toEqual(['lb1', 'lb2', 'n1', 'n2', 'n3', 'm1', 'm2', 'm3']);
    expect(changedHosts({ ...s, manageEtcHosts: false })).toEqual(['lb1', 'lb2', 'n1', 'n2', 'n3']);
    expect(changedHosts({ ...s, manageEtcHosts: false, nodeLocalProxy: false })).toEqual(['lb1', 'lb2']);
  });

  test('/etc/hosts task', () => {
    const [t] = etcHostsTasks(s);
    expect(t!.module.name).toBe('blockinfile');
    expect((t!.params as { path: string; block: string }).path).toBe('/etc/hosts');
    expect((t!.params as { block: string }).block).toContain('10.0.0.21  n1\n');
  });

  test('node preflight: a foreign listener on the proxy port is refused, our own proxy is fine', () => {
    const busy = fakeFacts({ listening: [{ address: '0.0.0.0', port: 6443, process: 'python3' }] });
    const ours = fakeFacts({ listening: [{ address: '127.0.0.1', port: 6443, process: 'haproxy' }] });
    const other = fakeFacts({ listening: [{ address: '10.0.0.21', port: 6443, process: 'kube-apiserver' }] });
    const errs = nodePreflightErrors(s, { n1: busy, n2: ours, n3: other });
    expect(errs).toEqual([
      'n1: port 6443 is already in use by python3 (0.0.0.0:6443); the node-local proxy listens on 127.0.0.1:6443. A kube-apiserver here? Then n1 is a master: list it under kube_control_plane, not only under the nodes group',
    ]);
    expect(nodePreflightErrors(s, { n1: fakeFacts({ pkgMgr: null, systemd: false }) })).toHaveLength(2);
  });

  test.each([
    ['200', true],
    ['401', true],
    ['tcp\n', true],
    ['000', false],
    ['503', false],
    ['', false],
  ])('probe answer %j -> %s', (out, ok) => {
    expect(proxyAnswered(out)).toBe(ok);
  });

  test('probe script: curl, else bash /dev/tcp', () => {
    const sc = proxyProbeScript(6443);
    expect(sc).toContain("curl -sk --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' https://127.0.0.1:6443/healthz");
    expect(sc).toContain("timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6443' && echo tcp");
  });

  test("status: haproxy from the stats socket, nginx from the config and the node's own probe", () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status',
      'kube-apiserver-local,FRONTEND,,,0,0,,0,0,0,0,0,0,,,,,OPEN',
      'kube-apiservers,m1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP',
      'kube-apiservers,m2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN',
      'kube-apiservers,m3,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2',
      'kube-apiservers,BACKEND,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP',
    ].join('\n');
    const base = { name: 'n1', address: '10.0.0.21' };
    const h = parseNodeStatus(`@@kha-node@@active\nactive\n@@kha-node@@stat\n${csv}\n@@kha-node@@end\n`, { ...base, proxy: 'haproxy' });
    expect(h).toEqual({ ...base, proxy: 'haproxy', active: 'active', backendsUp: 2, backendsTotal: 3, managed: true });
    const conf = renderNodeNginx(nvars);
    const n = parseNodeStatus(`@@kha-node@@active\ninactive\n@@kha-node@@conf\n${conf}@@kha-node@@end\n`, { ...base, proxy: 'nginx' });
    expect(n).toEqual({ ...base, proxy: 'nginx', active: 'inactive', backendsUp: null, backendsTotal: 3, managed: true });
    const probed = `up 10.0.0.11 6443\ndown 10.0.0.12 6443\nup 10.0.0.13 6443\n`;
    const p = parseNodeStatus(`@@kha-node@@active\nactive\n@@kha-node@@conf\n${conf}@@kha-node@@probe\n${probed}@@kha-node@@end\n`, {
      ...base,
      name: 'n2',
      proxy: 'nginx',
    });
    expect(p).toEqual({ ...base, name: 'n2', proxy: 'nginx', active: 'active', backendsUp: 2, backendsTotal: 3, managed: true });
    expect(renderNodeProxyTable([h, n, p])).toBe(
      [
        'NODE  ADDRESS    PROXY    STATE     BACKENDS',
        'n1    10.0.0.21  haproxy  active    2/3',
        'n1    10.0.0.21  nginx    inactive  ?/3',
        'n2    10.0.0.21  nginx    active    2/3 (tcp probe from the node)',
        '',
      ].join('\n'),
    );
  });

  test('status exit: a node whose proxy is down or reaches no master is a problem; degraded or unreachable nodes are not', () => {
    const row = (name: string, active: string, up: number | null, total: number | null) => ({
      name,
      address: '10.0.0.2',
      proxy: 'haproxy' as const,
      active,
      backendsUp: up,
      backendsTotal: total,
    });
    expect(nodeProxyProblem([])).toBeUndefined();
    expect(
      nodeProxyProblem([row('n1', 'active', 3, 3), row('n2', 'active', 1, 3), row('n3', 'unreachable', null, null), row('n4', 'active', null, 3)]),
    ).toBeUndefined();
    expect(nodeProxyProblem([row('n1', 'active', 3, 3), row('n2', 'inactive', null, null), row('n3', 'active', 0, 3), row('n4', 'failed', 0, 3)])).toBe(
      'no path to an apiserver through the node-local proxy on n2 (haproxy inactive), n3 (0/3 masters up), n4 (haproxy failed)',
    );
    // bootstrap (no load balancer counts an apiserver up): reaching no master is expected; a proxy down is not
    expect(nodeProxyProblem([row('n1', 'active', 0, 3), row('n2', 'active', 0, 3)], { bootstrap: true })).toBeUndefined();
    expect(nodeProxyProblem([row('n1', 'active', 0, 3), row('n2', 'failed', 0, 3)], { bootstrap: true })).toBe(
      'no path to an apiserver through the node-local proxy on n2 (haproxy failed)',
    );
  });

  test("nginx probe script: sh and bash against this machine's loopback finds the listening server and the closed one", async () => {
    const { createServer } = await import('node:net');
    const { execFileSync } = await import('node:child_process');
    const { tmpdir } = await import('node:os');
    const { mkdtempSync } = await import('node:fs');
    const srv = createServer((c) => c.end());
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
    const open = (srv.address() as { port: number }).port;
    const closedSrv = createServer();
    await new Promise<void>((res) => closedSrv.listen(0, '127.0.0.1', () => res()));
    const closed = (closedSrv.address() as { port: number }).port;
    await new Promise<void>((res) => closedSrv.close(() => res()));
    try {
      const dir = mkdtempSync(join(tmpdir(), 'kha-nginx-probe-'));
      const confPath = join(dir, 'nginx $(touch x).conf');
      const conf = renderNodeNginx({
        ...nvars,
        backends: [
          { name: 'up', address: '127.0.0.1', port: open },
          { name: 'down', address: '127.0.0.1', port: closed },
        ],
      });
      writeFileSync(confPath, conf);
      const out = await new Promise<string>((res, rej) => {
        // async, so this process's event loop can accept the probe's connection
        import('node:child_process').then(({ execFile }) =>
          // sh, as on the hosts; the marker after it proves every probe line comes before it
          execFile('sh', ['-c', `${nginxProbeScript(confPath)}\necho @@end`], { cwd: dir }, (err, stdout) => (err ? rej(err) : res(stdout))),
        );
      });
      const lines = out.trim().split('\n');
      expect(lines.pop()).toBe('@@end');
      expect(lines.sort()).toEqual([`down 127.0.0.1 ${closed}`, `up 127.0.0.1 ${open}`]);
      expect(execFileSync('ls', [dir]).toString()).not.toMatch(/^x$/m);
      const row = parseNodeStatus(`@@kha-node@@active\nactive\n@@kha-node@@conf\n${conf}@@kha-node@@probe\n${out}@@kha-node@@end\n`, {
        name: 'n1',
        address: '10.0.0.21',
        proxy: 'nginx',
      });
      expect([row.backendsUp, row.backendsTotal]).toEqual([1, 2]);
    } finally {
      srv.close();
    }
  });
});
