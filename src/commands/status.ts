import { setTimeout as sleep } from 'node:timers/promises';
import { Flags } from '@oclif/core';
import type { NodeProxyStatus, StatusResult } from '../actions/status.js';
import { inventoryFlags, KhaCommand, outputFlags, type Outcome } from '../cli/base.js';
import { ExitCode, InputError } from '../errors.js';

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
    json: outputFlags.json,
    watch: Flags.boolean({ char: 'w', summary: 'Refresh every --interval seconds until Ctrl-C.' }),
    interval: Flags.integer({ summary: 'Seconds between refreshes with --watch.', default: 2, min: 1 }),
    'log-file': Flags.string({ summary: 'Write the JSON log here.' }),
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { nodeProxyDown, nodeProxyProblem, nodeProxyStatus, renderNodeProxyTable, renderStatusTable, status } = await import('../actions/status.js');
    const { loadForRun, makeRun } = await import('../cli/prepare.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Status);
    // status prints its own table: the event sinks only log to the file
    const io = this.setupIo({ json: flags.json, quiet: true, 'log-file': flags['log-file'] }, verbose);
    let run;
    try {
      if (flags.watch && flags.json)
        throw new InputError('--watch with --json: --json prints one document per run; run kha status --json once per refresh instead');
      const { inv, settings } = await loadForRun(flags, io);
      run = makeRun(inv, flags, io);
      for (;;) {
        // the masters and the nodes are asked at once: the nodes' probes (up to 2 s with nginx) need not wait
        const [report, nodes] = await Promise.all([status(run, settings), settings.nodeLocalProxy ? nodeProxyStatus(run, settings) : []]);
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
          // after kha reset nothing is kha's: not a problem (exit 0, the table says so)
          const nodeOpts = { bootstrap: report.bootstrap, unmanagedOk: report.managed === false };
          const outcome = statusOutcome(result, nodeProxyProblem(nodes, nodeOpts), nodeProxyDown(nodes, nodeOpts));
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

/**
 * The exit code of one status report and why: 3 when no host answered, 6 for a problem (no or
 * two holders, a node proxy down: nodeProblem, naming the nodes nodesDown), else 3 when a host or
 * node is unreachable. `lines`: the `error:` lines a human sees. Pure.
 */
export function statusOutcome(r: StatusResult, nodeProblem: string | undefined, nodesDown: readonly NodeProxyStatus[]): Outcome & { lines: string[] } {
  const lost = r.hosts.filter((h) => !h.reachable);
  const why = (h: (typeof r.hosts)[number]) => (h.error?.startsWith(`${h.name}: `) ? h.error : `${h.name}: ${h.error ?? 'unreachable'}`);
  if (lost.length === r.hosts.length) {
    const message = `no host is reachable (${lost.map(why).join('; ')})`;
    return { exit: ExitCode.unreachable, error: { code: 'E_UNREACHABLE', message, hosts: lost.map((h) => h.name) }, lines: [message] };
  }
  const lines = [r.problem, nodeProblem].filter((p): p is string => p !== undefined);
  if (lines.length) {
    const code = r.problem ? (r.holders.length > 1 ? 'E_SPLIT_BRAIN' : 'E_NO_HOLDER') : 'E_NODE_PROXY';
    const hosts = [...(r.problem && r.holders.length > 1 ? r.holders : []), ...(nodeProblem ? nodesDown.map((n) => n.name) : [])];
    return { exit: ExitCode.unhealthy, error: { code, message: lines.join('; '), hosts }, lines };
  }
  const down = [...lost.map((h) => h.name), ...r.nodes.filter((n) => n.active === 'unreachable').map((n) => n.name)];
  if (down.length) {
    const message = `unreachable: ${[...lost.map(why), ...r.nodes.filter((n) => n.active === 'unreachable').map((n) => `${n.name}: ${n.error ?? 'unreachable'}`)].join('; ')}`;
    return { exit: ExitCode.unreachable, error: { code: 'E_UNREACHABLE', message, hosts: down }, lines: [] };
  }
  return { exit: 0, lines: [] };
}
