// The transport contract. Only src/transport (ssh.ts, tunnel.ts) imports ssh2; everything else (engine,
// modules, facts, tests with a fake connection) talks to this interface.

export interface ExecResult {
  /** exit code; null when the process was killed by a signal or timed out */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** true when the per-command timeout killed it */
  timedOut?: boolean;
}

/**
 * A command is data: an argv array (quoted in one place, src/transport/quote.ts) or a shell
 * script built with `sh()` from already-quoted parts. Never a string glued from inventory values.
 */
export type Command = { argv: string[] } | { script: string };

export interface ExecOptions {
  /** data written to the command's stdin (after the sudo password, when become needs one) */
  stdin?: string | Buffer;
  /** per-command timeout in ms (default: the connection's) */
  timeoutMs?: number;
  /** run as root (or become_user) through sudo; defaults to the host's become setting */
  become?: boolean;
  signal?: AbortSignal;
  /**
   * Called with the command's output as it arrives (a long command an operator watches: kha drain
   * -- CMD), besides the whole output in the result; never sudo's prompt or kha's marker line.
   */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
}

export interface UploadOptions {
  /** octal mode, e.g. 0o644 */
  mode: number;
  owner?: string;
  group?: string;
  /** create remotePath only if it does not exist yet (O_EXCL), never through a symlink: for temp names */
  exclusive?: boolean;
}

export interface Connection {
  /** inventory name of the host */
  readonly name: string;
  /** exec never throws on a non-zero exit; it throws TransportError when the channel fails */
  exec(cmd: Command, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Write content to remotePath (exactly that path; the caller picks temp names) with mode and
   * owner. Goes over SFTP; with become, through a private temp file and `install`.
   */
  upload(content: string | Buffer, remotePath: string, opts: UploadOptions): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: run several read-only commands in one round trip (transport/batch.ts), one result
   * per command, as if each had run alone. `opts` applies to the whole batch (no stdin).
   * Connections without it get one exec per command.
   */
  execBatch?(cmds: Command[], opts?: ExecOptions): Promise<ExecResult[]>;
  /** counters for benchmarks and tests */
  readonly stats: { execs: number; uploads: number };
  /** the jump hosts this connection goes through, for messages (`b1`, `b1 > b2`); absent when direct */
  readonly via?: string;
}

/** One jump host as ProxyJump, -J or --bastion give it: `[user@]host[:port]`. */
export interface JumpHost {
  /** an address, a DNS name or a Host alias of ~/.ssh/config */
  host: string;
  user?: string;
  port?: number;
}

export interface HostConnectionSpec {
  name: string;
  /** address to connect to (ansible_host, else the name, resolved through ~/.ssh/config) */
  address: string;
  port: number;
  user: string;
  privateKeyFile?: string;
  password?: string;
  become: boolean;
  becomeUser: string;
  becomePassword?: string;
  /** known_hosts file for this host (from ansible_ssh_common_args -o UserKnownHostsFile=...) */
  knownHostsFile?: string;
  /**
   * Jump hosts in order (ProxyJump from ansible_ssh_common_args, or --bastion); 'none': connect
   * directly whatever ~/.ssh/config says. Absent: ~/.ssh/config's ProxyJump for the host, if any.
   */
  jump?: readonly JumpHost[] | 'none';
  /** where `jump` came from (messages); default 'inventory' */
  jumpFrom?: 'inventory' | 'flag';
  /**
   * Which of address/port/user/privateKeyFile the inventory set explicitly (ansible_host,
   * ansible_port, ansible_user, ansible_ssh_private_key_file). ~/.ssh/config fills only the
   * others. Absent: address === name, port === 22, user === '' or the local user name, and no
   * key count as "not set".
   */
  explicit?: { address?: boolean; port?: boolean; user?: boolean; privateKeyFile?: boolean };
}
