// Load an Ansible YAML inventory (hosts.yaml): groups, nested children, vars by precedence
// (all < parent group < child group < host), connection specs and secrets. Every error is one
// line, `<file>:<line>: <dotted.key.path>: <problem>; <what would be right>`, as an InputError.
// The loader never connects anywhere.
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Pair } from 'yaml';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { isIPv4 } from '../net/ipv4.js';
import type { HostConnectionSpec } from '../transport/types.js';
import { boolSchema, isSettingName, parseSetting, PER_HOST_SETTINGS, portSchema, SETTING_NAMES, SETTING_PREFIXES } from './settings.js';
import { expandHome, isVaultText, SECRET_FILE_VARS, secretFileField, SECRET_VARS, secretFromEnv, secretFromFile, vaultMessage } from './secrets.js';
import { inputErrorAt, show, suggest } from './suggest.js';
import { parseSshArgs, type SshArgs } from './ssh-args.js';
import { parseProxyJump } from '../transport/jump.js';
import type { ConnectionOverrides, Inventory, InventoryHost, InventorySource } from './types.js';

export const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const GROUP_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
export const USER_RE = /^[a-z_][a-z0-9_.-]*$/;
const MAX_BYTES = 10 * 1024 * 1024;
const MAX_DEPTH = 64;

// ---- connection variables (zod: types, coercions and messages in one place) --------------

const says = (m: (v: unknown) => string) => ({ error: (iss: { input?: unknown }) => m(iss.input) });
const addressSchema = z
  .string(says((v) => `${show(v)} is not an IPv4 address or a host name; use an address like 10.0.0.11 or a name like m1.example.com`))
  .max(253)
  .refine((s) => isIPv4(s) || (HOST_NAME_RE.test(s) && !/^[\d.]+$/.test(s)));
const userSchema = z
  .string(says((v) => `${show(v)} is not a valid user name; use a name like ubuntu (lowercase letters, digits, _ . -, starting with a letter or _)`))
  .max(32)
  .regex(USER_RE);
const keyFileSchema = z
  .string(says((v) => `${show(v)} is not a file path; give the path of the private key, e.g. ~/.ssh/id_ed25519`))
  .min(1)
  .refine((s) => !/[\0\r\n]/.test(s));
const secretSchema = z.preprocess(
  (v) => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v),
  z
    .string(says(() => 'a password must be a non-empty single-line string; quote it in the YAML'))
    .min(1)
    .refine((s) => !/[\0\r\n]/.test(s)),
);

const sshArgsSchema = z
  .string(says((v) => `${show(v)} is not a string of ssh options; write them as on the ssh command line, e.g. -o ProxyJump=user@bastion`))
  .superRefine((text, ctx) => {
    const r = parseSshArgs(text);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message });
  });

const connectionShape = {
  ansible_host: addressSchema,
  ansible_ssh_host: addressSchema,
  ansible_port: portSchema,
  ansible_ssh_port: portSchema,
  ansible_user: userSchema,
  ansible_ssh_user: userSchema,
  ansible_ssh_private_key_file: keyFileSchema,
  ansible_become: boolSchema('ansible_become'),
  ansible_become_user: userSchema,
  ansible_become_password: secretSchema,
  ansible_become_pass: secretSchema,
  ansible_password: secretSchema,
  ansible_ssh_pass: secretSchema,
  // ssh options: UserKnownHostsFile, ProxyJump / -J and ProxyCommand jumps are read, the rest warned about (ssh-args.ts)
  ansible_ssh_common_args: sshArgsSchema,
  ansible_ssh_extra_args: sshArgsSchema,
} as const;
type ConnectionVar = keyof typeof connectionShape;
/** connection variable names kha reads (with Ansible's older aliases) */
export const CONNECTION_VARS = Object.keys(connectionShape) as ConnectionVar[];
const KNOWN_KEYS: readonly string[] = [...CONNECTION_VARS, ...SETTING_NAMES, ...Object.keys(SECRET_FILE_VARS)];
const isConnectionVar = (k: string): k is ConnectionVar => Object.hasOwn(connectionShape, k);

// ---- group shape --------------------------------------------------------------------------

