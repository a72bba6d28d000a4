// Load an Ansible inventory: YAML (hosts.yaml) or INI (inventory.ini, read by ini.ts), a file or
// a directory holding one, and the group_vars/ and host_vars/ files beside it (files.ts).
// Groups, nested children, vars by Ansible's precedence (below), connection specs and secrets.
// Every error is one line, `<file>:<line>: <key path>: <problem>; <what would be right>`, as an
// InputError. The loader never connects anywhere.
//
// Precedence, as Ansible merges them (VARIABLE_PRECEDENCE's default), later wins:
//   the inventory file's group vars: all, then the other groups by depth, priority, name;
//   group_vars/ files: all, then the other groups in the same order;
//   the inventory file's host vars; host_vars/ files;
//   -e/--extra-vars (extra-vars.ts), which also win over -u, --private-key and -b.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { isIPv4 } from '../net/ipv4.js';
import type { HostConnectionSpec } from '../transport/types.js';
import { readInventoryFiles, readVarFiles, varFileIndex, varFileKey, type VarDoc } from './files.js';
import { readExtraVars } from './extra-vars.js';
import { addKubesprayGroups, FOREIGN_LOOKALIKES, isForeignVar } from './foreign.js';
import { hostPattern, iniShown, inventoryFormat, parseIni, walkIni } from './ini.js';
import { boolSchema, isSettingName, parseSetting, PER_HOST_SETTINGS, portSchema, SETTING_NAMES, SETTING_PREFIXES } from './settings.js';
import { expandHome, isVaultText, SECRET_FILE_VARS, secretFileField, SECRET_VARS, secretFromEnv, secretFromFile, vaultMessage } from './secrets.js';
import { dotted, inputErrorAt, show, suggest } from './suggest.js';
import { parseSshArgs, type SshArgs } from './ssh-args.js';
import { parseProxyJump } from '../transport/jump.js';
import type { ConnectionOverrides, ExtraVarsArg, Inventory, InventoryHost, InventorySource, KeySite, VarFile } from './types.js';
import type { Fail, GroupRec, HostRec, VarBlock, Walk } from './walk.js';
import { parseYamlText, type YMap } from './yaml.js';

export const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const GROUP_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
export const USER_RE = /^[a-z_][a-z0-9_.-]*$/;
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
    .string(says(() => 'a password must be a non-empty single-line string; quote it in the inventory'))
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
  ansible_private_key_file: keyFileSchema,
  ansible_become: boolSchema('ansible_become'),
  ansible_become_user: userSchema,
  ansible_become_password: secretSchema,
  ansible_become_pass: secretSchema,
  ansible_password: secretSchema,
  ansible_ssh_pass: secretSchema,
  ansible_ssh_password: secretSchema,
  // ssh options: UserKnownHostsFile, ProxyJump / -J and ProxyCommand jumps are read, the rest warned about (ssh-args.ts)
  ansible_ssh_common_args: sshArgsSchema,
  ansible_ssh_extra_args: sshArgsSchema,
} as const;
type ConnectionVar = keyof typeof connectionShape;
/** connection variable names kha reads (with Ansible's older aliases) */
export const CONNECTION_VARS = Object.keys(connectionShape) as ConnectionVar[];
const KNOWN_KEYS: readonly string[] = [...CONNECTION_VARS, ...SETTING_NAMES, ...Object.keys(SECRET_FILE_VARS)];
const isConnectionVar = (k: string): k is ConnectionVar => Object.hasOwn(connectionShape, k);
/** a variable whose value kha uses (so a template or a vault value there is an error, not the operator's business) */
const readByKha = (k: string) => isConnectionVar(k) || isSettingName(k) || secretFileField(k) !== undefined || isForeignVar(k);

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

// ---- entry points -------------------------------------------------------------------------

/** Where `${env:NAME}` and `<field>_file` secrets are read from (tests pass their own). */
export interface SecretSources {
  /** default: process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** relative `_file` paths start here; default: the inventory file's directory */
  baseDir?: string;
}

export interface ParseOptions extends SecretSources {
  /** group_vars/ and host_vars/ files (files.ts reads them; add-master passes the ones it loaded with) */
  varFiles?: readonly VarFile[];
  /** -e/--extra-vars (extra-vars.ts reads them): they win over every other variable */
  extraVars?: readonly ExtraVarsArg[];
}

/**
 * `-i ARG`: an inventory file, or a directory holding one, with the group_vars/ and host_vars/
 * beside it; `extraVars`: the -e/--extra-vars arguments (KEY=VALUE, an inline mapping, @FILE).
 */
