import { Args, Help } from '@oclif/core';
import { KhaCommand } from '../cli/base.js';
import { InputError } from '../errors.js';
import { unknownCommandLine, visibleCommandIds } from '../hooks/command-not-found.js';

// a KhaCommand for its flag errors: `kha help --json` is bad input like any other (exit 4; with --json, the document)
export default class HelpCommand extends KhaCommand {
  static override summary = 'Show the commands, or one command’s flags and examples.';
  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help up', '<%= config.bin %> help lab up'];
  static override args = { command: Args.string({ description: 'The command (lab up: two words).', required: false }) };
  static override strict = false;

  async run(): Promise<void> {
    const { argv } = await this.parse(HelpCommand);
    const words = (argv as string[]).filter((a) => !a.startsWith('-'));
    if (words.length > 0) {
      // `kha help upp` is the same bad input as `kha upp`: one line with a did-you-mean, exit 4 (oclif's own error exits 2)
      const ids = visibleCommandIds(this.config);
      const topics = this.config.topics.map((t) => t.name);
      const id = words.join(':');
      if (!ids.includes(id) && !topics.includes(id)) {
        const line = unknownCommandLine(id, ids, this.config.bin).replace(/^error: /, '');
        return this.fail(new InputError(line));
      }
    }
    await new Help(this.config, { all: false }).showHelp(argv as string[]);
  }
}
