// The keepalived and haproxy versions a host runs, or is about to run, and what follows from them:
// whether kha supports the host, and which version-dependent keywords its configs may carry.
// Pure: facts + pins -> versions -> features; each rule is a table test (test/unit/versions.test.ts).
//
// Where a version comes from, first match wins:
//   pinned     keepalived_version / haproxy_version in the inventory (what the install will put there)
//   installed  dpkg / rpm (the package is there and no pin replaces it)
//   candidate  apt-cache policy's candidate (gathered only while a package is missing)
//   release    what the host's OS release ships (RELEASE_PACKAGES), when nothing above answers
import type { Facts } from './types.js';

export type Version = readonly [number, number, number];
export type VersionSource = 'pinned' | 'installed' | 'candidate' | 'release';
export type HaPackage = 'keepalived' | 'haproxy';

/** '1:2.1.5-0.2+deb11u1' (epoch, Debian revision), '2.2.8-3.el9', '3.0.11' -> [major, minor, patch]; null when not a version */
export function parseVersion(v: string | undefined): Version | null {
  if (!v) return null;
  const m = /^(?:\d+:)?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

export function formatVersion(v: Version): string {
  return v.join('.');
}

export function atLeast(v: Version, min: Version): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

export interface ReleasePackages {
  /** os-release ID (or one of ID_LIKE for the RHEL family) */
  id: 'debian' | 'ubuntu' | 'rhel';
  /** VERSION_ID's major part ('11', '22.04', '9') */
  version: string;
  name: string;
  keepalived: Version;
  haproxy: Version;
  /** 'proven': kha's integration tests run on real hosts of it; 'rendered': its versions' configs are unit-tested only */
  proof: 'proven' | 'rendered';
}

/** What each release's own archive ships (checked on Debian's mirror for 11-13; distribution package lists for the others). */
export const RELEASE_PACKAGES: readonly ReleasePackages[] = [
  { id: 'debian', version: '11', name: 'Debian 11 (bullseye)', keepalived: [2, 1, 5], haproxy: [2, 2, 9], proof: 'proven' },
  { id: 'debian', version: '12', name: 'Debian 12 (bookworm)', keepalived: [2, 2, 7], haproxy: [2, 6, 12], proof: 'proven' },
  { id: 'debian', version: '13', name: 'Debian 13 (trixie)', keepalived: [2, 3, 3], haproxy: [3, 0, 11], proof: 'proven' },
  { id: 'ubuntu', version: '20.04', name: 'Ubuntu 20.04', keepalived: [2, 0, 19], haproxy: [2, 0, 13], proof: 'rendered' },
  { id: 'ubuntu', version: '22.04', name: 'Ubuntu 22.04', keepalived: [2, 2, 4], haproxy: [2, 4, 24], proof: 'rendered' },
  { id: 'ubuntu', version: '24.04', name: 'Ubuntu 24.04', keepalived: [2, 2, 8], haproxy: [2, 8, 5], proof: 'rendered' },
  { id: 'rhel', version: '8', name: 'RHEL 8 family', keepalived: [2, 1, 5], haproxy: [1, 8, 27], proof: 'rendered' },
  { id: 'rhel', version: '9', name: 'RHEL 9 family', keepalived: [2, 2, 8], haproxy: [2, 4, 22], proof: 'rendered' },
];

/**
 * The oldest versions kha supports. haproxy 2.2: `http-check send` (the apiserver health check
 * with its path) and `http-check expect` exist from 2.2 on; 1.8 (RHEL 8) and 2.0 (Ubuntu 20.04)
 * have only the older `option httpchk <method> <uri>` form and no Prometheus exporter, so they
 * are refused rather than half-served. keepalived 2.1.5: the oldest kha runs on real hosts
 * (track_file with init_file, vrrp_notify_fifo_script, init_fail all parse there).
 */
export const MIN_VERSIONS: Readonly<Record<HaPackage, Version>> = { keepalived: [2, 1, 5], haproxy: [2, 2, 0] };

/** Keywords kha writes only where the version has them, and what stands in for them elsewhere. */
export interface KeywordGate {
  feature: keyof Features;
  pkg: HaPackage;
  keywords: readonly string[];
  since: Version;
  /** what the config does without them, and why that is still safe */
  without: string;
}

export interface Features {
  /** haproxy {cli,srv}tcpka-{idle,intvl,cnt}: per-session TCP keepalive timers */
  tcpKeepaliveTimers: boolean;
  /** keepalived unicast_fault_no_peer */
  unicastFaultNoPeer: boolean;
}

export const KEYWORD_GATES: readonly KeywordGate[] = [
  {
    feature: 'tcpKeepaliveTimers',
    pkg: 'haproxy',
    keywords: ['clitcpka-idle', 'clitcpka-intvl', 'clitcpka-cnt', 'srvtcpka-idle', 'srvtcpka-intvl', 'srvtcpka-cnt'],
    // added during 2.3's development; 2.2.9 (Debian 11) refuses them, 2.4 (the next LTS) has them
    since: [2, 4, 0],
    without:
      "option clitcpka/srvtcpka stay, on the kernel's timers (net.ipv4.tcp_keepalive_time, 2 h by default): an idle watch through a holder that lost the VIP is found when the client next writes, or after the kernel's keepalive; lower the sysctl on such hosts to get kha's 10 s + 3 x 3 s",
  },
  {
    feature: 'unicastFaultNoPeer',
    pkg: 'keepalived',
    keywords: ['unicast_fault_no_peer'],
    since: [2, 2, 4],
    without:
      'left out: it only decides what an instance with an empty unicast_peer block does (FAULT instead of multicast), and kha never writes an empty block (a single load balancer gets no unicast block at all), so every unicast instance kha writes has peers and stays unicast',
  },
];

export const ALL_FEATURES: Readonly<Features> = { tcpKeepaliveTimers: true, unicastFaultNoPeer: true };

export interface PackageVersion {
  version: Version;
  from: VersionSource;
}

export type HostVersions = Partial<Record<HaPackage, PackageVersion>>;

/** The release row of a host, from os-release (the RHEL family by ID_LIKE). */
export function releaseOf(os: Facts['os']): ReleasePackages | undefined {
  const family =
    os.id === 'debian' || os.id === 'ubuntu'
      ? os.id
      : ['rhel', 'centos', 'rocky', 'almalinux', 'ol'].includes(os.id) || os.idLike.includes('rhel')
        ? 'rhel'
        : undefined;
  const v = os.versionId;
  return RELEASE_PACKAGES.find((r) => r.id === family && (family === 'ubuntu' ? v === r.version : v.split('.')[0] === r.version));
}

/** Each package's version on this host, or about to be (see the header for the order). */
export function hostVersions(facts: Pick<Facts, 'os' | 'packages' | 'candidates'>, pins: Partial<Record<HaPackage, string | undefined>> = {}): HostVersions {
  const rel = releaseOf(facts.os);
  const out: HostVersions = {};
  for (const pkg of ['keepalived', 'haproxy'] as const) {
    const pinned = parseVersion(pins[pkg]);
    const installed = parseVersion(facts.packages[pkg]);
    const candidate = parseVersion(facts.candidates?.[pkg]);
    const pv: PackageVersion | undefined = pinned
      ? { version: pinned, from: 'pinned' }
      : installed
        ? { version: installed, from: 'installed' }
        : candidate
          ? { version: candidate, from: 'candidate' }
          : rel
            ? { version: rel[pkg], from: 'release' }
            : undefined;
    if (pv) out[pkg] = pv;
  }
  return out;
}

/** The keywords this host's versions accept; an unknown version gets every feature (validation on the host is the backstop). */
export function featuresOf(v: HostVersions): Features {
  const f = { ...ALL_FEATURES };
  for (const g of KEYWORD_GATES) {
    const have = v[g.pkg];
    if (have && !atLeast(have.version, g.since)) f[g.feature] = false;
  }
  return f;
}

const SUPPORTED_LINE = `kha supports keepalived ${formatVersion(MIN_VERSIONS.keepalived)} or later and haproxy ${formatVersion(MIN_VERSIONS.haproxy)} or later (proven on Debian 11, 12 and 13; Ubuntu 22.04/24.04 and RHEL 9 are rendered and unit-tested)`;

const FROM_WORDS: Record<VersionSource, string> = {
  pinned: 'is pinned to',
  installed: 'has',
  candidate: 'would install',
  release: 'ships',
};

/**
 * Why kha refuses this host, in one line naming it; null when it supports it. `packages`: the
 * packages the host needs (a node proxy needs only haproxy).
 */
export function supportProblem(
  host: string,
  facts: Pick<Facts, 'os' | 'packages' | 'candidates'>,
  v: HostVersions,
  packages: readonly HaPackage[] = ['keepalived', 'haproxy'],
): string | null {
  for (const pkg of packages) {
    const have = v[pkg];
    if (!have) {
      return `${host}: ${facts.os.prettyName} is not a release kha knows, and it cannot tell which ${pkg} it would install (no package lists): run apt-get update there, or pin ${pkg}_version; ${SUPPORTED_LINE}`;
    }
    if (!atLeast(have.version, MIN_VERSIONS[pkg])) {
      const where = have.from === 'release' ? facts.os.prettyName : 'the host';
      return `${host}: ${where} ${FROM_WORDS[have.from]} ${pkg} ${formatVersion(have.version)}; ${SUPPORTED_LINE}: install a newer ${pkg} (or pin ${pkg}_version) and retry`;
    }
  }
  return null;
}
