import { Flags } from '@oclif/core';
import { KhaCommand, outputFlags } from '../../cli/base.js';
import { KhaError, ExitCode } from '../../errors.js';
import type { Lab } from '../../lab/types.js';
import { LAB_RELEASES, type LabRelease } from '../../lab/image.js';

/** `kha lab up --json`'s result: the lab, and the inventory written for it */
export interface LabUpResult {
  name: string;
  network: string;
  subnet: Lab['subnet'];
  vip: string;
  hosts: Lab['hosts'];
  inventory: string;
  keyFile: string;
}

export default class LabUp extends KhaCommand {
  static override summary = 'Start a lab of systemd + sshd containers (with a stand-in API server on 6443) and write a ready inventory.';
  static override examples = ['<%= config.bin %> lab up', '<%= config.bin %> lab up --masters 5 --name big -o inventory/big.yaml'];
  static override flags = {
    masters: Flags.integer({ summary: 'Number of master hosts.', default: 3, min: 1, max: 20 }),
    name: Flags.string({ summary: 'Lab name (containers are <name>-m1 ...).', default: 'lab' }),
    output: Flags.string({ char: 'o', summary: 'Inventory file to write.', default: 'inventory/lab.yaml' }),
    user: Flags.string({
      summary: 'Login user in the inventory: root, or kha (unprivileged, sudo with a password).',
      options: ['root', 'kha'],
      default: 'root',
    }),
    'vip-in-cert': Flags.boolean({
      summary:
        "Give each stand-in apiserver a certificate that names the VIP (kubeadm's apiServer.certSANs); --no-vip-in-cert: its own names only, as before kubeadm init learns the VIP.",
      default: true,
      allowNo: true,
    }),
    release: Flags.string({
      summary: 'Debian release of the hosts: bullseye (11), bookworm (12) or trixie (13); or per host, e.g. m1=bullseye,m2=trixie (others bookworm).',
      default: 'bookworm',
    }),
    'apt-cache': Flags.boolean({ summary: 'Share downloaded .deb packages between lab hosts and labs.', default: true, allowNo: true }),
    json: outputFlags.json,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { dockerAvailable, labUp, NO_DOCKER_MESSAGE, writeLabInventory } = await import('../../lab/lab.js');
    const { flags } = await this.parse(LabUp);
    try {
      if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(flags.name))
        throw new KhaError(`--name: ${JSON.stringify(flags.name)} is not a valid lab name; use lowercase letters, digits and dashes`, {
          code: 'E_INPUT',
          exit: ExitCode.usage,
        });
      if (!(await dockerAvailable())) throw new KhaError(NO_DOCKER_MESSAGE, { code: 'E_NO_DOCKER', exit: ExitCode.usage });
      const t0 = Date.now();
      const lab = await labUp({
        name: flags.name,
        hosts: flags.masters,
        user: flags.user as 'root' | 'kha',
        aptCache: flags['apt-cache'],
        vipInCertificates: flags['vip-in-cert'],
        release: parseReleaseFlag(flags.release, flags.masters),
        log: (l) => process.stderr.write(`${l}\n`),
      });
      writeLabInventory(lab, flags.output);
      if (flags.json) {
        const result: LabUpResult = {
          name: lab.name,
          network: lab.network,
          subnet: lab.subnet,
          vip: lab.vip,
          hosts: lab.hosts,
          inventory: flags.output,
          keyFile: lab.keyFile,
        };
        this.setResult(result);
        await this.finish(0);
        return;
      }
      this.log(
        `lab '${lab.name}' is up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${lab.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}; VIP ${lab.vip}`,
      );
      this.log(`inventory: ${flags.output}`);
      this.log(`next: kha up -i ${flags.output}`);
      this.log(`remove it: kha lab down --name ${lab.name}`);
    } catch (err) {
      await this.fail(err);
    }
  }
}

/** --release: one release for every host, or host=release pairs (m1..mN; others bookworm) */
export function parseReleaseFlag(v: string, masters: number): LabRelease | Record<string, LabRelease> {
  const isRelease = (r: string): r is LabRelease => (LAB_RELEASES as readonly string[]).includes(r);
  const hint = `use one of ${LAB_RELEASES.join(', ')}, or host=release pairs such as m1=bullseye,m3=trixie`;
  if (!v.includes('=')) {
    if (!isRelease(v))
      throw new KhaError(`--release: ${JSON.stringify(v)} is not a release kha's lab builds; ${hint}`, { code: 'E_INPUT', exit: ExitCode.usage });
    return v;
  }
  const out: Record<string, LabRelease> = {};
  for (const pair of v.split(',')) {
    const [h = '', r = ''] = pair.split('=');
    if (!/^m\d+$/.test(h) || Number(h.slice(1)) < 1 || Number(h.slice(1)) > masters || !isRelease(r))
      throw new KhaError(`--release: ${JSON.stringify(pair)} is not host=release for a host m1..m${masters}; ${hint}`, {
        code: 'E_INPUT',
        exit: ExitCode.usage,
      });
    out[h] = r;
  }
  return out;
}
