// Load: one `kha play` of ten tasks against 20 lab hosts at once (--forks 20). While it runs the
// kha process is sampled every 20 ms from /proc: resident memory (VmRSS, and VmHWM, the kernel's
// own peak), open file descriptors and how many of them are sockets. Every host must be ok,
// memory and descriptors bounded, and exactly one SSH connection per host (the engine's own
// count, and sshd's "Accepted" lines on every host).
//
// Order: one test; it runs last and alone (vitest.config.ts, integration-solo): its 20 containers
// booting at once would starve the timing measurements of files running beside it.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { writeLabInventory, type Lab } from '../../src/lab/lab.js';
import { outputProblems, parseJson, REPO_ROOT, runKha, secs, showRun, type KhaRun } from '../helpers/cli.js';
import { sshdLinesPerHost, startLab } from '../helpers/lab.js';

const N = 20;
const FD_LIMIT = N * 4 + 50;
const RSS_LIMIT_MB = 400;

interface Sample {
  rssKb: number;
  hwmKb: number;
  fds: number;
  sockets: number;
}

function sample(pid: number): Sample | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    const fdDir = `/proc/${pid}/fd`;
    const fds = fs.readdirSync(fdDir);
    let sockets = 0;
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(path.join(fdDir, fd)).startsWith('socket:')) sockets++;
      } catch {
        // closed between readdir and readlink
      }
    }
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), fds: fds.length, sockets };
  } catch {
    return undefined; // the process is gone
  }
}

/** runs kha, sampling its /proc entry until it exits */
async function khaSampled(args: string[], timeoutMs: number): Promise<{ run: KhaRun; samples: Sample[] }> {
  const samples: Sample[] = [];
  let tick: NodeJS.Timeout | undefined;
  const run = await runKha(args, {
    timeoutMs,
    onTimeout: 'resolve',
    onSpawn: (child) => {
      tick = setInterval(() => {
        const s = sample(child.pid!);
        if (s) samples.push(s);
      }, 20);
      // VmHWM in the last sample is the kernel's peak over the whole run
      child.on('exit', () => clearInterval(tick));
    },
  }).finally(() => clearInterval(tick));
  return { run, samples };
}

function accepted(lab: Lab): Promise<number[]> {
  return sshdLinesPerHost(lab, /^Accepted /);
}

describe(`load: ${N} hosts at once`, () => {
  let lab: Lab;
  let labMs = 0;
  beforeAll(async () => {
    const t0 = Date.now();
    lab = await startLab(N);
    labMs = Date.now() - t0;
    console.log(`[load] lab of ${N} systemd+sshd containers up and ready in ${secs(labMs)}`);
  });

  test(`kha play, 10 tasks x ${N} hosts, --forks ${N}: every host ok, ${N} SSH connections, fds < ${FD_LIMIT}, RSS < ${RSS_LIMIT_MB} MB`, async () => {
    const inv = path.join(lab.stateDir, 'hosts.yaml');
    writeLabInventory(lab, inv);
    const before = await accepted(lab);
    const log = path.join(lab.stateDir, 'load.log');
    const { run: r, samples } = await khaSampled(
      ['play', '-i', inv, path.join(REPO_ROOT, 'test', 'integration', 'playbooks', 'load.yaml'), '--forks', String(N), '--json', '--log-file', log],
      5 * 60_000,
    );
    const after = await accepted(lab);
    const doc = parseJson<{ handshakes: number; plays: Array<{ done: string[]; failed: string[]; unreachable: string[] }> }>(r);
    expect(outputProblems(doc), showRun(r)).toEqual([]);
    const peak = (k: keyof Sample) => Math.max(...samples.map((s) => s[k]));
    const peakRssMb = peak('rssKb') / 1024;
    const hwmMb = peak('hwmKb') / 1024;
    const tasks = doc.tasks.length;
    const changed = doc.tasks.filter((t) => t.status === 'changed').length;
    console.log(
      `[load] kha play: ${N} hosts x 10 tasks (+1 handler) in ${secs(r.ms)} (exit ${r.code}); ${tasks} task results, ${changed} changed; ` +
        `${doc.result?.handshakes} SSH handshakes (engine), sshd "Accepted" lines +${after.map((a, i) => a - before[i]!).reduce((x, y) => x + y, 0)} over ${N} hosts; ` +
        `${samples.length} samples: peak RSS ${peakRssMb.toFixed(1)} MB (VmHWM ${hwmMb.toFixed(1)} MB, limit ${RSS_LIMIT_MB}), ` +
        `peak fds ${peak('fds')} (limit ${FD_LIMIT}), peak sockets ${peak('sockets')}`,
    );
    expect(r.code, showRun(r)).toBe(0);
    expect(samples.length, 'the sampler saw the process').toBeGreaterThan(10);
    // every host ok: recap clean, the one play done everywhere
    expect(Object.keys(doc.recap).sort()).toEqual(lab.hosts.map((h) => h.name).sort());
    for (const [h, rc] of Object.entries(doc.recap)) {
      expect(rc.failed + rc.unreachable, h).toBe(0);
      expect(rc.changed, h).toBeGreaterThanOrEqual(8);
    }
    expect(doc.result?.plays[0]?.done.sort()).toEqual(lab.hosts.map((h) => h.name).sort());
    expect(tasks).toBe(N * 11);
    // exactly one SSH connection per host
    expect(doc.result?.handshakes).toBe(N);
    expect(after.map((a, i) => a - before[i]!)).toEqual(lab.hosts.map(() => 1));
    // bounded
    expect(peak('fds')).toBeLessThan(FD_LIMIT);
    expect(peak('sockets')).toBeLessThanOrEqual(N + 5);
    expect(hwmMb).toBeLessThan(RSS_LIMIT_MB);
    // the handler ran once per host, and the work is really there
    for (const h of lab.hosts) {
      const out = await lab.exec(h.name, ['sh', '-c', 'cat /etc/kha-load/host && ls /etc/kha-load && ls /etc/kha-load/sub']);
      expect(out.stdout, h.name).toBe(`${h.name}\na.conf\nb.conf\nc.conf\nhandler-ran\nhost\nsub\nd.conf\n`);
    }
  });
});
