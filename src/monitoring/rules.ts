// kha's Prometheus alert rules and scrape jobs (issue 19; README: Monitoring), rendered as text.
// Pure: options in, YAML out, the same bytes for the same options, so the shipped
// monitoring/kha.rules.yml is checked against the renderer byte for byte. The metric names and the
// expressions are the contract of issue 19 (what kha's VRRP exporter and haproxy expose); each
// expression is checked with `promtool check rules` and fed synthetic series with
// `promtool test rules` in test/unit/monitoring-rules.test.ts.
import { stringify } from 'yaml';
import { InputError } from '../errors.js';
import { isIPv4 } from '../net/ipv4.js';
import { quote } from '../transport/quote.js';

export interface AlertRulesOptions {
  /** KhaVipFlapping's window: a Prometheus duration (30s, 10m, 1h) */
  flapWindow: string;
  /** KhaVipFlapping fires when the VIP moved more than this many times within flapWindow */
  flapMoves: number;
  /** the jobs KhaExporterDown watches: a regex of Prometheus job names */
  exporterJobs: string;
  /**
   * KhaForeignVrrpRouter's window: it fires while a foreign advert was counted within it. It must
   * span two scrapes of the kha job (1m: a scrape interval up to 30s); optional, default 1m.
   */
  foreignWindow?: string;
}

export const RULES_DEFAULTS: Readonly<Required<AlertRulesOptions>> = { flapWindow: '10m', flapMoves: 3, exporterJobs: 'kha|kha-haproxy', foreignWindow: '1m' };

export interface AlertRule {
  alert: string;
  expr: string;
  /** how long the expression must hold before the alert fires; none: at once */
  for?: string;
  severity: 'critical' | 'warning';
  /** Go template: {{ $labels.NAME }} are the alert's labels, {{ $value }} the expression's value */
  summary: string;
  /** one line: what the operator does */
  runbook: string;
}

export const RULES_GROUP = 'kha';

// Prometheus's duration syntax (model.ParseDuration): units largest first, each at most once
const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkDuration(flag: string, v: string): string {
  const m = DURATION_RE.exec(v);
  if (v === '' || !m || m.slice(1).every((n) => n === undefined || Number(n) === 0)) {
    throw new InputError(`${flag}: ${JSON.stringify(v)} is not a Prometheus duration; use a number and a unit, as in 30s, 10m or 1h`);
  }
  return v;
}

/** KhaForeignVrrpRouter's window: the option, or its default. */
const foreignWindowOf = (o: AlertRulesOptions): string => o.foreignWindow ?? RULES_DEFAULTS.foreignWindow;

function checkOptions(o: AlertRulesOptions): void {
  checkDuration('--flap-window', o.flapWindow);
  checkDuration('--foreign-window', foreignWindowOf(o));
  if (!Number.isSafeInteger(o.flapMoves) || o.flapMoves < 1) {
    throw new InputError(`--flap-moves: ${o.flapMoves} is not a whole number of at least 1; the alert fires above it (default ${RULES_DEFAULTS.flapMoves})`);
  }
  const bad = regexProblem(o.exporterJobs);
  if (bad) throw new InputError(`--exporter-jobs: ${JSON.stringify(o.exporterJobs)} ${bad}; give a regex of Prometheus job names, as in 'kha|kha-haproxy'`);
}

