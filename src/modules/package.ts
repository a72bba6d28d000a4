// package: present / latest, apt (noninteractive, lock wait) or dnf/yum.
import { defineModule } from '../engine/plan-tasks.js';
import type { ModuleContext, Probe } from '../engine/types.js';
import { TaskFailed } from '../errors.js';
import { quote } from '../transport/quote.js';
import { assertOk, must } from './util.js';

export interface PackageParams {
  names: string[];
  state?: 'present' | 'latest';
  /** pinned versions, name -> version */
  versions?: Record<string, string>;
  /** keep maintainer scripts from starting services (apt: policy-rc.d while installing); kha starts them in order */
  noStart?: boolean;
  /** refresh the package lists first (apt-get update), e.g. before upgrading to the latest */
  updateCache?: boolean;
  /**
   * Record on the host, one name a line in this file, every package the install added (the ones
   * asked for and the dependencies they pulled in): `kha reset --purge` removes exactly those.
   */
  record?: string;
}

const NAME = /^[a-z0-9][a-z0-9+.-]*$/;
const VERSION = /^[A-Za-z0-9.:+~-]+$/;

export function installedQuery(names: string[]): string {
  const q = names.map(quote).join(' ');
  return `if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='\${Package} \${Version} \${db:Status-Abbrev}\\n' ${q} 2>/dev/null; else rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE} ii\\n' ${q} 2>/dev/null | grep -v 'not installed'; fi; true`;
}

export function parseInstalled(out: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const l of out.split('\n')) {
    const [n, v, st] = l.trim().split(/\s+/);
    if (n && v && st?.startsWith('ii')) r[n] = v;
  }
  return r;
}

/** The install script for a package manager. Pure: tested as data. */
export function installScript(mgr: 'apt' | 'dnf' | 'yum', specs: string[], opts: { latest: boolean; noStart: boolean }): string {
  const pk = specs.map(quote).join(' ');
  if (mgr === 'apt') {
    const apt = 'DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold';
    const lines = [
      'set -e',
      // refresh the package lists when they are missing or older than a day (Ansible's cache_valid_time)
      `if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then ${apt} update; fi`,
    ];
    if (opts.noStart) {
      lines.push(
        'kha_prc=0; if [ ! -e /usr/sbin/policy-rc.d ]; then printf "#!/bin/sh\\nexit 101\\n" > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; kha_prc=1; fi',
        'trap \'[ "$kha_prc" = 1 ] && rm -f /usr/sbin/policy-rc.d\' EXIT',
      );
    }
    lines.push(
      `${apt} install ${opts.latest ? '--only-upgrade ' : ''}--no-install-recommends ${pk} || { ${apt} update && ${apt} install --no-install-recommends ${pk}; }`,
    );
    return lines.join('\n');
  }
  return `${mgr} -y ${opts.latest ? 'upgrade' : 'install'} ${pk}`;
}

/** Every installed package's name, one a line, sorted (apt or rpm). */
export const INSTALLED_NAMES =
  "if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' | awk '$1 ~ /^.i/ {print $2}'; else rpm -qa --qf '%{NAME}\\n'; fi | LC_ALL=C sort -u";

/**
 * `install` wrapped so that the packages it added (installed after, not before) are added to
 * `record` (kept sorted, each name once). Nothing is recorded when the install fails. Pure.
 */
export function recordingScript(install: string, record: string): string {
  const r = quote(record);
  const dir = quote(record.replace(/\/[^/]*$/, '') || '/');
  return [
    'kha_before=$(mktemp) || exit 1',
    `{ ${INSTALLED_NAMES}; } > "$kha_before"`,
    `( ${install}\n) || { kha_rc=$?; rm -f -- "$kha_before"; exit $kha_rc; }`,
    `mkdir -p -- ${dir} && { ${INSTALLED_NAMES}; } | LC_ALL=C comm -13 "$kha_before" - | cat - ${r} 2>/dev/null | LC_ALL=C sort -u > ${quote(`${record}.tmp`)} && mv -f -- ${quote(`${record}.tmp`)} ${r}`,
    'kha_rc=$?; rm -f -- "$kha_before"; exit $kha_rc',
  ].join('\n');
}

