// The lab's bridge network: a free /24 inside 172.29.0.0/16 that overlaps neither this machine's
// routes and interfaces nor another Docker network (concurrent labs retry on a race).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import type { ContainerRuntimeClient } from 'testcontainers';
import { intToIp, ipToInt, maskOf } from '../net/ipv4.js';
import { LAB_LABEL, STATE_LABEL } from './types.js';

export interface Cidr {
  base: number;
  prefix: number;
}

export function parseCidr(s: string): Cidr | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(s);
  if (!m) return undefined;
  const prefix = Number(m[2]);
  return { base: (ipToInt(m[1]!) & maskOf(prefix)) >>> 0, prefix };
}

function overlaps(a: Cidr, b: Cidr): boolean {
  const mask = maskOf(Math.min(a.prefix, b.prefix));
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

/** IPv4 networks in use on this machine: routes and interface addresses */
function hostNetworks(): Cidr[] {
  const out: Cidr[] = [];
  try {
    for (const line of fs.readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const le = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0);
      const dest = le(f[1]!);
      const mask = le(f[7]!);
      if (mask === 0) continue; // default route
      const prefix = mask.toString(2).replace(/0/g, '').length;
      out.push({ base: dest >>> 0, prefix });
    }
  } catch {
    /* not Linux: interface addresses below still help */
  }
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && a.cidr) {
        const c = parseCidr(a.cidr);
        if (c) out.push(c);
      }
    }
  }
  return out;
}

export async function createNetwork(c: ContainerRuntimeClient, name: string, netName: string, stateDir: string): Promise<{ subnet: Cidr; gateway: number }> {
  const d = c.container.dockerode;
  for (let attempt = 0; attempt < 8; attempt++) {
    const used: Cidr[] = [...hostNetworks()];
    for (const n of await d.listNetworks()) {
      for (const cfg of n.IPAM?.Config ?? []) {
        const s = cfg.Subnet ? parseCidr(cfg.Subnet) : undefined;
        if (s) used.push(s);
      }
    }
    // /24s inside 172.29.0.0/16, from a random start so concurrent labs rarely race for one
    const start = randomBytes(1)[0]!;
    let subnet: Cidr | undefined;
    for (let i = 0; i < 256 && !subnet; i++) {
      const cand = { base: ipToInt(`172.29.${(start + i) % 256}.0`), prefix: 24 };
      if (!used.some((u) => overlaps(u, cand))) subnet = cand;
    }
    if (!subnet) throw new Error('no free /24 left in 172.29.0.0/16 for a lab network');
    const gateway = subnet.base + 1;
    try {
      await d.createNetwork({
        Name: netName,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: `${intToIp(subnet.base)}/24`, Gateway: intToIp(gateway) }] },
        Labels: { [LAB_LABEL]: name, [STATE_LABEL]: stateDir },
      });
      return { subnet, gateway };
    } catch (err) {
      if (/overlap/i.test(String((err as Error).message))) continue; // another lab took it meanwhile
      throw err;
    }
  }
  throw new Error('could not create a lab network: every subnet tried overlapped another network');
}
