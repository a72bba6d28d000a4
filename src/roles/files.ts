// Small pure renders that sit beside keepalived.conf and haproxy.cfg: the vrrp check scripts, the
// keepalived notify script, the haproxy systemd drop-in and tmpfiles entry, plus the value guards
// and constants the two config renderers share. Nothing here touches a host.
import { InputError } from '../errors.js';
import { isIPv4 } from '../net/ipv4.js';
import { quote } from '../transport/quote.js';

// ---------------------------------------------------------------------------------------------
// Shared constants
// ---------------------------------------------------------------------------------------------

export const MANAGED_HEADER = '# Managed by kha. Changes here are overwritten by the next kha run.';

/** haproxy's local health frontend answers this URI (monitor-uri); the vrrp check asks it. */
export const MONITOR_URI = '/healthz';
export const DEFAULT_MONITOR_PORT = 8404;

/**
 * Unprivileged user the vrrp check scripts run as (global script_user). keepalived's own default
 * name; it must exist before keepalived starts: the task list creates it as a system user
 * (`useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin keepalived_script`).
 * The notify script alone runs as root (it writes under /run).
 */
export const DEFAULT_SCRIPT_USER = 'keepalived_script';

export const CHECK_HAPROXY_SCRIPT_PATH = '/etc/keepalived/kha-check-haproxy.sh';
export const CHECK_APISERVER_SCRIPT_PATH = '/etc/keepalived/kha-check-apiserver.sh';
export const NOTIFY_SCRIPT_PATH = '/etc/keepalived/kha-notify.sh';
/** keepalived's own view of this host, written by the notify script, read by `kha status`. */
export const NOTIFY_STATE_FILE = '/run/keepalived-kha.state';
/** keepalived writes its state changes here, in order (vrrp_notify_fifo); the notify script reads it. */
export const NOTIFY_FIFO = '/run/keepalived-kha.fifo';
/**
 * haproxy's systemd unit writes 1 here when haproxy stops or dies and 0 once it is ready again
 * (kha's drop-in, renderHaproxyDropIn). keepalived tracks it (track_file, weight 0): 1 puts the
 * instance in FAULT at once, whose priority-0 advert hands the VIP over within the skew time.
 */
export const HAPROXY_DOWN_FILE = '/run/kha-haproxy.down';
/** keepalived's dumps (/tmp/keepalived.data, .stats) have one reader at a time: the VRRP exporter and kha up's check probe flock this */
export const DUMP_LOCK = '/run/kha-keepalived-dump.lock';
export const HAPROXY_DROPIN_PATH = '/etc/systemd/system/haproxy.service.d/kha.conf';
/** Same name as Debian's /usr/lib/tmpfiles.d/haproxy.conf, so it overrides rather than duplicates it. */
export const HAPROXY_TMPFILES_PATH = '/etc/tmpfiles.d/haproxy.conf';
/** the directory of the drop-in above (kha creates it) */
export const HAPROXY_DROPIN_DIR = '/etc/systemd/system/haproxy.service.d';
/** the script the drop-in's reload runs to save drained servers (roles/server-state.ts renders it) */
export const SERVER_STATE_SCRIPT_PATH = '/etc/haproxy/kha-server-state.pl';
export const KEEPALIVED_DIR = '/etc/keepalived';

/**
 * What kha keeps on a host across runs: the packages its installs added (the package module's
 * `record`, dependencies included) and the system users it created, one name a line. `kha reset
 * --purge` removes exactly those, then these files.
 */
export const KHA_STATE_DIR = '/var/lib/kha';
export const INSTALLED_RECORD = `${KHA_STATE_DIR}/installed`;
export const USERS_RECORD = `${KHA_STATE_DIR}/users`;

