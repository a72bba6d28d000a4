// Secrets without plain text in the inventory: `<field>_file: PATH` (the file's first line) and
// `<field>: ${env:NAME}`; an Ansible Vault value is refused with what to use instead. Every
// secret read this way is in inv.secrets (masked in every output), and no error shows it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadInventory, parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';

const BECOME = 'Bec0me-From-Src-1';
const SSH = 'Ssh-From-Src-2';
const VRRP = 'Vr9Src7';

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-inv-secrets-'));
  fs.writeFileSync(path.join(dir, 'become'), `${BECOME}\nsecond line is not part of it\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'ssh'), `${SSH}\r\n`, { mode: 0o400 });
  fs.writeFileSync(path.join(dir, 'vrrp'), VRRP, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'too-long'), 'Sup3rS3cr3tLong', { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'open'), 'Sup3rS3cr3t', { mode: 0o644 });
  fs.chmodSync(path.join(dir, 'open'), 0o644);
  fs.writeFileSync(path.join(dir, 'empty'), '\nSup3rS3cr3t\n', { mode: 0o600 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const inv = (vars: string[], host = '{ ansible_host: 10.0.0.11 }') =>
  ['all:', '  vars:', '    vip: 10.0.0.100', ...vars.map((v) => `    ${v}`), '  children:', '    masters:', '      hosts:', `        m1: ${host}`, ''].join(
    '\n',
  );
const parse = (text: string, env: Record<string, string> = {}) => parseInventory(text, 'hosts.yaml', {}, { env, baseDir: dir });
const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('${env:NAME}', () => {
  test('fills ansible_become_password, ansible_password and vrrp_auth_pass; all are secrets', () => {
    const i = parse(
      inv([
        'ansible_become: true',
        'ansible_become_password: ${env:KHA_T_BECOME}',
        'ansible_password: "${env:KHA_T_SSH}"',
        'vrrp_auth_pass: ${env:KHA_T_VRRP}',
      ]),
      {
        KHA_T_BECOME: BECOME,
        KHA_T_SSH: SSH,
        KHA_T_VRRP: VRRP,
      },
    );
    expect(i.hosts[0]!.connection).toMatchObject({ becomePassword: BECOME, password: SSH, become: true });
    expect(resolveSettings(i).authPass).toBe(VRRP);
    expect(i.secrets.sort()).toEqual([BECOME, SSH, VRRP].sort());
  });

  test('a missing variable is one error naming the field and the variable', () => {
    expect(errorOf(() => parse(inv(['ansible_become_password: ${env:KHA_T_MISSING}'])))).toBe(
      'hosts.yaml:4: all.vars.ansible_become_password: the environment variable KHA_T_MISSING is not set (ansible_become_password: ${env:KHA_T_MISSING}); export KHA_T_MISSING before running kha',
    );
    expect(errorOf(() => parse(inv(['vrrp_auth_pass: ${env:KHA_T_EMPTY}']), { KHA_T_EMPTY: '' }))).toBe(
      'hosts.yaml:4: all.vars.vrrp_auth_pass: the environment variable KHA_T_EMPTY is empty (vrrp_auth_pass: ${env:KHA_T_EMPTY}); export KHA_T_EMPTY with the secret',
    );
  });

  test('only as the whole value', () => {
    expect(errorOf(() => parse(inv(['ansible_password: pre-${env:KHA_T_SSH}']), { KHA_T_SSH: SSH }))).toMatch(
      /^hosts\.yaml:4: all\.vars\.ansible_password: \$\{env:NAME\} must be the whole value/,
    );
  });

  test('an invalid value from the environment is named by its source, never shown', () => {
    const m = errorOf(() => parse(inv(['vrrp_auth_pass: ${env:KHA_T_LONG}']), { KHA_T_LONG: 'Sup3rS3cr3tLong' }));
    expect(m).toBe(
      'hosts.yaml:4: all.vars.vrrp_auth_pass: VRRP PASS keeps only 8 characters; use at most 8 (the value read from the environment variable KHA_T_LONG)',
    );
  });
});

describe('<field>_file', () => {
  test('the first line of the file, relative to the inventory; the secret is registered', () => {
    const i = parse(
      inv(['ansible_become: true', 'ansible_become_password_file: become', `ansible_password_file: ${path.join(dir, 'ssh')}`, 'vrrp_auth_pass_file: ./vrrp']),
    );
    expect(i.hosts[0]!.connection).toMatchObject({ becomePassword: BECOME, password: SSH });
    expect(resolveSettings(i).authPass).toBe(VRRP);
    expect(i.secrets.sort()).toEqual([BECOME, SSH, VRRP].sort());
  });

  test("loadInventory reads relative paths from the inventory file's directory", async () => {
    const file = path.join(dir, 'hosts.yaml');
    fs.writeFileSync(file, inv(['ansible_become: true', 'ansible_become_password_file: become']));
    const i = await loadInventory(file);
    expect(i.hosts[0]!.connection.becomePassword).toBe(BECOME);
  });

  test("a host's own _file wins over a group's plain value, by the usual precedence", () => {
    const i = parse(inv(['ansible_become_password: group-pw'], '{ ansible_host: 10.0.0.11, ansible_become_password_file: become }'));
    expect(i.hosts[0]!.connection.becomePassword).toBe(BECOME);
  });

  test.each([
    [
      'a file others can read',
      'ansible_become_password_file: open',
      (d: string) =>
        `hosts.yaml:4: all.vars.ansible_become_password_file: permissions 0644 for ${path.join(d, 'open')} are too open (other users could read the secret); run chmod 600 ${path.join(d, 'open')}`,
    ],
    [
      'a missing file',
      'ansible_password_file: nope',
      (d: string) =>
        `hosts.yaml:4: all.vars.ansible_password_file: ${path.join(d, 'nope')} does not exist; give the path of a file whose first line is the secret`,
    ],
    [
      'an empty first line',
      'vrrp_auth_pass_file: empty',
      (d: string) => `hosts.yaml:4: all.vars.vrrp_auth_pass_file: the first line of ${path.join(d, 'empty')} is empty; write the secret on its first line`,
    ],
    [
      'a directory',
      'vrrp_auth_pass_file: .',
      (d: string) => `hosts.yaml:4: all.vars.vrrp_auth_pass_file: ${d} is not a regular file; give the path of a file whose first line is the secret`,
    ],
    [
      'a value the field refuses',
      'vrrp_auth_pass_file: too-long',
      (d: string) =>
        `hosts.yaml:4: all.vars.vrrp_auth_pass_file: VRRP PASS keeps only 8 characters; use at most 8 (the value read from ${path.join(d, 'too-long')})`,
    ],
  ])('%s is one clear error that never shows the secret', (_what, line, message) => {
    const m = errorOf(() => resolveSettings(parse(inv([line]))));
    expect(m).toBe(message(dir));
    expect(m).not.toContain('Sup3r');
  });

  test('both the field and its _file in one place is an error', () => {
    expect(errorOf(() => parse(inv(['vrrp_auth_pass: abc', 'vrrp_auth_pass_file: vrrp'])))).toBe(
      'hosts.yaml:5: all.vars.vrrp_auth_pass_file: vrrp_auth_pass is set here too; keep one of vrrp_auth_pass and vrrp_auth_pass_file',
    );
  });

  test('vrrp_auth_pass_file is cluster-wide like vrrp_auth_pass, named as written', () => {
    expect(errorOf(() => parse(inv([], '{ ansible_host: 10.0.0.11, vrrp_auth_pass_file: vrrp }')))).toBe(
      "hosts.yaml:7: all.children.masters.hosts.m1.vrrp_auth_pass_file: vrrp_auth_pass is cluster-wide; set it under all.vars (or the masters group's vars), not on a host",
    );
  });
});

describe('Ansible Vault values', () => {
  const vaulted = (field: string) =>
    inv([
      `${field}: !vault |`,
      '      $ANSIBLE_VAULT;1.1;AES256',
      '      62313365396662343061393464336163383764373764613633653634306231386433626436623361',
      '      6134333665353966363534333632666535333761666131620a663537646436643839616531643561',
    ]);
  test.each([
    [
      'ansible_become_password',
      'use ansible_become_password_file: FILE (its first line is the secret) or ansible_become_password: ${env:NAME}, or pass -K to be asked on the terminal',
    ],
    [
      'ansible_become_pass',
      'use ansible_become_password_file: FILE (its first line is the secret) or ansible_become_password: ${env:NAME}, or pass -K to be asked on the terminal',
    ],
    ['ansible_password', 'use ansible_password_file: FILE (its first line is the secret) or ansible_password: ${env:NAME}'],
    ['vrrp_auth_pass', 'use vrrp_auth_pass_file: FILE (its first line is the secret) or vrrp_auth_pass: ${env:NAME}'],
  ])('%s: !vault is one line naming file:line and the field, and what to use instead', (field, instead) => {
    expect(errorOf(() => parse(vaulted(field)))).toBe(
      `hosts.yaml:4: all.vars.${field}: Ansible Vault values (!vault) are not supported: kha cannot decrypt them; ${instead}`,
    );
  });

  test('a vault text without the tag, on a host', () => {
    expect(errorOf(() => parse(inv([], '{ ansible_host: 10.0.0.11, ansible_become_password: "$ANSIBLE_VAULT;1.1;AES256 6231" }')))).toMatch(
      /^hosts\.yaml:7: all\.children\.masters\.hosts\.m1\.ansible_become_password: Ansible Vault values \(!vault\) are not supported/,
    );
  });
});
