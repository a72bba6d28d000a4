// kha's Prometheus alert rules and scrape jobs (src/monitoring/rules.ts; issue 19):
//  - byte for byte: the default rules against the reviewed golden test/golden/kha.rules.yml, and the
//    shipped monitoring/kha.rules.yml against the renderer. After a deliberate change to the rules,
//    regenerate both (npm run build first) and review the diff:
//      node bin/run.js monitoring rules > monitoring/kha.rules.yml && cp monitoring/kha.rules.yml test/golden/kha.rules.yml
//  - every alert of the issue's table, with its severity and `for`; bad options are one line, exit 4;
//  - REAL promtool (Debian's prometheus package): `promtool check rules` on the rendered files, and
//    `promtool test rules` feeding synthetic series for every alert: it fires with the right labels
//    and annotations at the right time, and stays quiet in the healthy cases (one holder, a drained
//    server, N moves within the window, a short blip shorter than `for`). Without promtool these
//    tests FAIL, saying how to install it; they never skip.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import MonitoringRules from '../../src/commands/monitoring/rules.js';
import { InputError } from '../../src/errors.js';
import { alertRules, renderAlertRules, renderScrapeConfig, RULES_DEFAULTS, type AlertRulesOptions } from '../../src/monitoring/rules.js';
import { REPO_ROOT } from '../helpers/cli.js';

const execFileP = promisify(execFile);
const golden = (name: string) => fs.readFileSync(fileURLToPath(new URL(`../golden/${name}`, import.meta.url)), 'utf8');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-monitoring-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PROMTOOL_MISSING =
  'promtool is not installed: these tests need it (Debian: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; scripts/ensure-prometheus.sh does it)';

