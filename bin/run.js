#!/usr/bin/env node
// dist/bundle/kha.js: @oclif/core and kha's command classes in one file (npm run build); the code
// of each verb sits in chunks beside it, loaded only by the command that runs.
import { run } from '../dist/bundle/kha.js';

await run(import.meta.url);
