import { Flags } from '@oclif/core';
import { KhaCommand, outputFlags } from '../cli/base.js';

export default class Init extends KhaCommand {
  static override summary = 'Write a starter inventory (hosts.yaml) from flags, or by asking on a terminal.';
  static override description =
    'Every value is checked as kha up checks it, and the file is loaded back through the inventory loader before it is written, so kha up accepts it. It suggests a virtual_router_id from the VIP (never the common 51) and says why in a comment. It never overwrites a file unless --force (the old one is kept as <file>.bak). Without a terminal, a missing --vip or --master is an error.';
  static override examples = [
    '<%= config.bin %> init --vip 10.0.0.100 --master m1=10.0.0.11 --master m2=10.0.0.12 --master m3=10.0.0.13 --user ubuntu --become',
    '<%= config.bin %> init -o prod.yaml --vip 10.0.0.100 --master m1=10.0.0.11 --node n1=10.0.0.21',
    '<%= config.bin %> init',
  ];
  static override flags = {
    output: Flags.string({ char: 'o', summary: 'The inventory file to write.', default: 'hosts.yaml', helpValue: 'hosts.yaml' }),
    force: Flags.boolean({ summary: 'Replace the file if it exists (the old one is kept as <file>.bak).' }),
    vip: Flags.string({ summary: "The virtual IP: a free IPv4 address in the masters' subnet.", helpValue: '10.0.0.100' }),
    master: Flags.string({ summary: 'A master as name=IPv4; repeat it, the primary first.', multiple: true, helpValue: 'm1=10.0.0.11' }),
    node: Flags.string({ summary: 'A worker node as name=IPv4; repeat it.', multiple: true, helpValue: 'n1=10.0.0.21' }),
    user: Flags.string({ char: 'u', summary: 'SSH user for every host (ansible_user).' }),
    become: Flags.boolean({ char: 'b', summary: 'Use sudo on the hosts (ansible_become: true).', allowNo: true }),
    interface: Flags.string({ summary: "The VRRP interface on every master (default: kha up finds the one in the VIP's subnet)." }),
    'virtual-router-id': Flags.string({ summary: 'The VRRP id, 1..255 (default: derived from the VIP, never 51).' }),
    json: outputFlags.json,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { checkOutputFree, gatherInit, writeInit } = await import('../actions/init.js');
    const { lineAsker } = await import('../cli/prompt.js');
    const { quote } = await import('../transport/quote.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Init);
    const io = this.setupIo({ json: flags.json, quiet: true }, verbose);
    // asked on a terminal only, never with --json (scripts), and on stderr: stdout is for the result
    const asker = process.stdin.isTTY && !flags.json ? lineAsker({ input: process.stdin, output: process.stderr }) : undefined;
    try {
      // refused before any question, so nobody answers questions for a file that is not written
      if (!flags.force) checkOutputFree(flags.output);
      const spec = await gatherInit(flags, asker);
      asker?.close();
      const r = writeInit(flags.output, spec, { force: flags.force });
      io.events.info(`wrote ${r.file}`);
      for (const w of r.warnings) io.events.warn(w);
      const { warnings: _w, ...result } = r;
      this.setResult(result);
      if (!flags.json) {
        const masters = r.hosts.filter((h) => h.group === 'masters').length;
        const nodes = r.hosts.length - masters;
        process.stdout.write(
          `wrote ${flags.output} (${masters} master${masters === 1 ? '' : 's'}${nodes ? `, ${nodes} node${nodes === 1 ? '' : 's'}` : ''}; VIP ${r.vip}, virtual_router_id ${r.virtual_router_id})${r.backup ? `; the previous file is ${r.backup}` : ''}\n`,
        );
        process.stdout.write(`next: kha up -i ${quote(flags.output)} --check --diff\n`);
      }
      await this.finish(0);
    } catch (err) {
      asker?.close();
      await this.fail(err);
    }
  }
}
