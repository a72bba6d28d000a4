// The shared shape of every kha command: flags, sinks, the run context, SIGINT, exit codes.
// Commands stay thin: parse, build an action, run it, map the outcome to an exit code.
import { Command, Flags } from '@oclif/core';
import { suggest } from '../inventory/suggest.js';
import { EventBus } from '../engine/events.js';
import { ExitCode, KhaError, describeError, type ErrorCode } from '../errors.js';
import { HumanSink } from '../report/human.js';
import { JsonSink, wantsJson, type OutputError } from '../report/json.js';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { PinoSink, defaultLogFile, pruneLogs } from '../report/log.js';
import { PROBE_KEY } from '../modules/secret-file.js';
import { mask } from '../transport/quote.js';
import { askHidden } from './prompt.js';

/**
 * -e/--extra-vars, Ansible's: they win over every inventory variable (and -u, --private-key, -b).
 * Not greedy: `kha play -e k=v playbook.yml` keeps the playbook an argument.
 */
export function extraVarsFlag() {
  return Flags.string({
    char: 'e',
    summary:
      'Override inventory settings for this run: KEY=VALUE (several in one quoted argument), or @FILE (YAML or JSON); repeatable, later ones win; they win over every inventory variable, as in Ansible.',
    helpValue: 'KEY=VALUE|@FILE',
    multiple: true,
    multipleNonGreedy: true,
  });
}

export const inventoryFlags = {
  inventory: Flags.string({
    char: 'i',
    summary: 'Ansible inventory: a YAML or INI file, or a directory holding one (group_vars/ and host_vars/ beside it are read).',
    required: true,
    helpValue: 'hosts.yaml',
  }),
  user: Flags.string({ char: 'u', summary: 'SSH user for every host (overrides ansible_user).' }),
  'private-key': Flags.string({ summary: 'SSH private key file (overrides ansible_ssh_private_key_file).' }),
  become: Flags.boolean({ char: 'b', summary: 'Use sudo on the hosts (overrides ansible_become).', allowNo: true }),
  'ask-become-pass': Flags.boolean({
    char: 'K',
    summary: 'Ask for the sudo password once on the terminal (no echo); used for every become host without a password of its own.',
  }),
  'extra-vars': extraVarsFlag(),
  forks: Flags.integer({ char: 'f', summary: 'Hosts worked on at once.', default: 20, min: 1, max: 1000 }),
  'accept-new-host-keys': Flags.boolean({
    summary: 'Trust and record the SSH host key of a host known_hosts has no line for (a changed key, or a new key type for a known host, is still refused).',
  }),
  'known-hosts': Flags.string({ summary: 'known_hosts file (default ~/.ssh/known_hosts).' }),
  'connect-timeout': Flags.integer({ summary: 'SSH connect timeout in seconds (each hop through a bastion has its own).', default: 10, min: 1 }),
  bastion: Flags.string({
    summary:
      'Jump host for every host whose inventory names none (ansible_ssh_common_args -o ProxyJump); wins over ProxyJump in ~/.ssh/config. a,b for a chain.',
    helpValue: '[user@]host[:port]',
  }),
};

/** only for commands where a subset of hosts makes sense (kha play, and kha status, which only reads); HA changes act on the whole set */
export const limitFlag = {
  limit: Flags.string({ char: 'l', summary: 'Only these hosts or groups (comma separated, !name excludes).' }),
};

export const outputFlags = {
  json: Flags.boolean({ summary: 'Print one JSON document on stdout (README: JSON output); progress goes to stderr.' }),
  'log-file': Flags.string({ summary: 'Write the JSON log here (default under ~/.local/state/kha/logs).' }),
  // counted by splitVerbosity before oclif parses (oclif has no counting flag): declared for --help
  verbose: Flags.boolean({ char: 'v', summary: 'More detail: -v shows every task, -vv also commands and their output.' }),
};

/** one kha run at a time on a host: /run/kha.lock */
export const lockFlags = {
  'break-lock': Flags.boolean({ summary: 'Remove the lock a previous kha run left (/run/kha.lock); only once that run is over.' }),
};

