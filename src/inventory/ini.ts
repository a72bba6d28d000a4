// Ansible's INI inventory, read by Ansible's own rules (plugins/inventory/ini.py): `[group]`
// sections of host lines `name[:port] key=value key2="quoted value"` (split like a POSIX shell,
// `#` starts a comment), `[group:children]` (one group per line), `[group:vars]` (one
// `key=value` per line, everything after `=` is the value), comments `#` and `;` at the start of
// a line, hosts before the first section in `ungrouped`, and ranges `node[1:3]`, `node[01:03]`,
// `[a:c]`, `[1:10:2]`. Every value goes through Python's literal_eval as in Ansible
// (pyliteral.ts). Syntax only: names and values are checked by the loader, as for YAML.
import { InputError } from '../errors.js';
import { literalEval } from './pyliteral.js';
import { show } from './suggest.js';
import type { Walk } from './walk.js';

/** One thing the file says, in file order; the loader turns these into groups and hosts. */
export type IniEntry =
  /** a [g], [g:children] or [g:vars] heading */
  | { kind: 'section'; group: string; type: 'hosts' | 'children' | 'vars'; line: number }
  /** one host of a host line (a range gives one entry per host); a `:port` is ansible_port */
  | { kind: 'host'; group: string; host: string; vars: Map<string, unknown>; line: number }
  | { kind: 'child'; group: string; child: string; line: number }
  /** the variables of one [g:vars] section, in order (a later line wins) */
  | { kind: 'vars'; group: string; vars: Map<string, unknown>; line: number };

export interface IniInventory {
  entries: IniEntry[];
  /** 1-based line of a key path as the loader names it ([g,'hosts',h,k], [g,'vars',k], [g,'children',c]) */
  lineOf(path: readonly string[]): number | undefined;
}

/** A host range may expand to at most this many hosts (a typo like [1:100000] is not an inventory). */
export const MAX_RANGE_HOSTS = 10_000;

