import { Flags } from '@oclif/core';
import { changeFlags, inventoryFlags, KhaCommand, lockFlags, outputFlags, rolloutFlags } from '../cli/base.js';
import { ExitCode } from '../errors.js';

export default class Upgrade extends KhaCommand {
  static override summary = 'Roll config (and with --packages, package) changes through a live HA control plane without losing the VIP.';
  static override description = `Re-renders every config from the inventory; hosts without the VIP go first in --serial batches, the VIP holder last and alone, after the VIP has been handed over on purpose. After each batch: services active, configs valid, the VIP on exactly one host, VIP:frontend_port answers. A failed check stops the roll and leaves later hosts untouched; rerun to resume.`;
  static override examples = [
    '<%= config.bin %> upgrade -i hosts.yaml',
    '<%= config.bin %> upgrade -i hosts.yaml --serial 20% --packages',
    '<%= config.bin %> upgrade -i hosts.yaml --check --diff',
  ];
  static override flags = {
    ...inventoryFlags,
    ...outputFlags,
    ...changeFlags,
    ...rolloutFlags,
    ...lockFlags,
    packages: Flags.boolean({
      summary: 'Also upgrade keepalived and haproxy to the latest packages (pinned keepalived_version/haproxy_version always apply).',
    }),
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { upgrade } = await import('../actions/upgrade.js');
    const { exitCodeOf } = await import('../cli/exit.js');
    const { prepareRollout } = await import('../cli/prepare.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Upgrade);
    await this.runAction(flags, verbose, async (io, track) => {
      const { run, settings, rollout } = await prepareRollout(flags, io, track);
      const st = await upgrade(run, settings, { ...rollout, packages: flags.packages });
      if (!st.report.stopped) return exitCodeOf(run);
      return { exit: exitCodeOf(run) || ExitCode.failed, error: { code: 'E_PLAY_STOPPED', message: st.report.stopReason ?? 'the roll stopped' } };
    });
  }
}
