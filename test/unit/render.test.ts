// kha render: the files kha up would write, rendered offline. They must be what kha up renders:
// checked against the reviewed golden files of test/golden (inventories that give the goldens'
// vars) and against the template tasks kha up runs, with the facts up would gather. Secrets are
// masked in every output; bad input is one line, exit 4; the built CLI end to end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { preflightChecks } from '../../src/actions/preflight.js';
import { assumedLine, formatRendered, renderHost, renderableHosts, type RenderResult, type RenderTarget } from '../../src/actions/render.js';
import type { HostContext, Task } from '../../src/engine/types.js';
import type { Facts } from '../../src/facts/types.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings, type HaSettings } from '../../src/inventory/settings.js';
import { templateModule } from '../../src/modules/index.js';
import { redactText } from '../../src/modules/secret-file.js';
import { HAPROXY_CFG, KEEPALIVED_CONF, KEEPALIVED_SECRET_KEYS, configureTasks } from '../../src/roles/ha.js';
import { NGINX_CONF } from '../../src/roles/node-proxy.js';
import { nodeProxyTasks } from '../../src/roles/nodes.js';
import { fakeFacts } from '../helpers/fake-conn.js';
import { parseJson, runKha, showRun } from '../helpers/cli.js';

const GOLDEN_DIR = fileURLToPath(new URL('../golden/', import.meta.url));
const golden = (name: string) => fs.readFileSync(path.join(GOLDEN_DIR, name), 'utf8');
const y = (lines: string[]) => `${lines.join('\n')}\n`;
/**
 * What `metrics: true` (the default) appends to a haproxy.cfg: haproxy's exporter frontend on the
 * host's own address (the reviewed golden of metrics.test.ts is for 192.168.50.13).
 */
const metricsFrontendFor = (address: string) => golden('haproxy.metrics-frontend.cfg').replaceAll('192.168.50.13', address);
const PASS = 'kha-pw01';

/** The vars of roles.test.ts's goldens, as an inventory: 192.168.50.0/24, priorities 150/140/130, timeouts 20s. */
const GOLDEN_INV = (extra: string[] = [`vrrp_auth_pass: ${PASS}`]) =>
  y([
    'all:',
    '  vars:',
    '    vip: 192.168.50.100',
    '    vip_prefix: 24',
    '    virtual_router_id: 51',
    '    haproxy_timeout_client: 20s',
    '    haproxy_timeout_server: 20s',
    ...extra.map((l) => `    ${l}`),
    '  children:',
    '    masters:',
    '      hosts:',
    '        m1: { ansible_host: 192.168.50.11, priority: 150 }',
    '        m2: { ansible_host: 192.168.50.12, priority: 140 }',
    '        m3: { ansible_host: 192.168.50.13, priority: 130 }',
  ]);

/** node-proxy.test.ts's topology: 3 masters, nodes (kubespray lists the masters too), 2 load balancers */
const TOPO = (vars: string[]) =>
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
    '    etcd1: { ansible_host: 10.0.0.41 }',
    '    lb1: { ansible_host: 10.0.0.31 }',
    '    lb2: { ansible_host: 10.0.0.32 }',
    '  children:',
    '    kube_control_plane:',
    '      hosts: { m1: , m2: , m3: }',
    '    kube_node:',
    '      hosts: { m1: , m2: , m3: , n1: , n2: , n3: }',
    '    loadbalancers:',
    '      hosts: { lb1: , lb2: }',
    '    etcd:',
    '      hosts: { etcd1: }',
  ]);

const load = (text: string) => {
  const inv = parseInventory(text, 'hosts.yaml');
  return { inv, s: resolveSettings(inv) };
};
const target = (inv: { hosts: Array<{ name: string }> }, host: string, what: RenderTarget['what'] = 'all'): RenderTarget => ({
  host,
  what,
  inventoryHosts: inv.hosts.map((h) => h.name),
  inventoryName: 'hosts.yaml',
});

