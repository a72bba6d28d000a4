import { describe, expect, it } from 'vitest';
import { preflightChecks } from '../../src/actions/preflight.js';
import { checkScriptState } from '../../src/actions/up.js';
import { holdsVip, parseHaproxyStat, parseVipAnswers, parseVrrpListen, vridCollisions, vrrpListenScript } from '../../src/actions/probes.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import type { Facts } from '../../src/facts/types.js';
import { fakeFacts } from '../helpers/fake-conn.js';

function settings(extra = '', hostVars: Record<string, string> = {}) {
  const hosts = ['m1', 'm2', 'm3'].map((h, i) => `        ${h}: { ansible_host: 10.0.0.${11 + i}${hostVars[h] ? `, ${hostVars[h]}` : ''} }`);
  const text = [
    'all:',
    '  vars:',
    '    vip: 10.0.0.100',
    ...extra
      .split('\n')
      .filter(Boolean)
      .map((l) => `    ${l}`),
    '  children:',
    '    masters:',
    '      hosts:',
    ...hosts,
  ].join('\n');
  return resolveSettings(parseInventory(text, 'hosts.yaml'));
}

function factsFor(over: Partial<Record<string, Partial<Facts>>> = {}): Record<string, Facts> {
  const out: Record<string, Facts> = {};
  ['m1', 'm2', 'm3'].forEach((h, i) => {
    out[h] = fakeFacts({
      hostname: h,
      interfaces: [
        { name: 'lo', up: true, ipv4: [{ address: '127.0.0.1', prefix: 8 }] },
        { name: 'eth0', up: true, ipv4: [{ address: `10.0.0.${11 + i}`, prefix: 24 }] },
      ],
      ...over[h],
    });
  });
  return out;
}

describe('preflight rules (pure: settings + facts)', () => {
  it('a healthy fresh cluster passes and the VRRP interface is found from facts', () => {
    const r = preflightChecks(settings(), factsFor());
    expect(r.errors).toEqual([]);
    expect(r.net['m2']).toEqual({ iface: 'eth0', address: '10.0.0.12', prefix: 24, holdsVip: false });
    expect(r.holders).toEqual([]);
  });

  it('a VIP outside every subnet is named per host', () => {
    const s = { ...settings(), vip: '192.168.9.9' };
    expect(preflightChecks(s, factsFor()).errors[0]).toBe(
      "m1: the VIP 192.168.9.9 is in no subnet of this host (eth0 10.0.0.11/24); choose a free VIP in the masters' subnet, or set vrrp_interface",
    );
  });

  it('a missing interface', () => {
    const r = preflightChecks(settings('', { m2: 'vrrp_interface: eth9' }), factsFor());
    expect(r.errors).toEqual(['m2: interface eth9 does not exist (found: lo, eth0); set vrrp_interface to one of them or leave it unset']);
  });

  it('the frontend port taken by another program', () => {
    const r = preflightChecks(settings(), factsFor({ m3: { listening: [{ address: '0.0.0.0', port: 8443, process: 'nginx' }] } }));
    expect(r.errors).toEqual(['m3: port 8443 is already in use by nginx; set frontend_port to a free port or stop that service']);
  });

  it('the frontend port held by our own haproxy is fine (a rerun)', () => {
    const r = preflightChecks(
      settings(),
      factsFor({ m3: { listening: [{ address: '0.0.0.0', port: 8443 }], services: { haproxy: { active: 'active', enabled: 'enabled' } } } }),
    );
    expect(r.errors).toEqual([]);
  });

  it('hosts on different subnets cannot share VRRP', () => {
    const f = factsFor();
    f['m3']!.interfaces[1]!.ipv4 = [{ address: '10.0.0.13', prefix: 25 }];
    const r = preflightChecks(settings(), f);
    expect(r.errors).toEqual(['the load-balancer hosts are on different subnets (10.0.0.0/24, 10.0.0.0/25); VRRP needs them on one L2 segment']);
  });

  it('two holders is split brain', () => {
    const vipOn = (a: string) => [
      { name: 'lo', up: true, ipv4: [{ address: '127.0.0.1', prefix: 8 }] },
      {
        name: 'eth0',
        up: true,
        ipv4: [
          { address: a, prefix: 24 },
          { address: '10.0.0.100', prefix: 32 },
        ],
      },
    ];
    const r = preflightChecks(settings(), factsFor({ m1: { interfaces: vipOn('10.0.0.11') }, m2: { interfaces: vipOn('10.0.0.12') } }));
    expect(r.holders).toEqual(['m1', 'm2']);
    expect(r.splitBrain).toBe(true);
    // not an error by itself: kha up decides whether converging can repair it
    expect(r.errors).toEqual([]);
  });

  it('an unsupported OS', () => {
    const r = preflightChecks(settings(), factsFor({ m1: { pkgMgr: null, os: { id: 'alpine', idLike: [], versionId: '3', prettyName: 'Alpine Linux' } } }));
    expect(r.errors).toEqual(['m1: Alpine Linux has no apt, dnf or yum; kha supports Debian/Ubuntu (apt) and RHEL-family (dnf/yum) hosts']);
  });
});

