// kha drain / kha undrain against simulated hosts: each host's commands run here for real (sh and
// perl, as on the hosts) against its own fake haproxy stats socket (test/helpers/fake-haproxy.ts),
// the hosts' paths swapped for temp ones; the lock, the health-path probe and the command run
// between drain and undrain are answered by the test. What is checked: the order of the steps, what
// each haproxy ends with, the figures, the exit codes and the lines a human reads.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { checkServer, drain, drainSummary, drainTargets, nginxLine, undrain, type DrainOptions, type DrainOutcome } from '../../src/actions/drain.js';
import type { RunEvent } from '../../src/engine/events.js';
import { ExitCode, KhaError, describeError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings, type HaSettings } from '../../src/inventory/settings.js';
import { HAPROXY_CFG, STATS_SOCKET } from '../../src/roles/ha.js';
import { SERVER_STATE_FILE } from '../../src/roles/server-state.js';
import type { Command, ExecOptions, ExecResult } from '../../src/transport/types.js';
import { render } from '../../src/transport/quote.js';
import { parseOutput } from '../../src/cli/output-schema.js';
import { splitCommandArgv } from '../../src/cli/base.js';
import { runKha, showRun } from '../helpers/cli.js';
import { FakeConn, fakeRun } from '../helpers/fake-conn.js';
import { startFakeHaproxy, type FakeHaproxy, type FakeServer } from '../helpers/fake-haproxy.js';

const execFileP = promisify(execFile);
const VIP = '10.0.0.100';

function settings(o: { nodes?: 'haproxy' | 'nginx' } = {}): HaSettings {
  const lines = [
    'all:',
    '  vars:',
    `    vip: ${VIP}`,
    ...(o.nodes ? ['    node_local_proxy: true', `    node_proxy: ${o.nodes}`] : []),
    '  hosts:',
    '    m1: { ansible_host: 10.0.0.11 }',
    '    m2: { ansible_host: 10.0.0.12 }',
    '    m3: { ansible_host: 10.0.0.13 }',
    '    n1: { ansible_host: 10.0.0.21 }',
    '  children:',
    '    masters:',
    '      hosts: { m1: , m2: , m3: }',
    '    nodes:',
    '      hosts: { n1: }',
  ];
  return resolveSettings(parseInventory(`${lines.join('\n')}\n`, 'hosts.yaml'));
}

/** One simulated host: its fake haproxy (or none: haproxy stopped), its temp paths, what the test answers. */
interface SimHost {
  name: string;
  dir: string;
  hap?: FakeHaproxy;
}

interface Sim {
  hosts: Map<string, SimHost>;
  /** health-path answers, one per probe (the last one repeats) */
  ready: string[];
  /** the command run between drain and undrain: its result, and output streamed first */
  command?: { result: Partial<ExecResult>; output?: Array<['stdout' | 'stderr', string]> };
  /** every script each host ran, in order (the lock's included) */
  log: Array<{ host: string; script: string; become: boolean | undefined }>;
}

