// -e/--extra-vars: KEY=VALUE, an inline mapping or @FILE, with Ansible's precedence (they win over
// every inventory variable, and over -u/--private-key/-b), the loader's checks and one-line errors
// (a did-you-mean for a misspelt name, the key named for a bad value), `extra-vars` as the origin
// in kha inventory, and secrets never printed. The parts that need no host on the BUILT CLI
// (`node bin/run.js`, `npm run build` first).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inventoryReport, originText } from '../../src/actions/inventory.js';
import { InputError } from '../../src/errors.js';
import { parseExtraVarsText, readExtraVars } from '../../src/inventory/extra-vars.js';
import { loadInventory, parseInventory } from '../../src/inventory/load.js';
import { explainSettings } from '../../src/inventory/settings.js';
import type { ExtraVarsArg, Inventory } from '../../src/inventory/types.js';
import { errorLines, runKha, showRun } from '../helpers/cli.js';

const lines = (...l: string[]) => l.join('\n') + '\n';
const HOSTS_YAML = lines(
  'all:',
  '  vars:',
  '    vip: 10.0.0.100',
  '    ansible_user: ubuntu',
  '  children:',
  '    masters:',
  '      vars:',
  '        virtual_router_id: 7',
  '      hosts:',
  '        m1: { ansible_host: 10.0.0.11, apiserver_port: 6444 }',
  '        m2: { ansible_host: 10.0.0.12 }',
);
const kv = (...args: string[]): ExtraVarsArg[] => args.map((a) => parseExtraVarsText(a, '/tmp'));
const load = (extra: ExtraVarsArg[], text = HOSTS_YAML, overrides = {}) => parseInventory(text, 'hosts.yaml', overrides, { extraVars: extra });
const loadError = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('no error');
};
const originOf = (inv: Inventory, k: 'vip' | 'virtual_router_id' | 'advert_int') => {
  const { settings, origins } = explainSettings(inv);
  return originText(inventoryReport(inv, settings, origins).settings[k]!.from);
};

describe('parseExtraVarsText', () => {
  test('KEY=VALUE items split like a shell line; the value is everything after the first =', () => {
    expect(parseExtraVarsText(`vip=10.0.0.100 api_endpoint_name='a b' x="c=d"`, '/w').pairs).toEqual([
      ['vip', '10.0.0.100'],
      ['api_endpoint_name', 'a b'],
      ['x', 'c=d'],
    ]);
    expect(parseExtraVarsText('{"vip": "10.0.0.100"}', '/w')).toEqual({ display: '-e', text: '{"vip": "10.0.0.100"}', baseDir: '/w' });
  });

  test('an item without =, a bad name or an empty argument: one line, and never the value', () => {
    expect(() => parseExtraVarsText('ansible_become_password= hunter2', '/w')).toThrow(
      '-e/--extra-vars: every item must be KEY=VALUE (or @FILE, a YAML or JSON file); one has no =',
    );
    expect(() => parseExtraVarsText('ansible_become_password= hunter2', '/w')).not.toThrow(/hunter2/);
    expect(() => parseExtraVarsText('my-var=1', '/w')).toThrow('-e/--extra-vars: my-var is not a variable name; use letters, digits and _');
    expect(() => parseExtraVarsText('  ', '/w')).toThrow('-e/--extra-vars: an empty argument');
    expect(() => parseExtraVarsText(`vip='10.0.0.1`, '/w')).toThrow(/-e\/--extra-vars: the single quote at character 5 is never closed/);
  });
});

