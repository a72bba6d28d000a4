#!/usr/bin/perl
# Managed by kha. Changes here are overwritten by the next kha run.
# kha's VRRP exporter, the HTTP side: GET /metrics answers with the newest collection of the
# collector (the first argument), started per scrape at most once a second and waited for at
# most 2 s. Started by kha-metrics.socket (fd 3); --listen ADDR:PORT listens itself.
use strict;
use warnings;
use Fcntl qw(F_GETFD F_SETFD FD_CLOEXEC);
use IO::Select;
use IO::Socket::INET;
use POSIX ();

my ($collector, $flag, $listen) = @ARGV;
die "usage: kha-metrics-server.pl COLLECTOR [--listen ADDR:PORT]\n" unless defined $collector && -x $collector;
my $FRESH = 1;     # a collection younger than this (s) is served as it is
my $WAIT = 2;      # the longest a scrape waits for a running collection (s)
my $KILL = 30;     # a collection still running after this long (s) is killed
my $HEAD = 8192;   # the longest request head read (bytes)

my $srv;
if (defined $flag && $flag eq '--listen' && defined $listen) {
  $srv = IO::Socket::INET->new(LocalAddr => $listen, Listen => 16, ReuseAddr => 1) or die "kha-metrics: listen on $listen: $!\n";
} else {
  die "kha-metrics: no listening socket from systemd (systemctl start kha-metrics.socket)\n"
    unless ($ENV{LISTEN_FDS} // 0) >= 1 && ($ENV{LISTEN_PID} // 0) == $$;
  $srv = IO::Socket::INET->new_from_fd(3, 'r') or die "kha-metrics: fd 3: $!\n";
  fcntl($srv, F_SETFD, FD_CLOEXEC);
}
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = sub { exit 0 };

# monotonic seconds, 10 ms resolution, no module beyond perl-base
sub now {
  open(my $f, '<', '/proc/uptime') or return time;
  my ($t) = split ' ', (<$f> // '');
  return $t // time;
}

my ($body, $at) = ('', -1e9);       # the newest complete collection, and when it ended
my ($kid, $out, $buf, $since);       # the running collection: pid, its stdout, its output so far, its start

sub collect_start {
  return if defined $kid;
  ($buf, $since) = ('', now());
  $kid = open($out, '-|');
  if (!defined $kid) { warn "kha-metrics: fork: $!\n"; return }
  if ($kid == 0) { exec { $collector } $collector or POSIX::_exit(127) }
}

# read the running collection for at most $wait s; true once it has ended ($body then holds it if it succeeded)
sub collect_wait {
  my ($wait) = @_;
  return 1 unless defined $kid;
  my $end = now() + $wait;
  my $sel = IO::Select->new($out);
  for (;;) {
    kill 'KILL', $kid if now() - $since > $KILL;
    my $left = $end - now();
    return 0 if $left <= 0;
    next unless $sel->can_read($left);
    my $n = sysread($out, $buf, 65536, length $buf);
    next if !defined $n && $!{EINTR};
    next if $n;
    close($out);
    my $ok = $? == 0;
    undef $kid;
    ($body, $at) = ($buf, now()) if $ok && $buf =~ /\n\z/;
    return 1;
  }
}

sub reply {
  my ($c, $status, $type, $text) = @_;
  print $c "HTTP/1.1 $status\r\nContent-Type: $type\r\nContent-Length: " . length($text) . "\r\nConnection: close\r\n\r\n$text";
}

sub serve {
  my ($c) = @_;
  my $head = '';
  my $sel = IO::Select->new($c);
  my $end = now() + 5;
  while ($head !~ /\r?\n\r?\n/ && length $head < $HEAD) {
    my $left = $end - now();
    return if $left <= 0 || !$sel->can_read($left);
    my $n = sysread($c, $head, 4096, length $head);
    return unless $n;
  }
  my ($method, $target) = $head =~ /\A(\S+) (\S+)/;
  ($target //= '') =~ s/\?.*//s;
  return reply($c, '404 Not Found', 'text/plain', "kha: the metrics are at GET /metrics\n") unless ($method // '') eq 'GET' && $target eq '/metrics';
  my ($budget) = $head =~ /^X-Prometheus-Scrape-Timeout-Seconds:[ \t]*([0-9]+(?:\.[0-9]+)?)/mi;
  $budget //= 10;
  collect_start() if now() - $at >= $FRESH;
  collect_wait(length $body ? ($budget / 2 < $WAIT ? $budget / 2 : $WAIT) : $budget - 0.5);
  return reply($c, '503 Service Unavailable', 'text/plain', "kha: no metrics collected yet\n") unless length $body;
  reply($c, '200 OK', 'text/plain; version=0.0.4; charset=utf-8', $body);
}

for (;;) {
  my $c = $srv->accept or next;
  serve($c);
  close($c);
}
