// kha up's install and configure plays take the Plan phase's probe results (UpPlan.probed):
// counted on simulated hosts that answer the real probes of installTasks and configureTasks.
// "Before" is the plays as they ran before, with task objects of their own (so nothing to take).
import { describe, expect, it } from 'vitest';
import { preflightChecks } from '../../src/actions/preflight.js';
import { upFindings, upPhases, type UpState } from '../../src/actions/up.js';
import type { RunEvent } from '../../src/engine/events.js';
import { runPlay } from '../../src/engine/play.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings, type HaSettings } from '../../src/inventory/settings.js';
import { statScript } from '../../src/modules/file.js';
import { installedQuery } from '../../src/modules/package.js';
import { keyedHash } from '../../src/modules/secret-file.js';
import { probeScript, sha256 } from '../../src/modules/template.js';
import { HAPROXY_CFG, configureTasks, desiredFiles, haHandlers, installTasks } from '../../src/roles/ha.js';
import { HAPROXY_DROPIN_DIR, KEEPALIVED_DIR } from '../../src/roles/files.js';
import { BatchingConn, FakeConn, fakeFacts, fakeRun } from '../helpers/fake-conn.js';

const hosts = ['m1', 'm2', 'm3'];
const INV = [
  'all:',
  '  vars: { vip: 10.0.0.100, vrrp_auth_pass: kha-pw01 }',
  '  children:',
  '    masters:',
  '      hosts:',
  '        m1: { ansible_host: 10.0.0.11 }',
  '        m2: { ansible_host: 10.0.0.12 }',
  '        m3: { ansible_host: 10.0.0.13 }',
  '',
].join('\n');

/** One simulated host: installed or not, and its files (path -> content; every file root-owned, mode as kha wants). */
interface Sim {
  installed: boolean;
  files: Map<string, string>;
}

/** A host that answers the probes kha's install and configure tasks send; an install writes haproxy's default haproxy.cfg. */
function simHost(s: HaSettings, net: ReturnType<typeof preflightChecks>['net'], name: string, sim: Sim): FakeConn {
  const wanted = desiredFiles(s, net, name);
  const answers = new Map<string, () => { stdout?: string; code?: number }>();
  for (const f of wanted) {
    answers.set(probeScript(f.path, false, f.redact), () => {
      const content = sim.files.get(f.path);
      if (content === undefined) return { stdout: 'missing\n' };
      const hash = f.redact ? keyedHash(content) : sha256(content);
      return { stdout: `regular file|${f.mode.toString(8)}|root|root\n${hash}  ${f.path}\n` };
    });
  }
  for (const d of [KEEPALIVED_DIR, HAPROXY_DROPIN_DIR])
    answers.set(statScript(d), () => ({ stdout: sim.installed ? 'directory|755|root|root\n' : 'missing\n' }));
  answers.set(installedQuery(['keepalived', 'haproxy', 'nftables']), () => ({
    stdout: sim.installed ? 'keepalived 1:2.2.8-1 ii\nhaproxy 2.6.12-1 ii\nnftables 1.0.6-2+deb12u2 ii\n' : '',
  }));
  return new BatchingConn(name, (cmd) => {
    const answer = answers.get(cmd);
    if (answer) return answer();
    // the metrics units (kha-vrrp-count.service, kha-metrics.socket) are not in the facts: the start tasks ask systemd
    if (cmd.startsWith('systemctl show -p LoadState -p ActiveState -p UnitFileState -- '))
      return {
        stdout: sim.installed ? 'LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n' : 'LoadState=not-found\nActiveState=inactive\nUnitFileState=\n',
      };
    if (cmd.startsWith('id -u ')) return { code: sim.installed ? 0 : 1 };
    // the lock rides first in the Plan's batch (actions/lock.ts ridingLock)
    if (cmd.includes('ln -- "$t" /run/kha.lock')) return { stdout: 'KHA-LOCK-TAKEN\n' };
    if (cmd.includes('apt-get') && cmd.includes(' install ')) {
      sim.installed = true;
      sim.files.set(HAPROXY_CFG, 'global\n  daemon\n'); // the package's default haproxy.cfg
    }
    return {};
  });
}

/** A run over three hosts in `sims`, preflight done (the VRRP interface of each), as the Plan phase finds it. */
function upRun(sims: Record<string, Sim>) {
  const s = resolveSettings(parseInventory(INV, 'hosts.yaml'));
  const facts = Object.fromEntries(
    hosts.map((h) => [
      h,
      fakeFacts({
        hostname: h,
        // installed hosts run both services (the start tasks then decide from these facts)
        services: sims[h]!.installed ? { haproxy: { active: 'active', enabled: 'enabled' }, keepalived: { active: 'active', enabled: 'enabled' } } : {},
        interfaces: [
          { name: 'lo', up: true, ipv4: [{ address: '127.0.0.1', prefix: 8 }] },
          { name: 'eth0', up: true, ipv4: [{ address: s.hosts[h]!.address, prefix: 24 }] },
        ],
      }),
    ]),
  );
  const net = preflightChecks(s, facts).net;
  const run = fakeRun(hosts, (n) => simHost(s, net, n, sims[n]!));
  for (const h of hosts) run.ctx.facts.set(h, facts[h]!);
  const st: UpState = { run: run.ctx, s, opts: { serial: 1 }, plays: [] };
  // what the Preflight phase would have found: the phases after it read it
  const found = upFindings();
  found.preflight.set({ net, holders: [] });
  const roundTrips = () => hosts.reduce((n, h) => n + (run.connector.conns.get(h)?.stats.execs ?? 0), 0);
  return { ...run, s, st, net, found, roundTrips };
}