describe('-e in the loader: the last word, checked like the inventory', () => {
  test('a cluster-wide setting: -e wins over all.vars and the masters group; the origin is extra-vars', () => {
    const inv = load(kv('vip=10.0.0.200 virtual_router_id=9'));
    const { settings } = explainSettings(inv);
    expect(settings.vip).toBe('10.0.0.200');
    expect(settings.virtualRouterId).toBe(9);
    expect(originOf(inv, 'vip')).toBe('extra-vars (-e vip)');
    expect(originOf(inv, 'virtual_router_id')).toBe('extra-vars (-e virtual_router_id)');
    expect(originOf(load([]), 'vip')).toBe('hosts.yaml:3 all.vars.vip');
  });

  test('a later -e wins over an earlier one; a per-host setting set on a host loses to -e on every host', () => {
    const inv = load(kv('apiserver_port=7443', 'apiserver_port=7444'));
    const { settings, origins } = explainSettings(inv);
    expect(settings.hosts['m1']!.apiserverPort).toBe(7444);
    expect(settings.hosts['m2']!.apiserverPort).toBe(7444);
    expect(origins.hosts['m1']!.apiserver_port).toMatchObject({ kind: 'extra-vars' });
  });

  test('connection variables: -e ansible_user wins over the inventory and over -u, as in Ansible; -u still wins without it', () => {
    expect(load(kv('ansible_user=deploy'), HOSTS_YAML, { user: 'root' }).hosts.map((h) => h.connection.user)).toEqual(['deploy', 'deploy']);
    expect(load(kv('ansible_port=2222')).hosts.map((h) => h.connection.port)).toEqual([2222, 2222]);
    expect(load(kv('vip=10.0.0.200'), HOSTS_YAML, { user: 'root' }).hosts[0]!.connection.user).toBe('root');
    expect(load(kv('ansible_become=yes'), HOSTS_YAML, { become: false }).hosts[0]!.connection.become).toBe(true);
  });

  test('a bad value names -e and the key; a misspelt name gets a did-you-mean; a name kha does not read is refused', () => {
    expect(loadError(() => explainSettings(load(kv('virtual_router_id=300'))))).toBe(
      '-e: virtual_router_id: 300 is not a VRRP router id; use a number from 1 to 255 that no other VRRP group on the network uses',
    );
    expect(loadError(() => load(kv('vip=10.0.0.100', 'virtual_routr_id=9')))).toBe(
      '-e: virtual_routr_id: unknown kha setting; did you mean virtual_router_id?',
    );
    expect(loadError(() => load(kv('ansible_usr=x')))).toBe('-e: ansible_usr: unknown connection variable; did you mean ansible_user?');
    expect(loadError(() => load(kv('colour=blue')))).toBe(
      '-e: colour: not a kha setting or connection variable, and kha reads nothing else from -e; kha inventory -i ... lists the settings',
    );
    expect(loadError(() => load(kv('vrrp_interface=-x')))).toMatch(/^-e: vrrp_interface: -x is not an interface name/);
  });

  test('secrets given with -e are registered for masking and never appear in a message', () => {
    const inv = load(kv('ansible_become_password=s3cr3t-pw vrrp_auth_pass=pa55'));
    expect(inv.secrets).toEqual(expect.arrayContaining(['s3cr3t-pw', 'pa55']));
    expect(inv.hosts[0]!.connection.becomePassword).toBe('s3cr3t-pw');
    const msg = loadError(() => explainSettings(load(kv('vrrp_auth_pass=toolongpassword'))));
    expect(msg).toBe('-e: vrrp_auth_pass: VRRP PASS keeps only 8 characters; use at most 8');
  });

  test("-e wins over a kubespray variable kha maps (no 'make them the same' refusal)", () => {
    const text = lines(
      'all:',
      '  vars:',
      '    loadbalancer_apiserver: { address: 10.0.0.100, port: 8443 }',
      '  children:',
      '    kube_control_plane:',
      '      hosts:',
      '        n1: { ansible_host: 10.0.0.11 }',
    );
    const { settings, origins } = explainSettings(parseInventory(text, 'hosts.yaml', {}, { extraVars: kv('vip=10.0.0.222') }));
    expect(settings.vip).toBe('10.0.0.222');
    expect(origins.cluster.vip).toMatchObject({ kind: 'extra-vars' });
  });
});

