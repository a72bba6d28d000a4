// The playbooks shipped in playbooks/ parse against a kubeadm-style inventory (masters group):
// a broken example is a bug like any other.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parseInventory } from '../../src/inventory/load.js';
import { loadPlaybook } from '../../src/playbook/load.js';

const DIR = fileURLToPath(new URL('../../playbooks/', import.meta.url));
const inv = parseInventory(
  [
    'all:',
    '  vars:',
    '    vip: 10.0.0.100',
    '  children:',
    '    masters:',
    '      hosts:',
    '        m1: { ansible_host: 10.0.0.11 }',
    '        m2: { ansible_host: 10.0.0.12 }',
    '',
  ].join('\n'),
  'hosts.yaml',
);
const files = fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));

describe('playbooks/', () => {
  test('ships at least one playbook', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  test.each(files)('%s parses, targets the masters, every task has a module', (f) => {
    const plays = loadPlaybook(path.join(DIR, f), inv);
    expect(plays.length).toBeGreaterThan(0);
    for (const p of plays) {
      expect(p.hosts).toEqual(['m1', 'm2']);
      expect(p.tasks.length).toBeGreaterThan(0);
      for (const t of p.tasks) expect(typeof t.module.plan).toBe('function');
    }
  });
});
