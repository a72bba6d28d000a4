// The CLI's own contract, on the built CLI (no hosts needed): help in every form, the version, an
// unknown command as bad input (exit 4, one line, a did-you-mean), and -v/-vv documented.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { unknownCommandLine } from '../../src/hooks/command-not-found.js';
import { REPO_ROOT, runKha } from '../helpers/cli.js';

const manifest = () =>
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as {
    commands: Record<string, { flags: Record<string, { char?: string }> }>;
  };

describe('help, version, unknown commands', () => {
  test('unknownCommandLine: one line naming the command, with a did-you-mean only when one is close', () => {
    const ids = ['up', 'upgrade', 'status', 'lab:up', 'lab:down'];
    expect(unknownCommandLine('upp', ids)).toBe('error: kha upp: no such command; did you mean kha up? (kha help lists them)');
    expect(unknownCommandLine('lab:donw', ids)).toBe('error: kha lab donw: no such command; did you mean kha lab down? (kha help lists them)');
    expect(unknownCommandLine('frobnicate', ids)).toBe('error: kha frobnicate: no such command (kha help lists them)');
  });

  test.each([
    [['upp'], 'kha up'],
    [['stauts'], 'kha status'],
    [['lab', 'upp'], 'kha lab up'],
  ])('kha %j exits 4 with one error line suggesting %s', async (argv, close) => {
    const r = await runKha(argv);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`error: kha ${argv.join(' ')}: no such command; did you mean ${close}? (kha help lists them)`]);
  });

  test.each([
    [['upp'], 'kha upp', 'kha up'],
    [['lab', 'upp'], 'kha lab upp', 'kha lab up'],
  ])('kha help %j exits 4 like the unknown command itself (%s, did you mean %s)', async (words, typed, close) => {
    const r = await runKha(['help', ...words]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`error: ${typed}: no such command; did you mean ${close}? (kha help lists them)`]);
  });

  test('kha help lab (a topic) lists its commands (exit 0)', async () => {
    const r = await runKha(['help', 'lab']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/lab up/);
  });

  test('kha help, kha help up, kha help lab up, kha up -h and kha up --help print the help (exit 0)', async () => {
    const top = await runKha(['help']);
    expect(top.code).toBe(0);
    for (const c of ['up', 'upgrade', 'status', 'reset', 'init', 'inventory', 'render', 'lab']) expect(top.stdout, c).toContain(`${c} `);
    const forms = await Promise.all([runKha(['help', 'up']), runKha(['up', '-h']), runKha(['up', '--help'])]);
    for (const r of forms) {
      expect(r.code, r.argv.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^USAGE\n {2}\$ kha up /m);
    }
    expect(forms[1]!.stdout).toBe(forms[2]!.stdout);
    const lab = await runKha(['help', 'lab', 'up']);
    expect(lab.code).toBe(0);
    expect(lab.stdout).toMatch(/\$ kha lab up/);
  });

  test('kha version and kha --version print the same line; --json one document', async () => {
    const [a, b, j] = await Promise.all([runKha(['version']), runKha(['--version']), runKha(['version', '--json'])]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^kha\/\d+\.\d+\.\d+ \S+ node-v\d+/);
    expect(b.stdout).toBe(a.stdout);
    const doc = (JSON.parse(j.stdout) as { result: { name: string; version: string; node: string } }).result;
    expect(doc.name).toBe('kha');
    expect(a.stdout).toContain(`kha/${doc.version} `);
    expect(doc.node).toBe(process.version);
  });

  test('-v/-vv are in the --help of every command whose output shows tasks', async () => {
    const commands = manifest().commands;
    for (const id of ['up', 'upgrade', 'add-master', 'remove-master', 'reset', 'play', 'drill']) expect(commands[id]?.flags['verbose']?.char, id).toBe('v');
    const up = await runKha(['up', '--help']);
    expect(up.stdout).toMatch(/-v, --verbose\s+More detail: -v shows every task,\s+-vv\s+also/);
  });

  test("Ansible's short flags where the meaning is the same: -C, -D, -f, -e, -K; -l on play and status", async () => {
    const commands = manifest().commands;
    const chars = (id: string) => Object.fromEntries(Object.entries(commands[id]?.flags ?? {}).flatMap(([name, f]) => (f.char ? [[name, f.char]] : [])));
    for (const id of ['up', 'upgrade', 'add-master', 'remove-master', 'reset', 'play']) {
      expect(chars(id), id).toMatchObject({ check: 'C', diff: 'D', forks: 'f', 'extra-vars': 'e', 'ask-become-pass': 'K', inventory: 'i' });
    }
    for (const id of ['status', 'drill', 'inventory', 'render']) expect(chars(id)['extra-vars'], id).toBe('e');
    expect(chars('status')).toMatchObject({ limit: 'l', forks: 'f' });
    expect(chars('play').limit).toBe('l');
    const help = await runKha(['status', '--help']);
    expect(help.stdout).toMatch(/-e, --extra-vars=KEY=VALUE\|@FILE\.\.\./);
    expect(help.stdout).toMatch(/-l, --limit=<value>/);
  });

  test('-C -D on the command line parse as --check --diff (a bad inventory then stops the run: exit 4, nothing about the flags)', async () => {
    const r = await runKha(['up', '-i', 'test/fixtures/none.yaml', '-C', '-D', '-f', '5']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr.trim().split('\n')).toEqual(['error: test/fixtures/none.yaml: not found; pass the path of the inventory with -i']);
  });

  test("every path in every command's --help examples exists: shipped files kha reads are in the repository and in the package", () => {
    type Flag = { char?: string; type: 'option' | 'boolean'; default?: unknown };
    const commands = manifest().commands as unknown as Record<string, { examples?: string[]; flags: Record<string, Flag> }>;
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
    const shipped = (p: string) => pkg.files.some((f) => !f.startsWith('!') && (p === f || p.startsWith(`${f.replace(/\/$/, '')}/`)));
    // files kha writes: their value is an output, not something that must exist
    const OUTPUT_FLAGS = new Set(['output', 'log-file']);
    // the operator's inventory: what kha init and kha lab up write by default, or these placeholders
    const written = new Set([commands['init']!.flags['output']!.default, commands['lab:up']!.flags['output']!.default]);
    const PLACEHOLDERS = new Set(['inventory/mycluster/', 'inventory.ini']);
    const pathLike = (w: string) => /\.(ya?ml|ini|json)$/.test(w) || w.includes('/');
    const checked: string[] = [];
    for (const [id, c] of Object.entries(commands)) {
      for (const ex of c.examples ?? []) {
        const typed = ex.replace('<%= config.bin %> ', '').split(/\s+/).slice(id.split(':').length);
        // after `--`: a command run on a host (kha drain m2 -- kubeadm upgrade node), not kha's words;
        // after `>` or `|`: the shell's (kha monitoring rules > kha.rules.yml writes that file)
        const end = typed.findIndex((w) => w === '--' || w === '>' || w === '>>' || w === '|');
        const words = end < 0 ? typed : typed.slice(0, end);
        for (let i = 0; i < words.length; i++) {
          const w = words[i]!;
          const flag = w.startsWith('--')
            ? Object.entries(c.flags).find(([n]) => n === w.slice(2))
            : w.startsWith('-')
              ? Object.entries(c.flags).find(([, f]) => f.char === w.slice(1))
              : undefined;
          if (w.startsWith('-')) expect(flag, `${ex}: ${w} is not a flag of kha ${id}`).toBeDefined();
          const value = flag?.[1].type === 'option' ? words[++i] : flag ? undefined : w;
          if (value === undefined || !pathLike(value) || (flag && OUTPUT_FLAGS.has(flag[0]))) continue;
          checked.push(value);
          if (flag?.[0] === 'inventory' && (written.has(value) || PLACEHOLDERS.has(value))) continue;
          expect(fs.existsSync(path.join(REPO_ROOT, value)), `${ex}: ${value} does not exist in the repository`).toBe(true);
          expect(shipped(value), `${ex}: ${value} is not in package.json files`).toBe(true);
        }
      }
    }
    // the test looked at something: kha play's playbook, at least
    expect(checked).toContain('playbooks/apiservers-ready.yml');
  });
});
