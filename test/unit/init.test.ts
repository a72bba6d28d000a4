// kha init: flags (or answers) -> the inventory text, byte for byte against test/golden; every
// bad value named by its flag; the virtual_router_id chosen from the VIP and never 51; the file
// written exclusively and loaded back by the real loader; and the built CLI end to end (no host is
// contacted: init only writes a file).
//
// Regenerate the golden after an intended change with
//     npx vitest run --project unit test/unit/init.test.ts -u
// then read the diff line by line, and regenerate inventory/hosts.example.yaml with the flags of
// EXAMPLE_FLAGS (kha init --force -o inventory/hosts.example.yaml ...).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  COMMON_VRIDS,
  checkInitText,
  gatherInit,
  initInventoryText,
  suggestVirtualRouterId,
  writeInit,
  type Asker,
  type InitFlags,
} from '../../src/actions/init.js';
import { createInventoryFile } from '../../src/inventory/edit.js';
import { loadInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import { outputProblems, parseJson, runKha, showRun } from '../helpers/cli.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const GOLDEN_DIR = path.join(REPO, 'test', 'golden');

/** every flag init takes: 3 masters, 2 nodes, user, become, interface */
const FULL: InitFlags = {
  vip: '10.0.0.100',
  master: ['m1=10.0.0.11', 'm2=10.0.0.12', 'm3=10.0.0.13'],
  node: ['n1=10.0.0.21', 'n2=10.0.0.22'],
  user: 'ubuntu',
  become: true,
  interface: 'eth0',
};
/** the README's quick start: what inventory/hosts.example.yaml holds */
const EXAMPLE_FLAGS: InitFlags = { vip: '10.0.0.100', master: ['m1=10.0.0.11', 'm2=10.0.0.12', 'm3=10.0.0.13'], user: 'ubuntu', become: true };

let dir: string;
let FULL_SPEC: Awaited<ReturnType<typeof gatherInit>>;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-init-'));
  FULL_SPEC = await gatherInit(FULL);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name = 'hosts.yaml') => path.join(fs.mkdtempSync(path.join(dir, `c${n++}-`)), name);

describe('the text', () => {
  test('every flag: byte for byte (golden)', async () => {
    const text = initInventoryText(await gatherInit(FULL));
    await expect(text).toMatchFileSnapshot(path.join(GOLDEN_DIR, 'init.hosts.yaml'));
  });

  test('inventory/hosts.example.yaml is what kha init writes for the quick start flags', async () => {
    const text = initInventoryText(await gatherInit(EXAMPLE_FLAGS));
    expect(fs.readFileSync(path.join(REPO, 'inventory', 'hosts.example.yaml'), 'utf8')).toBe(text);
  });

  test('only the required flags: the optional ones are comments, and no password is ever written', async () => {
    const spec = await gatherInit({ vip: '192.168.1.40', master: ['cp-1=192.168.1.41'] });
    const text = initInventoryText(spec);
    expect(text).toContain('    # ansible_user: ubuntu');
    expect(text).toContain('    # ansible_become: true');
    expect(text).toContain('    # vrrp_interface: eth0');
    expect(text).toContain('    #   vrrp_auth_pass: ${env:KHA_VRRP_PASS}');
    expect(text).toContain('    #   vrrp_auth_pass_file: ~/.kha/vrrp-pass');
    // no uncommented secret key at all
    expect(text).not.toMatch(/^\s*(vrrp_auth_pass|vrrp_auth_pass_file|ansible_become_password|ansible_password)\s*:/m);
    expect(text).not.toContain('nodes:');
    expect(text).toContain('        cp-1: { ansible_host: 192.168.1.41 }   # the primary: highest priority (250)\n');
    expect(text).toContain('    virtual_router_id: 40\n');
  });

  test('names the loader would read as something else are quoted, and load back as given', async () => {
    const spec = await gatherInit({ vip: '10.0.0.100', master: ['1e3=10.0.0.11', 'true=10.0.0.12'], user: 'null', interface: '1' });
    const text = initInventoryText(spec);
    expect(text).toContain('        "1e3": { ansible_host: 10.0.0.11 }');
    expect(text).toContain('        "true": { ansible_host: 10.0.0.12 }');
    expect(text).toContain('ansible_user: "null"');
    const s = checkInitText(text, 'hosts.yaml', spec);
    expect(s.masters).toEqual(['1e3', 'true']);
    expect(s.hosts['1e3']?.interface).toBe('1');
  });
});

