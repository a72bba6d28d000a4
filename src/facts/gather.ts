// Facts: one command per host (one round trip), parsed by a pure function.
import { TaskFailed } from '../errors.js';
import { quote } from '../transport/quote.js';
import { markedSections } from './sections.js';
import type { Connection } from '../transport/types.js';
import type { Facts, InterfaceFact } from './types.js';

export const FACT_PACKAGES = ['keepalived', 'haproxy'];
export const FACT_SERVICES = ['keepalived', 'haproxy'];

const MARK = '@@kha@@';

/** The one fact-gathering script. Every section is marked so the parser can split it. */
export function factsScript(packages = FACT_PACKAGES, services = FACT_SERVICES, files: string[] = []): string {
  const pk = packages.map(quote).join(' ');
  const sv = services.map((s) => quote(`${s}.service`)).join(' ');
  const fl = files.map(quote).join(' ');
  return [
    `echo ${MARK}hostname; hostname 2>/dev/null || cat /etc/hostname`,
    `echo ${MARK}uid; id -u`,
    `echo ${MARK}os; cat /etc/os-release 2>/dev/null`,
    `echo ${MARK}pkgmgr; for m in apt-get dnf yum; do command -v $m >/dev/null 2>&1 && echo $m; done`,
    `echo ${MARK}systemd; test -d /run/systemd/system && echo yes || echo no`,
    `echo ${MARK}addr; ip -o -4 addr show 2>/dev/null`,
    `echo ${MARK}link; ip -o link show 2>/dev/null`,
    `echo ${MARK}pkgs; if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='\${Package} \${Version} \${db:Status-Abbrev}\\n' ${pk} 2>/dev/null; elif command -v rpm >/dev/null 2>&1; then rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE} ii\\n' ${pk} 2>/dev/null | grep -v 'not installed'; fi`,
    // only while a package is missing: apt's candidate is what the install will bring (versions.ts)
    `echo ${MARK}candidates; if command -v apt-cache >/dev/null 2>&1 && [ "$(dpkg-query -W -f='\${db:Status-Abbrev}\\n' ${pk} 2>/dev/null | grep -c '^ii')" -lt ${packages.length} ]; then apt-cache policy ${pk} 2>/dev/null | awk '/^[^ ]/{p=$1; sub(/:$/, "", p)} /^ +Candidate:/{print p, $2}'; fi`,
    `echo ${MARK}svc; systemctl show -p Id -p ActiveState -p UnitFileState ${sv} 2>/dev/null`,
    `echo ${MARK}listen; ss -Hltnp 2>/dev/null`,
    ...(files.length ? [`echo ${MARK}files; for f in ${fl}; do if [ -f "$f" ]; then sha256sum "$f"; else echo "- $f"; fi; done`] : []),
    `echo ${MARK}end`,
  ].join('\n');
}

/** the sections by trimmed name, without empty lines */
function sections(out: string): Map<string, string[]> {
  return new Map([...markedSections(out, MARK)].map(([name, lines]) => [name.trim(), lines.filter((l) => l.length)]));
}

function unquoteOs(v: string): string {
  const t = v.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}