/** rolling changes: batch size and failure budget */
export const rolloutFlags = {
  serial: Flags.string({ summary: 'Batch size: a number, a percentage, or a list like [1,"20%"] (a canary first, the last entry repeats).', default: '20%' }),
  'max-fail': Flags.integer({ summary: 'Percent of hosts that may fail before the run stops.', default: 0, min: 0, max: 100 }),
};

export const changeFlags = {
  check: Flags.boolean({ char: 'C', summary: 'Change nothing: report what would change.' }),
  diff: Flags.boolean({ char: 'D', summary: 'Show unified diffs of every config that would change.' }),
  yes: Flags.boolean({ char: 'y', summary: 'Do not ask for confirmation.' }),
};

export interface Io {
  events: EventBus;
  logFile: string;
  signal: AbortSignal;
  verbose: number;
  json: boolean;
  /** register secrets for masking as they become known */
  addSecrets(s: string[]): void;
  /**
   * A host's SSH session is open (the SSH connector calls it). A run that never opened one leaves
   * no log file behind (a bad inventory, a flag error, every host unreachable): see KhaCommand.
   */
  sessionOpened?(): void;
  /**
   * Ask for a secret on the terminal without echo (progress output waits meanwhile); the answer
   * is registered for masking. Absent where there is no terminal (tests, benchmarks).
   */
  askSecret?(question: string): Promise<string>;
}

/** The run a command tracks: closed at the end; its failed and unreachable hosts name `error.hosts` in --json. */
export interface TrackedRun {
  connector: { closeAll(): Promise<void> };
  failed?: ReadonlyMap<string, string>;
  unreachable?: ReadonlyMap<string, string>;
}

/** How a command ended when the exit code alone does not say why: --json's `error` (else derived from the exit code and the run). */
export interface Outcome {
  exit: number;
  error?: { code: ErrorCode; message: string; hosts?: string[]; hint?: string };
}

/** --json's error code and words for a non-zero exit that came with no error of its own */
const EXIT_ERROR: Record<number, { code: ErrorCode; message: string }> = {
  [ExitCode.cancelled]: { code: 'E_CANCELLED', message: 'cancelled at the confirmation prompt; nothing was changed' },
  [ExitCode.failed]: { code: 'E_TASK_FAILED', message: 'a task failed on at least one host' },
  [ExitCode.unreachable]: { code: 'E_UNREACHABLE', message: 'at least one host was unreachable' },
  [ExitCode.usage]: { code: 'E_INPUT', message: 'bad input' },
  [ExitCode.preflight]: { code: 'E_PREFLIGHT', message: 'preflight refused to go on; nothing was changed' },
  [ExitCode.unhealthy]: { code: 'E_UNHEALTHY', message: 'the cluster is not healthy' },
  [ExitCode.timedOut]: { code: 'E_DRAIN_TIMEOUT', message: 'a wait ran out' },
  [ExitCode.interrupted]: { code: 'E_INTERRUPTED', message: 'interrupted' },
};

/** Count -v / -vv / -vvv in argv (oclif has no counting flag) and return argv without them. */
export function splitVerbosity(argv: string[]): { argv: string[]; verbose: number } {
  let verbose = 0;
  const rest: string[] = [];
  for (const a of argv) {
    if (/^-v+$/.test(a)) verbose += a.length - 1;
    else if (a === '--verbose') verbose++;
    else rest.push(a);
  }
  return { argv: rest, verbose };
}

/**
 * The words after the first `--` are a command to run on a host (kha drain m2 -- kubeadm upgrade
 * node), taken out before oclif parses the rest: kept as typed, in order, -v included.
 */
export function splitCommandArgv(argv: string[]): { argv: string[]; command?: string[] } {
  const at = argv.indexOf('--');
  return at < 0 ? { argv } : { argv: argv.slice(0, at), command: argv.slice(at + 1) };
}

