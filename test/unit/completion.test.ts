// Shell completion (src/cli/completion.ts): the scripts as text, byte for byte against reviewed
// goldens, and the bash script for real: sourced in bash, with COMP_WORDS/COMP_CWORD set as bash
// sets them on <TAB>, on the BUILT CLI's own script (npm run build first). zsh is not installed
// here, so the zsh script is checked as text only.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { argKind, bashCompletion, valueKind, zshCompletion, type CompletionInput } from '../../src/cli/completion.js';
import { REPO_ROOT, runKha, showRun } from '../helpers/cli.js';

const execFileP = promisify(execFile);
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/completion/${name}`, import.meta.url));
const golden = (name: string) => fs.readFileSync(fileURLToPath(new URL(`../golden/completion/${name}`, import.meta.url)), 'utf8');
const input = JSON.parse(fs.readFileSync(fixture('input.json'), 'utf8')) as CompletionInput;

describe('the scripts as text', () => {
  test('bash: the reviewed golden', () => {
    expect(bashCompletion(input)).toBe(golden('kha.bash'));
  });

  test('zsh: the reviewed golden', () => {
    expect(zshCompletion(input)).toBe(golden('kha.zsh'));
  });

  test('a hidden command or flag appears in neither script', () => {
    for (const s of [bashCompletion(input), zshCompletion(input)]) {
      expect(s).not.toMatch(/secret|hosts-of=|'--hosts-of/);
    }
  });

  test.each([
    ['up', { name: 'inventory', type: 'option' }, { kind: 'files' }],
    ['init', { name: 'output', type: 'option' }, { kind: 'files' }],
    ['drill', { name: 'mode', type: 'option', options: ['keepalived', 'host'] }, { kind: 'choices', choices: ['keepalived', 'host'] }],
    ['play', { name: 'limit', type: 'option' }, { kind: 'hosts', groups: true }],
    ['status', { name: 'limit', type: 'option' }, { kind: 'hosts', groups: true }],
    ['render', { name: 'host', type: 'option' }, { kind: 'hosts', groups: false }],
    ['remove-master', { name: 'name', type: 'option' }, { kind: 'hosts', groups: false }],
    // a new master's name and address are not in the inventory yet
    ['add-master', { name: 'name', type: 'option' }, { kind: 'none' }],
    ['add-master', { name: 'host', type: 'option' }, { kind: 'none' }],
    ['up', { name: 'forks', type: 'option' }, { kind: 'none' }],
  ] as const)('valueKind(%s, --%s)', (id, flag, kind) => {
    expect(valueKind(id, flag)).toEqual(kind);
  });

  test.each([
    [{ name: 'host' }, { kind: 'hosts', groups: false }],
    [{ name: 'playbook' }, { kind: 'files' }],
    [{ name: 'command' }, { kind: 'commands' }],
    [
      { name: 'shell', options: ['bash', 'zsh'] },
      { kind: 'choices', choices: ['bash', 'zsh'] },
    ],
  ] as const)('argKind(%j)', (arg, kind) => {
    expect(argKind(arg)).toEqual(kind);
  });
});

describe("bash, with the built kha's own script", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-completion-'));
  const script = path.join(dir, 'kha.bash');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    const r = await runKha(['completion', 'bash']);
    expect(r.code, showRun(r)).toBe(0);
    fs.writeFileSync(script, r.stdout);
    // what the cursor sees: files to complete, and a `kha` on PATH for the host names
    for (const f of ['hosts.yaml', 'hosts-prod.yml', 'site.yml', 'my file.yaml']) fs.writeFileSync(path.join(dir, f), '');
    fs.copyFileSync(path.join(REPO_ROOT, 'inventory', 'hosts.example.yaml'), path.join(dir, 'example.yaml'));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'kha'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(REPO_ROOT, 'bin', 'run.js')}" "$@"\n`, { mode: 0o755 });
  });

  /** COMPREPLY for the words of each line (the last word is the one being completed, '' for a new one) */
  async function complete(lines: string[][]): Promise<string[][]> {
    const q = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
    const body = [
      `source ${q(script)}`,
      `cd ${q(dir)}`,
      `PATH=${q(path.join(dir, 'bin'))}:$PATH`,
      ...lines.map((words) => `COMP_WORDS=(${words.map(q).join(' ')}); COMP_CWORD=${words.length - 1}; _kha; printf '%s\\t' "\${COMPREPLY[@]}"; echo`),
    ].join('\n');
    const { stdout } = await execFileP('bash', ['--norc', '--noprofile', '-c', body], { env: { ...process.env, XDG_STATE_HOME: dir }, timeout: 60_000 });
    return stdout
      .split('\n')
      .slice(0, lines.length)
      .map((l) => l.split('\t').filter(Boolean).sort());
  }

  test('kha u<TAB> and kha up --fo<TAB>', async () => {
    expect(
      await complete([
        ['kha', 'u'],
        ['kha', 'up', '--fo'],
      ]),
    ).toEqual([['undrain', 'up', 'upgrade'], ['--forks']]);
  });

  test('commands, topics, flags of the command under the cursor', async () => {
    const got = await complete([
      ['kha', ''],
      ['kha', 'lab', ''],
      ['kha', 'lab', 'up', '--na'],
      ['kha', 'up', '-i', 'hosts.yaml', '--ch'],
      ['kha', 'up', '--no-be'],
      ['kha', '--v'],
      ['kha', 'completion', ''],
      ['kha', 'help', 'st'],
    ]);
    expect(got[0]).toEqual(expect.arrayContaining(['up', 'upgrade', 'status', 'lab', 'completion', 'play']));
    expect(got[0]).not.toContain('lab:up');
    expect(got.slice(1)).toEqual([['down', 'up'], ['--name'], ['--check'], ['--no-become'], ['--version'], ['bash', 'zsh'], ['status']]);
  });

  test('paths for -i and the other file flags, and for the playbook of kha play; the choices of --mode', async () => {
    const got = await complete([
      ['kha', 'up', '-i', 'host'],
      ['kha', 'status', '--inventory', '=', 'host'],
      ['kha', 'init', '-o', 'my'],
      ['kha', 'play', '-i', 'hosts.yaml', 's'],
      ['kha', 'drill', '--mode', ''],
      ['kha', 'render', '--what', 'k'],
    ]);
    expect(got).toEqual([
      ['hosts-prod.yml', 'hosts.yaml'],
      ['hosts-prod.yml', 'hosts.yaml'],
      ['my file.yaml'],
      ['site.yml'],
      ['haproxy', 'host', 'keepalived'],
      ['keepalived'],
    ]);
  });

  test('host names from the inventory given by -i: --limit (and groups), render --host, remove-master --name', async () => {
    const got = await complete([
      ['kha', 'play', '-i', 'example.yaml', '--limit', 'm'],
      ['kha', 'render', '-i', 'example.yaml', '--host', ''],
      // bash splits --inventory=example.yaml at the '='
      ['kha', 'remove-master', '--inventory', '=', 'example.yaml', '--name', 'm'],
      ['kha', 'remove-master', '-i', 'example.yaml', '--name', 'm'],
      ['kha', 'render', '--host', ''],
    ]);
    // no -i: nothing to read the names from
    expect(got).toEqual([['m1', 'm2', 'm3', 'masters'], ['m1', 'm2', 'm3'], ['m1', 'm2', 'm3'], ['m1', 'm2', 'm3'], []]);
  });

  test("kha drain's and kha undrain's host: the inventory's host names, after the flags", async () => {
    const got = await complete([
      ['kha', 'drain', '-i', 'example.yaml', 'm'],
      ['kha', 'undrain', '-i', 'example.yaml', '--timeout', '30', ''],
      ['kha', 'drain', '-i', 'example.yaml', '--time'],
    ]);
    expect(got).toEqual([['m1', 'm2', 'm3'], ['m1', 'm2', 'm3'], ['--timeout']]);
  });
});

