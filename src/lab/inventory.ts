// The lab's inventory file, as an operator would write it for these hosts.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { KHA_SUDO_PASSWORD, type Lab } from './types.js';

/** Ansible-style YAML inventory of the lab: all.vars + children.masters.hosts.<name>.ansible_host */
export function writeLabInventory(
  lab: Lab,
  file: string,
  extra: {
    vars?: Record<string, unknown>;
    /** group -> host names (masters, loadbalancers, nodes...): hosts go under all.hosts, groups under all.children */
    groups?: Record<string, string[]>;
    /** the lab hosts in the inventory (default: every one) */
    hosts?: string[];
  } = {},
): void {
  const vars: Record<string, unknown> = {
    vip: lab.vip,
    ansible_user: lab.user,
    ansible_ssh_private_key_file: lab.keyFile,
    ansible_ssh_common_args: `-o UserKnownHostsFile=${lab.knownHostsFile} -o StrictHostKeyChecking=yes`,
    ...(lab.user === 'kha' ? { ansible_become: true, ansible_become_password: KHA_SUDO_PASSWORD } : {}),
    ...extra.vars,
  };
  const hosts: Record<string, { ansible_host: string }> = {};
  for (const h of lab.hosts) if (!extra.hosts || extra.hosts.includes(h.name)) hosts[h.name] = { ansible_host: h.address };
  const doc = extra.groups
    ? {
        all: {
          vars,
          hosts,
          children: Object.fromEntries(Object.entries(extra.groups).map(([g, members]) => [g, { hosts: Object.fromEntries(members.map((m) => [m, null])) }])),
        },
      }
    : { all: { vars, children: { masters: { hosts } } } };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `# kha lab '${lab.name}' (generated)\n${YAML.stringify(doc)}`);
}
