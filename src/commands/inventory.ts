import { Flags } from '@oclif/core';
import { inventoryFlags, KhaCommand, outputFlags } from '../cli/base.js';

export default class Inventory extends KhaCommand {
  static override summary =
    'Show the inventory as kha resolved it, without connecting: every host with its groups, role, address, port, user, priority and primary, and every setting with its value and where it came from.';
  static override description =
    "Like ansible-inventory --list for kha: the same loading and checks as kha up (a bad inventory is the same one error line, exit 4; a missing or unsafe key file is a warning here), then nothing is contacted. A value comes from kha's default, a key of the inventory or of group_vars/ and host_vars/ (file:line), or a kubespray/kubeasz variable kha maps. Secrets are shown as ********.";
  static override examples = [
    '<%= config.bin %> inventory -i inventory/mycluster/',
    '<%= config.bin %> inventory -i inventory.ini --json',
    '<%= config.bin %> inventory -i hosts.yaml --host m1',
  ];
  static override flags = {
    inventory: inventoryFlags.inventory,
    user: inventoryFlags.user,
    'private-key': inventoryFlags['private-key'],
    become: inventoryFlags.become,
    'extra-vars': inventoryFlags['extra-vars'],
    host: Flags.string({ summary: 'Show only this host (and its host settings).' }),
    json: outputFlags.json,
    'log-file': Flags.string({ summary: 'Write the JSON log here.' }),
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { inventoryReport, renderInventoryReport } = await import('../actions/inventory.js');
    const { loadForRun } = await import('../cli/prepare.js');
    const { mask } = await import('../transport/quote.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Inventory);
    // the report is the output: the event sinks only log to the file
    const io = this.setupIo({ json: flags.json, quiet: true, 'log-file': flags['log-file'] }, verbose);
    try {
      const { inv, settings, origins } = await loadForRun(flags, io, { keyFiles: 'warn' });
      const report = inventoryReport(inv, settings, origins, flags.host);
      // the event bus masks the result; the table is masked here
      this.setResult(report);
      const secrets = [...inv.secrets, ...(settings.authPass ? [settings.authPass] : [])];
      if (!flags.json) process.stdout.write(mask(renderInventoryReport(report), secrets));
      await this.finish(0);
    } catch (err) {
      await this.fail(err);
    }
  }
}
