// Greenfield, as kubeadm's HA guide does it: the VIP first (`kha up` on masters where no apiserver
// runs yet), then `kubeadm init` against it on the primary, then the joins. On real systemd
// containers; the stand-in apiserver plays kube-apiserver (stopped = before kubeadm init, started =
// what init / join do). `ip monitor address` runs on every VRRP host for the whole file and
// records each add and delete of the VIP: a step that must not move the VIP must add no event.
//
// One lab, in order:
// (a) keepalived + haproxy on the masters m1..m3, plus n1 with a node-local proxy: up with every
//     apiserver down, a rerun, restarts and reloads on the backups (P1, P2), kubeadm init on m1
//     (time until VIP:8443 answers from it; its certificate without, then with, the VIP as SAN),
//     the joins (round robin over 3), a full outage and back, the holder's apiserver down (P4),
//     the holder's haproxy stopped (P3: the one failure that moves the VIP);
// (b) dedicated load balancers lb1, lb2 in front of the same masters, all apiservers down again:
//     up, a haproxy restart on the backup, kubeadm init on m1: zero moves.
// Traffic from this process goes only to lab addresses (the hosts and the VIP on the lab bridge).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { useLab, type Lab } from '../helpers/lab.js';
import { monitorVip } from '../helpers/vip-watch.js';
import { errorLines, kha, outputProblems, runUp, secs, showRun } from '../helpers/cli.js';
import { journalAtUs, readyz, sh, tcpAccepts, vipHolders, waitHolders } from '../helpers/hosts.js';
import { writeInv } from '../helpers/inventories.js';

const MON = 'kha-vipmon';
const MASTERS = ['m1', 'm2', 'm3'];
const APISERVER = 'kha-standin-apiserver';
const BOOTSTRAP = 'bootstrap: no apiserver answers yet';

/** start `ip -o monitor address` as a transient unit on each host (output in its journal) */
async function startVipMonitors(l: Lab, hosts: string[]): Promise<void> {
  await Promise.all(hosts.map((h) => sh(l, h, ['systemd-run', `--unit=${MON}`, '--collect', 'ip', '-o', 'monitor', 'address'])));
}

/** every add (+) and delete (-) of the VIP the hosts' monitors saw, as `host+` / `host-`, per host in host order */
async function vipEvents(l: Lab, hosts: string[]): Promise<string[][]> {
  return Promise.all(
    hosts.map(async (h) => {
      const out = await sh(l, h, ['journalctl', '-u', MON, '-o', 'cat', '--no-pager']);
      return out
        .split('\n')
        .filter((x) => x.includes(` inet ${l.vip}/`))
        .map((x) => `${h}${x.startsWith('Deleted') ? '-' : '+'}`);
    }),
  );
}

/** poll https://VIP:8443/readyz until `ok(body)`; ms from t0, or null after timeoutMs */
async function untilVipAnswers(l: Lab, ok: (body: string) => boolean, t0: number, timeoutMs: number): Promise<number | null> {
  for (;;) {
    const r = await readyz(l.vip, 8443).catch(() => null);
    if (r && r.status === 200 && ok(r.body)) return Math.round(performance.now() - t0);
    if (performance.now() - t0 > timeoutMs) return null;
    await sleep(50);
  }
}

/** n fresh HTTPS requests through the VIP: the bodies, and how many failed */
async function throughVip(l: Lab, n: number): Promise<{ bodies: string[]; failed: number }> {
  const bodies: string[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await readyz(l.vip, 8443).catch(() => null);
    if (r && r.status === 200) bodies.push(r.body);
    else failed++;
  }
  return { bodies, failed };
}

async function apiservers(l: Lab, hosts: string[], verb: 'start' | 'stop'): Promise<void> {
  await Promise.all(hosts.map((h) => sh(l, h, ['systemctl', verb, APISERVER])));
}

/** reissue a host's stand-in certificate with the VIP among its SANs (kubeadm's certSANs) */
async function certWithVip(l: Lab, host: string): Promise<void> {
  await sh(l, host, ['sh', '-c', `echo IP:${l.vip} > /etc/kha-standin/extra-sans && rm -f /etc/kha-standin/tls.crt`]);
}

