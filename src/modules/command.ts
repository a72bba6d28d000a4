// command: run something only when needed (creates / unless), fail on a non-zero exit.
import type { Module } from '../engine/types.js';
import { TaskFailed } from '../engine/types.js';
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
}

export const commandModule: Module<CommandParams> = {
  name: 'command',
  describe: (p) => p.title ?? `run ${render(p.cmd).slice(0, 60)}`,
  async plan(ctx, p) {
    if (p.creates) {
      const r = await ctx.conn.exec({ script: `test -e ${quote(p.creates)}` }, { become: true });
      if (r.code === 0) return { change: false, why: `${p.creates} exists` };
    }
    if (p.unless) {
      const r = await ctx.conn.exec(p.unless, { become: p.become ?? true });
      if (r.code === 0) return { change: false, why: 'already done (probe passed)' };
    }
    return {
      change: true,
      why: p.creates ? `${p.creates} missing` : p.unless ? 'probe failed' : 'always runs',
      apply: async () => {
        const r = await ctx.conn.exec(p.cmd, { become: p.become ?? true });
        if (r.code !== 0) throw new TaskFailed(`command failed (exit ${r.code ?? r.signal})`, lastLines(r.stderr || r.stdout, 8));
      },
    };
  },
};