const mapping = (what: string, fix: string) =>
  z
    .map(
      z.unknown(),
      z.unknown(),
      says((v) => `${what} must be a mapping, not ${show(v)}; ${fix}`),
    )
    .nullable()
    .optional();
const groupShape = z.strictObject(
  {
    hosts: mapping('hosts', 'write each host as "name:" on its own line under hosts:'),
    vars: mapping('vars', 'write each variable as "name: value" under vars:'),
    children: mapping('children', 'write each child group as "name:" on its own line under children:'),
  },
  says((v) => `a group must be a mapping with hosts, vars or children, not ${show(v)}; write the group's hosts under hosts:`),
);
const GROUP_KEYS = ['hosts', 'vars', 'children'];

type YMap = Map<unknown, unknown>;
interface VarBlock {
  path: string[];
  vars: YMap;
  /** a secret read from `<key>_file`: key -> the key as written, for file:line in messages */
  written?: Record<string, string>;
}
interface GroupRec {
  name: string;
  order: number;
  path: string[];
  parents: string[];
  blocks: VarBlock[];
}
interface HostRec {
  name: string;
  order: number;
  path: string[];
  direct: string[];
  blocks: VarBlock[];
}

// ---- entry points -------------------------------------------------------------------------

/** Where `${env:NAME}` and `<field>_file` secrets are read from (tests pass their own). */
export interface SecretSources {
  /** default: process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** relative `_file` paths start here; default: the inventory file's directory */
  baseDir?: string;
}

export async function loadInventory(file: string, overrides: ConnectionOverrides = {}): Promise<Inventory> {
  let text: string;
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new InputError(`${file}: is a directory; pass the inventory file with -i`);
    if (st.size > MAX_BYTES) throw new InputError(`${file}: is larger than 10 MB; pass the Ansible YAML inventory with -i`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    // the message says it all: no cause chain repeating the errno text
    if (code === 'ENOENT') throw new InputError(`${file}: not found; pass the path of the inventory with -i`);
    if (code === 'EACCES') throw new InputError(`${file}: permission denied; make the inventory readable`);
    throw new InputError(`${file}: cannot be read (${code ?? String(err)}); pass a readable inventory file with -i`, { cause: err });
  }
  return parseInventory(text, file, overrides);
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

/**
 * The text of the inventory, the file name used in messages. Pure but for secrets given as
 * `<field>_file` or `${env:NAME}`, read from `secretSources`.
 */
export function parseInventory(text: string, file: string, overrides: ConnectionOverrides = {}, secretSources: SecretSources = {}): Inventory {
  const { doc, lineOf } = parseYaml(text, file);
  const fail: Fail = (p, msg) => inputErrorAt({ display: file, lineOf }, p, msg);
  const root = rootMap(doc, file, fail);
  const walk = walkGroups(root, fail, { env: secretSources.env ?? process.env, baseDir: secretSources.baseDir ?? path.dirname(file) });
  checkStructure(root, walk, fail);
  const tree = groupTree(walk.groups, fail);
  const source: InventorySource = {
    display: file,
    text,
    lineOf,
    groupPaths: {},
    hostPaths: {},
    hostVarPaths: {},
    groupVarPaths: {},
    ownVarPaths: {},
    groupAncestors: {},
  };
  const groupVars = mergeGroupVars(walk.groups, tree, source, fail);
  const hosts = mergeHostVars(walk, tree, source, overrides, fail);
  const groups: Record<string, string[]> = {};
  for (const g of [...walk.groups.values()].sort((a, b) => a.order - b.order)) {
    groups[g.name] = hosts.filter((h) => h.groups.includes(g.name)).map((h) => h.name);
  }
  return { file: path.resolve(file), hosts, groups, secrets: [...walk.secrets], groupVars, source };
}

// ---- steps of parseInventory --------------------------------------------------------------

type Fail = (p: readonly string[], m: string) => Error;

/** The YAML document and its key-path -> line map; every YAML problem is an InputError here. */
function parseYaml(text: string, file: string): { doc: Document; lineOf: (p: readonly string[]) => number | undefined } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, merge: true, prettyErrors: true });
  const lineOf = makeLineOf(doc, lc);
  if (!text.trim()) throw emptyInventory(file);
  const iniLine = iniHeadingLine(text);
  if (iniLine !== undefined && (doc.errors.length > 0 || isSeq(doc.contents))) {
    throw new InputError(
      `${file}:${iniLine}: this looks like an INI inventory; kha reads Ansible's YAML inventory, convert it with: ansible-inventory -i ${file} --list -y`,
    );
  }
  const yerr = doc.errors[0];
  if (yerr) throw yamlSyntaxError(yerr, text, file);
  if (doc.contents === null) throw emptyInventory(file);
  const vaulted = vaultPath(doc);
  if (vaulted) throw inputErrorAt({ display: file, lineOf }, vaulted, vaultMessage(vaulted[vaulted.length - 1] ?? ''));
  return { doc, lineOf };
}

