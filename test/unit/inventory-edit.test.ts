import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addHostToInventoryText, removeHostFromInventoryText, writeInventoryAtomic } from '../../src/inventory/edit.js';
import { parseInventory } from '../../src/inventory/load.js';
import { InputError } from '../../src/errors.js';

const text = `# production masters: do not touch m1 by hand
all:
  vars:
    vip: 10.0.0.100   # the API endpoint
    ansible_user: ops
  children:
    masters:
      hosts:
        m1: { ansible_host: 10.0.0.11 }  # rack A
        m2:
          ansible_host: 10.0.0.12
        m3: { ansible_host: 10.0.0.13 }
    workers:
      hosts:
        w1: { ansible_host: 10.0.0.21 }
`;

describe("inventory edits keep the operator's comments, order and formatting", () => {
  it('add-master appends the host to the masters group, nothing else changes', () => {
    const out = addHostToInventoryText(text, ['all', 'children', 'masters'], 'm4', { ansible_host: '10.0.0.14' });
    expect(out).toBe(text.replace('        m3: { ansible_host: 10.0.0.13 }\n', '        m3: { ansible_host: 10.0.0.13 }\n        m4: { ansible_host: 10.0.0.14 }\n'));
    expect(parseInventory(out, 'hosts.yaml').groups['masters']).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('remove-master deletes the host wherever it is listed and keeps every comment', () => {
    const { text: out, removedFrom } = removeHostFromInventoryText(text, 'm2');
    expect(removedFrom).toEqual(['all.children.masters.hosts']);
    expect(out).toBe(text.replace('        m2:\n          ansible_host: 10.0.0.12\n', ''));
    expect(out).toContain('# rack A');
    expect(out).toContain('# production masters: do not touch m1 by hand');
  });

  it('removing an unknown host is an input error', () => {
    expect(() => removeHostFromInventoryText(text, 'm9')).toThrow(new InputError('--name: m9 is not a host of the inventory'));
  });
});

describe('CRLF inventories', () => {
  it('the added line uses the file\'s own line ending', () => {
    const crlf = text.replace(/\n/g, '\r\n');
    const out = addHostToInventoryText(crlf, ['all', 'children', 'masters'], 'm4', { ansible_host: '10.0.0.14' });
    expect(out).toBe(crlf.replace('        m3: { ansible_host: 10.0.0.13 }\r\n', '        m3: { ansible_host: 10.0.0.13 }\r\n        m4: { ansible_host: 10.0.0.14 }\r\n'));
  });
});

describe('dedicated load balancers (settings)', () => {
  const lbInv = (vars: string) =>
    ['all:', '  vars:', '    vip: 10.0.0.100', ...vars.split('\n').filter(Boolean).map((l) => `    ${l}`), '  children:', '    loadbalancers:', '      hosts:', '        lb1: { ansible_host: 10.0.0.5 }', '        lb2: { ansible_host: 10.0.0.6 }', '    masters:', '      hosts:', '        m1: { ansible_host: 10.0.0.11 }'].join('\n');
  it('frontend_port 6443 is fine when no load balancer runs an apiserver', async () => {
    const { resolveSettings } = await import('../../src/inventory/settings.js');
    const s = resolveSettings(parseInventory(lbInv('frontend_port: 6443'), 'hosts.yaml'));
    expect(s.frontendPort).toBe(6443);
    expect(s.lbHosts).toEqual(['lb1', 'lb2']);
    expect(s.unicast).toBe(true);
  });
  it('track_apiserver is refused: the load balancers run no apiserver', async () => {
    const { resolveSettings } = await import('../../src/inventory/settings.js');
    expect(() => resolveSettings(parseInventory(lbInv('track_apiserver: true'), 'hosts.yaml'))).toThrow(
      'hosts.yaml:4: all.vars.track_apiserver: track_apiserver checks the apiserver on each load-balancer host, and lb1, lb2 run none (dedicated load balancers); remove track_apiserver',
    );
  });
});

describe('writing the inventory', () => {
  it('the temp file has an unpredictable name and is created exclusively: a symlink planted at the old <pid> name is not written through', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-inv-write-'));
    try {
      const file = path.join(dir, 'hosts.yaml');
      fs.writeFileSync(file, text, { mode: 0o640 });
      const victim = path.join(dir, 'victim');
      fs.writeFileSync(victim, 'precious\n');
      fs.symlinkSync(victim, `${file}.kha-${process.pid}.tmp`);
      writeInventoryAtomic(file, `${text}# edited\n`);
      expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
      expect(fs.readFileSync(file, 'utf8')).toBe(`${text}# edited\n`);
      expect(fs.statSync(file).mode & 0o777).toBe(0o640);
      expect(fs.readdirSync(dir).sort()).toEqual(['hosts.yaml', `hosts.yaml.kha-${process.pid}.tmp`, 'victim']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
