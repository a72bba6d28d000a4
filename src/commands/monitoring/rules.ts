import { Flags } from '@oclif/core';
import { KhaCommand, outputFlags } from '../../cli/base.js';

/** `kha monitoring rules --json`'s result */
export interface MonitoringRulesResult {
  flapWindow: string;
  flapMoves: number;
  exporterJobs: string;
  foreignWindow: string;
  /** the alerts' names, in the file's order */
  alerts: string[];
  /** the rule file, as printed without --json */
  rules: string;
}

export default class MonitoringRules extends KhaCommand {
  static override summary =
    "Print kha's Prometheus alert rules (VIP holder, split brain, flapping, backends, services, exporters) for Prometheus's rule_files.";
  static override description =
    "The rules read the metrics of kha's VRRP exporter (job kha) and of haproxy (job kha-haproxy): README, Monitoring. Without flags the output is monitoring/kha.rules.yml as shipped. Check it with promtool check rules. Connects to no host.";
  static override examples = [
    '<%= config.bin %> monitoring rules > kha.rules.yml',
    '<%= config.bin %> monitoring rules --flap-window 30m --flap-moves 6',
    '<%= config.bin %> monitoring rules --foreign-window 3m',
    "<%= config.bin %> monitoring rules --exporter-jobs 'kha-lb|haproxy'",
  ];
  static override flags = {
    'flap-window': Flags.string({ summary: 'KhaVipFlapping counts the VIP moves within this window (a Prometheus duration).', default: '10m' }),
    'flap-moves': Flags.integer({ summary: 'KhaVipFlapping fires when the VIP moved more than this many times within the window.', default: 3 }),
    'exporter-jobs': Flags.string({
      summary: 'KhaExporterDown watches the Prometheus jobs this regex matches (your scrape job names).',
      default: 'kha|kha-haproxy',
    }),
    'foreign-window': Flags.string({
      summary: 'KhaForeignVrrpRouter fires while a foreign VRRP advert was counted within this window (at least two scrapes of the kha job).',
      default: '1m',
    }),
    json: outputFlags.json,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { alertRules, renderAlertRules } = await import('../../monitoring/rules.js');
    const { flags } = await this.parse(MonitoringRules);
    try {
      const o = {
        flapWindow: flags['flap-window'],
        flapMoves: flags['flap-moves'],
        exporterJobs: flags['exporter-jobs'],
        foreignWindow: flags['foreign-window'],
      };
      const rules = renderAlertRules(o);
      if (flags.json) {
        const result: MonitoringRulesResult = { ...o, alerts: alertRules(o).map((r) => r.alert), rules };
        this.setResult(result);
        await this.finish(0);
      } else process.stdout.write(rules);
    } catch (err) {
      await this.fail(err);
    }
  }
}
