import { Flags } from '@oclif/core';
import { inventoryFlags, KhaCommand, outputFlags } from '../cli/base.js';

export default class Render extends KhaCommand {
  static override summary = "Print the keepalived.conf and haproxy.cfg (or a node's proxy config) kha up would write to one host, without connecting.";
  static override description =
    "The same renderers and settings as kha up. What kha up reads from the host (the VRRP interface, the host's address on it, the package manager) comes from the flags, the inventory, or is assumed; the assumptions are named on stderr. Secrets (auth_pass) are shown as ********.";
  static override examples = [
    '<%= config.bin %> render -i hosts.yaml --host m1',
    '<%= config.bin %> render -i hosts.yaml --host m2 --interface ens3 --what keepalived',
    '<%= config.bin %> render -i hosts.yaml --host n1 --json',
  ];
  static override flags = {
    inventory: inventoryFlags.inventory,
    'extra-vars': inventoryFlags['extra-vars'],
    host: Flags.string({ summary: 'The inventory host whose files to print.', required: true }),
    what: Flags.string({ summary: 'Which file(s).', options: ['all', 'keepalived', 'haproxy', 'nginx', 'etc-hosts'], default: 'all' }),
    interface: Flags.string({ summary: "The host's VRRP interface (default: vrrp_interface, else eth0 is assumed)." }),
    address: Flags.string({ summary: "The host's own IPv4 on that interface (default: its ansible_host)." }),
    'keepalived-version': Flags.string({ summary: "The host's keepalived version, e.g. 2.1.5 (default: keepalived_version, else the newest keywords)." }),
    'haproxy-version': Flags.string({ summary: "The host's haproxy version, e.g. 2.2 (default: haproxy_version, else the newest keywords)." }),
    'pkg-mgr': Flags.string({ summary: "The host's package manager (nginx node proxy only; default apt).", options: ['apt', 'dnf', 'yum'] }),
    json: outputFlags.json,
    'log-file': Flags.string({ summary: 'Write the JSON log here.' }),
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { assumedLine, formatRendered, renderHost } = await import('../actions/render.js');
    const { loadInventory } = await import('../inventory/load.js');
    const { resolveSettings } = await import('../inventory/settings.js');
    const { verbose } = this.parseArgv();
    const { flags } = await this.parse(Render);
    // render prints its own output: the event sinks only log to the file
    const io = this.setupIo({ json: flags.json, quiet: true, 'log-file': flags['log-file'] }, verbose);
    try {
      // no --user/--private-key/--become: render opens no connection, so it reads no key either
      const inv = await loadInventory(flags.inventory, {}, flags['extra-vars']);
      io.addSecrets(inv.secrets);
      const settings = resolveSettings(inv);
      if (settings.authPass) io.addSecrets([settings.authPass]);
      const r = renderHost(
        settings,
        { host: flags.host, what: flags.what as 'all', inventoryHosts: inv.hosts.map((h) => h.name), inventoryName: flags.inventory },
        {
          ...(flags.interface !== undefined ? { iface: flags.interface } : {}),
          ...(flags.address !== undefined ? { address: flags.address } : {}),
          ...(flags['pkg-mgr'] !== undefined ? { pkgMgr: flags['pkg-mgr'] as 'apt' } : {}),
          ...(flags['keepalived-version'] !== undefined || flags['haproxy-version'] !== undefined
            ? {
                versions: {
                  ...(flags['keepalived-version'] !== undefined ? { keepalived: flags['keepalived-version'] } : {}),
                  ...(flags['haproxy-version'] !== undefined ? { haproxy: flags['haproxy-version'] } : {}),
                },
              }
            : {}),
        },
      );
      const assumed = assumedLine(r);
      if (assumed) {
        io.events.info(assumed);
        process.stderr.write(`${assumed}\n`);
      }
      this.setResult(r);
      if (!flags.json) process.stdout.write(formatRendered(r));
      await this.finish(0);
    } catch (err) {
      await this.fail(err);
    }
  }
}
