import { Args } from '@oclif/core';
import { changeFlags, inventoryFlags, KhaCommand, limitFlag, outputFlags } from '../cli/base.js';

export default class Play extends KhaCommand {
  static override summary = 'Run a YAML playbook (plays of package, file, copy, service, command, sysctl and wait_for tasks) with kha\'s engine.';
  static override examples = ['<%= config.bin %> play -i hosts.yaml playbooks/example.yaml --check --diff', '<%= config.bin %> play -i hosts.yaml site.yaml --limit m1,m2'];
  static override args = { playbook: Args.string({ description: 'playbook file', required: true }) };
  static override flags = { ...inventoryFlags, ...limitFlag, ...outputFlags, ...changeFlags };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { exitCodeOf } = await import('../cli/exit.js');
    const { makeRun } = await import('../cli/prepare.js');
    const { runPhases } = await import('../engine/phases.js');
    const { runPlay } = await import('../engine/play.js');
    const { loadInventory } = await import('../inventory/load.js');
    const { selectHosts } = await import('../inventory/select.js');
    const { loadPlaybook } = await import('../playbook/load.js');
    const { verbose } = this.parseArgv();
    const { flags, args } = await this.parse(Play);
    const io = this.setupIo(flags, verbose);
    let run;
    try {
      const inv = await loadInventory(flags.inventory, {
        ...(flags.user ? { user: flags.user } : {}),
        ...(flags['private-key'] ? { privateKey: flags['private-key'] } : {}),
        ...(flags.become !== undefined ? { become: flags.become } : {}),
      });
      io.addSecrets(inv.secrets);
      const selected = new Set(selectHosts(inv, flags.limit).map((h) => h.name));
      const plays = loadPlaybook(args.playbook, inv).map((p) => ({ ...p, hosts: p.hosts.filter((h) => selected.has(h)) }));
      run = makeRun(inv, flags, io);
      const r = run;
      const results: unknown[] = [];
      let stopped = false;
      await runPhases(
        r,
        io.events,
        plays.map((p) => ({
          title: `play: ${p.name}`,
          shouldRun: () => !stopped,
          run: async () => {
            const res = await runPlay(r, p);
            results.push(res);
            if (res.stopped) {
              stopped = true;
              io.events.emit({ type: 'message', level: 'error', text: `${p.name}: stopped: ${res.stopReason}; done: ${res.done.join(', ') || 'none'}; failed: ${res.failed.join(', ') || 'none'}; unreachable: ${res.unreachable.join(', ') || 'none'}; untouched: ${res.untouched.join(', ') || 'none'}` });
            }
          },
        })),
        io.signal,
      );
      io.events.emit({ type: 'recap', hosts: Object.fromEntries(r.recap) });
      io.events.emit({ type: 'result', data: { plays: results, handshakes: r.connector.handshakes } });
      await r.connector.closeAll();
      await this.finish(exitCodeOf(r));
    } catch (err) {
      await run?.connector.closeAll();
      await this.fail(err);
    }
  }
}
