// pino JSON log file: the full trace of a run (commands with timings). Secrets are masked by
// the EventBus before any sink sees an event.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type pino from 'pino';
import type { RunEvent, Sink } from '../engine/events.js';

// pino (some 20 files) is loaded when the first log file opens, not when the CLI starts: every
// command imports this module, and `kha --help` or `kha --version` opens no log. pino is CommonJS,
// so a synchronous require keeps the sink's constructor synchronous.
const load = createRequire(import.meta.url);

export function defaultLogFile(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return join(base, 'kha', 'logs', `kha-${stamp}-${process.pid}.log`);
}

/** How many runs' logs stay in the default log directory. */
export const KEEP_LOGS = 50;

/**
 * Remove all but the newest `keep` of kha's own run logs (`kha-<ISO time>-<pid>.log`: the name
 * sorts by time) in `dir`, the default log directory. Other files are never touched; a file that
 * cannot be removed is left. Returns how many were removed.
 */
export function pruneLogs(dir: string, keep = KEEP_LOGS): number {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^kha-\d{4}-\d\d-\d\dT[\d-]+Z-\d+\.log$/.test(n));
  } catch {
    return 0;
  }
  names.sort();
  let removed = 0;
  for (const n of names.slice(0, Math.max(0, names.length - keep))) {
    try {
      rmSync(join(dir, n), { force: true });
      removed++;
    } catch {
      // someone else's file or a race with another kha run: leave it
    }
  }
  return removed;
}

export class PinoSink implements Sink {
  private logger: pino.Logger;
  private dest: pino.DestinationStream & { flushSync?: () => void; end?: () => void };
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const pinoFn = load('pino') as typeof pino;
    this.dest = pinoFn.destination({ dest: file, sync: true, mode: 0o600 });
    this.logger = pinoFn({ base: { pid: process.pid } }, this.dest);
  }
  emit(e: RunEvent): void {
    const level =
      e.type === 'message'
        ? e.level === 'warn'
          ? 'warn'
          : e.level === 'error'
            ? 'error'
            : e.level === 'debug'
              ? 'debug'
              : 'info'
        : e.type === 'task' && (e.status === 'failed' || e.status === 'unreachable')
          ? 'error'
          : 'info';
    this.logger[level](e, e.type);
  }
  close(): void {
    this.dest.flushSync?.();
  }
}
