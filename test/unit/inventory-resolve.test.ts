// ansible_host as a DNS name (resolved once, with an injected lookup: no real DNS here) and the
// connection aliases Ansible accepts (ansible_private_key_file, ansible_ssh_password).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Io } from '../../src/cli/base.js';
import { loadForRun } from '../../src/cli/prepare.js';
import { EventBus, type RunEvent } from '../../src/engine/events.js';
import { InputError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveHostNames, type Lookup } from '../../src/inventory/resolve.js';
import { resolveSettings } from '../../src/inventory/settings.js';

const lines = (...l: string[]) => l.join('\n') + '\n';
const INI = lines(
  '[masters]',
  'm1 ansible_host=m1.example.internal',
  'm2 ansible_host=m2.example.internal',
  'm3 ansible_host=10.0.0.13',
  '[nodes]',
  'w1 ansible_host=w1.example.internal',
  '[all:vars]',
  'vip=10.0.0.100',
);
const DNS: Record<string, string> = { 'm1.example.internal': '10.0.0.11', 'm2.example.internal': '10.0.0.12', 'w1.example.internal': '10.0.0.21' };

/** A lookup from a table, counting the questions; an unknown name fails as getaddrinfo does. */
function fakeDns(table: Record<string, string> = DNS) {
  const asked: string[] = [];
  const lookup: Lookup = async (name) => {
    asked.push(name);
    const a = table[name];
    if (a === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return a;
  };
  return { lookup, asked };
}

const errorOf = async (f: () => unknown): Promise<string> => {
  try {
    await f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
};

describe('resolveHostNames', () => {
  test('the masters names are resolved once each; SSH keeps the name; the configs get the IPv4', async () => {
    const inv = parseInventory(INI, 'inventory.ini');
    const dns = fakeDns();
    expect(await resolveHostNames(inv, dns.lookup)).toEqual([
      { host: 'm1', name: 'm1.example.internal', address: '10.0.0.11' },
      { host: 'm2', name: 'm2.example.internal', address: '10.0.0.12' },
    ]);
    // w1 is a node and no setting needs its address: not looked up
    expect(dns.asked).toEqual(['m1.example.internal', 'm2.example.internal']);
    expect(inv.hosts[0]?.connection.address).toBe('m1.example.internal');
    expect(inv.hosts[0]?.resolved).toEqual({ name: 'm1.example.internal', address: '10.0.0.11' });
    const s = resolveSettings(inv);
    expect([s.hosts['m1']?.address, s.hosts['m2']?.address, s.hosts['m3']?.address]).toEqual(['10.0.0.11', '10.0.0.12', '10.0.0.13']);
    // once: a second pass asks nothing
    await resolveHostNames(inv, dns.lookup);
    expect(dns.asked).toHaveLength(2);
  });

  test('with node_local_proxy the nodes need an address too', async () => {
    const inv = parseInventory(INI.replace('vip=10.0.0.100', 'vip=10.0.0.100\nnode_local_proxy=true'), 'inventory.ini');
    const dns = fakeDns();
    await resolveHostNames(inv, dns.lookup);
    expect(dns.asked).toEqual(['m1.example.internal', 'm2.example.internal', 'w1.example.internal']);
    expect(resolveSettings(inv).hosts['w1']?.address).toBe('10.0.0.21');
  });

  test('a name that does not resolve: one line naming the host, where ansible_host is written', async () => {
    const inv = parseInventory(INI, 'inventory.ini');
    const dns = fakeDns({ 'm1.example.internal': '10.0.0.11' });
    expect(await errorOf(() => resolveHostNames(inv, dns.lookup))).toBe(
      "inventory.ini:3: [masters] m2 ansible_host: m2.example.internal (the ansible_host of m2) does not resolve to an IPv4 address (ENOTFOUND); fix the name, or set ansible_host to the host's IPv4",
    );
  });

  test('a lookup that never answers times out', async () => {
    const inv = parseInventory(INI, 'inventory.ini');
    const never: Lookup = () => new Promise(() => undefined);
    expect(await errorOf(() => resolveHostNames(inv, never, 50))).toBe(
      "inventory.ini:2: [masters] m1 ansible_host: m1.example.internal (the ansible_host of m1) does not resolve to an IPv4 address (no answer within 0.05 s); fix the name, or set ansible_host to the host's IPv4",
    );
  });

  test('two names for one address are one machine listed twice', async () => {
    const inv = parseInventory(INI, 'inventory.ini');
    const dns = fakeDns({ ...DNS, 'm2.example.internal': '10.0.0.13' });
    expect(await errorOf(() => resolveHostNames(inv, dns.lookup))).toBe(
      'inventory.ini:3: [masters] m2 ansible_host: m2.example.internal resolves to 10.0.0.13, the address of m3 too; give each host its own ansible_host (or ansible_port)',
    );
  });

  describe('loadForRun: one info line per resolved host', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'kha-resolve-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('m1: ansible_host m1.example.internal -> 10.0.0.11', async () => {
      const file = path.join(dir, 'inventory.ini');
      await writeFile(file, INI);
      const events = new EventBus();
      const seen: RunEvent[] = [];
      events.add({ emit: (e) => seen.push(e) });
      const io: Io = { events, logFile: '/dev/null', signal: new AbortController().signal, verbose: 0, json: false, addSecrets: () => undefined };
      const { settings } = await loadForRun({ inventory: file }, io, { lookup: fakeDns().lookup });
      expect(seen).toEqual([
        { type: 'message', level: 'info', host: 'm1', text: 'ansible_host m1.example.internal -> 10.0.0.11' },
        { type: 'message', level: 'info', host: 'm2', text: 'ansible_host m2.example.internal -> 10.0.0.12' },
      ]);
      expect(settings.hosts['m2']?.address).toBe('10.0.0.12');
    });
  });
});

describe('connection aliases', () => {
  const inv = (vars: string) => parseInventory(lines('[masters]', `m1 ansible_host=10.0.0.11 ${vars}`), 'inventory.ini');

  test('ansible_private_key_file is read (it was ignored before); ansible_ssh_private_key_file wins over it, as in Ansible', () => {
    expect(inv('ansible_private_key_file=/keys/a').hosts[0]?.connection).toMatchObject({ privateKeyFile: '/keys/a', explicit: { privateKeyFile: true } });
    expect(inv('ansible_private_key_file=/keys/a ansible_ssh_private_key_file=/keys/b').hosts[0]?.connection.privateKeyFile).toBe('/keys/b');
  });

  test('ansible_ssh_password is a password, and a secret', () => {
    const i = inv('ansible_ssh_password=s3cret-pw');
    expect(i.hosts[0]?.connection.password).toBe('s3cret-pw');
    expect(i.secrets).toContain('s3cret-pw');
  });
});
