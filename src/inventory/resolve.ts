// ansible_host as a DNS name: resolved once, when the inventory is loaded, for the hosts whose
// IPv4 goes into a config (VRRP peers, haproxy backends, node proxies, /etc/hosts). Each name is
// looked up once (IPv4 only); a name that does not resolve is bad input naming the host. SSH
// keeps connecting to the name, so known_hosts and ~/.ssh/config entries for it still apply.
import { lookup as dnsLookup } from 'node:dns/promises';
import { InputError } from '../errors.js';
import { isIPv4 } from '../net/ipv4.js';
import { hostsNeedingIPv4 } from './settings.js';
import { inputErrorAt } from './suggest.js';
import type { Inventory, InventoryHost } from './types.js';

/** A name -> its IPv4 (tests pass their own; no real DNS there). */
export type Lookup = (name: string) => Promise<string>;

/** getaddrinfo through node:dns, IPv4 only (as /etc/hosts, DNS and the rest of nsswitch answer). */
export const systemLookup: Lookup = async (name) => (await dnsLookup(name, { family: 4 })).address;

export interface ResolvedName {
  host: string;
  name: string;
  address: string;
}

/**
 * Resolve the ansible_host names of the hosts kha needs an IPv4 for, record each as
 * `host.resolved`, and return them (for the `m1: ansible_host NAME -> ADDRESS` lines).
 */
export async function resolveHostNames(inv: Inventory, lookup: Lookup = systemLookup, timeoutMs = 10_000): Promise<ResolvedName[]> {
  const needed = new Set(hostsNeedingIPv4(inv));
  const todo = inv.hosts.filter((h) => needed.has(h.name) && !h.resolved && h.connection.explicit?.address && !isIPv4(h.connection.address));
  const once = new Map<string, Promise<{ address: string } | { code: string }>>();
  const ask = (name: string) => {
    let p = once.get(name);
    if (!p)
      once.set(
        name,
        (p = withTimeout(lookup(name), timeoutMs).then(
          (address) => ({ address }),
          (err: unknown) => ({ code: errCode(err) }),
        )),
      );
    return p;
  };
  const answers = await Promise.all(todo.map((h) => ask(h.connection.address.toLowerCase())));
  const out: ResolvedName[] = [];
  todo.forEach((h, i) => {
    const a = answers[i]!;
    const name = h.connection.address;
    if ('code' in a || !isIPv4(a.address)) {
      const code = 'code' in a ? a.code : `not IPv4: ${a.address}`;
      throw atAnsibleHost(
        inv,
        h,
        `${name} (the ansible_host of ${h.name}) does not resolve to an IPv4 address (${code}); fix the name, or set ansible_host to the host's IPv4`,
      );
    }
    h.resolved = { name, address: a.address };
    out.push({ host: h.name, name, address: a.address });
  });
  checkDistinct(inv, out);
  return out;
}

/** Two hosts whose names resolve to one address (and SSH port) are one machine listed twice. */
function checkDistinct(inv: Inventory, resolved: ResolvedName[]): void {
  for (const r of resolved) {
    const h = inv.hosts.find((x) => x.name === r.host)!;
    const other = inv.hosts.find((x) => x !== h && (x.resolved?.address ?? x.connection.address) === r.address && x.connection.port === h.connection.port);
    if (other) {
      throw atAnsibleHost(
        inv,
        h,
        `${r.name} resolves to ${r.address}, the address of ${other.name} too; give each host its own ansible_host (or ansible_port)`,
      );
    }
  }
}

function atAnsibleHost(inv: Inventory, h: InventoryHost, message: string): InputError {
  const src = inv.source;
  if (!src) return new InputError(`${inv.file}: ${h.name}: ${message}`);
  const path = src.hostVarPaths[h.name]?.['ansible_host'] ?? src.hostVarPaths[h.name]?.['ansible_ssh_host'] ?? src.hostPaths[h.name] ?? [];
  return inputErrorAt({ display: src.display, lineOf: src.lineOf, locate: src.locate }, path, message);
}

function errCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : String((err as Error | undefined)?.message ?? err);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms / 1000} s`), { code: `no answer within ${ms / 1000} s` })), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** The names `from` resolved, given to the same hosts of `to` (an inventory reparsed after an edit): resolved once, not again. */
export function carryResolved(from: Inventory, to: Inventory): Inventory {
  const known = new Map(from.hosts.map((h) => [h.name, h.resolved] as const));
  for (const h of to.hosts) {
    const r = known.get(h.name);
    if (r && !h.resolved && h.connection.address === r.name) h.resolved = r;
  }
  return to;
}
