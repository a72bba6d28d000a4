// The VIP's moves as the kernel saw them: `ip -ts -o monitor address` on each host, started
// before a drill breaks something and read back after. Exact to the microsecond by the hosts' own
// clocks, where polling `ip addr` over SSH is only as fine as its round trips.
import type { Connection } from '../transport/types.js';
import { quote } from '../transport/quote.js';

export interface VipEvent {
  /** ms since the epoch (µs precision), by the host's clock */
  t: number;
  host: string;
  /** true: the VIP was added on this host; false: deleted */
  up: boolean;
}

/** `[2026-11-22T04:03:31.189026] ...` as printed by `TZ=UTC ip -ts monitor`, to ms since the epoch. */
export function parseMonitorTime(line: string): number | null {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\]/.exec(line);
  return m ? Date.parse(`${m[1]}Z`) + Number(m[2]) / 1000 : null;
}

/** The VIP's address events in `ip -ts -o monitor address` output, in order. */
export function parseVipEvents(text: string, vip: string, host: string): VipEvent[] {
  const needle = ` ${vip}/`;
  const out: VipEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(needle) || !/\sinet6?\s/.test(line)) continue;
    const t = parseMonitorTime(line);
    if (t === null) continue;
    out.push({ t, host, up: !/^\[[^\]]*\]\s+Deleted\s/.test(line) });
  }
  return out;
}

export interface VipMonitor {
  host: string;
  /** stops the monitor and returns the VIP's events on this host (none when it could not run); once */
  stop(): Promise<VipEvent[]>;
}

/**
 * Starts `ip monitor address` in the background on one host, for at most `maxSeconds`, writing to
 * a temp file; stop() kills it, reads the file and removes it. A monitor that cannot start
 * yields no events: the caller then reports only the polled time.
 */
export async function startVipMonitor(conn: Connection, host: string, vip: string, maxSeconds: number): Promise<VipMonitor> {
  const secs = Math.max(1, Math.ceil(maxSeconds));
  const start = await conn
    .exec(
      {
        script: `f=$(mktemp /tmp/kha-vipmon.XXXXXX) || exit 1; TZ=UTC0 timeout ${secs} ip -ts -o monitor address >"$f" 2>/dev/null </dev/null & p=$!; sleep 0.2; echo "$p $f"`,
      },
      { timeoutMs: 10_000 },
    )
    .catch(() => null);
  const m = start && start.code === 0 ? /^(\d+) (\/tmp\/kha-vipmon\.[A-Za-z0-9]+)$/.exec(start.stdout.trim()) : null;
  if (!m) return { host, stop: async () => [] };
  const [, pid, file] = m as unknown as [string, string, string];
  let stopped: Promise<VipEvent[]> | undefined;
  return {
    host,
    // once: a second call gets the first one's events
    stop: () =>
      (stopped ??= conn
        .exec({ script: `kill ${pid} 2>/dev/null; cat ${quote(file)}; rm -f ${quote(file)}` }, { timeoutMs: 10_000 })
        .then((r) => parseVipEvents(r.stdout, vip, host))
        .catch(() => [])),
  };
}
