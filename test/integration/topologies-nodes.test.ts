// A topology beyond "keepalived + haproxy on the masters", on real systemd containers: 3 masters +
// 3 worker nodes with a node-local proxy on 127.0.0.1:6443 and a kha block in /etc/hosts on every
// host: `kha up` built in this process (to look at its events), then `kha add-master` /
// `kha remove-master` through the CLI while a client loop runs on a node. (Dedicated load
// balancers: topologies-lb.)
//
// Order: the tests share one lab and run as written: up with node proxies, then reruns,
// add/remove-master and the nginx switch on what it left.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import YAML from 'yaml';
import { describe, expect, test } from 'vitest';
import { useLab, type Lab } from '../helpers/lab.js';
import { kha, outputProblems, parseJson, secs, showRun } from '../helpers/cli.js';
import { sh, waitFor } from '../helpers/hosts.js';
import { LIVE_STALL_MS, startHostWatch } from '../helpers/watch.js';
import { writeInv } from '../helpers/inventories.js';
import { upInProcess, type InProcessRun } from '../helpers/in-process.js';
import { etcHostsPhase, nodeProxyPhase } from '../../src/actions/nodes.js';
import { nodeProxyStatus } from '../../src/actions/status.js';
import { BEGIN_MARKER, END_MARKER } from '../../src/modules/blockinfile.js';
import { loadForRun, makeRun } from '../../src/cli/prepare.js';
import { EventBus } from '../../src/engine/events.js';
import { describeError } from '../../src/errors.js';

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

/**
 * A bounded client loop on a node: every ~50 ms a new TLS connection through the node's own proxy
 * (curl, 3 s cap each), until stop() or `max` requests. stop() counts the answers by body and
 * returns every other line (`<body>|<code>` or `|curl-exit-N`) as a failure.
 */
function nodeLoop(lab: Lab, node: string, max = 4000) {
  const stopFile = `/tmp/kha-loop-stop-${process.pid}`;
  const script = [
    `rm -f ${stopFile}; i=0`,
    `while [ ! -e ${stopFile} ] && [ $i -lt ${max} ]; do`,
    `  i=$((i+1))`,
    `  out=$(curl -sk --noproxy '*' --max-time 3 -w '|%{http_code}' https://127.0.0.1:6443/healthz) || out="$out|curl-exit-$?"`,
    `  echo "\${out//$'\\n'/}"`,
    `  sleep 0.05`,
    `done`,
  ].join('\n');
  const done = lab.exec(node, ['bash', '-c', script]);
  return {
    async stop(): Promise<{ total: number; failed: string[]; bodies: Record<string, number> }> {
      await sh(lab, node, ['touch', stopFile]);
      const r = await done;
      if (r.code !== 0) throw new Error(`${node}: client loop exit ${r.code}: ${r.stderr}`);
      const lines = r.stdout.split('\n').filter((l) => l.trim());
      const bodies: Record<string, number> = {};
      const failed: string[] = [];
      for (const l of lines) {
        const m = /^(ok m\d+)\|200$/.exec(l.trim());
        if (m) bodies[m[1]!] = (bodies[m[1]!] ?? 0) + 1;
        else failed.push(l.trim());
      }
      return { total: lines.length, failed, bodies };
    },
  };
}

