// A topology beyond "keepalived + haproxy on the masters", on real systemd containers: dedicated
// load-balancer hosts (loadbalancers group, unicast VRRP) in front of 3 masters, driven through the
// CLI: `kha up`, `status`, `drill`, `add-master`/`remove-master` (the load balancers' backends
// change, the masters get no keepalived) and `upgrade`. (The node-proxy topology: topologies-nodes.)
//
// Order: the tests share one lab and run as written: up, then add/remove-master and upgrade on what
// it left.
import fs from 'node:fs';
import YAML from 'yaml';
import { describe, expect, test } from 'vitest';
import { useLab } from '../helpers/lab.js';
import { kha, outputProblems, parseJson, secs, showRun } from '../helpers/cli.js';
import { readyz, sh, vipHolders, waitFor } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';

describe('(a) dedicated load balancers: lb1, lb2 in front of m1..m3', () => {
  // m4 is a bare host until add-master: not in the inventory at first
  const lab = useLab(['lb1', 'lb2', 'm1', 'm2', 'm3', 'm4'], { aptCache: true, preinstalled: ['lb1', 'lb2'] });
  let file = '';
  const kh = () => ['--known-hosts', lab().knownHostsFile];
  const lbServers = async (lb: string) =>
    [...(await sh(lab(), lb, ['cat', '/etc/haproxy/haproxy.cfg'])).matchAll(/^\s*server (m\d+) /gm)].map((m) => m[1]).sort();

  test('kha up puts the VIP on lb1, VIP:8443 reaches every master, a failed haproxy moves the VIP', async () => {
    file = writeInv(lab(), 'hosts-lb', { groups: { masters: ['m1', 'm2', 'm3'], loadbalancers: ['lb1', 'lb2'] }, hosts: ['lb1', 'lb2', 'm1', 'm2', 'm3'] });
    const r = await kha(['up', '-i', file, '--known-hosts', lab().knownHostsFile, '--log-file', `${file}.log`]);
    console.log(`[timing] kha up, 2 load balancers + 3 masters, fresh: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['lb1']);

    // keepalived + haproxy on the load balancers only; unicast peers by default
    for (const m of ['m1', 'm2', 'm3'])
      expect((await lab().exec(m, ['dpkg-query', '-W', '-f', '${Status}', 'keepalived'])).stdout).not.toContain('install ok installed');
    const conf = await sh(lab(), 'lb1', ['cat', '/etc/keepalived/keepalived.conf']);
    const lb2 = lab().hosts.find((h) => h.name === 'lb2')!.address;
    expect(/unicast_peer \{([^}]*)\}/.exec(conf)?.[1]?.trim()).toBe(lb2);
    const cfg = await sh(lab(), 'lb1', ['cat', '/etc/haproxy/haproxy.cfg']);
    for (const m of lab().hosts.filter((h) => ['m1', 'm2', 'm3'].includes(h.name))) expect(cfg).toContain(`server ${m.name} ${m.address}:6443 check`);

    // every master answers through the VIP (roundrobin)
    const bodies: string[] = [];
    for (let i = 0; i < 9; i++) {
      const x = await readyz(lab().vip, 8443);
      expect(x.status).toBe(200);
      bodies.push(x.body);
    }
    expect(new Set(bodies)).toEqual(new Set(['ok m1', 'ok m2', 'ok m3']));

    // kha status over the lb topology
    const s = await kha(['status', '-i', file, '--known-hosts', lab().knownHostsFile, '--json']);
    expect(s.code, showRun(s)).toBe(0);
    expect(outputProblems(parseJson(s)), showRun(s)).toEqual([]);
    const rep = parseJson<{ holders: string[]; hosts: Array<{ name: string; backendsUp: number; backendsTotal: number }> }>(s).result!;
    expect(rep.holders).toEqual(['lb1']);
    expect(rep.hosts.map((h) => h.name)).toEqual(['lb1', 'lb2']);
    expect(rep.hosts.find((h) => h.name === 'lb1')).toMatchObject({ backendsUp: 3, backendsTotal: 3 });

    // haproxy fails on the holder: keepalived's check moves the VIP to lb2, the VIP still serves
    await sh(lab(), 'lb1', ['systemctl', 'stop', 'haproxy']);
    const moved = await waitFor(
      () => vipHolders(lab()),
      (h) => h.length === 1 && h[0] === 'lb2',
      15_000,
    );
    console.log(`[timing] haproxy stopped on lb1 -> VIP on lb2 after ${secs(moved.ms)}`);
    expect(moved.value).toEqual(['lb2']);
    expect((await readyz(lab().vip, 8443)).status).toBe(200);
    // and back (preemption) once haproxy runs again
    await sh(lab(), 'lb1', ['systemctl', 'start', 'haproxy']);
    const back = await waitFor(
      () => vipHolders(lab()),
      (h) => h.length === 1 && h[0] === 'lb1',
      15_000,
    );
    expect(back.value).toEqual(['lb1']);
  });

  test('kha drill (keepalived) on the load balancers: lb2 takes the VIP, lb1 takes it back', async () => {
    const r = await kha(['drill', '-i', file, ...kh(), '--mode', 'keepalived', '--json', '--log-file', `${file}.drill.log`]);
    expect(r.code, showRun(r)).toBe(0);
    const [round] = parseJson<{ rounds: Array<{ holderBefore: string; newHolder: string; vipMovedMs: number; holderAfter: string }> }>(r).result!.rounds;
    console.log(`[drill lb] VIP lb1 -> ${round!.newHolder} in ${round!.vipMovedMs} ms`);
    expect(round).toMatchObject({ holderBefore: 'lb1', newHolder: 'lb2', holderAfter: 'lb1' });
    expect(round!.vipMovedMs).toBeLessThan(4000);
  });

  test("add-master m4 and remove-master m1 update the load balancers' backends only; the VIP stays on lb1", async () => {
    const add = await kha([
      'add-master',
      '-i',
      file,
      ...kh(),
      '--name',
      'm4',
      '--host',
      lab().hosts.find((h) => h.name === 'm4')!.address,
      '--log-file',
      `${file}.add.log`,
    ]);
    console.log(`[timing] add-master m4 behind dedicated load balancers: ${secs(add.ms)}`);
    expect(add.code, showRun(add)).toBe(0);
    for (const lb of ['lb1', 'lb2']) expect(await lbServers(lb), lb).toEqual(['m1', 'm2', 'm3', 'm4']);
    // a master behind dedicated load balancers gets neither keepalived nor haproxy
    expect((await lab().exec('m4', ['dpkg-query', '-W', '-f', '${Status}', 'keepalived'])).stdout).not.toContain('install ok installed');
    const seen = await waitFor(
      () => readyz(lab().vip, 8443),
      (x) => x.body === 'ok m4',
      20_000,
      50,
    );
    expect(seen.ok, `m4 never answered through the VIP: last ${JSON.stringify(seen.value)}`).toBe(true);

    const rm = await kha(['remove-master', '-i', file, ...kh(), '--name', 'm1', '--log-file', `${file}.remove.log`]);
    console.log(`[timing] remove-master m1 behind dedicated load balancers: ${secs(rm.ms)}`);
    expect(rm.code, showRun(rm)).toBe(0);
    for (const lb of ['lb1', 'lb2']) expect(await lbServers(lb), lb).toEqual(['m2', 'm3', 'm4']);
    expect(await vipHolders(lab())).toEqual(['lb1']);
    // m1 keeps its apiserver: it must no longer be reached through the VIP
    for (let i = 0; i < 12; i++) expect((await readyz(lab().vip, 8443)).body).not.toBe('ok m1');
    const inv = fs.readFileSync(file, 'utf8');
    expect(inv).toMatch(/^\s+m4: /m);
    expect(inv).not.toMatch(/^\s+m1:/m);
  });

  test('kha upgrade (a haproxy setting changed) rolls the load balancers one at a time, the holder last', async () => {
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
    doc.setIn(['all', 'vars', 'haproxy_timeout_client'], '5m');
    fs.writeFileSync(file, doc.toString());
    const r = await kha(['upgrade', '-i', file, ...kh(), '--serial', '1', '--log-file', `${file}.upgrade.log`]);
    console.log(`[timing] upgrade, 2 load balancers: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    const batches = r.stdout
      .split('\n')
      .filter((l) => /^\s*batch \d+\/\d+:/.test(l))
      .map((l) => l.trim());
    expect(batches, showRun(r)).toEqual(['batch 1/2: lb2', 'batch 2/2: lb1']);
    for (const lb of ['lb1', 'lb2']) expect(await sh(lab(), lb, ['cat', '/etc/haproxy/haproxy.cfg']), lb).toMatch(/timeout client\s+5m/);
    expect(await vipHolders(lab())).toEqual(['lb1']);
    expect((await readyz(lab().vip, 8443)).status).toBe(200);
  });
});
