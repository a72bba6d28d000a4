import type { RunContext } from '../engine/context.js';
import { ExitCode } from '../errors.js';
import type { Outcome } from './base.js';

/** Exit codes tell failed hosts (2) from unreachable ones (3). */
export function exitCodeOf(run: RunContext): number {
  if (run.opts.signal.aborted) return ExitCode.interrupted;
  if (run.failed.size > 0) return ExitCode.failed;
  if (run.unreachable.size > 0) return ExitCode.unreachable;
  return ExitCode.ok;
}

/**
 * add-master / remove-master changed every host but could not write the inventory file (it
 * changed on disk meanwhile): exit 2; the edit to make by hand is in the result (inventoryEdit).
 */
export function inventoryNotWritten(why: string | undefined): Outcome {
  return {
    exit: ExitCode.failed,
    error: {
      code: 'E_INVENTORY_CHANGED',
      message: `${why ?? 'the inventory file was not written'}; the hosts are changed`,
      hint: 'make the edit in result.inventoryEdit by hand',
    },
  };
}
