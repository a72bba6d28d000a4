import { Args } from '@oclif/core';
import { changeFlags, inventoryFlags, KhaCommand, limitFlag, lockFlags, outputFlags } from '../cli/base.js';

export default class Play extends KhaCommand {
  static override summary = "Run a YAML playbook (plays of package, file, copy, service, command, sysctl and wait_for tasks) with kha's engine.";
  static override description = `Like the other changing commands, kha play locks every host of the playbook (/run/kha.lock; --break-lock removes a lock a finished run left), shows what would change per host and asks on a terminal before the first change (--yes skips the question; without a TTY or with --json nothing is asked). --check takes no lock and asks nothing.`;
  static override examples = [
    '<%= config.bin %> play -i hosts.yaml playbooks/apiservers-ready.yml',
    '<%= config.bin %> play -i hosts.yaml playbooks/apiservers-ready.yml --check --diff',
    '<%= config.bin %> play -i hosts.yaml playbooks/apiservers-ready.yml --limit m1,m2 --yes',
  ];
  static override args = { playbook: Args.string({ description: 'playbook file', required: true }) };
  static override flags = { ...inventoryFlags, ...limitFlag, ...outputFlags, ...changeFlags, ...lockFlags };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { playbook } = await import('../actions/play.js');
    const { terminalConfirm } = await import('../cli/confirm.js');
    const { exitCodeOf } = await import('../cli/exit.js');
    const { connectionOverrides, makeRun, reportConnections } = await import('../cli/prepare.js');
    const { loadInventory } = await import('../inventory/load.js');
    const { selectHosts } = await import('../inventory/select.js');
    const { loadPlaybook } = await import('../playbook/load.js');
    const { verbose } = this.parseArgv();
    const { flags, args } = await this.parse(Play);
    await this.runAction(flags, verbose, async (io, track) => {
      const inv = await loadInventory(flags.inventory, connectionOverrides(flags), flags['extra-vars']);
      for (const w of inv.warnings ?? []) io.events.warn(w);
      io.addSecrets(inv.secrets);
      await reportConnections(inv, io);
      const selected = new Set(selectHosts(inv, flags.limit).map((h) => h.name));
      const plays = loadPlaybook(args.playbook, inv).map((p) => ({ ...p, hosts: p.hosts.filter((h) => selected.has(h)) }));
      const run = makeRun(inv, flags, io);
      track(run);
      const confirm = terminalConfirm(flags);
      await playbook(run, plays, { breakLock: flags['break-lock'], ...(confirm ? { confirm } : {}) });
      return exitCodeOf(run);
    });
  }
}
