// Two topologies beyond "keepalived + haproxy on the masters", on real systemd containers:
// (a) dedicated load-balancer hosts (loadbalancers group, unicast VRRP) in front of 3 masters,
//     driven through the CLI (`kha up`, `kha status`): already supported end to end;
// (b) 3 masters + 3 worker nodes with a node-local proxy on 127.0.0.1:6443 and a kha block in
//     /etc/hosts on every host. Until those phases are wired into `kha up`, the run is built in
//     this process: up() and then nodeProxyPhase / etcHostsPhase on the returned state.
import https from 'node:https';
import { describe, expect, test } from 'vitest';
import { useLab, type Lab } from '../helpers/lab.js';
import { describeCli, runKhaCli, upInProcess, writeTopoInventory, type InProcessRun } from '../helpers/kha-cli-topo.js';
import { etcHostsPhase, nodeProxyPhase, nodeProxyStatus } from '../../src/actions/nodes.js';
import { BEGIN_MARKER, END_MARKER } from '../../src/modules/blockinfile.js';
import { loadForRun, makeRun } from '../../src/cli/prepare.js';
import { EventBus } from '../../src/engine/events.js';
import { describeError } from '../../src/errors.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function sh(lab: Lab, host: string, argv: string[]): Promise<string> {
  const r = await lab.exec(host, argv);
  if (r.code !== 0) throw new Error(`${host}: ${argv.join(' ')} -> exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function vipHolders(lab: Lab): Promise<string[]> {
  const out = await Promise.all(lab.hosts.map(async (h) => ((await sh(lab, h.name, ['ip', '-o', '-4', 'addr', 'show'])).includes(` ${lab.vip}/`) ? h.name : null)));
  return out.filter((h): h is string => h !== null);
}

async function waitFor<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, intervalMs = 200): Promise<{ value: T; ms: number; ok: boolean }> {
  const t0 = performance.now();
  for (;;) {
    const value = await probe();
    const ms = Math.round(performance.now() - t0);
    if (ok(value)) return { value, ms, ok: true };
    if (ms > timeoutMs) return { value, ms, ok: false };
    await sleep(intervalMs);
  }
}

/** one fresh TLS connection from this process (stand-in certs are self-signed) */
function readyz(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: '/readyz', rejectUnauthorized: false, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: https://${host}:${port}/readyz`)));
    req.on('error', reject);
  });
}

/** n sequential requests through the node's own proxy: `<status> <body>` each */
async function throughNodeProxy(lab: Lab, node: string, n: number): Promise<string[]> {
  const script = `for i in $(seq ${n}); do curl -sk --noproxy '*' --max-time 10 -w ' %{http_code}\\n' https://127.0.0.1:6443/healthz || echo ' 000'; done`;
  const out = await sh(lab, node, ['bash', '-c', script]);
  // curl prints the body ("ok m2\n") then " 200\n"
  const lines = out.split('\n').filter((l) => l.trim());
  const res: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^ \d{3}$/.test(l)) res.push(`${l.trim()} -`);
    else if (/^ \d{3}$/.test(lines[i + 1] ?? '')) res.push(`${lines[++i]!.trim()} ${l.trim()}`);
  }
  return res;
}

describe('(a) dedicated load balancers: lb1, lb2 in front of m1..m3', () => {
  const lab = useLab(['lb1', 'lb2', 'm1', 'm2', 'm3'], { aptCache: true });

  test('kha up puts the VIP on lb1, VIP:8443 reaches every master, a failed haproxy moves the VIP', async () => {
    const file = writeTopoInventory(lab(), 'hosts-lb', { groups: { masters: ['m1', 'm2', 'm3'], loadbalancers: ['lb1', 'lb2'] } });
    const r = await runKhaCli(['up', '-i', file, '--known-hosts', lab().knownHostsFile, '--log-file', `${file}.log`]);
    console.log(`[timing] kha up, 2 load balancers + 3 masters, fresh: ${secs(r.ms)}`);
    expect(r.code, describeCli(r)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['lb1']);

    // keepalived + haproxy on the load balancers only; unicast peers by default
    for (const m of ['m1', 'm2', 'm3']) expect((await lab().exec(m, ['dpkg-query', '-W', '-f', '${Status}', 'keepalived'])).stdout).not.toContain('install ok installed');
    const conf = await sh(lab(), 'lb1', ['cat', '/etc/keepalived/keepalived.conf']);
    const lb2 = lab().hosts.find((h) => h.name === 'lb2')!.address;
    expect(/unicast_peer \{([^}]*)\}/.exec(conf)?.[1]?.trim()).toBe(lb2);
    const cfg = await sh(lab(), 'lb1', ['cat', '/etc/haproxy/haproxy.cfg']);
    for (const m of lab().hosts.filter((h) => h.name.startsWith('m'))) expect(cfg).toContain(`server ${m.name} ${m.address}:6443 check`);

    // every master answers through the VIP (roundrobin)
    const bodies: string[] = [];
    for (let i = 0; i < 9; i++) {
      const x = await readyz(lab().vip, 8443);
      expect(x.status).toBe(200);
      bodies.push(x.body);
    }
    expect(new Set(bodies)).toEqual(new Set(['ok m1', 'ok m2', 'ok m3']));

    // kha status over the lb topology
    const s = await runKhaCli(['status', '-i', file, '--known-hosts', lab().knownHostsFile, '--json']);
    expect(s.code, describeCli(s)).toBe(0);
    const rep = JSON.parse(s.stdout) as { holders: string[]; hosts: Array<{ name: string; backendsUp: number; backendsTotal: number }> };
    expect(rep.holders).toEqual(['lb1']);
    expect(rep.hosts.map((h) => h.name)).toEqual(['lb1', 'lb2']);
    expect(rep.hosts.find((h) => h.name === 'lb1')).toMatchObject({ backendsUp: 3, backendsTotal: 3 });

    // haproxy fails on the holder: keepalived's check moves the VIP to lb2, the VIP still serves
    await sh(lab(), 'lb1', ['systemctl', 'stop', 'haproxy']);
    const moved = await waitFor(() => vipHolders(lab()), (h) => h.length === 1 && h[0] === 'lb2', 15_000);
    console.log(`[timing] haproxy stopped on lb1 -> VIP on lb2 after ${secs(moved.ms)}`);
    expect(moved.value).toEqual(['lb2']);
    expect((await readyz(lab().vip, 8443)).status).toBe(200);
    // and back (preemption) once haproxy runs again
    await sh(lab(), 'lb1', ['systemctl', 'start', 'haproxy']);
    const back = await waitFor(() => vipHolders(lab()), (h) => h.length === 1 && h[0] === 'lb1', 15_000);
    expect(back.value).toEqual(['lb1']);
  });
});

