// kha status: who holds the VIP, what keepalived itself says, services, backends, drift.
// Read-only: one facts command plus one status command per host, all hosts in parallel.
import type { RunContext } from '../engine/context.js';
import { describeError } from '../errors.js';
import { markedSections } from '../facts/sections.js';
import type { HaSettings } from '../inventory/settings.js';
import { sha256 } from '../modules/template.js';
import { keyedHash, keyedHashScript } from '../modules/secret-file.js';
import { quote } from '../transport/quote.js';
import { NOTIFY_STATE_FILE, parseNotifyState } from '../roles/files.js';
import { HAPROXY_BACKEND } from '../roles/haproxy.js';
import { HAPROXY_CFG, KEEPALIVED_CONF, STATS_SOCKET, desiredFiles } from '../roles/ha.js';
import { preflightChecks } from './preflight.js';
import { haproxyStatScript, parseHaproxyStat } from './probes.js';
import { BOOTSTRAP_LINE, checkCertSans } from './bootstrap.js';

export interface HostStatus {
  name: string;
  address: string;
  reachable: boolean;
  error?: string;
  vrrpState: string;
  holdsVip: boolean;
  keepalived: { active: string; version: string | null };
  haproxy: { active: string; version: string | null };
  backendsUp: number | null;
  backendsTotal: number | null;
  backendsDown: string[];
  /** managed files whose content differs from what the inventory renders */
  drift: string[];
}

export interface StatusReport {
  vip: string;
  frontendPort: number;
  holders: string[];
  healthy: boolean;
  problem?: string;
  /** no load balancer's haproxy counts an apiserver up: before kubeadm init (or a full outage) */
  bootstrap: boolean;
  /** serving certificates (read through the VIP and from each master up) that miss a certSANs entry */
  certProblems: string[];
  /** why the certificates were not read (openssl missing on the holder) */
  certNote?: string;
  hosts: HostStatus[];
}

const MARK = '@@kha-status@@';

/**
 * `files`: the managed files to check for drift, each printed as `<hash>  <path>` or `- <path>`;
 * a secret-bearing file (redact) by its keyed hash (src/modules/secret-file.ts), never a plain one.
 */
export function statusScript(files: Array<{ path: string; redact?: readonly string[] }>): string {
  const one = (f: { path: string; redact?: readonly string[] }) => {
    const q = quote(f.path);
    const hash = f.redact ? `h=$(${keyedHashScript(f.path)}); echo "\${h%% *}  "${q}` : `sha256sum -- ${q}`;
    return `if [ -f ${q} ]; then ${hash}; else echo "- "${q}; fi`;
  };
  return [
    `echo ${MARK}state; cat ${quote(NOTIFY_STATE_FILE)} 2>/dev/null`,
    `echo ${MARK}stat; ${haproxyStatScript(STATS_SOCKET)} 2>/dev/null`,
    `echo ${MARK}files`,
    ...files.map(one),
    `echo ${MARK}end`,
  ].join('\n');
}

function split(out: string): Map<string, string> {
  return new Map([...markedSections(out, MARK)].map(([name, lines]) => [name, lines.join('\n')]));
}

