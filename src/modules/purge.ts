// purge: remove exactly the packages an install recorded (package module's `record`: every
// package the install added, its dependencies included), never one that was on the host before.
// The probe reads the record, the state of the recorded and the `known` packages, and asks the
// package manager what removing the recorded ones would take with it (apt-get -s purge, rpm -e
// --test). A removal that would take a package kha did not install is refused before anything
// is removed: apt would otherwise remove the packages that depend on kha's.
import { defineModule } from '../engine/plan-tasks.js';
import type { ModuleContext } from '../engine/types.js';
import { markedSections } from '../facts/sections.js';
import { TaskFailed } from '../errors.js';
import { quote } from '../transport/quote.js';
import { lastLines, must } from './util.js';

export interface PurgeParams {
  /** the record the package module keeps (PackageParams.record), one package name a line */
  record: string;
  /** packages kha's roles install: named when they stay (installed, but not recorded: there before kha) */
  known: string[];
}

const NAME = /^[a-z0-9][a-z0-9+.-]*$/;
const PATH = /^(\/[A-Za-z0-9._-]+)+$/;
const MARK = '@@kha-purge@@';

const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120';

function managerOf(ctx: ModuleContext): 'apt' | 'rpm' {
  const mgr = ctx.facts.pkgMgr;
  if (!mgr) throw new TaskFailed(`no supported package manager on ${ctx.facts.os.prettyName} (kha supports apt, dnf and yum)`);
  return mgr === 'apt' ? 'apt' : 'rpm';
}

/**
 * One probe: the record's valid names, the state of every recorded and known package (`name
 * version state`; state `ii` installed, `rc` only its config files left) and what removing the
 * recorded ones would remove (apt: its Purg/Remv lines; rpm: its dependency errors), then `rc=N`.
 */
export function purgeProbeScript(p: PurgeParams, mgr: 'apt' | 'rpm'): string {
  const rec = quote(p.record);
  const valid = `sed -n '/^[a-z0-9][a-z0-9+.-]*$/p' ${rec} 2>/dev/null`;
  const status =
    mgr === 'apt'
      ? `xargs -r dpkg-query -W -f='\${Package} \${Version} \${db:Status-Abbrev}\\n' 2>/dev/null`
      : `xargs -r rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE} ii\\n' 2>/dev/null | grep -v 'not installed'`;
  const known = p.known.map(quote).join(' ');
  // the recorded packages still on the host (installed, or their config files left)
  const mine = `${valid} | ${status} | awk '$NF ~ /^.[ic]/ {print $1}'`;
  const sim =
    mgr === 'apt'
      ? `out=$(apt-get -s -q purge $names 2>&1); rc=$?; printf '%s\\n' "$out" | grep -E '^(Purg|Remv|E:) '; echo "rc=$rc"`
      : `out=$(rpm -e --test $names 2>&1); rc=$?; printf '%s\\n' "$out"; echo "rc=$rc"`;
  return [
    `echo ${MARK}record; ${valid}`,
    `echo ${MARK}status; { ${valid}; printf '%s\\n' ${known}; } | LC_ALL=C sort -u | ${status}`,
    `echo ${MARK}sim; names=$(${mine} | tr '\\n' ' '); if [ -n "$names" ]; then ${sim}; fi`,
    `echo ${MARK}end`,
  ].join('\n');
}

export interface PurgeFacts {
  recorded: string[];
  /** name -> { version, state } (state: dpkg's two-letter abbreviation, `ii` for rpm) */
  status: Map<string, { version: string; state: string }>;
  /** names the package manager would remove (apt), or that need the recorded ones (rpm) */
  removes: string[];
  /** rpm: `X is needed by (installed) Y` -> Y */
  neededBy: string[];
  /** the package manager's own error (apt's E: line), when the simulation failed */
  error?: string;
}

export function parsePurgeProbe(out: string): PurgeFacts {
  const sec = markedSections(out, MARK);
  const lines = (name: string) => (sec.get(name) ?? []).map((l) => l.trim()).filter(Boolean);
  const status = new Map<string, { version: string; state: string }>();
  for (const l of lines('status')) {
    const f = l.split(/\s+/);
    if (f.length < 2) continue;
    status.set(f[0]!, { version: f.length > 2 ? f[1]! : '', state: f[f.length - 1]! });
  }
  const sim = lines('sim');
  const rc = sim.find((l) => /^rc=\d+$/.test(l));
  const removes = sim.flatMap((l) => /^(?:Purg|Remv) (\S+)/.exec(l)?.[1] ?? []);
  const neededBy = sim.flatMap((l) => /is needed by \(installed\) (\S+)/.exec(l)?.[1] ?? []);
  const apt = sim.filter((l) => l.startsWith('E:')).pop();
  const failed = rc !== undefined && rc !== 'rc=0' && neededBy.length === 0;
  return {
    recorded: lines('record').filter((n) => NAME.test(n)),
    status,
    removes,
    neededBy,
    ...(failed ? { error: apt ?? (lastLines(sim.filter((l) => !l.startsWith('rc=')).join('\n'), 1) || rc) } : {}),
  };
}