describe('the virtual_router_id', () => {
  test('never 51 nor another common id, always 1..255, the same on every call', () => {
    for (const prefix of ['10.0.0', '192.168.7', '172.16.200']) {
      for (let o = 0; o <= 255; o++) {
        const vip = `${prefix}.${o}`;
        const { id } = suggestVirtualRouterId(vip);
        expect(id).toBeGreaterThanOrEqual(1);
        expect(id).toBeLessThanOrEqual(255);
        expect(id).not.toBe(51);
        expect(COMMON_VRIDS).not.toContain(id);
        expect(suggestVirtualRouterId(vip).id).toBe(id);
      }
    }
  });

  test("the VIP's last octet, so VIPs in one /24 get different ids; a common octet falls back to a hash of the VIP", () => {
    expect(suggestVirtualRouterId('10.0.0.131')).toEqual({ id: 131, from: 'octet' });
    expect(suggestVirtualRouterId('10.0.0.51')).toMatchObject({ from: 'hash' });
    expect(suggestVirtualRouterId('10.0.0.100')).toEqual({ id: 75, from: 'hash' });
    expect(suggestVirtualRouterId('10.0.0.0').from).toBe('hash');
    const ids = new Set<number>();
    for (let o = 1; o <= 255; o++) if (!COMMON_VRIDS.includes(o)) ids.add(suggestVirtualRouterId(`10.9.8.${o}`).id);
    expect(ids.size).toBe(255 - COMMON_VRIDS.length);
  });

  test('the comment says where the id came from and why not 51', async () => {
    const octet = initInventoryText(await gatherInit({ vip: '10.0.0.131', master: ['m1=10.0.0.11'] }));
    expect(octet).toContain(
      "    # This id is the VIP's last octet, so clusters whose VIPs share a /24 get different ids.\n    # kha up listens for another router using it before the first start.\n    virtual_router_id: 131\n",
    );
    expect(octet).toContain("Not 51: keepalived's sample and the kubeadm HA guide use it");
    const hash = initInventoryText(await gatherInit({ vip: '10.0.0.51', master: ['m1=10.0.0.11'] }));
    expect(hash).toContain('    # This id is derived from the whole VIP: its last octet, 51, is one of those.\n');
    expect(hash).not.toContain('virtual_router_id: 51');
  });

  test('--virtual-router-id is taken as given; 51 is written with a warning', async () => {
    const spec = await gatherInit({ vip: '10.0.0.100', master: ['m1=10.0.0.11'], 'virtual-router-id': '51' });
    expect(spec).toMatchObject({ virtualRouterId: 51, vridFrom: 'given' });
    expect(initInventoryText(spec)).toContain("# Set with --virtual-router-id: 51 is keepalived's sample id, the one most likely taken.");
    const r = writeInit(fresh(), spec, { force: false });
    expect(r.warnings).toEqual([
      "virtual_router_id 51 is one that sample configs use, so likely taken on a busy network; kha up's preflight listens for another router using it",
    ]);
  });
});

