// The npm package as a user gets it: `npm pack` (its prepack builds dist/ and the oclif manifest),
// installed into an empty project WITHOUT optional dependencies (testcontainers is one: only
// `kha lab` needs it). The installed kha must start, carry what its messages point to, say how to
// get `kha lab`, and plan a real `kha up --check` against a lab. npm installs from its cache (filled
// by `npm ci`) first: --prefer-offline.
//
// Order: none needed. The tests share the package the beforeAll packed and installed and only
// read it; the one that reaches the lab runs --check, which changes nothing there.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { outputProblems, REPO_ROOT, runKha, secs, showRun } from '../helpers/cli.js';
import { writeInv } from '../helpers/inventories.js';
import { useLab } from '../helpers/lab.js';

const execFileP = promisify(execFile);
const npm = (args: string[], cwd: string) => execFileP('npm', args, { cwd, timeout: 5 * 60_000, maxBuffer: 64 * 1024 * 1024 });

describe('the npm package, installed without optional dependencies', () => {
  const lab = useLab(2, { aptCache: true, preinstalled: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-pack-'));
  let bin = '';
  let files: string[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    // --ignore-scripts: `npm test` has just built dist/ and the manifest, and a prepack rebuild here
    // would rewrite dist/ under the other integration files' feet (the prepack itself: asserted below)
    const packed = await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], REPO_ROOT);
    // the prepack build's own output may precede the JSON array
    const info = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[/m))) as Array<{
      filename: string;
      size: number;
      unpackedSize: number;
      files: Array<{ path: string }>;
    }>;
    files = info[0]!.files.map((f) => f.path);
    const project = path.join(dir, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), '{"name":"kha-user","version":"1.0.0","private":true}\n');
    await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional', path.join(dir, info[0]!.filename)], project);
    bin = path.join(project, 'node_modules', 'kha', 'bin', 'run.js');
    console.log(
      `[package] ${info[0]!.filename}: ${info[0]!.size} bytes packed, ${info[0]!.unpackedSize} unpacked, ${files.length} files; packed and installed in ${secs(Date.now() - t0)}`,
    );
  }, 10 * 60_000);

  test('the tarball holds the build, the manifest, the licence and what error messages point to; no source maps', () => {
    for (const f of [
      'LICENSE',
      'README.md',
      'oclif.manifest.json',
      'dist/bundle/kha.js',
      'inventory/hosts.example.yaml',
      'scripts/ensure-docker.sh',
      'docker/build-image.sh',
    ])
      expect(files, f).toContain(f);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    // the bundle only (scripts/bundle.mjs), not tsc's one file per module
    expect(files.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/bundle/'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['prepack']).toBe('npm run build');
    expect(pkg.scripts['build']).toMatch(/oclif-manifest/);
  });

  test('kha --version runs; testcontainers is not installed and kha lab says how to add it (exit 4)', async () => {
    const v = await runKha(['--version'], { bin });
    expect(v.code, showRun(v)).toBe(0);
    expect(v.stdout).toMatch(/^kha\/\d+\.\d+\.\d+ /);
    expect(fs.existsSync(path.join(path.dirname(bin), '..', '..', 'testcontainers'))).toBe(false);
    const l = await runKha(['lab', 'up', '--name', 'never'], { bin });
    expect(l.code, showRun(l)).toBe(4);
    expect(l.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^error: kha lab needs the optional package testcontainers.*npm install -g testcontainers/),
    ]);
  });

  test('the installed kha plans kha up --check against a lab: every host reached, changes reported, nothing applied', async () => {
    const inv = writeInv(lab(), 'package');
    const r = await runKha(['up', '-i', inv, '--check', '--json'], { bin, timeoutMs: 3 * 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const doc = JSON.parse(r.stdout) as { recap: Record<string, { changed: number; unreachable: number; failed: number }> };
    // the installed package's document fits the schema it ships (schema/kha-output.schema.json)
    expect(outputProblems(doc), showRun(r)).toEqual([]);
    expect(Object.keys(doc.recap).sort()).toEqual(['m1', 'm2']);
    for (const [h, rc] of Object.entries(doc.recap)) {
      expect(rc.unreachable + rc.failed, h).toBe(0);
      expect(rc.changed, h).toBeGreaterThan(0);
    }
    // --check applied nothing: no keepalived config on the hosts
    for (const h of ['m1', 'm2']) expect((await lab().exec(h, ['test', '-e', '/etc/keepalived/keepalived.conf'])).code, h).not.toBe(0);
  });
});