describe('the same text as the reviewed goldens', () => {
  test('the primary keepalived.conf: keepalived.primary.multicast.conf, auth_pass masked', () => {
    const { inv, s } = load(GOLDEN_INV());
    const r = renderHost(s, target(inv, 'm1', 'keepalived'), { iface: 'eth0' });
    const want = golden('keepalived.primary.multicast.conf');
    expect(want).toContain(`        auth_pass ${PASS}\n`);
    expect(r.files).toEqual([
      { what: 'keepalived', path: KEEPALIVED_CONF, content: want.replace(`auth_pass ${PASS}`, 'auth_pass ********'), masked: ['auth_pass'] },
    ]);
    expect(r.assumed).toEqual(['address 192.168.50.11 (its ansible_host; pass --address)']);
  });

  test('a unicast backup: keepalived.backup.unicast.conf byte for byte (no secret: nothing masked)', () => {
    const { inv, s } = load(GOLDEN_INV(['vrrp_unicast: true']));
    const r = renderHost(s, target(inv, 'm2', 'keepalived'), { iface: 'eth0', address: '192.168.50.12' });
    expect(r.files[0]).toEqual({ what: 'keepalived', path: KEEPALIVED_CONF, content: golden('keepalived.backup.unicast.conf'), masked: [] });
    expect(r.assumed).toEqual(["unicast peers at their ansible_host (kha up uses each peer's address on its VRRP interface)"]);
  });

  test("haproxy.cfg: haproxy.3masters.cfg but for `timeout tunnel`, which kha up sets to the client timeout (the golden has the renderer's own default), and the metrics frontend on m3's address", () => {
    const { inv, s } = load(GOLDEN_INV());
    const r = renderHost(s, target(inv, 'm3', 'haproxy'));
    const want = golden('haproxy.3masters.cfg');
    expect(want.match(/timeout tunnel 1h\n/g)).toHaveLength(1);
    expect(r.files).toEqual([
      {
        what: 'haproxy',
        path: HAPROXY_CFG,
        content: want.replace('timeout tunnel 1h\n', 'timeout tunnel 20s\n') + metricsFrontendFor('192.168.50.13'),
        masked: [],
      },
    ]);
    // haproxy.cfg needs no fact of the host
    expect(r.assumed).toEqual([]);
  });

  test("a node's haproxy: node-proxy.haproxy.cfg, and the metrics frontend on the node's address", () => {
    const { inv, s } = load(TOPO(['node_local_proxy: true']));
    const r = renderHost(s, target(inv, 'n1'));
    expect(r.files).toEqual([{ what: 'haproxy', path: HAPROXY_CFG, content: golden('node-proxy.haproxy.cfg') + metricsFrontendFor('10.0.0.21'), masked: [] }]);
    expect(r.assumed).toEqual([]);
  });

  test('metrics: false: the goldens as they are, with no metrics frontend', () => {
    const { inv, s } = load(GOLDEN_INV([`vrrp_auth_pass: ${PASS}`, 'metrics: false']));
    expect(renderHost(s, target(inv, 'm3', 'haproxy')).files[0]!.content).toBe(
      golden('haproxy.3masters.cfg').replace('timeout tunnel 1h\n', 'timeout tunnel 20s\n'),
    );
    const topo = load(TOPO(['node_local_proxy: true', 'metrics: false']));
    expect(renderHost(topo.s, target(topo.inv, 'n1')).files[0]!.content).toBe(golden('node-proxy.haproxy.cfg'));
  });

  test("a node's nginx on an apt host: node-proxy.nginx.conf (apt assumed, and said)", () => {
    const { inv, s } = load(TOPO(['node_local_proxy: true', 'node_proxy: nginx']));
    const r = renderHost(s, target(inv, 'n1'));
    expect(r.files).toEqual([{ what: 'nginx', path: NGINX_CONF, content: golden('node-proxy.nginx.conf'), masked: [] }]);
    expect(r.assumed).toEqual(['package manager apt (pass --pkg-mgr)']);
    expect(renderHost(s, target(inv, 'n1'), { pkgMgr: 'dnf' }).files[0]!.content).toContain('user nginx;\n');
  });
});