function emptyInventory(file: string): InputError {
  return new InputError(`${file}: the inventory is empty; add an all: group with hosts and vars`);
}

/** The first YAML error, said the way a person fixes it (a duplicate key, an unclosed quote). */
function yamlSyntaxError(yerr: Document['errors'][number], text: string, file: string): InputError {
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

/** The document as JS maps (aliases expanded, within bounds): a mapping of groups. */
function rootMap(doc: Document, file: string, fail: Fail): YMap {
  let root: unknown;
  try {
    root = doc.toJS({ mapAsMap: true, maxAliasCount: 1000 });
  } catch (err) {
    throw new InputError(`${file}: YAML aliases expand too much (${(err as Error).message.split('\n')[0]}); write the values out instead of nesting aliases`, {
      cause: err,
    });
  }
  if (root === null || root === undefined) throw emptyInventory(file);
  if (!(root instanceof Map)) {
    throw fail([], `the inventory is ${show(root)}, not a mapping of groups; start the file with all: and put hosts, vars and children under it`);
  }
  return root;
}

/** What the walk over the groups collects, in document order. */
interface Walk {
  fail: Fail;
  env: Readonly<Record<string, string | undefined>>;
  baseDir: string;
  groups: Map<string, GroupRec>;
  hosts: Map<string, HostRec>;
  secrets: Set<string>;
  /** the next document-order number, shared by groups and hosts */
  order: number;
}

function walkGroups(root: YMap, fail: Fail, sources: { env: Walk['env']; baseDir: string }): Walk {
  const w: Walk = { fail, ...sources, groups: new Map(), hosts: new Map(), secrets: new Set(), order: 0 };
  groupRec(w, 'all', ['all']);
  for (const [k, v] of root) {
    const name = keyName(k, [String(k)], fail);
    walkGroup(w, name, v, [name], name === 'all' ? undefined : 'all', 0);
  }
  return w;
}

function groupRec(w: Walk, name: string, p: string[]): GroupRec {
  let g = w.groups.get(name);
  if (!g) w.groups.set(name, (g = { name, order: w.order++, path: p, parents: [], blocks: [] }));
  return g;
}

function walkGroup(w: Walk, name: string, value: unknown, p: string[], parent: string | undefined, depth: number): void {
  const { fail } = w;
  if (depth > MAX_DEPTH) throw fail(p, `groups nest more than ${MAX_DEPTH} deep (does an alias refer to itself?); flatten the children`);
  if (!GROUP_NAME_RE.test(name) || name === '__proto__') {
    throw fail(p, `${show(name)} is not a safe group name; use letters, digits, _ . and - (starting with a letter, digit or _)`);
  }
  const shallow = checkGroupShape(name, value, p, fail);
  const g = groupRec(w, name, p);
  if (parent !== undefined && !g.parents.includes(parent)) g.parents.push(parent);
  if (!(shallow instanceof Map)) return;
  for (const [section, v] of shallow) {
    if (!(v instanceof Map)) continue;
    const sp = [...p, section];
    if (section === 'vars') g.blocks.push(checkBlock(w, v, sp, false));
    else if (section === 'hosts') walkHosts(w, name, v, sp);
    else if (section === 'children') {
      for (const [ck, cv] of v) {
        const cname = keyName(ck, [...sp, String(ck)], fail);
        walkGroup(w, cname, cv, [...sp, cname], name, depth + 1);
      }
    }
  }
}

/** The group's value with its keys as names, once it has only hosts, vars and children. */
function checkGroupShape(name: string, value: unknown, p: string[], fail: Fail): unknown {
  const shallow = value instanceof Map ? new Map([...value].map(([k, v]) => [keyName(k, p, fail), v])) : value;
  const parsed = groupShape.safeParse(shallow instanceof Map ? Object.fromEntries(shallow) : (shallow ?? {}));
  if (parsed.success) return shallow;
  const issue = parsed.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const near = suggest(key, GROUP_KEYS, { mode: 'name' });
    throw fail(
      [...p, key],
      near !== undefined
        ? `unknown group key; did you mean ${near}?`
        : `unknown key in group ${name}; a group holds only hosts, vars and children (hosts go under hosts:, variables under vars:)`,
    );
  }
  throw fail([...p, ...(issue?.path ?? []).map(String)], issue?.message ?? 'invalid group');
}

