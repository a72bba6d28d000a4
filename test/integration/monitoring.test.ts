// Monitoring, proven with a real Prometheus (Debian's /usr/bin/prometheus, run on this machine by
// test/helpers/prometheus.ts) scraping a lab of 3 masters after kha up: haproxy's exporter
// (metrics_port) and kha's VRRP exporter (vrrp_metrics_port) on every host, and kha's own alert
// rules (`kha monitoring rules`, with a 20-second flap window and 1 move allowed so that one drill
// trips it). Each fault makes its alert reach `firing` through Prometheus's HTTP API, and the
// repair makes it inactive again:
//   a kha drill (VIP m1 -> m2 -> m1)           KhaVipFlapping
//   m2's apiserver stopped                     KhaBackendDown
//   VRRP from m1 dropped on m2 (nftables)      KhaVipSplitBrain
//   a foreign keepalived on m4 (not in the inventory) on kha's VRID    KhaForeignVrrpRouter
// The times from fault to firing are printed as `[alert] ...` lines.
//
// Order: the tests share the lab and Prometheus and run as written; each leaves the cluster healthy.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { kha, showRun, upLab } from '../helpers/cli.js';
import { sh, vipHolders } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';
import { useLab, type Lab } from '../helpers/lab.js';
import { startPrometheus, type Prometheus } from '../helpers/prometheus.js';

const MASTERS = ['m1', 'm2', 'm3'];
/**
 * KhaVipFlapping's window here: long enough for a drill's two moves and 4 scrapes (every 5 s), short
 * enough that waiting for the alert to end costs 20 s, not the minute a 1m window did.
 */
const FLAP_WINDOW = '20s';
/** KhaForeignVrrpRouter's window here, for the same reason (4 scrapes; the default 1m took a minute to clear) */
const FOREIGN_WINDOW = '20s';
const addr = (l: Lab, h: string) => l.hosts.find((x) => x.name === h)!.address;

function line(what: string, ms: number): string {
  return `[alert] ${what}: ${(ms / 1000).toFixed(1)} s`;
}

async function untilHolders(l: Lab, want: string[], timeoutMs: number): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  let hs: string[] = [];
  while (Date.now() < end) {
    hs = await vipHolders(l, MASTERS);
    if (JSON.stringify(hs) === JSON.stringify(want)) return hs;
    await sleep(250);
  }
  return hs;
}