/** The content kha up's template task writes to `host` (the task's params for that host). */
function upContent(tasks: Task<any>[], host: string, facts: Facts, file: string): string {
  for (const t of tasks) {
    if (t.module !== templateModule) continue;
    const p = typeof t.params === 'function' ? t.params({ host: { name: host }, facts } as unknown as HostContext) : t.params;
    if (p.path === file) return p.content as string;
  }
  throw new Error(`no template task writes ${file}`);
}

describe("the same text as kha up's tasks, with the facts kha up would gather", () => {
  const factsOf = (s: HaSettings, iface: string) =>
    Object.fromEntries(
      s.lbHosts.map((h) => [
        h,
        fakeFacts({
          hostname: h,
          interfaces: [
            { name: 'lo', up: true, ipv4: [{ address: '127.0.0.1', prefix: 8 }] },
            { name: iface, up: true, ipv4: [{ address: s.hosts[h]!.address, prefix: 24 }] },
          ],
        }),
      ]),
    );

  test.each([
    ['multicast, a password', [`vrrp_auth_pass: ${PASS}`]],
    ['unicast, nopreempt', ['vrrp_unicast: true', 'vrrp_nopreempt: true']],
    ['track_apiserver, leastconn', ['track_apiserver: true', 'lb_algorithm: leastconn', `vrrp_auth_pass: ${PASS}`]],
  ])('%s: every load balancer, every file', (_name, extra) => {
    const { inv, s } = load(GOLDEN_INV(extra));
    const facts = factsOf(s, 'ens18');
    const pf = preflightChecks(s, facts);
    expect(pf.errors).toEqual([]);
    const tasks = configureTasks(s, pf.net);
    for (const h of s.lbHosts) {
      const r = renderHost(s, target(inv, h), { iface: 'ens18' });
      expect(r.files.map((f) => f.path)).toEqual([KEEPALIVED_CONF, HAPROXY_CFG]);
      expect(r.files[0]!.content).toBe(redactText(upContent(tasks, h, facts[h]!, KEEPALIVED_CONF), s.authPass ? KEEPALIVED_SECRET_KEYS : []));
      expect(r.files[1]!.content).toBe(upContent(tasks, h, facts[h]!, HAPROXY_CFG));
    }
  });

  test("a node's proxy, haproxy and nginx, on dnf", () => {
    for (const proxy of ['haproxy', 'nginx']) {
      const { inv, s } = load(TOPO(['node_local_proxy: true', `node_proxy: ${proxy}`]));
      const facts = fakeFacts({ hostname: 'n2', pkgMgr: 'dnf' });
      const r = renderHost(s, target(inv, 'n2'), { pkgMgr: 'dnf' });
      expect(r.files[0]!.content).toBe(upContent(nodeProxyTasks(s), 'n2', facts, proxy === 'nginx' ? NGINX_CONF : HAPROXY_CFG));
      expect(r.files[0]!.content).toMatch(proxy === 'nginx' ? /listen 127\.0\.0\.1:7443;/ : /bind 127\.0\.0\.1:7443\n/);
    }
  });
});

describe('secrets', () => {
  test('the VRRP password reaches no output: the text, the human form and the JSON; a comment says it is masked', () => {
    const { inv, s } = load(GOLDEN_INV());
    const r = renderHost(s, target(inv, 'm1'), { iface: 'eth0' });
    const human = formatRendered(r);
    for (const out of [human, JSON.stringify(r)]) expect(out).not.toContain(PASS);
    expect(human).toContain('        auth_pass ********\n');
    expect(human.split('\n').slice(0, 2)).toEqual([
      '# kha render: /etc/keepalived/keepalived.conf on m1',
      '# auth_pass shown as ********: kha prints no secret (kha up -i ... --check --diff compares the real file on the host)',
    ]);
  });

  test('a password that is also another word of the file is still not shown', () => {
    const { inv, s } = load(GOLDEN_INV(['vrrp_auth_pass: eth0']));
    const out = formatRendered(renderHost(s, target(inv, 'm1', 'keepalived'), { iface: 'eth0' }));
    expect(out).not.toContain('eth0');
    expect(out).toContain('    interface ********\n');
  });
});

