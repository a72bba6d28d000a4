// Secret-bearing files (keepalived.conf holds vrrp_auth_pass): nothing of their content may reach
// a sink (terminal, --json, the log file), and that includes a value kha no longer knows, such as
// the old password of a rotation, which the masker cannot mask. So:
// - kha never reads such a file back as it is: a diff reads it through `sed` ON THE HOST, with the
//   secret values replaced by REDACTED before they leave the host;
// - it is compared by a keyed hash, sha256(PROBE_KEY + content), computed on the host. A plain
//   sha256 of a file whose only unknown is an 8-character password can be brute-forced from a
//   log; PROBE_KEY is random per process and registered with the masker, so no sink ever holds it
//   (the command that carries it is logged with ******** in its place).
import { createHash, randomBytes } from 'node:crypto';
import { quote } from '../transport/quote.js';

/** Random per process; src/cli/base.ts registers it as a secret, so every sink masks it. */
export const PROBE_KEY = randomBytes(24).toString('hex');

export const REDACTED = '********';

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function keys(redact: readonly string[]): string {
  for (const k of redact) if (!KEY.test(k)) throw new Error(`redact key ${JSON.stringify(k)} must be a config keyword`);
  return redact.join('|');
}

/** sha256(PROBE_KEY + content), hex: what keyedHashScript prints on the host for the same content. */
export function keyedHash(content: string): string {
  return createHash('sha256').update(PROBE_KEY).update(content).digest('hex');
}

/** Prints `<keyed hash>  -` for the file (run as root; the caller checks that it exists). */
export function keyedHashScript(path: string): string {
  return `{ printf '%s' ${quote(PROBE_KEY)}; cat -- ${quote(path)}; } | sha256sum`;
}

/** Prints the file with the value of every `<key> <value>` line replaced by REDACTED (on the host). */
export function redactedCatScript(path: string, redact: readonly string[]): string {
  const expr = `s/^([[:space:]]*(${keys(redact)})[[:space:]]+)[^[:space:]].*$/\\1${REDACTED}/`;
  return `sed -E ${quote(expr)} -- ${quote(path)}`;
}

/** The same redaction in TypeScript, for the new content of a diff. Pure. */
export function redactText(text: string, redact: readonly string[]): string {
  if (!redact.length) return text;
  const re = new RegExp(`^([ \\t]*(?:${keys(redact)})[ \\t]+)\\S.*$`, 'gm');
  return text.replace(re, `$1${REDACTED}`);
}
