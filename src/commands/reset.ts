import { Flags } from '@oclif/core';
import { changeFlags, inventoryFlags, KhaCommand, lockFlags, outputFlags, rolloutFlags } from '../cli/base.js';

export default class Reset extends KhaCommand {
  static override summary =
    'Undo kha up: stop and disable keepalived and haproxy (the VIP holder last), remove every file kha wrote, the /etc/hosts block and the node-local proxies; --purge also removes the packages kha installed.';
  static override description = `Phases, in this order: connect and gather facts; lock the hosts; plan (every file to remove, per host; nothing is changed yet) and confirm; the node-local proxies in --serial batches; the load-balancer hosts without the VIP in --serial batches, the VIP holder last; the kha block of /etc/hosts; with --purge the packages kha recorded as installed by it (/var/lib/kha/installed) and the user it created; verify that nothing of kha is left. A file is removed only when it carries kha's header line. A second run changes nothing.`;
  static override examples = [
    '<%= config.bin %> reset -i hosts.yaml --check --diff',
    '<%= config.bin %> reset -i hosts.yaml',
    '<%= config.bin %> reset -i hosts.yaml --purge --yes',
  ];
  static override flags = {
    ...inventoryFlags,
    ...outputFlags,
    ...changeFlags,
    purge: Flags.boolean({
      summary:
        'Also remove the packages kha installed (recorded in /var/lib/kha/installed) and the user it created; packages that were there before kha stay, and are named.',
    }),
    ...rolloutFlags,
    ...lockFlags,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { reset } = await import('../actions/reset.js');
    const { prepareRollout } = await import('../cli/prepare.js');
    const { exitCodeOf } = await import('../cli/exit.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Reset);
    await this.runAction(flags, verbose, async (io, track) => {
      const { run, settings, rollout } = await prepareRollout(flags, io, track, { confirm: true });
      await reset(run, settings, { ...rollout, purge: flags.purge });
      return exitCodeOf(run);
    });
  }
}
