// Edit an inventory file the way an operator would: through yaml's Document API, so comments,
// key order and formatting survive. Pure text -> text functions, and the one function that
// replaces the file (exclusive temp file, fsync, rename; never over an operator's newer edit).
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, parseDocument, stringify, type Document, YAMLMap } from 'yaml';
import { ExitCode, InputError, KhaError } from '../errors.js';
import { parseInventory } from './load.js';
import { carryResolved } from './resolve.js';
import type { ConnectionOverrides, Inventory } from './types.js';

function groupHostsMaps(doc: Document): Array<{ path: string[]; map: YAMLMap }> {
  const out: Array<{ path: string[]; map: YAMLMap }> = [];
  const walkGroup = (node: unknown, path: string[]) => {
    if (!isMap(node)) return;
    const hosts = node.get('hosts', true);
    if (isMap(hosts)) out.push({ path: [...path, 'hosts'], map: hosts });
    const children = node.get('children', true);
    if (isMap(children))
      for (const item of children.items) walkGroup(item.value, [...path, 'children', String(isScalar(item.key) ? item.key.value : item.key)]);
  };
  const root = doc.contents;
  if (isMap(root)) {
    if (root.has('all')) walkGroup(root.get('all', true), ['all']);
    else for (const item of root.items) walkGroup(item.value, [String(isScalar(item.key) ? item.key.value : item.key)]);
  }
  return out;
}

function lineStart(text: string, at: number): number {
  return text.lastIndexOf('\n', at - 1) + 1;
}
function lineEnd(text: string, at: number): number {
  const i = text.indexOf('\n', at);
  return i < 0 ? text.length : i + 1;
}

/** `{ ansible_host: 10.0.0.14, priority: 90 }`: a one-line flow map, values YAML-quoted as needed. */
function flowMap(vars: Record<string, unknown>): string {
  return stringify(vars, { collectionStyle: 'flow' }).trim();
}

/** `m4: { ansible_host: 10.0.0.14 }`: the line add-master adds under the group's hosts (unindented). */
export function hostEntryLine(name: string, vars: Record<string, unknown>): string {
  return `${name}: ${flowMap(vars)}`;
}

/**
 * Add `name` with `vars` under the hosts of the group at `groupPath` (e.g. ['all','children','masters']).
 * Block-style maps are edited by inserting one line after the last host, so every other byte of
 * the file stays as the operator wrote it; anything else falls back to the Document API.
 */
export function addHostToInventoryText(text: string, groupPath: string[], name: string, vars: Record<string, unknown>): string {
  const doc = parseDocument(text, { keepSourceTokens: true });
  const hostsPath = [...groupPath, 'hosts'];
  const existing = doc.getIn(hostsPath, true);
  if (isMap(existing) && !existing.flow && existing.items.length > 0) {
    const last = existing.items[existing.items.length - 1]!;
    const key = last.key as { range?: [number, number, number] };
    const value = last.value as { range?: [number, number, number] } | null;
    const endAt = value?.range?.[1] ?? key.range?.[1];
    if (key.range && endAt !== undefined) {
      const indent = key.range[0] - lineStart(text, key.range[0]);
      const at = lineEnd(text, Math.max(endAt - 1, key.range[0]));
      const eol = text.includes('\r\n') ? '\r\n' : '\n';
      const line = `${' '.repeat(indent)}${hostEntryLine(name, vars)}${eol}`;
      const prefix = text.slice(0, at);
      return `${prefix}${prefix.endsWith('\n') || prefix === '' ? '' : eol}${line}${text.slice(at)}`;
    }
  }
  const node = doc.createNode(vars, { flow: true });
  if (isMap(existing)) existing.set(name, node);
  else doc.setIn(hostsPath, doc.createNode({ [name]: vars }));
  return doc.toString();
}

/**
 * Remove `name` from the hosts of every group (and all.hosts). Returns the new text, where it was
 * and, per place, the lines removed (unindented; for an operator who must remove them by hand).
 */