describe('bad values: one line naming the flag (exit 4)', () => {
  const base: InitFlags = { vip: '10.0.0.100', master: ['m1=10.0.0.11'] };
  test.each<[string, InitFlags, string]>([
    [
      'not an address',
      { ...base, vip: '10.0.0.300' },
      "--vip: 10.0.0.300 is not an IPv4 address; pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100",
    ],
    [
      'a prefix',
      { ...base, vip: '10.0.0.100/24' },
      "--vip: 10.0.0.100/24 has a prefix length; pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100",
    ],
    [
      'loopback',
      { ...base, vip: '127.0.0.5' },
      "--vip: 127.0.0.5 is a loopback, multicast or reserved address, not usable as a VIP; pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100",
    ],
    ['a master without =', { ...base, master: ['m1'] }, '--master: "m1" is not name=address; pass it as --master m1=10.0.0.11'],
    [
      'a master name with a space',
      { ...base, master: ['m 1=10.0.0.11'] },
      "--master: \"m 1\" is not a valid host name; use letters, digits, '.', '_' and '-', starting with a letter or digit, as in --master m1=10.0.0.11",
    ],
    [
      'a master named by DNS',
      { ...base, master: ['m1=m1.example.com'] },
      '--master m1: "m1.example.com" is not an IPv4 address; keepalived and haproxy need each host\'s IPv4, as in --master m1=10.0.0.11',
    ],
    [
      'a node address',
      { ...base, node: ['n1=10.0.0'] },
      '--node n1: "10.0.0" is not an IPv4 address; keepalived and haproxy need each host\'s IPv4, as in --node n1=10.0.0.21',
    ],
    [
      'the VIP as a master address',
      { ...base, master: ['m1=10.0.0.100'] },
      "--vip: 10.0.0.100 is the address of m1; the VIP must be a free address in the masters' subnet",
    ],
    ['two hosts, one address', { ...base, node: ['n1=10.0.0.11'] }, '--node n1: 10.0.0.11 is already the address of m1; give each host its own address'],
    ['two hosts, one name', { ...base, node: ['m1=10.0.0.21'] }, '--node m1: m1 is already given (--master m1); give each host its own name'],
    [
      'a user name',
      { ...base, user: 'Ubuntu' },
      '--user: "Ubuntu" is not a valid user name; use a name like ubuntu (lowercase letters, digits, _ . -, starting with a letter or _)',
    ],
    [
      'an interface',
      { ...base, interface: '-eth0' },
      '--interface: -eth0 is not an interface name; use the Linux name of the interface (up to 15 letters, digits or _ . : @ -), e.g. eth0',
    ],
    [
      'a router id out of range',
      { ...base, 'virtual-router-id': '300' },
      '--virtual-router-id: 300 is not a VRRP router id; use a number from 1 to 255 that no other VRRP group on the network uses',
    ],
    [
      'a router id that is no number',
      { ...base, 'virtual-router-id': 'abc' },
      '--virtual-router-id: abc is not a VRRP router id; use a number from 1 to 255 that no other VRRP group on the network uses',
    ],
    [
      'no --vip and no terminal',
      { master: ['m1=10.0.0.11'] },
      "--vip is required: pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100 (there is no terminal to ask on)",
    ],
    [
      'no --master and no terminal',
      { vip: '10.0.0.100' },
      '--master is required: pass each master as --master NAME=IPV4, the primary first, e.g. --master m1=10.0.0.11 (there is no terminal to ask on)',
    ],
  ])('%s', async (_name, flags, line) => {
    await expect(gatherInit(flags)).rejects.toMatchObject({ message: line, code: 'E_INPUT', exit: 4 });
  });
});

/** A terminal that answers from a list and records what it was asked and told. */
function scripted(answers: string[]): Asker & { asked: string[]; told: string[] } {
  const asked: string[] = [];
  const told: string[] = [];
  return {
    asked,
    told,
    ask: async (q) => {
      asked.push(q);
      const a = answers.shift();
      if (a === undefined) throw new Error(`no scripted answer for ${q}`);
      return a;
    },
    tell: (l) => void told.push(l),
  };
}

