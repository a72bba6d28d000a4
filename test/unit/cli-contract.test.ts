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
    expect(up.stdout).toMatch(/-v, --verbose\s+More detail: -v shows every task, -vv also/);
  });
});
