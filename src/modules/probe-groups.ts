// Probe groups (engine/types.ts ProbeGroup): reads that many tasks of a host make, sent as one
// command. A no-change plan of a load balancer stats and hashes about fifteen files and asks
// systemd about a few units; one `stat`, one `sha256sum` and one `systemctl show` for all of them
// instead of three processes per file keeps the host's CPU (and the plan's time) near plain
// OpenSSH's floor. Each group rebuilds, byte for byte, what the task's own probe command prints
// (test/unit/probe-groups.test.ts runs both on real files), or leaves the task to probe alone.
import type { ProbeGroup } from '../engine/types.js';
import type { ExecResult } from '../transport/types.js';
import { quote } from '../transport/quote.js';

/** Paths a merged read can name as they are: stat and sha256sum print them unescaped, and `|` never occurs. */
const PLAIN_PATH = /^\/[A-Za-z0-9._@+=:,/-]*$/;

const ok = (stdout: string): ExecResult => ({ code: 0, signal: null, stdout, stderr: '' });

const STAT_MARK = '@@kha-stat@@';
const SHA_MARK = '@@kha-sha@@';

/**
 * args: `stat:<path>` (what modules/file.ts statScript prints: the stat line, or `missing`) and
 * `hash:<path>` (what modules/template.ts probeScript prints without content: the stat line and
 * sha256sum's line for a regular file, `missing` when the path does not exist).
 */
export const FILE_STAT: ProbeGroup = {
  name: 'file-stat',
  script(args) {
    const paths = [...new Set(args.map((a) => a.slice(a.indexOf(':') + 1)))];
    const hashed = [...new Set(args.filter((a) => a.startsWith('hash:')).map((a) => a.slice(5)))];
    return [
      `echo ${STAT_MARK}; stat -c '%n|%F|%a|%U|%G' -- ${paths.map(quote).join(' ')} 2>/dev/null`,
      `echo ${SHA_MARK}${hashed.length ? `; sha256sum -- ${hashed.map(quote).join(' ')} 2>/dev/null` : ''}; true`,
    ].join('\n');
  },
  split(r, args) {
    const [, statPart = '', shaPart = ''] = r.stdout.split(new RegExp(`${STAT_MARK}\\n|${SHA_MARK}\\n`));
    if (!r.stdout.includes(SHA_MARK)) return args.map(() => undefined);
    const stats = new Map<string, string>();
    for (const l of statPart.split('\n')) {
      const bar = l.indexOf('|');
      if (bar > 0) stats.set(l.slice(0, bar), l.slice(bar + 1));
    }
    const shas = new Map<string, string>();
    for (const l of shaPart.split('\n')) {
      const m = /^[0-9a-f]{64} {2}(\/.*)$/.exec(l);
      if (m) shas.set(m[1]!, l);
    }
    return args.map((a) => {
      const path = a.slice(a.indexOf(':') + 1);
      const st = stats.get(path);
      if (a.startsWith('stat:')) return ok(st === undefined ? 'missing\n' : `${st}\n`);
      // [ -e ] follows a symlink where stat does not; a file sha256sum could not read: ask alone
      if (st === undefined) return ok('missing\n');
      const sha = shas.get(path);
      if (!st.startsWith('regular') || sha === undefined) return undefined;
      return ok(`${st}\n${sha}\n`);
    });
  },
};

/** A file-stat arg for `path`, or undefined when the path must be read alone. */
export function fileStatArg(kind: 'stat' | 'hash', path: string): { by: ProbeGroup; arg: string } | undefined {
  return PLAIN_PATH.test(path) ? { by: FILE_STAT, arg: `${kind}:${path}` } : undefined;
}

const UNIT_PROPS = '-p LoadState -p ActiveState -p UnitFileState';

/** The probe command of one unit's state (modules/service.ts); UNIT_SHOW merges several. */
export function unitShowScript(unit: string): string {
  return `systemctl show ${UNIT_PROPS} -- ${quote(unit)}`;
}

/**
 * args: unit names. `systemctl show` of several units prints one block per unit, in the order
 * given, separated by an empty line; each block is what `systemctl show` of that unit alone prints.
 */
export const UNIT_SHOW: ProbeGroup = {
  name: 'unit-show',
  script: (args) => `systemctl show ${UNIT_PROPS} -- ${args.map(quote).join(' ')}`,
  split(r, args) {
    const blocks = r.stdout.replace(/\n$/, '').split('\n\n');
    if (r.code !== 0 || blocks.length !== args.length || blocks.some((b) => !b.includes('LoadState='))) return args.map(() => undefined);
    return blocks.map((b) => ok(`${b}\n`));
  },
};