const SECTION_RE = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const CHILD_RE = /^([^:\]\s]+)\s*(?:#.*)?$/;
const ASCII_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * Which parser reads a file: INI when the first meaningful line is a [section] heading or the
 * name ends in .ini; YAML for .yaml, .yml and .json; otherwise (`hosts`) INI unless the first
 * meaningful line reads as YAML (a `key:`, `---`, `{` or `- `), as Ansible tries YAML then INI.
 */
export function inventoryFormat(text: string, file: string): 'yaml' | 'ini' {
  const first = text
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .find((l) => l && !l.startsWith('#') && !l.startsWith(';'));
  if (first !== undefined && SECTION_RE.test(first)) return 'ini';
  const ext = /\.[^./]*$/.exec(file)?.[0]?.toLowerCase();
  if (ext === '.ini') return 'ini';
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') return 'yaml';
  if (first === undefined || /^(?:---|\{|- |[^\s=]+:(?:\s|$))/.test(first)) return 'yaml';
  return 'ini';
}

/** A key path as an INI file writes it: `[g:vars] key`, `[g] host key`, `[g:children] child`. */
export function iniShown(p: readonly string[]): string {
  const [g, section, name, ...rest] = p;
  if (g === undefined) return '(top level)';
  if (section === undefined || section === 'hosts') return [`[${g}]`, ...(name !== undefined ? [name] : []), ...rest].join(' ');
  return [`[${g}:${section}]`, ...(name !== undefined ? [name] : []), ...rest].join(' ');
}

/** The text of an INI inventory; `display` is the file name for messages. */
export function parseIni(text: string, display: string): IniInventory {
  const entries: IniEntry[] = [];
  const lines = new Lines();
  const declared = new Set(['all', 'ungrouped']);
  const pending: Array<{ line: number; message: string; group: string }> = [];
  let group = 'ungrouped';
  let state: 'hosts' | 'children' | 'vars' = 'hosts';
  let vars: Map<string, unknown> | undefined;
  const at = (n: number, m: string) => new InputError(`${display}:${n}: ${m}`);
  const all = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < all.length; i++) {
    const n = i + 1;
    const line = (all[i] ?? '').trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = SECTION_RE.exec(line);
    if (m) {
      group = m[1]!;
      state = sectionType(m[2], group, (msg) => at(n, msg));
      if (state !== 'vars') declared.add(group);
      else
        pending.push({
          line: n,
          group,
          message: `[${group}:vars]: there is no group ${group}; add the section [${group}] with its hosts (Ansible refuses this too)`,
        });
      vars = undefined;
      entries.push({ kind: 'section', group, type: state, line: n });
      lines.first([group], n);
      lines.first([group, state], n);
      continue;
    }
    if (line.startsWith('[') && line.endsWith(']')) {
      throw at(n, `${show(line)} is not a section heading; write [name], [name:children] or [name:vars], with no spaces inside the brackets`);
    }
    if (state === 'hosts') {
      if (group === 'ungrouped') lines.first(['ungrouped'], n);
      for (const e of hostLine(line, group, (msg) => at(n, msg))) {
        entries.push({ ...e, line: n });
        lines.first([group, 'hosts', e.host], n);
        for (const k of e.vars.keys()) lines.last([group, 'hosts', e.host, k], n);
      }
    } else if (state === 'vars') {
      const [key, value] = varLine(line, group, (msg) => at(n, msg));
      if (!vars) entries.push({ kind: 'vars', group, vars: (vars = new Map()), line: n });
      vars.set(key, value);
      lines.last([group, 'vars', key], n);
    } else {
      const c = CHILD_RE.exec(line)?.[1];
      if (c === undefined) throw at(n, `[${group}:children]: ${show(line)} is not a group name; write one group name per line`);
      entries.push({ kind: 'child', group, child: c, line: n });
      lines.first([group, 'children', c], n);
      pending.push({
        line: n,
        group: c,
        message: `[${group}:children] ${c}: there is no group ${c}; add the section [${c}] (it may be empty) or remove this line`,
      });
    }
  }
  // as in Ansible, a group may be declared after a section that names it
  const undeclared = pending.filter((p) => !declared.has(p.group)).sort((a, b) => a.line - b.line)[0];
  if (undeclared) throw at(undeclared.line, undeclared.message);
  return { entries, lineOf: (p) => lines.lookup(p) };
}

function sectionType(tag: string | undefined, group: string, fail: (m: string) => Error): 'hosts' | 'children' | 'vars' {
  if (tag === undefined || tag === 'hosts') return 'hosts';
  if (tag === 'children' || tag === 'vars') return tag;
  throw fail(`[${group}:${tag}]: unknown section type ${show(tag)}; use [${group}], [${group}:children] or [${group}:vars]`);
}

/** key path -> line; a lookup of a missing path falls back to the nearest enclosing one */
class Lines {
  private map = new Map<string, number>();
  private key = (p: readonly string[]) => p.join('\0');
  first(p: readonly string[], n: number): void {
    if (!this.map.has(this.key(p))) this.map.set(this.key(p), n);
  }
  last(p: readonly string[], n: number): void {
    this.map.set(this.key(p), n);
  }
  lookup(p: readonly string[]): number | undefined {
    for (let len = p.length; len > 0; len--) {
      const n = this.map.get(this.key(p.slice(0, len)));
      if (n !== undefined) return n;
    }
    return undefined;
  }
}

// ---- [group:vars] ------------------------------------------------------------------------

/** `key=value`: everything after the first `=`, trimmed, is the value (a comment too, as in Ansible). */
function varLine(line: string, group: string, fail: (m: string) => Error): [string, unknown] {
  const eq = line.indexOf('=');
  if (eq < 0) throw fail(`[${group}:vars]: ${show(line)} is not a variable; write one name=value per line`);
  const key = line.slice(0, eq).trim();
  if (!key) throw fail(`[${group}:vars]: ${show(line)} has no variable name; write name=value`);
  return [key, iniValue(line.slice(eq + 1).trim())];
}

/** A value as Ansible's INI plugin reads it: a Python literal, else the text itself. */
export function iniValue(text: string): unknown {
  const r = literalEval(text);
  return r.ok ? r.value : text;
}

// ---- host lines --------------------------------------------------------------------------

function hostLine(line: string, group: string, fail: (m: string) => Error): Array<{ kind: 'host'; group: string; host: string; vars: Map<string, unknown> }> {
  const tokens = shlexSplit(line, fail);
  const pattern = tokens[0];
  if (pattern === undefined) return [];
  if (pattern === '---') throw fail(`"---" starts a YAML document, not an INI host line; give a YAML inventory a .yaml or .yml name`);
  const { hosts, port } = hostPattern(pattern, fail);
  const vars = new Map<string, unknown>();
  if (port !== undefined) vars.set('ansible_port', port);
  for (const t of tokens.slice(1)) {
    const eq = t.indexOf('=');
    if (eq < 0) throw fail(`${pattern}: ${show(t)} is not a variable; write host variables as name=value after the host name`);
    if (eq === 0) throw fail(`${pattern}: ${show(t)} has no variable name; write name=value`);
    vars.set(t.slice(0, eq), iniValue(t.slice(eq + 1)));
  }
  return hosts.map((host) => ({ kind: 'host', group, host, vars: new Map(vars) }));
}

/** A host pattern as Ansible reads it (INI host lines and YAML host keys): the hosts of its ranges, and a `:port`. */
export function hostPattern(pattern: string, fail: (m: string) => Error): { hosts: string[]; port?: number } {
  const { name, port } = hostAndPort(pattern, fail);
  return { hosts: expandHostRange(name, fail), ...(port !== undefined ? { port } : {}) };
}

/**
 * A host line split as Python's shlex.split(line, comments=True) does: whitespace separates,
 * quotes group (and are removed), a backslash escapes outside single quotes, `#` outside quotes
 * ends the line.
 */
export function shlexSplit(line: string, fail: (m: string) => Error): string[] {
  const tokens: string[] = [];
  let token = '';
  let started = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else token += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\') {
        const next = line[++i];
        if (next === undefined) break;
        token += next === '"' || next === '\\' ? next : `\\${next}`;
      } else token += c;
    } else if (/\s/.test(c)) {
      if (started) tokens.push(token);
      [token, started] = ['', false];
    } else if (c === '#') {
      break;
    } else if (c === '\\') {
      const next = line[++i];
      if (next === undefined) throw fail(`the line ends with a backslash (escaping nothing); remove it or quote the value`);
      token += next;
      started = true;
    } else if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else {
      token += c;
      started = true;
    }
  }
  if (quote) throw fail(`the ${quote === '"' ? 'double' : 'single'} quote opened on this line is never closed; close it on the same line`);
  if (started) tokens.push(token);
  return tokens;
}

