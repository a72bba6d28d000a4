// kha add-master / remove-master: change the set of masters of a live HA control plane without
// moving the VIP. The inventory file is written only when every host is consistent.
import type { RunContext } from '../engine/context.js';
import { Found, runPhases, type Phase } from '../engine/phases.js';
import { FLUSH_HANDLERS, runPlay } from '../engine/play.js';
import { ExitCode, KhaError, describeError } from '../errors.js';
import { manualEditLines, writeInventoryAtomic, type ManualEdit } from '../inventory/edit.js';
import type { HaSettings } from '../inventory/settings.js';
import { serviceModule } from '../modules/index.js';
import { configureTasks, haHandlers, installTasks, startTasks } from '../roles/ha.js';
import { preflightChecks } from './preflight.js';
import { tcpConnectScript } from './probes.js';
import { connectAndGather, rolloutLockPhase, playOrThrow, type Preflight, type UpOptions, type UpState } from './rollout.js';
import { checkPassing, preflight, verify, vipHolders } from './up.js';
import { handOver } from './upgrade.js';
import { ETC_HOSTS_PHASE, NODE_PREFLIGHT_PHASE, NODE_PROXY_PHASE, changedHosts } from './nodes.js';

export interface MembersOptions extends UpOptions {
  maxFailPercentage: number;
  /** the inventory file, the text kha read from it and its new text, written when the change succeeded */
  file: string;
  oldText: string;
  newText: string;
  /** the same change for an operator to make by hand, if the file cannot be written */
  manual: ManualEdit;
}

export interface MembersState extends UpState {
  /** settings before the change (for the VIP holder and the removed host) */
  before: HaSettings;
  opts: MembersOptions;
  holder: string | null;
  inventoryWritten: boolean;
  /** why the inventory was not written although every host was changed */
  inventoryError?: string;
  hostStates: Record<string, string>;
}

/** add-master's and remove-master's result (--json) */
export interface MembersResult {
  /** the VIP holder the change kept (or handed over to) */
  holder: string | null;
  inventoryWritten: boolean;
  /** why the inventory file was not written although the hosts were changed (exit 2) */
  inventoryError?: string;
  /** the edit to make by hand then */
  inventoryEdit?: ManualEdit;
  /** host -> where the change left it */
  hosts: Record<string, string>;
}

function expectHolder(st: MembersState) {
  return async (hosts: string[]) => {
    const hs = await vipHolders(st);
    if (hs.length !== 1 || hs[0] !== st.holder) {
      throw new KhaError(`the VIP moved while updating ${hosts.join(', ')}: now on ${hs.join(' and ') || 'no host'}, was on ${st.holder}`, {
        code: 'E_VIP_MOVED',
      });
    }
    const conn = await st.run.connector.get(st.run.host(st.holder!));
    const r = await conn.exec({ script: tcpConnectScript(st.s.vip, st.s.frontendPort, 2) });
    if (r.code !== 0) throw new KhaError(`${st.s.vip}:${st.s.frontendPort} does not answer after updating ${hosts.join(', ')}`, { code: 'E_FRONTEND' });
    for (const h of hosts) st.hostStates[h] = 'updated';
    st.run.events.info(`${hosts.join(', ')} updated; the VIP stayed on ${st.holder}`);
  };
}

/** Roll the new configs (backends, VRRP peers) through `hosts` in batches, with reloads; the VIP must stay put. */
async function updateMembers(st: MembersState, net: Preflight['net'], hosts: string[]): Promise<void> {
  for (const h of hosts) st.hostStates[h] = 'untouched';
  await playOrThrow(st, {
    name: 'update backends',
    hosts,
    serial: st.opts.serial,
    maxFailPercentage: st.opts.maxFailPercentage ?? 0,
    tasks: [...configureTasks(st.s, net), ...startTasks(st.s)],
    handlers: haHandlers({ keepalived: 'reload' }),
    afterBatch: expectHolder(st),
  });
}

