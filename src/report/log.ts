// pino JSON log file: the full trace of a run (commands with timings). Secrets are masked by
// the EventBus before any sink sees an event.
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import pino from 'pino';
import type { RunEvent, Sink } from '../engine/events.js';

export function defaultLogFile(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return join(base, 'kha', 'logs', `kha-${stamp}-${process.pid}.log`);
}

export class PinoSink implements Sink {
  private logger: pino.Logger;
  private dest: pino.DestinationStream & { flushSync?: () => void; end?: () => void };
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    this.dest = pino.destination({ dest: file, sync: true, mode: 0o600 });
    this.logger = pino({ base: { pid: process.pid } }, this.dest);
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