describe('(b) 3 masters + 3 nodes: node-local proxies and /etc/hosts', () => {
  const lab = useLab(['m1', 'm2', 'm3', 'n1', 'n2', 'n3'], { aptCache: true });
  const nodes = ['n1', 'n2', 'n3'];
  const all = ['m1', 'm2', 'm3', ...nodes];
  const OPERATOR_LINE = '10.123.0.7 operator-own-line # kept by kha';
  const before: Record<string, string> = {};
  let file = '';

  // kha up runs the node-local proxy and /etc/hosts phases itself (after Verify): nothing extra
  // to call; the assertions below check what up() did
  const phases = async (_st: Parameters<typeof nodeProxyPhase>[0]) => undefined;
  void etcHostsPhase;
  const expectClean = (r: InProcessRun) => {
    // a string, never the error object: its cause chain can hold sockets that vitest would try to print
    expect(r.error === undefined ? '' : describeError(r.error), r.describe()).toBe('');
    expect(r.failed, r.describe()).toBe(0);
  };

  test('up + node proxies + /etc/hosts: each node reaches the masters through 127.0.0.1:6443', async () => {
    // nodes run no apiserver: free their 6443 (the lab image starts a stand-in on every host)
    await Promise.all(nodes.map((n) => sh(lab(), n, ['systemctl', 'disable', '--now', 'kha-standin-apiserver'])));
    // the operator's own line, added before kha runs (Docker bind-mounts /etc/hosts: no rename)
    for (const h of all) {
      await sh(lab(), h, ['sh', '-c', `printf '%s\\n' '${OPERATOR_LINE}' >> /etc/hosts`]);
      before[h] = await sh(lab(), h, ['cat', '/etc/hosts']);
    }
    file = writeTopoInventory(lab(), 'hosts-nodes', {
      // as kubespray does, the masters are in the nodes group too: kha leaves them out of `nodes`
      groups: { masters: ['m1', 'm2', 'm3'], nodes: all },
      vars: { node_local_proxy: true, manage_etc_hosts: true },
    });
    const r = await upInProcess(lab(), file, phases, { serial: '1' });
    console.log(`[timing] up + node-local haproxy (serial 1) + /etc/hosts, 3 masters + 3 nodes, fresh: ${secs(r.ms)}`);
    expectClean(r);
    expect(r.st?.s.nodes).toEqual(nodes);
    // rolled one node at a time, each batch proven through the proxy
    const batches = r.events.filter((e) => e.type === 'batch' && e.play === 'node-local haproxy');
    expect(batches.map((b) => (b.type === 'batch' ? b.hosts : []))).toEqual([['n1'], ['n2'], ['n3']]);
    for (const n of nodes) expect(r.changes[n]).toEqual(expect.arrayContaining(['write /etc/haproxy/haproxy.cfg', 'kha block in /etc/hosts']));
    // no node-local proxy on the masters (they run keepalived + haproxy for the VIP)
    expect(await sh(lab(), 'm1', ['cat', '/etc/haproxy/haproxy.cfg'])).not.toContain('kube-apiserver-local');

    for (const n of nodes) {
      const res = await throughNodeProxy(lab(), n, 9);
      expect(res.every((x) => x.startsWith('200 ')), `${n}: ${res.join(', ')}`).toBe(true);
      const masters = new Set(res.map((x) => x.split(' ').pop()));
      // leastconn: sequential requests find every server idle, and haproxy takes equals in turn
      expect(masters.size, `${n}: ${res.join(', ')}`).toBeGreaterThanOrEqual(2);
    }

    // Docker bind-mounts /etc/hosts: rename(2) onto it fails (EBUSY), so kha wrote it in place
    for (const h of all) {
      const install = r.events.find((e) => e.type === 'command' && e.host === h && e.command.includes('chcon --reference'));
      expect(install?.type === 'command' ? install.stdout?.trim() : undefined, h).toBe('in-place');
    }
    // /etc/hosts: the operator's lines untouched, then the block
    for (const h of all) {
      const now = await sh(lab(), h, ['cat', '/etc/hosts']);
      expect(now.startsWith(before[h]!), `${h}:\n${now}`).toBe(true);
      expect(now).toContain(`${OPERATOR_LINE}\n`);
      const blk = now.slice(before[h]!.length);
      const lines = blk.trimEnd().split('\n');
      expect(lines[0]).toBe(BEGIN_MARKER);
      expect(lines[lines.length - 1]).toBe(END_MARKER);
      expect(lines[1]).toMatch(new RegExp(`^${lab().vip.replace(/\./g, '\\.')} +kube-apiserver\\.kha\\.internal$`));
      for (const x of lab().hosts) expect(lines).toContain(`${x.address.padEnd(lab().vip.length)} ${x.name}`);
      // names resolve through it
      expect((await sh(lab(), h, ['getent', 'hosts', 'kube-apiserver.kha.internal'])).split(/\s+/)[0]).toBe(lab().vip);
    }
  });

  test('a master\'s apiserver stops: every node still answers, haproxy marks it down', async () => {
    await sh(lab(), 'm1', ['systemctl', 'stop', 'kha-standin-apiserver']);
    try {
      for (const n of nodes) {
        const res = await throughNodeProxy(lab(), n, 6);
        expect(res.every((x) => x.startsWith('200 ')), `${n}: ${res.join(', ')}`).toBe(true);
        expect(res.some((x) => x.endsWith(' m1')), `${n}: ${res.join(', ')}`).toBe(false);
      }
      // kha's view: nodeProxyStatus (as `kha status` will show it)
      const events = new EventBus();
      const io = { events, logFile: `${file}.status.log`, signal: new AbortController().signal, verbose: 0, json: false, addSecrets: () => undefined };
      const flags = { inventory: file, forks: 20, 'connect-timeout': 10, 'known-hosts': lab().knownHostsFile };
      const { inv, settings } = await loadForRun(flags, io);
      const run = makeRun(inv, flags, io);
      try {
        const st = await waitFor(() => nodeProxyStatus(run, settings), (rows) => rows.every((x) => x.backendsUp === 2), 20_000, 500);
        expect(st.value).toEqual(nodes.map((n) => ({ name: n, address: lab().hosts.find((h) => h.name === n)!.address, proxy: 'haproxy', active: 'active', backendsUp: 2, backendsTotal: 3 })));
      } finally {
        await run.connector.closeAll();
      }
    } finally {
      await sh(lab(), 'm1', ['systemctl', 'start', 'kha-standin-apiserver']);
    }
  });

  test('a second run changes nothing', async () => {
    const r = await upInProcess(lab(), file, phases);
    console.log(`[timing] rerun, converged: ${secs(r.ms)}`);
    expectClean(r);
    expect(r.changed, `${JSON.stringify(r.changes)}\n${r.describe()}`).toBe(0);
  });

  test('node_proxy: nginx replaces haproxy on the nodes (kha\'s haproxy retired), then converges', async () => {
    const nginxFile = writeTopoInventory(lab(), 'hosts-nodes-nginx', {
      groups: { masters: ['m1', 'm2', 'm3'], nodes: all },
      vars: { node_local_proxy: true, manage_etc_hosts: true, node_proxy: 'nginx' },
    });
    const r = await upInProcess(lab(), nginxFile, phases);
    console.log(`[timing] switch the nodes to nginx: ${secs(r.ms)}`);
    expectClean(r);
    expect(Object.keys(r.changes).sort()).toEqual(nodes);
    for (const n of nodes) {
      expect((await lab().exec(n, ['systemctl', 'is-active', 'haproxy'])).stdout.trim()).not.toBe('active');
      expect((await sh(lab(), n, ['systemctl', 'is-active', 'nginx'])).trim()).toBe('active');
      const res = await throughNodeProxy(lab(), n, 6);
      expect(res.every((x) => x.startsWith('200 ')), `${n}: ${res.join(', ')}`).toBe(true);
      expect(new Set(res.map((x) => x.split(' ').pop())).size).toBeGreaterThanOrEqual(2);
    }
    const again = await upInProcess(lab(), nginxFile, phases);
    expectClean(again);
    expect(again.changed, JSON.stringify(again.changes)).toBe(0);
  });
});