function walkHosts(w: Walk, group: string, v: YMap, sp: string[]): void {
  for (const [hk, hv] of v) {
    const hname = keyName(hk, [...sp, String(hk)], w.fail);
    const hp = [...sp, hname];
    checkHostName(hname, hp, w.fail);
    if (hv !== null && !(hv instanceof Map)) {
      throw w.fail(hp, `a host's value must be its variables, not ${show(hv)}; write ${hname}: { ansible_host: <address> } or leave it empty`);
    }
    let h = w.hosts.get(hname);
    if (!h) w.hosts.set(hname, (h = { name: hname, order: w.order++, path: hp, direct: [], blocks: [] }));
    if (!h.direct.includes(group)) h.direct.push(group);
    if (hv instanceof Map) h.blocks.push(checkBlock(w, hv, hp, true));
  }
}

/** A block's vars with `<field>_file` and `${env:NAME}` secrets read, each value checked. */
function checkBlock(w: Walk, vars: YMap, p: string[], onHost: boolean): VarBlock {
  const out: YMap = new Map();
  const written: Record<string, string> = {};
  for (const [k, v] of vars) {
    const asWritten = keyName(k, [...p, String(k)], w.fail);
    const kp = [...p, asWritten];
    const field = secretFileField(asWritten);
    let key = asWritten;
    let value = v;
    let from: string | undefined;
    if (field !== undefined && v !== null && v !== undefined) {
      if (vars.has(field)) throw w.fail(kp, `${field} is set here too; keep one of ${field} and ${asWritten}`);
      const r = secretFromFile(asWritten, v, w.baseDir);
      if (!r.ok) throw w.fail(kp, r.message);
      [key, value, from, written[field]] = [field, r.value, r.from, asWritten];
    } else if (SECRET_VARS.has(asWritten)) {
      const r = secretFromEnv(asWritten, v, w.env);
      if (r && !r.ok) throw w.fail(kp, r.message);
      if (r) [value, from] = [r.value, r.from];
    }
    checkVar(w, key, value, kp, onHost, from);
    out.set(key, value);
  }
  return { path: p, vars: out, ...(Object.keys(written).length ? { written } : {}) };
}

/** One variable checked where it is written. `from`: where a secret was read (a file, a variable); its value is never shown. */
function checkVar(w: Walk, key: string, value: unknown, p: string[], onHost: boolean, from?: string): void {
  const { fail } = w;
  if (key === '__proto__') throw fail(p, '__proto__ is not a usable variable name; rename the variable');
  if (value === null || value === undefined) return;
  const known = isConnectionVar(key) || isSettingName(key);
  const failFrom = (m: string) => fail(p, from ? `${m} (the value read from ${from})` : m);
  if (known && from === undefined && typeof value === 'string' && value.includes('{{')) {
    throw fail(p, `${show(value)} is a Jinja template; kha does not evaluate templates, write the value itself`);
  }
  if (isConnectionVar(key)) {
    const r = connectionShape[key].safeParse(value);
    if (!r.success) throw failFrom(r.error.issues[0]?.message ?? `invalid ${key}`);
    if (SECRET_VARS.has(key)) w.secrets.add(String(r.data));
    return;
  }
  if (isSettingName(key)) {
    if (onHost && !PER_HOST_SETTINGS.includes(key)) {
      throw fail(p, `${key} is cluster-wide; set it under all.vars (or the masters group's vars), not on a host`);
    }
    const r = parseSetting(key, value);
    if (!r.ok) throw failFrom(r.message);
    if (SECRET_VARS.has(key)) w.secrets.add(String(r.value));
    return;
  }
  checkUnknownVar(key, p, fail);
}

