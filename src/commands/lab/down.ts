import { Flags } from '@oclif/core';
import { KhaCommand, outputFlags } from '../../cli/base.js';
import { ExitCode, KhaError } from '../../errors.js';

export default class LabDown extends KhaCommand {
  static override summary = 'Remove exactly what `kha lab up` made: its containers, its network and its state directory.';
  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --name big'];
  static override flags = {
    name: Flags.string({ summary: 'Lab name.', default: 'lab' }),
    json: outputFlags.json,
  };

  async run(): Promise<void> {
    // imported here, not at the top: without a manifest oclif imports every command file (~0.1 s)
    const { dockerAvailable, labDown, NO_DOCKER_MESSAGE } = await import('../../lab/lab.js');
    const { flags } = await this.parse(LabDown);
    try {
      if (!(await dockerAvailable())) throw new KhaError(NO_DOCKER_MESSAGE, { code: 'E_NO_DOCKER', exit: ExitCode.usage });
      await labDown(flags.name);
      if (flags.json) {
        this.setResult({ name: flags.name, removed: true });
        await this.finish(0);
      } else this.log(`lab '${flags.name}' removed`);
    } catch (err) {
      await this.fail(err);
    }
  }
}