/** Parse `ip -o -4 addr show` + `ip -o link show` into interfaces. */
export function parseInterfaces(addr: string[], link: string[]): InterfaceFact[] {
  const byName = new Map<string, InterfaceFact>();
  for (const l of link) {
    // "2: eth0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 ..."
    const m = /^\d+:\s+([^:@\s]+)(?:@[^:]+)?:\s+<([^>]*)>/.exec(l);
    if (!m) continue;
    const flags = m[2]!.split(',');
    byName.set(m[1]!, { name: m[1]!, ipv4: [], up: flags.includes('UP') });
  }
  for (const l of addr) {
    // "2: eth0    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\       valid_lft ..."
    const m = /^\d+:\s+([^\s@]+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(l);
    if (!m) continue;
    let f = byName.get(m[1]!);
    if (!f) byName.set(m[1]!, (f = { name: m[1]!, ipv4: [], up: true }));
    f.ipv4.push({ address: m[2]!, prefix: Number(m[3]) });
  }
  return [...byName.values()];
}

/** Parse `ss -Hltnp`. */
export function parseListening(lines: string[]): Facts['listening'] {
  const out: Facts['listening'] = [];
  for (const l of lines) {
    const cols = l.trim().split(/\s+/);
    // State Recv-Q Send-Q Local:Port Peer:Port Process
    const local = cols[3];
    if (!local) continue;
    const i = local.lastIndexOf(':');
    const port = Number(local.slice(i + 1));
    if (!Number.isInteger(port)) continue;
    const address = local
      .slice(0, i)
      .replace(/^\[|\]$/g, '')
      .replace(/%.*$/, '');
    const proc = /users:\(\("([^"]+)"/.exec(l)?.[1];
    out.push({ address, port, ...(proc ? { process: proc } : {}) });
  }
  return out;
}

export function parseFacts(out: string): Facts {
  const s = sections(out);
  if (!s.has('end')) throw new TaskFailed('gathering facts: the output was cut short', out.slice(-500));
  const osLines = s.get('os') ?? [];
  const osv = new Map<string, string>();
  for (const l of osLines) {
    const i = l.indexOf('=');
    if (i > 0) osv.set(l.slice(0, i), unquoteOs(l.slice(i + 1)));
  }
  const mgrs = s.get('pkgmgr') ?? [];
  const pkgMgr = mgrs.includes('apt-get') ? 'apt' : mgrs.includes('dnf') ? 'dnf' : mgrs.includes('yum') ? 'yum' : null;
  const packages: Record<string, string> = {};
  for (const l of s.get('pkgs') ?? []) {
    const [name, version, status] = l.trim().split(/\s+/);
    if (name && version && status?.startsWith('ii')) packages[name] = version;
  }
  const candidates: Record<string, string> = {};
  for (const l of s.get('candidates') ?? []) {
    const [name, version] = l.trim().split(/\s+/);
    if (name && version && version !== '(none)' && !packages[name]) candidates[name] = version;
  }
  const services: Facts['services'] = {};
  let id: string | undefined;
  let active = '';
  for (const l of s.get('svc') ?? []) {
    const [k, v = ''] = [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)];
    if (k === 'Id') id = v.replace(/\.service$/, '');
    else if (k === 'ActiveState') active = v;
    else if (k === 'UnitFileState' && id) {
      services[id] = { active, enabled: v };
      id = undefined;
    }
  }
  const files: Record<string, string | null> = {};
  for (const l of s.get('files') ?? []) {
    if (l.startsWith('- ')) files[l.slice(2)] = null;
    else {
      const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(l);
      if (m) files[m[2]!] = m[1]!;
    }
  }
  return {
    hostname: (s.get('hostname') ?? [])[0]?.trim() ?? '',
    uid: Number((s.get('uid') ?? [])[0] ?? NaN),
    os: {
      id: osv.get('ID') ?? 'unknown',
      idLike: (osv.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean),
      versionId: osv.get('VERSION_ID') ?? '',
      prettyName: osv.get('PRETTY_NAME') ?? osv.get('NAME') ?? 'unknown',
    },
    pkgMgr,
    systemd: (s.get('systemd') ?? [])[0] === 'yes',
    interfaces: parseInterfaces(s.get('addr') ?? [], s.get('link') ?? []),
    packages,
    ...(Object.keys(candidates).length ? { candidates } : {}),
    services,
    listening: parseListening(s.get('listen') ?? []),
    files,
  };
}

export async function gatherFacts(conn: Connection, files: string[] = []): Promise<Facts> {
  const r = await conn.exec({ script: factsScript(FACT_PACKAGES, FACT_SERVICES, files) }, { become: true, timeoutMs: 30_000 });
  if (r.code !== 0 && !r.stdout.includes(`${MARK}end`)) {
    throw new TaskFailed(`gathering facts failed (exit ${r.code})`, r.stderr.trim().split('\n').slice(-5).join('\n'));
  }
  return parseFacts(r.stdout);
}
