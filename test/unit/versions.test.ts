// Versions of keepalived and haproxy (src/facts/versions.ts): where they come from, which releases
// kha supports, and which version-dependent keywords each release's configs carry.
import { describe, expect, test } from 'vitest';
import { parseFacts, factsScript } from '../../src/facts/gather.js';
import {
  ALL_FEATURES,
  KEYWORD_GATES,
  MIN_VERSIONS,
  RELEASE_PACKAGES,
  atLeast,
  featuresOf,
  hostVersions,
  parseVersion,
  releaseOf,
  supportProblem,
  type ReleasePackages,
} from '../../src/facts/versions.js';
import { preflightChecks } from '../../src/actions/preflight.js';
import { nodePreflightErrors } from '../../src/actions/nodes.js';
import { desiredFiles, featuresOn, HAPROXY_CFG, KEEPALIVED_CONF } from '../../src/roles/ha.js';
import { nodeProxyFile } from '../../src/roles/nodes.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import { fakeFacts } from '../helpers/fake-conn.js';
import type { Facts } from '../../src/facts/types.js';

const loadSettings = (lines: string[]) => resolveSettings(parseInventory(lines.join('\n') + '\n', 'hosts.yaml'));

const OS: Record<string, Facts['os']> = {
  'debian-10': { id: 'debian', idLike: [], versionId: '10', prettyName: 'Debian GNU/Linux 10 (buster)' },
  'debian-11': { id: 'debian', idLike: [], versionId: '11', prettyName: 'Debian GNU/Linux 11 (bullseye)' },
  'debian-12': { id: 'debian', idLike: [], versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  'debian-13': { id: 'debian', idLike: [], versionId: '13', prettyName: 'Debian GNU/Linux 13 (trixie)' },
  'ubuntu-20.04': { id: 'ubuntu', idLike: ['debian'], versionId: '20.04', prettyName: 'Ubuntu 20.04.6 LTS' },
  'ubuntu-22.04': { id: 'ubuntu', idLike: ['debian'], versionId: '22.04', prettyName: 'Ubuntu 22.04.4 LTS' },
  'ubuntu-24.04': { id: 'ubuntu', idLike: ['debian'], versionId: '24.04', prettyName: 'Ubuntu 24.04.1 LTS' },
  'rocky-8': { id: 'rocky', idLike: ['rhel', 'centos', 'fedora'], versionId: '8.9', prettyName: 'Rocky Linux 8.9 (Green Obsidian)' },
  'rhel-9': { id: 'rhel', idLike: ['fedora'], versionId: '9.4', prettyName: 'Red Hat Enterprise Linux 9.4 (Plow)' },
  'alma-9': { id: 'almalinux', idLike: ['rhel', 'centos', 'fedora'], versionId: '9.4', prettyName: 'AlmaLinux 9.4' },
  fedora: { id: 'fedora', idLike: [], versionId: '40', prettyName: 'Fedora Linux 40' },
};

describe('parseVersion / atLeast', () => {
  test.each([
    ['1:2.1.5-0.2+deb11u1', [2, 1, 5]],
    ['2.2.9-2+deb11u6', [2, 2, 9]],
    ['1:2.2.7-1+b2', [2, 2, 7]],
    ['3.0.11-1', [3, 0, 11]],
    ['2.2.8-3.el9', [2, 2, 8]],
    ['2.4', [2, 4, 0]],
    ['1.8.27-5.el8', [1, 8, 27]],
  ])('%s -> %j', (v, want) => {
    expect(parseVersion(v)).toEqual(want);
  });
  test('not versions', () => {
    for (const v of ['', '(none)', 'latest', 'v2', undefined]) expect(parseVersion(v)).toBeNull();
  });
  test('atLeast compares major, minor, patch in that order', () => {
    expect(atLeast([2, 2, 4], [2, 2, 4])).toBe(true);
    expect(atLeast([2, 2, 3], [2, 2, 4])).toBe(false);
    expect(atLeast([2, 3, 0], [2, 2, 4])).toBe(true);
    expect(atLeast([2, 10, 0], [2, 4, 0])).toBe(true);
    expect(atLeast([1, 99, 99], [2, 0, 0])).toBe(false);
    expect(atLeast([3, 0, 0], [2, 99, 99])).toBe(true);
  });
});

describe('releases', () => {
  test.each([
    ['debian-11', 'Debian 11 (bullseye)'],
    ['debian-12', 'Debian 12 (bookworm)'],
    ['debian-13', 'Debian 13 (trixie)'],
    ['ubuntu-22.04', 'Ubuntu 22.04'],
    ['rocky-8', 'RHEL 8 family'],
    ['rhel-9', 'RHEL 9 family'],
    ['alma-9', 'RHEL 9 family'],
  ])('%s is %s', (os, name) => {
    expect(releaseOf(OS[os]!)?.name).toBe(name);
  });
  test('a release kha does not know (Debian 10, Fedora) has no row', () => {
    expect(releaseOf(OS['debian-10']!)).toBeUndefined();
    expect(releaseOf(OS.fedora!)).toBeUndefined();
  });
});

describe('hostVersions: pinned, then installed, then apt candidate, then the release', () => {
  const f = (over: Partial<Facts>) => fakeFacts({ os: OS['debian-11']!, ...over });
  test('nothing installed, no lists: what the release ships', () => {
    expect(hostVersions(f({}))).toEqual({ keepalived: { version: [2, 1, 5], from: 'release' }, haproxy: { version: [2, 2, 9], from: 'release' } });
  });
  test("apt's candidate beats the release (a backport, another repository)", () => {
    const v = hostVersions(f({ candidates: { haproxy: '2.8.5-1~bpo11+1' } }));
    expect(v.haproxy).toEqual({ version: [2, 8, 5], from: 'candidate' });
    expect(v.keepalived?.from).toBe('release');
  });
  test('installed beats the candidate; a pin beats what is installed (the install replaces it)', () => {
    const facts = f({ packages: { keepalived: '1:2.1.5-0.2+deb11u1', haproxy: '2.2.9-2+deb11u6' }, candidates: { haproxy: '2.8.5-1' } });
    expect(hostVersions(facts).haproxy).toEqual({ version: [2, 2, 9], from: 'installed' });
    expect(hostVersions(facts, { haproxy: '2.4.22-1' }).haproxy).toEqual({ version: [2, 4, 22], from: 'pinned' });
  });
  test('an unknown release with nothing installed and no lists: unknown', () => {
    expect(hostVersions(fakeFacts({ os: OS['debian-10']! }))).toEqual({});
  });
});

describe('features per release: the version-gated keywords', () => {
  const want: Record<string, { tcpKeepaliveTimers: boolean; unicastFaultNoPeer: boolean }> = {
    'Debian 11 (bullseye)': { tcpKeepaliveTimers: false, unicastFaultNoPeer: false },
    'Debian 12 (bookworm)': { tcpKeepaliveTimers: true, unicastFaultNoPeer: true },
    'Debian 13 (trixie)': { tcpKeepaliveTimers: true, unicastFaultNoPeer: true },
    'Ubuntu 20.04': { tcpKeepaliveTimers: false, unicastFaultNoPeer: false },
    'Ubuntu 22.04': { tcpKeepaliveTimers: true, unicastFaultNoPeer: true },
    'Ubuntu 24.04': { tcpKeepaliveTimers: true, unicastFaultNoPeer: true },
    'RHEL 8 family': { tcpKeepaliveTimers: false, unicastFaultNoPeer: false },
    'RHEL 9 family': { tcpKeepaliveTimers: true, unicastFaultNoPeer: true },
  };
  test.each(RELEASE_PACKAGES.map((r) => [r.name, r] as [string, ReleasePackages]))('%s', (name, r) => {
    expect(featuresOf({ keepalived: { version: r.keepalived, from: 'release' }, haproxy: { version: r.haproxy, from: 'release' } })).toEqual(want[name]);
  });
  test('every gate is a version kha supports or later, and names what stands in for it', () => {
    for (const g of KEYWORD_GATES) {
      expect(atLeast(g.since, MIN_VERSIONS[g.pkg])).toBe(true);
      expect(g.without.length).toBeGreaterThan(40);
    }
  });
  test('unknown versions get every keyword (the validator on the host is the backstop)', () => {
    expect(featuresOf({})).toEqual(ALL_FEATURES);
  });
});

describe('support: preflight refuses what kha does not support, in one line naming the host', () => {
  const s = () =>
    loadSettings(['all:', '  vars:', '    vip: 10.0.0.100', '  children:', '    masters:', '      hosts:', '        m1: { ansible_host: 10.0.0.11 }']);
  const factsOn = (os: string, over: Partial<Facts> = {}) => ({ m1: fakeFacts({ os: OS[os]!, ...over }) });
  test.each(['debian-11', 'debian-12', 'debian-13', 'ubuntu-22.04', 'ubuntu-24.04', 'rhel-9', 'alma-9'])('%s: supported', (os) => {
    expect(preflightChecks(s(), factsOn(os)).errors).toEqual([]);
  });
  test('RHEL 8 (haproxy 1.8): refused, naming the host, the version, what kha supports and what to do', () => {
    expect(preflightChecks(s(), factsOn('rocky-8', { pkgMgr: 'dnf' })).errors).toEqual([
      'm1: Rocky Linux 8.9 (Green Obsidian) ships haproxy 1.8.27; kha supports keepalived 2.1.5 or later and haproxy 2.2.0 or later (proven on Debian 11, 12 and 13; Ubuntu 22.04/24.04 and RHEL 9 are rendered and unit-tested): install a newer haproxy (or pin haproxy_version) and retry',
    ]);
  });
  test('Ubuntu 20.04 (keepalived 2.0.19): refused for keepalived first', () => {
    const [e] = preflightChecks(s(), factsOn('ubuntu-20.04')).errors;
    expect(e).toMatch(/^m1: Ubuntu 20\.04\.6 LTS ships keepalived 2\.0\.19; kha supports /);
  });
  test('RHEL 8 with a newer haproxy already installed: supported (the installed version counts)', () => {
    expect(preflightChecks(s(), factsOn('rocky-8', { pkgMgr: 'dnf', packages: { haproxy: '2.4.22-1.el8' } })).errors).toEqual([]);
  });
  test('an installed haproxy too old on a supported release is refused as the host having it', () => {
    expect(preflightChecks(s(), factsOn('debian-12', { packages: { haproxy: '2.0.33-1' } })).errors[0]).toMatch(/^m1: the host has haproxy 2\.0\.33; /);
  });
  test('an unknown release, nothing installed, no package lists: refused, saying how to tell kha', () => {
    expect(preflightChecks(s(), factsOn('debian-10')).errors).toEqual([
      'm1: Debian GNU/Linux 10 (buster) is not a release kha knows, and it cannot tell which keepalived it would install (no package lists): run apt-get update there, or pin keepalived_version; kha supports keepalived 2.1.5 or later and haproxy 2.2.0 or later (proven on Debian 11, 12 and 13; Ubuntu 22.04/24.04 and RHEL 9 are rendered and unit-tested)',
    ]);
  });
  test('an unknown release whose apt would install supported versions (Debian 14, say): accepted', () => {
    const f = factsOn('debian-10', {
      os: { ...OS['debian-10']!, versionId: '14', prettyName: 'Debian 14' },
      candidates: { keepalived: '1:2.3.4-1', haproxy: '3.2.1-1' },
    });
    expect(preflightChecks(s(), f).errors).toEqual([]);
  });
  test('supportProblem for a node proxy looks at haproxy only', () => {
    const f = fakeFacts({ os: OS['ubuntu-20.04']! });
    expect(supportProblem('n1', f, hostVersions(f), ['haproxy'])).toMatch(/^n1: Ubuntu 20\.04\.6 LTS ships haproxy 2\.0\.13; /);
  });
});

describe('rendering follows each host: a mixed cluster of Debian 11, 12 and 13', () => {
  const s = () =>
    loadSettings([
      'all:',
      '  vars:',
      '    vip: 10.0.0.100',
      '    vrrp_unicast: true',
      '    node_local_proxy: true',
      '  children:',
      '    masters:',
      '      hosts:',
      '        m1: { ansible_host: 10.0.0.11 }',
      '        m2: { ansible_host: 10.0.0.12 }',
      '        m3: { ansible_host: 10.0.0.13 }',
      '    kube_node:',
      '      hosts:',
      '        n1: { ansible_host: 10.0.0.21 }',
    ]);
  const net = {
    m1: { iface: 'eth0', address: '10.0.0.11' },
    m2: { iface: 'eth0', address: '10.0.0.12' },
    m3: { iface: 'eth0', address: '10.0.0.13' },
  };
  const on = (os: string) => featuresOn(s(), fakeFacts({ os: OS[os]! }));
  const file = (host: string, os: string, path: string) => desiredFiles(s(), net, host, on(os)).find((f) => f.path === path)!.content;
  test('keepalived 2.1.5 (Debian 11): the unicast block without unicast_fault_no_peer; 2.2.7 and 2.3.3 with it', () => {
    expect(file('m1', 'debian-11', KEEPALIVED_CONF)).not.toContain('unicast_fault_no_peer');
    expect(file('m1', 'debian-11', KEEPALIVED_CONF)).toContain('    unicast_peer {\n        10.0.0.12\n        10.0.0.13\n    }\n');
    expect(file('m2', 'debian-12', KEEPALIVED_CONF)).toContain('    unicast_fault_no_peer\n');
    expect(file('m3', 'debian-13', KEEPALIVED_CONF)).toContain('    unicast_fault_no_peer\n');
  });
  test('haproxy 2.2 (Debian 11): keepalive on, without the timers; 2.6 and 3.0 with them', () => {
    const old = file('m1', 'debian-11', HAPROXY_CFG);
    expect(old).toContain('    option clitcpka\n    option srvtcpka\n');
    expect(old).not.toMatch(/tcpka-(idle|intvl|cnt)/);
    for (const [h, os] of [
      ['m2', 'debian-12'],
      ['m3', 'debian-13'],
    ] as const)
      expect(file(h, os, HAPROXY_CFG)).toContain('    clitcpka-idle 10s\n');
    expect(nodeProxyFile(s(), 'n1', 'apt', on('debian-11')).content).not.toContain('tcpka-idle');
    expect(nodeProxyFile(s(), 'n1', 'apt', on('debian-13')).content).toContain('    srvtcpka-idle 10s\n');
  });
  test('without facts (kha render offline) every keyword is written', () => {
    expect(featuresOn(s(), undefined)).toEqual(ALL_FEATURES);
  });
  test('a node on a release with too old a haproxy is refused by the node preflight', () => {
    const errs = nodePreflightErrors(s(), { n1: fakeFacts({ os: OS['ubuntu-20.04']! }) });
    expect(errs).toEqual([expect.stringMatching(/^n1: Ubuntu 20\.04\.6 LTS ships haproxy 2\.0\.13; /)]);
  });
});

describe('facts: the apt candidate, gathered only while a package is missing', () => {
  test('the script asks apt-cache only when fewer than all packages are installed', () => {
    expect(factsScript()).toContain(`grep -c '^ii')" -lt 2 ]; then apt-cache policy keepalived haproxy`);
  });
  test('parsed: candidates of missing packages; (none) and installed ones are dropped', () => {
    const out = [
      '@@kha@@hostname',
      'm1',
      '@@kha@@os',
      'ID=debian',
      'VERSION_ID="11"',
      '@@kha@@pkgs',
      'haproxy 2.2.9-2+deb11u6 ii ',
      '@@kha@@candidates',
      'keepalived 1:2.1.5-0.2+deb11u1',
      'haproxy 2.2.9-2+deb11u6',
      'curl (none)',
      '@@kha@@end',
    ].join('\n');
    const f = parseFacts(out);
    expect(f.candidates).toEqual({ keepalived: '1:2.1.5-0.2+deb11u1' });
    expect(hostVersions(f)).toEqual({ keepalived: { version: [2, 1, 5], from: 'candidate' }, haproxy: { version: [2, 2, 9], from: 'installed' } });
  });
});

describe('lab releases (kha lab up --release, docker/build-image.sh --release)', () => {
  test('one release for every host, or host=release pairs', async () => {
    const { parseReleaseFlag } = await import('../../src/commands/lab/up.js');
    expect(parseReleaseFlag('trixie', 3)).toBe('trixie');
    expect(parseReleaseFlag('m1=bullseye,m3=trixie', 3)).toEqual({ m1: 'bullseye', m3: 'trixie' });
    expect(() => parseReleaseFlag('buster', 3)).toThrow(
      '--release: "buster" is not a release kha\'s lab builds; use one of bullseye, bookworm, trixie, or host=release pairs such as m1=bullseye,m3=trixie',
    );
    expect(() => parseReleaseFlag('m4=trixie', 3)).toThrow(/^--release: "m4=trixie" is not host=release for a host m1\.\.m3; /);
  });
  test('image names: bookworm keeps kha-host:1, the others are tagged by release', async () => {
    const { imageName } = await import('../../src/lab/image.js');
    expect(imageName('plain', 'bullseye')).toBe('kha-host:bullseye');
    expect(imageName('ready', 'trixie')).toBe('kha-host-ready:trixie');
    expect(imageName('plain', 'bookworm')).toBe(process.env.KHA_IMAGE ?? 'kha-host:1');
  });
  test('build-image.sh knows exactly the releases the lab offers', async () => {
    const { LAB_RELEASES } = await import('../../src/lab/image.js');
    const fs = await import('node:fs');
    const script = fs.readFileSync(new URL('../../docker/build-image.sh', import.meta.url), 'utf8');
    expect(/^RELEASES="([^"]+)"$/m.exec(script)?.[1]?.split(' ')).toEqual([...LAB_RELEASES]);
  });
});