export interface PurgePlan {
  /** recorded and still on the host: what the purge removes */
  purge: string[];
  /** known packages installed but not recorded: they stay */
  keep: string[];
  /** packages the removal would take that kha did not install */
  others: string[];
}

/** Pure: what a purge does on this host. */
export function purgePlan(f: PurgeFacts, p: PurgeParams): PurgePlan {
  const on = (n: string) => /^.[ic]/.test(f.status.get(n)?.state ?? '');
  const purge = f.recorded.filter(on);
  const keep = p.known.filter((n) => /^.i/.test(f.status.get(n)?.state ?? '') && !f.recorded.includes(n));
  const others = [...new Set([...f.removes.map((n) => n.replace(/:[a-z0-9]+$/, '')).filter((n) => !purge.includes(n)), ...f.neededBy])];
  return { purge, keep, others };
}

/** `keepalived, haproxy and 9 packages they pulled in (liblua5.3-0, ...)`: the known ones by name first. */
export function purgeWords(plan: PurgePlan, known: readonly string[]): string {
  const top = plan.purge.filter((n) => known.includes(n));
  const deps = plan.purge.filter((n) => !known.includes(n));
  const depWords = deps.length
    ? `${deps.length} package${deps.length > 1 ? 's' : ''} the install pulled in (${deps.slice(0, 4).join(', ')}${deps.length > 4 ? ', ...' : ''})`
    : '';
  return [top.join(', '), depWords].filter(Boolean).join(' and ');
}

function keepWords(plan: PurgePlan, f: PurgeFacts): string {
  if (!plan.keep.length) return '';
  const list = plan.keep.map((n) => `${n} ${f.status.get(n)?.version ?? ''}`.trim()).join(', ');
  return `; ${list} stay${plan.keep.length === 1 ? 's' : ''}: installed, but not by kha (there before kha, or installed by a kha without the record)`;
}

export function purgeScript(mgr: 'apt' | 'rpm', names: string[]): string {
  for (const n of names) if (!NAME.test(n)) throw new TaskFailed(`package name ${JSON.stringify(n)} is not valid`);
  const pk = names.map(quote).join(' ');
  return mgr === 'apt' ? `${APT} purge ${pk}` : `rpm -e ${pk}`;
}

export const purgeModule = defineModule<PurgeParams>({
  name: 'purge',
  describe: () => 'purge the packages kha installed',
  probe(p, ctx) {
    if (!PATH.test(p.record)) throw new TaskFailed(`record path ${JSON.stringify(p.record)} is not valid`);
    for (const n of p.known) if (!NAME.test(n)) throw new TaskFailed(`package name ${JSON.stringify(n)} is not valid`);
    return { cmd: { script: purgeProbeScript(p, managerOf(ctx)) }, become: true, timeoutMs: 120_000 };
  },
  decide([r], p, ctx) {
    const mgr = managerOf(ctx);
    const f = parsePurgeProbe(r?.stdout ?? '');
    const plan = purgePlan(f, p);
    const keep = keepWords(plan, f);
    if (plan.purge.length === 0) {
      return { change: false, why: `${f.recorded.length ? 'the packages kha installed are gone already' : 'no package recorded as installed by kha'}${keep}` };
    }
    if (plan.others.length) {
      throw new TaskFailed(
        `purging what kha installed (${plan.purge.join(', ')}) would also remove ${plan.others.join(', ')}, which kha did not install; nothing was purged: keep the packages (kha reset without --purge) or remove them by hand`,
      );
    }
    if (f.error) throw new TaskFailed(`the package manager cannot plan the purge of ${plan.purge.join(', ')}: ${f.error}`);
    return {
      change: true,
      why: `purge ${purgeWords(plan, p.known)}${keep}`,
      apply: async (hc) => void (await must(hc.conn, { script: purgeScript(mgr, plan.purge) }, `purge ${plan.purge.join(' ')}`, { timeoutMs: 900_000 })),
    };
  },
});
