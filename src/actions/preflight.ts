// Preflight checks that need facts but no change: pure functions over settings + facts, so each
// rule is a table test. Network probes (VIP answering, VRRP listening) live in probes.ts.
import type { Facts } from '../facts/types.js';
import type { HaSettings } from '../inventory/settings.js';
import { inSubnet, network } from '../net/ipv4.js';
import type { HostNet } from '../net/host-net.js';

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
  const warnings: string[] = [];
  const net: Record<string, HostNet> = {};
  const holders: string[] = [];

  for (const name of s.lbHosts) {
    const f = facts[name];
    if (!f) continue;
    const hs = s.hosts[name];
    if (!f.pkgMgr) errors.push(`${name}: ${f.os.prettyName} has no apt, dnf or yum; kha supports Debian/Ubuntu (apt) and RHEL-family (dnf/yum) hosts`);
    if (!f.systemd) errors.push(`${name}: systemd is not running (no /run/systemd/system); kha manages keepalived and haproxy as systemd services`);
    if (f.interfaces.some((i) => i.ipv4.some((a) => a.address === s.vip))) holders.push(name);

    let iface = hs?.interface ? f.interfaces.find((i) => i.name === hs.interface) : undefined;
    if (hs?.interface && !iface) {
      errors.push(
        `${name}: interface ${hs.interface} does not exist (found: ${f.interfaces.map((i) => i.name).join(', ') || 'none'}); set vrrp_interface to one of them or leave it unset`,
      );
      continue;
    }
    if (!iface) {
      iface = f.interfaces.find((i) => i.name !== 'lo' && i.ipv4.some((a) => a.address !== s.vip && inSubnet(s.vip, a.address, a.prefix)));
      if (!iface) {
        const have = f.interfaces.flatMap((i) => i.ipv4.filter(() => i.name !== 'lo').map((a) => `${i.name} ${a.address}/${a.prefix}`)).join(', ');
        errors.push(
          `${name}: the VIP ${s.vip} is in no subnet of this host (${have || 'no IPv4 addresses'}); choose a free VIP in the masters' subnet, or set vrrp_interface`,
        );
        continue;
      }
    }
    const own = iface.ipv4.filter((a) => a.address !== s.vip);
    const inNet = own.find((a) => inSubnet(s.vip, a.address, a.prefix)) ?? own.find((a) => a.address === hs?.address);
    if (!inNet) {
      errors.push(
        `${name}: the VIP ${s.vip} is outside the subnet of ${iface.name} (${own.map((a) => `${a.address}/${a.prefix}`).join(', ') || 'no address'}); choose a VIP in that subnet`,
      );
      continue;
    }
    if (!iface.up) errors.push(`${name}: interface ${iface.name} is down; bring it up before kha up`);
    net[name] = { iface: iface.name, address: inNet.address, prefix: inNet.prefix, holdsVip: holders.includes(name) };

    // ss cannot always name the owner (haproxy's master-worker sockets show none): an unnamed
    // listener while haproxy is active is haproxy's own
    const haproxyActive = f.services.haproxy?.active === 'active';
    const busy = f.listening.find((l) => l.port === s.frontendPort && l.process !== 'haproxy' && !(l.process === undefined && haproxyActive));
    if (busy) {
      errors.push(
        `${name}: port ${s.frontendPort} is already in use${busy.process ? ` by ${busy.process}` : ''}; set frontend_port to a free port or stop that service`,
      );
    }
  }

  // addresses: unique, never the VIP, one L2 subnet
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
  // two holders (split brain) is not an error here: whether converging the configs can repair it
  // is the caller's decision (kha up goes on; status reports it)
  // backends on the apiserver port: only a warning (kha up runs before kubeadm init)
  for (const m of s.masters) {
    const f = facts[m];
    const port = s.hosts[m]?.apiserverPort ?? s.apiserverPort;
    if (f && !f.listening.some((l) => l.port === port)) {
      warnings.push(`${m}: nothing listens on ${port} yet (kube-apiserver not started?); haproxy marks it down until it answers`);
    }
  }
  return { errors, warnings, net, holders, splitBrain: holders.length > 1 };
}