/** A connection whose scripts run here: the runtime API and the save for real, the rest answered. */
class SimConn extends FakeConn {
  constructor(
    private readonly sim: Sim,
    private readonly h: SimHost,
  ) {
    super(h.name);
  }
  override async exec(cmd: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    const script = render(cmd);
    this.sim.log.push({ host: this.h.name, script, become: opts.become });
    const ok = (r: Partial<ExecResult>): ExecResult => ({ code: 0, signal: null, stdout: '', stderr: '', ...r });
    if (script.includes('ln -- "$t"')) return ok({ stdout: 'KHA-LOCK-TAKEN\n' });
    if (script.startsWith('c=$(cat')) return ok({ stdout: 'KHA-LOCK-RELEASED\n' });
    if (script.includes('curl -sk')) return ok({ stdout: this.sim.ready.length > 1 ? this.sim.ready.shift()! : (this.sim.ready[0] ?? '000') });
    if (script.includes('perl -e')) {
      const swap: Record<string, string> = {
        [STATS_SOCKET]: this.h.hap?.socket ?? path.join(this.h.dir, 'no-haproxy.sock'),
        [SERVER_STATE_FILE]: path.join(this.h.dir, 'server-state'),
        [HAPROXY_CFG]: path.join(this.h.dir, 'haproxy.cfg'),
      };
      let s = script;
      for (const [from, to] of Object.entries(swap)) s = s.split(from).join(to);
      return execFileP('/bin/sh', ['-c', s], { timeout: 20_000 }).then(
        ({ stdout, stderr }) => ok({ stdout, stderr }),
        (e: { code?: number; stdout?: string; stderr?: string }) => ok({ code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
      );
    }
    // the command between drain and undrain
    for (const [stream, text] of this.sim.command?.output ?? []) opts.onOutput?.(stream, text);
    return ok(this.sim.command?.result ?? {});
  }
}

const upServers = (sessions: Record<string, number> = {}): FakeServer[] =>
  ['m1', 'm2', 'm3'].map((name) => ({ name, port: 6443, health: 'UP' as const, admin: 0, sessions: sessions[name] ?? 0 }));

let root = '';
const sims: Sim[] = [];
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-drain-'));
});
afterEach(async () => {
  for (const sim of sims.splice(0)) for (const h of sim.hosts.values()) await h.hap?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** hosts with a haproxy (servers each), `stopped` hosts without one */
async function simulate(o: { servers: Record<string, FakeServer[]>; stopped?: string[]; ready?: string[] }): Promise<Sim> {
  const sim: Sim = { hosts: new Map(), ready: o.ready ?? ['200'], log: [] };
  sims.push(sim);
  for (const name of [...Object.keys(o.servers), ...(o.stopped ?? [])]) {
    const dir = fs.mkdtempSync(path.join(root, `${name}-`));
    fs.writeFileSync(path.join(dir, 'haproxy.cfg'), ['m1', 'm2', 'm3'].map((m, i) => `    server ${m} 10.0.0.${11 + i}:6443 check\n`).join(''));
    const servers = o.servers[name];
    sim.hosts.set(name, { name, dir, ...(servers ? { hap: await startFakeHaproxy(dir, 'kube-apiservers', servers) } : {}) });
  }
  return sim;
}

function runOn(sim: Sim, names = ['m1', 'm2', 'm3', 'n1']) {
  return fakeRun(names, (n) => {
    const h = sim.hosts.get(n) ?? { name: n, dir: root };
    return new SimConn(sim, h);
  });
}

const opts = (o: Partial<DrainOptions> = {}): DrainOptions => ({
  server: 'm2',
  timeoutS: 5,
  shutdownSessions: false,
  commandTimeoutS: 60,
  readyTimeoutS: 5,
  breakLock: false,
  ...o,
});

const m2 = (sim: Sim, host: string) => sim.hosts.get(host)!.hap!.servers.find((s) => s.name === 'm2')!;
const phases = (events: RunEvent[]) => events.filter((e): e is Extract<RunEvent, { type: 'phase' }> => e.type === 'phase').map((e) => e.title);
const lines = (events: RunEvent[]) =>
  events
    .filter((e): e is Extract<RunEvent, { type: 'message' }> => e.type === 'message' && e.level !== 'debug')
    .map((e) => `${e.level} ${e.host ?? '-'}: ${e.text}`);
const tasks = (events: RunEvent[]) =>
  events
    .filter((e): e is Extract<RunEvent, { type: 'task' }> => e.type === 'task')
    .map((e) => `${e.host} ${e.status} ${e.task}: ${e.why ?? e.error}`)
    .sort();
const errorOf = (out: DrainOutcome) => {
  expect(out.error, 'the outcome has an error').toBeInstanceOf(KhaError);
  return out.error as KhaError;
};
const stateFile = (sim: Sim, host: string) => fs.readFileSync(path.join(sim.hosts.get(host)!.dir, 'server-state'), 'utf8');

describe('who is drained where (pure)', () => {
  test('every load balancer; haproxy nodes too; nginx nodes are named in one line instead', () => {
    expect(drainTargets(settings()).map((t) => `${t.host} ${t.role} ${t.backend}`)).toEqual([
      'm1 load balancer kube-apiservers',
      'm2 load balancer kube-apiservers',
      'm3 load balancer kube-apiservers',
    ]);
    expect(drainTargets(settings({ nodes: 'haproxy' })).map((t) => `${t.host} ${t.role}`)).toEqual([
      'm1 load balancer',
      'm2 load balancer',
      'm3 load balancer',
      'n1 node',
    ]);
    expect(drainTargets(settings({ nodes: 'nginx' })).map((t) => t.host)).toEqual(['m1', 'm2', 'm3']);
    expect(nginxLine(['n1', 'n2'], 'm2')).toBe(
      'n1, n2: the node-local nginx has no runtime API, so m2 is not drained there; their kubelets keep connecting to it (nginx tries the next master when a connection fails)',
    );
  });

  test.each([
    ['etcd1', 'etcd1: no such host in the inventory; kha drain takes a master: m1, m2, m3'],
    ['m22', 'm22: no such host in the inventory (did you mean m2?); kha drain takes a master: m1, m2, m3'],
    ['n1', 'n1 is not a master, so no haproxy sends to it; kha drain takes a master: m1, m2, m3'],
  ])('checkServer(%s): one line, exit 4', (name, line) => {
    let err: unknown;
    try {
      checkServer(settings(), ['m1', 'm2', 'm3', 'n1'], name, 'drain');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KhaError);
    expect((err as KhaError).exit).toBe(ExitCode.usage);
    expect((err as KhaError).code).toBe('E_UNKNOWN_HOST');
    expect(describeError(err)).toBe(line);
  });
});

describe('kha drain', () => {
  test('DRAIN on every haproxy, sessions counted down to zero, the state saved for a reload; exit 0', async () => {
    const sim = await simulate({ servers: { m1: upServers({ m2: 3 }), m2: upServers({ m2: 1 }), m3: upServers() } });
    // the sessions to m2 end one per look, once it is drained
    for (const h of sim.hosts.values()) h.hap!.onShowStat = () => h.hap!.servers.forEach((s) => s.admin & 8 && s.sessions > 0 && s.sessions--);
    const { ctx, events } = runOn(sim);
    const out = await drain(ctx, settings(), opts());
    expect(out.error).toBeUndefined();
    expect(phases(events)).toEqual([
      'Lock the load balancers and haproxy nodes (one kha run at a time)',
      'Find m2 on every haproxy',
      'Drain m2: no new connection goes to it',
      'Wait until its sessions end (at most 5 s)',
    ]);
    for (const h of ['m1', 'm2', 'm3']) {
      expect(m2(sim, h).admin, h).toBe(8);
      // the drained server is in the state file a reload reads; the others are not
      expect(
        stateFile(sim, h)
          .split('\n')
          .filter((l) => / m[123] /.test(l))
          .map((l) => l.split(' ')[3]),
        h,
      ).toEqual(['m2']);
    }
    const r = out.result;
    expect(r.drained).toBe(true);
    expect(r.sessionsLeft).toBe(0);
    expect(r.drainMs).toBeGreaterThanOrEqual(0);
    expect(r.hosts.map((h) => `${h.host} ${h.role} ${h.status} ${h.sessions}`)).toEqual([
      'm1 load balancer DRAIN 0',
      'm2 load balancer DRAIN 0',
      'm3 load balancer DRAIN 0',
    ]);
    expect(r.hosts.every((h) => typeof h.drainedMs === 'number')).toBe(true);
    expect(lines(events)).toEqual(
      expect.arrayContaining([
        'info m1: m2: UP, 3 sessions',
        expect.stringMatching(/^info m1: no session left to m2 \(\d+\.\d s\)$/),
        expect.stringMatching(/^info -: m2 is drained: no haproxy has a session open to it \(\d+\.\d s\)$/),
      ]),
    );
    // the change is a task of the haproxy_server module on each host: the engine says it changed
    expect(tasks(events)).toEqual([
      'm1 changed drain kube-apiservers/m2: UP -> DRAIN',
      'm2 changed drain kube-apiservers/m2: UP -> DRAIN',
      'm3 changed drain kube-apiservers/m2: UP -> DRAIN',
    ]);
    expect(events.filter((e) => e.type === 'recap')).toEqual([
      { type: 'recap', hosts: expect.objectContaining({ m1: expect.objectContaining({ changed: 1 }) }) },
    ]);
    // every socket command went through sudo (the socket is root's and haproxy's)
    expect(sim.log.every((l) => l.become === true)).toBe(true);
    expect(drainSummary('drain', r)).toMatch(/^drain: m2: drained on m1 DRAIN, m2 DRAIN, m3 DRAIN; sessions ended in \d+\.\d s$/);
  });

  test('a second drain changes nothing: every task ok, "already DRAIN"', async () => {
    const drained = () => upServers().map((x) => (x.name === 'm2' ? { ...x, admin: 8 } : x));
    const sim = await simulate({ servers: { m1: drained(), m2: drained(), m3: drained() } });
    const { ctx, events } = runOn(sim);
    const out = await drain(ctx, settings(), opts());
    expect(out.error).toBeUndefined();
    expect(tasks(events)).toEqual(['m1', 'm2', 'm3'].map((h) => `${h} ok drain kube-apiservers/m2: already DRAIN (DRAIN)`));
    for (const h of sim.hosts.values()) expect(h.hap!.received.filter((c) => c.startsWith('set '))).toEqual([]);
  });

  test('sessions still open at --timeout: exit 7, how many per host, and m2 stays drained', async () => {
    const sim = await simulate({ servers: { m1: upServers({ m2: 4 }), m2: upServers(), m3: upServers({ m2: 1 }) } });
    const { ctx } = runOn(sim);
    const out = await drain(ctx, settings(), opts({ timeoutS: 1 }));
    const err = errorOf(out);
    expect(err.exit).toBe(ExitCode.timedOut);
    expect(err.code).toBe('E_DRAIN_TIMEOUT');
    expect(err.message).toBe('m2 still has 5 sessions open after 1 s (4 on m1, 1 on m3); it stays drained, no new connection goes to it');
    expect(err.suggestions.join('\n')).toMatch(/--timeout .*--shutdown-sessions[\s\S]*kha undrain/);
    expect(out.result).toMatchObject({ drained: true, sessionsLeft: 5, drainMs: null });
    expect(out.result.hosts.map((h) => [h.host, h.sessions, h.drainedMs])).toEqual([
      ['m1', 4, null],
      ['m2', 0, expect.any(Number)],
      ['m3', 1, null],
    ]);
    for (const h of ['m1', 'm2', 'm3']) expect(m2(sim, h).admin, h).toBe(8);
  });

  test('Ctrl-C while waiting: the run ends as interrupted (not as a timeout), m2 stays drained, the lock is released', async () => {
    const sim = await simulate({ servers: { m1: upServers({ m2: 2 }), m2: upServers(), m3: upServers() } });
    const { ctx } = runOn(sim);
    const ac = new AbortController();
    Object.assign(ctx.opts, { signal: ac.signal });
    // Ctrl-C while kha waits for the sessions: m1's second look at a drained m2 (the first is the drain's own)
    const hap = sim.hosts.get('m1')!.hap!;
    let looks = 0;
    hap.onShowStat = () => {
      if (m2(sim, 'm1').admin & 8 && ++looks === 2) ac.abort(new KhaError('interrupted', { code: 'E_INTERRUPTED', exit: ExitCode.interrupted }));
    };
    const out = await drain(ctx, settings(), opts({ timeoutS: 60 }));
    expect(errorOf(out)).toMatchObject({ code: 'E_INTERRUPTED', exit: ExitCode.interrupted });
    for (const h of ['m1', 'm2', 'm3']) expect(m2(sim, h).admin, h).toBe(8);
    expect(
      sim.log
        .filter((l) => l.script.startsWith('c=$(cat'))
        .map((l) => l.host)
        .sort(),
    ).toEqual(['m1', 'm2', 'm3']);
  });

  test('--shutdown-sessions: at the timeout haproxy closes them, and the drain goes on (exit 0)', async () => {
    const sim = await simulate({ servers: { m1: upServers({ m2: 4 }), m2: upServers(), m3: upServers() } });
    const { ctx } = runOn(sim);
    const out = await drain(ctx, settings(), opts({ timeoutS: 0, shutdownSessions: true }));
    expect(out.error).toBeUndefined();
    expect(sim.hosts.get('m1')!.hap!.received).toContain('shutdown sessions server kube-apiservers/m2');
    expect(sim.hosts.get('m3')!.hap!.received).not.toContain('shutdown sessions server kube-apiservers/m2');
    expect(out.result.hosts.find((h) => h.host === 'm1')).toMatchObject({ closed: 4, sessions: 0 });
    expect(drainSummary('drain', out.result)).toContain('4 sessions left at the timeout; 4 closed (--shutdown-sessions)');
  });

  test('haproxy nodes are drained too; a stopped haproxy is skipped with a warning; nginx nodes get one line', async () => {
    const sim = await simulate({ servers: { m1: upServers(), m3: upServers(), n1: upServers() }, stopped: ['m2'] });
    const { ctx, events } = runOn(sim);
    const out = await drain(ctx, settings({ nodes: 'haproxy' }), opts());
    expect(out.error).toBeUndefined();
    expect(out.result.hosts.map((h) => `${h.host} ${h.role} ${h.status}`)).toEqual(['m1 load balancer DRAIN', 'm3 load balancer DRAIN', 'n1 node DRAIN']);
    expect(out.result.skipped).toEqual([{ host: 'm2', reason: 'haproxy not running' }]);
    expect(lines(events)).toContain('warn m2: haproxy does not answer on its stats socket: m2 cannot be drained there');

    const sim2 = await simulate({ servers: { m1: upServers(), m2: upServers(), m3: upServers() } });
    const run2 = runOn(sim2);
    const out2 = await drain(run2.ctx, settings({ nodes: 'nginx' }), opts());
    expect(out2.error).toBeUndefined();
    expect(out2.result.skipped).toEqual([{ host: 'n1', reason: 'nginx: no runtime API' }]);
    expect(lines(run2.events)).toContain(`warn -: ${nginxLine(['n1'], 'm2')}`);
  });

  test('no haproxy lists it: exit 5, nothing changed', async () => {
    const servers = () => upServers().filter((s) => s.name !== 'm2');
    const sim = await simulate({ servers: { m1: servers(), m2: servers(), m3: servers() } });
    const { ctx } = runOn(sim);
    const out = await drain(ctx, settings(), opts());
    const err = errorOf(out);
    expect(err.exit).toBe(ExitCode.preflight);
    expect(err.message).toBe(
      'no haproxy lists m2 (m1: haproxy does not list m2; m2: haproxy does not list m2; m3: haproxy does not list m2); nothing was changed',
    );
    for (const h of sim.hosts.values()) expect(h.hap!.received.filter((c) => c.startsWith('set '))).toEqual([]);
  });

  test('a host that cannot be reached: exit 3 before anything changes', async () => {
    const sim = await simulate({ servers: { m1: upServers(), m2: upServers(), m3: upServers() } });
    const { ctx, connector } = runOn(sim);
    connector.down.add('m3');
    const out = await drain(ctx, settings(), opts());
    expect(errorOf(out).exit).toBe(ExitCode.unreachable);
    for (const h of sim.hosts.values()) expect(h.hap!.received).toEqual([]);
  });

  test('-- CMD: drained, CMD on m2 as root (output streamed), ready, READY everywhere, counted UP; exit 0', async () => {
    const sim = await simulate({ servers: { m1: upServers(), m2: upServers(), m3: upServers() }, ready: ['000', '000', '200'] });
    sim.command = {
      result: { code: 0, stdout: 'upgraded\n' },
      output: [
        ['stdout', 'upgra'],
        ['stdout', 'ded\nall '],
        ['stderr', 'a warning\n'],
        ['stdout', 'done'],
      ],
    };
    const { ctx, events } = runOn(sim);
    const streamed: string[] = [];
    const out = await drain(ctx, settings(), opts({ command: ['kubeadm', 'upgrade', 'node'], onOutput: (s, t) => streamed.push(`${s}:${t}`) }));
    expect(out.error).toBeUndefined();
    expect(phases(events).slice(4)).toEqual([
      'Run `kubeadm upgrade node` on m2',
      'Wait until m2 answers /readyz (at most 5 s)',
      'Put m2 back: READY on every haproxy that lists it',
      'Wait until every haproxy counts m2 UP',
    ]);
    const ran = sim.log.find((l) => l.script === 'kubeadm upgrade node')!;
    expect(ran).toMatchObject({ host: 'm2', become: true });
    // the health path is asked from a load balancer other than m2, at m2's address and port
    const probes = sim.log.filter((l) => l.script.includes('curl -sk'));
    expect(probes.map((p) => p.host)).toEqual(['m1', 'm1', 'm1']);
    expect(probes[0]!.script).toContain(' https://10.0.0.12:6443/readyz\n');
    expect(streamed).toEqual(['stdout:upgra', 'stdout:ded\nall ', 'stderr:a warning\n', 'stdout:done']);
    // the log gets the output line by line
    expect(events.filter((e) => e.type === 'message' && e.level === 'debug' && e.host === 'm2').map((e) => (e as { text: string }).text)).toEqual([
      'upgraded',
      '! a warning',
      'all done',
    ]);
    for (const h of ['m1', 'm2', 'm3']) {
      expect(m2(sim, h).admin, h).toBe(0);
      expect(
        stateFile(sim, h)
          .split('\n')
          .filter((l) => / m[123] /.test(l)),
        h,
      ).toEqual([]);
    }
    const r = out.result;
    expect(r).toMatchObject({ drained: false, cmd: { argv: ['kubeadm', 'upgrade', 'node'], exit: 0, signal: null }, ready: { from: 'm1', last: '200' } });
    expect(r.ready!.ms).toBeGreaterThanOrEqual(0);
    expect(r.upMs).toBeGreaterThanOrEqual(0);
    expect(r.hosts.map((h) => h.status)).toEqual(['UP', 'UP', 'UP']);
  });

  test('-- CMD that fails: exit 2 naming its exit code, m2 stays drained, its health path never asked', async () => {
    const sim = await simulate({ servers: { m1: upServers(), m2: upServers(), m3: upServers() } });
    sim.command = { result: { code: 3, stderr: 'kubeadm: error\n' } };
    const { ctx } = runOn(sim);
    const out = await drain(ctx, settings(), opts({ command: ['kubeadm', 'upgrade', 'node'] }));
    const err = errorOf(out);
    expect(err.exit).toBe(ExitCode.failed);
    expect(err.code).toBe('E_COMMAND_FAILED');
    expect(err.message).toBe('`kubeadm upgrade node` exited 3 on m2; m2 stays drained');
    expect(out.result.cmd).toMatchObject({ exit: 3 });
    for (const h of ['m1', 'm2', 'm3']) expect(m2(sim, h).admin, h).toBe(8);
    expect(sim.log.some((l) => l.script.includes('curl -sk'))).toBe(false);
  });

  test('-- CMD, then the apiserver never answers: exit 7 after --ready-timeout, m2 stays drained', async () => {
    const sim = await simulate({ servers: { m1: upServers(), m2: upServers(), m3: upServers() }, ready: ['503'] });
    sim.command = { result: { code: 0 } };
    const { ctx } = runOn(sim);
    const out = await drain(ctx, settings(), opts({ command: ['true'], readyTimeoutS: 1 }));
    const err = errorOf(out);
    expect(err.exit).toBe(ExitCode.timedOut);
    expect(err.code).toBe('E_NOT_READY');
    expect(err.message).toBe('m2 did not answer /readyz with 200 within 1 s (asked from m1, last: HTTP 503); it stays drained');
    for (const h of ['m1', 'm2', 'm3']) expect(m2(sim, h).admin, h).toBe(8);
  });
});

describe('kha undrain', () => {
  test('waits for the health path, then READY everywhere; the state file forgets the drain', async () => {
    const drained = () => upServers().map((s) => (s.name === 'm2' ? { ...s, admin: 8 } : s));
    const sim = await simulate({ servers: { m1: drained(), m2: drained(), m3: drained() }, ready: ['000', '200'] });
    const { ctx, events } = runOn(sim);
    const out = await undrain(ctx, settings(), opts());
    expect(out.error).toBeUndefined();
    expect(phases(events)).toEqual([
      'Lock the load balancers and haproxy nodes (one kha run at a time)',
      'Find m2 on every haproxy',
      'Wait until m2 answers /readyz (at most 5 s)',
      'Put m2 back: READY on every haproxy that lists it',
      'Wait until every haproxy counts m2 UP',
    ]);
    expect(lines(events)).toContain('info m1: m2: DRAIN (drained), 0 sessions');
    for (const h of ['m1', 'm2', 'm3']) {
      expect(m2(sim, h).admin, h).toBe(0);
      expect(stateFile(sim, h), h).not.toMatch(/ m2 /);
    }
    expect(out.result).toMatchObject({ drained: false, ready: { from: 'm1', last: '200' } });
    expect(drainSummary('undrain', out.result)).toMatch(
      /^undrain: m2: not drained on m1 UP, m2 UP, m3 UP; ready after \d+\.\d s; UP everywhere after \d+\.\d s$/,
    );
  });

  test('an apiserver that does not answer: exit 7, nothing set READY', async () => {
    const drained = () => upServers().map((s) => (s.name === 'm2' ? { ...s, admin: 8 } : s));
    const sim = await simulate({ servers: { m1: drained(), m2: drained(), m3: drained() }, ready: ['000'] });
    const { ctx } = runOn(sim);
    const out = await undrain(ctx, settings(), opts({ readyTimeoutS: 1 }));
    expect(errorOf(out).exit).toBe(ExitCode.timedOut);
    expect(describeError(out.error)).toBe('m2 did not answer /readyz with 200 within 1 s (asked from m1, last: no answer); it stays drained');
    for (const h of ['m1', 'm2', 'm3']) expect(m2(sim, h).admin, h).toBe(8);
  });

  test('a name that is no master: one line, exit 4, no host asked', async () => {
    const sim = await simulate({ servers: { m1: upServers() } });
    const { ctx, connector } = runOn(sim);
    await expect(undrain(ctx, settings(), opts({ server: 'n1' }))).rejects.toThrow(
      'n1 is not a master, so no haproxy sends to it; kha undrain takes a master: m1, m2, m3',
    );
    expect(connector.conns.size).toBe(0);
  });
});

describe('the built CLI: flags and bad input (nothing is connected to)', () => {
  let dir = '';
  let inv = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-drain-cli-'));
    inv = path.join(dir, 'hosts.yaml');
    fs.writeFileSync(
      inv,
      ['all:', '  vars:', `    vip: ${VIP}`, '  hosts:', '    n1: { ansible_host: 10.0.0.21 }', '  children:', '    masters:', '      hosts:']
        .concat(['m1', 'm2', 'm3'].map((m, i) => `        ${m}: { ansible_host: 10.0.0.${11 + i} }`))
        .concat(['    nodes:', '      hosts: { n1: }', ''])
        .join('\n'),
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kha = (args: string[]) => runKha(args, { env: { XDG_STATE_HOME: dir } });

  test.each([
    [['drain', 'etcd1'], 'error: etcd1: no such host in the inventory; kha drain takes a master: m1, m2, m3'],
    [['undrain', 'n1'], 'error: n1 is not a master, so no haproxy sends to it; kha undrain takes a master: m1, m2, m3'],
    [['drain', 'm2', '--'], 'error: -- takes the command to run on m2: kha drain -i hosts.yaml m2 -- kubeadm upgrade node'],
    [['drain'], 'error: missing <host>, the master whose apiserver is taken out; run kha drain -i hosts.yaml <host>'],
    [['drain', 'm2', '--timeout', '-1'], expect.stringMatching(/^error: .*--timeout.*-1/)],
    [['drain', 'm2', 'kubeadm'], expect.stringMatching(/^error: Unexpected argument: kubeadm/)],
  ])('kha %j: one error line, exit 4', async (args, line) => {
    const r = await kha([args[0]!, '-i', inv, ...args.slice(1)]);
    expect(r.code, showRun(r)).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([line]);
  });

  test('--json: one document, E_UNKNOWN_HOST, no result; the schema accepts it', async () => {
    const r = await kha(['undrain', '-i', inv, 'etcd1', '--json']);
    expect(r.code).toBe(4);
    const doc = parseOutput(JSON.parse(r.stdout));
    expect(doc).toMatchObject({ command: 'undrain', exit: 4, result: null, error: { code: 'E_UNKNOWN_HOST' } });
  });

  test('the words after -- are the command, -v and flags included, never kha options', () => {
    expect(splitCommandArgv(['-i', 'h.yaml', 'm2', '--', 'grep', '-v', '--json', 'x'])).toEqual({
      argv: ['-i', 'h.yaml', 'm2'],
      command: ['grep', '-v', '--json', 'x'],
    });
    expect(splitCommandArgv(['-i', 'h.yaml', 'm2'])).toEqual({ argv: ['-i', 'h.yaml', 'm2'] });
  });

  test('--help says how to run a command between drain and undrain, and what the exit codes mean', async () => {
    const r = await kha(['drain', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('drain -i hosts.yaml m2 -- kubeadm upgrade node');
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('7 when some are still open after --timeout');
  });
});
