// `kha up` on 5 masters with --serial 20%: the order is measured on the hosts, not assumed.
// keepalived's start time per host (systemd ExecMainStartTimestamp, µs, UTC) and the moment m1
// entered MASTER state (its journal, µs) come from the containers, which share this machine's
// kernel clock, so they compare across hosts. (3 masters: up.test.ts; unicast: up-unicast.test.ts)
//
// Order: the rerun test needs the cluster the first test converged (one lab, as written).
import { describe, expect, test } from 'vitest';
import { useLab } from '../helpers/lab.js';
import { jsonChanged, outputProblems, secs, showRun, upLab as up } from '../helpers/cli.js';
import { ADVERT_INT_S, bodiesThroughVip, journalAtUs, mainPid, startedAtUs, vipHolders } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';

describe('kha up, 5 masters, --serial 20%: the primary first, then 4 batches of 1', () => {
  const lab = useLab(5, { aptCache: true, preinstalled: true });
  let invFile = '';

  test('order measured on the hosts: VIP on m1 before any other keepalived starts; m2..m5 one at a time', async () => {
    invFile = writeInv(lab(), 'hosts');
    const r = await up(lab(), invFile, { serial: '20%' });
    console.log(`[timing] kha up, 5 fresh hosts (--serial 20%): ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);

    // human output: the 4 others in 4 batches of one, in inventory order
    const batches = r.stdout
      .split('\n')
      .filter((l) => /^\s*batch \d+\/\d+:/.test(l))
      .map((l) => l.trim());
    expect(batches).toEqual(['batch 1/4: m2', 'batch 2/4: m3', 'batch 3/4: m4', 'batch 4/4: m5']);

    // measured on the hosts (containers share the host's clock)
    const masterAt = await journalAtUs(lab(), 'm1', /Entering MASTER STATE/);
    expect(masterAt.length, 'm1 never entered MASTER state').toBeGreaterThanOrEqual(1);
    const vipAt = masterAt[0]!;
    const startAt: Record<string, number> = {};
    for (const h of lab().hosts) startAt[h.name] = await startedAtUs(lab(), h.name, 'keepalived');
    const others = ['m2', 'm3', 'm4', 'm5'];
    const rel = (us: number) => `${((us - startAt['m1']!) / 1e6).toFixed(3)} s`;
    console.log(
      `[order] keepalived start, relative to m1's: m1 0.000 s, m1 MASTER (VIP) ${rel(vipAt)}, ` + others.map((h) => `${h} ${rel(startAt[h]!)}`).join(', '),
    );
    expect(startAt['m1']!).toBeLessThan(vipAt);
    for (const h of others) expect(startAt[h]!, `${h} started before the VIP was on m1`).toBeGreaterThan(vipAt);
    for (let i = 1; i < others.length; i++) {
      const gapMs = (startAt[others[i]!]! - startAt[others[i - 1]!]!) / 1000;
      expect(gapMs, `${others[i - 1]} -> ${others[i]}`).toBeGreaterThanOrEqual(ADVERT_INT_S * 1000);
    }
    // no other host ever held the VIP: nobody but m1 entered MASTER state
    for (const h of others) expect(await journalAtUs(lab(), h, /Entering MASTER STATE/), h).toEqual([]);
    expect(await vipHolders(lab())).toEqual(['m1']);
    const { bodies } = await bodiesThroughVip(lab(), 10);
    expect(new Set(bodies)).toEqual(new Set(lab().hosts.map((h) => `ok ${h.name}`)));
  });

  test('no-change rerun on 5 hosts: 0 changed, nothing restarted, VIP still on m1', async () => {
    expect(invFile).not.toBe('');
    const pids = await Promise.all(lab().hosts.map((h) => mainPid(lab(), h.name, 'keepalived')));
    const r = await up(lab(), invFile, { json: true, serial: '20%' });
    console.log(`[timing] kha up rerun (no change), 5 hosts: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    const { changed, doc } = jsonChanged(r);
    expect(outputProblems(doc), showRun(r)).toEqual([]);
    expect(Object.keys(doc.recap)).toHaveLength(5);
    expect(changed, JSON.stringify(doc.recap)).toBe(0);
    expect(doc.result?.holder).toBe('m1');
    expect(await Promise.all(lab().hosts.map((h) => mainPid(lab(), h.name, 'keepalived')))).toEqual(pids);
    expect(await vipHolders(lab())).toEqual(['m1']);
  });
});
