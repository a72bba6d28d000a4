// One command on one exec channel of an SSH connection (ssh.ts opens the connection). The pure
// parts are apart from the socket, so tests call them with plain values: how a script is wrapped
// for sudo (becomeCommand), and what a channel's end means (channelOutcome: exit, signal,
// timeout, or sudo refusing). ChannelCommand wires them to one ssh2 channel: output, timeout,
// abort, and the sudo password written only when sudo asks for it.
import { StringDecoder } from 'node:string_decoder';
import type { ClientChannel } from 'ssh2';
import { TransportError } from '../errors.js';
import { quote } from './quote.js';
import type { ExecOptions, ExecResult } from './types.js';

/** grace period for a killed channel to report its close before we stop waiting */
export const KILL_GRACE_MS = 2000;

/** A command in flight on a connection: failed at once when the connection is lost. */
export interface Pending {
  fail: (err: TransportError) => void;
}

/** A script as it goes on the channel: plain, through `sudo -n`, or through `sudo -S` with a password. */
export interface Wrapped {
  command: string;
  become: boolean;
  /** the become password: written once, when sudo shows `prompt` */
  password?: string;
  /** sudo's prompt, unique per command (only with a password) */
  prompt: string;
  /** the line the script prints first, so the caller's stdin goes to the script, not to sudo */
  marker: string;
}

/**
 * Wrap a script for sudo. With a become password, sudo gets a unique prompt and the script prints
 * a marker first; `nonce` makes both unique (unused without a password). Pure.
 */
export function becomeCommand(script: string, b: { become: boolean; becomeUser: string; password?: string; nonce: string }): Wrapped {
  const prompt = `[kha-sudo-${b.nonce}] password: `;
  const marker = `KHA-BECOME-${b.nonce}`;
  const user = quote(b.becomeUser);
  const base = { become: b.become, prompt, marker };
  if (!b.become) return { ...base, command: `sh -c ${quote(script)}` };
  if (b.password === undefined) return { ...base, command: `sudo -n -H -u ${user} -- sh -c ${quote(script)}` };
  return { ...base, password: b.password, command: `sudo -S -p ${quote(prompt)} -H -u ${user} -- sh -c ${quote(`echo ${marker}\n${script}`)}` };
}

/** How a channel ended: what it printed, its exit, and whether kha killed it. */
export interface ChannelEnd {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | null;
  /** kha closed the channel (timeout or abort) */
  killed: boolean;
  timedOut: boolean;
  /** the script ran (with a sudo password: its marker came) */
  running: boolean;
}

/**
 * What a channel's end means: the command's result (sudo's prompt and the marker taken out; a
 * killed command has no code and the signal KILL unless the host named one), or sudo itself
 * refusing (`becomeFailed`: the last line sudo wrote). Pure.
 */
export function channelOutcome(end: ChannelEnd, w: Wrapped): { result: ExecResult } | { becomeFailed: string } {
  let { stdout, stderr } = end;
  if (w.password !== undefined) {
    stderr = stderr.split(w.prompt).join('');
    const at = stdout.indexOf(w.marker + '\n');
    if (at >= 0) stdout = stdout.slice(at + w.marker.length + 1);
  }
  // sudo itself failed to authenticate (with a password: the marker never came)
  if (w.become && (w.password === undefined || !end.running) && end.code === 1 && /sudo: .*password/.test(stderr)) {
    return { becomeFailed: stderr.trim().split('\n').pop() ?? '' };
  }
  const { killed, code, signal, timedOut } = end;
  return { result: { code: killed ? null : code, signal: killed ? (signal ?? 'KILL') : signal, stdout, stderr, ...(timedOut ? { timedOut } : {}) } };
}

/** What a ChannelCommand needs from its connection. */
export interface ChannelHost {
  /** the host's inventory name (messages start with it) */
  name: string;
  /** address:port (through a bastion), for messages */
  where: string;
  becomeUser: string;
  /** the login user */
  user: string;
  /** commands in flight, failed together when the connection is lost */
  pending: Set<Pending>;
  exec(command: string, cb: (err: Error | undefined, ch: ClientChannel) => void): void;
  log(m: string): void;
}

/** One command on one exec channel, from opening it to its result. */
export class ChannelCommand {
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private code: number | null = null;
  private signal: string | null = null;
  private timedOut = false;
  private killed = false;
  private done = false;
  /** without a sudo password the script runs at once; with one, once its marker came */
  private running: boolean;
  private promptsSeen = 0;
  private channel: ClientChannel | undefined;
  private timer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private resolve: (r: ExecResult) => void = () => {};
  private reject: (e: unknown) => void = () => {};
  private readonly pending: Pending = { fail: (e) => this.fail(e) };
  private readonly onAbort = () => this.kill('abort');
  /** opts.onOutput: utf-8 decoded across chunk boundaries, per stream */
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  constructor(
    private readonly host: ChannelHost,
    private readonly w: Wrapped,
    private readonly opts: ExecOptions,
    private readonly timeoutMs: number,
  ) {
    this.running = w.password === undefined;
  }