export async function loadInventory(file: string, overrides: ConnectionOverrides = {}, extraVars?: readonly string[]): Promise<Inventory> {
  const f = await readInventoryFiles(file);
  const extra = await readExtraVars(extraVars);
  const inv = parseInventory(f.text, f.display, overrides, { varFiles: f.varFiles, baseDir: f.baseDir, extraVars: extra });
  const warnings = [...f.warnings, ...(inv.warnings ?? [])];
  return { ...inv, ...(warnings.length ? { warnings } : {}) };
}

/**
 * The text of the inventory (YAML or INI, told apart by inventoryFormat), the file name used in
 * messages, and the var files beside it. Pure but for secrets given as `<field>_file` or
 * `${env:NAME}`, read from `opts`.
 */
export function parseInventory(text: string, file: string, overrides: ConnectionOverrides = {}, opts: ParseOptions = {}): Inventory {
  const format = inventoryFormat(text, file);
  const main = format === 'ini' ? iniMain(text, file) : yamlMain(text, file);
  const docs: VarDoc[] = [];
  const locate = makeLocate(file, main, docs);
  const fail: Fail = (p, msg) => inputErrorAt({ display: file, locate }, p, msg);
  const w = newWalk(fail, opts.env ?? process.env, opts.baseDir ?? path.dirname(file));
  main.walk(w);
  addKubesprayGroups(w, opts.varFiles ?? []);
  readVarFiles(w, opts.varFiles ?? [], docs);
  readExtraVarsArgs(w, opts.extraVars ?? [], docs);
  checkStructure(w, main, format);
  const tree = groupTree(w.groups, fail);
  const source: InventorySource = {
    display: file,
    format,
    text,
    varFiles: opts.varFiles ?? [],
    extraVars: opts.extraVars ?? [],
    isExtraVars: (p) => docs[varFileIndex(p[0]) ?? -1]?.extra === true,
    locate,
    lineOf: (p) => locate(p).line,
    groupPaths: {},
    hostPaths: {},
    hostVarPaths: {},
    groupVarPaths: {},
    ownVarPaths: {},
    groupAncestors: {},
  };
  const groupVars = mergeGroupVars(w.groups, tree, source, w.extra, fail);
  const hosts = mergeHostVars(w, tree, source, overrides, fail);
  const groups: Record<string, string[]> = {};
  for (const g of [...w.groups.values()].sort((a, b) => a.order - b.order)) {
    groups[g.name] = hosts.filter((h) => h.groups.includes(g.name)).map((h) => h.name);
  }
  return {
    file: path.resolve(file),
    hosts,
    groups,
    secrets: [...w.secrets],
    groupVars,
    source,
    ...(w.warnings.length ? { warnings: w.warnings } : {}),
  };
}

// ---- steps of parseInventory --------------------------------------------------------------

/** The inventory file, parsed: how to find a key's line, how a key path is written, and the walk that records its groups and hosts. */
interface MainFile {
  lineOf: (p: readonly string[]) => number | undefined;
  shown: (p: readonly string[]) => string;
  /** where "the inventory has no hosts" points */
  firstPath: string[];
  walk: (w: Walk) => void;
}

function emptyInventory(file: string, format: 'yaml' | 'ini'): InputError {
  return new InputError(
    format === 'yaml'
      ? `${file}: the inventory is empty; add an all: group with hosts and vars`
      : `${file}: the inventory is empty; add a [masters] section with the masters' host lines and an [all:vars] section with vip=<address>`,
  );
}

function yamlMain(text: string, file: string): MainFile {
  if (!text.trim()) throw emptyInventory(file, 'yaml');
  const { value, lineOf } = parseYamlText(text, file);
  if (value === null) throw emptyInventory(file, 'yaml');
  if (!(value instanceof Map)) {
    throw inputErrorAt(
      { display: file, lineOf },
      [],
      `the inventory is ${show(value)}, not a mapping of groups; start the file with all: and put hosts, vars and children under it`,
    );
  }
  const fail: Fail = (p, m) => inputErrorAt({ display: file, lineOf }, p, m);
  const firstKey = keyName([...value.keys()][0], [], fail);
  return { lineOf, shown: dotted, firstPath: [firstKey], walk: (w) => walkYamlGroups(w, value) };
}

