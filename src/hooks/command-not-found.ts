// An unknown command is bad input like any other: one line naming it, a did-you-mean when one
// command is close, and exit 4 (oclif's default is exit 2, which means "a task failed" in kha).
// With --json anywhere on the command line, that line is the error of the one JSON document.
import type { Hook, Interfaces } from '@oclif/core';
import { ExitCode } from '../errors.js';
import { suggest } from '../inventory/suggest.js';
import { outputDocument, wantsJson } from '../report/json.js';

/** The error line for `kha <id>` when no such command exists (ids use spaces: `lab up`). Pure. */
export function unknownCommandLine(id: string, commands: string[], bin = 'kha'): string {
  const typed = id.replace(/:/g, ' ');
  const shown = commands.map((c) => c.replace(/:/g, ' '));
  const close = suggest(typed, shown, { mode: 'name' });
  return `error: ${bin} ${typed}: no such command${close ? `; did you mean ${bin} ${close}?` : ''} (${bin} help lists them)`;
}

/** The commands a did-you-mean may suggest (oclif ids: `lab:up`). */
export function visibleCommandIds(config: Pick<Interfaces.Config, 'commands'>): string[] {
  return config.commands.filter((c) => !c.hidden).map((c) => c.id);
}

const hook: Hook<'command_not_found'> = async function (opts) {
  const ids = visibleCommandIds(opts.config);
  // `kha --json` alone: oclif takes the flag for the command's id
  const line = opts.id.startsWith('-')
    ? `error: ${opts.config.bin} ${opts.id}: a command comes first, then its flags (${opts.config.bin} help lists the commands)`
    : unknownCommandLine(opts.id, ids, opts.config.bin);
  if (wantsJson([opts.id, ...(opts.argv ?? [])])) {
    const error = { code: 'E_INPUT' as const, message: line.replace(/^error: /, ''), hosts: [], hint: `${opts.config.bin} help` };
    process.stdout.write(`${JSON.stringify(outputDocument({ command: null, exit: ExitCode.usage, error, log: null }), null, 2)}\n`);
  } else process.stderr.write(`${line}\n`);
  process.exit(ExitCode.usage);
};

export default hook;