export abstract class KhaCommand extends Command {
  protected io?: Io;
  private jsonSink?: JsonSink;
  private humanSink?: HumanSink;
  /** the --json document was written (once per run) */
  private written = false;
  private tracked?: TrackedRun;
  /** PROBE_KEY: the key of secret-bearing files' hashes (src/modules/secret-file.ts) never reaches a sink */
  private secrets: string[] = [PROBE_KEY];
  private abort = new AbortController();
  private sigints = 0;
  /** a host's SSH session was opened during this run */
  private reachedHost = false;
  /** --log-file: the operator named the log, so it stays whatever happened */
  private logNamed = false;

  /** quiet: the command prints its own output; events go to the log file only */
  protected setupIo(flags: { json?: boolean; 'log-file'?: string | undefined; quiet?: boolean }, verbose: number): Io {
    const events = new EventBus((s) => mask(s, this.secrets));
    const json = Boolean(flags.json);
    // --json: stdout holds the one document at the end; what would be printed meanwhile goes to stderr
    if (json) events.add((this.jsonSink = new JsonSink()));
    if (flags.quiet) {
      // nothing on stdout from the engine; warnings still reach the operator, on stderr
      events.add({
        emit: (e) => {
          if (e.type === 'message' && e.level === 'warn') process.stderr.write(`warning: ${e.host ? `${e.host}: ` : ''}${e.text}\n`);
        },
      });
    } else events.add((this.humanSink = new HumanSink({ out: json ? process.stderr : process.stdout, verbose })));
    const logFile = flags['log-file'] ?? defaultLogFile();
    this.logNamed = flags['log-file'] !== undefined;
    try {
      events.add(new PinoSink(logFile));
      // the default directory keeps the last KEEP_LOGS runs (this one included)
      if (!flags['log-file']) pruneLogs(dirname(logFile));
    } catch (err) {
      process.stderr.write(`warning: cannot write the log file ${logFile}: ${describeError(err)}\n`);
    }
    process.on('SIGINT', () => {
      this.sigints++;
      if (this.sigints > 1) process.exit(ExitCode.interrupted);
      process.stderr.write('\ninterrupted: finishing the tasks in flight (Ctrl-C again to quit at once)\n');
      this.abort.abort(new KhaError('interrupted', { code: 'E_INTERRUPTED', exit: ExitCode.interrupted }));
    });
    this.io = {
      events,
      logFile,
      signal: this.abort.signal,
      verbose,
      json,
      addSecrets: (s) => this.secrets.push(...s.filter((x) => x && x.length > 0)),
      askSecret: (q) => this.askSecret(q),
      sessionOpened: () => {
        this.reachedHost = true;
      },
    };
    return this.io;
  }

  /** One secret from the terminal; Ctrl-C there interrupts the run like Ctrl-C anywhere else. */
  private async askSecret(question: string): Promise<string> {
    this.humanSink?.hold();
    try {
      const answer = await askHidden(question, { input: process.stdin, output: process.stderr });
      this.secrets.push(...(answer ? [answer] : []));
      return answer;
    } catch (err) {
      if (err instanceof KhaError && err.code === 'E_INTERRUPTED') this.abort.abort(err);
      throw err;
    } finally {
      this.humanSink?.release();
    }
  }

