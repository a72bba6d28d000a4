// blockinfile: replaceBlock as a table (with idempotence for every row), the module's apply side
// against the fake connection (its decisions are tables: test/fixtures/modules/blockinfile), and
// the install script run by a real shell (rename, and the in-place fallback for bind-mounted
// files such as Docker's /etc/hosts).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { HostContext, Plan } from '../../src/engine/types.js';
import {
  BEGIN_MARKER,
  END_MARKER,
  MarkerError,
  blockInFileModule,
  installInPlaceScript,
  replaceBlock,
  type BlockInFileParams,
} from '../../src/modules/blockinfile.js';
import { sha256 } from '../../src/modules/template.js';
import { FakeConn, fakeFacts, fakeInventory, type Handler } from '../helpers/fake-conn.js';

const B = BEGIN_MARKER;
const E = END_MARKER;
const block = '10.0.0.100 api.kha.internal\n10.0.0.11  m1\n';
const inBlock = `${B}\n10.0.0.100 api.kha.internal\n10.0.0.11  m1\n${E}\n`;

describe('replaceBlock', () => {
  test.each<[string, string, string, string]>([
    ['empty file', '', block, inBlock],
    ['appended after the last line', '127.0.0.1 localhost\n', block, `127.0.0.1 localhost\n${inBlock}`],
    ['a missing trailing newline is added before the block', '127.0.0.1 localhost', block, `127.0.0.1 localhost\n${inBlock}`],
    ['block without a trailing newline given', '', '10.0.0.100 api.kha.internal\n10.0.0.11  m1', inBlock],
    [
      'replaced where it is, lines around kept byte for byte',
      `127.0.0.1 localhost\n${B}\nold\n${E}\n# mine\n10.9.9.9 x  # keep   spacing\n`,
      block,
      `127.0.0.1 localhost\n${inBlock}# mine\n10.9.9.9 x  # keep   spacing\n`,
    ],
    ['a block at the end without a trailing newline', `a\n${B}\nold\n${E}`, block, `a\n${inBlock}`],
    ['other lines without a trailing newline after the block keep it so', `${B}\nold\n${E}\nlast`, block, `${inBlock}last`],
    ['two blocks become one, at the first', `${B}\nx\n${E}\nmid\n${B}\ny\n${E}\nend\n`, block, `${inBlock}mid\nend\n`],
    ['markers with trailing spaces or CR are ours', `a\n${B}  \nold\n${E}\r\nb\n`, block, `a\n${inBlock}b\n`],
    ['an empty block removes the block', `a\n${B}\nold\n${E}\nb\n`, '', 'a\nb\n'],
    ['an empty block and no block: unchanged, even without a newline', 'a\nb', '', 'a\nb'],
    ['a file of only the block, removed', `${B}\nold\n${E}\n`, '', ''],
    ['the same block: unchanged', `x\n${inBlock}y\n`, block, `x\n${inBlock}y\n`],
    ['blank lines inside the block are kept', '', 'a\n\nb\n', `${B}\na\n\nb\n${E}\n`],
  ])('%s', (_name, text, b, want) => {
    const once = replaceBlock(text, b);
    expect(once).toBe(want);
    // idempotent
    expect(replaceBlock(once, b)).toBe(once);
  });

  test.each<[string, string, RegExp]>([
    ['BEGIN without END', `a\n${B}\nx\n`, /line 2: "# BEGIN kha managed block" without a "# END kha managed block" after it/],
    ['END without BEGIN', `a\n${E}\n`, /line 2: "# END kha managed block" without a "# BEGIN kha managed block" before it/],
    ['BEGIN twice', `${B}\n${B}\n${E}\n`, /line 2: "# BEGIN kha managed block" again before the "# END kha managed block" of line 1's block/],
  ])('markers that do not pair up are refused: %s', (_n, text, re) => {
    expect(() => replaceBlock(text, block)).toThrow(MarkerError);
    expect(() => replaceBlock(text, block)).toThrow(re);
  });

  test('a block holding a marker line is refused; custom markers', () => {
    expect(() => replaceBlock('', `x\n${E}\n`)).toThrow('the block itself holds a marker line');
    expect(replaceBlock('a\n', 'b', { begin: '## >>', end: '## <<' })).toBe('a\n## >>\nb\n## <<\n');
  });
});

// ---- the module as data ----------------------------------------------------------------------

function hc(handler: Handler, over: Partial<HostContext> = {}): HostContext & { conn: FakeConn } {
  const conn = new FakeConn('m1', handler);
  return {
    host: fakeInventory(['m1']).hosts[0]!,
    conn,
    facts: fakeFacts(),
    check: false,
    diff: false,
    signal: new AbortController().signal,
    ...over,
  } as HostContext & { conn: FakeConn };
}
const probeOut = (content: string, stat = 'regular file|644|root|root') => ({ stdout: `${stat}\n${sha256(content)}\n@@content@@\n${content}` });
const params: BlockInFileParams = { path: '/etc/hosts', block, mode: 0o644, owner: 'root', group: 'root' };

describe('blockinfile module: apply (fake connection)', () => {
  test("a change: diff, re-read at apply, temp file beside with the file's own mode and owner, checked install", async () => {
    let file = '127.0.0.1 localhost\n10.9.9.9 operator-line';
    const ctx = hc((s) => (s.startsWith('if [ -e') ? probeOut(file, 'regular file|640|root|adm') : undefined), { diff: true });
    const p: Plan = await blockInFileModule.plan(ctx, params);
    if (!p.change) throw new Error('expected a change');
    expect(p.why).toBe('no block yet');
    expect(p.diff).toContain(`+${B}`);
    expect(p.diff).toContain('-10.9.9.9 operator-line');
    expect(p.diff).toContain('+10.9.9.9 operator-line');
    // the operator adds a line between plan and apply: it is kept
    file = `${file}\n10.8.8.8 added-later`;
    await p.apply();
    const up = ctx.conn.uploads[0]!;
    expect(up.path).toMatch(/^\/etc\/\.hosts\.kha-[0-9a-f]{16}$/);
    expect(up.opts).toEqual({ mode: 0o640, owner: 'root', group: 'adm', exclusive: true });
    expect(up.content).toBe(`127.0.0.1 localhost\n10.9.9.9 operator-line\n10.8.8.8 added-later\n${inBlock}`);
    const install = ctx.conn.log[ctx.conn.log.length - 1]!;
    expect(install).toBe(installInPlaceScript(up.path, '/etc/hosts', sha256(up.content)));
  });

  test('a missing file is created 0644 root:root', async () => {
    const ctx = hc((s) => (s.startsWith('if [ -e') ? { stdout: 'missing\n' } : undefined));
    const p = await blockInFileModule.plan(ctx, { ...params, path: '/etc/kha-test' });
    if (!p.change) throw new Error('expected a change');
    expect(p.why).toBe('missing');
    await p.apply();
    expect(ctx.conn.uploads[0]!.opts).toEqual({ mode: 0o644, owner: 'root', group: 'root', exclusive: true });
    expect(ctx.conn.uploads[0]!.content).toBe(inBlock);
  });

  test('check mode plans the same and never applies (the engine does not call apply)', async () => {
    const ctx = hc((s) => (s.startsWith('if [ -e') ? probeOut('a\n') : undefined), { check: true });
    const p = await blockInFileModule.plan(ctx, params);
    expect(p.change).toBe(true);
    expect(ctx.conn.stats.uploads).toBe(0);
  });

  test('a failing validator removes the temp file and leaves the file alone', async () => {
    const ctx = hc((s) => (s.startsWith('if [ -e') ? probeOut('a\n') : s.startsWith('false') ? { code: 1, stderr: 'bad' } : undefined));
    const p = await blockInFileModule.plan(ctx, { ...params, validate: ['false', '%s'] });
    if (!p.change) throw new Error('expected a change');
    await expect(p.apply()).rejects.toThrow('the new content was rejected by `false %s` (exit 1); the file is untouched');
    expect(ctx.conn.log[ctx.conn.log.length - 1]).toMatch(/^rm -f -- \/etc\/\.hosts\.kha-/);
  });
});

// ---- the install script, run by a real shell --------------------------------------------------

describe('install script (real sh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kha-blockinfile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // a `mv` that fails as rename(2) onto a bind mount does (EBUSY)
  const shim = join(dir, 'shim');
  spawnSync('mkdir', ['-p', shim]);
  writeFileSync(join(shim, 'mv'), '#!/bin/sh\necho "mv: cannot move: Device or resource busy" >&2\nexit 1\n');
  chmodSync(join(shim, 'mv'), 0o755);

  const run = (script: string, env: NodeJS.ProcessEnv = {}) => spawnSync('sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, ...env } });

  test('rename: the new content replaces the file, the temp file is gone', () => {
    const target = join(dir, 'hosts1');
    const tmp = join(dir, '.hosts1.kha-a');
    writeFileSync(target, 'old\n');
    writeFileSync(tmp, 'new\n');
    const r = run(installInPlaceScript(tmp, target, sha256('new\n')));
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('renamed');
    expect(readFileSync(target, 'utf8')).toBe('new\n');
    expect(existsSync(tmp)).toBe(false);
  });

  test('rename refused (EBUSY): written in place, same inode and mode, temp file gone', () => {
    const target = join(dir, 'hosts2');
    const tmp = join(dir, '.hosts2.kha-b');
    writeFileSync(target, 'old\n');
    chmodSync(target, 0o604);
    const ino = statSync(target).ino;
    writeFileSync(tmp, 'new\n');
    const r = run(installInPlaceScript(tmp, target, sha256('new\n')), { PATH: `${shim}:${process.env.PATH}` });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('in-place');
    expect(readFileSync(target, 'utf8')).toBe('new\n');
    expect(statSync(target).ino).toBe(ino);
    expect(statSync(target).mode & 0o777).toBe(0o604);
    expect(readdirSync(dir).filter((f) => f.startsWith('.hosts2'))).toEqual([]);
  });

  test('a temp file that does not hold the expected content is never installed', () => {
    const target = join(dir, 'hosts3');
    const tmp = join(dir, '.hosts3.kha-c');
    writeFileSync(target, 'old\n');
    writeFileSync(tmp, 'truncat');
    const r = run(installInPlaceScript(tmp, target, sha256('truncated\n')));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the temp file does not hold the new content');
    expect(readFileSync(target, 'utf8')).toBe('old\n');
    expect(existsSync(tmp)).toBe(false);
  });
});