describe('kha completion, the command', () => {
  test('the zsh script names every visible command and ends by registering _kha', async () => {
    const r = await runKha(['completion', 'zsh']);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout.startsWith('#compdef kha\n')).toBe(true);
    expect(r.stdout.endsWith('compdef _kha kha\n')).toBe(true);
    for (const fn of ['_kha_up', '_kha_status', '_kha_lab_up', '_kha_lab_down', '_kha_remove_master', '_kha_completion'])
      expect(r.stdout).toContain(`\n${fn}() {\n`);
  });

  test('no shell, or one it does not know: one error line, exit 4', async () => {
    const [none, fish] = await Promise.all([runKha(['completion']), runKha(['completion', 'fish'])]);
    expect(none.code).toBe(4);
    expect(none.stderr).toBe('error: missing the shell: kha completion bash, or kha completion zsh\n');
    expect(fish.code).toBe(4);
    expect(fish.stderr.split('\n')[0]).toBe('error: Expected fish to be one of: bash, zsh');
  });

  test('--hosts-of: the host names, one a line; with --groups the groups too; a bad inventory is exit 4', async () => {
    const inv = path.join(REPO_ROOT, 'inventory', 'hosts.example.yaml');
    const [hosts, groups, bad] = await Promise.all([
      runKha(['completion', '--hosts-of', inv]),
      runKha(['completion', '--hosts-of', inv, '--groups']),
      runKha(['completion', '--hosts-of', path.join(REPO_ROOT, 'nonexistent.yaml')]),
    ]);
    expect(hosts.stdout).toBe('m1\nm2\nm3\n');
    expect(groups.stdout).toBe('m1\nm2\nm3\nall\nmasters\n');
    expect(bad.code).toBe(4);
    expect(bad.stdout).toBe('');
  });
});
