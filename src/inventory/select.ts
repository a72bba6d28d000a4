// --limit: host and group names separated by , or : ; `!name` excludes, `&name` intersects
// (Ansible's order: (a ∪ b) ∩ c − d), `*` is a wildcard. Unknown names are an InputError.
import { InputError } from '../errors.js';
import { show, suggest } from './suggest.js';
import type { Inventory, InventoryHost } from './types.js';

const TOKEN_RE = /^[A-Za-z0-9_.*-]+$/;

export function selectHosts(inv: Inventory, limit: string | undefined): InventoryHost[] {
  if (limit === undefined || !limit.trim()) return [...inv.hosts];
  const display = inv.source?.display ?? inv.file;
  const hostNames = inv.hosts.map((h) => h.name);
  const groupNames = Object.keys(inv.groups);

  const resolve = (name: string): Set<string> => {
    if (!TOKEN_RE.test(name)) {
      throw new InputError(`--limit: ${show(name)} is not a host or group name; use names from ${display} separated by commas, ! to exclude`);
    }
    if (name.includes('*')) {
      const re = new RegExp(`^${name.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
      const out = new Set<string>(hostNames.filter((h) => re.test(h)));
      for (const g of groupNames) if (re.test(g)) for (const h of inv.groups[g] ?? []) out.add(h);
      if (out.size === 0) throw new InputError(`--limit: ${name} matches no host or group in ${display}; use names from the inventory`);
      return out;
    }
    const group = Object.hasOwn(inv.groups, name) ? inv.groups[name] : undefined;
    if (group) return new Set(group);
    if (hostNames.includes(name)) return new Set([name]);
    const near = suggest(name, [...hostNames, ...groupNames], { mode: 'name' });
    const sample = [...hostNames.slice(0, 3), ...groupNames.filter((g) => g !== 'all').slice(0, 2)].join(', ');
    throw new InputError(
      `--limit: ${name} is not a host or group in ${display}; ${near !== undefined ? `did you mean ${near}?` : `use names from the inventory, e.g. ${sample}`}`,
    );
  };

  let include: Set<string> | undefined;
  const intersect: Set<string>[] = [];
  const exclude = new Set<string>();
  for (const raw of limit.split(/[,:]/)) {
    const token = raw.trim();
    if (!token) continue;
    if (token.startsWith('!')) for (const h of resolve(token.slice(1).trim())) exclude.add(h);
    else if (token.startsWith('&')) intersect.push(resolve(token.slice(1).trim()));
    else {
      include ??= new Set();
      for (const h of resolve(token)) include.add(h);
    }
  }
  const picked = inv.hosts.filter((h) => (include ? include.has(h.name) : true) && intersect.every((s) => s.has(h.name)) && !exclude.has(h.name));
  if (picked.length === 0) {
    throw new InputError(`--limit: ${show(limit)} selects no host; loosen the limit or drop it to run on every host`);
  }
  return picked;
}
