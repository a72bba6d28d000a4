// Secrets that need not sit in the inventory in plain text: `<field>_file: PATH` (the file's
// first line) and `<field>: ${env:NAME}`. Ansible Vault values are refused with what to use
// instead. Each function returns the value or a message; the loader adds file:line and key path.
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { quote } from '../transport/quote.js';

/** `<field>_file` -> the secret field it fills */
export const SECRET_FILE_VARS: Readonly<Record<string, string>> = {
  ansible_become_password_file: 'ansible_become_password',
  ansible_password_file: 'ansible_password',
  vrrp_auth_pass_file: 'vrrp_auth_pass',
};

/** The secret field `key` fills if it is a `<field>_file` name (never a prototype property). */
export function secretFileField(key: string): string | undefined {
  return Object.hasOwn(SECRET_FILE_VARS, key) ? SECRET_FILE_VARS[key] : undefined;
}

/** fields that hold a secret (with Ansible's older aliases) */
export const SECRET_VARS: ReadonlySet<string> = new Set([
  'ansible_become_password',
  'ansible_become_pass',
  'ansible_password',
  'ansible_ssh_pass',
  'ansible_ssh_password',
  'vrrp_auth_pass',
]);

const ENV_REF_RE = /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$/;
const MAX_SECRET_FILE_BYTES = 64 * 1024;

export type SecretResult = { ok: true; value: string; from: string } | { ok: false; message: string };

/** The field a `_file` or `${env:}` form stands for (ansible_become_pass -> ansible_become_password). */
function fileFieldOf(field: string): string {
  if (field === 'ansible_become_pass') return 'ansible_become_password';
  if (field === 'ansible_ssh_pass' || field === 'ansible_ssh_password') return 'ansible_password';
  return field;
}

/** What to write instead of a plain-text or vaulted value of `field`. */
export function secretAlternatives(field: string): string {
  const f = fileFieldOf(field);
  const become = f === 'ansible_become_password' ? ', or pass -K to be asked on the terminal' : '';
  return `use ${f}_file: FILE (its first line is the secret) or ${f}: \${env:NAME}${become}`;
}

/** A value that is `${env:NAME}`, read from `env`; undefined when the value is not of that form. */
export function secretFromEnv(field: string, value: unknown, env: Readonly<Record<string, string | undefined>>): SecretResult | undefined {
  if (typeof value !== 'string' || !value.includes('${env:')) return undefined;
  const m = ENV_REF_RE.exec(value.trim());
  if (!m) return { ok: false, message: `\${env:NAME} must be the whole value, with NAME made of letters, digits and _; write ${field}: \${env:NAME}` };
  const name = m[1]!;
  const v = env[name];
  if (v === undefined)
    return { ok: false, message: `the environment variable ${name} is not set (${field}: \${env:${name}}); export ${name} before running kha` };
  if (v === '') return { ok: false, message: `the environment variable ${name} is empty (${field}: \${env:${name}}); export ${name} with the secret` };
  return { ok: true, value: v.replace(/\r?\n$/, ''), from: `the environment variable ${name}` };
}

/**
 * The first line of the file at `value` (`~` expanded, relative to `baseDir`). The file must be a
 * regular file that only its owner can read, as OpenSSH requires of private keys.
 */
export function secretFromFile(field: string, value: unknown, baseDir: string): SecretResult {
  if (typeof value !== 'string' || !value.trim() || /[\0\r\n]/.test(value)) {
    return { ok: false, message: `give the path of a file whose first line is the secret, e.g. ${field}: ~/.kha/secret` };
  }
  const file = path.resolve(baseDir, expandHome(value.trim()));
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      message: `${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}; give the path of a file whose first line is the secret`,
    };
  }
  if (!st.isFile()) return { ok: false, message: `${file} is not a regular file; give the path of a file whose first line is the secret` };
  if (st.mode & 0o077) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    return { ok: false, message: `permissions ${mode} for ${file} are too open (other users could read the secret); run chmod 600 ${quote(file)}` };
  }
  if (st.size > MAX_SECRET_FILE_BYTES) return { ok: false, message: `${file} is larger than 64 KiB; its first line must be the secret` };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, message: `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); make it readable by this user` };
  }
  const first = (text.split('\n')[0] ?? '').replace(/\r$/, '');
  if (!first) return { ok: false, message: `the first line of ${file} is empty; write the secret on its first line` };
  return { ok: true, value: first, from: file };
}

/** The message for an Ansible Vault value (`!vault |` or a bare `$ANSIBLE_VAULT;...` text). */
export function vaultMessage(field: string): string {
  const instead = SECRET_VARS.has(field) ? secretAlternatives(field) : 'write the value in plain text (it is not a secret kha knows)';
  return `Ansible Vault values (!vault) are not supported: kha cannot decrypt them; ${instead}`;
}

export function isVaultText(value: unknown): boolean {
  return typeof value === 'string' && value.trimStart().startsWith('$ANSIBLE_VAULT;');
}

export function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return p;
}
