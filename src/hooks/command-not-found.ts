// An unknown command is bad input like any other: one line naming it, a did-you-mean when one
// command is close, and exit 4 (oclif's default is exit 2, which means "a task failed" in kha).
import type { Hook } from '@oclif/core';
import { ExitCode } from '../errors.js';
import { suggest } from '../inventory/suggest.js';

/** The error line for `kha <id>` when no such command exists (ids use spaces: `lab up`). Pure. */
export function unknownCommandLine(id: string, commands: string[], bin = 'kha'): string {
  const typed = id.replace(/:/g, ' ');
  const shown = commands.map((c) => c.replace(/:/g, ' '));
  const close = suggest(typed, shown, { mode: 'name' });
  return `error: ${bin} ${typed}: no such command${close ? `; did you mean ${bin} ${close}?` : ''} (${bin} help lists them)`;
}

const hook: Hook<'command_not_found'> = async function (opts) {
  const ids = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id);
  process.stderr.write(`${unknownCommandLine(opts.id, ids, opts.config.bin)}\n`);
  process.exit(ExitCode.usage);
};

export default hook;
