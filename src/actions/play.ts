// kha play: the order lives here, and only here.
//   1. lock every host of the playbook (/run/kha.lock; check mode takes none)
//   2. plan every play on every host at once, show it, confirm (not in check mode: the check run
//      is the plan)
//   3. the plays, one after the other; a play that stops ends the run
// A host that cannot be reached while locking is never changed in this run: it is reported
// unreachable there and counted by the first play that names it, as that play would have found it.
import type { RunContext } from '../engine/context.js';
import { runPhases, type Phase } from '../engine/phases.js';
import { runPlay, taskTitle } from '../engine/play.js';
import { planHosts } from '../engine/plan-tasks.js';
import type { Play, PlayResult, Task } from '../engine/types.js';
import { describeError } from '../errors.js';
import { lockPhase, type LockEnv } from './lock.js';
import { changeTitles, showAndConfirm, type Confirm } from './plan.js';

export interface PlaybookOptions {
  /** asked before the first change when the plan has one (kha shows the plan either way) */
  confirm?: Confirm;
  /** remove a lock a previous run left behind */
  breakLock?: boolean;
  /** where the lock lives and who we are (tests) */
  lockEnv?: LockEnv;
}

export interface PlaybookState {
  run: RunContext;
  plays: Play[];
  opts: PlaybookOptions;
  results: PlayResult[];
  /** a play stopped: the later ones do not run */
  stopped: boolean;
  /** host -> why, for hosts lost while taking the lock */
  lost: Map<string, string>;
}

/** kha play's result (--json): every play's outcome, and the SSH logins it took */
export interface PlaybookResult {
  plays: PlayResult[];
  handshakes: number;
}

/** Every host of the playbook, in play order. Pure. */
export function playbookHosts(plays: readonly Play[]): string[] {
  return [...new Set(plays.flatMap((p) => p.hosts))];
}

/** Each lost host goes to the first play that names it (that play reports and counts it). Pure. */
export function assignLost(plays: readonly Play[], lost: ReadonlySet<string>): Play[] {
  const seen = new Set<string>();
  return plays.map((p) => {
    const mine = p.hosts.filter((h) => lost.has(h) && !seen.has(h));
    for (const h of mine) seen.add(h);
    return mine.length ? { ...p, lostBefore: mine } : p;
  });
}

function playLockPhase(): Phase<PlaybookState> {
  const t0 = Date.now();
  return lockPhase<PlaybookState>(
    'Lock the hosts (one kha run at a time)',
    (st) => ({
      run: st.run,
      hosts: playbookHosts(st.plays).filter((h) => st.run.alive(h)),
      request: {
        command: 'play',
        breakLock: st.opts.breakLock ?? false,
        onUnreachable: (h, err) => {
          const why = describeError(err);
          st.lost.set(h, why);
          st.run.markUnreachable(h, err);
          st.run.events.emit({ type: 'task', host: h, task: 'connect and lock', status: 'unreachable', error: why, ms: Date.now() - t0, check: st.run.check });
        },
      },
      ...(st.opts.lockEnv ? { env: st.opts.lockEnv } : {}),
    }),
    (st) => {
      st.plays = assignLost(st.plays, new Set(st.lost.keys()));
    },
  );
}

/**
 * host -> titles of the tasks that would change something, every play planned in check mode in
 * one round trip per host; a host that cannot be planned is a note (its play reports the error).
 */
export async function planPlaybook(run: RunContext, plays: readonly Play[]): Promise<{ plan: Record<string, string[]>; notes: string[] }> {
  const plan: Record<string, string[]> = {};
  const notes: string[] = [];
  const hosts = playbookHosts(plays).filter((h) => run.alive(h));
  for (const h of hosts) plan[h] = [];
  const playsOf = (h: string) => plays.filter((p) => p.hosts.includes(h));
  // with several plays, each title says which play it belongs to
  const playOf = new Map<Task<any>, string>(plays.flatMap((p) => p.tasks.map((t): [Task<any>, string] => [t, p.name])));
  const title = (t: Task<any>, params: unknown) => `${plays.length > 1 ? `${playOf.get(t)}: ` : ''}${taskTitle(t, params)}`;
  const planned = await planHosts(run, hosts, (h) => playsOf(h).flatMap((p) => p.tasks.filter((t) => !t.meta)), { mode: 'check', title });
  for (const h of hosts) {
    const r = planned.get(h)!;
    if ('error' in r) notes.push(`${h}: cannot plan: ${describeError(r.error).replace(`${h}: `, '')} (the run reports it)`);
    else plan[h] = changeTitles(r.tasks ?? []);
  }
  return { plan, notes };
}

export function playbookPhases(plays: readonly Play[]): Phase<PlaybookState>[] {
  return [
    playLockPhase(),
    {
      title: 'Plan',
      shouldRun: (st) => !st.run.check,
      run: async (st) => {
        const { plan, notes } = await planPlaybook(st.run, st.plays);
        await showAndConfirm(st.run, plan, st.opts.confirm, notes);
      },
    },
    ...plays.map((p, i): Phase<PlaybookState> => ({
      title: `play: ${p.name}`,
      shouldRun: (st) => !st.stopped,
      run: async (st) => {
        const res = await runPlay(st.run, st.plays[i]!);
        st.results.push(res);
        if (res.stopped) {
          st.stopped = true;
          const list = (hs: string[]) => hs.join(', ') || 'none';
          st.run.events.emit({
            type: 'message',
            level: 'error',
            text: `${p.name}: stopped: ${res.stopReason}; done: ${list(res.done)}; failed: ${list(res.failed)}; unreachable: ${list(res.unreachable)}; untouched: ${list(res.untouched)}`,
          });
        }
      },
    })),
  ];
}

/**
 * Run a playbook: locked, planned and confirmed, then play by play. The lock is released on
 * every way out (done, failed, refused at the prompt, interrupted); the recap and the result
 * (every play's outcome) are emitted either way.
 */
export async function playbook(run: RunContext, plays: Play[], opts: PlaybookOptions = {}): Promise<PlaybookState> {
  const st: PlaybookState = { run, plays, opts, results: [], stopped: false, lost: new Map() };
  try {
    await runPhases(st, run.events, playbookPhases(plays), run.opts.signal);
  } finally {
    run.events.emit({ type: 'recap', hosts: Object.fromEntries(run.recap) });
    const result: PlaybookResult = { plays: st.results, handshakes: run.connector.handshakes };
    run.events.emit({ type: 'result', data: result });
  }
  return st;
}
