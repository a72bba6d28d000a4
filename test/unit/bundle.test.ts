// The CLI as npm ships it (on the BUILT CLI: npm run build first): bin/run.js loads dist/bundle/
// (scripts/bundle.mjs), which carries @oclif/core and every command class, and otherwise only
// kha's runtime dependencies. Run from the packed files alone, it behaves as the repository's.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { COMMANDS } from '../../src/main.js';
import { REPO_ROOT, runKha, showRun } from '../helpers/cli.js';

const execFileP = promisify(execFile);

/** src/commands/lab/up.ts -> lab:up, as oclif's pattern strategy named them */
function commandIds(dir = path.join(REPO_ROOT, 'src', 'commands'), prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return commandIds(path.join(dir, e.name), `${prefix}${e.name}:`);
    return e.name.endsWith('.ts') ? [`${prefix}${e.name.replace(/\.ts$/, '')}`] : [];
  });
}

describe('src/main.ts', () => {
  test('COMMANDS lists every command file under src/commands, by its oclif id', () => {
    expect(Object.keys(COMMANDS).sort()).toEqual(commandIds().sort());
  });

  test('package.json points oclif at the bundle: commands and the hook by name, from dist/bundle/kha.js', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      files: string[];
      oclif: { commands: unknown; hooks: Record<string, unknown> };
      scripts: Record<string, string>;
    };
    expect(pkg.oclif.commands).toEqual({ strategy: 'explicit', target: './dist/bundle/kha.js', identifier: 'COMMANDS' });
    expect(pkg.oclif.hooks['command_not_found']).toEqual({ target: './dist/bundle/kha.js', identifier: 'commandNotFound' });
    expect(pkg.scripts['build']).toBe('tsc -p tsconfig.json && node scripts/bundle.mjs && node scripts/oclif-manifest.mjs');
    expect(pkg.files).toContain('dist/bundle');
  });
});

describe('the packed files, with only the runtime dependencies kha does not bundle', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-bundle-'));
  const root = path.join(dir, 'kha');
  const bin = path.join(root, 'bin', 'run.js');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let packed: string[] | undefined;

  /** npm pack's file list (no build: npm run build made dist/), copied out with node_modules holding
   * links to package.json's dependencies but @oclif/core (bundled) and no optional ones */
  async function install(): Promise<void> {
    if (packed) return;
    const { stdout } = await execFileP('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    const info = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as Array<{ files: Array<{ path: string }> }>;
    packed = info[0]!.files.map((f) => f.path);
    for (const f of packed) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.copyFileSync(path.join(REPO_ROOT, f), path.join(root, f));
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies).filter((d) => d !== '@oclif/core')) {
      const link = path.join(root, 'node_modules', dep);
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(fs.realpathSync(path.join(REPO_ROOT, 'node_modules', dep)), link);
    }
  }

  test('the package holds bin/run.js, every file of dist/bundle and the manifest, and no other dist/ file', async () => {
    await install();
    const bundle = fs.readdirSync(path.join(REPO_ROOT, 'dist', 'bundle')).map((f) => `dist/bundle/${f}`);
    expect(bundle).toContain('dist/bundle/kha.js');
    for (const f of ['bin/run.js', 'oclif.manifest.json', ...bundle]) expect(packed, f).toContain(f);
    expect(packed!.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/bundle/'))).toEqual([]);
  });

  test('--version, status --help and help print what the repository prints; an unknown command exits 4 through the hook', async () => {
    await install();
    for (const argv of [['--version'], ['status', '--help'], ['help'], ['lab', 'up', '--help']]) {
      const [mine, theirs] = await Promise.all([runKha(argv, { bin }), runKha(argv)]);
      expect(mine.code, showRun(mine)).toBe(0);
      expect(mine.stdout, argv.join(' ')).toBe(theirs.stdout);
      expect(mine.stderr).toBe('');
    }
    const bad = await runKha(['stauts'], { bin });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toBe('error: kha stauts: no such command; did you mean kha status? (kha help lists them)\n');
  });

  test("a command's own chunks, yaml, zod and pino load from the package: kha inventory --json", async () => {
    await install();
    const r = await runKha(['inventory', '-i', path.join(REPO_ROOT, 'inventory', 'hosts.example.yaml'), '--json'], { bin });
    expect(r.code, showRun(r)).toBe(0);
    const doc = JSON.parse(r.stdout) as { result: { hosts: Array<{ name: string }> } };
    expect(doc.result.hosts.map((h) => h.name)).toEqual(['m1', 'm2', 'm3']);
  });

  test('kha lab without the optional testcontainers: one line saying how to add it, exit 4', async () => {
    await install();
    const r = await runKha(['lab', 'up', '--name', 'never'], { bin });
    expect(r.code, showRun(r)).toBe(4);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: kha lab needs the optional package testcontainers.*npm install -g testcontainers/),
    ]);
  });
});