function requireOneHolder(st: MembersState, holders: string[]): void {
  if (holders.length !== 1) {
    throw new KhaError(
      holders.length ? `split brain: ${holders.join(' and ')} hold the VIP; fix it first (kha status)` : `no host holds the VIP ${st.s.vip}; run kha up first`,
      {
        code: 'E_UNHEALTHY',
        exit: ExitCode.unhealthy,
      },
    );
  }
  st.holder = holders[0]!;
}

/**
 * The last phase. If the file cannot be written (an operator edited it during the run, or an I/O
 * error), the hosts are already changed: say so in one line, then give the exact YAML line(s) to
 * add or remove by hand. The command then exits 2.
 */
export const WRITE_INVENTORY_PHASE: Phase<MembersState> = {
  title: 'Write the inventory (comments and formatting kept)',
  shouldRun: (x) => !x.run.check,
  run: async (x) => {
    const { file, oldText, newText, manual } = x.opts;
    try {
      const w = writeInventoryAtomic(file, newText, { expected: oldText });
      x.inventoryWritten = true;
      x.run.events.info(`${file} updated (the previous version is ${w.backup})`);
    } catch (err) {
      x.inventoryError = describeError(err);
      const [say, ...yaml] = manualEditLines(manual);
      x.run.events.emit({ type: 'message', level: 'error', text: `${x.inventoryError}; the hosts are changed: ${say}` });
      for (const l of yaml) x.run.events.info(l);
    }
  },
};

export function addMasterPhases(name: string): Phase<MembersState>[] {
  const pf = new Found<Preflight>('preflight');
  return [
    { title: 'Connect and gather facts', run: async (st) => connectAndGather(st.run, [...new Set([...st.s.lbHosts, ...st.s.masters])]) },
    NODE_PREFLIGHT_PHASE,
    rolloutLockPhase((st) => changedHosts(st.s)),
    {
      title: 'Preflight: the new host, the settings, a healthy cluster (nothing is changed yet)',
      run: async (st) => {
        const { holders } = pf.set(await preflight(st));
        const old = st.before.lbHosts;
        requireOneHolder(
          st,
          holders.filter((h) => old.includes(h)),
        );
        if (holders.includes(name))
          throw new KhaError(`${name} already holds the VIP ${st.s.vip}; it cannot join as a backup`, { code: 'E_PREFLIGHT', exit: ExitCode.preflight });
      },
    },
    {
      title: `Install, configure and start ${name} as a backup`,
      shouldRun: (st) => st.s.lbHosts.includes(name),
      run: async (st) => {
        st.hostStates[name] = 'installing';
        await playOrThrow(st, {
          name: `add ${name}`,
          hosts: [name],
          tasks: [...installTasks(st.s), ...configureTasks(st.s, pf.get().net), ...startTasks(st.s), FLUSH_HANDLERS, checkPassing()],
          handlers: haHandlers(),
          afterBatch: expectHolder(st),
        });
        st.hostStates[name] = 'started (backup)';
      },
    },
    {
      title: 'Update the other hosts (haproxy backends, VRRP peers) in batches, with reloads',
      run: async (st) => {
        await updateMembers(
          st,
          pf.get().net,
          st.s.lbHosts.filter((h) => h !== name),
        );
      },
    },
    NODE_PROXY_PHASE,
    ETC_HOSTS_PHASE,
    { title: 'Verify', shouldRun: (st) => !st.run.check, run: async (st) => void (await verify(st, pf.get())) },
  ];
}

export function removeMasterPhases(name: string): Phase<MembersState>[] {
  const pf = new Found<Preflight>('preflight');
  return [
    gatherLeavingPhase(name),
    NODE_PREFLIGHT_PHASE,
    rolloutLockPhase((st) => changedHosts(st.s)),
    {
      title: 'Preflight: the remaining hosts, a healthy cluster (nothing is changed yet)',
      run: async (st) => {
        // the VIP is held by a host of the current set (maybe the one leaving): no ARP/VRRP probes
        pf.set(await preflight(st, { probes: false }));
        const holders = preflightChecks(st.before, factsOf(st)).holders;
        if (holders.length !== 1) requireOneHolder(st, holders);
        st.holder = holders[0]!;
      },
    },
    handOverPhase(name),
    retirePhase(name),
    {
      title: 'Update the remaining hosts (haproxy backends, VRRP peers) in batches, with reloads',
      run: async (st) => {
        if (st.holder && !st.s.lbHosts.includes(st.holder)) st.holder = null;
        await updateMembers(st, pf.get().net, st.s.lbHosts);
      },
    },
    NODE_PROXY_PHASE,
    ETC_HOSTS_PHASE,
    { title: 'Verify', shouldRun: (st) => !st.run.check, run: async (st) => void (await verify(st, pf.get())) },
  ];
}

