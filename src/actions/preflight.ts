// Preflight checks that need facts but no change: pure functions over settings + facts, so each
// rule is a table test. Network probes (VIP answering, VRRP listening) live in probes.ts.
import type { Facts } from '../facts/types.js';
import type { HaSettings } from '../inventory/settings.js';
import { inSubnet, network } from '../net/ipv4.js';
import type { HostNet } from '../net/host-net.js';
import { supportProblem } from '../facts/versions.js';
import { versionsOn } from '../roles/ha.js';

export type { HostNet } from '../net/host-net.js';

export interface PreflightResult {
  errors: string[];
  warnings: string[];
  net: Record<string, HostNet>;
  holders: string[];
  /** more than one host holds the VIP */
  splitBrain: boolean;
}

/** Resolve each load-balancer host's VRRP interface and address, and check every rule. */
export function preflightChecks(s: HaSettings, facts: Record<string, Facts>): PreflightResult {
  const errors: string[] = [];
  const net: Record<string, HostNet> = {};
  const holders: string[] = [];
  for (const name of s.lbHosts) {
    const f = facts[name];
    if (!f) continue;
    const holds = f.interfaces.some((i) => i.ipv4.some((a) => a.address === s.vip));
    if (holds) holders.push(name);
    const host = checkHost(s, name, f, holds);
    errors.push(...host.errors);
    if (host.net) net[name] = host.net;
  }
  errors.push(...addressProblems(s, net));
  // two holders (split brain) is not an error here: whether converging the configs can repair it
  // is the caller's decision (kha up goes on; status reports it)
  return { errors, warnings: backendWarnings(s, facts), net, holders, splitBrain: holders.length > 1 };
}

/** One load-balancer host: the OS, its place on the VRRP network (none when it has none) and the frontend port. */
function checkHost(s: HaSettings, name: string, f: Facts, holdsVip: boolean): { errors: string[]; net?: HostNet } {
  const errors: string[] = [];
  if (!f.pkgMgr) errors.push(`${name}: ${f.os.prettyName} has no apt, dnf or yum; kha supports Debian/Ubuntu (apt) and RHEL-family (dnf/yum) hosts`);
  if (!f.systemd) errors.push(`${name}: systemd is not running (no /run/systemd/system); kha manages keepalived and haproxy as systemd services`);
  if (f.pkgMgr) {
    const unsupported = supportProblem(name, f, versionsOn(s, f));
    if (unsupported) errors.push(unsupported);
  }
  const place = vrrpPlace(s, name, f);
  if ('error' in place) return { errors: [...errors, place.error] };
  const { iface, address } = place;
  if (!iface.up) errors.push(`${name}: interface ${iface.name} is down; bring it up before kha up`);
  const busy = portBusy(s, f);
  if (busy)
    errors.push(
      `${name}: port ${s.frontendPort} is already in use${busy.process ? ` by ${busy.process}` : ''}; set frontend_port to a free port or stop that service`,
    );
  return { errors, net: { iface: iface.name, address: address.address, prefix: address.prefix, holdsVip } };
}

type Iface = Facts['interfaces'][number];

/** The VRRP interface (vrrp_interface, else the one whose subnet holds the VIP) and the host's address on it, or why there is none. */
function vrrpPlace(s: HaSettings, name: string, f: Facts): { iface: Iface; address: Iface['ipv4'][number] } | { error: string } {
  const hs = s.hosts[name];
  let iface = hs?.interface ? f.interfaces.find((i) => i.name === hs.interface) : undefined;
  if (hs?.interface && !iface) {
    return {
      error: `${name}: interface ${hs.interface} does not exist (found: ${f.interfaces.map((i) => i.name).join(', ') || 'none'}); set vrrp_interface to one of them or leave it unset`,
    };
  }
  if (!iface) {
    iface = f.interfaces.find((i) => i.name !== 'lo' && i.ipv4.some((a) => a.address !== s.vip && inSubnet(s.vip, a.address, a.prefix)));
    if (!iface) {
      const have = f.interfaces.flatMap((i) => i.ipv4.filter(() => i.name !== 'lo').map((a) => `${i.name} ${a.address}/${a.prefix}`)).join(', ');
      return {
        error: `${name}: the VIP ${s.vip} is in no subnet of this host (${have || 'no IPv4 addresses'}); choose a free VIP in the masters' subnet, or set vrrp_interface`,
      };
    }
  }
  const own = iface.ipv4.filter((a) => a.address !== s.vip);
  const address = own.find((a) => inSubnet(s.vip, a.address, a.prefix)) ?? own.find((a) => a.address === hs?.address);
  if (!address) {
    return {
      error: `${name}: the VIP ${s.vip} is outside the subnet of ${iface.name} (${own.map((a) => `${a.address}/${a.prefix}`).join(', ') || 'no address'}); choose a VIP in that subnet`,
    };
  }
  return { iface, address };
}

/**
 * Another listener on the frontend port. ss cannot always name the owner (haproxy's master-worker
 * sockets show none): an unnamed listener while haproxy is active is haproxy's own.
 */
function portBusy(s: HaSettings, f: Facts): Facts['listening'][number] | undefined {
  const haproxyActive = f.services.haproxy?.active === 'active';
  return f.listening.find((l) => l.port === s.frontendPort && l.process !== 'haproxy' && !(l.process === undefined && haproxyActive));
}

/** Addresses: unique, never the VIP, one L2 subnet. */
function addressProblems(s: HaSettings, net: Record<string, HostNet>): string[] {
  const errors: string[] = [];
  const byAddr = new Map<string, string>();
  for (const [name, n] of Object.entries(net)) {
    if (n.address === s.vip) errors.push(`${name}: the VIP ${s.vip} is this host's own address; choose a free address for vip`);
    const other = byAddr.get(n.address);
    if (other) errors.push(`${other} and ${name} share the address ${n.address}; every host needs its own address`);
    byAddr.set(n.address, name);
  }
  const nets = new Set(Object.values(net).map((n) => `${network(n.address, n.prefix)}/${n.prefix}`));
  if (nets.size > 1) {
    errors.push(`the load-balancer hosts are on different subnets (${[...nets].join(', ')}); VRRP needs them on one L2 segment`);
  }
  return errors;
}

/** Backends on the apiserver port: only a warning (kha up runs before kubeadm init). */
function backendWarnings(s: HaSettings, facts: Record<string, Facts>): string[] {
  const warnings: string[] = [];
  for (const m of s.masters) {
    const f = facts[m];
    const port = s.hosts[m]?.apiserverPort ?? s.apiserverPort;
    if (f && !f.listening.some((l) => l.port === port)) {
      warnings.push(`${m}: nothing listens on ${port} yet (kube-apiserver not started?); haproxy marks it down until it answers`);
    }
  }
  return warnings;
}