  /** oclif's own flag/argument errors are usage errors: one line, exit 4 */
  override async catch(err: Error & { oclif?: { exit?: number }; code?: string }): Promise<unknown> {
    const isParse = err?.oclif?.exit === 2 && !(err instanceof KhaError) && /flag|argument|Expected|Missing|Unexpected|Nonexistent/i.test(err.message);
    if (isParse) {
      const msg = err.message
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/^The following errors? occurred:?$/i.test(l) && !/^See more help with/i.test(l))
        .join('; ');
      const ctor = this.ctor as { flags?: Record<string, { char?: string }>; args?: Record<string, { description?: string }> };
      const line = usageMessage(msg, this.commandName, ctor.flags ?? {}, ctor.args ?? {});
      const hint = `kha ${this.commandName} --help`;
      if (this.json) this.writeOutput(ExitCode.usage, { code: 'E_INPUT', message: mask(line, this.secrets), hosts: [], hint });
      else process.stderr.write(`error: ${line}\n  try: ${hint}\n`);
      return this.exit(ExitCode.usage);
    }
    return super.catch(err);
  }

  protected parseArgv(): { verbose: number } {
    const { argv, verbose } = splitVerbosity(this.argv);
    this.argv = argv;
    return { verbose };
  }

  /**
   * The shape of every inventory command: set up output, run the body with a run-context
   * factory, close every connection, map the outcome to an exit code.
   */
  protected async runAction(
    flags: { json?: boolean; 'log-file'?: string | undefined },
    verbose: number,
    body: (io: Io, track: (run: TrackedRun) => void) => Promise<number | Outcome>,
  ): Promise<void> {
    const io = this.setupIo(flags, verbose);
    try {
      const outcome = await body(io, (r) => this.track(r));
      await this.tracked?.connector.closeAll();
      await this.finish(outcome);
    } catch (err) {
      await this.tracked?.connector.closeAll();
      await this.fail(err);
    }
  }

  /** The run whose failed and unreachable hosts --json names in `error.hosts`. */
  protected track(run: TrackedRun): void {
    this.tracked = run;
  }

  /** --json is on: the flag, or (before the flags are parsed, and for commands without an Io) --json on the command line */
  protected get json(): boolean {
    return this.io ? this.io.json : wantsJson(this.argv);
  }

  /** The command as typed after kha: `up`, `lab up`. */
  protected get commandName(): string {
    return this.id?.replace(/:/g, ' ') ?? '';
  }

  /** The command's result: `result` in the --json document (and in the log, secrets masked). */
  protected setResult(data: unknown): void {
    if (this.io) this.io.events.emit({ type: 'result', data });
    else (this.jsonSink ??= new JsonSink()).setResult(data);
  }

  /** The one --json document, written once. */
  private writeOutput(exit: number, error: OutputError | null): void {
    if (this.written) return;
    this.written = true;
    const log = this.io && this.keepsLog() ? this.io.logFile : null;
    const doc = (this.jsonSink ?? new JsonSink()).document({ command: this.commandName, exit, error, log });
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  }

  /** the hosts the tracked run lost: failed, then unreachable */
  private runHosts(): string[] {
    return [...new Set([...(this.tracked?.failed?.keys() ?? []), ...(this.tracked?.unreachable?.keys() ?? [])])];
  }

  /** --json's `error` for an exit code without an exception: what the command said, else what the run lost. */
  private outcomeError(exit: number, given: Outcome['error']): OutputError {
    const m = (s: string) => mask(s, this.secrets);
    if (given) return { code: given.code, message: m(given.message), hosts: given.hosts ?? this.runHosts(), hint: given.hint ? m(given.hint) : null };
    const lost = exit === ExitCode.unreachable ? this.tracked?.unreachable : exit === ExitCode.failed ? this.tracked?.failed : undefined;
    const base = EXIT_ERROR[exit] ?? { code: 'E_INTERNAL' as const, message: `exit ${exit}` };
    if (!lost?.size) return { ...base, hosts: this.runHosts(), hint: null };
    const why = [...lost].map(([h, w]) => (w.startsWith(`${h}: `) ? w : `${h}: ${w}`));
    return { code: base.code, message: m(`${base.message}: ${why.join('; ')}`), hosts: [...lost.keys()], hint: null };
  }

  /** Print one clear error line (plus suggestions), the log path, and exit with the error's code. */
  protected async fail(err: unknown): Promise<never> {
    // this.exit() throws oclif's ExitError: let it through untouched
    if (err && typeof err === 'object' && 'oclif' in err && (err as { oclif?: { exit?: number } }).oclif?.exit !== undefined) throw err;
    const code = this.abort.signal.aborted ? ExitCode.interrupted : err instanceof KhaError ? err.exit : ExitCode.failed;
    const msg = mask(describeError(err), this.secrets);
    if (this.json) {
      await this.io?.events.close();
      const hosts = [...new Set([...(err instanceof KhaError && err.host ? [err.host] : []), ...this.runHosts()])];
      const hint = err instanceof KhaError && err.suggestions.length ? mask(err.suggestions.join('; '), this.secrets) : null;
      const errCode: ErrorCode = this.abort.signal.aborted ? 'E_INTERRUPTED' : err instanceof KhaError ? err.code : 'E_INTERNAL';
      this.writeOutput(code, { code: errCode, message: msg, hosts, hint });
    } else {
      process.stderr.write(`error: ${msg}\n`);
      if (err instanceof KhaError) for (const s of err.suggestions) process.stderr.write(`  try: ${mask(s, this.secrets)}\n`);
      if (this.keepsLog() && code !== ExitCode.usage) process.stderr.write(`log: ${this.io?.logFile}\n`);
      if (!(err instanceof KhaError) && process.env.KHA_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
      await this.io?.events.close();
    }
    this.dropUnneededLog();
    return this.exit(code) as never;
  }

  /** The end of a run that threw nothing: the --json document (its error named by `outcome` or derived), the log path on a failure. */
  protected async finish(outcome: number | Outcome): Promise<void> {
    const { exit, error } = typeof outcome === 'number' ? { exit: outcome, error: undefined } : outcome;
    await this.io?.events.close();
    if (this.json) this.writeOutput(exit, exit === 0 ? null : this.outcomeError(exit, error));
    this.dropUnneededLog();
    if (exit !== 0) {
      if (this.keepsLog() && !this.json) process.stderr.write(`log: ${this.io?.logFile}\n`);
      this.exit(exit);
    }
  }

  /**
   * The log of a run that never opened a session on any host says nothing the error line did not
   * (a bad inventory, a flag error, every host unreachable): it is not left behind. Kept when a
   * host was reached (whatever happened after), and always when --log-file named it.
   */
  private keepsLog(): boolean {
    return Boolean(this.io) && (this.reachedHost || this.logNamed);
  }

  /** After the sinks are closed: remove the log keepsLog() says nobody needs. */
  private dropUnneededLog(): void {
    if (!this.io || this.keepsLog()) return;
    try {
      rmSync(this.io.logFile, { force: true });
    } catch {
      // a log kha cannot remove stays; the run's outcome does not change for it
    }
  }
}

