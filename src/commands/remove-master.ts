import { readFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { changeMembers } from '../actions/members.js';
import { changeFlags, inventoryFlags, KhaCommand, lockFlags, outputFlags, rolloutFlags } from '../cli/base.js';
import { exitCodeOf } from '../cli/exit.js';
import { loadForRun, makeRun } from '../cli/prepare.js';
import { parseSerialFlag } from '../engine/serial.js';
import { ExitCode, InputError } from '../errors.js';
import { removeHostFromInventoryText } from '../inventory/edit.js';
import { parseInventory } from '../inventory/load.js';
import { resolveSettings } from '../inventory/settings.js';

export default class RemoveMaster extends KhaCommand {
  static override summary = 'Remove a master: hand the VIP over if it holds it, stop keepalived and haproxy there, drop it from every other host\'s backends in batches, and from the inventory.';
  static override examples = ['<%= config.bin %> remove-master -i hosts.yaml --name m3', '<%= config.bin %> remove-master -i hosts.yaml --name m3 --check --diff'];
  static override flags = {
    ...inventoryFlags,
    ...outputFlags,
    ...changeFlags,
    name: Flags.string({ summary: 'Inventory name of the master to remove.', required: true }),
    ...rolloutFlags,
    ...lockFlags,
  };

  async run(): Promise<void> {
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(RemoveMaster);
    await this.runAction(flags, verbose, async (io, track) => {
      const serial = parseSerialFlag(flags.serial);
      const { inv, settings: before } = await loadForRun(flags, io);
      const name = flags.name;
      if (!inv.hosts.some((h) => h.name === name)) throw new InputError(`--name: ${name} is not a host of ${flags.inventory}`);
      if (!before.masters.includes(name) && !before.lbHosts.includes(name)) throw new InputError(`--name: ${name} is not a master (group ${before.mastersGroup})`);
      if (before.masters.includes(name) && before.masters.length === 1) {
        throw new InputError(`--name: ${name} is the last master; a control plane needs at least one (add another master first)`);
      }
      const text = await readFile(flags.inventory, 'utf8');
      const { text: newText } = removeHostFromInventoryText(text, name);
      const after = resolveSettings(parseInventory(newText, flags.inventory));
      const run = makeRun(inv, flags, io);
      track(run);
      const st = await changeMembers('remove', run, before, after, name, { serial, maxFailPercentage: flags['max-fail'], breakLock: flags['break-lock'], file: flags.inventory, newText });
      // the removed host being unreachable is expected and fine
      const code = run.failed.size ? ExitCode.failed : [...run.unreachable.keys()].some((h) => h !== name) ? ExitCode.unreachable : 0;
      return code || (st.inventoryWritten || run.check ? 0 : ExitCode.failed);
    });
  }
}