describe('monitoring: a real Prometheus scrapes the lab; kha rules fire on real faults and resolve after the repair', () => {
  const lab = useLab(4, { aptCache: true, preinstalled: true });
  let inv = '';
  let prom: Prometheus | undefined;
  const p = () => prom!;

  beforeAll(async () => {
    const l = lab();
    inv = writeInv(l, 'hosts', { hosts: MASTERS });
    const r = await upLab(l, inv);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(l, MASTERS)).toEqual(['m1']);
    const rules = await kha(['monitoring', 'rules', '--flap-window', FLAP_WINDOW, '--flap-moves', '1', '--foreign-window', FOREIGN_WINDOW]);
    expect(rules.code, showRun(rules)).toBe(0);
    const scrape = await kha(['monitoring', 'scrape-config', '-i', inv, '--interval', '5s']);
    expect(scrape.code, showRun(scrape)).toBe(0);
    prom = await startPrometheus({ scrapeConfigs: scrape.stdout, ruleFiles: [rules.stdout] });
    await p().waitTargetsUp(60_000);
  });

  afterAll(async () => {
    await prom?.stop();
  });

  test('every host serves both endpoints; one VIP holder; no alert fires on a healthy cluster; kha status -o prometheus agrees', async () => {
    const l = lab();
    const targets = await p().targets();
    expect(targets.map((t) => `${t.labels['job']} ${t.scrapeUrl}`).sort()).toEqual(
      MASTERS.flatMap((h) => [`kha http://${addr(l, h)}:8406/metrics`, `kha-haproxy http://${addr(l, h)}:8405/metrics`]).sort(),
    );
    const held = await p().query('kha_vrrp_vip_held');
    expect(held.filter((x) => x.value === 1).map((x) => x.metric['instance'])).toEqual([`${addr(l, 'm1')}:8406`]);
    expect(held).toHaveLength(3);
    const masters = await p().query('kha_vrrp_state{state="MASTER"} == 1');
    expect(masters.map((x) => x.metric['instance'])).toEqual([`${addr(l, 'm1')}:8406`]);
    // effective priority: the base on every host (every check passes), each check reported passing
    const eff = await p().query('kha_vrrp_priority_effective - kha_vrrp_priority_base');
    expect(eff.map((x) => x.value)).toEqual([0, 0, 0]);
    const checks = await p().query('kha_vrrp_check_ok');
    expect(checks.length).toBeGreaterThanOrEqual(6);
    expect(checks.every((x) => x.value === 1)).toBe(true);
    // haproxy's own exporter: its view of the three apiservers
    const up = await p().query('sum by (instance) (kha_haproxy_server_state{state="UP"})');
    expect(up.map((x) => x.value)).toEqual([3, 3, 3]);
    expect((await p().query('count(haproxy_process_uptime_seconds)'))[0]?.value).toBe(3);
    // a few evaluations, then: nothing firing or pending
    await sleep(5_000);
    const pending = await p().alerts();
    expect(pending, pending.length ? await p().diagnose() : '').toEqual([]);

    const st = await kha(['status', '-i', inv, '-o', 'prometheus']);
    expect(st.code, showRun(st)).toBe(0);
    expect(st.stdout).toContain(`kha_vrrp_vip_held{host="m1",vip="${l.vip}"} 1`);
    expect(st.stdout).toContain(`kha_vrrp_vip_held{host="m2",vip="${l.vip}"} 0`);
    expect(st.stdout).toMatch(/^kha_host_reachable\{host="m3"\} 1$/m);
  });

  test('a kha drill moves the VIP twice: KhaVipFlapping fires, and is inactive once the window has passed; meanwhile m2 apiserver stopped fires KhaBackendDown, started clears it', async () => {
    const l = lab();
    const t0 = Date.now();
    const d = await kha(['drill', '-i', inv, '--mode', 'keepalived']);
    expect(d.code, showRun(d)).toBe(0);
    const firing = await p().waitAlert('KhaVipFlapping', 'firing', { timeoutMs: 60_000, labels: { vip: l.vip } });
    console.log(line('kha drill (keepalived) -> KhaVipFlapping firing, from the drill start', firing.at - t0));
    expect(await untilHolders(l, ['m1'], 10_000)).toEqual(['m1']);

    // while the flap window runs out: an apiserver down
    const t1 = Date.now();
    await sh(l, 'm2', ['systemctl', 'stop', 'kha-standin-apiserver']);
    try {
      const down = await p().waitAlert('KhaBackendDown', 'firing', { timeoutMs: 60_000, labels: { server: 'm2' } });
      console.log(line("m2's apiserver stopped -> KhaBackendDown firing", down.at - t1));
      // one server down is not all of them
      expect((await p().alerts()).filter((a) => a.name === 'KhaAllBackendsDown')).toEqual([]);
    } finally {
      await sh(l, 'm2', ['systemctl', 'start', 'kha-standin-apiserver']);
    }
    const t2 = Date.now();
    const back = await p().waitAlert('KhaBackendDown', 'inactive', { timeoutMs: 60_000, labels: { server: 'm2' } });
    console.log(line("m2's apiserver started -> KhaBackendDown inactive", back.at - t2));

    const gone = await p().waitAlert('KhaVipFlapping', 'inactive', { timeoutMs: 120_000, labels: { vip: l.vip } });
    console.log(line(`KhaVipFlapping inactive, from its firing (window ${FLAP_WINDOW})`, gone.at - firing.at));
  });

  test('VRRP from m1 dropped on m2 (nftables): KhaVipSplitBrain fires; the rule removed, it is inactive', async () => {
    const l = lab();
    const t0 = Date.now();
    await sh(l, 'm2', [
      'sh',
      '-c',
      `nft add table inet khatest && nft add chain inet khatest in '{ type filter hook input priority 0; }' && nft add rule inet khatest in ip protocol 112 drop`,
    ]);
    let split;
    try {
      split = await p().waitAlert('KhaVipSplitBrain', 'firing', { timeoutMs: 60_000, labels: { vip: l.vip } });
      console.log(line('VRRP dropped on m2 -> KhaVipSplitBrain firing', split.at - t0));
      expect(await vipHolders(l, MASTERS)).toEqual(['m1', 'm2']);
    } finally {
      await sh(l, 'm2', ['nft', 'delete', 'table', 'inet', 'khatest']);
    }
    const t1 = Date.now();
    const gone = await p().waitAlert('KhaVipSplitBrain', 'inactive', { timeoutMs: 60_000, labels: { vip: l.vip } });
    console.log(line('nftables rule removed -> KhaVipSplitBrain inactive', gone.at - t1));
    expect(await untilHolders(l, ['m1'], 10_000)).toEqual(['m1']);
  });

  test("a foreign keepalived on m4 (not kha's) speaks on kha's VRID: KhaForeignVrrpRouter fires naming it; stopped, the alert is inactive after its window", async () => {
    const l = lab();
    const conf = [
      'vrrp_instance FOREIGN {',
      '  state MASTER',
      '  interface eth0',
      '  virtual_router_id 51',
      '  priority 1',
      '  advert_int 1',
      `  unicast_src_ip ${addr(l, 'm4')}`,
      `  unicast_peer {\n    ${addr(l, 'm1')}\n  }`,
      `  virtual_ipaddress {\n    ${l.vip.replace(/\.\d+$/, '.240')}/32\n  }`,
      '}',
      '',
    ].join('\n');
    await sh(l, 'm4', ['sh', '-c', `mkdir -p /etc/keepalived && cat > /etc/keepalived/keepalived.conf <<'EOF'\n${conf}EOF`]);
    const t0 = Date.now();
    await sh(l, 'm4', ['systemctl', 'restart', 'keepalived']);
    try {
      const f = await p().waitAlert('KhaForeignVrrpRouter', 'firing', { timeoutMs: 60_000 });
      console.log(line('foreign keepalived on m4 -> KhaForeignVrrpRouter firing', f.at - t0));
      const src = await p().query('kha_vrrp_foreign_router');
      expect(src.map((x) => `${x.metric['instance']} ${x.metric['source']}`)).toEqual([`${addr(l, 'm1')}:8406 ${addr(l, 'm4')}`]);
      // kha's VIP stayed where it was: the foreign router has the lowest priority
      expect(await vipHolders(l, MASTERS)).toEqual(['m1']);
    } finally {
      await sh(l, 'm4', ['systemctl', 'stop', 'keepalived']);
    }
    const t1 = Date.now();
    const gone = await p().waitAlert('KhaForeignVrrpRouter', 'inactive', { timeoutMs: 120_000 });
    console.log(line(`foreign keepalived stopped -> KhaForeignVrrpRouter inactive (window ${FOREIGN_WINDOW})`, gone.at - t1));
  });
});
