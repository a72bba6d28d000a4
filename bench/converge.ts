// Section "converge": `kha up` on real hosts (systemd containers) through the built CLI.
//   fresh: a new lab each time (labUp with the shared apt cache: packages are installed from
//          cached .debs, the Debian mirror is still asked for the lists when they are stale);
//   no-change: reruns on the converged lab (nothing may change);
//   config-change: haproxy_timeout_connect changed in the inventory -> haproxy.cfg rewritten,
//          validated, and reloads rolled (the primary first, then --serial 20% batches).
// Plus one in-process no-change run with every command attributed to its module (commands per
// host per module), and one CLI no-change run under --cpu-prof (where the wall time goes).
import fs from 'node:fs';
import path from 'node:path';
import { snapshot } from './dist.js';
import { patchSsh2NoDelay } from './experiments.js';
import { floorPairs, type FloorPairs } from './floor.js';
import { instrumentedUp, type InstrumentedUp } from './instrumented-up.js';
import { LabPool, PHASES, up, writeInventory, type UpRun } from './labs.js';
import { log, runKha, summarize, type Summary } from './lib.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';

export interface ConvergeSize {
  size: number;
  fresh: UpRun[];
  noChange: UpRun[];
  configChange: UpRun[];
  summary: {
    freshWallMs: Summary;
    freshPhasesMs: Record<string, Summary>;
    noChangeWallMs: Summary;
    noChangePhasesSumMs: Summary;
    noChangePhasesMs: Record<string, Summary>;
    configChangeWallMs: Summary;
    configChangePhasesMs: Record<string, Summary>;
  };
  instrumented?: InstrumentedUp;
  /** kha's no-change run against plain OpenSSH's floor, pair by pair (A B A B), with kha's phases in those runs */
  floor?: Omit<FloorPairs, 'runs'> & { phasesMs: Record<string, Summary> };
  /** the same in-process no-change run with TCP_NODELAY on kha's SSH sockets (proposed change) */
  instrumentedNoDelay?: InstrumentedUp;
  /** no-change runs of the CLI from a package copy with an oclif manifest (proposed change) */
  noChangeWithManifest?: UpRun[];
  noChangeWithManifestWallMs?: Summary;
}

export interface CliStartup {
  runs: number;
  /** `kha up --help`, as built */
  helpMs: Summary;
  /** the same with an oclif manifest */
  helpWithManifestMs: Summary;
}

export interface ConvergeSection {
  sizes: ConvergeSize[];
  cliStartup?: CliStartup;
  cliProfile?: ProfileSummary & { size: number; wallMs: number; cpuprofile: string };
}

export function phaseSummaries(runs: UpRun[]): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  for (const [name, re] of PHASES) {
    // by short name, or by title (results written before the short name existed)
    const pick = (r: UpRun) => r.phases[name] ?? Object.entries(r.phases).find(([k]) => re.test(k))?.[1];
    const xs = runs.map(pick).filter((x): x is number => x !== undefined);
    if (xs.length) out[name] = summarize(xs);
  }
  return out;
}

