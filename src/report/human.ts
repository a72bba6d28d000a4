// Human sink: `==> phase`, `host: status  task`, a recap table. Colour only on a TTY.
import type { RunEvent, Sink } from '../engine/events.js';
import type { HostRecap } from '../engine/types.js';

export interface HumanOptions {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  color?: boolean;
  verbose?: number;
  /** show ok/skipped task lines (default: only with -v; changed/failed always show) */
  showOk?: boolean;
}

const C = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', green: '\x1b[32m', yellow: '\x1b[33m', red: '\x1b[31m', cyan: '\x1b[36m', magenta: '\x1b[35m' };

export class HumanSink implements Sink {
  private color: boolean;
  private width = 0;
  /** live progress on a TTY: the phase, its elapsed time and the tasks done so far */
  private live: { title: string; t0: number; tasks: number; timer?: NodeJS.Timeout } | undefined;
  private liveShown = false;
  /** lines kept back while a prompt waits for the operator on the same terminal */
  private held: string[] | undefined;
  constructor(private readonly o: HumanOptions) {
    this.color = o.color ?? Boolean(o.out.isTTY && !process.env.NO_COLOR);
  }

  private get isTty(): boolean {
    return Boolean(this.o.out.isTTY) && !process.env.CI;
  }

  private clearLive(): void {
    if (this.liveShown) {
      this.o.out.write('\r\x1b[2K');
      this.liveShown = false;
    }
  }

  private drawLive(): void {
    if (!this.live || !this.isTty || this.held) return;
    const sec = ((Date.now() - this.live.t0) / 1000).toFixed(1);
    const spin = '|/-\\'[Math.floor(Date.now() / 150) % 4];
    this.o.out.write(`\r\x1b[2K${this.c('dim', `${spin} ${this.live.title}: ${sec} s, ${this.live.tasks} task${this.live.tasks === 1 ? '' : 's'} done`)}`);
    this.liveShown = true;
  }

  private stopLive(): void {
    if (this.live?.timer) clearInterval(this.live.timer);
    this.clearLive();
    this.live = undefined;
  }

  private c(code: keyof typeof C, s: string): string {
    return this.color ? `${C[code]}${s}${C.reset}` : s;
  }

  private line(s = ''): void {
    if (this.held) {
      this.held.push(`${s}\n`);
      return;
    }
    this.clearLive();
    this.o.out.write(`${s}\n`);
    this.drawLive();
  }

  emit(e: RunEvent): void {
    const v = this.o.verbose ?? 0;
    switch (e.type) {
      case 'phase':
        this.stopLive();
        this.line(this.c('bold', `==> ${e.title}`));
        if (this.isTty) {
          this.live = { title: e.title, t0: Date.now(), tasks: 0 };
          this.live.timer = setInterval(() => this.drawLive(), 150);
          this.live.timer.unref();
        }
        break;
      case 'phase-done':
        this.stopLive();
        if (v > 0 || this.isTty) this.line(this.c('dim', `    (${(e.ms / 1000).toFixed(1)} s)`));
        break;
      case 'batch':
        if (e.count > 1 || v > 0) this.line(this.c('cyan', `  batch ${e.index}/${e.count}: ${e.hosts.join(', ')}`));
        break;
      case 'task': {
        if (this.live) this.live.tasks++;
        this.width = Math.max(this.width, e.host.length);
        if ((e.status === 'ok' || e.status === 'skipped') && !(this.o.showOk || v > 0)) break;
        const colors: Record<string, keyof typeof C> = { ok: 'green', changed: 'yellow', failed: 'red', unreachable: 'red', skipped: 'dim' };
        const label = e.status === 'changed' && e.check ? 'would change' : e.status;
        const st = this.c(colors[e.status] ?? 'reset', label.padEnd(12));
        const why = e.error ? `: ${e.error.split('\n')[0]}` : e.why ? this.c('dim', ` (${e.why})`) : '';
        this.line(`  ${e.host.padEnd(this.width)}: ${st} ${e.task}${why}`);
        if (e.error && e.error.includes('\n')) {
          for (const l of e.error.split('\n').slice(1)) this.line(this.c('dim', `      ${l}`));
        }
        if (e.diff) {
          for (const l of e.diff.split('\n')) {
            if (l.startsWith('===')) continue;
            const col: keyof typeof C = l.startsWith('+') ? 'green' : l.startsWith('-') ? 'red' : l.startsWith('@@') ? 'cyan' : 'reset';
            this.line(`      ${this.c(col, l)}`);
          }
        }
        break;
      }
      case 'message': {
        if (e.level === 'debug' && v < 1) break;
        const prefix = e.level === 'warn' ? this.c('yellow', 'warning: ') : e.level === 'error' ? this.c('red', 'error: ') : '';
        this.line(`  ${e.host ? `${e.host}: ` : ''}${prefix}${e.text}`);
        break;
      }
      case 'command':
        if (v >= 1) this.line(this.c('dim', `  ${e.host}$ ${e.command}  [${e.code}] ${e.ms} ms`));
        if (v >= 2) {
          if (e.stdout) this.line(this.c('dim', e.stdout.replace(/^/gm, '      ')));
          if (e.stderr) this.line(this.c('dim', e.stderr.replace(/^/gm, '      ! ')));
        }
        break;
      case 'recap':
        this.stopLive();
        this.recap(e.hosts);
        break;
      case 'result': {
        // a command's result may carry the operator's next steps (kha up before kubeadm init)
        const steps = (e.data as { nextSteps?: unknown } | null)?.nextSteps;
        if (Array.isArray(steps) && steps.length) {
          this.line(this.c('bold', '==> Next steps'));
          for (const l of steps) this.line(`  ${String(l)}`);
        }
        break;
      }
    }
  }

  /** A prompt is about to ask on the terminal: clear the progress line and keep output back. */
  hold(): void {
    this.clearLive();
    this.held ??= [];
  }

  /** The prompt was answered: print what was kept back, in order. */
  release(): void {
    const lines = this.held ?? [];
    this.held = undefined;
    for (const l of lines) this.o.out.write(l);
    this.drawLive();
  }

  close(): void {
    this.release();
    this.stopLive();
  }

  private recap(hosts: Record<string, HostRecap>): void {
    const names = Object.keys(hosts);
    if (names.length === 0) return;
    const w = Math.max(4, ...names.map((n) => n.length));
    this.line(this.c('bold', '==> Recap'));
    this.line(`  ${'host'.padEnd(w)}  ok  changed  failed  unreachable  skipped`);
    for (const n of names) {
      const r = hosts[n]!;
      const bad = r.failed > 0 || r.unreachable > 0;
      const row = `  ${n.padEnd(w)}  ${String(r.ok).padStart(2)}  ${String(r.changed).padStart(7)}  ${String(r.failed).padStart(6)}  ${String(r.unreachable).padStart(11)}  ${String(r.skipped).padStart(7)}`;
      this.line(bad ? this.c('red', row) : r.changed ? this.c('yellow', row) : this.c('green', row));
    }
  }
}