/** An unknown name close to a known one, or in kha's namespaces, is an error; any other is the operator's. */
function checkUnknownVar(key: string, p: string[], fail: Fail): void {
  const near = suggest(key, KNOWN_KEYS);
  if (near !== undefined) {
    throw fail(p, `unknown ${isSettingName(near) ? 'kha setting' : 'connection variable'}; did you mean ${near}?`);
  }
  const prefix = SETTING_PREFIXES.find((pre) => key.startsWith(pre));
  if (prefix === undefined) return;
  const family = SETTING_NAMES.filter((n) => n.startsWith(prefix));
  const rest = key.slice(prefix.length);
  const close = isSettingName(rest) ? rest : suggest(key, family, { mode: 'name' });
  throw fail(
    p,
    close !== undefined
      ? `unknown kha setting; did you mean ${close}?`
      : family.length
        ? `unknown kha setting; names starting with ${prefix} are kha's, the known ones are ${family.join(', ')}`
        : `unknown kha setting; names starting with ${prefix} are reserved for kha, rename the variable`,
  );
}

function checkStructure(root: YMap, w: Walk, fail: Fail): void {
  const firstKey = keyName([...root.keys()][0], [], fail);
  if (w.hosts.size === 0) throw fail([firstKey], "the inventory has no hosts; add hosts under all.hosts or under a group's hosts:");
  for (const h of w.hosts.values()) {
    if (w.groups.has(h.name)) throw fail(h.path, `${h.name} is both a host and a group; rename one of them`);
  }
}

/** Each group's ancestors, outermost first; a cycle is an error. */
interface GroupTree {
  ancestors(name: string): string[];
  /** by depth, then document order */
  sort(names: string[]): string[];
}

function groupTree(groups: Map<string, GroupRec>, fail: Fail): GroupTree {
  const depthMemo = new Map<string, number>();
  const ancestorMemo = new Map<string, string[]>();
  const sort = (names: string[]) =>
    names.sort((a, b) => (depthMemo.get(a) ?? 0) - (depthMemo.get(b) ?? 0) || (groups.get(a)?.order ?? 0) - (groups.get(b)?.order ?? 0));
  const ancestors = (name: string, stack: string[] = []): string[] => {
    const memo = ancestorMemo.get(name);
    if (memo) return memo;
    const g = groups.get(name);
    if (!g) return [];
    if (stack.includes(name)) {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      throw fail(g.path, `group ${name} is its own ancestor (${cycle.reverse().join(' > ')}); remove one of these children entries`);
    }
    const set = new Set<string>();
    let depth = 0;
    for (const parent of g.parents) {
      for (const a of ancestors(parent, [...stack, name])) set.add(a);
      set.add(parent);
      depth = Math.max(depth, (depthMemo.get(parent) ?? 0) + 1);
    }
    depthMemo.set(name, depth);
    const list = sort([...set]);
    ancestorMemo.set(name, list);
    return list;
  };
  for (const name of groups.keys()) ancestors(name);
  return { ancestors: (name) => ancestors(name), sort };
}

/** Later blocks win: vars and the key path each value came from. */
function mergeBlocks(blocks: VarBlock[], vars: Record<string, unknown>, paths: Record<string, string[]>, fail: Fail): void {
  for (const b of blocks) {
    for (const [k, v] of b.vars) {
      const key = keyName(k, b.path, fail);
      vars[key] = plain(v, [...b.path, key], 0, fail);
      paths[key] = [...b.path, b.written?.[key] ?? key];
    }
  }
}

/** Each group's effective vars (all < ancestors < the group), recording the source paths. */
function mergeGroupVars(groups: Map<string, GroupRec>, tree: GroupTree, source: InventorySource, fail: Fail): Record<string, Record<string, unknown>> {
  const groupVars: Record<string, Record<string, unknown>> = {};
  for (const g of groups.values()) {
    const vars: Record<string, unknown> = {};
    const paths: Record<string, string[]> = {};
    for (const c of [...tree.ancestors(g.name), g.name]) mergeBlocks(groups.get(c)?.blocks ?? [], vars, paths, fail);
    groupVars[g.name] = vars;
    source.groupVarPaths[g.name] = paths;
    source.groupPaths[g.name] = g.path;
    source.groupAncestors[g.name] = tree.ancestors(g.name);
    const own: Record<string, string[]> = {};
    for (const b of g.blocks) {
      for (const k of b.vars.keys()) {
        const key = keyName(k, b.path, fail);
        own[key] = [...b.path, b.written?.[key] ?? key];
      }
    }
    source.ownVarPaths[g.name] = own;
  }
  return groupVars;
}

