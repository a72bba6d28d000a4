import { KhaCommand, outputFlags } from '../cli/base.js';

/** `kha version --json`'s result */
export interface VersionResult {
  name: string;
  version: string;
  node: string;
  platform: string;
}

export default class VersionCommand extends KhaCommand {
  static override summary = 'Print kha’s version (as kha --version), or with --json the version, Node.js and platform.';
  static override flags = { json: outputFlags.json };

  async run(): Promise<void> {
    const { flags } = await this.parse(VersionCommand);
    if (flags.json) {
      const result: VersionResult = {
        name: this.config.name,
        version: this.config.version,
        node: process.version,
        platform: `${this.config.platform}-${this.config.arch}`,
      };
      this.setResult(result);
      await this.finish(0);
    } else this.log(this.config.userAgent);
  }
}
