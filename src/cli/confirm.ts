import { createInterface } from 'node:readline/promises';
import type { Confirm } from '../actions/plan.js';

/** A y/N prompt on the terminal, or undefined (no prompt) with --yes, --check or without a TTY. */
export function terminalConfirm(flags: { yes?: boolean; check?: boolean; json?: boolean }): Confirm | undefined {
  if (flags.yes || flags.check || flags.json || !process.stdin.isTTY || !process.stdout.isTTY) return undefined;
  return async () => {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      const a = (await rl.question('Apply these changes? [y/N] ')).trim().toLowerCase();
      return a === 'y' || a === 'yes';
    } finally {
      rl.close();
    }
  };
}
