// `kha status -o prometheus`: the kha_* metrics of every load balancer as ONE scrape, for
// operators without a Prometheus that reaches the hosts (a textfile for node_exporter, a
// pushgateway, a cron job). Each host runs the same exporter script its kha-metrics.socket runs
// (rendered here, so it works with metrics: false too); the outputs are merged into one
// exposition with a `host` label, plus kha_host_reachable per host.
import type { RunContext } from '../engine/context.js';
import type { HaSettings } from '../inventory/settings.js';
import { metricsScript } from '../roles/ha.js';
import { describeError } from '../errors.js';

export interface HostExposition {
  host: string;
  /** the exporter's output, or null when the host could not be asked */
  text: string | null;
  error?: string;
}

interface Family {
  help?: string;
  type?: string;
  samples: string[];
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/;

function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * Merge per-host expositions (Prometheus text format 0.0.4) into one: every sample gets
 * `host="<name>"` as its first label, each family's HELP and TYPE once, families in the order
 * first seen. Pure.
 */
export function mergeExpositions(hosts: readonly HostExposition[]): string {
  const families = new Map<string, Family>();
  const fam = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { samples: [] }));
    return f;
  };
  const reach = fam('kha_host_reachable');
  reach.help = 'kha_host_reachable 1 when kha reached the host over SSH and ran its metrics exporter there.';
  reach.type = 'kha_host_reachable gauge';
  for (const h of hosts) {
    const host = `host="${labelValue(h.host)}"`;
    reach.samples.push(`kha_host_reachable{${host}} ${h.text === null ? 0 : 1}`);
    if (h.text === null) continue;
    for (const line of h.text.split('\n')) {
      const meta = /^# (HELP|TYPE) (\S+)( .*)?$/.exec(line);
      if (meta) {
        const f = fam(meta[2]!);
        if (meta[1] === 'HELP') f.help ??= `${meta[2]}${meta[3] ?? ''}`;
        else f.type ??= `${meta[2]}${meta[3] ?? ''}`;
        continue;
      }
      const m = SAMPLE_RE.exec(line.trim());
      if (!m) continue;
      const labels = m[3] ? `${host},${m[3]}` : host;
      fam(m[1]!).samples.push(`${m[1]}{${labels}} ${m[4]}`);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (f.samples.length === 0) continue;
    if (f.help) out.push(`# HELP ${f.help}`);
    if (f.type) out.push(`# TYPE ${f.type}`);
    out.push(...f.samples);
  }
  return `${out.join('\n')}\n`;
}

/** Run the exporter on every load balancer (in parallel, as root) and merge the outputs. */
export async function statusMetrics(run: RunContext, s: HaSettings, o: { only?: Set<string> } = {}): Promise<{ text: string; hosts: HostExposition[] }> {
  const script = metricsScript(s);
  const hosts = await Promise.all(
    s.lbHosts
      .filter((h) => !o.only || o.only.has(h))
      .map(async (h): Promise<HostExposition> => {
        try {
          const conn = await run.connector.get(run.host(h));
          const r = await conn.exec({ argv: ['bash', '-c', script, 'kha-metrics'] }, { become: true, timeoutMs: 15_000 });
          if (r.code !== 0) return { host: h, text: null, error: `the exporter exited ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}` };
          return { host: h, text: r.stdout };
        } catch (err) {
          return { host: h, text: null, error: describeError(err) };
        }
      }),
  );
  return { text: mergeExpositions(hosts), hosts };
}