export async function convergeSection(
  pool: LabPool,
  opts: { sizes: number[]; fresh: number; noChange: number; changes: number; profileDir: string; profileSize?: number },
): Promise<ConvergeSection> {
  const sizes: ConvergeSize[] = [];
  let cliProfile: ConvergeSection['cliProfile'];
  let startup: CliStartup | undefined;
  for (const size of opts.sizes) {
    log(`converge: ${size} masters`);
    const fresh: UpRun[] = [];
    let bl;
    for (let i = 1; i <= opts.fresh; i++) {
      bl = await pool.create(size);
      fresh.push(await up(bl, 'fresh'));
      if (i < opts.fresh) await pool.down(bl);
    }
    if (!bl) throw new Error('converge needs at least one fresh run');
    await pool.keep(bl);
    if (!bl.converged) throw new Error(`kha up failed on a fresh ${size}-master lab: ${fresh[fresh.length - 1]?.error ?? ''}`);

    const noChange: UpRun[] = [];
    for (let i = 0; i < opts.noChange; i++) noChange.push(await up(bl, 'no-change'));

    log(`  the floor: plain ssh to the ${size} hosts at once, one combined read command each, paired with kha's no-change run`);
    const fp = await floorPairs(bl, Math.max(5, opts.noChange));
    const { runs: floorRuns, ...floorRest } = fp;
    const floor = { ...floorRest, phasesMs: phaseSummaries(floorRuns) };
    log(`  floor ${fp.floorMs.median} ms, kha ${fp.khaMs.median} ms: ratio ${fp.ratio.median} (per pair ${fp.pairs.map((p) => p.ratio).join(', ')})`);

    log(`  in-process no-change run with commands counted per module`);
    const instrumented = await instrumentedUp(bl.kha, bl.inventory);
    const undo = patchSsh2NoDelay();
    let instrumentedNoDelay: InstrumentedUp;
    try {
      instrumentedNoDelay = await instrumentedUp(bl.kha, bl.inventory);
    } finally {
      undo();
    }
    log(`  in-process no-change: ${instrumented.ms} ms (with TCP_NODELAY: ${instrumentedNoDelay.ms} ms)`);

    let noChangeWithManifest: UpRun[] | undefined;
    if (opts.profileSize === size) {
      const withManifest = await snapshot({ manifest: true });
      try {
        const help: number[] = [];
        const helpM: number[] = [];
        for (let i = 0; i < opts.noChange; i++) {
          help.push((await runKha(bl.kha.bin, ['up', '--help'])).ms);
          helpM.push((await runKha(withManifest.bin, ['up', '--help'])).ms);
        }
        startup = { runs: opts.noChange, helpMs: summarize(help), helpWithManifestMs: summarize(helpM) };
        noChangeWithManifest = [];
        for (let i = 0; i < opts.noChange; i++) noChangeWithManifest.push(await up(bl, 'no-change', { kha: withManifest }));
      } finally {
        withManifest.remove();
      }
      log(`  kha up --help: ${startup.helpMs.median} ms; with an oclif manifest: ${startup.helpWithManifestMs.median} ms`);

      fs.mkdirSync(opts.profileDir, { recursive: true });
      const before = new Set(fs.readdirSync(opts.profileDir));
      const r = await up(bl, 'no-change', { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] });
      const file = fs.readdirSync(opts.profileDir).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
      if (file)
        cliProfile = { ...summarizeProfile(path.join(opts.profileDir, file), 15), size, wallMs: r.wallMs, cpuprofile: path.join(opts.profileDir, file) };
    }

    const configChange: UpRun[] = [];
    for (let i = 0; i < opts.changes; i++) {
      bl.connectTimeout = bl.connectTimeout >= 9 ? 6 : bl.connectTimeout + 1;
      writeInventory(bl);
      configChange.push(await up(bl, 'config-change'));
    }

    sizes.push({
      size,
      fresh,
      noChange,
      configChange,
      summary: {
        freshWallMs: summarize(fresh.filter((r) => r.code === 0).map((r) => r.wallMs)),
        freshPhasesMs: phaseSummaries(fresh.filter((r) => r.code === 0)),
        noChangeWallMs: summarize(noChange.filter((r) => r.code === 0).map((r) => r.wallMs)),
        noChangePhasesSumMs: summarize(noChange.filter((r) => r.code === 0).map((r) => r.phasesMs)),
        noChangePhasesMs: phaseSummaries(noChange.filter((r) => r.code === 0)),
        configChangeWallMs: summarize(configChange.filter((r) => r.code === 0).map((r) => r.wallMs)),
        configChangePhasesMs: phaseSummaries(configChange.filter((r) => r.code === 0)),
      },
      floor,
      instrumented,
      instrumentedNoDelay,
      ...(noChangeWithManifest
        ? { noChangeWithManifest, noChangeWithManifestWallMs: summarize(noChangeWithManifest.filter((r) => r.code === 0).map((r) => r.wallMs)) }
        : {}),
    });
  }
  return { sizes, ...(cliProfile ? { cliProfile } : {}), ...(startup ? { cliStartup: startup } : {}) };
}