/** `name:2222` -> the name and port 2222 (a `:` inside a range's brackets is the range's). */
function hostAndPort(pattern: string, fail: (m: string) => Error): { name: string; port?: number } {
  let depth = 0;
  let colon = -1;
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '[') depth++;
    else if (pattern[i] === ']') depth--;
    else if (pattern[i] === ':' && depth === 0) {
      if (colon >= 0) throw fail(`${JSON.stringify(pattern)} is not a host name or address kha can use (IPv6 is not supported); write name[:port]`);
      colon = i;
    }
  }
  if (colon < 0) return { name: pattern };
  const name = pattern.slice(0, colon);
  const port = pattern.slice(colon + 1);
  if (!port)
    throw fail(
      `${JSON.stringify(pattern)} ends with ':'; write the SSH port after it (${name}:2222) or remove the ':' (is this YAML? then name the file .yaml)`,
    );
  if (!/^\d{1,5}$/.test(port)) throw fail(`${JSON.stringify(pattern)}: ${show(port)} is not a port; write name:port with a number from 1 to 65535`);
  return { name, port: Number(port) };
}

/** `node[1:3]`, `node[01:10:2]`, `db-[a:c]` and several ranges in one name, as Ansible expands them. */
export function expandHostRange(pattern: string, fail: (m: string) => Error): string[] {
  const out: string[] = [];
  const expand = (name: string): void => {
    const open = name.indexOf('[');
    const close = name.indexOf(']');
    if (open < 0 && close < 0) {
      out.push(name);
      if (out.length > MAX_RANGE_HOSTS) throw fail(`${show(pattern)} expands to more than ${MAX_RANGE_HOSTS} hosts; check the range's bounds`);
      return;
    }
    if (open < 0 || close < open) throw fail(`${show(pattern)}: unbalanced [ ] in a host range; write a range as name[1:3]`);
    const [head, range, tail] = [name.slice(0, open), name.slice(open + 1, close), name.slice(close + 1)];
    for (const v of rangeValues(range, pattern, fail)) expand(`${head}${v}${tail}`);
  };
  expand(pattern);
  return out;
}