/**
 * Validator argv for the template module ('%s' = the temp file). keepalived 2.2.7 (bookworm)
 * `-t` dies with SIGTERM (exit 143) whenever the config has a vrrp_script, even when it also
 * found errors (keepalived issue #2587, fixed in 2.2.8). Its messages are the real signal: the
 * file is valid when `-t` prints nothing and exits 0 or 143. (`-t` also exits 0 on a missing
 * file; the template module always passes the temp file it has just written.) keepalived 2.1
 * (Debian 11) says nothing and exits 0 for an unknown keyword: a second run with its log on the
 * console (-l -D) finds the "(file: Line n)" complaints that every version writes there.
 */
export const KEEPALIVED_VALIDATE_ARGV: readonly string[] = [
  '/bin/sh',
  '-c',
  [
    'out=$(keepalived -t -f "$1" 2>&1); rc=$?; if [ -n "$out" ]; then printf \'%s\\n\' "$out" >&2; exit 1; fi; [ "$rc" = 0 ] || [ "$rc" = 143 ] || exit 1',
    // keepalived before 2.2 (Debian 11's 2.1.5) exits 0 and prints nothing for an unknown keyword
    // or a bad value: it says so only in its log, as "(<file>: Line <n>) <problem>"
    'bad=$(keepalived -t -l -D -f "$1" 2>&1 | grep -E \': Line [0-9]+\\) \'); if [ -n "$bad" ]; then printf \'%s\\n\' "$bad" >&2; exit 1; fi',
  ].join('\n'),
  'keepalived-config-test',
  '%s',
];
export const HAPROXY_VALIDATE_ARGV: readonly string[] = ['haproxy', '-c', '-q', '-f', '%s'];

// ---------------------------------------------------------------------------------------------
// Value guards. The inventory is validated before it gets here; these are the last line of
// defence against a value that would silently produce a broken or injectable file (a space, a
// quote, a brace or a newline inside a token).
// ---------------------------------------------------------------------------------------------

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9._:@%+-]*$/;
const PATH = /^(\/[A-Za-z0-9._@%+-]+)+$/;
// a query is allowed (`/livez?verbose`, `/readyz?exclude=etcd&verbose`: the inventory accepts them);
// where it reaches a shell (the apiserver check script) the whole URL is quoted
const URI_PATH = /^\/[A-Za-z0-9._~%+/?=&-]*$/;
const IPV6 = /^(?=.*:)[0-9A-Fa-f:.]{2,45}$/;
const DURATION = /^\d+(us|ms|s|m|h|d)?$/;

export function badVar(what: string, value: unknown, rule: string): never {
  throw new InputError(`${what}: ${JSON.stringify(value)} ${rule}`, { code: 'E_ROLE_VARS' });
}

/** One config word: letters, digits and . _ : @ % + - (no whitespace, quotes, braces, #). */
export function token(what: string, v: string): string {
  if (!TOKEN.test(v)) badVar(what, v, 'must be one word of letters, digits and . _ : @ % + -');
  return v;
}

export function absPath(what: string, v: string): string {
  if (!PATH.test(v) || v.split('/').some((seg) => seg === '.' || seg === '..')) {
    badVar(what, v, 'must be an absolute path of letters, digits and . _ @ % + -');
  }
  return v;
}

export function uriPath(what: string, v: string): string {
  if (!URI_PATH.test(v)) badVar(what, v, 'must be a URI path starting with / (letters, digits and . _ ~ % + / ? = & -; no spaces or quotes)');
  return v;
}

export function isIPv6(v: string): boolean {
  return IPV6.test(v) && !isIPv4(v);
}

export function ipAddr(what: string, v: string): string {
  if (!isIPv4(v) && !IPV6.test(v)) badVar(what, v, 'must be an IPv4 or IPv6 address');
  return v;
}

export function int(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) badVar(what, v, `must be an integer in ${min}..${max}`);
  return v;
}

/** A haproxy time value: digits with an optional unit (us, ms, s, m, h, d). */
export function duration(what: string, v: string): string {
  if (!DURATION.test(v)) badVar(what, v, 'must be a time like 500ms, 30s, 1h');
  return v;
}