/** promtool with these arguments, in `cwd`; no shell. Never throws for a non-zero exit; a missing promtool fails the test. */
async function promtool(args: string[], cwd = tmp): Promise<{ code: number; out: string }> {
  try {
    const r = await execFileP('promtool', args, { cwd, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { code?: string | number; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(PROMTOOL_MISSING);
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}${typeof e.code === 'number' ? '' : e.message}` };
  }
}

/** Write `text` to a fresh file under the test's temp dir. */
function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

// ---- the text ---------------------------------------------------------------------------------

/** The issue's table (alert, severity, for): written out here, not taken from the renderer. */
const SPEC: Array<[string, 'critical' | 'warning', string | undefined]> = [
  ['KhaVipNoHolder', 'critical', '10s'],
  ['KhaVipSplitBrain', 'critical', '10s'],
  ['KhaVipFlapping', 'warning', undefined],
  ['KhaBackendDown', 'warning', '15s'],
  ['KhaAllBackendsDown', 'critical', '15s'],
  ['KhaForeignVrrpRouter', 'critical', undefined],
  ['KhaCheckFailing', 'warning', '30s'],
  ['KhaKeepalivedDown', 'critical', '30s'],
  ['KhaHaproxyDown', 'critical', '30s'],
  ['KhaExporterDown', 'warning', '1m'],
];

interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{ alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }>;
  }>;
}

describe('the rule file as text', () => {
  test('the defaults: the reviewed golden, byte for byte, and the same on every call', () => {
    expect(renderAlertRules(RULES_DEFAULTS)).toBe(golden('kha.rules.yml'));
    expect(renderAlertRules()).toBe(renderAlertRules({ ...RULES_DEFAULTS }));
  });

  test('monitoring/kha.rules.yml, shipped, is the default rendering (else regenerate it: see the top of this file)', () => {
    expect(fs.readFileSync(path.join(REPO_ROOT, 'monitoring', 'kha.rules.yml'), 'utf8')).toBe(renderAlertRules(RULES_DEFAULTS));
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('monitoring');
  });

  test('the header says how it was made; the YAML reads back as the rules, group kha, every alert of the issue with its severity and for', () => {
    const text = renderAlertRules();
    const lines = text.split('\n');
    expect(lines.indexOf('groups:')).toBe(5);
    expect(lines.slice(0, 5).every((l) => l.startsWith('# '))).toBe(true);
    expect(text).toContain("# Generated by: kha monitoring rules --flap-window 10m --flap-moves 3 --exporter-jobs 'kha|kha-haproxy'\n");
    const doc = parse(text) as RuleFile;
    expect(doc.groups.map((g) => g.name)).toEqual(['kha']);
    const rules = doc.groups[0]!.rules;
    expect(rules.map((r) => [r.alert, r.labels['severity'], r.for])).toEqual(SPEC);
    expect(rules).toEqual(
      alertRules().map((r) => ({
        alert: r.alert,
        expr: r.expr,
        ...(r.for !== undefined ? { for: r.for } : {}),
        labels: { severity: r.severity },
        annotations: { summary: r.summary, runbook: r.runbook },
      })),
    );
    for (const r of rules) {
      expect(Object.keys(r.annotations), r.alert).toEqual(['summary', 'runbook']);
      expect(r.annotations['runbook'], r.alert).not.toMatch(/\n/);
    }
    expect(rules.find((r) => r.alert === 'KhaAllBackendsDown')!.annotations['runbook']).toMatch(/before kubeadm init/);
  });

  test('the options reach the expressions and the header; a backslash in the job regex is escaped for PromQL', () => {
    const text = renderAlertRules({ flapWindow: '1h30m', flapMoves: 7, exporterJobs: 'kha\\.lb|haproxy-.*' });
    expect(text).toContain(
      '(max_over_time(kha_vrrp_became_master_total[1h30m]) - min_over_time(kha_vrrp_became_master_total[1h30m])) unless resets(kha_vrrp_became_master_total[1h30m]) > 0) > 7',
    );
    expect(text).toContain('expr: up{job=~"kha\\\\.lb|haproxy-.*"} == 0');
    expect(text).toContain("--flap-window 1h30m --flap-moves 7 --exporter-jobs 'kha\\.lb|haproxy-.*'\n");
    // the foreign-router window at its default is neither in the header nor changed in the expression
    expect(text).toContain('increase(kha_vrrp_foreign_adverts_total[1m]) > 0');
  });

  test("--foreign-window reaches KhaForeignVrrpRouter's expression and the header (the one flag shown only when not the default)", () => {
    const text = renderAlertRules({ ...RULES_DEFAULTS, foreignWindow: '3m' });
    expect(text).toContain('expr: increase(kha_vrrp_foreign_adverts_total[3m]) > 0');
    expect(text).not.toContain('foreign_adverts_total[1m]');
    expect(text).toContain("--exporter-jobs 'kha|kha-haproxy' --foreign-window 3m\n");
    expect(renderAlertRules({ ...RULES_DEFAULTS, foreignWindow: '1m' })).toBe(renderAlertRules(RULES_DEFAULTS));
  });

  test('kha monitoring rules: its flag defaults are the renderer defaults', () => {
    const f = MonitoringRules.flags;
    expect({
      flapWindow: f['flap-window'].default,
      flapMoves: f['flap-moves'].default,
      exporterJobs: f['exporter-jobs'].default,
      foreignWindow: f['foreign-window'].default,
    }).toEqual(RULES_DEFAULTS);
  });
});

describe('bad options: one line, InputError, exit 4', () => {
  const bad: Array<[Partial<AlertRulesOptions>, RegExp]> = [
    ...['10', '10 m', 'ten', '', '0s', '0m0s', '-5m', '1.5h', '5m30', 'm', '10m1h'].map(
      (w) =>
        [{ flapWindow: w }, /^--flap-window: ".*" is not a Prometheus duration; use a number and a unit, as in 30s, 10m or 1h$/] as [
          Partial<AlertRulesOptions>,
          RegExp,
        ],
    ),
    ...['10', '0m', '1.5m', ''].map(
      (w) =>
        [{ foreignWindow: w }, /^--foreign-window: ".*" is not a Prometheus duration; use a number and a unit, as in 30s, 10m or 1h$/] as [
          Partial<AlertRulesOptions>,
          RegExp,
        ],
    ),
    ...[0, -1, 2.5, Number.NaN].map((n) => [{ flapMoves: n }, /^--flap-moves: .* is not a whole number of at least 1/] as [Partial<AlertRulesOptions>, RegExp]),
    [{ exporterJobs: 'kha"x' }, /^--exporter-jobs: "kha\\"x" holds a double quote; give a regex of Prometheus job names/],
    [{ exporterJobs: '' }, /^--exporter-jobs: "" is empty/],
    [{ exporterJobs: 'kha\nx' }, /^--exporter-jobs: "kha\\nx" holds a control character/],
    [{ exporterJobs: 'kha(' }, /^--exporter-jobs: "kha\(" is not a valid regular expression/],
  ];
  test.each(bad)('%j', (o, message) => {
    let err: unknown;
    try {
      renderAlertRules({ ...RULES_DEFAULTS, ...o });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exit).toBe(4);
    expect((err as InputError).code).toBe('E_INPUT');
    expect((err as InputError).message).toMatch(message);
    expect((err as InputError).message).not.toMatch(/\n/);
  });

  test.each(['30s', '10m', '1h', '1h30m', '2d', '1w', '500ms'])('%s is a duration', (w) => {
    expect(renderAlertRules({ ...RULES_DEFAULTS, flapWindow: w })).toContain(`[${w}]`);
  });
});

// ---- the scrape jobs --------------------------------------------------------------------------

describe('renderScrapeConfig', () => {
  const o = { lbTargets: ['10.0.0.11', '10.0.0.12', 'm3.example.com'], proxyTargets: ['10.0.0.21', '10.0.0.22'], metricsPort: 8405, vrrpMetricsPort: 8406 };

  test('the reviewed golden: job kha on the load balancers at vrrp_metrics_port, kha-haproxy on them and the proxies at metrics_port', () => {
    expect(renderScrapeConfig({ ...o, interval: '15s' })).toBe(golden('scrape-config.yml'));
  });

  test('no interval: none written (Prometheus uses its global one); a host listed twice is scraped once per job', () => {
    const doc = parse(renderScrapeConfig({ ...o, proxyTargets: ['10.0.0.21', '10.0.0.11', '10.0.0.21'] })) as {
      scrape_configs: Array<{ job_name: string; scrape_interval?: string; static_configs: Array<{ targets: string[] }> }>;
    };
    expect(doc.scrape_configs).toEqual([
      { job_name: 'kha', static_configs: [{ targets: ['10.0.0.11:8406', '10.0.0.12:8406', 'm3.example.com:8406'] }] },
      { job_name: 'kha-haproxy', static_configs: [{ targets: ['10.0.0.11:8405', '10.0.0.12:8405', 'm3.example.com:8405', '10.0.0.21:8405'] }] },
    ]);
  });

  test.each([
    [{ lbTargets: [] }, /^no load-balancer host to scrape$/],
    [{ lbTargets: ['10.0.0.256'] }, /^scrape target "10.0.0.256" is not an IPv4 address or a DNS name$/],
    [{ proxyTargets: ['a b'] }, /^scrape target "a b" is not an IPv4 address or a DNS name$/],
    [{ metricsPort: 0 }, /^metrics_port: 0 is not a port/],
    [{ vrrpMetricsPort: 70000 }, /^vrrp_metrics_port: 70000 is not a port/],
    [{ interval: '15' }, /^--interval: "15" is not a Prometheus duration/],
  ])('bad: %j', (bad, message) => {
    expect(() => renderScrapeConfig({ ...o, ...bad })).toThrow(InputError);
    expect(() => renderScrapeConfig({ ...o, ...bad })).toThrow(message);
  });

  test('promtool check config accepts it as a prometheus.yml', async () => {
    const file = write('prometheus.yml', renderScrapeConfig({ ...o, interval: '15s' }));
    const r = await promtool(['check', 'config', file]);
    expect(r.code, r.out).toBe(0);
  });
});

// ---- promtool -----------------------------------------------------------------------------------

describe('promtool check rules', () => {
  test.each<[string, AlertRulesOptions]>([
    ['the defaults', RULES_DEFAULTS],
    ['other options', { flapWindow: '1h30m', flapMoves: 7, exporterJobs: 'kha\\.lb|haproxy-.*', foreignWindow: '15s' }],
  ])('%s', async (name, o) => {
    const file = write(`check-${name.replace(/\W+/g, '-')}.rules.yml`, renderAlertRules(o));
    const r = await promtool(['check', 'rules', file]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`SUCCESS: ${SPEC.length} rules found`);
  });
});

type Labels = Record<string, string>;

/** `name{a="1",b="2"}` */
const sel = (name: string, labels: Labels) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;

/** An annotation as Prometheus expands it for an alert with these labels and value (the renderer uses only these two forms). */
function expand(template: string, labels: Labels, value: number): string {
  const out = template.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => {
    if (labels[k] === undefined) throw new Error(`the template uses $labels.${k}, which this alert does not have: ${template}`);
    return labels[k];
  });
  return out.replace(/\{\{ \$value \}\}/g, String(value));
}

/** What promtool must see: the alert's labels (severity added) and its annotations, expanded. */
function firing(alert: string, labels: Labels, value: number, o: AlertRulesOptions = RULES_DEFAULTS) {
  const rule = alertRules(o).find((r) => r.alert === alert)!;
  const exp = { summary: expand(rule.summary, labels, value), runbook: expand(rule.runbook, labels, value) };
  expect(`${exp.summary}${exp.runbook}`).not.toContain('{{');
  return { exp_labels: { ...labels, severity: rule.severity }, exp_annotations: exp };
}

interface Check {
  at: string;
  alert: string;
  fires: Array<ReturnType<typeof firing>>;
}

interface Scenario {
  interval: string;
  series: Array<[string, string]>;
  checks: Check[];
}

/** Run one `promtool test rules` on the rules rendered with `o`. */
async function promtoolTest(name: string, s: Scenario, o: AlertRulesOptions = RULES_DEFAULTS): Promise<void> {
  const dir = fs.mkdtempSync(path.join(tmp, 'test-'));
  fs.writeFileSync(path.join(dir, 'kha.rules.yml'), renderAlertRules(o));
  const doc = {
    rule_files: ['kha.rules.yml'],
    evaluation_interval: '5s',
    tests: [
      {
        name,
        interval: s.interval,
        input_series: s.series.map(([sel, values]) => ({ series: sel, values })),
        alert_rule_test: s.checks.map((c) => ({ eval_time: c.at, alertname: c.alert, exp_alerts: c.fires })),
      },
    ],
  };
  fs.writeFileSync(path.join(dir, 'test.yml'), stringify(doc, { lineWidth: 0 }));
  const r = await promtool(['test', 'rules', 'test.yml'], dir);
  expect(r.code, `promtool test rules (${path.join(dir, 'test.yml')}):\n${r.out}`).toBe(0);
  expect(r.out).toContain('SUCCESS');
}

const quiet = (at: string, ...alerts: string[]): Check[] => alerts.map((alert) => ({ at, alert, fires: [] }));
const ALL = SPEC.map(([a]) => a);
const kha = (host: string, more: Labels = {}) => ({ ...more, job: 'kha', instance: `${host}:8406` });
const VIP = '10.0.0.100';
const BACKEND = 'kube-apiservers';

describe('promtool test rules: every alert fires when it should, and only then', () => {
  test('a healthy cluster for 5 minutes: one holder, a drained server, old counters that do not move: no alert at all', async () => {
    const series: Array<[string, string]> = [];
    for (const [i, h] of ['m1', 'm2', 'm3'].entries()) {
      const l = kha(h, { vip: VIP });
      series.push(
        [sel('kha_vrrp_vip_held', l), i === 0 ? '1x60' : '0x60'],
        [sel('kha_keepalived_up', l), '1x60'],
        [sel('kha_haproxy_up', l), '1x60'],
        [sel('kha_vrrp_became_master_total', l), `${7 - i}x60`],
        [sel('kha_vrrp_foreign_adverts_total', { ...l, vrid: '75' }), '12x60'],
        [sel('kha_vrrp_check_ok', { ...l, check: 'kha_haproxy' }), '1x60'],
        [sel('kha_vrrp_check_ok', { ...l, check: 'kha_haproxy_down' }), '1x60'],
        [sel('up', kha(h)), '1x60'],
        [sel('up', { job: 'kha-haproxy', instance: `${h}:8405` }), '1x60'],
      );
      for (const [server, state] of [
        ['m1', 'UP'],
        ['m2', 'UP'],
        ['m3', 'DRAIN'],
      ] as const) {
        for (const st of ['UP', 'DOWN', 'DRAIN', 'MAINT', 'NOLB']) {
          series.push([sel('kha_haproxy_server_state', kha(h, { backend: BACKEND, server, state: st })), st === state ? '1x60' : '0x60']);
        }
      }
    }
    await promtoolTest('healthy', { interval: '5s', series, checks: [...quiet('1m', ...ALL), ...quiet('5m', ...ALL)] });
  });

  test('KhaVipNoHolder and KhaVipSplitBrain: after 10 s, per VIP; a one-sample overlap or gap at a handover fires neither', async () => {
    const [ok, none, two, handover] = ['10.0.0.100', '10.0.1.100', '10.0.2.100', '10.0.3.100'];
    const held = (vip: string, host: string, values: string): [string, string] => [sel('kha_vrrp_vip_held', kha(host, { vip })), values];
    // 5 s steps, 0 s to 200 s (41 samples)
    const series: Array<[string, string]> = [
      held(ok, 'm1', '1x40'),
      held(ok, 'm2', '0x40'),
      held(ok, 'm3', '0x40'),
      // from 30 s nobody holds it
      held(none, 'm1', '1x5 0x35'),
      held(none, 'm2', '0x40'),
      // from 30 s two hold it
      held(two, 'm1', '1x40'),
      held(two, 'm2', '0x5 1x35'),
      // m2 takes it over at 30 s (both for one sample), gives it back at 60 s (nobody for one sample)
      held(handover, 'm1', '1x6 0x5 1x27'),
      held(handover, 'm2', '0x5 1x5 0x28'),
    ];
    const noHolder = firing('KhaVipNoHolder', { vip: none }, 0);
    const split = firing('KhaVipSplitBrain', { vip: two }, 2);
    await promtoolTest('vip', {
      interval: '5s',
      series,
      checks: [
        ...quiet('25s', 'KhaVipNoHolder', 'KhaVipSplitBrain'),
        // pending since 30 s: not yet
        ...quiet('35s', 'KhaVipNoHolder', 'KhaVipSplitBrain'),
        { at: '45s', alert: 'KhaVipNoHolder', fires: [noHolder] },
        { at: '45s', alert: 'KhaVipSplitBrain', fires: [split] },
        // the handover's one-sample gap at 60 s is pending only
        { at: '60s', alert: 'KhaVipNoHolder', fires: [noHolder] },
        { at: '65s', alert: 'KhaVipNoHolder', fires: [noHolder] },
        { at: '200s', alert: 'KhaVipNoHolder', fires: [noHolder] },
        { at: '200s', alert: 'KhaVipSplitBrain', fires: [split] },
      ],
    });
  });

  // 1 m steps, 0 to 20 m. VIP a: 3 moves (m1 at 2 m and 4 m, m2 at 3 m); VIP b: 4 moves (m2 also at 5 m).
  // Counters start where a host's count since boot stands, not at 0.
  const flapSeries = (vip: string, m2: string): Array<[string, string]> => [
    [sel('kha_vrrp_became_master_total', kha('m1', { vip })), '10 10 11 11 12x16'],
    [sel('kha_vrrp_became_master_total', kha('m2', { vip })), m2],
    [sel('kha_vrrp_became_master_total', kha('m3', { vip })), '0x20'],
  ];
  const flapping = { interval: '1m', series: [...flapSeries('10.0.0.100', '4 4 4 5x17'), ...flapSeries('10.0.1.100', '4 4 4 5 5 6x15')] };
  const movesOf = { '10.0.0.100': 3, '10.0.1.100': 4 };

  test.each([3, 2, 4])('KhaVipFlapping with --flap-moves %i: fires above N moves within the window, not at N, and stops once they are out of it', async (n) => {
    const o = { ...RULES_DEFAULTS, flapMoves: n };
    const over = Object.entries(movesOf)
      .filter(([, moves]) => moves > n)
      .map(([vip, moves]) => firing('KhaVipFlapping', { vip }, moves, o));
    const at4m = Object.entries({ '10.0.0.100': 3, '10.0.1.100': 3 })
      .filter(([, moves]) => moves > n)
      .map(([vip, moves]) => firing('KhaVipFlapping', { vip }, moves, o));
    await promtoolTest(
      `flapping ${n}`,
      {
        ...flapping,
        checks: [
          { at: '4m', alert: 'KhaVipFlapping', fires: at4m },
          { at: '6m', alert: 'KhaVipFlapping', fires: over },
          { at: '10m', alert: 'KhaVipFlapping', fires: over },
          // the window (10 m) no longer holds a move
          ...quiet('16m', 'KhaVipFlapping'),
        ],
      },
      o,
    );
  });

  test('KhaVipFlapping with --flap-window 2m: only the moves of the last 2 minutes count', async () => {
    const o = { ...RULES_DEFAULTS, flapWindow: '2m', flapMoves: 1 };
    // at 5 m the window holds 3 m to 5 m: VIP a moved once (m1 at 4 m), VIP b twice (m1 at 4 m, m2 at 5 m)
    await promtoolTest(
      'flap window',
      { ...flapping, checks: [{ at: '5m', alert: 'KhaVipFlapping', fires: [firing('KhaVipFlapping', { vip: '10.0.1.100' }, 2, o)] }] },
      o,
    );
  });

  test('KhaBackendDown: a server DOWN on the load balancers, once, after 15 s; a drained server does not fire', async () => {
    // 5 s steps, 0 to 120 s: m1 UP, m2 DOWN from 30 s, m3 drained throughout; as both load balancers see it
    const states: Record<string, Record<string, string>> = {
      m1: { UP: '1x24', DOWN: '0x24', DRAIN: '0x24' },
      m2: { UP: '1x5 0x19', DOWN: '0x5 1x19', DRAIN: '0x24' },
      m3: { UP: '0x24', DOWN: '0x24', DRAIN: '1x24' },
    };
    const series: Array<[string, string]> = [];
    for (const lb of ['m1', 'm2'])
      for (const [server, byState] of Object.entries(states))
        for (const [state, values] of Object.entries(byState))
          series.push([sel('kha_haproxy_server_state', kha(lb, { backend: BACKEND, server, state })), values]);
    await promtoolTest('backend down', {
      interval: '5s',
      series,
      checks: [
        ...quiet('25s', 'KhaBackendDown', 'KhaAllBackendsDown'),
        ...quiet('40s', 'KhaBackendDown'),
        { at: '50s', alert: 'KhaBackendDown', fires: [firing('KhaBackendDown', { backend: BACKEND, server: 'm2' }, 1)] },
        ...quiet('120s', 'KhaAllBackendsDown'),
      ],
    });
  });

  test('KhaAllBackendsDown: per load balancer, after 15 s, when none is UP (drained and DOWN ones count as not UP); one UP is enough', async () => {
    const series: Array<[string, string]> = [];
    // m1 counts one apiserver UP; m2 none (as before kubeadm init, or all drained)
    const up: Record<string, Record<string, string>> = { m1: { m1: '1x12', m2: '0x12', m3: '0x12' }, m2: { m1: '0x12', m2: '0x12', m3: '0x12' } };
    for (const [lb, byServer] of Object.entries(up))
      for (const [server, values] of Object.entries(byServer))
        series.push([sel('kha_haproxy_server_state', kha(lb, { backend: BACKEND, server, state: 'UP' })), values]);
    series.push([sel('kha_haproxy_server_state', kha('m2', { backend: BACKEND, server: 'm3', state: 'DRAIN' })), '1x12']);
    await promtoolTest('all backends down', {
      interval: '5s',
      series,
      checks: [
        ...quiet('10s', 'KhaAllBackendsDown'),
        { at: '20s', alert: 'KhaAllBackendsDown', fires: [firing('KhaAllBackendsDown', kha('m2', { backend: BACKEND }), 0)] },
      ],
    });
  });

  test('KhaForeignVrrpRouter: at once when the foreign advert counter grows; an old count that stays put does not fire', async () => {
    // 15 s steps, 0 to 5 m: m1 counted 5 adverts long ago; m2 counts 3 from 2m15s to 2m45s
    const l = (h: string) => kha(h, { vip: VIP, vrid: '75' });
    const series: Array<[string, string]> = [
      [sel('kha_vrrp_foreign_adverts_total', l('m1')), '5x20'],
      [sel('kha_vrrp_foreign_adverts_total', l('m2')), '0x8 1 2 3x9'],
    ];
    const fires = [firing('KhaForeignVrrpRouter', l('m2'), 0)];
    await promtoolTest('foreign router', {
      interval: '15s',
      series,
      checks: [...quiet('2m', 'KhaForeignVrrpRouter'), { at: '2m30s', alert: 'KhaForeignVrrpRouter', fires }, ...quiet('5m', 'KhaForeignVrrpRouter')],
    });
  });

  test('KhaCheckFailing: per host and check, after 30 s; a 10 s failure does not fire', async () => {
    const l = (h: string, check: string) => kha(h, { vip: VIP, check });
    const series: Array<[string, string]> = [
      [sel('kha_vrrp_check_ok', l('m1', 'kha_haproxy')), '1x24'],
      [sel('kha_vrrp_check_ok', l('m1', 'kha_apiserver')), '1x10 0 0 1x11'],
      [sel('kha_vrrp_check_ok', l('m2', 'kha_haproxy')), '1x5 0x19'],
      [sel('kha_vrrp_check_ok', l('m2', 'kha_haproxy_down')), '1x24'],
    ];
    const fires = [firing('KhaCheckFailing', l('m2', 'kha_haproxy'), 0)];
    await promtoolTest('check failing', {
      interval: '5s',
      series,
      checks: [...quiet('55s', 'KhaCheckFailing'), { at: '65s', alert: 'KhaCheckFailing', fires }, { at: '120s', alert: 'KhaCheckFailing', fires }],
    });
  });

  test.each([
    ['KhaKeepalivedDown', 'kha_keepalived_up'],
    ['KhaHaproxyDown', 'kha_haproxy_up'],
  ])('%s: per host, after 30 s; 15 s down (a restart) does not fire', async (alert, metric) => {
    const l = (h: string) => kha(h, { vip: VIP });
    const series: Array<[string, string]> = [
      [sel(metric, l('m1')), '1x24'],
      [sel(metric, l('m2')), '0x24'],
      [sel(metric, l('m3')), '1x4 0x3 1x15'],
    ];
    const fires = [firing(alert, l('m2'), 0)];
    await promtoolTest(alert, { interval: '5s', series, checks: [...quiet('25s', alert), { at: '35s', alert, fires }, { at: '120s', alert, fires }] });
  });

  test.each<[string, AlertRulesOptions, string]>([
    ['the default jobs', RULES_DEFAULTS, 'kha-haproxy'],
    ['--exporter-jobs node', { ...RULES_DEFAULTS, exporterJobs: 'node' }, 'node'],
  ])('KhaExporterDown with %s: a target of those jobs down for 1 m, no other', async (name, o, job) => {
    const targets = { 'kha-haproxy': 'm2:8405', node: 'm2:9100' } as Record<string, string>;
    const series: Array<[string, string]> = [
      [sel('up', kha('m1')), '1x24'],
      [sel('up', { job: 'kha-haproxy', instance: 'm2:8405' }), '0x24'],
      [sel('up', { job: 'node', instance: 'm2:9100' }), '0x24'],
    ];
    const fires = [firing('KhaExporterDown', { job, instance: targets[job]! }, 0, o)];
    await promtoolTest(
      `exporter down ${name}`,
      { interval: '5s', series, checks: [...quiet('55s', 'KhaExporterDown'), { at: '65s', alert: 'KhaExporterDown', fires }] },
      o,
    );
  });
});
