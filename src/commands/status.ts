import { setTimeout as sleep } from 'node:timers/promises';
import { Flags } from '@oclif/core';
import { inventoryFlags, KhaCommand } from '../cli/base.js';
import { ExitCode } from '../errors.js';

export default class Status extends KhaCommand {
  static override summary = "Show who holds the VIP, each host's VRRP state (from keepalived), services, haproxy backends and config drift.";
  static override description =
    'Exit code 6 when no host or more than one host holds the VIP (split brain), naming them, or when a node-local proxy is down or reaches no master; 3 when a host or node is unreachable. Hosts kha does not manage (after kha reset: no kha config, keepalived and haproxy not running) are reported as "nothing managed by kha", exit 0.';
  static override examples = [
    '<%= config.bin %> status -i hosts.yaml',
    '<%= config.bin %> status -i hosts.yaml --json',
    '<%= config.bin %> status -i hosts.yaml --watch',
  ];
  static override flags = {
    ...inventoryFlags,
    json: Flags.boolean({ summary: 'Print the status as JSON.' }),
    watch: Flags.boolean({ char: 'w', summary: 'Refresh every --interval seconds until Ctrl-C.' }),
    interval: Flags.integer({ summary: 'Seconds between refreshes with --watch.', default: 2, min: 1 }),
    'log-file': Flags.string({ summary: 'Write the JSON log here.' }),
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { nodeProxyProblem, nodeProxyStatus, renderNodeProxyTable, renderStatusTable, status } = await import('../actions/status.js');
    const { loadForRun, makeRun } = await import('../cli/prepare.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Status);
    // status prints its own table: the event sinks only log to the file
    const io = this.setupIo({ json: flags.json, quiet: true, 'log-file': flags['log-file'] }, verbose);
    let run;
    try {
      const { inv, settings } = await loadForRun(flags, io);
      run = makeRun(inv, flags, io);
      for (;;) {
        // the masters and the nodes are asked at once: the nodes' probes (up to 2 s with nginx) need not wait
        const [report, nodes] = await Promise.all([status(run, settings), settings.nodeLocalProxy ? nodeProxyStatus(run, settings) : []]);
        if (flags.json) process.stdout.write(`${JSON.stringify({ ...report, nodes }, null, 2)}\n`);
        else {
          if (flags.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
          process.stdout.write(renderStatusTable(report));
          if (nodes.length) process.stdout.write(renderNodeProxyTable(nodes));
          if (flags.watch) process.stdout.write(`(every ${flags.interval} s, ${new Date().toLocaleTimeString()}; Ctrl-C to stop)\n`);
        }
        if (!flags.watch || io.signal.aborted) {
          await run.connector.closeAll();
          if (report.hosts.every((h) => !h.reachable)) {
            const why = (h: (typeof report.hosts)[number]) => (h.error?.startsWith(`${h.name}: `) ? h.error : `${h.name}: ${h.error ?? 'unreachable'}`);
            process.stderr.write(`error: no host is reachable (${report.hosts.map(why).join('; ')})\n`);
            await this.finish(ExitCode.unreachable);
            return;
          }
          // after kha reset nothing is kha's: not a problem (exit 0, the table says so)
          const problems = [report.problem, nodeProxyProblem(nodes, { bootstrap: report.bootstrap, unmanagedOk: report.managed === false })].filter(
            (p): p is string => p !== undefined,
          );
          for (const p of problems) process.stderr.write(`error: ${p}\n`);
          const someDown = report.hosts.some((h) => !h.reachable) || nodes.some((n) => n.active === 'unreachable');
          await this.finish(problems.length ? ExitCode.unhealthy : someDown ? ExitCode.unreachable : 0);
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
