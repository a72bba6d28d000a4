import type { RunContext } from '../engine/context.js';
import { ExitCode } from '../errors.js';

/** Exit codes tell failed hosts (2) from unreachable ones (3). */
export function exitCodeOf(run: RunContext): number {
  if (run.opts.signal.aborted) return ExitCode.interrupted;
  if (run.failed.size > 0) return ExitCode.failed;
  if (run.unreachable.size > 0) return ExitCode.unreachable;
  return ExitCode.ok;
}
