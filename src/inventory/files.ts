// The files an inventory is made of, found as Ansible finds them: `-i FILE`, or `-i DIR` holding
// one inventory file, plus the group_vars/ and host_vars/ directories beside it (Ansible's
// host_group_vars plugin: `<name>`, `<name>.yml`, `<name>.yaml`, `<name>.json`, or a directory
// `<name>/` of such files read in lexical order, subdirectories included; hidden files and `~`
// backups skipped). readInventoryFiles reads them; readVarFiles gives each file's variables to
// its group or host, as blocks the loader merges by precedence.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.js';
import { show, suggest } from './suggest.js';
import type { VarFile } from './types.js';
import type { Walk } from './walk.js';
import { parseYamlText, type YMap } from './yaml.js';

/** The names kha looks for in an inventory directory; exactly one of them must be there. */
export const INVENTORY_FILE_NAMES = ['hosts.yaml', 'hosts.yml', 'inventory.ini', 'hosts.ini', 'hosts'] as const;
/** Extensions of variable files (Ansible's YAML_FILENAME_EXTENSIONS); a file without one is read too. */
export const VAR_FILE_EXTENSIONS = ['.yml', '.yaml', '.json'] as const;

const MAX_BYTES = 10 * 1024 * 1024;
const MAX_VAR_FILES = 2000;
const MAX_DIR_DEPTH = 16;

export interface InventoryFiles {
  /** the inventory file, as messages show it */
  display: string;
  text: string;
  /** where group_vars/ and host_vars/ were looked for */
  baseDir: string;
  /** every variable file found, group_vars/ first, each directory in lexical order */
  varFiles: VarFile[];
  warnings: string[];
}

/** Read `-i ARG`: the inventory file (ARG, or the one inventory file in the directory ARG) and the var files beside it. */
export async function readInventoryFiles(arg: string): Promise<InventoryFiles> {
  const st = await statInput(arg, arg);
  const isDir = st.isDirectory();
  const display = isDir ? path.join(arg, await inventoryFileIn(arg)) : arg;
  const text = await readText(display, isDir ? display : arg);
  const baseDir = isDir ? arg : path.dirname(arg);
  const warnings: string[] = [];
  const varFiles = [...(await readVarDir(baseDir, 'group', warnings)), ...(await readVarDir(baseDir, 'host', warnings))];
  return { display, text, baseDir, varFiles, warnings };
}

async function statInput(file: string, shown: string) {
  try {
    return await stat(file);
  } catch (err) {
    throw readError(err, shown);
  }
}

function readError(err: unknown, shown: string): InputError {
  const code = (err as NodeJS.ErrnoException).code;
  // the message says it all: no cause chain repeating the errno text
  if (code === 'ENOENT') return new InputError(`${shown}: not found; pass the path of the inventory with -i`);
  if (code === 'EACCES') return new InputError(`${shown}: permission denied; make the inventory readable`);
  return new InputError(`${shown}: cannot be read (${code ?? String(err)}); pass a readable inventory file with -i`, { cause: err });
}

async function readText(file: string, shown: string): Promise<string> {
  const st = await statInput(file, shown);
  if (st.isDirectory()) throw new InputError(`${shown}: is a directory; pass the inventory file or its directory with -i`);
  if (st.size > MAX_BYTES) throw new InputError(`${shown}: is larger than 10 MB; pass the Ansible inventory with -i`);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw readError(err, shown);
  }
}

/** The one inventory file of a directory inventory. */
async function inventoryFileIn(dir: string): Promise<string> {
  const found: string[] = [];
  for (const name of INVENTORY_FILE_NAMES) {
    const st = await stat(path.join(dir, name)).catch(() => undefined);
    if (st?.isFile()) found.push(name);
  }
  const names = INVENTORY_FILE_NAMES.join(', ');
  if (found.length === 0) {
    throw new InputError(`${dir}: no inventory file in this directory; kha reads one of ${names} (or pass the inventory file itself with -i)`);
  }
  if (found.length > 1) {
    throw new InputError(
      `${dir}: holds both ${found.slice(0, -1).join(', ')} and ${found[found.length - 1]}; Ansible would read them as one inventory, kha reads one: pass the one to use with -i ${path.join(dir, found[0]!)}`,
    );
  }
  return found[0]!;
}

/** The var files of group_vars/ (kind group) or host_vars/ (kind host) under baseDir. */
async function readVarDir(baseDir: string, kind: 'group' | 'host', warnings: string[]): Promise<VarFile[]> {
  const sub = `${kind}_vars`;
  const dir = path.join(baseDir, sub);
  const st = await stat(dir).catch(() => undefined);
  if (!st) return [];
  if (!st.isDirectory()) {
    warnings.push(`${dir} is not a directory; its variables are not read (Ansible skips it too)`);
    return [];
  }
  const out: VarFile[] = [];
  for (const entry of await listDir(dir)) {
    const full = path.join(dir, entry);
    const est = await stat(full).catch(() => undefined);
    if (!est) continue;
    const ext = VAR_FILE_EXTENSIONS.find((e) => entry.endsWith(e) && entry.length > e.length);
    const name = ext && !est.isDirectory() ? entry.slice(0, -ext.length) : entry;
    const files = est.isDirectory() ? await filesUnder(full, 0) : est.isFile() ? [full] : [];
    for (const f of files) {
      if (out.length >= MAX_VAR_FILES) throw new InputError(`${dir}: holds more than ${MAX_VAR_FILES} variable files; kha reads at most that many`);
      const text = await readText(f, f);
      out.push({ display: f, kind, name, entry, entryDisplay: full, text, ...(text.trimStart().startsWith('$ANSIBLE_VAULT;') ? { vault: true } : {}) });
    }
  }
  return out;
}