function iniMain(text: string, file: string): MainFile {
  const doc = parseIni(text, file);
  if (doc.entries.length === 0) throw emptyInventory(file, 'ini');
  const first = doc.entries[0]!;
  return { lineOf: doc.lineOf, shown: iniShown, firstPath: [first.group], walk: (w) => walkIni(w, doc) };
}

/** Where a key path is written: the inventory file or one of the var files (filled as they are read). */
function makeLocate(display: string, main: MainFile, docs: VarDoc[]): (p: readonly string[]) => KeySite {
  return (p) => {
    const i = varFileIndex(p[0]);
    const doc = i === undefined ? undefined : docs[i];
    if (!doc) return { display, line: main.lineOf(p), shown: main.shown(p) };
    const rest = p.slice(1);
    return { display: doc.display, ...(doc.noLines ? {} : { line: doc.lineOf(rest) ?? 1 }), shown: dotted(rest) };
  };
}

function newWalk(fail: Fail, env: Walk['env'], baseDir: string): Walk {
  const w: Walk = {
    fail,
    env,
    baseDir,
    groups: new Map(),
    hosts: new Map(),
    secrets: new Set(),
    extra: [],
    order: 0,
    warnings: [],
    group: (name, p) => {
      checkGroupName(name, p, fail);
      return groupRec(w, name, p);
    },
    host: (name, p, group) => {
      checkHostName(name, p, fail);
      return hostRec(w, name, p, group);
    },
    block: (vars, p, onHost) => checkBlock(w, vars, p, onHost),
    groupVars: (g, block) => addGroupVars(w, g, block),
    readsKha: (name, onHost) => isSettingName(name) || (onHost && isConnectionVar(name)),
  };
  groupRec(w, 'all', ['all']);
  return w;
}

function groupRec(w: Walk, name: string, p: string[]): GroupRec {
  let g = w.groups.get(name);
  if (!g) w.groups.set(name, (g = { name, order: w.order++, path: p, parents: [], blocks: [], fileBlocks: [], priority: 1 }));
  return g;
}

function hostRec(w: Walk, name: string, p: string[], group: string): HostRec {
  let h = w.hosts.get(name);
  if (!h) w.hosts.set(name, (h = { name, order: w.order++, path: p, direct: [], blocks: [], fileBlocks: [] }));
  if (!h.direct.includes(group)) h.direct.push(group);
  return h;
}

function checkGroupName(name: string, p: string[], fail: Fail): void {
  if (!GROUP_NAME_RE.test(name) || name === '__proto__') {
    throw fail(p, `${show(name)} is not a safe group name; use letters, digits, _ . and - (starting with a letter, digit or _)`);
  }
}

// ---- YAML ---------------------------------------------------------------------------------

function walkYamlGroups(w: Walk, root: YMap): void {
  for (const [k, v] of root) {
    const name = keyName(k, [String(k)], w.fail);
    walkGroup(w, name, v, [name], name === 'all' ? undefined : 'all', 0);
  }
}

