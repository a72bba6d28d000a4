// kha init: a starter inventory from flags, or from answers on a terminal. Every value is checked
// with the loader's own schemas as it comes in (one line naming the flag), and the whole text is
// loaded back through the real loader and settings before it is written, so init never writes
// an inventory kha up would refuse. The file is written once, atomically, never over another
// file unless asked.
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { ExitCode, InputError, KhaError } from '../errors.js';
import { createInventoryFile, FileExistsError } from '../inventory/edit.js';
import { HOST_NAME_RE, parseInventory, USER_RE } from '../inventory/load.js';
import type { HaSettings } from '../inventory/settings.js';
import { DEFAULT_TOP_PRIORITY, defaultPriorityStep, parseSetting, resolveSettings } from '../inventory/settings.js';
import { isIPv4 } from '../net/ipv4.js';

// ---- the virtual_router_id ----------------------------------------------------------------

/**
 * Ids that sample configs and guides use, so the ones most likely taken on a LAN already: 51 is
 * keepalived's sample and the kubeadm HA guide's (copied into most setups), 1 the first group of
 * many routers and firewalls, 10, 50, 52 and 100 other round or neighbouring ids samples use.
 * kha's own default stays 51 when an inventory sets none, so that existing clusters keep their id;
 * kha init writes an explicit one instead.
 */
export const COMMON_VRIDS: readonly number[] = [1, 10, 50, 51, 52, 100];

export interface VridChoice {
  id: number;
  /** octet: the VIP's last octet; hash: derived from the whole VIP (the octet was 0 or common) */
  from: 'octet' | 'hash';
}

/**
 * A virtual_router_id for a VIP, the same on every run: its last octet, so two clusters whose
 * VIPs share a /24 (one L2 segment, usually) never share an id; when that octet is 0 or a common
 * id, an FNV-1a hash of the address moved past the common ids.
 */
export function suggestVirtualRouterId(vip: string): VridChoice {
  const octet = Number(vip.split('.')[3]);
  if (octet >= 1 && octet <= 255 && !COMMON_VRIDS.includes(octet)) return { id: octet, from: 'octet' };
  let h = 0x811c9dc5;
  for (const ch of vip) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  let id = (h % 255) + 1;
  while (COMMON_VRIDS.includes(id)) id = (id % 255) + 1;
  return { id, from: 'hash' };
}

// ---- the values, checked one by one --------------------------------------------------------

export interface InitHost {
  name: string;
  address: string;
}

/** What kha init writes, every value checked. */
export interface InitSpec {
  vip: string;
  /** the first is the primary (highest priority) */
  masters: InitHost[];
  nodes: InitHost[];
  user?: string;
  become: boolean;
  iface?: string;
  virtualRouterId: number;
  /** how the id was chosen: from --virtual-router-id (or the answer), or suggested */
  vridFrom: VridChoice['from'] | 'given';
}

/** The flags as typed (repeated --master / --node in order). */
export interface InitFlags {
  vip?: string | undefined;
  master?: string[] | undefined;
  node?: string[] | undefined;
  user?: string | undefined;
  become?: boolean | undefined;
  interface?: string | undefined;
  'virtual-router-id'?: string | undefined;
}

/** Questions on a terminal (src/cli/prompt.ts lineAsker); absent without one. */
export interface Asker {
  ask(question: string): Promise<string>;
  tell(line: string): void;
}

/** the first clause of a schema's message (the rest says how to fix the inventory, not the flag) */
const clause = (msg: string) => msg.split('; ')[0] ?? msg;

export function checkVip(v: string): string {
  const r = parseSetting('vip', v.trim());
  if (!r.ok) throw new InputError(`--vip: ${clause(r.message)}; pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100`);
  return r.value;
}

export function checkUser(v: string): string {
  if (!USER_RE.test(v) || v.length > 32) {
    throw new InputError(
      `--user: ${JSON.stringify(v)} is not a valid user name; use a name like ubuntu (lowercase letters, digits, _ . -, starting with a letter or _)`,
    );
  }
  return v;
}

