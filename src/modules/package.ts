// package: present / latest, apt (noninteractive, lock wait) or dnf/yum.
import type { Module } from '../engine/types.js';
import { TaskFailed } from '../engine/types.js';
import { quote } from '../transport/quote.js';
import { must } from './util.js';

export interface PackageParams {
  names: string[];
  state?: 'present' | 'latest';
  /** pinned versions, name -> version */
  versions?: Record<string, string>;
  /** keep maintainer scripts from starting services (apt: policy-rc.d while installing); kha starts them in order */
  noStart?: boolean;
  /** refresh the package lists first (apt-get update), e.g. before upgrading to the latest */
  updateCache?: boolean;
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
    lines.push(`${apt} install ${opts.latest ? '--only-upgrade ' : ''}--no-install-recommends ${pk} || { ${apt} update && ${apt} install --no-install-recommends ${pk}; }`);
    return lines.join('\n');
  }
  return `${mgr} -y ${opts.latest ? 'upgrade' : 'install'} ${pk}`;
}

export const packageModule: Module<PackageParams> = {
  name: 'package',
  describe: (p) => `install ${p.names.join(', ')}${p.state === 'latest' ? ' (latest)' : ''}`,
  async plan(ctx, p) {
    for (const n of p.names) if (!NAME.test(n)) throw new TaskFailed(`package name ${JSON.stringify(n)} is not valid`);
    for (const [n, v] of Object.entries(p.versions ?? {})) if (!VERSION.test(v)) throw new TaskFailed(`version ${JSON.stringify(v)} of ${n} is not valid`);
    const mgr = ctx.facts.pkgMgr;
    if (!mgr) throw new TaskFailed(`no supported package manager on ${ctx.facts.os.prettyName} (kha supports apt, dnf and yum)`);
    const r = await ctx.conn.exec({ script: installedQuery(p.names) }, { become: false });
    const have = parseInstalled(r.stdout);
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
      if (p.updateCache && mgr === 'apt' && !ctx.check) {
        await must(ctx.conn, { script: 'DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 update' }, 'apt-get update', { timeoutMs: 300_000 });
      }
      // apt: ask what an upgrade would do, without changing anything
      const sim = mgr === 'apt'
        ? await ctx.conn.exec({ script: `apt-get -s -q install --only-upgrade ${p.names.map(quote).join(' ')} 2>/dev/null | grep '^Inst ' || true` }, { become: false })
        : await ctx.conn.exec({ script: `${mgr} -q check-update ${p.names.map(quote).join(' ')} >/dev/null 2>&1; echo rc=$?` }, { become: true });
      for (const n of p.names) {
        const upgradable = mgr === 'apt' ? new RegExp(`^Inst ${n.replace(/[.+]/g, '\\$&')} `, 'm').test(sim.stdout) : /rc=100/.test(sim.stdout);
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
      apply: async () => {
        await must(ctx.conn, { script: installScript(mgr, specs, { latest: p.state === 'latest', noStart: p.noStart ?? false }) }, `${mgr} install ${specs.join(' ')}`, { timeoutMs: 900_000 });
      },
    };
  },
};