/** Why `s` cannot be the job regex (it goes into a PromQL double-quoted string on one line), or undefined. */
function regexProblem(s: string): string | undefined {
  if (s === '') return 'is empty';
  if (s.includes('"')) return 'holds a double quote';
  if ([...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return 'holds a control character';
  try {
    new RegExp(s);
  } catch {
    return 'is not a valid regular expression';
  }
  return undefined;
}

/** Inside a PromQL double-quoted string a backslash starts an escape: `kha\.lb` must be written `kha\\.lb`. */
const promqlString = (s: string) => `"${s.replace(/\\/g, '\\\\')}"`;

/** The alerts, in the order the file lists them. Pure; options are checked (InputError, exit 4). */
export function alertRules(o: AlertRulesOptions = RULES_DEFAULTS): AlertRule[] {
  checkOptions(o);
  const W = o.flapWindow;
  const N = o.flapMoves;
  const moves = `kha_vrrp_became_master_total[${W}]`;
  return [
    {
      alert: 'KhaVipNoHolder',
      expr: 'sum by (vip) (kha_vrrp_vip_held) == 0',
      for: '10s',
      severity: 'critical',
      summary: 'No load balancer holds the VIP {{ $labels.vip }}: the apiserver endpoint does not answer',
      runbook:
        "kha status -i hosts.yaml shows each host's VRRP state, keepalived and haproxy; start what is stopped (kha up -i hosts.yaml puts kha's config back and starts them), check that the VIP lies in the subnet of vrrp_interface, then kha drill -i hosts.yaml to see a failover work",
    },
    {
      alert: 'KhaVipSplitBrain',
      expr: 'sum by (vip) (kha_vrrp_vip_held) > 1',
      for: '10s',
      severity: 'critical',
      summary: '{{ $value }} load balancers hold the VIP {{ $labels.vip }} at once (split brain)',
      runbook:
        'VRRP adverts do not get between the load balancers: kha status -i hosts.yaml names the holders; allow IP protocol 112 between them (or set vrrp_unicast: true and run kha up -i hosts.yaml), then check that one holder is left',
    },
    {
      alert: 'KhaVipFlapping',
      // a host whose counter restarted within the window (a reboot) is left out: max - min would count its whole history
      expr: `sum by (vip) ((max_over_time(${moves}) - min_over_time(${moves})) unless resets(${moves}) > 0) > ${N}`,
      severity: 'warning',
      summary: `The VIP {{ $labels.vip }} moved {{ $value }} times in the last ${W} (more than ${N})`,
      runbook: `A holder keeps failing and coming back: KhaCheckFailing, KhaHaproxyDown or KhaKeepalivedDown name the host, kha status -i hosts.yaml and journalctl -u keepalived there say why; kha drill moves the VIP twice a round, so a drill of ${Math.floor(N / 2) + 1} rounds or more fires this too`,
    },
    {
      alert: 'KhaBackendDown',
      expr: 'max by (backend, server) (kha_haproxy_server_state{state="DOWN"}) == 1',
      for: '15s',
      severity: 'warning',
      summary: 'haproxy counts the apiserver {{ $labels.server }} DOWN (backend {{ $labels.backend }})',
      runbook:
        "The kube-apiserver on {{ $labels.server }} fails haproxy's health check (apiserver_health_path): look at it on that master (crictl ps, its logs); for planned maintenance kha drain -i hosts.yaml {{ $labels.server }} first, as a drained server does not fire this",
    },
    {
      alert: 'KhaAllBackendsDown',
      expr: 'sum by (job, instance, backend) (kha_haproxy_server_state{state="UP"}) == 0',
      for: '15s',
      severity: 'critical',
      summary: 'haproxy on {{ $labels.instance }} has no apiserver UP (backend {{ $labels.backend }})',
      runbook:
        'Expected before kubeadm init (no apiserver runs yet); after it every request through the VIP fails: check the apiservers on the masters, kha status -i hosts.yaml counts the backends up per load balancer, and kha undrain -i hosts.yaml SERVER puts back a drained one',
    },
    {
      alert: 'KhaForeignVrrpRouter',
      expr: `increase(kha_vrrp_foreign_adverts_total[${foreignWindowOf(o)}]) > 0`,
      severity: 'critical',
      summary:
        'VRRP adverts for virtual router id {{ $labels.vrid }} from a host that is not a kha load balancer (seen on {{ $labels.instance }}, VIP {{ $labels.vip }})',
      runbook:
        "Another VRRP router uses kha's virtual_router_id on this segment and can take the VIP: find it (tcpdump -ni IFACE vrrp on {{ $labels.instance }} shows its address) and give it another id, or give kha another virtual_router_id in the inventory",
    },
    {
      alert: 'KhaCheckFailing',
      expr: 'kha_vrrp_check_ok == 0',
      for: '30s',
      severity: 'warning',
      summary: 'keepalived check {{ $labels.check }} fails on {{ $labels.instance }} (VIP {{ $labels.vip }}): this host will not hold the VIP',
      runbook:
        "kha_check_haproxy: the local haproxy does not answer its monitor URI; kha_haproxy_down: haproxy is stopped or dead; kha_check_apiserver: the local kube-apiserver is not ready; kha status -i hosts.yaml shows the host's services and backends, kha up -i hosts.yaml starts what kha manages",
    },
    {
      alert: 'KhaKeepalivedDown',
      expr: 'kha_keepalived_up == 0',
      for: '30s',
      severity: 'critical',
      summary: 'keepalived is not running on {{ $labels.instance }} (VIP {{ $labels.vip }}): this host cannot take the VIP over',
      runbook:
        "systemctl status keepalived and journalctl -u keepalived on that host say why; kha up -i hosts.yaml starts it with kha's config, kha status -i hosts.yaml confirms it is back as BACKUP or MASTER",
    },
    {
      alert: 'KhaHaproxyDown',
      expr: 'kha_haproxy_up == 0',
      for: '30s',
      severity: 'critical',
      summary: 'haproxy is not running on {{ $labels.instance }} (VIP {{ $labels.vip }}): this host forwards nothing and gave the VIP up',
      runbook:
        "systemctl status haproxy and journalctl -u haproxy on that host say why (haproxy -c -f /etc/haproxy/haproxy.cfg checks the config); kha up -i hosts.yaml starts it with kha's config, kha status -i hosts.yaml confirms",
    },
    {
      alert: 'KhaExporterDown',
      expr: `up{job=~${promqlString(o.exporterJobs)}} == 0`,
      for: '1m',
      severity: 'warning',
      summary: 'Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }}: the alerts above are blind there',
      runbook:
        'Job kha: kha-metrics.socket on that host (systemctl status kha-metrics.socket; kha up -i hosts.yaml installs it); job kha-haproxy: haproxy itself (kha status -i hosts.yaml); else metrics_bind, metrics_port, vrrp_metrics_port and the firewall between Prometheus and the host',
    },
  ];
}

/** A YAML scalar that reads back as this exact string: plain where that is safe, else quoted; never folded. */
const scalar = (s: string) => stringify(s, { lineWidth: 0 }).trimEnd();

/** The Prometheus rule file (group `kha`): every alert of alertRules(o), with a header saying how it was made. Pure. */
export function renderAlertRules(o: AlertRulesOptions = RULES_DEFAULTS): string {
  const rules = alertRules(o);
  const out = [
    "# kha's Prometheus alert rules (README.md, Monitoring): they read the metrics of kha's VRRP",
    '# exporter on every load balancer (job kha, port vrrp_metrics_port), and KhaExporterDown watches',
    '# the scrape of both kha jobs (kha, kha-haproxy: --exporter-jobs).',
    `# Generated by: kha monitoring rules --flap-window ${o.flapWindow} --flap-moves ${o.flapMoves} --exporter-jobs ${quote(o.exporterJobs)}${
      foreignWindowOf(o) !== RULES_DEFAULTS.foreignWindow ? ` --foreign-window ${foreignWindowOf(o)}` : ''
    }`,
    '# Do not edit: run it again with other flags. Check it with: promtool check rules FILE',
    'groups:',
    `  - name: ${RULES_GROUP}`,
    '    rules:',
  ];
  for (const r of rules) {
    out.push(`      - alert: ${r.alert}`, `        expr: ${scalar(r.expr)}`);
    if (r.for !== undefined) out.push(`        for: ${r.for}`);
    out.push(
      '        labels:',
      `          severity: ${r.severity}`,
      '        annotations:',
      `          summary: ${scalar(r.summary)}`,
      `          runbook: ${scalar(r.runbook)}`,
    );
  }
  return `${out.join('\n')}\n`;
}

export interface ScrapeConfigOptions {
  /** the load balancers' addresses (IPv4 or DNS names): both jobs */
  lbTargets: string[];
  /** the nodes whose local proxy is haproxy: job kha-haproxy only */
  proxyTargets: string[];
  /** haproxy's exporter port (metrics_port) */
  metricsPort: number;
  /** kha's VRRP exporter port (vrrp_metrics_port) */
  vrrpMetricsPort: number;
  /** scrape_interval for both jobs; none: Prometheus's global one */
  interval?: string;
}

function checkTarget(t: string): string {
  // all digits and dots is a bad address, not a name (no top-level domain is numeric)
  if (!isIPv4(t) && (!HOSTNAME_RE.test(t) || /^[\d.]+$/.test(t)))
    throw new InputError(`scrape target ${JSON.stringify(t)} is not an IPv4 address or a DNS name`);
  return t;
}

function checkPort(what: string, p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InputError(`${what}: ${p} is not a port; use a number from 1 to 65535`);
  return p;
}

const unique = (xs: string[]) => [...new Set(xs)];

/**
 * Each job's targets (HOST:PORT), checked and without duplicates: job kha (the load balancers' VRRP
 * exporter) and kha-haproxy (haproxy's own, load balancers and node proxies). Pure.
 */
export function scrapeTargets(o: ScrapeConfigOptions): { kha: string[]; 'kha-haproxy': string[] } {
  if (o.lbTargets.length === 0) throw new InputError('no load-balancer host to scrape');
  const lb = unique(o.lbTargets.map(checkTarget));
  const proxies = unique(o.proxyTargets.map(checkTarget)).filter((t) => !lb.includes(t));
  const vrrpPort = checkPort('vrrp_metrics_port', o.vrrpMetricsPort);
  const port = checkPort('metrics_port', o.metricsPort);
  return { kha: lb.map((t) => `${t}:${vrrpPort}`), 'kha-haproxy': [...lb, ...proxies].map((t) => `${t}:${port}`) };
}

/** `scrape_configs:` with the two jobs of scrapeTargets. Pure. */
export function renderScrapeConfig(o: ScrapeConfigOptions): string {
  const targets = scrapeTargets(o);
  const vrrpPort = o.vrrpMetricsPort;
  const port = o.metricsPort;
  const interval = o.interval === undefined ? [] : [`    scrape_interval: ${checkDuration('--interval', o.interval)}`];
  const job = (name: string, targets: string[]) => [
    `  - job_name: ${name}`,
    ...interval,
    '    static_configs:',
    '      - targets:',
    ...targets.map((t) => `          - ${scalar(t)}`),
  ];
  const out = [
    "# kha's scrape jobs (README.md, Monitoring): merge scrape_configs into prometheus.yml.",
    `# kha: the VRRP exporter on every load balancer (:${vrrpPort}); kha-haproxy: haproxy's own exporter (:${port}),`,
    '# on the load balancers and on the nodes whose local proxy is haproxy.',
    'scrape_configs:',
    ...job('kha', targets.kha),
    ...job('kha-haproxy', targets['kha-haproxy']),
  ];
  return `${out.join('\n')}\n`;
}
