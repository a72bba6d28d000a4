// The default log directory keeps the last 50 runs: older kha logs are pruned when a run starts
// its own; other files there are never touched.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { KEEP_LOGS, pruneLogs } from '../../src/report/log.js';
import { runKha } from '../helpers/cli.js';

const logName = (i: number) => `kha-2026-01-01T00-00-${String(i).padStart(2, '0')}-000Z-${1000 + i}.log`;

function dirWith(n: number, extra: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-logs-'));
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, logName(i)), '{}\n');
  for (const f of extra) fs.writeFileSync(path.join(dir, f), 'keep\n');
  return dir;
}

describe('log pruning', () => {
  test('keeps the newest KEEP_LOGS (50) kha logs, removes the oldest, leaves other files alone', () => {
    const dir = dirWith(57, ['notes.txt', 'kha-manual.log']);
    expect(KEEP_LOGS).toBe(50);
    expect(pruneLogs(dir)).toBe(7);
    const left = fs.readdirSync(dir).sort();
    expect(left).toHaveLength(52);
    expect(left).toContain('notes.txt');
    expect(left).toContain('kha-manual.log');
    expect(left).not.toContain(logName(6));
    expect(left).toContain(logName(7));
    expect(left).toContain(logName(56));
  });

  test('fewer than the limit, or no directory: nothing removed', () => {
    expect(pruneLogs(dirWith(3))).toBe(0);
    expect(pruneLogs(path.join(os.tmpdir(), 'kha-no-such-dir-for-logs'))).toBe(0);
  });

  test('the built CLI prunes the default directory when a run starts its log (--log-file elsewhere prunes nothing)', async () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-state-'));
    const dir = path.join(state, 'kha', 'logs');
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 55; i++) fs.writeFileSync(path.join(dir, logName(i)), '{}\n');
    const inv = path.join(state, 'hosts.yaml');
    fs.writeFileSync(inv, 'all:\n  vars:\n    vip: 10.0.0.100\n  children:\n    masters:\n      hosts:\n        m1: { ansible_host: 10.0.0.11 }\n');
    const own = path.join(state, 'own.log');
    const r1 = await runKha(['inventory', '-i', inv, '--log-file', own], { env: { XDG_STATE_HOME: state } });
    expect(r1.code, r1.stderr).toBe(0);
    expect(fs.readdirSync(dir)).toHaveLength(55);
    const r2 = await runKha(['inventory', '-i', inv], { env: { XDG_STATE_HOME: state } });
    expect(r2.code, r2.stderr).toBe(0);
    // the last 50 were kept, the run's own among them; kha inventory reaches no host, so its own
    // log is then not left behind (test/unit/log-lifecycle.test.ts): the 49 newest older ones stay
    expect(fs.readdirSync(dir).sort()).toEqual(Array.from({ length: 49 }, (_, i) => logName(i + 6)));
  });
});