/** Each host's vars (its groups by depth, then its own) and connection; two hosts never share an address. */
function mergeHostVars(w: Walk, tree: GroupTree, source: InventorySource, overrides: ConnectionOverrides, fail: Fail): InventoryHost[] {
  const out: InventoryHost[] = [];
  const byAddress = new Map<string, string>();
  for (const h of w.hosts.values()) {
    const member = new Set<string>(['all']);
    for (const d of h.direct) {
      member.add(d);
      for (const a of tree.ancestors(d)) member.add(a);
    }
    const hostGroups = tree.sort([...member]);
    const vars: Record<string, unknown> = {};
    const paths: Record<string, string[]> = {};
    for (const g of hostGroups) mergeBlocks(w.groups.get(g)?.blocks ?? [], vars, paths, fail);
    mergeBlocks(h.blocks, vars, paths, fail);
    source.hostPaths[h.name] = h.path;
    source.hostVarPaths[h.name] = paths;
    const connection = connectionOf(h.name, vars, overrides);
    const addrKey = `${connection.address.toLowerCase()}:${connection.port}`;
    const other = byAddress.get(addrKey);
    if (other !== undefined) {
      throw fail(
        paths['ansible_host'] ?? paths['ansible_ssh_host'] ?? h.path,
        `${other} and ${h.name} both connect to ${connection.address}:${connection.port}; give each host its own ansible_host (or ansible_port)`,
      );
    }
    byAddress.set(addrKey, h.name);
    out.push({ name: h.name, vars, groups: hostGroups, connection });
  }
  return out;
}

// ---- helpers ------------------------------------------------------------------------------

function connectionOf(name: string, vars: Record<string, unknown>, o: ConnectionOverrides): HostConnectionSpec {
  const val = <K extends ConnectionVar>(...keys: K[]): z.output<(typeof connectionShape)[K]> | undefined => {
    for (const k of keys) {
      const v = vars[k];
      if (v === null || v === undefined) continue;
      const r = connectionShape[k].safeParse(v);
      if (r.success) return r.data as z.output<(typeof connectionShape)[K]>;
    }
    return undefined;
  };
  if (o.user !== undefined && !USER_RE.test(o.user)) {
    throw new InputError(
      `--user: ${show(o.user)} is not a valid user name; use a name like ubuntu (lowercase letters, digits, _ . -, starting with a letter or _)`,
    );
  }
  if (o.privateKey !== undefined && (!o.privateKey || /[\0\r\n]/.test(o.privateKey))) {
    throw new InputError(`--private-key: ${show(o.privateKey)} is not a file path; give the path of the private key, e.g. ~/.ssh/id_ed25519`);
  }
  const keyFile = o.privateKey ?? val('ansible_ssh_private_key_file');
  const password = val('ansible_password', 'ansible_ssh_pass');
  const becomePassword = val('ansible_become_password', 'ansible_become_pass');
  // common args before extra args, as Ansible passes them to ssh: the first value of an option wins
  const args = [val('ansible_ssh_common_args'), val('ansible_ssh_extra_args')].flatMap((t): SshArgs[] => {
    const r = t === undefined ? undefined : parseSshArgs(t);
    return r?.ok ? [r.value] : [];
  });
  const kh = args.find((a) => a.knownHostsFile !== undefined)?.knownHostsFile;
  const ownJump = args.find((a) => a.jump !== undefined)?.jump;
  const flagJump = bastionOverride(o);
  const explicitAddress = val('ansible_host', 'ansible_ssh_host');
  const explicitPort = val('ansible_port', 'ansible_ssh_port');
  const explicitUser = o.user ?? val('ansible_user', 'ansible_ssh_user');
  return {
    ...(kh ? { knownHostsFile: expandHome(kh) } : {}),
    // the host's own jump (inventory) wins over --bastion; ~/.ssh/config is read only without either
    ...(ownJump !== undefined ? { jump: ownJump } : flagJump !== undefined ? { jump: flagJump, jumpFrom: 'flag' as const } : {}),
    explicit: {
      ...(explicitAddress !== undefined ? { address: true } : {}),
      ...(explicitPort !== undefined ? { port: true } : {}),
      ...(explicitUser !== undefined ? { user: true } : {}),
      ...(keyFile !== undefined ? { privateKeyFile: true } : {}),
    },
    name,
    address: val('ansible_host', 'ansible_ssh_host') ?? name,
    port: val('ansible_port', 'ansible_ssh_port') ?? 22,
    user: o.user ?? val('ansible_user', 'ansible_ssh_user') ?? currentUser(),
    ...(keyFile !== undefined ? { privateKeyFile: expandHome(keyFile) } : {}),
    ...(password !== undefined ? { password } : {}),
    become: o.become ?? val('ansible_become') ?? false,
    becomeUser: val('ansible_become_user') ?? 'root',
    ...(becomePassword !== undefined ? { becomePassword } : {}),
  };
}