  run(): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.host.pending.add(this.pending);
      if (this.opts.signal?.aborted) {
        this.cleanup();
        resolve({ code: null, signal: 'KILL', stdout: '', stderr: '' });
        return;
      }
      this.opts.signal?.addEventListener('abort', this.onAbort, { once: true });
      if (this.timeoutMs > 0) this.timer = setTimeout(() => this.kill('timeout'), this.timeoutMs);
      try {
        this.host.exec(this.w.command, (e, ch) => this.opened(e, ch));
      } catch (e) {
        this.fail(this.channelError('cannot run a command', e));
      }
    });
  }

  private channelError(what: string, e: unknown): TransportError {
    const { name } = this.host;
    return new TransportError(`${name}: ${what} on ${this.host.where}: ${(e as Error).message}`, { host: name, code: 'E_CHANNEL', cause: e });
  }

  private cleanup(): void {
    this.done = true;
    clearTimeout(this.timer);
    clearTimeout(this.graceTimer);
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.host.pending.delete(this.pending);
  }

  private fail(e: TransportError): void {
    if (this.done) return;
    this.cleanup();
    this.reject(e);
  }

  /** The channel is open (or could not be): wire its output and its end. */
  private opened(e: Error | undefined, ch: ClientChannel): void {
    if (this.done) {
      ch?.close();
      return;
    }
    if (e) {
      this.fail(this.channelError('cannot open a channel', e));
      return;
    }
    this.channel = ch;
    if (this.killed) {
      ch.close();
      return;
    }
    ch.on('data', (d: Buffer) => this.stdoutData(d));
    ch.stderr.on('data', (d: Buffer) => this.stderrData(ch, d));
    ch.on('exit', (c: number | null, s?: string) => {
      this.code = typeof c === 'number' ? c : null;
      this.signal = s ?? null;
    });
    ch.on('close', () => this.finish());
    if (this.running) this.writeStdin();
  }

  private stdoutData(d: Buffer): void {
    this.out.push(d);
    if (this.running) return this.stream('stdout', d);
    const all = Buffer.concat(this.out);
    const at = all.indexOf(this.w.marker + '\n');
    if (at >= 0) {
      this.running = true;
      // what came after the marker is the script's own output
      this.stream('stdout', all.subarray(at + this.w.marker.length + 1));
      this.writeStdin();
    }
  }

  private stream(which: 'stdout' | 'stderr', d: Buffer): void {
    if (!this.opts.onOutput || d.length === 0) return;
    const text = this.decoders[which].write(d);
    if (text) this.opts.onOutput(which, text);
  }

  /** sudo's prompt is on stderr: the password once; asked again, it was wrong, and EOF makes sudo give up. */
  private stderrData(ch: ClientChannel, d: Buffer): void {
    this.err.push(d);
    if (this.running) return this.stream('stderr', d);
    if (this.w.password === undefined) return;
    const seen = Buffer.concat(this.err).toString('utf8').split(this.w.prompt).length - 1;
    if (seen <= this.promptsSeen) return;
    this.promptsSeen = seen;
    if (this.promptsSeen === 1) ch.write(this.w.password + '\n');
    else ch.end();
  }

  private writeStdin(): void {
    const ch = this.channel;
    if (!ch) return;
    if (this.opts.stdin !== undefined && this.opts.stdin.length > 0) ch.write(this.opts.stdin);
    ch.end();
  }

  private kill(why: 'timeout' | 'abort'): void {
    if (this.done || this.killed) return;
    this.killed = true;
    if (why === 'timeout') this.timedOut = true;
    this.host.log(`${this.host.name}: command ${why === 'timeout' ? `timed out after ${this.timeoutMs} ms` : 'aborted'}; closing its channel`);
    if (this.channel) {
      try {
        this.channel.signal('KILL');
      } catch {
        /* not supported or already gone */
      }
      this.channel.close();
    }
    this.graceTimer = setTimeout(() => this.finish(), KILL_GRACE_MS);
  }

  private finish(): void {
    if (this.done) return;
    this.cleanup();
    const end: ChannelEnd = {
      stdout: Buffer.concat(this.out).toString('utf8'),
      stderr: Buffer.concat(this.err).toString('utf8'),
      code: this.code,
      signal: this.signal,
      killed: this.killed,
      timedOut: this.timedOut,
      running: this.running,
    };
    const o = channelOutcome(end, this.w);
    if ('result' in o) return this.resolve(o.result);
    const { name, becomeUser, user } = this.host;
    const hint = this.w.password === undefined ? 'set ansible_become_password (or allow this user passwordless sudo)' : 'check ansible_become_password';
    this.reject(
      new TransportError(`${name}: sudo as ${becomeUser} failed for user ${user}: ${o.becomeFailed}: ${hint}`, { host: name, code: 'E_BECOME', fatal: true }),
    );
  }
}
