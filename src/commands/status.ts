import { setTimeout as sleep } from 'node:timers/promises';
import { Flags } from '@oclif/core';
import type { StatusResult } from '../actions/status.js';
import { inventoryFlags, KhaCommand, limitFlag, outputFlags } from '../cli/base.js';
import { InputError } from '../errors.js';

export default class Status extends KhaCommand {
  static override summary = "Show who holds the VIP, each host's VRRP state (from keepalived), services, haproxy backends and config drift.";
  static override description =
    'Exit code 6 when no host or more than one host holds the VIP (split brain), naming them, or when a node-local proxy is down or reaches no master; 3 when a host or node is unreachable (each with why; with no holder among the hosts seen, the holder is unknown, never "none"). --limit asks only those hosts and nodes. Hosts kha does not manage (after kha reset: no kha config, keepalived and haproxy not running) are reported as "nothing managed by kha", exit 0.';
  static override examples = [
    '<%= config.bin %> status -i hosts.yaml',
    '<%= config.bin %> status -i hosts.yaml --json',
    '<%= config.bin %> status -i hosts.yaml --watch',
    '<%= config.bin %> status -i hosts.yaml -l m1,m2',
    '<%= config.bin %> status -i hosts.yaml -o prometheus > /var/lib/prometheus/node-exporter/kha.prom',
  ];
  static override flags = {
    ...inventoryFlags,
    ...limitFlag,
    json: outputFlags.json,
    output: Flags.string({
      char: 'o',
      summary:
        "table (default), or prometheus: every load balancer's kha_* metrics (the VRRP exporter's) as one scrape, with a host label; exit 3 when a host could not be asked.",
      options: ['table', 'prometheus'],
      default: 'table',
    }),
    watch: Flags.boolean({ char: 'w', summary: 'Refresh every --interval seconds until Ctrl-C.' }),
    interval: Flags.integer({ summary: 'Seconds between refreshes with --watch.', default: 2, min: 1 }),
    'log-file': Flags.string({ summary: 'Write the JSON log here.' }),
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { nodeProxyStatus, renderNodeProxyTable, renderStatusTable, status, statusJsonOutcome } = await import('../actions/status.js');
    const { loadForRun, makeRun } = await import('../cli/prepare.js');
    const { selectHosts } = await import('../inventory/select.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Status);
    // status prints its own table: the event sinks only log to the file
    const io = this.setupIo({ json: flags.json, quiet: true, 'log-file': flags['log-file'] }, verbose);
    let run;
    try {
      if (flags.watch && flags.json)
        throw new InputError('--watch with --json: --json prints one document per run; run kha status --json once per refresh instead');
      if (flags.output === 'prometheus' && (flags.watch || flags.json))
        throw new InputError(`-o prometheus with --${flags.watch ? 'watch' : 'json'}: prometheus output is one scrape; run it once per scrape instead`);
      const { inv, settings } = await loadForRun(flags, io);
      const o = flags.limit === undefined ? {} : { only: new Set(selectHosts(inv, flags.limit).map((h) => h.name)) };
      run = makeRun(inv, flags, io);
      if (flags.output === 'prometheus') {
        const { statusMetrics } = await import('../actions/status-metrics.js');
        const m = await statusMetrics(run, settings, o);
        await run.connector.closeAll();
        process.stdout.write(m.text);
        const lost = m.hosts.filter((h) => h.text === null);
        for (const h of lost) process.stderr.write(`error: ${h.host}: ${h.error ?? 'unreachable'}\n`);
        await this.finish(lost.length ? 3 : 0);
        return;
      }
      for (;;) {
        // the masters and the nodes are asked at once: the nodes' probes (up to 2 s with nginx) need not wait
        const [report, nodes] = await Promise.all([status(run, settings, o), settings.nodeLocalProxy ? nodeProxyStatus(run, settings, o) : []]);
        const result: StatusResult = { ...report, nodes };
        if (flags.json) this.setResult(result);
        else {
          if (flags.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          process.stdout.write(renderStatusTable(report));
          if (nodes.length) process.stdout.write(renderNodeProxyTable(nodes));
          if (flags.watch) process.stdout.write(`(every ${flags.interval} s, ${new Date().toLocaleTimeString()}; Ctrl-C to stop)\n`);
        }
        if (!flags.watch || io.signal.aborted) {
          await run.connector.closeAll();
          const outcome = statusJsonOutcome(result);
          // --json: the error is in the document; a human reads it on stderr
          if (!flags.json) for (const l of outcome.lines) process.stderr.write(`error: ${l}\n`);
          await this.finish(outcome);
          return;
        }
        await sleep(flags.interval * 1000);
        if (io.signal.aborted) {
          await run.connector.closeAll();
          await this.finish(0);
          return;
        }
      }
    } catch (err) {
      await run?.connector.closeAll();
      await this.fail(err);
    }
  }
}