export function checkInterface(v: string): string {
  const r = parseSetting('vrrp_interface', v);
  if (!r.ok || r.value === undefined) throw new InputError(`--interface: ${r.ok ? 'empty' : r.message}`);
  return r.value;
}

export function checkVirtualRouterId(v: string): number {
  const r = parseSetting('virtual_router_id', v.trim());
  if (!r.ok) throw new InputError(`--virtual-router-id: ${r.message}`);
  return r.value;
}

/** `name=IPv4` from --master or --node; names and addresses are checked as the loader and settings check them. */
export function parseHostFlag(flag: '--master' | '--node', value: string): InitHost {
  const eq = value.indexOf('=');
  const example = flag === '--master' ? 'm1=10.0.0.11' : 'n1=10.0.0.21';
  if (eq < 0) throw new InputError(`${flag}: ${JSON.stringify(value)} is not name=address; pass it as ${flag} ${example}`);
  const name = value.slice(0, eq).trim();
  const address = value.slice(eq + 1).trim();
  if (!HOST_NAME_RE.test(name) || name.length > 253) {
    throw new InputError(
      `${flag}: ${JSON.stringify(name)} is not a valid host name; use letters, digits, '.', '_' and '-', starting with a letter or digit, as in ${flag} ${example}`,
    );
  }
  if (!isIPv4(address)) {
    throw new InputError(
      `${flag} ${name}: ${JSON.stringify(address)} is not an IPv4 address; keepalived and haproxy need each host's IPv4, as in ${flag} ${example}`,
    );
  }
  return { name, address };
}

/** Names and addresses unique, the VIP nobody's address. */
export function checkHosts(vip: string, masters: InitHost[], nodes: InitHost[]): void {
  const byName = new Map<string, string>();
  const byAddress = new Map<string, string>();
  for (const [flag, list] of [
    ['--master', masters],
    ['--node', nodes],
  ] as const) {
    for (const h of list) {
      const sameName = byName.get(h.name);
      if (sameName) throw new InputError(`${flag} ${h.name}: ${h.name} is already given (${sameName}); give each host its own name`);
      const sameAddress = byAddress.get(h.address);
      if (sameAddress) throw new InputError(`${flag} ${h.name}: ${h.address} is already the address of ${sameAddress}; give each host its own address`);
      if (h.address === vip) throw new InputError(`--vip: ${vip} is the address of ${h.name}; the VIP must be a free address in the masters' subnet`);
      byName.set(h.name, `${flag} ${h.name}`);
      byAddress.set(h.address, h.name);
    }
  }
  if (masters.length === 0) throw new InputError('--master is required: pass each master as --master NAME=IPV4, the primary first');
}

// ---- gathering: flags first, then questions for what is missing -----------------------------

const MAX_TRIES = 5;

/** Ask until `check` accepts the answer (its error line is shown, then the question again). */
async function askChecked<T>(asker: Asker, question: string, check: (answer: string) => T): Promise<T> {
  for (let i = 1; ; i++) {
    const answer = await asker.ask(question);
    try {
      return check(answer);
    } catch (err) {
      if (!(err instanceof InputError) || i >= MAX_TRIES) throw err;
      asker.tell(`  ${err.message}`);
    }
  }
}

/** An optional value: the flag's, checked; else, when asking, the checked answer (Enter: none); else none. */
async function optionalValue<T>(given: string | undefined, check: (v: string) => T, ask: Asker | undefined, question: string): Promise<T | undefined> {
  if (given !== undefined) return check(given);
  return ask ? askChecked(ask, question, (a) => (a ? check(a) : undefined)) : undefined;
}

const splitList = (s: string) => s.split(/[\s,]+/).filter(Boolean);

