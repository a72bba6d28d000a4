// kha add-master / remove-master on a live lab of 4 hosts whose hand-written inventory (comments,
// odd spacing, flow and block maps) starts with m1..m3: add m4 without moving the VIP, then remove
// m1, the VIP holder; the inventory must keep every other byte. Then the argument errors: exit 4,
// one error line, nothing changed. (kha upgrade: day2-upgrade.test.ts)
//
// Order: the tests share one 4-host lab and run as written (add-master m4 first, then remove-master
// on what it left): a cluster state per test would cost a kha up each.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { useLab } from '../helpers/lab.js';
import { kha, secs, showRun } from '../helpers/cli.js';
import { haproxyServers, httpsGet, mainPid, sha, unitState, untilBodyFrom, vipHolders } from '../helpers/hosts.js';
import { handInventory, lineDiff } from '../helpers/inventories.js';
import { monitorVip, sampleVip, splitBrains } from '../helpers/vip-watch.js';

describe('kha add-master and remove-master on a live control plane', () => {
  const lab = useLab(4, { aptCache: true, preinstalled: ['m1', 'm2', 'm3'] });
  let inv = '';
  const addr = (h: string) => lab().hosts.find((x) => x.name === h)!.address;
  const logFile = (name: string) => path.join(lab().stateDir, `${name}.log`);

  beforeAll(async () => {
    inv = path.join(lab().stateDir, 'hosts.yaml');
    fs.writeFileSync(inv, handInventory(lab(), ['m1', 'm2', 'm3']));
    const r = await kha(['up', '-i', inv, '--log-file', logFile('up')], { timeoutMs: 5 * 60_000 });
    console.log(`[timing] kha up, 3 fresh hosts (hand-written inventory): ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(lab())).toEqual(['m1']);
    // m4 is a bare host: nothing installed yet
    expect((await lab().exec('m4', ['dpkg-query', '-W', 'haproxy'])).code).not.toBe(0);
  });

  test('add-master m4: exit 0, serves through the VIP, 4 backends everywhere, the VIP never moved, one inventory line added', async () => {
    const l = lab();
    const original = fs.readFileSync(inv, 'utf8');
    const pidsBefore: Record<string, { haproxy: number; keepalived: number }> = {};
    for (const h of ['m1', 'm2', 'm3']) pidsBefore[h] = { haproxy: await mainPid(l, h, 'haproxy'), keepalived: await mainPid(l, h, 'keepalived') };

    const monitor = await monitorVip(l, { maxSeconds: 300 });
    const sampler = sampleVip(l, { intervalMs: 100, maxMs: 4 * 60_000 });
    const r = await kha(['add-master', '-i', inv, '--name', 'm4', '--host', addr('m4'), '--log-file', logFile('add-master')], { timeoutMs: 4 * 60_000 });
    const tl = await sampler.stop();
    const exact = await monitor.stop();
    console.log(`[timing] kha add-master m4 (3 -> 4, installs keepalived + haproxy): ${secs(r.ms)}`);
    console.log(
      `[vip] add-master: ${tl.samples.length} samples, holders seen ${tl.sequence.join(' -> ')}; kernel address events on the VIP: ${exact.events.length}`,
    );
    expect(r.code, showRun(r)).toBe(0);

    // the VIP never moved: every sample m1 alone, and no address event for the VIP at all
    expect(tl.errors).toBe(0);
    expect(tl.samples.length).toBeGreaterThan(20);
    expect(tl.samples.filter((s) => s.holders.join() !== 'm1').map((s) => `${new Date(s.t0).toISOString()} ${s.holders.join('+') || 'none'}`)).toEqual([]);
    expect(exact.events.map((e) => `${e.host}${e.up ? '+' : '-'}`)).toEqual([]);
    expect(await vipHolders(l)).toEqual(['m1']);

    // m4 runs both services, as a backup; its stand-in apiserver is reached through the VIP
    for (const u of ['keepalived', 'haproxy']) expect(await unitState(l, 'm4', u), `m4 ${u}`).toEqual({ active: 'active', enabled: 'enabled' });
    const seen = await untilBodyFrom(l, 'm4', 120, 250);
    console.log(`[add-master] m4 answered through the VIP after ${seen.tries} requests; bodies ${JSON.stringify(Object.fromEntries(seen.bodies))}`);
    expect(seen.found, `m4 never answered through ${l.vip}:8443: ${JSON.stringify(Object.fromEntries(seen.bodies))}`).toBe(true);

    // every master's haproxy lists the 4 backends
    for (const h of ['m1', 'm2', 'm3', 'm4']) expect((await haproxyServers(l, h)).sort(), h).toEqual(['m1', 'm2', 'm3', 'm4']);
    // the old hosts were reloaded, not restarted (a restart of m1's keepalived would move the VIP)
    for (const h of ['m1', 'm2', 'm3']) {
      expect(await mainPid(l, h, 'haproxy'), `${h} haproxy restarted`).toBe(pidsBefore[h]!.haproxy);
      expect(await mainPid(l, h, 'keepalived'), `${h} keepalived restarted`).toBe(pidsBefore[h]!.keepalived);
    }

    // the inventory: the original bytes plus exactly one line for m4, indented like its siblings
    const after = fs.readFileSync(inv, 'utf8');
    const d = lineDiff(original, after);
    expect(d.removed).toEqual([]);
    expect(d.added).toHaveLength(1);
    expect(d.added[0]).toMatch(new RegExp(`^ {8}m4: \\{ ?ansible_host: "?${addr('m4').replace(/\./g, '\\.')}"? ?\\}$`));
    expect(after.replace(`${d.added[0]}\n`, '')).toBe(original);
    expect(after).toContain('vip: ' + l.vip + '   # the endpoint');
  });

  test('remove-master m1 (the VIP holder): exit 0, the VIP on one of m2..m4 and served, m1 retired, 3 backends, one inventory line gone', async () => {
    const l = lab();
    const original = fs.readFileSync(inv, 'utf8');
    expect(original).toContain(`m4: `); // the previous test added it
    expect(await vipHolders(l)).toEqual(['m1']);

    const monitor = await monitorVip(l, { maxSeconds: 300 });
    const sampler = sampleVip(l, { intervalMs: 100, maxMs: 4 * 60_000 });
    const r = await kha(['remove-master', '-i', inv, '--name', 'm1', '--log-file', logFile('remove-master')], { timeoutMs: 4 * 60_000 });
    const tl = await sampler.stop();
    const exact = await monitor.stop();
    const iso = (t: number) => new Date(t).toISOString().slice(11, 23);
    console.log(`[timing] kha remove-master m1 (the VIP holder, 4 -> 3): ${secs(r.ms)}`);
    console.log(
      `[vip] remove-master: sampler holders ${tl.sequence.join(' -> ')}, longest without a holder ${tl.longestZeroMs} ms (sampled); ` +
        `kernel events ${exact.events.map((e) => `${iso(e.t)} ${e.host}${e.up ? '+' : '-'}`).join(', ')}; gaps ${exact.gaps.map((g) => `${g.ms.toFixed(1)} ms`).join(', ') || 'none'}; overlaps ${exact.overlaps.map((o) => `${o.hosts.join('+')} ${o.ms.toFixed(1)} ms`).join(', ') || 'none'}`,
    );
    expect(r.code, showRun(r)).toBe(0);

    // the VIP: exactly one of m2..m4, never two at once, and it answers (not through m1)
    const holders = await vipHolders(l);
    expect(holders).toHaveLength(1);
    expect(['m2', 'm3', 'm4']).toContain(holders[0]);
    const split = splitBrains(tl, exact, 50);
    expect(split.unexplained, 'sampled rounds with 2+ holders and no VIP transition inside').toEqual([]);
    expect(split.long, 'two hosts held the VIP at once for 50 ms or more').toEqual([]);
    const bodies = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const res = await httpsGet(l.vip, 8443, '/healthz');
      expect(res.status).toBe(200);
      bodies.add(res.body);
    }
    expect([...bodies].sort()).toEqual(['ok m2', 'ok m3', 'ok m4']);

    // m1: both services inactive and disabled
    for (const u of ['keepalived', 'haproxy']) {
      const st = await unitState(l, 'm1', u);
      expect(st.active, `m1 ${u}`).not.toBe('active');
      expect(st.active, `m1 ${u}`).toMatch(/^(inactive|failed)$/);
      expect(st.enabled, `m1 ${u}`).toBe('disabled');
    }
    // the others list m2..m4 only
    for (const h of ['m2', 'm3', 'm4']) expect((await haproxyServers(l, h)).sort(), h).toEqual(['m2', 'm3', 'm4']);

    // the inventory: m1's line gone, every other byte kept
    const after = fs.readFileSync(inv, 'utf8');
    const d = lineDiff(original, after);
    expect(d.added).toEqual([]);
    expect(d.removed).toEqual([`        m1: { ansible_host: ${addr('m1')} }    # primary`]);
    expect(original.replace(`${d.removed[0]}\n`, '')).toBe(after);
    expect(after).not.toMatch(/^\s*m1:/m);
  });

  test('argument errors: exit 4, one error line, nothing changed', async () => {
    const l = lab();
    expect(await vipHolders(l), 'the previous test left no single VIP holder').toHaveLength(1);
    const invBefore = fs.readFileSync(inv, 'utf8');
    const mtimeBefore = fs.statSync(inv).mtimeMs;
    const one = path.join(l.stateDir, 'one-master.yaml');
    fs.writeFileSync(one, handInventory(l, ['m2']));
    const oneBefore = fs.readFileSync(one, 'utf8');
    const state = async () => {
      const out: string[] = [`holders ${(await vipHolders(l)).join(',')}`];
      for (const h of ['m1', 'm2', 'm3', 'm4']) {
        out.push(`${h} cfg ${await sha(l, h, '/etc/haproxy/haproxy.cfg')} ka ${await sha(l, h, '/etc/keepalived/keepalived.conf')}`);
        out.push(`${h} pids ${await mainPid(l, h, 'haproxy')} ${await mainPid(l, h, 'keepalived')}`);
      }
      return out;
    };
    const stateBefore = await state();
    // a free address of the lab subnet for add-master with a taken name
    const free = l.subnet.base.replace(/\.\d+$/, '.200');
    expect(l.hosts.map((h) => h.address)).not.toContain(free);

    const cases: Array<{ args: string[]; inv: string; want: RegExp }> = [
      { args: ['remove-master', '--name', 'm9'], inv, want: /m9 is not a host/ },
      { args: ['remove-master', '--name', 'm2'], inv: one, want: /m2 is the last master/ },
      { args: ['add-master', '--name', 'm2', '--host', free], inv, want: /m2 is already a host/ },
      { args: ['add-master', '--name', 'm9', '--host', addr('m3')], inv, want: new RegExp(`${addr('m3').replace(/\./g, '\\.')} is already the address of m3`) },
    ];
    for (const c of cases) {
      const r = await kha([...c.args, '-i', c.inv, '--log-file', logFile('arg-error')], { timeoutMs: 60_000 });
      console.log(`[arg error] kha ${c.args.join(' ')} -> exit ${r.code}: ${r.stderr.trim()}`);
      expect(r.code, showRun(r)).toBe(4);
      const lines = r.stderr.trim().split('\n');
      expect(lines, showRun(r)).toHaveLength(1);
      expect(lines[0], showRun(r)).toMatch(/^error: /);
      expect(lines[0], showRun(r)).toMatch(c.want);
      expect(r.stdout.trim(), showRun(r)).toBe('');
    }
    // nothing changed: inventories byte for byte (not even rewritten), hosts' configs and services
    expect(fs.readFileSync(inv, 'utf8')).toBe(invBefore);
    expect(fs.statSync(inv).mtimeMs).toBe(mtimeBefore);
    expect(fs.readFileSync(one, 'utf8')).toBe(oneBefore);
    expect(await state()).toEqual(stateBefore);
  });
});