export function removeHostFromInventoryText(text: string, name: string): { text: string; removedFrom: string[]; removedLines: string[][] } {
  const doc = parseDocument(text, { keepSourceTokens: true });
  const removedFrom: string[] = [];
  const removedLines: string[][] = [];
  const cuts: Array<[number, number]> = [];
  let needDoc = false;
  for (const { path, map } of groupHostsMaps(doc)) {
    const pair = map.items.find((it) => (isScalar(it.key) ? String(it.key.value) : String(it.key)) === name);
    if (!pair) continue;
    removedFrom.push(path.join('.'));
    const key = pair.key as { range?: [number, number, number] };
    const value = pair.value as { range?: [number, number, number] } | null;
    const endAt = value?.range?.[1] ?? key.range?.[1];
    if (map.flow || !key.range || endAt === undefined) {
      needDoc = true;
      removedLines.push([`${name}: ${stringify(pair.value, { collectionStyle: 'flow' }).trim()}`]);
      map.delete(name);
      continue;
    }
    const cut: [number, number] = [lineStart(text, key.range[0]), lineEnd(text, Math.max(endAt - 1, key.range[0]))];
    cuts.push(cut);
    removedLines.push(unindent(text.slice(...cut)));
  }
  if (!removedFrom.length) throw new InputError(`--name: ${name} is not a host of the inventory`);
  if (needDoc) return { text: doc.toString(), removedFrom, removedLines };
  let out = text;
  for (const [a, b] of cuts.sort((x, y) => y[0] - x[0])) out = out.slice(0, a) + out.slice(b);
  return { text: out, removedFrom, removedLines };
}

function unindent(block: string): string[] {
  const lines = block.replace(/\r?\n$/, '').split(/\r?\n/);
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent));
}

/** What an operator must change by hand when kha could not write the inventory. */
export type ManualEdit = { kind: 'add'; under: string; line: string } | { kind: 'remove'; from: string[]; lines: string[] };

/** One line saying what to do, then the exact YAML line(s) to add or remove. */
export function manualEditLines(edit: ManualEdit): [string, ...string[]] {
  if (edit.kind === 'add') return [`add this line under ${edit.under} by hand:`, edit.line];
  const lines = [...new Set(edit.lines)];
  return [`remove ${lines.length === 1 ? 'this line' : 'these lines'} from ${edit.from.join(' and ')} by hand:`, ...lines];
}

/** The inventory changed on disk after kha read it: kha did not overwrite it. */
export class InventoryChangedError extends KhaError {
  constructor(file: string, why: string) {
    super(`${file} ${why} after kha read it, so kha did not overwrite it`, { code: 'E_INVENTORY_CHANGED' });
    this.name = 'InventoryChangedError';
  }
}

export interface InventoryWritten {
  /** the file written: the inventory, or the file its symlink points to */
  target: string;
  /** the previous version, next to the target */
  backup: string;
}

/**
 * Replace the inventory `file` with `text`, only if it still holds `expected` (what kha read):
 * otherwise InventoryChangedError and nothing is written. A symlink is kept (its target is
 * written), and so are the target's owner and mode. The previous version is kept as
 * `<target>.bak`. Each file goes through an exclusive temp file with a random name in the
 * target's directory (never a path someone prepared), fsynced, then renamed over; then the
 * directory is fsynced.
 */
export function writeInventoryAtomic(file: string, text: string, opts: { expected: string }): InventoryWritten {
  const target = currentTarget(file);
  const st = statSync(target);
  const check = () => {
    if (currentTarget(file) !== target || readFileSync(target, 'utf8') !== opts.expected) throw new InventoryChangedError(file, 'changed on disk');
  };
  check();
  const backup = `${target}.bak`;
  const dir = path.dirname(target);
  const bakTmp = writeTemp(dir, path.basename(target), opts.expected, st);
  let tmp: string | undefined;
  try {
    tmp = writeTemp(dir, path.basename(target), text, st);
    // the narrowest window: compare once more just before the renames
    check();
    renameSync(bakTmp, backup);
    renameSync(tmp, target);
  } catch (err) {
    for (const t of [bakTmp, tmp]) if (t) removeQuietly(t);
    throw err;
  }
  fsyncDir(dir);
  return { target, backup };
}