describe('probes: scripts quote their values, parsers are pure', () => {
  it('VRRP listen output -> collisions from routers that are not ours', () => {
    const seen = parseVrrpListen('10.0.0.11 51 150\n10.0.0.99 51 100\n10.0.0.98 52 100\ngarbage\n');
    expect(seen).toHaveLength(3);
    expect(vridCollisions(seen, 51, ['10.0.0.11', '10.0.0.12'])).toEqual(['10.0.0.99']);
    expect(vrrpListenScript("10.0.0.11'; reboot", 4)).toContain(`'10.0.0.11'\\''; reboot'`);
  });
  it('ARP neighbour entry: an lladdr means someone answers', () => {
    expect(parseVipAnswers('10.0.0.100 lladdr 02:42:ac:11:00:02 REACHABLE')).toBe('02:42:ac:11:00:02');
    expect(parseVipAnswers('10.0.0.100 FAILED')).toBeNull();
    expect(parseVipAnswers('')).toBeNull();
  });
  it('holdsVip matches the exact address only', () => {
    expect(holdsVip('2: eth0    inet 10.0.0.100/32 scope global eth0', '10.0.0.100')).toBe(true);
    expect(holdsVip('2: eth0    inet 10.0.0.1000/32 scope global eth0', '10.0.0.100')).toBe(false);
    expect(holdsVip('2: eth0    inet 10.0.0.10/24 scope global eth0', '10.0.0.1')).toBe(false);
  });
  it('haproxy show stat CSV', () => {
    const csv =
      '# pxname,svname,qcur,status\nkube-apiserver,FRONTEND,,OPEN\nkube-apiservers,m1,0,UP\nkube-apiservers,m2,0,DOWN\nkube-apiservers,BACKEND,0,UP\n';
    expect(parseHaproxyStat(csv)).toEqual([
      { backend: 'kube-apiservers', server: 'm1', status: 'UP' },
      { backend: 'kube-apiservers', server: 'm2', status: 'DOWN' },
    ]);
  });
  it("keepalived's own view of the check script", () => {
    const data = (status: string, insecure = 'no') =>
      ` VRRP Script = kha_check_haproxy\n   Insecure = ${insecure}\n   Status = ${status}\n   State = idle\n@@journal@@\n`;
    expect(checkScriptState(data('GOOD'), 'kha_check_haproxy')).toBe('good');
    expect(checkScriptState(data('BAD'), 'kha_check_haproxy')).toBe('pending');
    expect(checkScriptState(data('GOOD', 'yes'), 'kha_check_haproxy')).toBe('insecure');
    // the dump decides when it has the script's block; the journal is only the fallback
    expect(checkScriptState(`${data('GOOD')}Disabling track script kha_check_haproxy`, 'kha_check_haproxy')).toBe('good');
    expect(checkScriptState(`${data('BAD')}VRRP_Script(kha_check_haproxy) succeeded`, 'kha_check_haproxy')).toBe('pending');
    expect(checkScriptState('@@journal@@\nVRRP_Script(kha_check_haproxy) succeeded', 'kha_check_haproxy')).toBe('good');
    expect(checkScriptState('@@journal@@\nSECURITY VIOLATION - scripts are being executed but script_security not enabled.', 'kha_check_haproxy')).toBe(
      'insecure',
    );
  });
});
