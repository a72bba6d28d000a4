// The CLI's one entry point, and the root of the bundle `npm run build` makes (scripts/bundle.mjs):
// bin/run.js imports the bundle and calls run(). oclif finds the commands and the hook here (the
// "explicit" strategy in package.json), not by globbing dist/commands, so the bundle can hold
// @oclif/core and every command class in one file: one file to read and compile at start-up
// instead of some 300. A new command needs its line in COMMANDS (test/unit/bundle.test.ts fails
// otherwise).
import { execute, settings } from '@oclif/core';
import AddMaster from './commands/add-master.js';
import Completion from './commands/completion.js';
import Drain from './commands/drain.js';
import Drill from './commands/drill.js';
import HelpCommand from './commands/help.js';
import Init from './commands/init.js';
import Inventory from './commands/inventory.js';
import LabDown from './commands/lab/down.js';
import LabUp from './commands/lab/up.js';
import MonitoringRules from './commands/monitoring/rules.js';
import MonitoringScrapeConfig from './commands/monitoring/scrape-config.js';
import Play from './commands/play.js';
import RemoveMaster from './commands/remove-master.js';
import Render from './commands/render.js';
import Reset from './commands/reset.js';
import Status from './commands/status.js';
import Undrain from './commands/undrain.js';
import Up from './commands/up.js';
import Upgrade from './commands/upgrade.js';
import VersionCommand from './commands/version.js';

export { default as commandNotFound } from './hooks/command-not-found.js';

/** oclif ids (topics joined by ':') to command classes; package.json oclif.commands.identifier */
export const COMMANDS = {
  'add-master': AddMaster,
  completion: Completion,
  drain: Drain,
  drill: Drill,
  help: HelpCommand,
  init: Init,
  inventory: Inventory,
  'lab:down': LabDown,
  'lab:up': LabUp,
  'monitoring:rules': MonitoringRules,
  'monitoring:scrape-config': MonitoringScrapeConfig,
  play: Play,
  'remove-master': RemoveMaster,
  render: Render,
  reset: Reset,
  status: Status,
  undrain: Undrain,
  up: Up,
  upgrade: Upgrade,
  version: VersionCommand,
};

/** `dir`: bin/run.js's import.meta.url, from which oclif finds package.json and the manifest */
export async function run(dir: string): Promise<void> {
  // kha always runs its compiled code: never let oclif look for TypeScript sources (it would with
  // NODE_ENV=development or test, and warn where the package has no typescript)
  settings.enableAutoTranspile = false;
  await execute({ dir });
}
