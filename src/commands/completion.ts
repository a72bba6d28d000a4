import { Args, Flags } from '@oclif/core';
import { KhaCommand } from '../cli/base.js';
import { bashCompletion, zshCompletion, type CompletionInput } from '../cli/completion.js';
import { ExitCode } from '../errors.js';

export default class Completion extends KhaCommand {
  static override summary = 'Print the shell completion script for bash or zsh (commands, flags, paths, host names from -i).';
  static override description =
    'Enable it once: add eval "$(kha completion bash)" to ~/.bashrc, or eval "$(kha completion zsh)" to ~/.zshrc after compinit. It completes commands, flags, file paths for -i and the other file flags, the choices of --mode and the like, and host names from the inventory given by -i for -l/--limit, --host and remove-master --name.';
  static override examples = ['<%= config.bin %> completion bash', 'eval "$(<%= config.bin %> completion zsh)"'];
  static override args = { shell: Args.string({ description: 'The shell.', options: ['bash', 'zsh'], required: false }) };
  static override flags = {
    // what the scripts run for host names: one name a line, nothing else
    'hosts-of': Flags.string({ hidden: true, summary: 'Print the host names of this inventory, one a line.' }),
    groups: Flags.boolean({ hidden: true, summary: 'With --hosts-of: the group names too.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Completion);
    if (flags['hosts-of']) {
      const { loadInventory } = await import('../inventory/load.js');
      try {
        const inv = await loadInventory(flags['hosts-of']);
        const names = [...inv.hosts.map((h) => h.name), ...(flags.groups ? Object.keys(inv.groups) : [])];
        process.stdout.write(names.length ? `${[...new Set(names)].join('\n')}\n` : '');
      } catch (err) {
        await this.fail(err);
      }
      return;
    }
    if (!args.shell) {
      process.stderr.write(`error: missing the shell: ${this.config.bin} completion bash, or ${this.config.bin} completion zsh\n`);
      this.exit(ExitCode.usage);
    }
    const input: CompletionInput = { bin: this.config.bin, commands: this.config.commands, topics: this.config.topics };
    process.stdout.write(args.shell === 'zsh' ? zshCompletion(input) : bashCompletion(input));
  }
}