/**
 * The spec from the flags; when a required one (--vip, --master) is missing, `asker` (a terminal)
 * is asked for it and for every optional value not given, else that flag is named in an error.
 */
export async function gatherInit(flags: InitFlags, asker?: Asker): Promise<InitSpec> {
  const missing = flags.vip === undefined ? '--vip' : !flags.master?.length ? '--master' : undefined;
  const ask = missing !== undefined ? asker : undefined;
  if (missing !== undefined && !ask) {
    throw new InputError(
      missing === '--vip'
        ? "--vip is required: pass a free IPv4 address in the masters' subnet, e.g. --vip 10.0.0.100 (there is no terminal to ask on)"
        : '--master is required: pass each master as --master NAME=IPV4, the primary first, e.g. --master m1=10.0.0.11 (there is no terminal to ask on)',
    );
  }
  const vip = flags.vip !== undefined ? checkVip(flags.vip) : await askChecked(ask!, "VIP (a free IPv4 address in the masters' subnet): ", (a) => checkVip(a));
  const masters = flags.master?.length
    ? flags.master.map((m) => parseHostFlag('--master', m))
    : await askChecked(ask!, 'masters, the primary first (name=IPv4, separated by spaces): ', (a) => {
        const list = splitList(a).map((m) => parseHostFlag('--master', m));
        if (!list.length) throw new InputError('give at least one master, as in m1=10.0.0.11');
        checkHosts(vip, list, []);
        return list;
      });
  const nodes = flags.node?.length
    ? flags.node.map((n) => parseHostFlag('--node', n))
    : ask
      ? await askChecked(ask, 'worker nodes (name=IPv4, separated by spaces; Enter for none): ', (a) => {
          const list = splitList(a).map((n) => parseHostFlag('--node', n));
          checkHosts(vip, masters, list);
          return list;
        })
      : [];
  checkHosts(vip, masters, nodes);
  const user = await optionalValue(flags.user, checkUser, ask, 'SSH user (Enter for the user running kha): ');
  const become = flags.become ?? (ask ? await askChecked(ask, 'use sudo on the hosts (a user other than root)? [y/N] ', yesNo) : false);
  const iface = await optionalValue(flags.interface, checkInterface, ask, 'VRRP interface (Enter to let kha up find it on each host): ');
  const suggested = suggestVirtualRouterId(vip);
  const given = await optionalValue(flags['virtual-router-id'], checkVirtualRouterId, ask, `virtual_router_id [${suggested.id}]: `);
  return {
    vip,
    masters,
    nodes,
    ...(user !== undefined ? { user } : {}),
    become,
    ...(iface !== undefined ? { iface } : {}),
    virtualRouterId: given ?? suggested.id,
    vridFrom: given !== undefined ? 'given' : suggested.from,
  };
}

function yesNo(a: string): boolean {
  if (/^(y|yes)$/i.test(a)) return true;
  if (a === '' || /^(n|no)$/i.test(a)) return false;
  throw new InputError('answer y or n');
}

// ---- the text -----------------------------------------------------------------------------

/** A YAML scalar as the loader will read it back (quoted where it would not stay a string). */
const scalar = (v: string | number | boolean) => stringify(v).trimEnd();

/** `value` with `# comment` lined up at one column (or just `value`). */
function withComment(value: string, comment: string | undefined, col: number): string {
  return comment ? `${value.padEnd(col)} # ${comment}` : value;
}

function vridComment(spec: InitSpec): string[] {
  const why =
    spec.vridFrom === 'octet'
      ? ["This id is the VIP's last octet, so clusters whose VIPs share a /24 get different ids."]
      : spec.vridFrom === 'hash'
        ? [`This id is derived from the whole VIP: its last octet, ${spec.vip.split('.')[3]}, is ${spec.vip.endsWith('.0') ? 'no VRRP id' : 'one of those'}.`]
        : spec.virtualRouterId === 51
          ? ["Set with --virtual-router-id: 51 is keepalived's sample id, the one most likely taken."]
          : ['Set with --virtual-router-id.'];
  return [
    'Two VRRP groups with one virtual_router_id on an L2 segment fight over their addresses',
    '("bogus VRRP packet"). Not 51: keepalived\'s sample and the kubeadm HA guide use it, so it',
    `is the id most likely taken already (${COMMON_VRIDS.filter((id) => id !== 51).join(', ')} are common too).`,
    ...why,
    'kha up listens for another router using it before the first start.',
  ];
}

