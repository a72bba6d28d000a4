// haproxy's runtime API (its admin stats socket) from a host's shell: the script that sends
// commands (pure text, run with become) and the parsers of what haproxy answers (pure). Used by
// the haproxy_server module (kha drain / undrain), kha status and kha up. The hosts have no socat:
// perl's IO::Socket::UNIX (perl-base) talks to the socket, one connection per command (the
// socket's non-interactive mode answers one command and closes). Commands used, all in haproxy
// 2.2..3.0's management guide:
//   show stat                                   CSV; per server its status and scur (sessions now)
//   show servers state <backend>                 per server its operational and admin state
//   set server <backend>/<server> state drain|ready
//   shutdown sessions server <backend>/<server>
import { quote, quoteArgv } from '../transport/quote.js';
import { markedSections } from './sections.js';

const MARK = '@@kha-rt@@';

/**
 * Each command on its own connection to the socket; its answer follows a line `@@kha-rt@@<i>`.
 * A socket that does not answer (haproxy stopped) ends the script: `stats socket <path>: <why>`
 * on stderr, exit 2. The commands reach perl as arguments, never as code.
 */
export function runtimeScript(socket: string, commands: readonly string[]): string {
  const perl = [
    'use IO::Socket::UNIX; my $p = shift; my $i = 0;',
    'for my $c (@ARGV) {',
    '  my $s = IO::Socket::UNIX->new(Peer => $p) or do { print STDERR "stats socket $p: $!\\n"; exit 2 };',
    `  print '${MARK}', $i++, "\\n"; print $s "$c\\n"; print while <$s>; close $s;`,
    '}',
  ].join('\n');
  for (const c of commands) if (/[\n\r]/.test(c)) throw new Error(`a runtime API command is one line: ${JSON.stringify(c)}`);
  return `perl -e ${quote(perl)} ${quoteArgv([socket, ...commands])}`;
}

/** The answers of runtimeScript's commands, in order ('' for a command that got none). Pure. */
export function runtimeAnswers(stdout: string, count: number): string[] {
  const sec = markedSections(stdout, MARK);
  return Array.from({ length: count }, (_, i) => (sec.get(String(i)) ?? []).join('\n'));
}

// ---- what the answers say ------------------------------------------------------------------

/** One server (or FRONTEND/BACKEND line) of `show stat`. */
export interface BackendStat {
  backend: string;
  server: string;
  status: string;
  /** scur: sessions open to the server now (when the CSV has the column) */
  sessions?: number;
}

/** `show stat` CSV, read by its header's names; the servers only. Pure. */
export function parseHaproxyStat(csv: string): BackendStat[] {
  const lines = csv.split('\n').filter((l) => l.trim());
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const ix = (k: string) => header.indexOf(k);
  const out: BackendStat[] = [];
  for (const l of lines.slice(1)) {
    const c = l.split(',');
    const sv = c[ix('svname')] ?? '';
    if (sv === 'FRONTEND' || sv === 'BACKEND') continue;
    const scur = ix('scur') >= 0 ? Number(c[ix('scur')] || 0) : undefined;
    out.push({
      backend: c[ix('pxname')] ?? '',
      server: sv,
      status: c[ix('status')] ?? '',
      ...(scur !== undefined && Number.isFinite(scur) ? { sessions: scur } : {}),
    });
  }
  return out;
}

/** srv_admin_state bits (haproxy's SRV_ADMF_*): set on the socket (F), inherited (I), from the config (C) */
export const ADMIN = { FMAINT: 0x01, IMAINT: 0x02, CMAINT: 0x04, FDRAIN: 0x08, IDRAIN: 0x10 } as const;
/** srv_op_state: SRV_ST_STOPPED, STARTING, RUNNING, STOPPING */
export const OP_STATES = ['STOPPED', 'STARTING', 'RUNNING', 'STOPPING'] as const;

export interface ServerState {
  backend: string;
  server: string;
  opState: number;
  adminState: number;
}

/**
 * `show servers state`: a version line (1), a header naming the columns, one line per server.
 * Read by the header's names, so columns added by later versions do not matter. Pure.
 */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split('\n').map((l) => l.trim());
  const head = lines.find((l) => l.startsWith('# be_id'));
  if (!head) return [];
  const cols = head.replace(/^#\s*/, '').split(/\s+/);
  const at = (f: string[], k: string) => f[cols.indexOf(k)] ?? '';
  const out: ServerState[] = [];
  for (const l of lines) {
    if (!l || l.startsWith('#') || /^\d+$/.test(l)) continue;
    const f = l.split(/\s+/);
    if (f.length < cols.length - 1) continue;
    const op = Number(at(f, 'srv_op_state'));
    const admin = Number(at(f, 'srv_admin_state'));
    if (!Number.isInteger(op) || !Number.isInteger(admin)) continue;
    out.push({ backend: at(f, 'be_name'), server: at(f, 'srv_name'), opState: op, adminState: admin });
  }
  return out;
}

/** One server as one haproxy sees it. */
export interface ServerView {
  /** haproxy's status word in its stats: UP, DRAIN, DOWN, MAINT, `UP 1/2`, ... */
  status: string;
  /** drained on the socket (kha drain): no new connections, the open ones go on */
  drained: boolean;
  /** put in maintenance (on the socket or in the config) */
  maint: boolean;
  /** sessions open to it now (scur) */
  sessions: number;
}

/** The server `server` of `backend` from `show stat` and `show servers state`; null when haproxy does not list it. Pure. */
export function serverView(statCsv: string, statesText: string, backend: string, server: string): ServerView | null {
  const stat = parseHaproxyStat(statCsv).find((b) => b.backend === backend && b.server === server);
  const state = parseServersState(statesText).find((b) => b.backend === backend && b.server === server);
  if (!stat && !state) return null;
  const admin = state?.adminState ?? 0;
  const status = stat?.status ?? '';
  return {
    status: status || (state ? (OP_STATES[state.opState] ?? String(state.opState)) : ''),
    drained: (admin & (ADMIN.FDRAIN | ADMIN.IDRAIN)) !== 0 || status.startsWith('DRAIN'),
    maint: (admin & (ADMIN.FMAINT | ADMIN.IMAINT | ADMIN.CMAINT)) !== 0,
    sessions: stat?.sessions ?? 0,
  };
}

/** The servers of `backend` drained on the socket, from `show servers state`. Pure. */
export function drainedServers(statesText: string, backend: string): string[] {
  return parseServersState(statesText)
    .filter((s) => s.backend === backend && (s.adminState & (ADMIN.FDRAIN | ADMIN.IDRAIN)) !== 0)
    .map((s) => s.server);
}

/**
 * The answer of a `set server` or `shutdown sessions` command: empty when it was done, else
 * haproxy's words (`No such server.`, `Unknown command ...`). Pure.
 */
export function commandRefusal(answer: string): string | null {
  const t = answer.trim();
  return t ? (t.split('\n')[0] ?? t) : null;
}
