// `kha up` with vrrp_unicast: true on a fresh lab: keepalived adverts go host to host (unicast_peer)
// instead of to 224.0.0.18. Fresh, not a rerun of a multicast lab: switching the mode on a running
// cluster is a separate problem (see up.test.ts's config-change rerun and the report).
//
// Order: one test, on its own lab.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { useLab } from '../helpers/lab.js';
import { secs, showRun, upLab as up } from '../helpers/cli.js';
import { ADVERT_INT_S, bodiesThroughVip, sh, vipHolders } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';

describe('kha up with vrrp_unicast: true (fresh lab)', () => {
  const lab = useLab(3, { aptCache: true, preinstalled: true });

  test('unicast_src_ip + unicast_peer in keepalived.conf, the VIP on m1 only, VIP:8443 answers', async () => {
    const file = writeInv(lab(), 'hosts-unicast', { vars: { vrrp_unicast: true } });
    const r = await up(lab(), file);
    console.log(`[timing] kha up, 3 fresh hosts, unicast: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    for (const h of lab().hosts) {
      const conf = await sh(lab(), h.name, ['cat', '/etc/keepalived/keepalived.conf']);
      expect(conf, h.name).toMatch(new RegExp(`^\\s*unicast_src_ip ${h.address.replace(/\./g, '\\.')}$`, 'm'));
      const peers = /unicast_peer \{([^}]*)\}/.exec(conf)?.[1]?.trim().split(/\s+/).sort();
      expect(peers, h.name).toEqual(
        lab()
          .hosts.filter((x) => x.name !== h.name)
          .map((x) => x.address)
          .sort(),
      );
    }
    expect(await vipHolders(lab())).toEqual(['m1']);
    // the others are BACKUP: they hear m1's unicast adverts (else they would claim the VIP too)
    await sleep(3 * ADVERT_INT_S * 1000 + 1000);
    expect(await vipHolders(lab())).toEqual(['m1']);
    const { statuses, bodies } = await bodiesThroughVip(lab(), 6);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(new Set(bodies)).toEqual(new Set(['ok m1', 'ok m2', 'ok m3']));
  });
});
