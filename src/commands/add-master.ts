import { Flags } from '@oclif/core';
import { changeFlags, inventoryFlags, KhaCommand, lockFlags, outputFlags, rolloutFlags } from '../cli/base.js';
import { InputError } from '../errors.js';

export default class AddMaster extends KhaCommand {
  static override summary =
    "Add a master to a live HA control plane: install it as a backup, then update every other host's backends in batches, without moving the VIP.";
  static override description =
    'The new host is validated like kha up validates hosts before anything changes. The inventory file gets the new host (comments and formatting kept) only when every host is consistent.';
  static override examples = [
    '<%= config.bin %> add-master -i hosts.yaml --name m4 --host 10.0.0.14',
    '<%= config.bin %> add-master -i hosts.yaml --name m4 --host 10.0.0.14 --check --diff',
  ];
  static override flags = {
    ...inventoryFlags,
    ...outputFlags,
    ...changeFlags,
    name: Flags.string({ summary: 'Inventory name of the new master.', required: true }),
    host: Flags.string({ summary: 'Its IPv4 address (ansible_host).', required: true }),
    port: Flags.integer({ summary: 'Its SSH port (ansible_port).', min: 1, max: 65535 }),
    'ssh-user': Flags.string({ summary: 'Its SSH user (ansible_user), if it differs from the others.' }),
    priority: Flags.integer({ summary: "Its VRRP priority; must be below every other host's (default: below the lowest).", min: 1, max: 254 }),
    ...rolloutFlags,
    ...lockFlags,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { changeMembers } = await import('../actions/members.js');
    const { exitCodeOf, inventoryNotWritten } = await import('../cli/exit.js');
    const { connectionOverrides, loadForRun, makeRun } = await import('../cli/prepare.js');
    const { parseSerialFlag } = await import('../engine/serial.js');
    const { addHostToInventoryText, editableInventory, hostEntryLine } = await import('../inventory/edit.js');
    const { HOST_NAME_RE, USER_RE } = await import('../inventory/load.js');
    const { resolveSettings } = await import('../inventory/settings.js');
    const { isIPv4 } = await import('../net/ipv4.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(AddMaster);
    await this.runAction(flags, verbose, async (io, track) => {
      const serial = parseSerialFlag(flags.serial);
      const { inv, settings: before } = await loadForRun(flags, io);
      const name = flags.name;
      if (!HOST_NAME_RE.test(name))
        throw new InputError(`--name: ${JSON.stringify(name)} is not a valid host name; use letters, digits, . _ - (starting with a letter or digit)`);
      if (!isIPv4(flags.host))
        throw new InputError(`--host: ${JSON.stringify(flags.host)} is not an IPv4 address; give the new master's address, e.g. 10.0.0.14`);
      if (flags['ssh-user'] !== undefined && !USER_RE.test(flags['ssh-user']))
        throw new InputError(`--ssh-user: ${JSON.stringify(flags['ssh-user'])} is not a valid user name`);
      if (inv.hosts.some((h) => h.name === name)) throw new InputError(`--name: ${name} is already a host of ${flags.inventory}; choose another name`);
      const taken = inv.hosts.find((h) => h.connection.address === flags.host && h.connection.port === (flags.port ?? 22));
      if (taken) throw new InputError(`--host: ${flags.host} is already the address of ${taken.name}; give the new master its own address`);
      if (flags.host === before.vip) throw new InputError(`--host: ${flags.host} is the VIP; give the new master its own address`);
      const minPrio = Math.min(...before.lbHosts.map((h) => before.hosts[h]!.priority));
      if (flags.priority !== undefined && flags.priority >= minPrio) {
        throw new InputError(
          `--priority: ${flags.priority} is not below every other host's priority (lowest: ${minPrio}); a new master joins as a backup, so give it less than ${minPrio}`,
        );
      }
      const edit = editableInventory(inv, 'add-master');
      const groupPath = inv.source?.groupPaths[before.mastersGroup];
      if (!groupPath) throw new InputError(`${edit.file}: cannot find where the ${before.mastersGroup} group is defined`);
      const vars: Record<string, unknown> = { ansible_host: flags.host };
      if (flags.port) vars['ansible_port'] = flags.port;
      if (flags['ssh-user']) vars['ansible_user'] = flags['ssh-user'];
      if (flags.priority !== undefined) vars['priority'] = flags.priority;
      else if (minPrio <= 1) throw new InputError(`--priority: no priority is left below ${minPrio}; lower the others' priorities first`);
      // the text kha read: the file is rewritten only if it still holds exactly this
      const text = edit.text;
      const newText = addHostToInventoryText(text, groupPath, name, vars);
      const newInv = edit.reparse(newText, connectionOverrides(flags));
      const after = resolveSettings(newInv);
      if (after.lbHosts.includes(name) && after.hosts[name]!.priority >= minPrio) {
        throw new InputError(
          `--priority: ${name} would get priority ${after.hosts[name]!.priority}, not below ${minPrio}; pass --priority ${minPrio - 1} or lower`,
        );
      }
      const run = makeRun(newInv, flags, io);
      track(run);
      const st = await changeMembers('add', run, before, after, name, {
        serial,
        maxFailPercentage: flags['max-fail'],
        breakLock: flags['break-lock'],
        file: edit.file,
        oldText: text,
        newText,
        manual: { kind: 'add', under: [...groupPath, 'hosts'].join('.'), line: hostEntryLine(name, vars) },
      });
      return exitCodeOf(run) || (st.inventoryWritten || run.check ? 0 : inventoryNotWritten(st.inventoryError));
    });
  }
}
