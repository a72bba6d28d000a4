// The YAML side of the inventory loader: YAML text -> JS maps (kept as Map, for key order) and a
// key path -> line map, with every YAML problem said as one line a person can act on (a
// duplicate key and where it was first, an unclosed quote). Used for the inventory file and for
// the group_vars/ and host_vars/ files beside it.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Pair } from 'yaml';
import { InputError } from '../errors.js';
import { show } from './suggest.js';

export type YMap = Map<unknown, unknown>;

/** A parsed YAML file: its content as JS (maps as Map) and the line of each key path. */
export interface YamlText {
  /** null for an empty document */
  value: unknown;
  lineOf: (p: readonly string[]) => number | undefined;
}

/** Parse `text`; a syntax error or an alias bomb is an InputError naming `display`:line. */
export function parseYamlText(text: string, display: string): YamlText {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, merge: true, prettyErrors: true });
  const yerr = doc.errors[0];
  if (yerr) throw yamlSyntaxError(yerr, text, display);
  let value: unknown;
  try {
    value = doc.toJS({ mapAsMap: true, maxAliasCount: 1000 });
  } catch (err) {
    throw new InputError(
      `${display}: YAML aliases expand too much (${(err as Error).message.split('\n')[0]}); write the values out instead of nesting aliases`,
      {
        cause: err,
      },
    );
  }
  return { value: value ?? null, lineOf: makeLineOf(doc, lc) };
}

/** What a top-level value that is not a mapping is called in messages. */
export function kindOf(v: unknown): string {
  return Array.isArray(v) ? 'a list' : show(v);
}

/** The key at line:col (1-based) and the line of the same key earlier at the same indentation. */
export function duplicateKeyAt(text: string, line: number, col: number): { key: string; firstLine: number; parent?: string } | undefined {
  const lines = text.split(/\r?\n/);
  const rest = lines[line - 1]?.slice(col - 1) ?? '';
  const key = /^(["']?)([^"':{},\s][^"':{},]*?)\1\s*:/.exec(rest)?.[2]?.trim();
  if (!key) return undefined;
  const esc = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const same = new RegExp(`^\\s{${col - 1}}(["']?)${esc}\\1\\s*:`);
  const flow = new RegExp(`[{,]\\s*(["']?)${esc}\\1\\s*:`);
  let firstLine = line;
  let parent: string | undefined;
  for (let i = line - 2; i >= 0; i--) {
    const l = lines[i] ?? '';
    if (firstLine === line && (same.test(l) || (i === line - 1 && flow.test(l)))) firstLine = i + 1;
    // the first line indented less than the key holds its map's key
    if (l.trim() && !l.trimStart().startsWith('#') && l.length - l.trimStart().length < col - 1) {
      parent = /^\s*["']?([^"':]+)["']?\s*:/.exec(l)?.[1]?.trim();
      break;
    }
  }
  return { key, firstLine, ...(parent ? { parent } : {}) };
}

/** The first quoted scalar opened on a line and not closed by the end of that line. */
export function unclosedQuoteLine(text: string): { line: number; col: number; quote: string } | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? '';
    // a value that starts with a quote: after `key:`, `- ` or `[`/`{`/`,` in flow collections
    const re = /(?:^\s*-\s+|:\s+|[[{,]\s*)(["'])/g;
    for (let m = re.exec(l); m; m = re.exec(l)) {
      const q = m[1]!;
      const start = m.index + m[0].length;
      let j = start;
      let closed = false;
      while (j < l.length) {
        if (q === '"' && l[j] === '\\') j += 2;
        else if (q === "'" && l[j] === "'" && l[j + 1] === "'") j += 2;
        else if (l[j] === q) {
          closed = true;
          break;
        } else j++;
      }
      if (!closed) return { line: i + 1, col: start, quote: q };
      re.lastIndex = j + 1;
    }
  }
  return undefined;
}

/** The first YAML error, said the way a person fixes it (a duplicate key, an unclosed quote). */
export function yamlSyntaxError(yerr: Document['errors'][number], text: string, file: string): InputError {
  const pos = yerr.linePos?.[0];
  const first = (yerr.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  if (yerr.code === 'DUPLICATE_KEY' && pos) {
    const dup = duplicateKeyAt(text, pos.line, pos.col);
    if (dup) {
      const what =
        dup.parent === 'hosts'
          ? `host ${show(dup.key)} is listed twice under hosts`
          : `${show(dup.key)} is listed twice${dup.parent ? ` under ${show(dup.parent)}` : ''}`;
      return new InputError(`${file}:${pos.line}:${pos.col}: ${what} (first on line ${dup.firstLine}); remove or rename one of them`);
    }
  }
  if (/^Missing closing .?quote/.test(first)) {
    const open = unclosedQuoteLine(text);
    if (open)
      return new InputError(
        `${file}:${open.line}:${open.col}: YAML syntax error: the ${open.quote === '"' ? 'double' : 'single'} quote opened here is never closed; close it on the same line`,
      );
  }
  const fix = yerr.code === 'DUPLICATE_KEY' ? 'remove or rename one of the two keys' : 'fix the indentation or quoting there';
  return new InputError(`${file}:${pos ? `${pos.line}:${pos.col}` : '1'}: YAML syntax error: ${first}; ${fix}`);
}

/** key path -> 1-based line of the deepest key found (follows aliases and << merge keys) */
export function makeLineOf(doc: Document, lc: LineCounter): (p: readonly string[]) => number | undefined {
  const keyOf = (key: unknown): string | undefined => {
    if (!isScalar(key) || typeof key.value === 'symbol') return undefined;
    return String(key.value);
  };
  const findPair = (node: unknown, seg: string, depth: number): Pair | undefined => {
    if (depth > 16) return undefined;
    const n = isAlias(node) ? node.resolve(doc) : node;
    if (!isMap(n)) return undefined;
    for (const it of n.items) if (keyOf(it.key) === seg) return it;
    for (const it of n.items) {
      if (!isScalar(it.key) || typeof it.key.value !== 'symbol') continue;
      const sources = isSeq(it.value) ? it.value.items : [it.value];
      for (const s of sources) {
        const found = findPair(s, seg, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return (p) => {
    let node: unknown = doc.contents;
    let line: number | undefined;
    for (const seg of p) {
      const pair = findPair(node, seg, 0);
      if (!pair) break;
      const range = isScalar(pair.key) ? pair.key.range : undefined;
      if (range) line = lc.linePos(range[0]).line;
      node = pair.value;
    }
    return line ?? (p.length === 0 ? 1 : undefined);
  };
}
