// Thin test wrapper around src/lab/lab.ts. Integration tests NEVER skip: without a Docker engine
// startLab throws (locally and with CI=true alike), so the run fails loudly.
//
// Cleanup: a lab started inside a test is removed when that test finishes (onTestFinished); a lab
// started in beforeAll (or at file level) is removed by this module's afterAll, which registers in
// each test file's root suite (vitest re-evaluates this module per file; `isolate` is on).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, onTestFinished } from 'vitest';
import { NO_DOCKER_MESSAGE, dockerAvailable, labUp } from '../../src/lab/lab.js';
import type { Lab, LabUpOptions } from '../../src/lab/lab.js';

export type { Lab, LabHost } from '../../src/lab/lab.js';

export type StartLabOptions = Omit<Partial<LabUpOptions>, 'hosts'>;

const pending = new Set<Lab>();
let counter = 0;

afterAll(async () => {
  const labs = [...pending];
  pending.clear();
  const results = await Promise.allSettled(labs.map((l) => l.down()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) throw new Error(`lab cleanup failed: ${failed.map((f) => String(f.reason)).join('; ')}`);
});

/** a lab name unique per test file and per call: t-<file>-<random>-<n> */
function uniqueName(): string {
  const file = path.basename(expect.getState().testPath ?? 'test').replace(/\.test\.[cm]?[jt]s$/, '');
  const slug =
    file
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 20) || 'test';
  return `t-${slug}-${randomBytes(3).toString('hex')}-${++counter}`;
}

/** Starts `hosts` lab hosts (a count: m1..mN, or names) and registers their removal. */
export async function startLab(hosts: number | string[], opts: StartLabOptions = {}): Promise<Lab> {
  if (!(await dockerAvailable())) {
    const ci = process.env.CI === 'true' ? ' (CI=true: integration tests fail, they never skip)' : '';
    throw new Error(`${NO_DOCKER_MESSAGE}${ci}`);
  }
  const name = opts.name ?? uniqueName();
  const lab = await labUp({
    ...opts,
    name,
    hosts,
    stateDir: opts.stateDir ?? path.join(os.tmpdir(), `kha-${name}`),
  });
  let registered = false;
  if (expect.getState().currentTestName !== undefined) {
    try {
      onTestFinished(() => lab.down());
      registered = true;
    } catch {
      // currentTestName stays set after a test ends (e.g. in a later describe's beforeAll)
    }
  }
  if (!registered) {
    pending.add(lab);
    const down = lab.down.bind(lab);
    lab.down = async () => {
      pending.delete(lab);
      await down();
    };
  }
  return lab;
}

/** For a describe/file: starts the lab in beforeAll, removes it in afterAll; call the getter in tests. */
export function useLab(hosts: number | string[], opts: StartLabOptions = {}): () => Lab {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await startLab(hosts, opts);
  });
  afterAll(async () => {
    await lab?.down();
  });
  return () => {
    if (!lab) throw new Error('the lab is not up (did beforeAll fail?)');
    return lab;
  };
}

/**
 * sshd's own journal lines on a lab host (`-o cat`), optionally only those after a cursor.
 * Selected by syslog identifier, not by unit: journald files a line under ssh.service from the
 * sender's cgroup, which it can miss for a per-connection sshd child that has already exited
 * (a refused handshake); the identifier travels in the message itself.
 */
export async function sshdJournal(l: Lab, host: string, afterCursor?: string): Promise<string> {
  const args = ['journalctl', '-t', 'sshd', '-t', 'sshd-session', '--no-pager', '-o', 'cat', ...(afterCursor ? [`--after-cursor=${afterCursor}`] : [])];
  const r = await l.exec(host, args);
  if (r.code !== 0) throw new Error(`${host}: ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The journal's cursor now on a lab host (for sshdJournal's afterCursor). */
export async function journalCursor(l: Lab, host: string): Promise<string> {
  const r = await l.exec(host, ['journalctl', '-n', '0', '--show-cursor', '--no-pager']);
  const c = /-- cursor: (\S+)/.exec(r.stdout)?.[1];
  if (!c) throw new Error(`${host}: no journal cursor in: ${r.stdout}${r.stderr}`);
  return c;
}

/** How many of sshd's journal lines on a host match `re`. */
export async function sshdLines(l: Lab, host: string, re: RegExp): Promise<number> {
  return (await sshdJournal(l, host)).split('\n').filter((x) => re.test(x)).length;
}

/** sshdLines on every lab host, in the lab's host order. */
export function sshdLinesPerHost(l: Lab, re: RegExp): Promise<number[]> {
  return Promise.all(l.hosts.map((h) => sshdLines(l, h.name, re)));
}
