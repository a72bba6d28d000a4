// Writes schema/kha-output.schema.json, the JSON Schema of every command's --json document, from
// the zod schemas in src/cli/output-schema.ts (built: run after npm run build; npm run schema does
// both). test/unit/output-schema.test.ts fails when the committed file differs from this output.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { outputJsonSchema } = await import(path.join(root, 'dist', 'cli', 'output-schema.js'));
const file = path.join(root, 'schema', 'kha-output.schema.json');
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, `${JSON.stringify(outputJsonSchema(), null, 2)}\n`);
process.stderr.write(`${path.relative(root, file)} written\n`);