describe('hosts and facts', () => {
  test('what is written where: load balancers, nodes with node_local_proxy, /etc/hosts everywhere with manage_etc_hosts', () => {
    const { inv, s } = load(TOPO(['node_local_proxy: true', 'manage_etc_hosts: true']));
    expect(renderableHosts(s)).toEqual(['lb1', 'lb2', 'n1', 'n2', 'n3', 'm1', 'm2', 'm3']);
    expect(renderHost(s, target(inv, 'lb1')).files.map((f) => f.what)).toEqual(['keepalived', 'haproxy', 'etc-hosts']);
    expect(renderHost(s, target(inv, 'n1')).files.map((f) => f.what)).toEqual(['haproxy', 'etc-hosts']);
    const m1 = renderHost(s, target(inv, 'm1'));
    expect(m1.files).toEqual([
      {
        what: 'etc-hosts',
        path: '/etc/hosts',
        content: `# BEGIN kha managed block\n${golden('node-proxy.etc-hosts.block')}# END kha managed block\n`,
        masked: [],
      },
    ]);
    expect(formatRendered(m1).split('\n')[0]).toBe("# kha render: /etc/hosts on m1 (kha's block only; the rest of the file is left as it is)");
  });

  test('every fact given: nothing assumed, no note line', () => {
    const { inv, s } = load(GOLDEN_INV(['vrrp_unicast: true']));
    const r = renderHost(s, target(inv, 'm1'), { iface: 'eth0', address: '192.168.50.11' });
    expect(r.assumed).toEqual(["unicast peers at their ansible_host (kha up uses each peer's address on its VRRP interface)"]);
    const single = load(GOLDEN_INV());
    expect(assumedLine(renderHost(single.s, target(single.inv, 'm1'), { iface: 'eth0', address: '192.168.50.11' }))).toBeUndefined();
  });

  test('nothing given: one note line naming each assumption and the flag that gives it', () => {
    const { inv, s } = load(GOLDEN_INV());
    const r = renderHost(s, target(inv, 'm2'));
    expect(r.files[0]!.content).toContain('    interface eth0\n');
    expect(r.files[0]!.content).toContain('        192.168.50.100/24 dev eth0\n');
    expect(assumedLine(r)).toBe(
      'note: m2: assumed VRRP interface eth0 (pass --interface or set vrrp_interface); address 192.168.50.12 (its ansible_host; pass --address); kha up reads these from the host itself',
    );
  });

  test("the inventory's vrrp_interface is what kha up uses: taken, not assumed", () => {
    const text = GOLDEN_INV().replace(
      'm1: { ansible_host: 192.168.50.11, priority: 150 }',
      'm1: { ansible_host: 192.168.50.11, priority: 150, vrrp_interface: bond0 }',
    );
    const { inv, s } = load(text);
    const r = renderHost(s, target(inv, 'm1', 'keepalived'));
    expect(r.files[0]!.content).toContain('    interface bond0\n');
    expect(r.assumed).toEqual(['address 192.168.50.11 (its ansible_host; pass --address)']);
    expect(() => renderHost(s, target(inv, 'm1'), { iface: 'eth0' })).toThrow(
      '--interface eth0: the inventory sets vrrp_interface: bond0 for m1, which kha up uses; drop --interface or change vrrp_interface',
    );
  });
});