/** Join lines; the result ends with exactly one newline. */
export function joinLines(ls: readonly string[]): string {
  return ls.join('\n').replace(/\n*$/, '\n');
}

// ---------------------------------------------------------------------------------------------
// vrrp check: the local haproxy
// ---------------------------------------------------------------------------------------------

export interface CheckHaproxyScriptVars {
  /** haproxy's local monitor frontend port (HaproxyVars.monitorPort) */
  monitorPort: number;
  /** seconds the whole probe may take (default 2; keep it below the vrrp_script timeout 3) */
  timeoutSeconds?: number;
}

/**
 * The haproxy vrrp_script. Why this mechanism:
 * - not a process-name check: `pidof` as a vrrp_script never passes on Debian (it is killall5),
 *   and a live process says nothing about whether haproxy serves;
 * - haproxy answers for itself: its `kha-monitor` frontend on 127.0.0.1:<monitorPort> returns 200
 *   on /healthz while it runs and serves. Deliberately not "has an apiserver up": every load
 *   balancer sees the same masters, so when none answers (before kubeadm init, a full outage)
 *   moving the VIP cannot help, and a haproxy that has just started counts its backends up until
 *   their first check, so a freshly started backup would look healthier than the holder;
 * - only tools every Debian host has: bash (/dev/tcp) and coreutils (timeout). curl and socat are
 *   not installed by default, so they are not used. Runs unprivileged (script_user).
 */
export function renderCheckHaproxyScript(v: CheckHaproxyScriptVars): string {
  const port = int('monitorPort', v.monitorPort, 1, 65535);
  const secs = int('timeoutSeconds', v.timeoutSeconds ?? 2, 1, 60);
  return joinLines([
    '#!/bin/bash',
    MANAGED_HEADER,
    '# keepalived vrrp_script: exit 0 only when the LOCAL haproxy answers its monitor URI with',
    "# 200 (haproxy runs and serves; apiserver health is haproxy's job). Asks haproxy itself over bash",
    '# /dev/tcp: pidof is broken as a vrrp_script on Debian, and curl/socat may be missing.',
    'set -u',
    `probe='exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1`,
    `printf "GET %s HTTP/1.0\\r\\n\\r\\n" "$2" >&3 || exit 1`,
    `IFS= read -r line <&3 || exit 1`,
    `printf "%s\\n" "$line"'`,
    `status=$(timeout ${secs} bash -c "$probe" kha-probe ${port} ${MONITOR_URI} 2>/dev/null) || exit 1`,
    'case $status in',
    "  'HTTP/1.'[01]' 200'*) exit 0 ;;",
    'esac',
    'exit 1',
  ]);
}

// ---------------------------------------------------------------------------------------------
// vrrp check: the local kube-apiserver (optional, track_apiserver)
// ---------------------------------------------------------------------------------------------

export interface CheckApiserverScriptVars {
  /** the local kube-apiserver's port (apiserver_port, e.g. 6443) */
  apiserverPort: number;
  /** health path, e.g. /readyz */
  healthPath: string;
  /** seconds for the whole request (default 2) */
  timeoutSeconds?: number;
}

/**
 * Optional second vrrp_script. REQUIRES curl on the host (the task list installs it when
 * track_apiserver is on): TLS cannot be spoken from bash alone. -k because the check targets
 * 127.0.0.1, which is often not in the serving certificate; it reads a health endpoint only.
 * /readyz answers anonymous requests on a default kubeadm cluster (system:public-info-viewer).
 */