describe('(b) 3 masters + 3 nodes: node-local proxies and /etc/hosts', () => {
  // m4 is not in the inventory until add-master. It starts from the preinstalled image (keepalived and
  // haproxy installed, stopped): add-master's install on a bare host is proven in day2-members; here it
  // is the node phases and /etc/hosts that matter, and apt on m4 only cost the suite time.
  const lab = useLab(['m1', 'm2', 'm3', 'n1', 'n2', 'n3', 'm4'], { aptCache: true, preinstalled: true });
  const nodes = ['n1', 'n2', 'n3'];
  const all = ['m1', 'm2', 'm3', ...nodes];
  const inInventory = (names: string[]) => lab().hosts.filter((h) => names.includes(h.name));
  const addr = (name: string) => lab().hosts.find((h) => h.name === name)!.address;
  const blockOf = (hosts: string) => hosts.slice(hosts.indexOf(BEGIN_MARKER), hosts.indexOf(END_MARKER) + END_MARKER.length + 1);
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
    file = writeInv(lab(), 'hosts-nodes', {
      // as kubespray does, the masters are in the nodes group too: kha leaves them out of `nodes`
      groups: { masters: ['m1', 'm2', 'm3'], nodes: all },
      vars: { node_local_proxy: true, manage_etc_hosts: true },
      hosts: all,
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
      expect(
        res.every((x) => x.startsWith('200 ')),
        `${n}: ${res.join(', ')}`,
      ).toBe(true);
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
      for (const x of inInventory(all)) expect(lines).toContain(`${x.address.padEnd(lab().vip.length)} ${x.name}`);
      expect(blk).not.toContain(' m4\n');
      // names resolve through it
      expect((await sh(lab(), h, ['getent', 'hosts', 'kube-apiserver.kha.internal'])).split(/\s+/)[0]).toBe(lab().vip);
    }
  });

  test("a master's apiserver stops: every node still answers, haproxy marks it down (kha status and haproxy's exporter on each node)", async () => {
    await sh(lab(), 'm1', ['systemctl', 'stop', 'kha-standin-apiserver']);
    try {
      for (const n of nodes) {
        const res = await throughNodeProxy(lab(), n, 6);
        expect(
          res.every((x) => x.startsWith('200 ')),
          `${n}: ${res.join(', ')}`,
        ).toBe(true);
        expect(
          res.some((x) => x.endsWith(' m1')),
          `${n}: ${res.join(', ')}`,
        ).toBe(false);
      }
      // kha's view: nodeProxyStatus (as `kha status` will show it)
      const events = new EventBus();
      const io = { events, logFile: `${file}.status.log`, signal: new AbortController().signal, verbose: 0, json: false, addSecrets: () => undefined };
      const flags = { inventory: file, forks: 20, 'connect-timeout': 10, 'known-hosts': lab().knownHostsFile };
      const { inv, settings } = await loadForRun(flags, io);
      const run = makeRun(inv, flags, io);
      try {
        const st = await waitFor(
          () => nodeProxyStatus(run, settings),
          (rows) => rows.every((x) => x.backendsUp === 2),
          20_000,
          500,
        );
        expect(st.value).toEqual(
          nodes.map((n) => ({
            name: n,
            address: lab().hosts.find((h) => h.name === n)!.address,
            proxy: 'haproxy',
            active: 'active',
            backendsUp: 2,
            backendsTotal: 3,
            managed: true,
          })),
        );
      } finally {
        await run.connector.closeAll();
      }
      // haproxy's own exporter on every node (metrics_port, on the node's address) says the same
      for (const n of nodes) {
        const res = await fetch(`http://${lab().hosts.find((h) => h.name === n)!.address}:8405/metrics`, { signal: AbortSignal.timeout(10_000) });
        expect(res.status, n).toBe(200);
        const text = await res.text();
        expect(text, n).toMatch(/^haproxy_server_status\{proxy="[^"]+",server="m1",state="DOWN"\} 1$/m);
        expect(text, n).toMatch(/^haproxy_server_status\{proxy="[^"]+",server="m2",state="UP"\} 1$/m);
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

  test("kha drain m2 reaches the node proxies too: DRAIN in every node's haproxy, their requests avoid m2; kha undrain puts it back UP", async () => {
    const serverState = async (n: string, server: string) => {
      const res = await fetch(`http://${addr(n)}:8405/metrics`, { signal: AbortSignal.timeout(10_000) });
      const m = new RegExp(`^haproxy_server_status\\{proxy="[^"]+",server="${server}",state="([A-Z]+)"\\} 1$`, 'm').exec(await res.text());
      return m?.[1] ?? 'none';
    };
    const d = await kha(['drain', '-i', file, 'm2', '--timeout', '10', '--known-hosts', lab().knownHostsFile, '--json']);
    expect(d.code, showRun(d)).toBe(0);
    const drained = parseJson<{ hosts: Array<{ host: string; status: string }> }>(d).result!;
    console.log(`[drain m2] ${secs(d.ms)}: ${drained.hosts.map((h) => `${h.host} ${h.status}`).join(', ')}`);
    // the three masters' haproxy and the three nodes' proxies
    expect(drained.hosts.map((h) => h.host).sort()).toEqual([...all].sort());
    for (const n of nodes) {
      expect(await serverState(n, 'm2'), n).toBe('DRAIN');
      const res = await throughNodeProxy(lab(), n, 6);
      expect(
        res.every((x) => x.startsWith('200 ') && !x.endsWith(' m2')),
        `${n}: ${res.join(', ')}`,
      ).toBe(true);
    }
    const u = await kha(['undrain', '-i', file, 'm2', '--known-hosts', lab().knownHostsFile]);
    expect(u.code, showRun(u)).toBe(0);
    console.log(`[undrain m2] ${secs(u.ms)}`);
    for (const n of nodes) expect(await serverState(n, 'm2'), n).toBe('UP');
  });

  test("a hung apiserver (SIGSTOP) behind a node's proxy: the node's haproxy cuts its watch once it marks it down (shutdown-sessions); new requests go to the others", async () => {
    const budgetMs = 20_000;
    const watch = await startHostWatch(lab(), 'n3');
    const started = await waitFor(
      () => watch.peek(),
      (p) => p.lines >= 3,
      10_000,
      200,
    );
    expect(started.ok, JSON.stringify(started.value)).toBe(true);
    const server = started.value.backends[0]!;
    expect(['m1', 'm2', 'm3']).toContain(server);
    const hungAt = Number((await sh(lab(), server, ['sh', '-c', 'date +%s.%N; systemctl kill -s STOP kha-standin-apiserver'])).trim().split('\n')[0]) * 1000;
    try {
      const ended = await waitFor(
        () => watch.peek(),
        (p) => !p.open,
        budgetMs + 5_000,
        250,
      );
      const p = ended.value;
      console.log(
        `[node watch] ${server}'s apiserver hung: the watch through n3's proxy ended ${ended.ms} ms later; its last line ${p.lastAt === null ? '-' : Math.round(p.lastAt - hungAt)} ms after the hang`,
      );
      expect(ended.ok, `the watch through n3's proxy to ${server} still open ${ended.ms} ms after the hang`).toBe(true);
      expect(ended.ms).toBeLessThanOrEqual(budgetMs);
      // meanwhile the node's own proxy sends every new request to a live master
      const res = await throughNodeProxy(lab(), 'n3', 6);
      expect(
        res.every((x) => x.startsWith('200 ') && !x.endsWith(` ${server}`)),
        res.join(', '),
      ).toBe(true);
    } finally {
      await sh(lab(), server, ['systemctl', 'kill', '-s', 'CONT', 'kha-standin-apiserver']);
      await watch.stop();
    }
    // and haproxy counts it up again (no request of a later test lands on a dead one)
    const back = await waitFor(
      () => throughNodeProxy(lab(), 'n3', 6),
      (res) => res.some((x) => x === `200 ok ${server}`),
      20_000,
      500,
    );
    expect(back.ok, back.value.join(', ')).toBe(true);
  });

  test("add-master m4 (CLI) with a client loop on n1: no request fails, a watch through n2's proxy survives its reload, every node reaches m4, /etc/hosts lists m4", async () => {
    const loop = nodeLoop(lab(), 'n1');
    // a watch through n2's local proxy, which add-master reloads (server m4 added)
    const watch = await startHostWatch(lab(), 'n2');
    await sleep(500);
    const r = await kha([
      'add-master',
      '-i',
      file,
      '--name',
      'm4',
      '--host',
      addr('m4'),
      '--known-hosts',
      lab().knownHostsFile,
      '--log-file',
      `${file}.add.log`,
    ]);
    await sleep(500);
    const traffic = await loop.stop();
    const w = await watch.stop();
    console.log(
      `[add-master with nodes] ${secs(r.ms)}; client loop on n1: ${traffic.total} requests, ${traffic.failed.length} failed, answered by ${JSON.stringify(traffic.bodies)}; ` +
        `watch through n2's proxy: ${w.lines} lines from ${w.backends.join(',')}, longest gap ${w.longestGapMs.toFixed(0)} ms, ${w.open ? 'still open' : 'ENDED'}`,
    );
    expect(r.code, showRun(r)).toBe(0);
    // the reload kept the watch: one stream, open to the end, never quiet beyond a machine stall
    expect(w.open).toBe(true);
    expect(w.backends).toHaveLength(1);
    expect(w.lines).toBeGreaterThan(20);
    expect(w.longestGapMs).toBeLessThan(LIVE_STALL_MS);
    expect(traffic.total).toBeGreaterThan(40);
    expect(traffic.failed).toEqual([]);
    // the node phases ran: every node's proxy lists 4 masters and m4 answers through it
    for (const n of nodes) {
      const cfg = await sh(lab(), n, ['cat', '/etc/haproxy/haproxy.cfg']);
      expect(cfg, n).toContain(`server m4 ${addr('m4')}:6443`);
      const seen = await waitFor(
        () => throughNodeProxy(lab(), n, 4),
        (res) => res.some((x) => x === '200 ok m4'),
        30_000,
        100,
      );
      expect(seen.ok, `${n} never reached m4: ${seen.value.join(', ')}`).toBe(true);
    }
    // /etc/hosts everywhere (m4 included): m4's line in the block, the operator's lines intact
    for (const h of [...all, 'm4']) {
      const now = await sh(lab(), h, ['cat', '/etc/hosts']);
      if (before[h]) expect(now.startsWith(before[h]!), `${h}:\n${now}`).toBe(true);
      expect(blockOf(now), h).toContain(`${addr('m4').padEnd(lab().vip.length)} m4`);
    }
    expect(await sh(lab(), 'm4', ['systemctl', 'is-active', 'keepalived', 'haproxy'])).toBe('active\nactive\n');

    // kha status, per node: the local proxy and its backends up/total (4 masters now)
    const s = await kha(['status', '-i', file, '--known-hosts', lab().knownHostsFile, '--json']);
    expect(s.code, showRun(s)).toBe(0);
    expect(outputProblems(parseJson(s)), showRun(s)).toEqual([]);
    const rep = parseJson<{
      holders: string[];
      nodes: Array<{ name: string; proxy: string; active: string; backendsUp: number; backendsTotal: number }>;
    }>(s).result!;
    expect(rep.holders).toEqual(['m1']);
    expect(rep.nodes.map((n) => `${n.name} ${n.proxy} ${n.active} ${n.backendsUp}/${n.backendsTotal}`)).toEqual(nodes.map((n) => `${n} haproxy active 4/4`));
    const human = await kha(['status', '-i', file, '--known-hosts', lab().knownHostsFile]);
    expect(human.code, showRun(human)).toBe(0);
    for (const n of nodes) expect(human.stdout, showRun(human)).toMatch(new RegExp(`^\\s*${n}\\b.*haproxy.*4/4`, 'm'));
  });

  test('remove-master m1 (the VIP holder, CLI) with a client loop on n1: no request fails, no node sends to m1 any more', async () => {
    const loop = nodeLoop(lab(), 'n1');
    await sleep(500);
    const r = await kha(['remove-master', '-i', file, '--name', 'm1', '--known-hosts', lab().knownHostsFile, '--log-file', `${file}.remove.log`]);
    await sleep(500);
    const traffic = await loop.stop();
    console.log(
      `[remove-master with nodes] ${secs(r.ms)}; client loop on n1: ${traffic.total} requests, ${traffic.failed.length} failed, answered by ${JSON.stringify(traffic.bodies)}`,
    );
    expect(r.code, showRun(r)).toBe(0);
    expect(traffic.total).toBeGreaterThan(40);
    expect(traffic.failed).toEqual([]);
    // m1's apiserver goes away for good: the nodes do not notice
    await sh(lab(), 'm1', ['systemctl', 'stop', 'kha-standin-apiserver']);
    for (const n of nodes) {
      const cfg = await sh(lab(), n, ['cat', '/etc/haproxy/haproxy.cfg']);
      expect(cfg, n).not.toContain('server m1 ');
      const res = await throughNodeProxy(lab(), n, 6);
      expect(
        res.every((x) => x.startsWith('200 ') && !x.endsWith(' m1')),
        `${n}: ${res.join(', ')}`,
      ).toBe(true);
    }
    for (const h of ['m2', 'm3', 'm4', ...nodes]) {
      const blk = blockOf(await sh(lab(), h, ['cat', '/etc/hosts']));
      expect(blk, h).not.toContain(' m1\n');
      expect(blk, h).toContain(' m4\n');
    }
  });

  test("node_proxy: nginx replaces haproxy on the nodes (kha's haproxy retired), then converges", async () => {
    // the inventory as add/remove-master left it (masters m2..m4), with node_proxy: nginx
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
    doc.setIn(['all', 'vars', 'node_proxy'], 'nginx');
    const nginxFile = file.replace(/\.yaml$/, '-nginx.yaml');
    fs.writeFileSync(nginxFile, doc.toString());
    const r = await upInProcess(lab(), nginxFile, phases);
    console.log(`[timing] switch the nodes to nginx: ${secs(r.ms)}`);
    expectClean(r);
    expect(Object.keys(r.changes).sort()).toEqual(nodes);
    for (const n of nodes) {
      expect((await lab().exec(n, ['systemctl', 'is-active', 'haproxy'])).stdout.trim()).not.toBe('active');
      expect((await sh(lab(), n, ['systemctl', 'is-active', 'nginx'])).trim()).toBe('active');
      const res = await throughNodeProxy(lab(), n, 6);
      expect(
        res.every((x) => x.startsWith('200 ')),
        `${n}: ${res.join(', ')}`,
      ).toBe(true);
      expect(new Set(res.map((x) => x.split(' ').pop())).size).toBeGreaterThanOrEqual(2);
    }
    const again = await upInProcess(lab(), nginxFile, phases);
    expectClean(again);
    expect(again.changed, JSON.stringify(again.changes)).toBe(0);

    // kha status per node with nginx: no stats socket, so the node probes each master itself
    const nodeRows = async () => {
      const st = await kha(['status', '-i', nginxFile, '--known-hosts', lab().knownHostsFile, '--json']);
      expect(st.code, showRun(st)).toBe(0);
      const rep = parseJson<{ nodes: Array<{ name: string; proxy: string; active: string; backendsUp: number; backendsTotal: number }> }>(st).result!;
      return rep.nodes.map((n) => `${n.name} ${n.proxy} ${n.active} ${n.backendsUp}/${n.backendsTotal}`);
    };
    expect(await nodeRows()).toEqual(nodes.map((n) => `${n} nginx active 3/3`));
    await sh(lab(), 'm3', ['systemctl', 'stop', 'kha-standin-apiserver']);
    try {
      expect(await nodeRows()).toEqual(nodes.map((n) => `${n} nginx active 2/3`));
      const human = await kha(['status', '-i', nginxFile, '--known-hosts', lab().knownHostsFile]);
      for (const n of nodes)
        expect(human.stdout, showRun(human)).toMatch(new RegExp(`^\\s*${n}\\b.*nginx\\s+active\\s+2/3 \\(tcp probe from the node\\)`, 'm'));
    } finally {
      await sh(lab(), 'm3', ['systemctl', 'start', 'kha-standin-apiserver']);
    }

    // a node whose proxy is down has no path to an apiserver: status exits 6 and names it
    await sh(lab(), 'n3', ['systemctl', 'stop', 'nginx']);
    try {
      const st = await kha(['status', '-i', nginxFile, '--known-hosts', lab().knownHostsFile]);
      expect(st.code, showRun(st)).toBe(6);
      expect(
        st.stderr.split('\n').filter((x) => x.startsWith('error')),
        showRun(st),
      ).toEqual(['error: no path to an apiserver through the node-local proxy on n3 (nginx inactive)']);
      expect(st.stdout, showRun(st)).toMatch(/^\s*n3\b.*nginx\s+inactive/m);
    } finally {
      await sh(lab(), 'n3', ['systemctl', 'start', 'nginx']);
    }
    expect(await nodeRows()).toEqual(nodes.map((n) => `${n} nginx active 3/3`));
  });
});
