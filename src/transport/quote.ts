// Quoting and masking in one place. Every value that reaches a remote shell goes through
// `quote()`; every string that reaches a sink goes through `mask()`.
import type { Command } from './types.js';

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX single-quote a word: `it's` -> `'it'\''s'`. Safe for any byte sequence but NUL. */
export function quote(word: string): string {
  if (word.includes('\0')) throw new Error('a shell word cannot contain a NUL byte');
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/** Build a command from argv (each word quoted). */
export function cmd(...argv: string[]): Command {
  return { argv };
}

/**
 * Tagged template for shell scripts: interpolated values are quoted, literal parts are kept.
 * sh`test -f ${path} && cat ${path}` -> { script: "test -f '/a b' && cat '/a b'" }
 */
export function sh(strings: TemplateStringsArray, ...values: Array<string | number | string[]>): Command {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const q = Array.isArray(v) ? quoteArgv(v) : typeof v === 'number' ? String(v) : quote(v);
    out += q + (strings[i + 1] ?? '');
  });
  return { script: out };
}

/** The command as one shell string (what `sh -c` receives). */
export function render(c: Command): string {
  return 'argv' in c ? quoteArgv(c.argv) : c.script;
}

/** Replace every secret with ******** in text. Secrets shorter than 3 characters are masked too. */
export function mask(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    out = out.split(s).join('********');
  }
  return out;
}
