// haproxy_server: one server of a haproxy backend in the runtime state kha wants, through the
// admin stats socket (facts/haproxy.ts): DRAIN (no new connection goes to it; the open ones go
// on) or READY, and with shutdownSessions its open sessions closed. Runtime state only, not the
// config: after a change, `save` (roles/server-state.ts) writes the drained servers to the
// server-state file, so a reload or a restart keeps them. Probe: `show stat` and `show servers
// state`; decide: pure; apply: the `set server` / `shutdown sessions` commands, each answer checked.
import { defineModule } from '../engine/plan-tasks.js';
import { TaskFailed } from '../errors.js';
import { commandRefusal, runtimeAnswers, runtimeScript, serverView, type ServerView } from '../facts/haproxy.js';
import type { Command } from '../transport/types.js';
import { must } from './util.js';

export interface HaproxyServerParams {
  /** the stats socket (level admin) */
  socket: string;
  backend: string;
  server: string;
  state: 'drain' | 'ready';
  /** drain: also close the sessions still open to it (their clients reconnect to the others) */
  shutdownSessions?: boolean;
  /** run after a change: saves the drained servers for haproxy's next start or reload */
  save?: Command;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@%+-]*$/;

function commands(p: HaproxyServerParams, v: ServerView): { cmds: string[]; why: string[] } {
  const at = `${p.backend}/${p.server}`;
  const cmds: string[] = [];
  const why: string[] = [];
  if (p.state === 'drain' && !v.drained) {
    cmds.push(`set server ${at} state drain`);
    why.push(`${v.status} -> DRAIN`);
  }
  if (p.state === 'ready' && (v.drained || v.maint)) {
    cmds.push(`set server ${at} state ready`);
    why.push(`${v.status} -> READY`);
  }
  if (p.state === 'drain' && p.shutdownSessions && v.sessions > 0) {
    cmds.push(`shutdown sessions server ${at}`);
    why.push(`${v.sessions} session${v.sessions === 1 ? '' : 's'} closed`);
  }
  return { cmds, why };
}

export const haproxyServerModule = defineModule<HaproxyServerParams>({
  name: 'haproxy_server',
  describe: (p) => `${p.state} ${p.backend}/${p.server}${p.shutdownSessions ? ' (close its sessions)' : ''}`,
  probe(p) {
    if (!NAME.test(p.backend) || !NAME.test(p.server)) throw new TaskFailed(`haproxy server ${p.backend}/${p.server}: not a haproxy name`);
    return { cmd: { script: runtimeScript(p.socket, ['show stat', `show servers state ${p.backend}`]) }, become: true };
  },
  decide([r], p) {
    if (r?.code !== 0)
      throw new TaskFailed(`haproxy's stats socket does not answer: ${(r?.stderr ?? '').trim().split('\n')[0] || `exit ${r?.code ?? r?.signal}`}`);
    const [stat, states] = runtimeAnswers(r.stdout, 2);
    const v = serverView(stat!, states!, p.backend, p.server);
    if (!v) throw new TaskFailed(`haproxy does not list ${p.backend}/${p.server}`);
    const { cmds, why } = commands(p, v);
    if (cmds.length === 0) return { change: false, why: p.state === 'drain' ? `already DRAIN (${v.status})` : `not drained (${v.status})` };
    return {
      change: true,
      why: why.join(', '),
      apply: async (ctx) => {
        const res = await must(ctx.conn, { script: runtimeScript(p.socket, cmds) }, `haproxy ${cmds.join('; ')}`);
        const refused = runtimeAnswers(res.stdout, cmds.length)
          .map((a, i) => [cmds[i], commandRefusal(a)] as const)
          .filter(([, x]) => x !== null);
        if (refused.length) throw new TaskFailed(`haproxy refused ${refused.map(([c, x]) => `\`${c}\`: ${x}`).join('; ')}`);
        if (p.save) await must(ctx.conn, p.save, `saving the drained servers for a reload (${cmds.join('; ')} was done)`);
      },
    };
  },
});
