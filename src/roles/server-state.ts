// haproxy's server-state file: how a drain (kha drain) survives a reload. haproxy.cfg names the
// file (`server-state-file` in global, `load-server-state-from-file global` in defaults: see
// haproxy.ts), and the haproxy drop-in's reload (files.ts) saves the servers' runtime state into it
// just before the reload signal; the new workers read it when they start. kha drain and kha undrain
// save it too, right after they change a server, so a restart (which reads the file) keeps what
// the last kha drain or undrain left. Pure: the script as text.
//
// What the script keeps, and why not all of `show servers state`: only the servers whose forced
// admin state is set (drained, or put in maintenance on the socket). haproxy applies more than
// that from a state line: it also restores the server's port (srv_port, server_state.c), so a line
// saved before a reload that changes a master's apiserver_port would bring the old port back. So
// each kept line gets its port from the config being loaded, and a server that config no longer
// has is dropped. Every other server starts as the config says, as without the file.
import { quote, quoteArgv } from '../transport/quote.js';
import { MANAGED_HEADER, SERVER_STATE_SCRIPT_PATH, absPath, joinLines } from './files.js';

export { SERVER_STATE_SCRIPT_PATH };

/** The file haproxy.cfg names in `server-state-file` (root's, read by haproxy as it starts, before its chroot). */
export const SERVER_STATE_FILE = '/var/lib/haproxy/server-state';

/** srv_admin_state bits kept: SRV_ADMF_FMAINT (1) and SRV_ADMF_FDRAIN (8), set on the stats socket */
const FORCED_ADMIN_BITS = 9;

/**
 * Perl (IO::Socket::UNIX is in perl-base): `show servers state` on the stats socket ($ARGV[0]),
 * the lines of forced-drained or forced-maintenance servers, each with its port from the config
 * ($ARGV[2]), written to a temp file and renamed over $ARGV[1]. Prints `saved N` (the servers
 * kept). A socket that does not answer (haproxy stopped) leaves the file as it is, exit 2.
 */
export function serverStatePerl(): string {
  return [
    'use strict; use IO::Socket::UNIX;',
    'my ($sock, $file, $cfg) = @ARGV;',
    'my %port;',
    'if (open(my $c, "<", $cfg)) { while (<$c>) { $port{$1} = $2 if /^\\s*server\\s+(\\S+)\\s+\\S+:(\\d+)(\\s|$)/ } close $c }',
    'my $s = IO::Socket::UNIX->new(Peer => $sock) or do { print STDERR "stats socket $sock: $!\\n"; exit 2 };',
    'print $s "show servers state\\n";',
    'my @in = <$s>; close $s;',
    '(@in && $in[0] =~ /^1\\s*$/) or do { print STDERR "show servers state: not a version 1 answer: ", ($in[0] // ""), "\\n"; exit 3 };',
    `my @out = ("1\\n", "${MANAGED_HEADER}\\n");`,
    'for my $l (@in[1 .. $#in]) {',
    '  next if $l =~ /^\\s*(#|$)/;',
    '  my @f = split " ", $l;',
    `  next unless @f > 18 && ($f[6] & ${FORCED_ADMIN_BITS}) && exists $port{$f[3]};`,
    '  $f[18] = $port{$f[3]};',
    '  push @out, join(" ", @f) . "\\n";',
    '}',
    'my $tmp = "$file.kha-tmp";',
    'open(my $o, ">", $tmp) or do { print STDERR "$tmp: $!\\n"; exit 4 };',
    'print $o @out; close $o or do { print STDERR "$tmp: $!\\n"; exit 4 };',
    'rename($tmp, $file) or do { print STDERR "$file: $!\\n"; exit 4 };',
    'printf "saved %d\\n", @out - 2;',
  ].join('\n');
}

export interface ServerStateScriptVars {
  statsSocket: string;
  /** the config haproxy loads (the servers' ports) */
  config: string;
  /** default SERVER_STATE_FILE */
  stateFile?: string;
}

/**
 * The script file the drop-in's reload runs (`perl <file>`, no arguments: they are written in).
 * The same code kha drain runs over SSH (serverStatePerl) with the same arguments.
 */
export function renderServerStateScript(v: ServerStateScriptVars): string {
  const args = [absPath('statsSocket', v.statsSocket), absPath('stateFile', v.stateFile ?? SERVER_STATE_FILE), absPath('config', v.config)];
  return joinLines([
    '#!/usr/bin/perl',
    MANAGED_HEADER,
    "# Saves the servers drained (kha drain) or put in maintenance on haproxy's stats socket into the",
    "# server-state-file haproxy.cfg names, so that haproxy's next start or reload keeps them. Run by",
    "# the haproxy drop-in's ExecReload= before the reload signal, and by kha drain and kha undrain.",
    `@ARGV = (${args.map((a) => `'${a}'`).join(', ')}) unless @ARGV;`,
    serverStatePerl(),
  ]);
}

/** The same save run over SSH (kha drain, kha undrain), before the script file may be on the host. */
export function saveStateScript(v: ServerStateScriptVars): string {
  return `perl -e ${quote(serverStatePerl())} ${quoteArgv([v.statsSocket, v.stateFile ?? SERVER_STATE_FILE, v.config])}`;
}

/** `saved N` from the script: how many servers it kept; null when it printed no such line. */
export function parseSaved(stdout: string): number | null {
  const m = /^saved (\d+)$/m.exec(stdout);
  return m ? Number(m[1]) : null;
}
