import { Args, Help } from '@oclif/core';
import { KhaCommand } from '../cli/base.js';

// a KhaCommand for its flag errors: `kha help --json` is bad input like any other (exit 4; with --json, the document)
export default class HelpCommand extends KhaCommand {
  static override summary = 'Show the commands, or one command’s flags and examples.';
  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help up', '<%= config.bin %> help lab up'];
  static override args = { command: Args.string({ description: 'The command (lab up: two words).', required: false }) };
  static override strict = false;

  async run(): Promise<void> {
    const { argv } = await this.parse(HelpCommand);
    await new Help(this.config, { all: false }).showHelp(argv as string[]);
  }
}