export async function status(run: RunContext, s: HaSettings): Promise<StatusReport> {
  const hosts = s.lbHosts;
  await Promise.allSettled(hosts.map((h) => run.facts0(h, true)));
  const facts = Object.fromEntries(hosts.filter((h) => run.facts.has(h)).map((h) => [h, run.facts.get(h)!]));
  const pf = preflightChecks(s, facts);
  const rows = await Promise.all(
    hosts.map(async (h): Promise<HostStatus> => {
      const f = run.facts.get(h);
      const base: HostStatus = {
        name: h,
        address: pf.net[h]?.address ?? s.hosts[h]!.address,
        reachable: Boolean(f),
        vrrpState: 'UNKNOWN',
        holdsVip: pf.holders.includes(h),
        keepalived: { active: f?.services.keepalived?.active ?? 'unknown', version: f?.packages.keepalived ?? null },
        haproxy: { active: f?.services.haproxy?.active ?? 'unknown', version: f?.packages.haproxy ?? null },
        backendsUp: null,
        backendsTotal: null,
        backendsDown: [],
        drift: [],
      };
      if (!f) {
        base.vrrpState = 'UNREACHABLE';
        base.error = 'unreachable';
        return base;
      }
      try {
        const want = pf.net[h] ? desiredFiles(s, pf.net, h).filter((x) => x.path === KEEPALIVED_CONF || x.path === HAPROXY_CFG) : [];
        const conn = await run.connector.get(run.host(h));
        const r = await conn.exec({ script: statusScript(want) }, { become: true, timeoutMs: 15_000 });
        const sec = split(r.stdout);
        const st = parseNotifyState(sec.get('state') ?? '');
        base.vrrpState = base.keepalived.active !== 'active' ? 'STOPPED' : (st?.state ?? 'UNKNOWN');
        const servers = parseHaproxyStat(sec.get('stat') ?? '').filter((b) => b.backend === HAPROXY_BACKEND);
        if (servers.length) {
          base.backendsTotal = servers.length;
          base.backendsUp = servers.filter((b) => b.status.startsWith('UP')).length;
          base.backendsDown = servers.filter((b) => !b.status.startsWith('UP')).map((b) => b.server);
        }
        const hashes = new Map<string, string | null>();
        for (const l of (sec.get('files') ?? '').split('\n')) {
          if (l.startsWith('- ')) hashes.set(l.slice(2), null);
          const m = /^([0-9a-f]{64})\s+(.+)$/.exec(l);
          if (m) hashes.set(m[2]!, m[1]!);
        }
        for (const w of want) if (hashes.get(w.path) !== (w.redact ? keyedHash(w.content) : sha256(w.content))) base.drift.push(w.path);
      } catch (err) {
        base.error = describeError(err);
      }
      return base;
    }),
  );
  const holders = rows.filter((r) => r.holdsVip).map((r) => r.name);
  const problem =
    holders.length === 0
      ? `no host holds the VIP ${s.vip}`
      : holders.length > 1
        ? `split brain: ${holders.join(' and ')} all hold the VIP ${s.vip}`
        : undefined;
  const counted = rows.filter((r) => r.backendsTotal !== null);
  const bootstrap = counted.length > 0 && counted.every((r) => r.backendsUp === 0);
  let certProblems: string[] = [];
  let certNote: string | undefined;
  const holderRow = holders.length === 1 ? rows.find((r) => r.name === holders[0]) : undefined;
  if (holderRow && holderRow.backendsUp) {
    try {
      const upNames = s.masters.filter((m) => !holderRow.backendsDown.includes(m));
      const c = await checkCertSans(await run.connector.get(run.host(holderRow.name)), s, upNames);
      certProblems = c.problems;
      certNote = c.note;
    } catch (err) {
      certNote = `the apiserver certificates' SANs were not checked: ${describeError(err)}`;
    }
  }
  return {
    vip: s.vip,
    frontendPort: s.frontendPort,
    holders,
    healthy: !problem,
    ...(problem ? { problem } : {}),
    bootstrap,
    certProblems,
    ...(certNote ? { certNote } : {}),
    hosts: rows,
  };
}

/** The human table. Pure. */
export function renderStatusTable(r: StatusReport): string {
  const head = ['HOST', 'ADDRESS', 'VRRP', 'VIP', 'KEEPALIVED', 'HAPROXY', 'BACKENDS', 'DRIFT'];
  const rows = r.hosts.map((h) => [
    h.name,
    h.address,
    h.vrrpState,
    h.holdsVip ? 'yes' : '-',
    h.reachable ? `${h.keepalived.active} ${h.keepalived.version ?? '(not installed)'}` : '-',
    h.reachable ? `${h.haproxy.active} ${h.haproxy.version ?? '(not installed)'}` : '-',
    h.backendsTotal === null ? '-' : `${h.backendsUp}/${h.backendsTotal}${h.backendsDown.length ? ` (down: ${h.backendsDown.join(',')})` : ''}`,
    h.drift.length ? h.drift.map((p) => p.split('/').pop()).join(',') : h.reachable ? 'none' : '-',
  ]);
  const w = head.map((_, i) => Math.max(head[i]!.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const lines = [`VIP ${r.vip}:${r.frontendPort}  holder: ${r.holders.join(', ') || 'none'}${r.problem ? `  PROBLEM: ${r.problem}` : ''}`, fmt(head), ...rows.map(fmt)];
  for (const h of r.hosts) if (h.error && h.error !== 'unreachable') lines.push(`${h.name}: ${h.error}`);
  if (r.bootstrap) lines.push(`${BOOTSTRAP_LINE} (expected before kubeadm init; the VIP stays where it is and reaches the first apiserver that starts)`);
  for (const p of r.certProblems) lines.push(`warning: ${p}`);
  if (r.certNote) lines.push(r.certNote);
  return `${lines.join('\n')}\n`;
}