const reported = (events: RunEvent[]) => events.filter((e) => e.type === 'task').map((e) => ({ ...e, ms: 0 }));

/** kha up's Plan, Install and Configure phases; `before`: the two plays as before, with task objects of their own. */
async function planInstallConfigure(sims: Record<string, Sim>, before: boolean) {
  const r = upRun(sims);
  const phases = upPhases(r.found);
  const [plan, install, configure] = ['Plan', 'Install', 'Configure'].map((t) => phases.find((p) => p.title.startsWith(t))!);
  await plan!.run(r.st);
  const planned = r.roundTrips();
  r.events.length = 0;
  if (before) {
    const changing = hosts; // every host has something to change in these scenarios
    await runPlay(r.ctx, { name: 'install', hosts: changing, tasks: installTasks(r.s), maxFailPercentage: 0 });
    await runPlay(r.ctx, {
      name: 'configure',
      hosts: changing,
      tasks: configureTasks(r.s, r.net),
      handlers: haHandlers(),
      flushHandlers: false,
      maxFailPercentage: 0,
    });
  } else {
    for (const p of [install!, configure!]) if (p.shouldRun?.(r.st) !== false) await p.run(r.st);
  }
  return { planned, plays: r.roundTrips() - planned, events: r.events, run: r.ctx };
}

/** Hosts with everything in place but `stale` files (their content differs from kha's). */
function converged(stale: string[]): Record<string, Sim> {
  const s = resolveSettings(parseInventory(INV, 'hosts.yaml'));
  const net = Object.fromEntries(hosts.map((h) => [h, { iface: 'eth0', address: s.hosts[h]!.address, prefix: 24, holdsVip: false }]));
  return Object.fromEntries(
    hosts.map((h) => [h, { installed: true, files: new Map(desiredFiles(s, net, h).map((f) => [f.path, stale.includes(f.path) ? 'old\n' : f.content])) }]),
  );
}

describe('the check scripts user', () => {
  it('is created with the reason an operator reads in the plan ("no such user", not "probe failed")', () => {
    const r = upRun(Object.fromEntries(hosts.map((h) => [h, { installed: false, files: new Map<string, string>() }])));
    const user = configureTasks(r.s, r.net).find((t) => String((t.params as { title?: string }).title).startsWith('user keepalived_script'));
    expect((user?.params as { why?: string; unless?: unknown }).why).toBe('no such user');
    expect((user?.params as { unless?: unknown }).unless).toEqual({ argv: ['id', '-u', 'keepalived_script'] });
  });
});

describe("kha up: install and configure take the Plan's probe results", () => {
  it('a changed haproxy.cfg on every host: 63 round trips in the two plays before, 30 now, the same reports', async () => {
    const b = await planInstallConfigure(converged([HAPROXY_CFG]), true);
    const a = await planInstallConfigure(converged([HAPROXY_CFG]), false);
    expect(a.planned).toBe(3); // the Plan: one round trip per host, both times
    expect(b.planned).toBe(3);
    // before: install's plan-first pass (3) and configure's (3), then per host 9 probes one by one
    // up to haproxy.cfg, its write (mkdir, validate, rename: 3), keepalived.conf's probe (1) and
    // the 6 metrics files' (kha-metrics.sh, kha-metrics-server.pl, its socket and service units, the
    // nftables counter and its unit)
    expect(b.plays).toBe(3 + 3 + 3 * (9 + 3 + 1 + 6));
    // now: per host the write, and the files after it probed again: keepalived.conf and the 6 metrics files
    expect(a.plays).toBe(3 * (3 + 1 + 6));
    expect(reported(a.events)).toEqual(reported(b.events));
    expect(
      reported(a.events)
        .filter((e) => e.status === 'changed')
        .map((e) => `${e.host}: ${e.task}: ${e.why}`),
    ).toEqual(hosts.map((h) => `${h}: write ${HAPROXY_CFG}: content differs`));
  });

  it("a fresh host: installing writes haproxy's default haproxy.cfg, which configure probes again (the Plan saw none)", async () => {
    const fresh = () => Object.fromEntries(hosts.map((h) => [h, { installed: false, files: new Map<string, string>() }]));
    const b = await planInstallConfigure(fresh(), true);
    const a = await planInstallConfigure(fresh(), false);
    const why = (events: RunEvent[]) => reported(events).find((e) => e.host === 'm1' && e.task === `write ${HAPROXY_CFG}`)?.why;
    expect(why(a.events)).toBe('content differs');
    expect(reported(a.events)).toEqual(reported(b.events));
    // only install's plan-first pass (3) and its probe on each host (3) are saved: configure probes as before
    expect(b.plays - a.plays).toBe(3 + 3);
    expect(a.run.generation('m1')).toBeGreaterThan(1);
  });

  it('a converged cluster: the Plan finds nothing, and neither install nor configure runs', async () => {
    const r = upRun(converged([]));
    const phases = upPhases(r.found);
    const [plan, install, configure] = ['Plan', 'Install', 'Configure'].map((t) => phases.find((p) => p.title.startsWith(t))!);
    await plan!.run(r.st);
    expect([install!.shouldRun?.(r.st), configure!.shouldRun?.(r.st)]).toEqual([false, false]);
    expect(r.roundTrips()).toBe(3);
  });
});
