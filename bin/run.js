#!/usr/bin/env node
import { execute, settings } from '@oclif/core';

// kha always runs its compiled dist/: never let oclif look for TypeScript sources (it would with
// NODE_ENV=development or test, and warn where the package has no typescript)
settings.enableAutoTranspile = false;

await execute({ dir: import.meta.url });