/** The inventory kha init writes: Ansible YAML with comments that say why. Pure. */
export function initInventoryText(spec: InitSpec): string {
  const col = 28;
  const v = (line: string, comment?: string) => `    ${withComment(line, comment, col)}`;
  const hosts = (list: InitHost[], comments: (i: number) => string | undefined) => {
    const lines = list.map((h) => `${scalar(h.name)}: { ansible_host: ${scalar(h.address)} }`);
    const width = Math.max(...lines.map((l) => l.length));
    return lines.map((l, i) => `        ${withComment(l, comments(i), width + 2)}`);
  };
  const step = defaultPriorityStep(spec.masters.length);
  const priority = (i: number) => Math.max(1, DEFAULT_TOP_PRIORITY - step * i);
  const lines = [
    '# A kha inventory (Ansible YAML), written by kha init. Every setting, its default and why:',
    '# README.md, "Inventory reference". kubespray\'s kube_control_plane and kubeasz\'s kube_master',
    '# groups work as the masters group too.',
    'all:',
    '  vars:',
    spec.user !== undefined ? v(`ansible_user: ${scalar(spec.user)}`) : v('# ansible_user: ubuntu', 'default: the user running kha'),
    spec.become ? v('ansible_become: true', 'sudo; -K asks for its password') : v('# ansible_become: true', 'sudo, for a user other than root'),
    v('# ansible_ssh_private_key_file: ~/.ssh/id_ed25519'),
    '',
    v(`vip: ${scalar(spec.vip)}`, "a free address in the masters' subnet"),
    ...vridComment(spec).map((c) => `    # ${c}`),
    v(`virtual_router_id: ${spec.virtualRouterId}`),
    spec.iface !== undefined
      ? v(`vrrp_interface: ${scalar(spec.iface)}`, "on every master (default: the one in the VIP's subnet)")
      : v('# vrrp_interface: eth0', "default: the interface in the VIP's subnet"),
    '    # VRRP authentication (optional, at most 8 characters). Keep the password out of this file:',
    '    #   vrrp_auth_pass: ${env:KHA_VRRP_PASS}    # from an environment variable, or',
    "    #   vrrp_auth_pass_file: ~/.kha/vrrp-pass   # the file's first line (mode 0600)",
    v('# vrrp_unicast: true', 'for networks that drop multicast (most clouds)'),
    v('# lb_algorithm: leastconn', 'better for long watch connections'),
    ...(spec.nodes.length ? [v('# node_local_proxy: true', 'a local apiserver proxy on every node')] : []),
    '  children:',
    '    masters:',
    '      hosts:',
    ...hosts(spec.masters, (i) => (i === 0 ? `the primary: highest priority (${priority(0)})` : `priority ${priority(i)}`)),
    ...(spec.nodes.length ? ['    nodes:', '      hosts:', ...hosts(spec.nodes, () => undefined)] : []),
  ];
  return `${lines.join('\n')}\n`;
}

// ---- loaded back, then written --------------------------------------------------------------

/**
 * Load `text` through the real loader and settings, and check it says what `spec` says. A text
 * the loader refuses is bad input (its line says why); one that loads as something else is a bug.
 */
