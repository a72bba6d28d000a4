// Inventories for the integration tests: generated ones in a lab's state dir (writeInv, with
// groups and per-host vars), hand-written ones with comments (handInventory), and a line diff.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { writeLabInventory } from '../../src/lab/lab.js';
import type { Lab } from '../../src/lab/lab.js';

export interface InvOptions {
  vars?: Record<string, unknown>;
  /** host -> vars set on that host's entry */
  hostVars?: Record<string, Record<string, unknown>>;
  /** group -> host names (masters, loadbalancers, nodes...): hosts go under all.hosts, groups under all.children */
  groups?: Record<string, string[]>;
  /** the lab hosts in the inventory (default: every one) */
  hosts?: string[];
}

/**
 * writeLabInventory (its connection vars: ansible_ssh_common_args names the lab's known_hosts)
 * into `<lab.stateDir>/<name>.yaml`, removed with the lab; then per-host vars. Without groups every
 * host is under all.children.masters, with groups under all.hosts. Returns the file.
 */
export function writeInv(lab: Lab, name: string, o: InvOptions = {}): string {
  const file = path.join(lab.stateDir, `${name}.yaml`);
  const { hostVars, ...extra } = o;
  writeLabInventory(lab, file, extra);
  if (hostVars) {
    const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as {
      all: { hosts?: Record<string, Record<string, unknown>>; children: { masters: { hosts: Record<string, Record<string, unknown>> } } };
    };
    const hosts = o.groups ? doc.all.hosts! : doc.all.children.masters.hosts;
    for (const [h, v] of Object.entries(hostVars)) Object.assign(hosts[h]!, v);
    fs.writeFileSync(file, YAML.stringify(doc));
  }
  return file;
}

/**
 * An inventory as an operator writes it: comments (header, trailing, between hosts), odd spacing
 * after values, a flow map and a block map for hosts. Same connection vars as writeLabInventory.
 */
export function handInventory(lab: Lab, hosts: string[], extraVars = ''): string {
  const addr = (n: string) => lab.hosts.find((h) => h.name === n)!.address;
  const lines = [
    '# kha day-two test inventory (hand-written)',
    '#   keep this comment: the day-two commands must not touch it',
    '',
    'all:',
    '  vars:',
    `    vip: ${lab.vip}   # the endpoint`,
    `    ansible_user:   ${lab.user}`,
    `    ansible_ssh_private_key_file: "${lab.keyFile}"`,
    `    ansible_ssh_common_args: '-o UserKnownHostsFile=${lab.knownHostsFile} -o StrictHostKeyChecking=yes'`,
    '    advert_int: 1    # seconds',
    ...(extraVars ? extraVars.split('\n').map((l) => `    ${l}`) : []),
    '',
    '  children:',
    '    masters:   # the control plane',
    '      hosts:',
  ];
  hosts.forEach((h, i) => {
    if (i === 1) lines.push('        # the backups');
    // the last of several hosts in block style with a trailing comment, the others flow maps
    if (i === hosts.length - 1 && i > 0) lines.push(`        ${h}:`, `          ansible_host: ${addr(h)}   # block style`);
    else lines.push(`        ${h}: { ansible_host: ${addr(h)} }    # ${i === 0 ? 'primary' : 'backup'}`);
  });
  lines.push('', '# end of inventory', '');
  return lines.join('\n');
}

/** lines of `after` minus lines of `before`, assuming `after` = `before` with lines inserted */
export function lineDiff(before: string, after: string): { added: string[]; removed: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  // LCS on lines (files are small)
  const dp: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) dp[i]![j] = a[i] === b[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
  const added: string[] = [];
  const removed: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
    } else if (dp[i + 1]![j]! >= dp[i]![j + 1]!) removed.push(a[i++]!);
    else added.push(b[j++]!);
  }
  while (i < a.length) removed.push(a[i++]!);
  while (j < b.length) added.push(b[j++]!);
  return { added, removed };
}
