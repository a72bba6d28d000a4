// command: run something only when needed (creates / unless), fail on a non-zero exit.
import { defineModule } from '../engine/plan-tasks.js';
import type { Probe } from '../engine/types.js';
import { TaskFailed } from '../errors.js';
import { quote, render } from '../transport/quote.js';
import type { Command, ExecResult } from '../transport/types.js';
import { lastLines } from './util.js';

export interface CommandParams {
  cmd: Command;
  /** skip when this path exists */
  creates?: string;
  /** skip when this probe exits 0 */
  unless?: Command;
  /** decide "changed" from the result (default: always changed when it ran) */
  changedWhen?: (r: ExecResult) => boolean;
  title?: string;
  become?: boolean;
  /** the words for why it runs (default: `probe failed`, `always runs`, `<creates> missing`) */
  why?: string;
}

export const commandModule = defineModule<CommandParams>({
  name: 'command',
  describe: (p) => p.title ?? `run ${render(p.cmd).slice(0, 60)}`,
  // nothing to probe without creates / unless: the command always runs. With both, both probes
  // go out in the one round trip, and the unless probe runs only when the creates path is missing
  // (as when they ran one after the other); creates decides first.
  probe(p) {
    const probes: Probe[] = [];
    if (p.creates) probes.push({ cmd: { script: `test -e ${quote(p.creates)}` }, become: true });
    if (p.unless) {
      const cmd = p.creates ? { script: `[ -e ${quote(p.creates)} ] || sh -c ${quote(render(p.unless))}` } : p.unless;
      probes.push({ cmd, become: p.become ?? true });
    }
    return probes.length ? probes : null;
  },
  decide(results, p) {
    const [creates, unless] = p.creates ? results : [undefined, results[0]];
    if (p.creates && creates?.code === 0) return { change: false, why: `${p.creates} exists` };
    if (p.unless && unless?.code === 0) return { change: false, why: 'already done (probe passed)' };
    return {
      change: true,
      why: p.why ?? (p.creates ? `${p.creates} missing` : p.unless ? 'probe failed' : 'always runs'),
      apply: async (ctx) => {
        const r = await ctx.conn.exec(p.cmd, { become: p.become ?? true });
        if (r.code !== 0) throw new TaskFailed(`command failed (exit ${r.code ?? r.signal})`, lastLines(r.stderr || r.stdout, 8));
      },
    };
  },
});
