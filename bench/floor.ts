// The floor of a no-change run: plain OpenSSH (no ControlMaster, no multiplexing) opening one
// connection to every host of a lab at once and running one combined read command on each: what
// kha's facts and plan read (os-release, addresses, packages, services, ports, and the stat and
// sha256 of every file kha manages, the units' states, the check user). Measured pair by pair with
// kha's own no-change run (A B A B ...), so load drifts hit both alike; the ratio is per pair.
import { spawn } from 'node:child_process';
import { factsScript } from '../src/facts/gather.js';
import {
  CHECK_HAPROXY_SCRIPT_PATH,
  DEFAULT_SCRIPT_USER,
  HAPROXY_DROPIN_PATH,
  HAPROXY_TMPFILES_PATH,
  NOTIFY_SCRIPT_PATH,
  SERVER_STATE_SCRIPT_PATH,
} from '../src/roles/files.js';
import { HAPROXY_CFG, KEEPALIVED_CONF } from '../src/roles/ha.js';
import {
  METRICS_SCRIPT_PATH,
  METRICS_SERVER_PATH,
  METRICS_SERVICE_PATH,
  METRICS_SOCKET_PATH,
  METRICS_SOCKET_UNIT,
  VRRP_COUNT_NFT_PATH,
  VRRP_COUNT_UNIT,
  VRRP_COUNT_UNIT_PATH,
} from '../src/roles/metrics.js';
import type { BenchLab, UpRun } from './labs.js';
import { up } from './labs.js';
import { summarize, type Summary } from './lib.js';

/** the files kha manages on a load balancer with the default settings (metrics on) */
export const MANAGED_FILES = [
  CHECK_HAPROXY_SCRIPT_PATH,
  NOTIFY_SCRIPT_PATH,
  HAPROXY_DROPIN_PATH,
  HAPROXY_TMPFILES_PATH,
  SERVER_STATE_SCRIPT_PATH,
  HAPROXY_CFG,
  KEEPALIVED_CONF,
  METRICS_SCRIPT_PATH,
  METRICS_SERVER_PATH,
  METRICS_SERVICE_PATH,
  METRICS_SOCKET_PATH,
  VRRP_COUNT_NFT_PATH,
  VRRP_COUNT_UNIT_PATH,
];

/** One command that reads what kha's facts and its plan read on a host. */
export function floorScript(): string {
  const files = MANAGED_FILES.join(' ');
  return [
    factsScript(undefined, undefined, MANAGED_FILES),
    `stat -c '%n %F %a %U %G' -- ${files} /etc/keepalived /etc/systemd/system/haproxy.service.d 2>/dev/null`,
    `id -u ${DEFAULT_SCRIPT_USER}`,
    `systemctl show -p Id -p LoadState -p ActiveState -p UnitFileState -- keepalived.service haproxy.service ${METRICS_SOCKET_UNIT} ${VRRP_COUNT_UNIT}`,
  ].join('\n');
}

/** Wall time of `ssh` to every host at once, each running floorScript() (ms). Throws when one fails. */
export async function floorRun(bl: BenchLab): Promise<number> {
  const script = floorScript();
  const t0 = performance.now();
  await Promise.all(
    bl.lab.hosts.map(
      (h) =>
        new Promise<void>((resolve, reject) => {
          const p = spawn(
            'ssh',
            [
              '-o',
              'ControlMaster=no',
              '-o',
              'ControlPath=none',
              '-o',
              'BatchMode=yes',
              '-o',
              `UserKnownHostsFile=${bl.lab.knownHostsFile}`,
              '-o',
              'StrictHostKeyChecking=yes',
              '-i',
              bl.lab.keyFile,
              `root@${h.address}`,
              'sh',
            ],
            { stdio: ['pipe', 'ignore', 'pipe'] },
          );
          let err = '';
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          p.on('error', reject);
          p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ssh ${h.address}: exit ${code}: ${err.trim()}`))));
          p.stdin.end(script);
        }),
    ),
  );
  return Math.round(performance.now() - t0);
}

export interface FloorPairs {
  pairs: Array<{ khaMs: number; floorMs: number; ratio: number }>;
  khaMs: Summary;
  floorMs: Summary;
  /** the median of the per-pair ratios */
  ratio: Summary;
  /** kha's phases in those runs (median per phase) */
  runs: UpRun[];
}

/** n pairs: kha's no-change `kha up`, then the floor, on the same converged lab. */
export async function floorPairs(bl: BenchLab, n: number): Promise<FloorPairs> {
  const pairs: FloorPairs['pairs'] = [];
  const runs: UpRun[] = [];
  await floorRun(bl); // warm: the first ssh of a process pays for its own start-up caches
  for (let i = 0; i < n; i++) {
    const r = await up(bl, 'no-change');
    if (r.code !== 0) throw new Error(`kha up (no change) failed in the floor pairs: ${r.error ?? ''}`);
    const f = await floorRun(bl);
    runs.push(r);
    pairs.push({ khaMs: r.wallMs, floorMs: f, ratio: Number((r.wallMs / f).toFixed(2)) });
  }
  return {
    pairs,
    khaMs: summarize(pairs.map((p) => p.khaMs)),
    floorMs: summarize(pairs.map((p) => p.floorMs)),
    ratio: summarize(pairs.map((p) => p.ratio)),
    runs,
  };
}
