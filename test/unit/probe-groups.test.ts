// Probe groups: one merged read gives each task exactly what its own probe command prints (checked
// on real files with the real stat and sha256sum), or leaves the task to probe alone; runProbes
// sends a group once per host and a second round trip only for what the group could not rebuild.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeProbes, runProbes } from '../../src/engine/plan-tasks.js';
import type { Probe } from '../../src/engine/types.js';
import { statScript } from '../../src/modules/file.js';
import { FILE_STAT, UNIT_SHOW, fileStatArg, unitShowScript } from '../../src/modules/probe-groups.js';
import { probeScript } from '../../src/modules/template.js';
import { batchScript, splitBatch } from '../../src/transport/batch.js';
import { render } from '../../src/transport/quote.js';
import type { Command, Connection, ExecResult } from '../../src/transport/types.js';

function sh(script: string): ExecResult {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', input: '' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'kha-groups-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const P = {
  file: join(dir, 'haproxy.cfg'),
  empty: join(dir, 'empty.conf'),
  sub: join(dir, 'conf.d'),
  link: join(dir, 'link.cfg'),
  dangling: join(dir, 'dangling.cfg'),
  missing: join(dir, 'missing.cfg'),
};
writeFileSync(P.file, 'global\n  maxconn 100\n', { mode: 0o640 });
writeFileSync(P.empty, '');
mkdirSync(P.sub, { mode: 0o750 });
symlinkSync(P.file, P.link);
symlinkSync(join(dir, 'nowhere'), P.dangling);

describe('FILE_STAT', () => {
  const paths = Object.values(P);
  const args = [...paths.map((p) => `stat:${p}`), ...paths.map((p) => `hash:${p}`)];
  const own = (a: string) => (a.startsWith('stat:') ? statScript(a.slice(5)) : probeScript(a.slice(5), false));

  it('rebuilds each probe byte for byte, or leaves it alone (a directory or a symlink to hash)', () => {
    const split = FILE_STAT.split(sh(FILE_STAT.script(args)), args);
    const alone: string[] = [];
    args.forEach((a, i) => {
      const got = split[i];
      if (got === undefined) return void alone.push(a);
      expect({ arg: a, ...got }).toEqual({ arg: a, ...sh(own(a)) });
    });
    // sha256sum cannot hash a directory; [ -e ] follows a link where stat does not (both links go alone)
    expect(alone).toEqual([`hash:${P.sub}`, `hash:${P.link}`, `hash:${P.dangling}`]);
  });

  it('the stat answers of every path, including the dangling link (stat does not follow it, as statScript)', () => {
    const split = FILE_STAT.split(sh(FILE_STAT.script(args)), args);
    expect(split[paths.indexOf(P.dangling)]!.stdout).toMatch(/^symbolic link\|/);
    expect(split[paths.indexOf(P.missing)]!.stdout).toBe('missing\n');
    expect(split[paths.length + paths.indexOf(P.missing)]!.stdout).toBe('missing\n');
  });

  it('a cut-off output rebuilds nothing; paths a merged read cannot name stay alone', () => {
    expect(FILE_STAT.split({ code: 0, signal: null, stdout: '@@kha-stat@@\n', stderr: '' }, args).every((r) => r === undefined)).toBe(true);
    expect(fileStatArg('stat', '/etc/a b.conf')).toBeUndefined();
    expect(fileStatArg('hash', "/etc/it's")).toBeUndefined();
    expect(fileStatArg('hash', 'relative/x')).toBeUndefined();
    expect(fileStatArg('hash', '/etc/haproxy/haproxy.cfg')).toEqual({ by: FILE_STAT, arg: 'hash:/etc/haproxy/haproxy.cfg' });
  });
});

describe('UNIT_SHOW', () => {
  const block = (load: string, active: string, file: string) => `LoadState=${load}\nActiveState=${active}\nUnitFileState=${file}\n`;
  it('one block per unit, in order, each as `systemctl show` of that unit alone prints it', () => {
    const out = `${block('loaded', 'active', 'enabled')}\n${block('not-found', 'inactive', '')}`;
    expect(UNIT_SHOW.split({ code: 0, signal: null, stdout: out, stderr: '' }, ['a.service', 'nope.service'])).toEqual([
      { code: 0, signal: null, stdout: block('loaded', 'active', 'enabled'), stderr: '' },
      { code: 0, signal: null, stdout: block('not-found', 'inactive', ''), stderr: '' },
    ]);
    expect(UNIT_SHOW.script(['a.service', 'b.socket'])).toBe('systemctl show -p LoadState -p ActiveState -p UnitFileState -- a.service b.socket');
    expect(unitShowScript('a.service')).toBe('systemctl show -p LoadState -p ActiveState -p UnitFileState -- a.service');
  });
  it('a failed call or a count that does not match rebuilds nothing', () => {
    const one = block('loaded', 'active', 'enabled');
    expect(UNIT_SHOW.split({ code: 1, signal: null, stdout: one, stderr: 'x' }, ['a.service'])).toEqual([undefined]);
    expect(UNIT_SHOW.split({ code: 0, signal: null, stdout: one, stderr: '' }, ['a.service', 'b.service'])).toEqual([undefined, undefined]);
  });
});

/** A connection that runs commands with the local sh, batches through the real framing, and counts what it sent. */
class LocalConn {
  readonly name = 'local';
  sent: string[][] = [];
  execs: string[] = [];
  async exec(c: Command): Promise<ExecResult> {
    this.execs.push(render(c));
    return sh(render(c));
  }
  async execBatch(cmds: Command[]): Promise<ExecResult[]> {
    this.sent.push(cmds.map(render));
    const nonce = '0123456789abcdef';
    return splitBatch(sh(batchScript(cmds, nonce)), cmds.length, nonce);
  }
}

describe('runProbes with groups', () => {
  const probe = (kind: 'stat' | 'hash', path: string): Probe => {
    const group = fileStatArg(kind, path);
    return { cmd: { script: kind === 'stat' ? statScript(path) : probeScript(path, false) }, become: true, ...(group ? { group } : {}) };
  };
  const probes: Probe[] = [
    probe('hash', P.file),
    { cmd: { script: 'echo lone; exit 2' } },
    probe('stat', P.sub),
    probe('hash', P.link),
    probe('hash', P.missing),
    probe('hash', join(dir, 'with space.cfg')),
  ];

  it('gives every probe what it prints alone; the group goes once, what it could not rebuild in a second batch', async () => {
    const conn = new LocalConn();
    const got = await runProbes(conn as unknown as Connection, probes);
    expect(got).toEqual(probes.map((p) => ({ ...sh(render(p.cmd)), signal: null })));
    expect(conn.sent).toHaveLength(1);
    // the group (4 probes) as one part, beside the two lone probes
    expect(conn.sent[0]).toHaveLength(3);
    expect(conn.execs).toEqual([render(probes[3]!.cmd)]);
  });

  it('a group of one is sent as its own command; become splits groups', () => {
    expect(mergeProbes([probe('hash', P.file), { cmd: { script: 'true' } }]).merged).toEqual([]);
    const mixed = mergeProbes([probe('stat', P.file), { ...probe('stat', P.sub), become: false }, probe('stat', P.missing)]);
    expect(mixed.merged.map((m) => m.at)).toEqual([[0, 2]]);
    expect(mixed.parts).toHaveLength(2);
  });
});