describe('bad input: one line, exit 4', () => {
  const { inv, s } = load(TOPO(['node_local_proxy: true']));
  test.each<[string, RenderTarget, object, string, string]>([
    [
      'an unknown host',
      target(inv, 'lb3'),
      {},
      'E_UNKNOWN_HOST',
      '--host lb3: no such host in hosts.yaml (did you mean lb1?); kha writes configs to lb1, lb2, n1, n2, n3',
    ],
    ['a far-off name', target(inv, 'zzzzzz'), {}, 'E_UNKNOWN_HOST', '--host zzzzzz: no such host in hosts.yaml; kha writes configs to lb1, lb2, n1, n2, n3'],
    [
      'a host kha writes nothing to',
      target(inv, 'etcd1'),
      {},
      'E_UNKNOWN_HOST',
      '--host etcd1: kha writes no config to etcd1 (it is no load balancer and no node); kha writes configs to lb1, lb2, n1, n2, n3',
    ],
    [
      'a file that host does not get',
      target(inv, 'n1', 'keepalived'),
      {},
      'E_INPUT',
      '--what keepalived: kha writes no keepalived config to n1; it writes haproxy there: pass --what haproxy or all',
    ],
    [
      'a bad interface',
      target(inv, 'lb1'),
      { iface: 'eth0;reboot' },
      'E_INPUT',
      '--interface: "eth0;reboot" is not an interface name; use the Linux name of the interface (up to 15 letters, digits or _ . : @ -), e.g. eth0',
    ],
    [
      'a bad address',
      target(inv, 'lb1'),
      { address: 'lb1.example.com' },
      'E_INPUT',
      '--address: "lb1.example.com" is not an IPv4 address; give the host\'s own address on its VRRP interface, e.g. 10.0.0.11',
    ],
  ])('%s', (_name, t, facts, code, message) => {
    expect(() => renderHost(s, t, facts)).toThrow(expect.objectContaining({ code, exit: 4, message }));
  });

  test('without node_local_proxy the message says so', () => {
    const plain = load(TOPO([]));
    expect(() => renderHost(plain.s, target(plain.inv, 'n1'))).toThrow(
      '--host n1: kha writes no config to n1 (it is no load balancer, and node_local_proxy is off); kha writes configs to lb1, lb2',
    );
  });
});

describe('the built CLI (no connection: the hosts do not exist)', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-render-'));
    file = path.join(dir, 'hosts.yaml');
    fs.writeFileSync(file, GOLDEN_INV());
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('prints both files, the password masked; the assumptions on stderr', async () => {
    const r = await runKha(['render', '-i', file, '--host', 'm1'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const { inv, s } = load(GOLDEN_INV());
    expect(r.stdout).toBe(formatRendered(renderHost(s, target(inv, 'm1'))));
    expect(r.stdout).not.toContain(PASS);
    expect(r.stdout).toContain('# kha render: /etc/haproxy/haproxy.cfg on m1\n');
    expect(r.stderr).toBe(
      'note: m1: assumed VRRP interface eth0 (pass --interface or set vrrp_interface); address 192.168.50.11 (its ansible_host; pass --address); kha up reads these from the host itself\n',
    );
  });

  test('--json --what keepalived --interface ens3: one document, nothing assumed but the address', async () => {
    const r = await runKha(['render', '-i', file, '--host', 'm2', '--what', 'keepalived', '--interface', 'ens3', '--json'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const doc = parseJson<RenderResult>(r).result!;
    expect(doc.host).toBe('m2');
    expect(doc.files.map((f) => [f.path, f.masked])).toEqual([[KEEPALIVED_CONF, ['auth_pass']]]);
    expect(doc.files[0]!.content).toContain('    interface ens3\n');
    expect(doc.assumed).toEqual(['address 192.168.50.12 (its ansible_host; pass --address)']);
    expect(r.stdout).not.toContain(PASS);
  });

  test('an unknown host: one line listing the hosts, exit 4', async () => {
    const r = await runKha(['render', '-i', file, '--host', 'm9'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(4);
    expect(r.stderr).toBe(`error: --host m9: no such host in ${file} (did you mean m1?); kha writes configs to m1, m2, m3\n`);
    expect(r.stdout).toBe('');
  });
});