function currentTarget(file: string): string {
  try {
    return realpathSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new InventoryChangedError(file, 'was removed');
    throw err;
  }
}

/** A new file in `dir` with `text`, `like`'s owner and mode (none: ours, 0600), fsynced; returns its path. */
function writeTemp(dir: string, base: string, text: string, like: Stats | undefined): string {
  const tmp = path.join(dir, `.${base}.kha-${randomBytes(8).toString('hex')}.tmp`);
  // 'wx': fails if anything (a file, a symlink) already has the name; 0600 until chmod below
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    if (like && (like.uid !== process.getuid?.() || like.gid !== process.getgid?.())) {
      try {
        fchownSync(fd, like.uid, like.gid);
      } catch (err) {
        throw new KhaError(
          `cannot give the new ${base} its owner ${like.uid}:${like.gid} (${(err as NodeJS.ErrnoException).code}); run kha as that user or as root`,
          { code: 'E_INVENTORY_OWNER', cause: err },
        );
      }
    }
    if (like) fchmodSync(fd, like.mode & 0o7777);
    const buf = Buffer.from(text, 'utf8');
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    removeQuietly(tmp);
    throw err;
  }
  closeSync(fd);
  return tmp;
}

function removeQuietly(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}

/** Make the renames durable; a directory that cannot be fsynced (some filesystems) is no error. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** kha init's output exists and may not be replaced. */
export class FileExistsError extends KhaError {
  constructor(readonly file: string) {
    super(`${file} already exists`, { code: 'E_FILE_EXISTS', exit: ExitCode.usage });
    this.name = 'FileExistsError';
  }
}

/**
 * Write a new inventory file (kha init). Without `replace` it is created exclusively: the text
 * goes to a temp file (0600: an inventory may later hold a password), fsynced, then hard-linked
 * to `file`, which fails if anything has that name, even a file created meanwhile
 * (FileExistsError). With `replace` an existing file is replaced as add-master does
 * (writeInventoryAtomic: its owner and mode kept, the previous version kept as `<file>.bak`).
 */
export function createInventoryFile(file: string, text: string, opts: { replace: boolean }): { target: string; backup?: string } {
  const existing = lstatOrUndefined(file);
  if (existing && !opts.replace) throw new FileExistsError(file);
  if (existing) {
    if (existing.isDirectory()) throw new InputError(`${file} is a directory; give the path of the inventory file to write`);
    return writeInventoryAtomic(file, text, { expected: readFileSync(file, 'utf8') });
  }
  const dir = path.dirname(path.resolve(file));
  const tmp = writeTemp(dir, path.basename(file), text, undefined);
  try {
    linkSync(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new FileExistsError(file);
    // a filesystem without hard links: the rename cannot refuse a file created in the last instant
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    if (lstatOrUndefined(file)) throw new FileExistsError(file);
    renameSync(tmp, file);
  } finally {
    removeQuietly(tmp);
  }
  fsyncDir(dir);
  return { target: path.resolve(file) };
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The inventory file add-master and remove-master rewrite: the YAML file kha read (inside the
 * directory given with -i, if one was), its text, and a reparse of new text with the same
 * group_vars/ and host_vars/. An INI inventory is refused: kha edits YAML only.
 */
export function editableInventory(
  inv: Inventory,
  command: string,
): { file: string; text: string; reparse: (text: string, overrides?: ConnectionOverrides) => Inventory } {
  const src = inv.source;
  if (!src) throw new InputError(`${inv.file}: cannot edit this inventory`);
  if (src.format !== 'yaml') {
    throw new InputError(
      `${src.display}: kha ${command} rewrites YAML inventories, and this one is INI; convert it first (ansible-inventory -i ${src.display} --list -y > hosts.yaml), or change the INI file by hand`,
    );
  }
  return {
    file: src.display,
    text: src.text,
    reparse: (text, overrides = {}) => carryResolved(inv, parseInventory(text, src.display, overrides, { varFiles: src.varFiles, extraVars: src.extraVars })),
  };
}