export function renderCheckApiserverScript(v: CheckApiserverScriptVars): string {
  const port = int('apiserverPort', v.apiserverPort, 1, 65535);
  const path = uriPath('healthPath', v.healthPath);
  const secs = int('timeoutSeconds', v.timeoutSeconds ?? 2, 1, 60);
  return joinLines([
    '#!/bin/sh',
    MANAGED_HEADER,
    '# keepalived vrrp_script: exit 0 only when the LOCAL kube-apiserver answers 200 on its',
    '# health path. Needs curl. -k: 127.0.0.1 is often not in the serving certificate.',
    'command -v curl >/dev/null 2>&1 || exit 1',
    `code=$(curl -sk --noproxy '*' --max-time ${secs} -o /dev/null -w '%{http_code}' ${quote(`https://127.0.0.1:${port}${path}`)}) || exit 1`,
    '[ "$code" = 200 ]',
  ]);
}

// ---------------------------------------------------------------------------------------------
// keepalived notify: keepalived's own view, for `kha status`
// ---------------------------------------------------------------------------------------------

export interface NotifyScriptVars {
  /** default NOTIFY_STATE_FILE */
  stateFile?: string;
}

/**
 * keepalived's `vrrp_notify_fifo_script`: keepalived starts it once (as root, it writes under
 * /run), with the FIFO's path as the last argument, and writes one line per transition to the
 * FIFO, in order: `INSTANCE "VI_KHA" MASTER 150` (states MASTER, BACKUP, FAULT, STOP, DELETED).
 * Why a FIFO and not `notify`: keepalived runs every `notify` script as its own process, so two
 * transitions close together (FAULT then BACKUP when haproxy restarts) can finish out of order and
 * leave the older state on file. One reader of an ordered stream cannot.
 *
 * The state file gets key=value lines, written atomically (temp file + rename): the state, the
 * instance, the priority, when (unix seconds), how many transitions since boot and how many of
 * them made this host MASTER (both carried over when keepalived restarts the reader; the metrics
 * exporter reports them as counters).
 */
export function renderNotifyScript(v: NotifyScriptVars = {}): string {
  const file = absPath('stateFile', v.stateFile ?? NOTIFY_STATE_FILE);
  // the name comes quoted ("VI_KHA"): strip one shell-escaped double quote from each end
  const DQ = '\\"';
  return joinLines([
    '#!/bin/sh',
    MANAGED_HEADER,
    "# keepalived's vrrp_notify_fifo reader: one line per VRRP transition, in order, e.g.",
    '#   INSTANCE "VI_KHA" MASTER 150',
    "# Records keepalived's own view of this host for `kha status`. The FIFO is the last argument.",
    'set -uf',
    'for fifo in "$@"; do :; done',
    '[ -p "${fifo:-}" ] || { echo "kha-notify: ${fifo:-no argument}: not a FIFO" >&2; exit 1; }',
    `state_file=${file}`,
    'tmp="$state_file.$$"',
    'umask 022',
    'changes=$(sed -n "s/^changes=\\([0-9][0-9]*\\)$/\\1/p" "$state_file" 2>/dev/null)',
    'changes=${changes:-0}',
    'masters=$(sed -n "s/^masters=\\([0-9][0-9]*\\)$/\\1/p" "$state_file" 2>/dev/null)',
    'masters=${masters:-0}',
    '# keepalived holds the FIFO open while it runs; reopen it if it closes, stop once it is gone',
    'while [ -p "$fifo" ]; do',
    "  while IFS=' ' read -r kind name state priority rest; do",
    '    [ "$kind" = INSTANCE ] || continue',
    '    case "$state" in',
    '      MASTER|BACKUP|FAULT|STOP|DELETED) ;;',
    '      *) continue ;;',
    '    esac',
    `    name=\${name#${DQ}}`,
    `    name=\${name%${DQ}}`,
    '    changes=$((changes + 1))',
    '    [ "$state" = MASTER ] && masters=$((masters + 1))',
    `    printf 'state=%s\\ninstance=%s\\npriority=%s\\nsince=%s\\nchanges=%s\\nmasters=%s\\n' "$state" "$name" "$priority" "$(date +%s)" "$changes" "$masters" >"$tmp" &&`,
    '      mv -f "$tmp" "$state_file"',
    '  done <"$fifo"',
    'done',
  ]);
}