export function checkInitText(text: string, file: string, spec: InitSpec): HaSettings {
  const inv = parseInventory(text, file, {}, { env: {}, baseDir: path.dirname(path.resolve(file)) });
  const s = resolveSettings(inv);
  const byName = new Map(inv.hosts.map((h) => [h.name, h] as const));
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => void (ok || problems.push(what));
  expect(s.vip === spec.vip, `vip ${s.vip}`);
  expect(s.virtualRouterId === spec.virtualRouterId, `virtual_router_id ${s.virtualRouterId}`);
  expect(s.masters.join() === spec.masters.map((m) => m.name).join(), `masters ${s.masters.join(', ')}`);
  expect(s.primary === spec.masters[0]?.name, `primary ${s.primary}`);
  expect((inv.groups['nodes'] ?? []).join() === spec.nodes.map((n) => n.name).join(), `nodes ${(inv.groups['nodes'] ?? []).join(', ')}`);
  for (const h of [...spec.masters, ...spec.nodes]) {
    const c = byName.get(h.name)?.connection;
    expect(c?.address === h.address, `${h.name}'s address ${c?.address}`);
    if (spec.user !== undefined) expect(c?.user === spec.user, `${h.name}'s user ${c?.user}`);
    expect(c?.become === spec.become, `${h.name}'s become ${c?.become}`);
  }
  for (const m of spec.masters) expect(s.hosts[m.name]?.interface === spec.iface, `${m.name}'s interface ${s.hosts[m.name]?.interface}`);
  if (problems.length) throw new Error(`kha init: the text it wrote loads back differently (${problems.join('; ')}); this is a bug in kha init`);
  return s;
}

export interface InitResult {
  /** the file written (absolute) */
  file: string;
  /** the previous file, with --force over an existing one */
  backup?: string;
  hosts: Array<{ name: string; group: 'masters' | 'nodes'; address: string; priority?: number }>;
  vip: string;
  virtual_router_id: number;
  /** said on stderr: e.g. the id given is the common 51 */
  warnings: string[];
}

/** The refusal when the output exists: before any question is asked, and again at the write. */
export function refuseExisting(file: string): KhaError {
  return new KhaError(
    `${file} already exists; kha init does not overwrite it: pass --force to replace it (the old file is kept as ${file}.bak), or -o to write another file`,
    { code: 'E_FILE_EXISTS', exit: ExitCode.usage },
  );
}

/** Refuse an output that exists (a file, a directory, a symlink, even a dangling one). */
export function checkOutputFree(file: string): void {
  try {
    lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new InputError(`${file}: cannot be checked (${(err as NodeJS.ErrnoException).code}); pass -o with a path in a directory you can write`);
  }
  throw refuseExisting(file);
}

/** Check, load back, write. */
export function writeInit(file: string, spec: InitSpec, opts: { force: boolean }): InitResult {
  const text = initInventoryText(spec);
  const s = checkInitText(text, file, spec);
  let written: { target: string; backup?: string };
  try {
    written = createInventoryFile(file, text, { replace: opts.force });
  } catch (err) {
    if (err instanceof FileExistsError) throw refuseExisting(file);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EROFS' || code === 'ENOTDIR') {
      const why = code === 'ENOENT' ? 'its directory does not exist' : code === 'EACCES' ? 'permission denied' : code;
      throw new InputError(`-o ${file}: cannot write it (${why}); pass -o with a path in a directory you can write`);
    }
    throw err;
  }
  return {
    file: written.target,
    ...(written.backup ? { backup: written.backup } : {}),
    hosts: [
      ...spec.masters.map((m) => ({ name: m.name, group: 'masters' as const, address: m.address, priority: s.hosts[m.name]!.priority })),
      ...spec.nodes.map((n) => ({ name: n.name, group: 'nodes' as const, address: n.address })),
    ],
    vip: spec.vip,
    virtual_router_id: spec.virtualRouterId,
    warnings: COMMON_VRIDS.includes(spec.virtualRouterId)
      ? [
          `virtual_router_id ${spec.virtualRouterId} is one that sample configs use, so likely taken on a busy network; kha up's preflight listens for another router using it`,
        ]
      : [],
  };
}
