// The smallest kha inventory for unit tests: the VIP and a masters group, one flow-map line per
// host with its vars as written (`ansible_host: 10.0.0.11`).
export function mastersYaml(vip: string, hosts: Record<string, string>): string {
  return [
    'all:',
    '  vars:',
    `    vip: ${vip}`,
    '  children:',
    '    masters:',
    '      hosts:',
    ...Object.entries(hosts).map(([h, vars]) => `        ${h}: { ${vars} }`),
  ].join('\n');
}