function walkGroup(w: Walk, name: string, value: unknown, p: string[], parent: string | undefined, depth: number): void {
  const { fail } = w;
  if (depth > MAX_DEPTH) throw fail(p, `groups nest more than ${MAX_DEPTH} deep (does an alias refer to itself?); flatten the children`);
  checkGroupName(name, p, fail);
  const shallow = checkGroupShape(name, value, p, fail);
  const g = groupRec(w, name, p);
  if (parent !== undefined && !g.parents.includes(parent)) g.parents.push(parent);
  if (!(shallow instanceof Map)) return;
  for (const [section, v] of shallow) {
    if (!(v instanceof Map)) continue;
    const sp = [...p, section];
    if (section === 'vars') w.groupVars(g, checkBlock(w, v, sp, false));
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

/** A group's own vars from the inventory file; ansible_group_priority orders the group (Ansible reads it only there). */
function addGroupVars(w: Walk, g: GroupRec, block: VarBlock): void {
  g.blocks.push(block);
  const prio = block.vars.get('ansible_group_priority');
  if (prio === undefined || prio === null) return;
  const n = typeof prio === 'string' && /^\d+$/.test(prio.trim()) ? Number(prio) : prio;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw w.fail([...block.path, 'ansible_group_priority'], `${show(prio)} is not a number; set ansible_group_priority to an integer (default 1)`);
  }
  g.priority = n;
}

/** Host keys are Ansible host patterns: `m[1:3]` is m1, m2, m3; `m1:2222` sets ansible_port. */
function walkHosts(w: Walk, group: string, v: YMap, sp: string[]): void {
  for (const [hk, hv] of v) {
    const pattern = keyName(hk, [...sp, String(hk)], w.fail);
    const hp = [...sp, pattern];
    if (hv !== null && !(hv instanceof Map)) {
      throw w.fail(hp, `a host's value must be its variables, not ${show(hv)}; write ${pattern}: { ansible_host: <address> } or leave it empty`);
    }
    const { hosts, port } = hostPattern(pattern, (m) => w.fail(hp, m));
    for (const hname of hosts) {
      const h = w.host(hname, hp, group);
      if (port !== undefined) h.blocks.push(checkBlock(w, new Map([['ansible_port', port]]), hp, true));
      if (hv instanceof Map) h.blocks.push(checkBlock(w, hv, hp, true));
    }
  }
}

// ---- variables ----------------------------------------------------------------------------

/** A block's vars with `<field>_file` and `${env:NAME}` secrets read, each value checked. */
function checkBlock(w: Walk, vars: YMap, p: string[], onHost: boolean): VarBlock {
  const out: YMap = new Map();
  const written: Record<string, string> = {};
  for (const [k, v] of vars) {
    const asWritten = keyName(k, [...p, String(k)], w.fail);
    const kp = [...p, asWritten];
    // a vault value in a variable kha does not read is the operator's business, like the variable
    if (readByKha(asWritten) && holdsVault(v, 0)) throw w.fail(kp, vaultMessage(asWritten));
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

/** An Ansible Vault value (`!vault` tag, or `$ANSIBLE_VAULT;` text) anywhere in a value. */
function holdsVault(v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  if (v instanceof Map) return [...v.values()].some((x) => holdsVault(x, depth + 1));
  if (Array.isArray(v)) return v.some((x) => holdsVault(x, depth + 1));
  if (v !== null && typeof v === 'object') return Object.values(v).some((x) => holdsVault(x, depth + 1));
  return isVaultText(v);
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
  if (FOREIGN_LOOKALIKES.has(key) || isForeignVar(key)) return;
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

// ---- -e/--extra-vars -----------------------------------------------------------------------

/**
 * Each -e argument as a block of variables, checked like any other (a `<field>_file` path starts
 * at the argument's baseDir), into w.extra. kha reads nothing else from them, so a name that is
 * not a kha setting, a connection variable or a variable kha maps is an error (with a
 * did-you-mean when one is close), not silently ignored.
 */
function readExtraVarsArgs(w: Walk, args: readonly ExtraVarsArg[], docs: VarDoc[]): void {
  for (const a of args) {
    const key = varFileKey(docs.length);
    const doc: VarDoc = { display: a.display, lineOf: () => undefined, extra: true, ...(a.text === undefined || a.display === '-e' ? { noLines: true } : {}) };
    docs.push(doc);
    let vars: YMap;
    if (a.text !== undefined) {
      const parsed = parseYamlText(a.text, a.display);
      doc.lineOf = parsed.lineOf;
      if (parsed.value === null) continue;
      // what it holds is not shown: a file of one line may well be a password file
      if (!(parsed.value instanceof Map))
        throw w.fail(
          [key],
          `holds ${Array.isArray(parsed.value) ? 'a list' : 'a single value'}, not variables; write one name: value per line (or a JSON object)`,
        );
      vars = parsed.value;
    } else vars = new Map(a.pairs ?? []);
    const baseDir = w.baseDir;
    w.baseDir = a.baseDir;
    try {
      const block = w.block(vars, [key], false);
      for (const k of block.vars.keys()) checkExtraVar(String(k), [key, block.written?.[String(k)] ?? String(k)], w.fail);
      w.extra.push(block);
    } finally {
      w.baseDir = baseDir;
    }
  }
}

/** checkVar has refused what is close to a known name; anything else unknown is refused here. */
function checkExtraVar(key: string, p: string[], fail: Fail): void {
  if (isConnectionVar(key) || isSettingName(key) || isForeignVar(key)) return;
  throw fail(p, `not a kha setting or connection variable, and kha reads nothing else from -e; kha inventory -i ... lists the settings`);
}

/** The connection flags (-u, --private-key, -b) a variable given with -e overrides, as in Ansible. */
function flagsNotOverridden(o: ConnectionOverrides, extra: readonly VarBlock[]): ConnectionOverrides {
  const set = new Set(extra.flatMap((b) => [...b.vars.keys()].map(String)));
  const { user, privateKey, become, ...rest } = o;
  return {
    ...rest,
    ...(user !== undefined && !set.has('ansible_user') && !set.has('ansible_ssh_user') ? { user } : {}),
    ...(privateKey !== undefined && !set.has('ansible_ssh_private_key_file') && !set.has('ansible_private_key_file') ? { privateKey } : {}),
    ...(become !== undefined && !set.has('ansible_become') ? { become } : {}),
  };
}

function checkStructure(w: Walk, main: MainFile, format: 'yaml' | 'ini'): void {
  if (w.hosts.size === 0) {
    throw w.fail(
      main.firstPath,
      format === 'yaml'
        ? "the inventory has no hosts; add hosts under all.hosts or under a group's hosts:"
        : 'the inventory has no hosts; add host lines under a [group] section',
    );
  }
  for (const h of w.hosts.values()) {
    if (w.groups.has(h.name)) throw w.fail(h.path, `${h.name} is both a host and a group; rename one of them`);
  }
}

/** Each group's ancestors, outermost first; a cycle is an error. */
interface GroupTree {
  ancestors(name: string): string[];
  /** by depth, then ansible_group_priority, then name (Ansible's sort_groups) */
  sort(names: string[]): string[];
}

function groupTree(groups: Map<string, GroupRec>, fail: Fail): GroupTree {
  const depthMemo = new Map<string, number>();
  const ancestorMemo = new Map<string, string[]>();
  const sort = (names: string[]) =>
    names.sort(
      (a, b) =>
        (depthMemo.get(a) ?? 0) - (depthMemo.get(b) ?? 0) || (groups.get(a)?.priority ?? 1) - (groups.get(b)?.priority ?? 1) || (a < b ? -1 : a > b ? 1 : 0),
    );
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
function mergeBlocks(blocks: readonly VarBlock[], vars: Record<string, unknown>, paths: Record<string, string[]>, fail: Fail): void {
  for (const b of blocks) {
    for (const [k, v] of b.vars) {
      const key = keyName(k, b.path, fail);
      vars[key] = plain(v, [...b.path, key], 0, fail);
      paths[key] = [...b.path, b.written?.[key] ?? key];
    }
  }
}

/** Each group's effective vars (all < ancestors < the group; inventory file, then group_vars/), recording the source paths. */
function mergeGroupVars(
  groups: Map<string, GroupRec>,
  tree: GroupTree,
  source: InventorySource,
  extra: readonly VarBlock[],
  fail: Fail,
): Record<string, Record<string, unknown>> {
  const groupVars: Record<string, Record<string, unknown>> = {};
  for (const g of groups.values()) {
    const vars: Record<string, unknown> = {};
    const paths: Record<string, string[]> = {};
    const chain = [...tree.ancestors(g.name), g.name].map((c) => groups.get(c));
    for (const c of chain) mergeBlocks(c?.blocks ?? [], vars, paths, fail);
    for (const c of chain) mergeBlocks(c?.fileBlocks ?? [], vars, paths, fail);
    mergeBlocks(extra, vars, paths, fail);
    groupVars[g.name] = vars;
    source.groupVarPaths[g.name] = paths;
    source.groupPaths[g.name] = g.path;
    source.groupAncestors[g.name] = tree.ancestors(g.name);
    const own: Record<string, string[]> = {};
    for (const b of [...g.blocks, ...g.fileBlocks]) {
      for (const k of b.vars.keys()) {
        const key = keyName(k, b.path, fail);
        own[key] = [...b.path, b.written?.[key] ?? key];
      }
    }
    source.ownVarPaths[g.name] = own;
  }
  return groupVars;
}

/**
 * Each host's vars (its groups by depth, then its own; each inventory file first, then the var
 * files; -e last) and connection; two hosts never share an address.
 */
function mergeHostVars(w: Walk, tree: GroupTree, source: InventorySource, overrides: ConnectionOverrides, fail: Fail): InventoryHost[] {
  const out: InventoryHost[] = [];
  const flags = flagsNotOverridden(overrides, w.extra);
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
    for (const g of hostGroups) mergeBlocks(w.groups.get(g)?.fileBlocks ?? [], vars, paths, fail);
    mergeBlocks(h.blocks, vars, paths, fail);
    mergeBlocks(h.fileBlocks, vars, paths, fail);
    mergeBlocks(w.extra, vars, paths, fail);
    source.hostPaths[h.name] = h.path;
    source.hostVarPaths[h.name] = paths;
    const connection = connectionOf(h.name, vars, flags);
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
  const keyFile = o.privateKey ?? val('ansible_ssh_private_key_file', 'ansible_private_key_file');
  const password = val('ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password');
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
