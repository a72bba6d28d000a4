import { Command, Flags } from '@oclif/core';

export default class VersionCommand extends Command {
  static override summary = 'Print kha’s version (as kha --version), or with --json the version, Node.js and platform.';
  static override flags = { json: Flags.boolean({ summary: 'Print one JSON document.' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(VersionCommand);
    if (flags.json) {
      const doc = { name: this.config.name, version: this.config.version, node: process.version, platform: `${this.config.platform}-${this.config.arch}` };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else this.log(this.config.userAgent);
  }
}