/** A directory's var files, as Ansible lists them: sorted, recursing into subdirectories without an extension. */
async function filesUnder(dir: string, depth: number): Promise<string[]> {
  if (depth > MAX_DIR_DEPTH) throw new InputError(`${dir}: variable directories nest more than ${MAX_DIR_DEPTH} deep (a symlink loop?); flatten them`);
  const out: string[] = [];
  for (const entry of await listDir(dir)) {
    const full = path.join(dir, entry);
    const st = await stat(full).catch(() => undefined);
    const ext = path.extname(entry);
    if (st?.isDirectory() && !ext) out.push(...(await filesUnder(full, depth + 1)));
    else if (st?.isFile() && (!ext || (VAR_FILE_EXTENSIONS as readonly string[]).includes(ext))) out.push(full);
  }
  return out;
}

/** Entries in Python's sorted() order (code points), without hidden files and `~` backups. */
async function listDir(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new InputError(`${dir}: cannot be listed (${(err as NodeJS.ErrnoException).code ?? String(err)}); make it readable`);
  }
  return names.filter((n) => !n.startsWith('.') && !n.endsWith('~')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---- the variables of the var files -------------------------------------------------------

/**
 * A var file (or an -e/--extra-vars argument) as the loader reads it: where its keys are (its key
 * paths start with varFileKey(i)).
 */
export interface VarDoc {
  /** the file as messages name it (`-e` for KEY=VALUE arguments) */
  display: string;
  lineOf: (p: readonly string[]) => number | undefined;
  /** KEY=VALUE and inline -e arguments have no lines worth naming */
  noLines?: boolean;
  /** an -e/--extra-vars argument */
  extra?: boolean;
}
/** Key paths into the i-th var file start with this segment (no group or variable name holds a NUL). */
export const varFileKey = (i: number) => `\0${i}`;
export const varFileIndex = (seg: string | undefined) => (seg?.startsWith('\0') ? Number(seg.slice(1)) : undefined);

/**
 * Each var file's vars, as a block of its group or host. A file for a group or host the
 * inventory does not have is not read (nor by Ansible, though a playbook may make the group
 * later), unless it sets a kha setting: then the operator meant it for kha, and silence would
 * lose it.
 */
export function readVarFiles(w: Walk, files: readonly VarFile[], docs: VarDoc[]): void {
  const entries = new Map<string, VarFile>();
  for (const f of files) {
    const known = f.kind === 'group' ? w.groups.has(f.name) : w.hosts.has(f.name);
    const key = varFileKey(docs.length);
    const doc: VarDoc = { display: f.display, lineOf: () => undefined };
    docs.push(doc);
    if (known) checkOneEntry(entries, f);
    if (f.vault) {
      if (known) w.warnings.push(`${f.display}: encrypted with Ansible Vault, which kha cannot decrypt; its variables are not read`);
      continue;
    }
    let parsed;
    try {
      parsed = parseYamlText(f.text, f.display);
    } catch (err) {
      if (!known) continue;
      throw err;
    }
    doc.lineOf = parsed.lineOf;
    const vars = parsed.value;
    // an empty file is no variables, as in Ansible
    if (vars === null) continue;
    if (!(vars instanceof Map)) {
      if (!known) continue;
      throw w.fail([key], `the file holds ${show(vars)}, not variables; write one name: value per line`);
    }
    if (!known) {
      checkUnread(w, f, vars, key);
      continue;
    }
    const block = w.block(vars, [key], f.kind === 'host');
    (f.kind === 'group' ? w.groups.get(f.name)! : w.hosts.get(f.name)!).fileBlocks.push(block);
  }
}

/** Ansible reads one entry per group or host (`all`, `all.yml`, `all.yaml` or `all.json`, the first there): two are an error, not a guess. */
function checkOneEntry(entries: Map<string, VarFile>, f: VarFile): void {
  const id = `${f.kind}:${f.name}`;
  const prev = entries.get(id);
  if (!prev) {
    entries.set(id, f);
    return;
  }
  if (prev.entry === f.entry) return;
  const order = ['', '.yml', '.yaml', '.json'].map((ext) => f.name + ext);
  const [first] = [prev, f].sort((a, b) => order.indexOf(a.entry) - order.indexOf(b.entry));
  throw new InputError(
    `${prev.entryDisplay} and ${f.entryDisplay} both hold the variables of ${f.kind} ${f.name}; Ansible reads only ${first!.entryDisplay}: merge them into one`,
  );
}

/**
 * A var file for a group or host that is not in the inventory: an error if it sets a kha setting
 * (meant for kha, and lost otherwise); a warning if it sets how to reach a host (a host_vars file
 * left behind, or a misspelt name); nothing for anything else.
 */
function checkUnread(w: Walk, f: VarFile, vars: YMap, key: string): void {
  const names = [...(f.kind === 'group' ? w.groups : w.hosts).keys()];
  const near = suggest(f.name, names, { mode: 'name' });
  const keys = [...vars.keys()].map(String);
  const setting = keys.find((k) => w.readsKha(k, false));
  if (setting !== undefined) {
    const fix =
      near !== undefined
        ? `did you mean ${near}? rename the file`
        : f.kind === 'group'
          ? `add the group to the inventory, or move ${setting} to group_vars/all`
          : 'add the host to the inventory, or remove the file';
    throw w.fail([key, setting], `the inventory has no ${f.kind} ${f.name}, so this file is not read (nor by Ansible); ${fix}`);
  }
  if (f.kind === 'host' && keys.some((k) => w.readsKha(k, true))) {
    w.warnings.push(
      `${f.display}: the inventory has no host ${f.name}${near !== undefined ? ` (did you mean ${near}?)` : ''}, so this file is not read (nor by Ansible)`,
    );
  }
}