/** --bastion [user@]host[:port] (a chain a,b, or none), checked like -o ProxyJump */
function bastionOverride(o: ConnectionOverrides): HostConnectionSpec['jump'] {
  if (o.bastion === undefined) return undefined;
  const r = parseProxyJump(o.bastion);
  if (!r.ok) throw new InputError(`--bastion: ${r.message}`);
  return r.value;
}

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env['USER'] ?? 'root';
  }
}

function checkHostName(name: string, p: string[], fail: (p: readonly string[], m: string) => Error): void {
  if (HOST_NAME_RE.test(name) && name.length <= 253) return;
  if (/\[[^\]]*:[^\]]*\]/.test(name)) {
    throw fail(p, `${show(name)} is a host range; kha does not expand ranges, list each host on its own line`);
  }
  throw fail(p, `${show(name)} is not a safe host name; use letters, digits, '.', '_' and '-', starting with a letter or digit`);
}

/** A map key as a name; null and collection keys are errors. */
function keyName(k: unknown, p: readonly string[], fail: (p: readonly string[], m: string) => Error): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'boolean' || typeof k === 'bigint') return String(k);
  throw fail(p.slice(0, -1), `a key is ${show(k)}; every key must be a plain name`);
}

/** YAML maps (kept as Map for order) -> plain objects for vars. */
function plain(v: unknown, p: string[], depth: number, fail: (p: readonly string[], m: string) => Error): unknown {
  if (depth > MAX_DEPTH) throw fail(p, `the value nests more than ${MAX_DEPTH} levels (does an alias refer to itself?); write the value out`);
  if (v instanceof Map) {
    return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x, p, depth + 1, fail)]));
  }
  if (Array.isArray(v)) return v.map((x) => plain(x, p, depth + 1, fail));
  return v;
}

function iniHeadingLine(text: string): number | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const l = (lines[i] ?? '').trim();
    if (!l || l.startsWith('#') || l.startsWith(';')) continue;
    return /^\[[A-Za-z0-9_.:-]+\]$/.test(l) ? i + 1 : undefined;
  }
  return undefined;
}

/** The key path of the first Ansible Vault value (`!vault` tag, or `$ANSIBLE_VAULT;` text). */
function vaultPath(doc: Document): string[] | undefined {
  const walk = (node: unknown, p: string[], depth: number): string[] | undefined => {
    if (depth > MAX_DEPTH) return undefined;
    if (isScalar(node)) return node.tag === '!vault' || isVaultText(node.value) ? p : undefined;
    if (isMap(node)) {
      for (const it of node.items) {
        const k = isScalar(it.key) ? String(it.key.value) : String(it.key);
        const found = walk(it.value, [...p, k], depth + 1);
        if (found) return found;
      }
    }
    if (isSeq(node)) {
      for (const it of node.items) {
        const found = walk(it, p, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(doc.contents, [], 0);
}

/** key path -> 1-based line of the deepest key found (follows aliases and << merge keys) */
function makeLineOf(doc: Document, lc: LineCounter): (p: readonly string[]) => number | undefined {
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
