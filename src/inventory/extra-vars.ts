// -e/--extra-vars, as in Ansible: `KEY=VALUE` (several in one argument, split like a shell line:
// `-e 'vip=10.0.0.100 advert_int=2'`), an inline YAML or JSON mapping (`-e '{"vip": "10.0.0.100"}'`),
// or `@FILE`, a YAML or JSON file of variables. Repeatable; a later one wins. The loader gives
// them the highest precedence (load.ts): they override every group and host variable, and the
// connection flags (-u, --private-key, -b) too, as Ansible's extra vars do.
//
// Values are secrets as often as not (`-e ansible_become_password=...`): no message here ever
// shows one, and a KEY=VALUE argument is named `-e KEY` in messages, never with its value.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { shellWords } from '../transport/shell-words.js';
import { show } from './suggest.js';
import type { ExtraVarsArg } from './types.js';

/** Ansible's variable names (a Python identifier, ASCII). */
export const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** how messages name the flag */
export const EXTRA_VARS_FLAG = '-e/--extra-vars';
const MAX_BYTES = 1024 * 1024;

/** `KEY=VALUE ...` or an inline mapping: the argument as the loader reads it. Pure. */
export function parseExtraVarsText(arg: string, cwd: string): ExtraVarsArg {
  const trimmed = arg.trim();
  if (!trimmed) throw new InputError(`${EXTRA_VARS_FLAG}: an empty argument; write KEY=VALUE, e.g. -e vip=10.0.0.100, or -e @FILE`);
  // an inline mapping, YAML or JSON (Ansible reads `{...}` the same way)
  if (trimmed.startsWith('{')) return { display: '-e', text: trimmed, baseDir: cwd };
  const words = shellWords(trimmed);
  if (!words.ok) throw new InputError(`${EXTRA_VARS_FLAG}: ${words.message}; quote each value as on a shell line, e.g. -e "key='a value'"`);
  const pairs: Array<[string, string]> = [];
  for (const w of words.words) {
    const eq = w.indexOf('=');
    // the value is never shown: it may be a password
    if (eq < 0) throw new InputError(`${EXTRA_VARS_FLAG}: every item must be KEY=VALUE (or @FILE, a YAML or JSON file); one has no =`);
    const key = w.slice(0, eq);
    if (!VAR_NAME_RE.test(key)) {
      throw new InputError(
        `${EXTRA_VARS_FLAG}: ${show(key)} is not a variable name; use letters, digits and _ (not starting with a digit), e.g. -e vip=10.0.0.100`,
      );
    }
    pairs.push([key, w.slice(eq + 1)]);
  }
  return { display: '-e', pairs, baseDir: cwd };
}

/** Every -e argument, in order; `@FILE` is read (relative to `cwd`). An unreadable file is bad input. */
export async function readExtraVars(args: readonly string[] | undefined, cwd = process.cwd()): Promise<ExtraVarsArg[]> {
  const out: ExtraVarsArg[] = [];
  for (const arg of args ?? []) {
    if (!arg.startsWith('@')) {
      out.push(parseExtraVarsText(arg, cwd));
      continue;
    }
    const file = arg.slice(1);
    if (!file) throw new InputError(`${EXTRA_VARS_FLAG}: @ names no file; write -e @FILE, a YAML or JSON file of variables`);
    out.push({ display: `-e @${file}`, text: await readVarsFile(file, cwd), baseDir: path.dirname(path.resolve(cwd, file)) });
  }
  return out;
}

async function readVarsFile(file: string, cwd: string): Promise<string> {
  const full = path.resolve(cwd, file);
  try {
    const st = await stat(full);
    if (!st.isFile()) throw new InputError(`${EXTRA_VARS_FLAG} @${file}: not a regular file; name a YAML or JSON file of variables`);
    if (st.size > MAX_BYTES) throw new InputError(`${EXTRA_VARS_FLAG} @${file}: larger than 1 MB; name a YAML or JSON file of variables`);
    return await readFile(full, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT'
        ? `${EXTRA_VARS_FLAG} @${file}: not found; give the path of a YAML or JSON file of variables`
        : `${EXTRA_VARS_FLAG} @${file}: cannot be read (${code ?? String(err)}); make it readable`,
    );
  }
}
