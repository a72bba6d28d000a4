// Bundles tsc's output into dist/bundle/ with esbuild, for start-up time: kha.js holds the entry
// (src/main.ts), @oclif/core and the command classes, so `kha --version` or `kha up --help` reads
// and compiles one file instead of some 300 (resolving and reading them was most of the time).
// Each dynamic import (a verb's action, the inventory loader, ...) becomes a chunk beside it,
// loaded only by the command that runs. kha's other npm dependencies stay external: they load from
// node_modules, only in the commands that use them (ssh2 has native add-ons, pino starts worker
// threads from its own files, testcontainers is optional).
//
//   node scripts/bundle.mjs [--dist DIR]    (default dist: reads DIR/main.js, writes DIR/bundle/)
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--dist');
const dist = path.resolve(at > 0 ? process.argv[at + 1] : path.join(root, 'dist'));
const outdir = path.join(dist, 'bundle');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const external = [
  ...Object.keys(pkg.dependencies ?? {}).filter((d) => d !== '@oclif/core'),
  ...Object.keys(pkg.optionalDependencies ?? {}),
  // what @oclif/core imports only in development mode, to run TypeScript sources (never for kha)
  'typescript',
  'ts-node',
  'tsx',
];

fs.rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { kha: path.join(dist, 'main.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // @oclif/core is CommonJS: inside an ES module its require() calls need a require to call
  banner: { js: "import { createRequire as __khaCreateRequire } from 'node:module';\nconst require = __khaCreateRequire(import.meta.url);" },
  // flat: src/lab/image.ts finds docker/ two directories up from its file, as from dist/lab/
  chunkNames: '[name]-[hash]',
  // @oclif/core checks Node's version against its own engines (>= 18) at every start, loading
  // semver for it (~5% of `kha --help`); kha's engines (>= 20) are stricter, so the check is off
  define: { 'process.env.OCLIF_DISABLE_ENGINE_WARNING': '"1"' },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const files = Object.keys(result.metafile.outputs);
const bytes = files.reduce((n, f) => n + result.metafile.outputs[f].bytes, 0);
process.stderr.write(`${path.relative(root, outdir)}: ${files.length} files, ${Math.round(bytes / 1024)} kB\n`);
