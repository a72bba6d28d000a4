import { Flags } from '@oclif/core';
import { inventoryFlags, KhaCommand, outputFlags } from '../../cli/base.js';

/** `kha monitoring scrape-config --json`'s result */
export interface MonitoringScrapeResult {
  targets: { kha: string[]; 'kha-haproxy': string[] };
  scrapeConfig: string;
}

export default class MonitoringScrapeConfig extends KhaCommand {
  static override summary = "Print Prometheus scrape_configs for the inventory's hosts: job kha (the VRRP exporter) and job kha-haproxy (haproxy's exporter).";
  static override description =
    "Targets are the load balancers (both jobs) and the nodes whose node-local proxy is haproxy (kha-haproxy), at their metrics_bind address (default: the host's own) and metrics_port / vrrp_metrics_port. Reads the inventory only; connects to no host. Exit 4 when the inventory has metrics: false.";
  static override examples = [
    '<%= config.bin %> monitoring scrape-config -i hosts.yaml >> prometheus.yml',
    '<%= config.bin %> monitoring scrape-config -i hosts.yaml --interval 15s',
  ];
  static override flags = {
    ...inventoryFlags,
    json: outputFlags.json,
    interval: Flags.string({ summary: "scrape_interval of both jobs (a Prometheus duration); default: Prometheus's global one." }),
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { renderScrapeConfig, scrapeTargets } = await import('../../monitoring/rules.js');
    const { loadForRun } = await import('../../cli/prepare.js');
    const { InputError } = await import('../../errors.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(MonitoringScrapeConfig);
    const io = this.setupIo({ json: flags.json, quiet: true }, verbose);
    try {
      const { settings: s } = await loadForRun(flags, io);
      if (!s.metrics) throw new InputError('metrics: false in the inventory: the hosts serve no metrics; set metrics: true (the default) and run kha up');
      const bind = (h: string) => {
        const b = s.hosts[h]!.metricsBind;
        return b === '0.0.0.0' ? s.hosts[h]!.address : b;
      };
      const proxies = s.nodeLocalProxy && s.nodeProxy === 'haproxy' ? s.nodes.map(bind) : [];
      const o = {
        lbTargets: s.lbHosts.map(bind),
        proxyTargets: proxies,
        metricsPort: s.metricsPort,
        vrrpMetricsPort: s.vrrpMetricsPort,
        ...(flags.interval !== undefined ? { interval: flags.interval } : {}),
      };
      const scrapeConfig = renderScrapeConfig(o);
      if (flags.json) {
        const result: MonitoringScrapeResult = { targets: scrapeTargets(o), scrapeConfig };
        this.setResult(result);
      } else process.stdout.write(scrapeConfig);
      await this.finish(0);
    } catch (err) {
      await this.fail(err);
    }
  }
}
