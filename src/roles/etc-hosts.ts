// The /etc/hosts lines kha keeps (manage_etc_hosts): every inventory host of the cluster by name,
// and the control-plane endpoint name on the VIP. Pure: settings -> the block's lines (the
// markers are the blockinfile module's).
import type { HaSettings } from '../inventory/settings.js';
import { badVar, ipAddr } from './files.js';

/** A name /etc/hosts accepts: letters, digits, and inner . _ - (no spaces, no #). */
const HOSTS_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

export interface EtcHostsEntry {
  address: string;
  names: string[];
}

/**
 * The entries, in a stable order: the VIP with the endpoint name first, then masters, load
 * balancers and nodes in inventory order. A host named by its address (kubeasz) adds nothing.
 */
export function etcHostsEntries(s: HaSettings): EtcHostsEntry[] {
  const out: EtcHostsEntry[] = [{ address: s.vip, names: [s.apiEndpointName] }];
  const seen = new Set<string>();
  for (const name of [...s.masters, ...s.lbHosts, ...s.nodes]) {
    if (seen.has(name)) continue;
    seen.add(name);
    const h = s.hosts[name];
    if (!h || IPV4.test(name)) continue;
    out.push({ address: h.address, names: [name] });
  }
  return out;
}

/** The block's text: `address name` lines, addresses padded to one column, no markers, one trailing newline. */
export function renderEtcHostsBlock(entries: EtcHostsEntry[]): string {
  const width = Math.max(0, ...entries.map((e) => e.address.length));
  const lines = entries.map((e, i) => {
    const address = ipAddr(`entries[${i}].address`, e.address);
    if (e.names.length === 0) badVar(`entries[${i}].names`, e.names, 'must hold at least one name');
    for (const n of e.names) if (!HOSTS_NAME.test(n)) badVar(`entries[${i}].names`, n, 'must be a host name of letters, digits and . _ -');
    return `${address.padEnd(width)} ${e.names.join(' ')}`;
  });
  return `${lines.join('\n')}\n`;
}
