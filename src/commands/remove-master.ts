import { Flags } from '@oclif/core';
import { changeFlags, inventoryFlags, KhaCommand, lockFlags, outputFlags, rolloutFlags } from '../cli/base.js';
import { ExitCode, InputError } from '../errors.js';

export default class RemoveMaster extends KhaCommand {
  static override summary =
    "Remove a master: hand the VIP over if it holds it, stop keepalived and haproxy there, drop it from every other host's backends in batches, and from the inventory.";
  static override examples = [
    '<%= config.bin %> remove-master -i hosts.yaml --name m3',
    '<%= config.bin %> remove-master -i hosts.yaml --name m3 --check --diff',
  ];
  static override flags = {
    ...inventoryFlags,
    ...outputFlags,
    ...changeFlags,
    name: Flags.string({ summary: 'Inventory name of the master to remove.', required: true }),
    ...rolloutFlags,
    ...lockFlags,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { changeMembers } = await import('../actions/members.js');
    const { inventoryNotWritten } = await import('../cli/exit.js');
    const { loadForRun, makeRun } = await import('../cli/prepare.js');
    const { parseSerialFlag } = await import('../engine/serial.js');
    const { editableInventory, removeHostFromInventoryText } = await import('../inventory/edit.js');
    const { resolveSettings } = await import('../inventory/settings.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(RemoveMaster);
    await this.runAction(flags, verbose, async (io, track) => {
      const serial = parseSerialFlag(flags.serial);
      const { inv, settings: before } = await loadForRun(flags, io);
      const name = flags.name;
      if (!inv.hosts.some((h) => h.name === name)) throw new InputError(`--name: ${name} is not a host of ${flags.inventory}`);
      if (!before.masters.includes(name) && !before.lbHosts.includes(name))
        throw new InputError(`--name: ${name} is not a master (group ${before.mastersGroup})`);
      if (before.masters.includes(name) && before.masters.length === 1) {
        throw new InputError(`--name: ${name} is the last master; a control plane needs at least one (add another master first)`);
      }
      // the text kha read: the file is rewritten only if it still holds exactly this
      const edit = editableInventory(inv, 'remove-master');
      const text = edit.text;
      const { text: newText, removedFrom, removedLines } = removeHostFromInventoryText(text, name);
      const after = resolveSettings(edit.reparse(newText));
      const run = makeRun(inv, flags, io);
      track(run);
      const st = await changeMembers('remove', run, before, after, name, {
        serial,
        maxFailPercentage: flags['max-fail'],
        breakLock: flags['break-lock'],
        file: edit.file,
        oldText: text,
        newText,
        manual: { kind: 'remove', from: removedFrom, lines: removedLines.flat() },
      });
      // the removed host being unreachable is expected and fine
      const code = run.failed.size ? ExitCode.failed : [...run.unreachable.keys()].some((h) => h !== name) ? ExitCode.unreachable : 0;
      return code || (st.inventoryWritten || run.check ? 0 : inventoryNotWritten(st.inventoryError));
    });
  }
}
