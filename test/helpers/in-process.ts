// `kha up` built in this test's process (loadForRun + makeRun + up()), for the phases the CLI does
// not run yet (node-local proxies, /etc/hosts), and a one-line-per-event account of such a run.
import fs from 'node:fs';
import type { Lab } from '../../src/lab/lab.js';
import { EventBus, type RunEvent } from '../../src/engine/events.js';
import type { Io } from '../../src/cli/base.js';
import { loadForRun, makeRun } from '../../src/cli/prepare.js';
import { up, type UpState } from '../../src/actions/up.js';
import { describeError } from '../../src/errors.js';

export interface InProcessRun {
  st?: UpState;
  error?: unknown;
  events: RunEvent[];
  ms: number;
  /** sum of `changed` over the recap */
  changed: number;
  failed: number;
  /** host -> titles of the tasks that changed */
  changes: Record<string, string[]>;
  describe(): string;
}

/**
 * `kha up` built in this process, then `after(st)` (the phases not wired into the CLI yet), with
 * every event kept. Closes the connections. Never throws: the error is in the result.
 */
export async function upInProcess(
  lab: Lab,
  inventory: string,
  after: (st: UpState) => Promise<void>,
  opts: { serial?: string; logFile?: string } = {},
): Promise<InProcessRun> {
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.add({ emit: (e) => events.push(e) });
  if (process.env.KHA_TOPO_DIAG)
    bus.add({ emit: (e) => fs.appendFileSync(process.env.KHA_TOPO_DIAG!, `${new Date().toISOString()} ${JSON.stringify(e).slice(0, 300)}\n`) });
  const ac = new AbortController();
  const io: Io = { events: bus, logFile: opts.logFile ?? `${inventory}.log`, signal: ac.signal, verbose: 0, json: false, addSecrets: () => undefined };
  const flags = { inventory, forks: 20, 'connect-timeout': 10, 'known-hosts': lab.knownHostsFile };
  const t0 = performance.now();
  let st: UpState | undefined;
  let error: unknown;
  let run: ReturnType<typeof makeRun> | undefined;
  try {
    const { inv, settings } = await loadForRun(flags, io);
    run = makeRun(inv, flags, io);
    st = (await up(run, settings, { serial: opts.serial ?? '20%' })).st;
    await after(st);
  } catch (err) {
    error = err;
  } finally {
    await run?.connector.closeAll().catch(() => undefined);
  }
  const ms = Math.round(performance.now() - t0);
  const recap = run ? [...run.recap.values()] : [];
  const changes: Record<string, string[]> = {};
  for (const e of events) if (e.type === 'task' && e.status === 'changed') (changes[e.host] ??= []).push(e.task);
  return {
    ...(st ? { st } : {}),
    ...(error !== undefined ? { error } : {}),
    events,
    ms,
    changed: recap.reduce((a, r) => a + r.changed, 0),
    failed: recap.reduce((a, r) => a + r.failed + r.unreachable, 0),
    changes,
    describe: () => describeEvents(events, error),
  };
}

/** Phases, changes, failures and messages, one line each: for assertion messages. */
export function describeEvents(events: RunEvent[], error?: unknown): string {
  const lines: string[] = [];
  for (const e of events) {
    if (e.type === 'phase') lines.push(`==> ${e.title}`);
    else if (e.type === 'phase-done' && e.error) lines.push(`<== ${e.title}: ${e.error}`);
    else if (e.type === 'task' && e.status !== 'ok' && e.status !== 'skipped')
      lines.push(`${e.host}: ${e.status} ${e.task}${e.error ? `: ${e.error}` : e.why ? ` (${e.why})` : ''}`);
    else if (e.type === 'message' && e.level !== 'debug') lines.push(`${e.level}: ${e.host ? `${e.host}: ` : ''}${e.text}`);
  }
  if (error !== undefined) lines.push(`ERROR: ${describeError(error)}`);
  return lines.join('\n');
}
