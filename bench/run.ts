// kha's benchmarks: `npm run bench` (build + all sections), or
//   node dist-bench/bench/run.js [--only sim,converge,failover,startup] [--quick] [--startup-baseline BIN]
// Prints tables, checks the targets, writes bench/results/{sim,converge,failover,startup,summary}.json.
// Every lab it starts is removed before it exits (also on Ctrl-C and on failure).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { convergeSection, phaseSummaries, type ConvergeSection } from './converge.js';
import { failoverSection, type FailoverSection } from './failover.js';
import { snapshot, type KhaBuild } from './dist.js';
import { LabPool, PHASES, type UpRun } from './labs.js';
import { RESULTS_DIR, fmtMs, fmtSummary, log, machine, table, writeResult, type Summary } from './lib.js';
import { simSection, type SimConfig, type SimSection } from './sim.js';
import { STARTUP_TARGET_MS, startupSection, type StartupSection } from './startup.js';

type Section = 'sim' | 'converge' | 'failover' | 'startup';
const ALL: Section[] = ['sim', 'converge', 'failover', 'startup'];

function parseArgs(argv: string[]): { only: Section[]; quick: boolean; sizes: number[]; baseline?: string } {
  let only = ALL;
  let quick = false;
  let sizes = [3, 5];
  let baseline: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--report') only = [];
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.slice(7) : argv[++i];
      const list = (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = list.filter((s) => !ALL.includes(s as Section));
      if (list.length === 0 || bad.length) throw new Error(`--only takes ${ALL.join(', ')} (comma separated), not ${JSON.stringify(v)}`);
      only = list as Section[];
    } else if (a === '--sizes') {
      sizes = (argv[++i] ?? '').split(',').map(Number);
      if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 20)) throw new Error('--sizes takes lab sizes like 3,5 (2..20 masters)');
    } else if (a === '--startup-baseline') {
      baseline = path.resolve(argv[++i] ?? '');
      if (!fs.existsSync(baseline)) throw new Error(`--startup-baseline takes the bin/run.js of another kha build, not ${JSON.stringify(argv[i])}`);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench [-- --only sim|converge|failover|startup[,..]] [-- --quick] [-- --sizes 3,5] [-- --startup-baseline OTHER/bin/run.js]\n       node dist-bench/bench/run.js --report   (print the tables of bench/results/*.json, run nothing)\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  return { only, quick, sizes, ...(baseline ? { baseline } : {}) };
}

function readResult<T>(name: string): T | undefined {
  const f = path.join(RESULTS_DIR, `${name}.json`);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as { data: T }).data : undefined;
}

interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

function targets(sim?: SimSection, conv?: ConvergeSection, fo?: FailoverSection, st?: StartupSection): Target[] {
  const out: Target[] = [];
  for (const command of ['kha --version', 'kha status --help']) {
    const target = `\`${command}\`: within ${STARTUP_TARGET_MS} ms of bare node`;
    const r = st?.rows.find((x) => x.build === 'kha' && x.command === command);
    if (r)
      out.push({
        target,
        measured: `+${fmtMs(r.overNodeWallMs)} wall (${fmtMs(r.wallMs.median)}), +${fmtMs(r.overNodeCpuMs)} CPU; load ${st!.loadavgBefore[0]}`,
        met: r.overNodeWallMs <= STARTUP_TARGET_MS,
      });
    else out.push({ target, measured: 'not run', met: null });
  }
  const c5 = conv?.sizes.find((s) => s.size === 5);
  if (c5) {
    const w = c5.summary.noChangeWallMs;
    out.push({
      target: 'no-change `kha up`, 5 hosts: < 1.5 s wall',
      measured: `${fmtSummary(w)} process wall (kha phases ${fmtMs(c5.summary.noChangePhasesSumMs.median)}; in-process ${fmtMs(c5.instrumented?.ms)})`,
      met: w.median < 1500,
    });
  } else out.push({ target: 'no-change `kha up`, 5 hosts: < 1.5 s wall', measured: 'not run', met: null });
  const fl = c5?.floor;
  out.push(
    fl
      ? {
          target: 'no-change `kha up`, 5 hosts: within 2.0x of plain OpenSSH (median of per-pair ratios)',
          measured: `${fl.ratio.median}x (pairs ${fl.pairs.map((p) => p.ratio).join(', ')}): kha ${fmtMs(fl.khaMs.median)}, ssh floor ${fmtMs(fl.floorMs.median)}`,
          met: fl.ratio.median <= 2,
        }
      : { target: 'no-change `kha up`, 5 hosts: within 2.0x of plain OpenSSH', measured: 'not run', met: null },
  );
  const big = sim?.configs.find((c) => c.hosts === 1000 && c.forks === 200 && !c.experiment);
  if (big) {
    out.push({ target: '1000 sim hosts x 10 tasks, 10 ms/cmd, forks 200: < 15 s wall', measured: fmtSummary(big.wallMs), met: big.wallMs.median < 15_000 });
    out.push({
      target: '... < 400 MB peak RSS',
      measured: `${big.peakRssMB.median} MB (${big.peakRssMB.min}..${big.peakRssMB.max})`,
      met: big.peakRssMB.max < 400,
    });
    out.push({ target: '... exactly 1000 SSH handshakes', measured: `${big.handshakes} (server-side, 1 per host)`, met: big.handshakes === 1000 });
  } else out.push({ target: '1000 sim hosts, forks 200', measured: 'not run', met: null });
  const huge = sim?.configs.find((c) => c.hosts === 5000 && c.forks === 200 && !c.experiment);
  if (huge) {
    out.push({ target: '5000 sim hosts x 10 tasks, 10 ms/cmd, forks 200: < 20 s wall', measured: fmtSummary(huge.wallMs), met: huge.wallMs.median < 20_000 });
    out.push({
      target: '... < 600 MB peak RSS',
      measured: `${huge.peakRssMB.median} MB (${huge.peakRssMB.min}..${huge.peakRssMB.max})`,
      met: huge.peakRssMB.max < 600,
    });
    out.push({ target: '... exactly 5000 SSH handshakes', measured: `${huge.handshakes} (server-side, 1 per host)`, met: huge.handshakes === 5000 });
  } else out.push({ target: '5000 sim hosts, forks 200', measured: 'not run', met: null });
  if (sim || c5) {
    const simMax = sim ? Math.max(...sim.configs.filter((c) => !c.experiment).map((c) => c.commandsPerHostMax)) : undefined;
    const mods = (c5?.instrumented?.byModule ?? []).filter((m) => !m.source.startsWith('phase:'));
    const realMax = mods.length ? Math.max(...mods.map((m) => m.maxPerCall)) : undefined;
    const facts = c5?.instrumented?.factsCommandsPerHost;
    out.push({
      target: 'no-change run: <= 3 commands per host per module, facts in 1',
      measured: `sim: max ${simMax ?? '-'} per host for 10 tasks (1 facts + 1 batched plan; 11 without batching); real 5 hosts: max ${realMax ?? '-'} per module call, facts ${facts ?? '-'} per host`,
      met: (simMax === undefined || simMax <= 31) && (realMax === undefined || realMax <= 3) && (facts === undefined || facts === 1),
    });
  }
  const ka = fo?.drills.find((d) => d.mode === 'keepalived');
  if (ka && ka.rounds.length) {
    out.push({ target: 'failover (keepalived stopped, advert_int 1): VIP moved < 4 s', measured: fmtSummary(ka.vipMovedMs), met: ka.vipMovedMs.max < 4000 });
    out.push({
      target: '... VIP:8443 answering within 1 s after the move',
      measured: fmtSummary(ka.frontendAfterMoveMs),
      met: ka.frontendAfterMoveMs.max < 1000,
    });
  } else out.push({ target: 'failover (keepalived)', measured: 'not run', met: null });
  const hp = fo?.drills.find((d) => d.mode === 'haproxy');
  if (hp && hp.rounds.length) {
    out.push({
      target: "failover (the holder's haproxy dies): VIP moved <= 3.0 s, exact (hosts' address events)",
      measured: `${fmtSummary(hp.vipMovedExactMs)} (polled ${fmtSummary(hp.vipMovedMs)})`,
      met: hp.vipMovedExactMs.max <= 3000 && hp.vipMovedExactMs.n === hp.rounds.length,
    });
  } else out.push({ target: 'failover (haproxy)', measured: 'not run', met: null });
  return out;
}

function printSim(s: SimSection): void {
  process.stdout.write(`\n## Engine scale (simulated hosts, ${s.delayMs} ms per command, 10 tasks + facts)\n\n`);
  process.stdout.write(
    `${table(
      ['hosts', 'forks', 'variant', 'runs', 'wall median (min..max)', 'per host', 'kha CPU', 'peak RSS MB', 'handshakes', 'cmds/host', 'ok'],
      s.configs.map((c) => [
        c.hosts,
        c.forks,
        c.experiment ?? 'as is',
        c.reps,
        fmtSummary(c.wallMs),
        c.msPerSequentialCommand !== undefined ? `${c.perHostMs} ms (${c.msPerSequentialCommand} ms/cmd)` : `${c.perHostMs} ms`,
        fmtMs(c.cpuMs?.median),
        `${c.peakRssMB.median}`,
        c.handshakes,
        c.commandsPerHostMax,
        c.ok ? 'yes' : 'NO',
      ]),
    )}\n`,
  );
  const big = s.runs.filter((r) => r.hosts === 1000 && r.forks === 200);
  if (big.length) {
    process.stdout.write(
      `\n${table(
        ['1000x200 run', 'connect+facts', 'play', 'kha CPU user+sys', 'fake fleet CPU', 'heap peak', 'event-loop p99', 'load avg'],
        big.map((r) => [
          `${r.experiment ?? 'as is'} #${r.rep}`,
          fmtMs(r.connectFactsMs),
          fmtMs(r.playMs),
          fmtMs(r.cpuUserMs + r.cpuSystemMs),
          fmtMs(r.serverCpuMs),
          `${r.heapUsedPeakMB} MB`,
          `${r.eventLoopDelayP99Ms} ms`,
          r.loadavg1,
        ]),
      )}\n`,
    );
  }
  if (s.profile) {
    const p = s.profile;
    process.stdout.write(`\n### CPU profile, ${p.config.hosts} hosts x forks ${p.config.forks}: ${p.busyMs} ms busy of ${p.totalMs} ms (${p.cpuprofile})\n\n`);
    process.stdout.write(
      `${table(
        ['area', 'self ms', '% busy'],
        p.areas
          .filter((a) => a.area !== 'idle')
          .slice(0, 8)
          .map((a) => [a.area, a.selfMs, a.pct]),
      )}\n\n`,
    );
    process.stdout.write(
      `${table(
        ['function', 'where', 'self ms', '% busy', 'called from'],
        p.top.slice(0, 12).map((e) => [e.fn, e.where, e.selfMs, e.pct, e.callers[0]?.caller ?? '']),
      )}\n`,
    );
  }
}

function printConverge(c: ConvergeSection): void {
  process.stdout.write('\n## Converge on real hosts (systemd containers), `kha up` through the built CLI\n\n');
  const rows: Array<Array<string | number>> = [];
  for (const s of c.sizes) {
    const ok = (rs: UpRun[]) => rs.filter((r) => r.code === 0);
    const kinds: Array<[string, Record<string, Summary>, Summary, number]> = [
      ['fresh', phaseSummaries(ok(s.fresh)), s.summary.freshWallMs, s.fresh.length],
      ['no-change', phaseSummaries(ok(s.noChange)), s.summary.noChangeWallMs, s.noChange.length],
      ['config change', phaseSummaries(ok(s.configChange)), s.summary.configChangeWallMs, s.configChange.length],
    ];
    for (const [kind, ph, wall, n] of kinds) {
      rows.push([s.size, kind, n, ...PHASES.map(([name]) => (ph[name] ? fmtMs(ph[name]!.median) : '-')), fmtSummary(wall)]);
    }
  }
  process.stdout.write(`${table(['masters', 'run', 'n', ...PHASES.map(([n]) => n), 'wall median (min..max)'], rows)}\n`);
  const floors = c.sizes.filter((s) => s.floor);
  if (floors.length) {
    process.stdout.write(
      '\nThe floor: plain OpenSSH (no ControlMaster), every host at once, one command reading what facts + plan read; paired A B with kha (no change)\n\n',
    );
    process.stdout.write(
      `${table(
        ['masters', 'pairs', 'kha wall', 'ssh floor', 'ratio median (per pair)', ...PHASES.map(([n]) => n)],
        floors.map((s) => {
          const f = s.floor!;
          return [
            s.size,
            f.pairs.length,
            fmtMs(f.khaMs.median),
            fmtMs(f.floorMs.median),
            `${f.ratio.median}x (${f.pairs.map((p) => p.ratio).join(', ')})`,
            ...PHASES.map(([name]) => (f.phasesMs[name] ? fmtMs(f.phasesMs[name]!.median) : '-')),
          ];
        }),
      )}\n`,
    );
  }
  for (const s of c.sizes) {
    const cc = s.configChange[0];
    if (cc)
      process.stdout.write(
        `\n${s.size} masters, config change: ${cc.changedTasks} tasks changed on ${cc.changedHosts} hosts; handlers: ${cc.handlerRuns.map((h) => `${h.host} ${h.task}`).join(', ') || 'none'}; roll batches: ${cc.rollBatches.map((b) => `[${b.join(',')}]`).join(' ') || '-'}\n`,
      );
    if (s.instrumented) {
      const i = s.instrumented;
      process.stdout.write(
        `${s.size} masters, in-process no-change run (${fmtMs(i.ms)}; with TCP_NODELAY ${fmtMs(s.instrumentedNoDelay?.ms)}): commands per host ${Object.values(i.commandsPerHost).join('/')}, facts ${i.factsCommandsPerHost} per host\n`,
      );
      process.stdout.write(
        `${table(
          ['sent by', 'calls', 'commands', 'max per call'],
          i.byModule.map((m) => [m.source, m.calls, m.commands, Number.isNaN(m.maxPerCall) || m.maxPerCall === null ? '-' : m.maxPerCall]),
        )}\n`,
      );
    }
  }
  if (c.cliStartup) {
    const st = c.cliStartup;
    const m5 = c.sizes.find((s) => s.noChangeWithManifestWallMs);
    process.stdout.write(
      `\nCLI start-up: \`kha up --help\` ${fmtSummary(st.helpMs)} as built; ${fmtSummary(st.helpWithManifestMs)} with an oclif manifest` +
        (m5 ? `; no-change \`kha up\` on ${m5.size} masters with the manifest: ${fmtSummary(m5.noChangeWithManifestWallMs!)}` : '') +
        '\n',
    );
  }
  if (c.cliProfile) {
    const p = c.cliProfile;
    process.stdout.write(`\nCLI no-change run on ${p.size} masters under --cpu-prof: ${fmtMs(p.wallMs)} wall, ${p.busyMs} ms busy\n`);
    process.stdout.write(
      `${table(
        ['area', 'self ms'],
        p.areas.slice(0, 8).map((a) => [a.area, a.selfMs]),
      )}\n`,
    );
  }
}

function printFailover(f: FailoverSection): void {
  process.stdout.write(`\n## Failover (\`kha drill --json\`, ${f.size} masters, advert_int 1)\n\n`);
  process.stdout.write(
    `${table(
      ['mode', 'rounds', 'VIP moved (polled)', 'VIP moved (exact)', 'VIP:8443 answers after move', 'settled after restore', 'budget met', 'exit'],
      f.drills.map((d) => [
        d.mode,
        d.rounds.length,
        fmtSummary(d.vipMovedMs),
        fmtSummary(d.vipMovedExactMs),
        fmtSummary(d.frontendAfterMoveMs),
        fmtSummary(d.settledMs),
        `${d.rounds.filter((r) => r.withinBudget).length}/${d.rounds.length}`,
        d.code ?? '-',
      ]),
    )}\n`,
  );
  if (f.rolling) {
    const r = f.rolling;
    process.stdout.write(`\nClient loop (new TCP + HTTPS GET /healthz to VIP:8443 every ${r.baseline.intervalMs} ms) on ${r.size} masters:\n\n`);
    process.stdout.write(
      `${table(
        ['while', 'requests', 'failed', 'reasons', 'latency median / p99 / max', 'answered by'],
        [
          [
            'idle (baseline)',
            r.baseline.attempts,
            r.baseline.failed,
            [...new Set(r.baseline.failures.map((x) => x.reason))].join(',') || '-',
            `${r.baseline.latencyMs.median} / ${r.baseline.latencyMs.p99} / ${r.baseline.latencyMs.max} ms`,
            Object.entries(r.baseline.backends)
              .map(([k, v]) => `${k}:${v}`)
              .join(' '),
          ],
          ...r.runs.map((x, i) => [
            `config change #${i + 1} (${fmtMs(x.up.wallMs)})`,
            x.loop.attempts,
            x.loop.failed,
            [...new Set(x.loop.failures.map((y) => y.reason))].join(',') || '-',
            `${x.loop.latencyMs.median} / ${x.loop.latencyMs.p99} / ${x.loop.latencyMs.max} ms`,
            Object.entries(x.loop.backends)
              .map(([k, v]) => `${k}:${v}`)
              .join(' '),
          ]),
        ],
      )}\n`,
    );
  }
}

function printStartup(s: StartupSection): void {
  process.stdout.write(
    `\n## CLI start-up (${s.rounds} rounds, commands alternating; load average ${s.loadavgBefore.join(' ')} before, ${s.loadavgAfter.join(' ')} after)\n\n`,
  );
  process.stdout.write(
    `${table(
      ['build', 'command', 'wall median (min..max)', 'over bare node', 'CPU median', 'CPU over bare node'],
      s.rows.map((r) => [
        r.build,
        r.command,
        fmtSummary(r.wallMs),
        r.build === 'node' ? '-' : `+${fmtMs(r.overNodeWallMs)}`,
        fmtMs(r.cpuMs.median),
        r.build === 'node' ? '-' : `+${fmtMs(r.overNodeCpuMs)}`,
      ]),
    )}\n`,
  );
  if (s.baseline) process.stdout.write(`baseline: ${s.baseline}\n`);
}

/** Print the stored results (bench/results/*.json) and the targets. */
function report(durations: Record<string, number> | undefined, totalMs: number | undefined): Target[] {
  const sim = readResult<SimSection>('sim');
  const conv = readResult<ConvergeSection>('converge');
  const fo = readResult<FailoverSection>('failover');
  const st = readResult<StartupSection>('startup');
  if (sim) printSim(sim);
  if (conv) printConverge(conv);
  if (fo) printFailover(fo);
  if (st) printStartup(st);
  const t = targets(sim, conv, fo, st);
  process.stdout.write(
    `\n## Targets\n\n${table(
      ['target', 'measured', 'met'],
      t.map((x) => [x.target, x.measured, x.met === null ? '-' : x.met ? 'yes' : 'NO']),
    )}\n`,
  );
  if (durations && totalMs !== undefined) {
    process.stdout.write(
      `\nbench wall time: ${fmtMs(totalMs)} (${Object.entries(durations)
        .map(([k, v]) => `${k} ${fmtMs(v)}`)
        .join(', ')}); results in ${path.relative(process.cwd(), RESULTS_DIR) || RESULTS_DIR}/\n`,
    );
  }
  return t;
}

async function main(): Promise<void> {
  const { only, quick, sizes, baseline } = parseArgs(process.argv.slice(2));
  if (only.length === 0) {
    const f = path.join(RESULTS_DIR, 'summary.json');
    const last = fs.existsSync(f)
      ? (JSON.parse(fs.readFileSync(f, 'utf8')) as { durationMs: number; data: { durationsMs: Record<string, number> } })
      : undefined;
    report(last?.data.durationsMs, last?.durationMs);
    return;
  }
  const started = performance.now();
  const profileDir = path.join(os.tmpdir(), 'kha-bench-profiles');
  const kha: KhaBuild = await snapshot();
  const pool = new LabPool(kha);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('interrupted: removing the benchmark labs (Ctrl-C again to quit at once)');
    void pool.downAll().finally(() => {
      kha.remove();
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const meta = (section: string, ms: number) => ({ section, quick, finishedAt: new Date().toISOString(), durationMs: Math.round(ms), machine: machine() });
  const durations: Record<string, number> = {};
  try {
    if (only.includes('sim')) {
      log('sim: engine scale with simulated hosts');
      const t = performance.now();
      const big = (experiment?: string): SimConfig => ({ hosts: 1000, forks: 200, ...(experiment ? { experiment } : {}) });
      const latency: SimConfig[] = [
        { hosts: 10, forks: 1 },
        { hosts: 10, forks: 1, experiment: 'nodelay' },
      ];
      // the scale target: 5000 hosts, forks 200 (one run: the fleet alone takes ~20 s to start)
      const huge: SimConfig = { hosts: 5000, forks: 200 };
      const schedule: SimConfig[] = quick
        ? [{ hosts: 100, forks: 50 }, ...latency, big(), big('nobatch'), huge]
        : [
            huge,
            ...[100, 500, 1000].flatMap((hosts) => [50, 200].map((forks) => ({ hosts, forks }))).filter((c) => !(c.hosts === 1000 && c.forks === 200)),
            ...latency,
            // the target configuration, 3 rounds, variants interleaved with it (nobatch: one command
            // per task instead of one batched plan per host)
            ...[1, 2, 3].flatMap(() => [big(), big('nobatch'), big('khper')]),
          ];
      const s = await simSection({ schedule, delayMs: 10, profile: big(), profileDir });
      durations['sim'] = performance.now() - t;
      writeResult('sim', { ...meta('sim', durations['sim']), data: s });
    }
    if (only.includes('converge')) {
      const t = performance.now();
      const c = await convergeSection(pool, { sizes, fresh: quick ? 1 : 3, noChange: quick ? 3 : 5, changes: quick ? 1 : 3, profileDir, profileSize: 5 });
      durations['converge'] = performance.now() - t;
      writeResult('converge', { ...meta('converge', durations['converge']), data: c });
    }
    if (only.includes('failover')) {
      const t = performance.now();
      const f = await failoverSection(pool, { rounds: quick ? 1 : 3, rollingRuns: quick ? 1 : 2, baselineMs: quick ? 3000 : 5000 });
      durations['failover'] = performance.now() - t;
      writeResult('failover', { ...meta('failover', durations['failover']), data: f });
    }
    if (only.includes('startup')) {
      log('startup: node -e 0 against kha --version, kha status --help, kha help');
      const t = performance.now();
      // with the oclif manifest, as npm run build and the package have it
      const built = await snapshot({ manifest: true });
      try {
        const s = await startupSection({ bin: built.bin, rounds: quick ? 10 : 20, ...(baseline ? { baselineBin: baseline } : {}) });
        durations['startup'] = performance.now() - t;
        writeResult('startup', { ...meta('startup', durations['startup']), data: s });
      } finally {
        built.remove();
      }
    }
  } finally {
    log('removing the benchmark labs');
    await pool.downAll();
    kha.remove();
  }
  const totalMs = performance.now() - started;
  const t = report(durations, totalMs);
  writeResult('summary', {
    ...meta(only.join(','), totalMs),
    data: { sections: only, durationsMs: Object.fromEntries(Object.entries(durations).map(([k, v]) => [k, Math.round(v)])), targets: t },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