export type VrrpState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'DELETED';

export interface NotifyState {
  state: VrrpState;
  instance: string;
  priority: number | undefined;
  /** unix seconds of the transition */
  since: number | undefined;
  /** VRRP transitions recorded since boot (undefined in files written before kha counted them) */
  changes: number | undefined;
}

/** Parse the notify state file; undefined when it is empty or not ours. */
export function parseNotifyState(text: string): NotifyState | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const state = kv.get('state');
  if (state !== 'MASTER' && state !== 'BACKUP' && state !== 'FAULT' && state !== 'STOP' && state !== 'DELETED') return undefined;
  const num = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
  return { state, instance: kv.get('instance') ?? '', priority: num(kv.get('priority')), since: num(kv.get('since')), changes: num(kv.get('changes')) };
}

// ---------------------------------------------------------------------------------------------
// /run/haproxy (the stats socket's directory)
// ---------------------------------------------------------------------------------------------

/**
 * systemd drop-in for haproxy.service. Debian bookworm's haproxy.service has NO RuntimeDirectory
 * (checked on haproxy 2.6.12-1+deb12u3); the package creates /run/haproxy through
 * /usr/lib/tmpfiles.d/haproxy.conf at boot and install. The drop-in re-applies that same
 * tmpfiles entry before every start, so the socket directory exists even when /run was cleaned
 * or the package's entry is missing, with haproxy:haproxy 2775 rather than the root:root that
 * RuntimeDirectory= would impose (the unit has no User=) and without deleting the directory on
 * stop. The `-` prefix: a missing systemd-tmpfiles must not block haproxy from starting.
 */
export function renderHaproxyDropIn(v: { downFile?: string } = {}): string {
  const lines = [
    MANAGED_HEADER,
    '# Make sure /run/haproxy (stats socket directory) exists before every start.',
    '[Service]',
    ...SERVER_STATE_RELOAD,
    `ExecStartPre=-/usr/bin/systemd-tmpfiles --create ${HAPROXY_TMPFILES_PATH}`,
  ];
  if (v.downFile !== undefined) {
    const f = absPath('downFile', v.downFile);
    lines.push(
      '# keepalived tracks this file (track_file): 1 once haproxy stops or dies, for any reason, which',
      '# hands the VIP over at once; 0 once haproxy is ready (Type=notify) again. A reload changes nothing.',
      `ExecStartPost=-/bin/sh -c 'echo 0 >${f}'`,
      `ExecStopPost=-/bin/sh -c 'echo 1 >${f}'`,
    );
  }
  return joinLines(lines);
}

/**
 * The drop-in's reload: the unit's own two steps (check the config, then USR2 to the master; the
 * empty `ExecReload=` replaces the unit's list, since systemd only appends to it), with the
 * drained servers saved to the server-state-file between them, after the check and right before
 * the signal (roles/server-state.ts). `-`: a failed save (haproxy stopped, no perl) never blocks a
 * reload. Debian's and RHEL's units both set $CONFIG; $EXTRAOPTS is Debian's (the master socket).
 */
const SERVER_STATE_RELOAD: readonly string[] = [
  '# A reload saves the servers drained on the stats socket (kha drain) first, so they stay drained.',
  'ExecReload=',
  'ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS',
  `ExecReload=-/usr/bin/perl ${SERVER_STATE_SCRIPT_PATH}`,
  'ExecReload=/bin/kill -USR2 $MAINPID',
];

/** tmpfiles.d entry for /run/haproxy; same content as Debian's, so both agree on the owner. */
export function renderHaproxyTmpfiles(): string {
  return joinLines([MANAGED_HEADER, 'd /run/haproxy 2775 haproxy haproxy -']);
}
