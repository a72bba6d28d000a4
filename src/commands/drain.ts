import { Args, Flags } from '@oclif/core';
import { inventoryFlags, KhaCommand, lockFlags, outputFlags, splitCommandArgv } from '../cli/base.js';
import { InputError } from '../errors.js';

export default class Drain extends KhaCommand {
  static override summary =
    "Take a master's apiserver out of every haproxy (DRAIN: no new connection goes to it) and wait until its sessions end; with -- CMD, run CMD on it, then put it back.";
  static override description = `Through haproxy's runtime API on every load balancer and every haproxy node-local proxy (nginx node proxies have none: one warning line names them). Exit 0 once no haproxy has a session open to it; 7 when some are still open after --timeout (it stays drained; how many, per host, is in the error line and in --json; --shutdown-sessions closes them instead); 4 when HOST is not a master of the inventory.

With -- CMD: CMD runs on HOST as root once it is drained (its output on stderr), then kha waits until HOST answers its health path (apiserver_health_path, /readyz, asked from a load balancer as haproxy's checks ask) and sets it READY everywhere. A CMD that fails (exit 2) or an apiserver that does not answer within --ready-timeout (exit 7) leaves HOST drained. The drain survives a haproxy reload or restart (haproxy's server-state-file); kha undrain puts it back.`;
  static override usage = ['drain -i hosts.yaml HOST [--timeout 60] [--shutdown-sessions] [FLAGS]', 'drain -i hosts.yaml HOST [FLAGS] -- CMD...'];
  static override examples = [
    '<%= config.bin %> drain -i hosts.yaml m2',
    '<%= config.bin %> drain -i hosts.yaml m2 --timeout 300 --shutdown-sessions',
    '<%= config.bin %> drain -i hosts.yaml m2 -- kubeadm upgrade node',
  ];
  static override args = { host: Args.string({ description: 'master whose apiserver is taken out', required: true }) };
  static override flags = {
    ...inventoryFlags,
    timeout: Flags.integer({ summary: 'Seconds to wait until no haproxy has a session open to it (0: do not wait).', default: 60, min: 0 }),
    'shutdown-sessions': Flags.boolean({
      summary: 'At --timeout, close the sessions still open (their clients reconnect to the other masters) instead of failing.',
    }),
    'ready-timeout': Flags.integer({ summary: 'With -- CMD: seconds to wait after CMD until the apiserver answers its health path.', default: 120, min: 1 }),
    'cmd-timeout': Flags.integer({ summary: 'With -- CMD: seconds CMD may run.', default: 3600, min: 1 }),
    json: outputFlags.json,
    'log-file': outputFlags['log-file'],
    verbose: outputFlags.verbose,
    ...lockFlags,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { drain, drainSummary } = await import('../actions/drain.js');
    const { loadForRun, makeRun } = await import('../cli/prepare.js');
    const split = splitCommandArgv(this.argv);
    this.argv = split.argv;
    const { verbose } = this.parseArgv();
    const { flags, args } = await this.parse(Drain);
    await this.runAction(flags, verbose, async (io, track) => {
      if (split.command?.length === 0)
        throw new InputError(`-- takes the command to run on ${args.host}: kha drain -i hosts.yaml ${args.host} -- kubeadm upgrade node`);
      const { inv, settings } = await loadForRun(flags, io);
      const run = makeRun(inv, flags, io);
      track(run);
      const out = await drain(run, settings, {
        server: args.host,
        timeoutS: flags.timeout,
        shutdownSessions: flags['shutdown-sessions'],
        ...(split.command ? { command: split.command } : {}),
        commandTimeoutS: flags['cmd-timeout'],
        readyTimeoutS: flags['ready-timeout'],
        breakLock: flags['break-lock'],
        onOutput: (_stream, text) => process.stderr.write(text),
      });
      this.setResult(out.result);
      if (!flags.json && out.result.hosts.length) process.stdout.write(`${drainSummary('drain', out.result)}\n`);
      if (out.error !== undefined) throw out.error;
      return 0;
    });
  }
}