/**
 * oclif's parse errors in kha's words: the flag as typed (-i/--inventory), a did-you-mean for a
 * misspelt flag, what a missing argument is for. Anything else passes through unchanged.
 */
export function usageMessage(msg: string, command: string, flags: Record<string, { char?: string }>, args: Record<string, { description?: string }>): string {
  const spell = (name: string) => (flags[name]?.char ? `-${flags[name].char}/--${name}` : `--${name}`);
  const missingFlag = /^Missing required flag:? ?(?:--)?([\w-]+)/.exec(msg);
  if (missingFlag) {
    const name = missingFlag[1]!;
    return name === 'inventory'
      ? `missing ${spell(name)}: pass the inventory file, as in kha ${command} -i hosts.yaml`
      : `missing ${spell(name)}: this flag is required`;
  }
  const unknown = /^Nonexistent flags?: (-{1,2})([^\s,;]+)/.exec(msg);
  if (unknown) {
    const typed = unknown[2]!.replace(/=.*$/, '');
    const close = unknown[1] === '--' ? suggest(typed, Object.keys(flags)) : undefined;
    return `unknown flag ${unknown[1]}${typed}${close ? `; did you mean ${spell(close)}?` : ''}`;
  }
  const missingArg = /^Missing \d+ required args?:/.exec(msg);
  if (missingArg) {
    const names = Object.keys(args);
    const what = names.map((n) => `<${n}>${args[n]?.description ? `, the ${args[n].description}` : ''}`).join(' and ');
    return `missing ${what || 'an argument'}; run kha ${command} -i hosts.yaml ${names.map((n) => `<${n}>`).join(' ')}`;
  }
  return msg;
}