describe('asked on a terminal', () => {
  test('a missing --vip: asks for it and every optional value not given; a bad answer is said and asked again', async () => {
    const t = scripted(['10.0.0.300', '10.0.0.130', 'n1=10.0.0.21', 'ops', 'y', '', '']);
    const spec = await gatherInit({ master: ['m1=10.0.0.11', 'm2=10.0.0.12'] }, t);
    expect(t.asked).toEqual([
      "VIP (a free IPv4 address in the masters' subnet): ",
      "VIP (a free IPv4 address in the masters' subnet): ",
      'worker nodes (name=IPv4, separated by spaces; Enter for none): ',
      'SSH user (Enter for the user running kha): ',
      'use sudo on the hosts (a user other than root)? [y/N] ',
      'VRRP interface (Enter to let kha up find it on each host): ',
      'virtual_router_id [130]: ',
    ]);
    expect(t.told).toEqual(["  --vip: 10.0.0.300 is not an IPv4 address; pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100"]);
    expect(spec).toEqual({
      vip: '10.0.0.130',
      masters: [
        { name: 'm1', address: '10.0.0.11' },
        { name: 'm2', address: '10.0.0.12' },
      ],
      nodes: [{ name: 'n1', address: '10.0.0.21' }],
      user: 'ops',
      become: true,
      virtualRouterId: 130,
      vridFrom: 'octet',
    });
  });

  test('masters are asked as one list; an empty answer is asked again', async () => {
    const t = scripted(['', 'm1=10.0.0.11, m2=10.0.0.12', '', '', 'n', 'ens3', '77']);
    const spec = await gatherInit({ vip: '10.0.0.100' }, t);
    expect(t.told).toEqual(['  give at least one master, as in m1=10.0.0.11']);
    expect(spec).toMatchObject({ masters: [{ name: 'm1' }, { name: 'm2' }], nodes: [], become: false, iface: 'ens3', virtualRouterId: 77, vridFrom: 'given' });
    expect(spec.user).toBeUndefined();
  });

  test('all required flags given: nothing is asked, even on a terminal', async () => {
    const t = scripted([]);
    await gatherInit({ vip: '10.0.0.100', master: ['m1=10.0.0.11'] }, t);
    expect(t.asked).toEqual([]);
  });

  test('after five bad answers the last error stands', async () => {
    const t = scripted(['x', 'x', 'x', 'x', 'x']);
    await expect(gatherInit({ master: ['m1=10.0.0.11'] }, t)).rejects.toMatchObject({ code: 'E_INPUT' });
    expect(t.told).toHaveLength(4);
  });
});

describe('written and loaded back', () => {
  test('the file loads with loadInventory and gives the settings asked for; it is 0600', async () => {
    const file = fresh();
    const r = writeInit(file, await gatherInit(FULL), { force: false });
    expect(r).toMatchObject({ file, vip: '10.0.0.100', virtual_router_id: 75, warnings: [] });
    expect(r.hosts).toEqual([
      { name: 'm1', group: 'masters', address: '10.0.0.11', priority: 250 },
      { name: 'm2', group: 'masters', address: '10.0.0.12', priority: 200 },
      { name: 'm3', group: 'masters', address: '10.0.0.13', priority: 150 },
      { name: 'n1', group: 'nodes', address: '10.0.0.21' },
      { name: 'n2', group: 'nodes', address: '10.0.0.22' },
    ]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const inv = await loadInventory(file);
    const s = resolveSettings(inv);
    expect(s).toMatchObject({ vip: '10.0.0.100', virtualRouterId: 75, masters: ['m1', 'm2', 'm3'], primary: 'm1', nodes: ['n1', 'n2'], unicast: false });
    expect(s.hosts['m2']).toEqual({ name: 'm2', address: '10.0.0.12', priority: 200, interface: 'eth0', apiserverPort: 6443, metricsBind: '10.0.0.12' });
    for (const h of inv.hosts) expect(h.connection).toMatchObject({ user: 'ubuntu', become: true, port: 22 });
    expect(inv.secrets).toEqual([]);
  });

  test('an existing file is refused (exit 4) and left as it was', async () => {
    const file = fresh();
    fs.writeFileSync(file, 'mine\n');
    expect(() => writeInit(file, { ...FULL_SPEC }, { force: false })).toThrow(
      expect.objectContaining({
        code: 'E_FILE_EXISTS',
        exit: 4,
        message: `${file} already exists; kha init does not overwrite it: pass --force to replace it (the old file is kept as ${file}.bak), or -o to write another file`,
      }),
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('mine\n');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['hosts.yaml']);
  });

  test('force: replaced, the previous file kept as .bak with its mode', async () => {
    const file = fresh();
    fs.writeFileSync(file, 'mine\n', { mode: 0o640 });
    const r = writeInit(file, { ...FULL_SPEC }, { force: true });
    expect(r.backup).toBe(`${file}.bak`);
    expect(fs.readFileSync(`${file}.bak`, 'utf8')).toBe('mine\n');
    expect(fs.readFileSync(file, 'utf8')).toBe(initInventoryText(FULL_SPEC));
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
  });

  test('a dangling symlink counts as existing: nothing is written through it', () => {
    const file = fresh();
    const elsewhere = path.join(path.dirname(file), 'elsewhere.yaml');
    fs.symlinkSync(elsewhere, file);
    expect(() => createInventoryFile(file, 'x: 1\n', { replace: false })).toThrow(expect.objectContaining({ code: 'E_FILE_EXISTS' }));
    expect(fs.existsSync(elsewhere)).toBe(false);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['hosts.yaml']);
  });
});