function factsOf(st: MembersState) {
  return Object.fromEntries([...st.run.facts.entries()]);
}

/** Connect and gather facts; the host to remove may be gone for good, which must not block its removal. */
function gatherLeavingPhase(name: string): Phase<MembersState> {
  return {
    title: 'Connect and gather facts',
    run: async (st) => {
      await connectAndGather(st.run, [...new Set([...st.s.lbHosts, ...st.s.masters])]);
      try {
        await st.run.facts0(name);
      } catch (err) {
        st.run.events.warn(`${name} is unreachable (${describeError(err)}); it is removed from the others' configs and the inventory only`, name);
        st.hostStates[name] = 'unreachable';
      }
    },
  };
}

/** The leaving host holds the VIP: hand it over (on the settings before the change) first. */
function handOverPhase(name: string): Phase<MembersState> {
  return {
    title: `Hand the VIP over from ${name}`,
    shouldRun: (st) => st.holder === name,
    run: async (st) => {
      if (st.run.check) {
        st.run.events.info(`would hand the VIP over from ${name}`);
        return;
      }
      const view: UpState = { ...st, s: st.before };
      st.holder = (await handOver(view, name)).to;
    },
  };
}

function retirePhase(name: string): Phase<MembersState> {
  return {
    title: `Stop and disable keepalived and haproxy on ${name}`,
    shouldRun: (st) => st.hostStates[name] !== 'unreachable' && st.before.lbHosts.includes(name),
    run: async (st) => {
      const r = await runPlay(st.run, {
        name: `retire ${name}`,
        hosts: [name],
        tasks: [
          { module: serviceModule, params: { name: 'keepalived', state: 'stopped', enabled: false } },
          { module: serviceModule, params: { name: 'haproxy', state: 'stopped', enabled: false } },
        ],
      });
      st.hostStates[name] = r.done.includes(name) ? 'stopped and disabled' : 'failed to stop (see above)';
    },
  };
}

export async function changeMembers(
  kind: 'add' | 'remove',
  run: RunContext,
  before: HaSettings,
  after: HaSettings,
  name: string,
  opts: MembersOptions,
): Promise<MembersState> {
  const st: MembersState = {
    run,
    s: after,
    before,
    opts: { ...opts, command: `${kind}-master` },
    plays: [],
    holder: null,
    inventoryWritten: false,
    hostStates: {},
  };
  const phases = [...(kind === 'add' ? addMasterPhases(name) : removeMasterPhases(name))];
  phases.push(WRITE_INVENTORY_PHASE);
  try {
    await runPhases(st, run.events, phases, run.opts.signal);
  } finally {
    if (!st.inventoryWritten && !st.inventoryError && !run.check && Object.keys(st.hostStates).length) {
      run.events.warn(
        `${opts.file} was NOT changed. Host states: ${Object.entries(st.hostStates)
          .map(([h, v]) => `${h}: ${v}`)
          .join('; ')}. Fix the cause and run the same command again.`,
      );
    }
    run.events.emit({ type: 'recap', hosts: Object.fromEntries(run.recap) });
    const result: MembersResult = {
      holder: st.holder,
      inventoryWritten: st.inventoryWritten,
      ...(st.inventoryError ? { inventoryError: st.inventoryError, inventoryEdit: opts.manual } : {}),
      hosts: st.hostStates,
    };
    run.events.emit({ type: 'result', data: result });
  }
  return st;
}