function rangeValues(range: string, pattern: string, fail: (m: string) => Error): string[] {
  const form = 'write it as [begin:end] or [begin:end:step], e.g. node[1:3], node[01:10:2] or node-[a:c]';
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) throw fail(`${show(pattern)}: ${show(`[${range}]`)} is not a host range; ${form}`);
  const beg = bounds[0] || '0';
  const end = bounds[1] ?? '';
  const stepText = bounds[2] ?? '1';
  if (!end) throw fail(`${show(pattern)}: the host range has no end; ${form}`);
  if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw fail(`${show(pattern)}: the step ${show(stepText)} is not a positive number; ${form}`);
  const step = Number(stepText);
  const letters = /^[A-Za-z]$/.test(beg) && /^[A-Za-z]$/.test(end);
  if (letters) {
    const [b, e] = [ASCII_LETTERS.indexOf(beg), ASCII_LETTERS.indexOf(end)];
    if (b > e) throw fail(`${show(pattern)}: the range starts after it ends (${beg} > ${end}); write the smaller bound first`);
    const out: string[] = [];
    for (let i = b; i <= e; i += step) out.push(ASCII_LETTERS[i]!);
    return out;
  }
  if (!/^\d+$/.test(beg) || !/^\d+$/.test(end)) throw fail(`${show(pattern)}: the bounds must be two numbers or two letters; ${form}`);
  const pad = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
  if (pad && end.length !== pad) {
    throw fail(`${show(pattern)}: a zero-padded range needs bounds of the same width (${beg} and ${end}); write e.g. [${beg}:${end.padStart(pad, '0')}]`);
  }
  const [b, e] = [Number(beg), Number(end)];
  if (b > e) throw fail(`${show(pattern)}: the range starts after it ends (${beg} > ${end}); write the smaller bound first`);
  if ((e - b) / step >= MAX_RANGE_HOSTS) throw fail(`${show(pattern)} expands to more than ${MAX_RANGE_HOSTS} hosts; check the range's bounds`);
  const out: string[] = [];
  for (let i = b; i <= e; i += step) out.push(pad ? String(i).padStart(pad, '0') : String(i));
  return out;
}

// ---- into the loader's groups and hosts -------------------------------------------------

/** The INI file's entries as groups and hosts; key paths as the YAML walk makes them for top-level groups. */
export function walkIni(w: Walk, doc: IniInventory): void {
  const group = (name: string, p: string[]) => w.group(name, p);
  for (const e of doc.entries) {
    if (e.kind === 'section') group(e.group, [e.group]);
    else if (e.kind === 'child') {
      const parent = group(e.group, [e.group]);
      const child = group(e.child, [e.group, 'children', e.child]);
      if (!child.parents.includes(parent.name)) child.parents.push(parent.name);
    } else if (e.kind === 'vars') w.groupVars(group(e.group, [e.group]), w.block(e.vars, [e.group, 'vars'], false));
    else {
      group(e.group, [e.group]);
      const hp = [e.group, 'hosts', e.host];
      const h = w.host(e.host, hp, e.group);
      if (e.vars.size) h.blocks.push(w.block(e.vars, hp, true));
    }
  }
  // as Ansible reconciles an inventory: a group no group lists as a child is a child of all, and
  // `ungrouped` holds exactly the hosts that are in no other group
  for (const g of w.groups.values()) if (g.name !== 'all' && g.parents.length === 0) g.parents.push('all');
  for (const h of w.hosts.values()) {
    const named = h.direct.filter((d) => d !== 'all' && d !== 'ungrouped');
    h.direct = named.length ? h.direct.filter((d) => d !== 'ungrouped') : [...new Set([...h.direct, 'ungrouped'])];
    if (!named.length) {
      const u = w.group('ungrouped', ['ungrouped']);
      if (!u.parents.length) u.parents.push('all');
    }
  }
}
