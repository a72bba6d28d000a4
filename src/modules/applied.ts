// applied: is the running service using the config files on disk? A run that wrote a config and
// then stopped before its restart (a failure elsewhere, Ctrl-C) leaves a service running an older
// config while the file looks converged. The service module records, after every successful
// start/restart/reload, the sha256 of the files it loaded in /run/kha/<unit>.applied (tmpfs: a
// reboot clears it, and the boot then loads the files on disk). This module compares; a
// difference "changes" and so notifies the restart/reload handler.
import { defineModule } from '../engine/plan-tasks.js';
import { quote } from '../transport/quote.js';

export interface AppliedParams {
  unit: string;
  files: string[];
}

export const APPLIED_DIR = '/run/kha';

export function appliedPath(unit: string): string {
  return `${APPLIED_DIR}/${unit}.applied`;
}

/**
 * The command that records what a service now runs with (run after a successful start/restart/
 * reload). umask 077: the record is a hash of files that may hold secrets (keepalived.conf), so
 * only root reads it.
 */
export function recordScript(unit: string, files: string[]): string {
  const p = quote(appliedPath(unit));
  return `umask 077 && mkdir -p ${APPLIED_DIR} && sha256sum -- ${files.map(quote).join(' ')} > ${p}.tmp 2>/dev/null; mv -f ${p}.tmp ${p}`;
}

/**
 * Compares on the host: prints `same`, `differs` or nothing (no record), never a hash (a hash of
 * keepalived.conf would let a log reader brute-force vrrp_auth_pass).
 */
export function probeScript(unit: string, files: string[]): string {
  const f = files.map(quote).join(' ');
  const rec = quote(appliedPath(unit));
  return [
    `echo @@applied; if [ -f ${rec} ]; then if sha256sum -- ${f} 2>/dev/null | cmp -s - ${rec}; then echo same; else echo differs; fi; fi`,
    `echo @@svc; systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix -- ${quote(unit)}`,
    `echo @@mtime; stat -c '%Y %n' -- ${f} 2>/dev/null`,
  ].join('\n');
}

export function parseProbe(out: string): { applied: 'same' | 'differs' | null; active: boolean; startedAt: number | null; mtimes: number[] } {
  const sec = new Map<string, string[]>();
  let cur: string[] = [];
  for (const l of out.split('\n')) {
    if (l.startsWith('@@')) sec.set(l.slice(2), (cur = []));
    else if (l.trim()) cur.push(l.trim());
  }
  const svc = new Map((sec.get('svc') ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const started = /^@(\d+)/.exec(svc.get('ExecMainStartTimestamp') ?? '');
  const applied = sec.get('applied') ?? [];
  const a = applied[0];
  return {
    applied: a === 'same' || a === 'differs' ? a : null,
    active: svc.get('ActiveState') === 'active',
    startedAt: started ? Number(started[1]) : null,
    mtimes: (sec.get('mtime') ?? []).map((l) => Number(l.split(' ')[0])).filter((n) => Number.isFinite(n)),
  };
}

/** Pure decision, table-tested. */
export function pendingReason(p: ReturnType<typeof parseProbe>): string | null {
  if (!p.active) return null; // the start task starts it with the files on disk
  if (p.applied !== null) return p.applied === 'same' ? null : 'running with an older config (a previous run stopped before restarting it)';
  if (p.startedAt !== null && p.mtimes.some((m) => m > p.startedAt!)) return 'the config changed after the service started, and no restart was recorded';
  return null;
}

export const appliedModule = defineModule<AppliedParams>({
  name: 'applied',
  describe: (p) => `${p.unit} runs the config on disk`,
  probe: (p) => ({ cmd: { script: probeScript(p.unit, p.files) }, become: true }),
  decide([r]) {
    const why = pendingReason(parseProbe(r?.stdout ?? ''));
    if (!why) return { change: false, why: 'running with the config on disk' };
    // the notified handler restarts or reloads it
    return { change: true, why, apply: async () => undefined };
  },
});
