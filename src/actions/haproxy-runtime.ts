// haproxy's runtime API (the admin stats socket, STATS_SOCKET) from a host's shell, for kha drain,
// kha undrain and kha status: the scripts (pure text, run with become) and the parsers of what
// they print (pure). The hosts have no socat: perl's IO::Socket::UNIX (perl-base) talks to the
// socket, one connection per command (the socket's non-interactive mode answers one command and
// closes). Commands used, all in haproxy 2.2..3.0's management guide:
//   show stat                                   CSV; per server its status and scur (sessions now)
//   show servers state <backend>                 per server its operational and admin state
//   set server <backend>/<server> state drain|ready
//   shutdown sessions server <backend>/<server>
import { markedSections } from '../facts/sections.js';
import { HAPROXY_CFG, STATS_SOCKET } from '../roles/ha.js';
import { SERVER_STATE_FILE, serverStatePerl } from '../roles/server-state.js';
import { quote, quoteArgv } from '../transport/quote.js';
import { parseHaproxyStat } from './probes.js';

const MARK = '@@kha-rt@@';
const SAVE_MARK = '@@kha-rt-save@@';

/**
 * Each command on its own connection to the socket; its answer follows a line `@@kha-rt@@<i>`.
 * A socket that does not answer (haproxy stopped) ends the script: `stats socket <path>: <why>`
 * on stderr, exit 2. The commands reach perl as arguments, never as code.
 */
export function runtimeScript(commands: readonly string[], socket: string = STATS_SOCKET): string {
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
  const sec = markedSections(stdout.split(`\n${SAVE_MARK}`)[0] ?? '', MARK);
  return Array.from({ length: count }, (_, i) => (sec.get(String(i)) ?? []).join('\n'));
}

/** The server-state save (roles/server-state.ts), after `script`: its `saved N` follows a marker line. */
export function withSave(script: string): string {
  const save = `perl -e ${quote(serverStatePerl())} ${quoteArgv([STATS_SOCKET, SERVER_STATE_FILE, HAPROXY_CFG])}`;
  return `${script}\nrc=$?\necho ${SAVE_MARK}\n${save} || echo "save failed: exit $?"\nexit $rc`;
}

/** What withSave's save step printed: `saved N`, or why it failed (its stderr is the caller's). Pure. */
export function saveAnswer(stdout: string): string {
  const i = stdout.indexOf(`${SAVE_MARK}\n`);
  return i < 0 ? '' : stdout.slice(i + SAVE_MARK.length + 1).trim();
}

// ---- what the answers say ------------------------------------------------------------------

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

// ---- the apiserver's health, asked from a load balancer as haproxy's checks ask ------------

/**
 * GET https://<address>:<port><path> from the host, TLS not verified (as haproxy's `check-ssl
 * verify none`); prints the HTTP status (000 when nothing answered). curl when the host has it
 * (the load balancers have it with track_apiserver), else openssl s_client (every host kha reads
 * certificates on has it); `no-tool` when neither. Address, port and path reach the shell quoted.
 */
export function readyProbeScript(address: string, port: number, path: string): string {
  const hostPort = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  const request = `GET ${path} HTTP/1.0\r\nHost: ${hostPort}\r\nConnection: close\r\n\r\n`;
  return [
    'if command -v curl >/dev/null 2>&1; then',
    `  curl -sk --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' ${quote(`https://${hostPort}${path}`)}`,
    'elif command -v openssl >/dev/null 2>&1; then',
    `  c=$(printf '%s' ${quote(request)} | timeout 4 openssl s_client -quiet -connect ${quote(hostPort)} 2>/dev/null | head -n 1)`,
    `  set -- $c; echo "\${2:-000}"`,
    'else',
    '  echo no-tool',
    'fi',
  ].join('\n');
}

/** readyProbeScript's answer: the HTTP status ('000': nothing answered), or 'no-tool'. Pure. */
export function readyAnswer(stdout: string): string {
  const t = stdout.trim();
  if (t === 'no-tool') return t;
  return /^\d{3}$/.test(t) ? t : '000';
}