const UPDATE = 'DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 update';

/** apt-get update before the upgrade simulation: state latest with updateCache, apt, outside check mode. */
const refreshes = (p: PackageParams, ctx: ModuleContext) => p.state === 'latest' && !!p.updateCache && ctx.facts.pkgMgr === 'apt' && !ctx.check;

function managerOf(ctx: ModuleContext): 'apt' | 'dnf' | 'yum' {
  const mgr = ctx.facts.pkgMgr;
  if (!mgr) throw new TaskFailed(`no supported package manager on ${ctx.facts.os.prettyName} (kha supports apt, dnf and yum)`);
  return mgr;
}

export const packageModule = defineModule<PackageParams>({
  name: 'package',
  describe: (p) => `install ${p.names.join(', ')}${p.state === 'latest' ? ' (latest)' : ''}`,
  // the installed versions; for state latest also what an upgrade would do (apt: a simulation),
  // after refreshing the package lists when asked (the one probe that writes: apt's lists only)
  probe(p, ctx) {
    if (p.record !== undefined && !/^(\/[A-Za-z0-9._-]+)+$/.test(p.record)) throw new TaskFailed(`record path ${JSON.stringify(p.record)} is not valid`);
    for (const n of p.names) if (!NAME.test(n)) throw new TaskFailed(`package name ${JSON.stringify(n)} is not valid`);
    for (const [n, v] of Object.entries(p.versions ?? {})) if (!VERSION.test(v)) throw new TaskFailed(`version ${JSON.stringify(v)} of ${n} is not valid`);
    const mgr = managerOf(ctx);
    const probes: Probe[] = [{ cmd: { script: installedQuery(p.names) }, become: false }];
    if (p.state !== 'latest') return probes;
    if (refreshes(p, ctx)) probes.push({ cmd: { script: UPDATE }, become: true, timeoutMs: 300_000 });
    const q = p.names.map(quote).join(' ');
    probes.push(
      mgr === 'apt'
        ? { cmd: { script: `apt-get -s -q install --only-upgrade ${q} 2>/dev/null | grep '^Inst ' || true` }, become: false }
        : { cmd: { script: `${mgr} -q check-update ${q} >/dev/null 2>&1; echo rc=$?` }, become: true },
    );
    return probes;
  },
  decide(results, p, ctx) {
    const mgr = managerOf(ctx);
    const [installed, ...rest] = results;
    const have = parseInstalled(installed?.stdout ?? '');
    const want: string[] = [];
    const reasons: string[] = [];
    for (const n of p.names) {
      const pin = p.versions?.[n];
      if (!have[n]) {
        want.push(n);
        reasons.push(`${n} missing`);
      } else if (pin && !have[n]!.startsWith(pin)) {
        want.push(n);
        reasons.push(`${n} ${have[n]} != ${pin}`);
      }
    }
    if (p.state === 'latest') {
      if (refreshes(p, ctx)) assertOk(rest.shift(), { script: UPDATE }, 'apt-get update');
      const sim = rest[0]?.stdout ?? '';
      for (const n of p.names) {
        const upgradable = mgr === 'apt' ? new RegExp(`^Inst ${n.replace(/[.+]/g, '\\$&')} `, 'm').test(sim) : /rc=100/.test(sim);
        if (upgradable && !want.includes(n)) {
          want.push(n);
          reasons.push(`${n} upgradable`);
        }
      }
    }
    if (want.length === 0) {
      return { change: false, why: `installed: ${p.names.map((n) => `${n} ${have[n]}`).join(', ')}` };
    }
    const specs = want.map((n) => {
      const pin = p.versions?.[n];
      if (!pin) return n;
      return mgr === 'apt' ? `${n}=${pin}` : `${n}-${pin}`;
    });
    return {
      change: true,
      why: reasons.join(', '),
      apply: async (hc) => {
        const install = installScript(mgr, specs, { latest: p.state === 'latest', noStart: p.noStart ?? false });
        await must(hc.conn, { script: p.record ? recordingScript(install, p.record) : install }, `${mgr} install ${specs.join(' ')}`, { timeoutMs: 900_000 });
      },
    };
  },
});