describe('greenfield: kha up before kubeadm init, then init and joins; the VIP never moves without a reason', () => {
  const lab = useLab(['m1', 'm2', 'm3', 'n1', 'lb1', 'lb2'], { aptCache: true, preinstalled: true });
  let inv = '';
  /** VIP events before the current step */
  let seen: string[][] = [];
  const moves: Record<string, number> = {};

  /**
   * kha status, asked again (up to 10 s) until `ok`: a status is a snapshot, and each haproxy
   * (the masters', the node's) marks a backend that just started up after its own checks (~1 s)
   */
  const status = async (ok: (r: { code: number | null; stdout: string }) => boolean = () => true) => {
    const t0 = performance.now();
    for (;;) {
      const r = await kha(['status', '-i', inv, '--known-hosts', lab().knownHostsFile]);
      if (ok(r) || performance.now() - t0 > 10_000) return r;
      await sleep(500);
    }
  };
  /** the VIP events since the previous call, recorded for the step's name */
  const stepMoves = async (step: string, hosts = MASTERS): Promise<string[]> => {
    const all = await vipEvents(lab(), hosts);
    // per host: the events after those already seen (a step can move the VIP on several hosts)
    const fresh = all.flatMap((evs, i) => evs.slice(seen[i]?.length ?? 0));
    seen = all;
    moves[step] = fresh.length;
    console.log(`[vip events] ${step}: ${fresh.length ? fresh.join(' ') : 'none'}`);
    return fresh;
  };

  test('(a) kha up with every apiserver stopped: exit 0, the VIP on m1, one bootstrap line and the kubeadm steps; status exits 0', async () => {
    // masters before kubeadm init run no apiserver; n1, lb1, lb2 run none at all
    await Promise.all(['n1', 'lb1', 'lb2'].map((h) => sh(lab(), h, ['systemctl', 'disable', '--now', APISERVER])));
    await apiservers(lab(), MASTERS, 'stop');
    await startVipMonitors(lab(), [...MASTERS, 'lb1', 'lb2']);
    inv = writeInv(lab(), 'greenfield', {
      groups: { masters: MASTERS, nodes: ['n1'] },
      vars: { node_local_proxy: true },
      hosts: [...MASTERS, 'n1'],
    });
    const r = await runUp({ inventory: inv, knownHosts: lab().knownHostsFile });
    console.log(`[timing] kha up, 3 masters without apiserver + 1 node: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(errorLines(r.stdout + r.stderr), showRun(r)).toEqual([]);
    expect(
      r.stdout.split('\n').filter((l) => l.includes(BOOTSTRAP)),
      showRun(r),
    ).toHaveLength(1);
    // the run ends with the exact next steps
    const tail = r.stdout.slice(r.stdout.indexOf('==> Next steps'));
    expect(r.stdout.indexOf('==> Next steps'), showRun(r)).toBeGreaterThan(r.stdout.indexOf('==> Recap'));
    expect(tail).toContain(`on m1: kubeadm init --control-plane-endpoint ${lab().vip}:8443 --apiserver-cert-extra-sans ${lab().vip} --upload-certs`);
    expect(tail).toMatch(new RegExp(`then on m2, m3, one at a time: kubeadm join ${lab().vip.replace(/\./g, '\\.')}:8443 --control-plane `));
    // the node's proxy runs and accepts connections, with no master to reach yet
    expect(r.stdout).toMatch(/n1: 127\.0\.0\.1:6443 accepts connections/);
    expect(await vipHolders(lab(), MASTERS)).toEqual(['m1']);
    expect(await tcpAccepts(lab().vip, 8443)).toBe(true);
    expect(await stepMoves('kha up')).toEqual(['m1+']);

    const s = await status();
    expect(s.code, showRun(s)).toBe(0);
    expect(s.stdout).toContain(BOOTSTRAP);
    expect(s.stdout).toMatch(/^n1\s.*haproxy\s+active\s+0\/3/m);
    expect(s.stderr).not.toMatch(/error:/);
  });

  test('(a) a rerun changes nothing and passes; restarts and reloads on the backups take nothing (P1, P2)', async () => {
    const r = await runUp({ inventory: inv, knownHosts: lab().knownHostsFile, json: true });
    expect(r.code, showRun(r)).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      result: { bootstrap: boolean; apiserversUp: number; nextSteps?: string[] };
      recap: Record<string, { changed: number }>;
    };
    expect(outputProblems(doc), showRun(r)).toEqual([]);
    expect(Object.values(doc.recap).reduce((a, h) => a + h.changed, 0)).toBe(0);
    expect(doc.result.bootstrap).toBe(true);
    expect(doc.result.apiserversUp).toBe(0);
    expect(doc.result.nextSteps?.[0]).toMatch(/^on m1: kubeadm init /);

    // P2: a freshly started haproxy counts its backends up until the first check; it must not
    // look healthier than the holder's
    await sh(lab(), 'm2', ['systemctl', 'restart', 'haproxy']);
    await sh(lab(), 'm3', ['systemctl', 'reload', 'haproxy']);
    await sleep(1_000);
    await sh(lab(), 'm3', ['systemctl', 'restart', 'keepalived']);
    await sh(lab(), 'm2', ['systemctl', 'restart', 'keepalived', 'haproxy']);
    // past the check's rise (2 x 1 s), haproxy's first checks and three advert intervals
    await sleep(8_000);
    expect(await vipHolders(lab(), MASTERS)).toEqual(['m1']);
    expect(await stepMoves('rerun + restarts/reloads on the backups')).toEqual([]);
  });

  test('(a) kubeadm init on m1: VIP:8443 answers from it within 3 s; its certificate without the VIP is named, with it not', async () => {
    const t0 = performance.now();
    await sh(lab(), 'm1', ['systemctl', 'start', APISERVER]);
    const ms = await untilVipAnswers(lab(), (b) => b === 'ok m1', t0, 20_000);
    console.log(`[walk] m1's apiserver started: VIP:8443 answers from it after ${ms} ms`);
    expect(ms).not.toBeNull();
    expect(ms!).toBeLessThanOrEqual(3_000);

    const s = await status((x) => x.code === 0 && /^n1\s.*active\s+1\/3/m.test(x.stdout));
    expect(s.code, showRun(s)).toBe(0);
    expect(s.stdout).not.toContain(BOOTSTRAP);
    expect(s.stdout).toMatch(/^m1\s.*\byes\b.*1\/3 \(down: m2,m3\)/m);
    expect(s.stdout).toMatch(/^n1\s.*haproxy\s+active\s+1\/3/m);
    const warn = s.stdout.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warn, showRun(s)).toHaveLength(1);
    expect(warn[0]).toContain(`m1's apiserver certificate does not cover ${lab().vip}`);
    expect(warn[0]).toContain(`"${lab().vip}" to apiServer.certSANs`);
    // kha up says the same, once, and passes
    const u = await runUp({ inventory: inv, knownHosts: lab().knownHostsFile });
    expect(u.code, showRun(u)).toBe(0);
    expect(
      u.stdout.split('\n').filter((l) => l.includes(`m1's apiserver certificate does not cover ${lab().vip}`)),
      showRun(u),
    ).toHaveLength(1);
    expect(u.stdout).not.toContain(BOOTSTRAP);
    expect(u.stdout).not.toContain('==> Next steps');

    // init with the VIP in certSANs (as the next steps say): no warning
    await certWithVip(lab(), 'm1');
    await sh(lab(), 'm1', ['systemctl', 'restart', APISERVER]);
    expect(await untilVipAnswers(lab(), (b) => b === 'ok m1', performance.now(), 20_000)).not.toBeNull();
    const s2 = await status((x) => x.code === 0 && !/^warning:/m.test(x.stdout));
    expect(s2.code, showRun(s2)).toBe(0);
    expect(s2.stdout).not.toMatch(/^warning:/m);
    expect(await vipHolders(lab(), MASTERS)).toEqual(['m1']);
    expect(await stepMoves('kubeadm init on m1')).toEqual([]);
  });

  test('(a) the joins: m2 and m3 start, VIP:8443 round-robins over all three, nobody warns', async () => {
    await Promise.all(['m2', 'm3'].map((h) => certWithVip(lab(), h)));
    const t0 = performance.now();
    await apiservers(lab(), ['m2', 'm3'], 'start');
    let seenBodies = new Set<string>();
    for (;;) {
      const r = await throughVip(lab(), 6);
      expect(r.failed).toBe(0);
      r.bodies.forEach((b) => seenBodies.add(b));
      if (seenBodies.size === 3 || performance.now() - t0 > 20_000) break;
    }
    console.log(`[walk] m2, m3 joined: all three behind the VIP after ${Math.round(performance.now() - t0)} ms`);
    seenBodies = new Set((await throughVip(lab(), 9)).bodies);
    expect(seenBodies).toEqual(new Set(['ok m1', 'ok m2', 'ok m3']));
    const s = await status((x) => x.code === 0 && /^n1\s.*active\s+3\/3/m.test(x.stdout));
    expect(s.code, showRun(s)).toBe(0);
    expect(s.stdout).toMatch(/^m1\s.*\byes\b.*3\/3/m);
    expect(s.stdout).toMatch(/^n1\s.*haproxy\s+active\s+3\/3/m);
    expect(s.stdout).not.toMatch(/^warning:|bootstrap/m);
    expect(await stepMoves('joins (m2, m3)')).toEqual([]);
  });

  test('(a) every apiserver stops (a full outage) and comes back: the VIP stays on m1 (P1)', async () => {
    await apiservers(lab(), MASTERS, 'stop');
    await sleep(8_000);
    const s = await status((x) => x.stdout.includes(BOOTSTRAP));
    expect(s.code, showRun(s)).toBe(0);
    expect(s.stdout).toContain(BOOTSTRAP);
    expect(s.stdout).toMatch(/^n1\s.*haproxy\s+active\s+0\/3/m);
    expect(await vipHolders(lab(), MASTERS)).toEqual(['m1']);
    const t0 = performance.now();
    await apiservers(lab(), MASTERS, 'start');
    const ms = await untilVipAnswers(lab(), () => true, t0, 20_000);
    console.log(`[walk] all apiservers back: VIP:8443 answers after ${ms} ms`);
    expect(ms).not.toBeNull();
    expect(await stepMoves('full outage and back')).toEqual([]);
  });

  test("(a) the holder's apiserver stops while the others run: clients through the VIP keep working (P4)", async () => {
    await sleep(1_500); // every backend checked up again (rise 2 at 500ms)
    await sh(lab(), 'm1', ['systemctl', 'stop', APISERVER]);
    try {
      const r = await throughVip(lab(), 30);
      console.log(`[walk] m1's apiserver stopped: 30 requests through the VIP, ${r.failed} failed, answered by ${[...new Set(r.bodies)].join(', ')}`);
      expect(r.failed).toBe(0);
      expect(r.bodies.filter((b) => b === 'ok m1')).toEqual([]);
      expect(await vipHolders(lab(), MASTERS)).toEqual(['m1']);
      const s = await status((x) => x.code === 0 && /^m1\s.*\byes\b.*2\/3 \(down: m1\)/m.test(x.stdout));
      expect(s.code, showRun(s)).toBe(0);
      expect(s.stdout).toMatch(/^m1\s.*\byes\b.*2\/3 \(down: m1\)/m);
      expect(s.stdout).not.toContain(BOOTSTRAP);
    } finally {
      await sh(lab(), 'm1', ['systemctl', 'start', APISERVER]);
    }
    expect(await stepMoves("holder's apiserver down")).toEqual([]);
  });

  test("(a) the holder's haproxy stops: the VIP moves to m2 within 3 s (P3: the track_file puts m1 in FAULT at once), and comes back", async () => {
    const limit = 3000;
    const t0Us = Date.now() * 1000;
    const t0 = performance.now();
    await sh(lab(), 'm1', ['systemctl', 'stop', 'haproxy']);
    const moved = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm2', t0, limit + 10_000);
    const at = (await journalAtUs(lab(), 'm2', /Entering MASTER STATE/)).filter((t) => t >= t0Us);
    const exact = at.length ? Math.round((at[0]! - t0Us) / 1000) : Number.POSITIVE_INFINITY;
    console.log(`[P3] haproxy stopped on m1: m2 MASTER after ${exact} ms (its journal), seen by polling after ${moved.ms} ms (limit ${limit} ms)`);
    expect(moved.holders).toEqual(['m2']);
    expect(exact).toBeLessThanOrEqual(limit);
    const s = await status();
    expect(s.code, showRun(s)).toBe(0);
    expect(s.stdout).toMatch(/holder: m2\b/);
    expect(s.stdout).toMatch(/^m1\s.*\bactive\b.*\binactive\b/m);
    await sh(lab(), 'm1', ['systemctl', 'start', 'haproxy']);
    const back = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm1', performance.now(), 30_000, 200);
    expect(back.holders).toEqual(['m1']);
    // exactly one move there and one back: m1-, m2+, then m2-, m1+
    expect((await stepMoves("holder's haproxy stopped and started")).sort()).toEqual(['m1+', 'm1-', 'm2+', 'm2-']);
  });

  test("(a) the holder's haproxy is killed (SIGKILL, no clean stop): the VIP is on m2 within 3 s by the kernel's address events, and comes back", async () => {
    const limit = 3000;
    const mon = await monitorVip(lab(), { hosts: MASTERS, maxSeconds: 60 });
    // the holder's own clock at the kill (containers share the kernel clock)
    const killedAt = Number((await sh(lab(), 'm1', ['sh', '-c', 'date +%s.%N; systemctl kill -s KILL haproxy'])).trim().split('\n')[0]) * 1000;
    // Debian's unit restarts a haproxy that died (Restart=always): once it is ready again, m1 takes
    // the VIP back (preemption), possibly before a poll would see m2; the kernel's events see both
    await sleep(limit);
    const back = await waitHolders(lab(), (hs) => hs.length === 1 && hs[0] === 'm1', performance.now(), 30_000, 200);
    const w = await mon.stop();
    const gained = w.events.find((e) => e.host === 'm2' && e.up && e.t >= killedAt);
    const exact = gained ? Math.round(gained.t - killedAt) : Number.POSITIVE_INFINITY;
    console.log(`[P3 kill] haproxy SIGKILL on m1: the VIP on m2 after ${exact} ms (kernel events), longest no-holder ${Math.round(w.longestGapMs)} ms`);
    expect(exact).toBeLessThanOrEqual(limit);
    expect(w.longestOverlapMs).toBeLessThan(1000);
    expect(back.holders).toEqual(['m1']);
    expect((await stepMoves("holder's haproxy killed, restarted by systemd")).sort()).toEqual(['m1+', 'm1-', 'm2+', 'm2-']);
  });

  test('(b) dedicated load balancers, every apiserver stopped: up exits 0, a haproxy restart on the backup and kubeadm init move nothing', async () => {
    // the masters stop serving the VIP; lb1 and lb2 take over the job
    await Promise.all(MASTERS.map((h) => sh(lab(), h, ['systemctl', 'disable', '--now', 'keepalived', 'haproxy'])));
    await apiservers(lab(), MASTERS, 'stop');
    inv = writeInv(lab(), 'greenfield-lb', {
      groups: { masters: MASTERS, loadbalancers: ['lb1', 'lb2'] },
      vars: { virtual_router_id: 52 },
      hosts: [...MASTERS, 'lb1', 'lb2'],
    });
    const lbs = ['lb1', 'lb2'];
    seen = await vipEvents(lab(), lbs);
    const r = await runUp({ inventory: inv, knownHosts: lab().knownHostsFile });
    console.log(`[timing] kha up, 2 dedicated load balancers, no apiserver: ${secs(r.ms)}`);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.includes(BOOTSTRAP))).toHaveLength(1);
    expect(r.stdout).toContain(`on m1: kubeadm init --control-plane-endpoint ${lab().vip}:8443`);
    expect(await vipHolders(lab(), lbs)).toEqual(['lb1']);
    expect(await stepMoves('(b) kha up', lbs)).toEqual(['lb1+']);

    await sh(lab(), 'lb2', ['systemctl', 'restart', 'haproxy']);
    await sleep(8_000);
    const s = await status();
    expect(s.code, showRun(s)).toBe(0);
    expect(s.stdout).toContain(BOOTSTRAP);

    const t0 = performance.now();
    await sh(lab(), 'm1', ['systemctl', 'start', APISERVER]);
    const ms = await untilVipAnswers(lab(), (b) => b === 'ok m1', t0, 20_000);
    console.log(`[walk, dedicated LBs] m1's apiserver started: VIP:8443 answers from it after ${ms} ms`);
    expect(ms).not.toBeNull();
    expect(ms!).toBeLessThanOrEqual(3_000);
    expect(await vipHolders(lab(), lbs)).toEqual(['lb1']);
    expect(await stepMoves('(b) restart on lb2 + kubeadm init', lbs)).toEqual([]);
    console.log(`[vip events] per step: ${JSON.stringify(moves)}`);
  });
});
