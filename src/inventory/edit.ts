// Edit an inventory file the way an operator would: through yaml's Document API, so comments,
// key order and formatting survive. Pure text -> text functions; the caller writes atomically.
import { randomBytes } from 'node:crypto';
import { writeFileSync, renameSync, statSync } from 'node:fs';
import { isMap, isScalar, parseDocument, stringify, type Document, YAMLMap } from 'yaml';
import { InputError } from '../errors.js';

function groupHostsMaps(doc: Document): Array<{ path: string[]; map: YAMLMap }> {
  const out: Array<{ path: string[]; map: YAMLMap }> = [];
  const walkGroup = (node: unknown, path: string[]) => {
    if (!isMap(node)) return;
    const hosts = node.get('hosts', true);
    if (isMap(hosts)) out.push({ path: [...path, 'hosts'], map: hosts });
    const children = node.get('children', true);
    if (isMap(children)) for (const item of children.items) walkGroup(item.value, [...path, 'children', String(isScalar(item.key) ? item.key.value : item.key)]);
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
      const line = `${' '.repeat(indent)}${name}: ${flowMap(vars)}${eol}`;
      const prefix = text.slice(0, at);
      return `${prefix}${prefix.endsWith('\n') || prefix === '' ? '' : eol}${line}${text.slice(at)}`;
    }
  }
  const node = doc.createNode(vars, { flow: true });
  if (isMap(existing)) existing.set(name, node);
  else doc.setIn(hostsPath, doc.createNode({ [name]: vars }));
  return doc.toString();
}

/** Remove `name` from the hosts of every group (and all.hosts). Returns the new text and where it was. */
export function removeHostFromInventoryText(text: string, name: string): { text: string; removedFrom: string[] } {
  const doc = parseDocument(text, { keepSourceTokens: true });
  const removedFrom: string[] = [];
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
      map.delete(name);
      continue;
    }
    cuts.push([lineStart(text, key.range[0]), lineEnd(text, Math.max(endAt - 1, key.range[0]))]);
  }
  if (!removedFrom.length) throw new InputError(`--name: ${name} is not a host of the inventory`);
  if (needDoc) return { text: doc.toString(), removedFrom };
  let out = text;
  for (const [a, b] of cuts.sort((x, y) => y[0] - x[0])) out = out.slice(0, a) + out.slice(b);
  return { text: out, removedFrom };
}

/** Write the inventory atomically (temp file beside it, same mode, rename). */
export function writeInventoryAtomic(file: string, text: string): void {
  const mode = statSync(file).mode & 0o777;
  // an unpredictable name, created exclusively: a file or symlink planted at a guessable name
  // (it was `.kha-<pid>.tmp`) would otherwise be written through
  const tmp = `${file}.kha-${randomBytes(8).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode, flag: 'wx' });
  renameSync(tmp, file);
}