describe('the built CLI (no host is contacted; files in a temp dir)', () => {
  const fullArgs = [
    '--vip',
    '10.0.0.100',
    '--master',
    'm1=10.0.0.11',
    '--master',
    'm2=10.0.0.12',
    '--master',
    'm3=10.0.0.13',
    '--node',
    'n1=10.0.0.21',
    '--node',
    'n2=10.0.0.22',
    '--user',
    'ubuntu',
    '--become',
    '--interface',
    'eth0',
  ];

  test('writes the golden text, says the path and the next command', async () => {
    const file = fresh();
    const r = await runKha(['init', '-o', file, ...fullArgs], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toBe(`wrote ${file} (3 masters, 2 nodes; VIP 10.0.0.100, virtual_router_id 75)\nnext: kha up -i ${file} --check --diff\n`);
    expect(r.stderr).toBe('');
    expect(fs.readFileSync(file, 'utf8')).toBe(fs.readFileSync(path.join(GOLDEN_DIR, 'init.hosts.yaml'), 'utf8'));
  });

  test('--json: one document, its result {file, hosts, vip, virtual_router_id}', async () => {
    const file = fresh();
    const r = await runKha(['init', '-o', file, '--vip', '10.0.0.131', '--master', 'm1=10.0.0.11', '--json'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const doc = parseJson(r);
    expect(outputProblems(doc)).toEqual([]);
    expect(doc.result).toEqual({
      file,
      hosts: [{ name: 'm1', group: 'masters', address: '10.0.0.11', priority: 250 }],
      vip: '10.0.0.131',
      virtual_router_id: 131,
    });
  });

  test('an existing file: one error line, exit 4, the file untouched', async () => {
    const file = fresh();
    fs.writeFileSync(file, 'mine\n');
    const r = await runKha(['init', '-o', file, ...fullArgs], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(4);
    expect(r.stderr).toBe(
      `error: ${file} already exists; kha init does not overwrite it: pass --force to replace it (the old file is kept as ${file}.bak), or -o to write another file\n`,
    );
    expect(r.stdout).toBe('');
    expect(fs.readFileSync(file, 'utf8')).toBe('mine\n');
  });

  test('a bad --vip: one error line naming the flag, exit 4, no file', async () => {
    const file = fresh();
    const r = await runKha(['init', '-o', file, '--vip', '10.0.0', '--master', 'm1=10.0.0.11'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(4);
    expect(r.stderr).toBe("error: --vip: 10.0.0 is not an IPv4 address; pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100\n");
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(path.dirname(file))).toEqual([]);
  });

  test('no --master and stdin is no terminal: the flag is named, exit 4', async () => {
    const file = fresh();
    const r = await runKha(['init', '-o', file, '--vip', '10.0.0.100'], { timeoutMs: 60_000, input: 'm1=10.0.0.11\n' });
    expect(r.code, showRun(r)).toBe(4);
    expect(r.stderr).toBe(
      'error: --master is required: pass each master as --master NAME=IPV4, the primary first, e.g. --master m1=10.0.0.11 (there is no terminal to ask on)\n',
    );
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('where it cannot write', () => {
  test('a directory that does not exist: one line naming -o, exit 4', async () => {
    const file = path.join(dir, 'no-such-dir', 'hosts.yaml');
    expect(() => writeInit(file, FULL_SPEC, { force: false })).toThrow(
      expect.objectContaining({
        code: 'E_INPUT',
        exit: 4,
        message: `-o ${file}: cannot write it (its directory does not exist); pass -o with a path in a directory you can write`,
      }),
    );
  });
});
