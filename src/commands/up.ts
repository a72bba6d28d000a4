import { changeFlags, inventoryFlags, KhaCommand, lockFlags, outputFlags, rolloutFlags } from '../cli/base.js';

export default class Up extends KhaCommand {
  static override summary =
    'Make the control plane highly available: keepalived + haproxy on every master, the primary first, the VIP verified, then the rest in batches.';
  static override description = `Phases, in this order: connect and gather facts; preflight (nothing is changed if it fails); install keepalived and haproxy; write and validate their configs; start the primary and wait until \`ip a s\` shows the VIP; start the other hosts in --serial batches, checking after each batch that the VIP stayed put; verify (one holder, VIP:frontend_port answers, every backend listed). A second run on a converged cluster changes nothing and restarts nothing.`;
  static override examples = [
    '<%= config.bin %> up -i hosts.yaml',
    '<%= config.bin %> up -i hosts.yaml --check --diff',
    '<%= config.bin %> up -i inventory/lab.yaml --serial 1',
  ];
  static override flags = {
    ...inventoryFlags,
    ...outputFlags,
    ...changeFlags,
    ...rolloutFlags,
    ...lockFlags,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { up } = await import('../actions/up.js');
    const { prepareRollout } = await import('../cli/prepare.js');
    const { exitCodeOf } = await import('../cli/exit.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Up);
    await this.runAction(flags, verbose, async (io, track) => {
      const { run, settings, rollout } = await prepareRollout(flags, io, track, { confirm: true });
      await up(run, settings, rollout);
      return exitCodeOf(run);
    });
  }
}
