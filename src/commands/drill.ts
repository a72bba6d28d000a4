import { Flags } from '@oclif/core';
import type { DrillMode, DrillResult, DrillRound } from '../actions/drill.js';
import { inventoryFlags, KhaCommand, lockFlags, outputFlags } from '../cli/base.js';
import { ExitCode } from '../errors.js';

function line(r: DrillRound): string {
  const f = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);
  const exact = r.vipMovedExactMs === null ? '' : ` (${f(r.vipMovedExactMs)} by the hosts' own address events)`;
  return `round ${r.round} (${r.mode}): VIP ${r.holderBefore} -> ${r.newHolder ?? 'nobody'} in ${f(r.vipMovedMs)} polled${exact} (budget ${(r.budgetMs / 1000).toFixed(0)} s: ${r.withinBudget ? 'met' : 'MISSED'}); VIP:port answered ${f(r.frontendAfterMoveMs)} after the move; settled ${f(r.settledMs)} after restore on ${r.holderAfter ?? '?'}`;
}

export default class Drill extends KhaCommand {
  static override summary =
    'Prove failover works: stop keepalived, haproxy or both on the VIP holder, measure until the VIP moves and VIP:port answers again, then restore.';
  static override examples = ['<%= config.bin %> drill -i hosts.yaml', '<%= config.bin %> drill -i hosts.yaml --mode haproxy --rounds 3'];
  static override flags = {
    ...inventoryFlags,
    mode: Flags.string({
      summary: 'What fails: keepalived (stopped), haproxy (stopped: keepalived goes to FAULT and hands the VIP over), host (both stopped).',
      options: ['keepalived', 'haproxy', 'host'],
      default: 'keepalived',
    }),
    rounds: Flags.integer({ summary: 'How many failovers in a row.', default: 1, min: 1, max: 20 }),
    json: outputFlags.json,
    'log-file': Flags.string({ summary: 'Write the JSON log here.' }),
    verbose: outputFlags.verbose,
    yes: Flags.boolean({ char: 'y', summary: 'Do not ask for confirmation.' }),
    ...lockFlags,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { drill } = await import('../actions/drill.js');
    const { loadForRun, makeRun } = await import('../cli/prepare.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Drill);
    await this.runAction(flags, verbose, async (io, track) => {
      const { inv, settings } = await loadForRun(flags, io);
      const run = makeRun(inv, flags, io);
      track(run);
      const rounds = await drill(
        run,
        settings,
        flags.mode as DrillMode,
        flags.rounds,
        (r) => {
          if (!flags.json) process.stdout.write(`${line(r)}\n`);
        },
        flags['break-lock'],
      );
      const result: DrillResult = { rounds };
      this.setResult(result);
      const missed = rounds.filter((r) => !r.withinBudget);
      const why = (r: DrillRound) =>
        `round ${r.round} (${r.mode}): ${r.vipMovedMs === null ? 'the VIP never moved' : `the VIP moved in ${(r.vipMovedMs / 1000).toFixed(2)} s`}, over the budget of ${(r.budgetMs / 1000).toFixed(0)} s`;
      return missed.length
        ? { exit: ExitCode.failed, error: { code: 'E_DRILL', message: missed.map(why).join('; '), hosts: [...new Set(missed.map((r) => r.holderBefore))] } }
        : 0;
    });
  }
}
