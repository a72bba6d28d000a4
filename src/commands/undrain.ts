import { Args, Flags } from '@oclif/core';
import { inventoryFlags, KhaCommand, lockFlags, outputFlags } from '../cli/base.js';

export default class Undrain extends KhaCommand {
  static override summary = "Put a drained master's apiserver back: wait until it answers its health path, then set it READY on every haproxy.";
  static override description = `The health path (apiserver_health_path, /readyz) is asked from a load balancer, as haproxy's checks ask it. Exit 0 once it is READY everywhere (kha then waits up to 15 s for every haproxy's checks to count it UP, and warns if they do not); 7 when the apiserver does not answer 200 within --timeout (it stays drained); 4 when HOST is not a master of the inventory.`;
  static override examples = ['<%= config.bin %> undrain -i hosts.yaml m2', '<%= config.bin %> undrain -i hosts.yaml m2 --timeout 300'];
  static override args = { host: Args.string({ description: 'master to put back', required: true }) };
  static override flags = {
    ...inventoryFlags,
    timeout: Flags.integer({ summary: 'Seconds to wait until the apiserver answers its health path with 200.', default: 120, min: 1 }),
    json: outputFlags.json,
    'log-file': outputFlags['log-file'],
    verbose: outputFlags.verbose,
    ...lockFlags,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { drainSummary, undrain } = await import('../actions/drain.js');
    const { loadForRun, makeRun } = await import('../cli/prepare.js');
    const { verbose } = this.parseArgv();
    const { flags, args } = await this.parse(Undrain);
    await this.runAction(flags, verbose, async (io, track) => {
      const { inv, settings } = await loadForRun(flags, io);
      const run = makeRun(inv, flags, io);
      track(run);
      const out = await undrain(run, settings, {
        server: args.host,
        timeoutS: 0,
        shutdownSessions: false,
        commandTimeoutS: 0,
        readyTimeoutS: flags.timeout,
        breakLock: flags['break-lock'],
      });
      this.setResult(out.result);
      if (!flags.json && out.result.hosts.length) process.stdout.write(`${drainSummary('undrain', out.result)}\n`);
      if (out.error !== undefined) throw out.error;
      return 0;
    });
  }
}