describe('-e @FILE', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kha-extra-'));
    await writeFile(path.join(dir, 'hosts.yaml'), HOSTS_YAML);
    await writeFile(path.join(dir, 'vars.yml'), lines('# overrides for the test cluster', 'vip: 10.0.0.150', 'advert_int: 2', 'vrrp_auth_pass_file: pass.txt'));
    await writeFile(path.join(dir, 'pass.txt'), 'fromfile\n');
    await chmod(path.join(dir, 'pass.txt'), 0o600);
    await writeFile(path.join(dir, 'vars.json'), '{"advert_int": 3}\n');
    await writeFile(path.join(dir, 'bad.yml'), lines('vip: 10.0.0.150', 'advert_int: 0'));
    await writeFile(path.join(dir, 'list.yml'), lines('- a', '- b'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('YAML and JSON files, read in order (a later one wins); a <field>_file path starts at the file', async () => {
    const inv = await loadInventory(path.join(dir, 'hosts.yaml'), {}, [`@${path.join(dir, 'vars.yml')}`, `@${path.join(dir, 'vars.json')}`]);
    const { settings } = explainSettings(inv);
    expect([settings.vip, settings.advertInt, settings.authPass]).toEqual(['10.0.0.150', 3, 'fromfile']);
    expect(inv.secrets).toContain('fromfile');
    expect(originOf(inv, 'vip')).toBe(`extra-vars (-e @${path.join(dir, 'vars.yml')}:2 vip)`);
    expect(originOf(inv, 'advert_int')).toBe(`extra-vars (-e @${path.join(dir, 'vars.json')}:1 advert_int)`);
  });

  test('errors name the file and line; a missing file or one that holds no mapping is one line', async () => {
    const bad = path.join(dir, 'bad.yml');
    await expect(loadInventory(path.join(dir, 'hosts.yaml'), {}, [`@${bad}`])).rejects.toThrow(
      `-e @${bad}:2: advert_int: 0 is not an advertisement interval; use whole seconds from 1 to 255 (default 1)`,
    );
    await expect(readExtraVars(['@nope.yml'], dir)).rejects.toThrow('-e/--extra-vars @nope.yml: not found; give the path of a YAML or JSON file of variables');
    await expect(readExtraVars(['@'], dir)).rejects.toThrow('-e/--extra-vars: @ names no file');
    await expect(loadInventory(path.join(dir, 'hosts.yaml'), {}, [`@${path.join(dir, 'list.yml')}`])).rejects.toThrow(
      `-e @${path.join(dir, 'list.yml')}:1: (top level): holds a list, not variables`,
    );
  });
});

describe('-e on the built CLI (no host needed)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kha-extra-cli-'));
    await writeFile(path.join(dir, 'hosts.yaml'), HOSTS_YAML);
    await writeFile(path.join(dir, 'play.yml'), lines('- name: p', '  hosts: masters', '  tasks:', '    - name: t', '      command: { argv: [true] }'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const inv = () => path.join(dir, 'hosts.yaml');

  test('kha inventory -e: the value and extra-vars as its origin; a secret given with -e is ******** in text and --json', async () => {
    const r = await runKha(['inventory', '-i', inv(), '-e', 'vip=10.0.0.200', '--extra-vars', 'vrrp_auth_pass=pa55w0rd ansible_become_password=s3cr3t-pw']);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toMatch(/^vip +10\.0\.0\.200 +extra-vars \(-e vip\)$/m);
    expect(r.stdout).toMatch(/^vrrp_auth_pass +\*{8} +extra-vars \(-e vrrp_auth_pass\)$/m);
    const j = await runKha(['inventory', '-i', inv(), '-e', 'vrrp_auth_pass=pa55w0rd', '--json']);
    expect(j.code, showRun(j)).toBe(0);
    expect(JSON.parse(j.stdout).result.settings.vrrp_auth_pass).toEqual({
      value: '********',
      from: { kind: 'extra-vars', file: '-e', line: null, key: 'vrrp_auth_pass' },
    });
    for (const x of [r, j]) for (const out of [x.stdout, x.stderr]) expect(out).not.toMatch(/pa55w0rd|s3cr3t-pw/);
  });

  test('a bad -e is bad input on every command that reads an inventory: one error line naming -e and the key, exit 4', async () => {
    const runs = await Promise.all([
      runKha(['inventory', '-i', inv(), '-e', 'virtual_router_id=300']),
      runKha(['render', '-i', inv(), '--host', 'm1', '-e', 'virtual_router_id=300']),
      runKha(['up', '-i', inv(), '--check', '-e', 'virtual_router_id=300']),
      runKha(['status', '-i', inv(), '-e', 'virtual_router_id=300']),
      runKha(['drill', '-i', inv(), '-e', 'virtual_router_id=300']),
    ]);
    for (const r of runs) {
      expect(r.code, showRun(r)).toBe(4);
      expect(errorLines(r.stderr), showRun(r)).toEqual([
        'error: -e: virtual_router_id: 300 is not a VRRP router id; use a number from 1 to 255 that no other VRRP group on the network uses',
      ]);
    }
    const typo = await runKha(['up', '-i', inv(), '-C', '-e', 'vipp=10.0.0.1']);
    expect(typo.code, showRun(typo)).toBe(4);
    expect(errorLines(typo.stderr)).toEqual(['error: -e: vipp: unknown kha setting; did you mean vip?']);
  });

  test('kha play -e k=v PLAYBOOK: -e takes one value, the playbook stays the argument', async () => {
    const r = await runKha(['play', '-i', inv(), '-e', 'colour=blue', path.join(dir, 'play.yml')]);
    expect(r.code, showRun(r)).toBe(4);
    expect(errorLines(r.stderr)).toEqual([
      'error: -e: colour: not a kha setting or connection variable, and kha reads nothing else from -e; kha inventory -i ... lists the settings',
    ]);
  });
});
