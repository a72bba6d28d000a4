// YAML playbooks: a list of plays that name hosts (group or host names), tasks and handlers,
// with serial and max_fail_percentage, Ansible-shaped so an operator can read what will run.
//
// Values that reach a shell are checked here, before any connection: wait_for.host is an IP
// address or a DNS name, owner/group a user/group name or a numeric id (bad input, exit 4).
//
//   - name: haproxy everywhere
//     hosts: masters
//     serial: "20%"
//     tasks:
//       - package: { names: [haproxy] }
//       - copy: { path: /etc/haproxy/haproxy.cfg, src: haproxy.cfg, mode: "0644", validate: haproxy -c -f %s }
//         notify: [reload haproxy]
//       - service: { name: haproxy, state: started, enabled: true }
//     handlers:
//       - name: reload haproxy
//         service: { name: haproxy, state: reloaded }
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { Handler, Play, Task } from '../engine/types.js';
import { validateSerial } from '../engine/serial.js';
import { InputError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import { commandModule, fileModule, packageModule, serviceModule, sysctlModule, templateModule, waitForModule } from '../modules/index.js';
import { tcpConnectScript } from '../actions/probes.js';

/** IPv4, IPv6 (no brackets, no zone) or a DNS name: nothing a shell or /dev/tcp could read as more. Pure. */
export function isHostAddress(s: string): boolean {
  if (isIP(s) !== 0) return !s.includes('%');
  const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
  return s.length <= 253 && new RegExp(`^${label}(?:\\.${label})*\\.?$`).test(s);
}

/** A user or group name as useradd/groupadd accept it (at most 32 characters), or a numeric id. Pure. */
export function isOwnerName(s: string): boolean {
  return /^(?=.{1,32}$)(?:[a-z_][a-z0-9_-]*[$]?|[0-9]{1,10})$/.test(s);
}

/** A string field that must pass `ok`; the message shows the value (JSON: one line, whatever it holds). */
const checked = (ok: (s: string) => boolean, what: string) =>
  z.preprocess(
    (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : v),
    z.string().superRefine((v, ctx) => {
      if (!ok(v)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not ${what}` });
    }),
  );
const host = checked(isHostAddress, 'an IPv4 or IPv6 address or a DNS name (e.g. 127.0.0.1, ::1, api.example.com)');
const owner = checked(isOwnerName, 'a user name (lower case letters, digits, _ and -, as useradd takes) or a numeric uid');
const group = checked(isOwnerName, 'a group name (lower case letters, digits, _ and -, as groupadd takes) or a numeric gid');

const mode = z
  .union([z.string().regex(/^0?[0-7]{3,4}$/, 'a mode like "0644"'), z.number().int()])
  .transform((m) => (typeof m === 'number' ? parseInt(String(m), 8) : parseInt(m, 8)));
const words = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean)));

const moduleSchemas = {
  package: z.strictObject({
    names: z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v])),
    state: z.enum(['present', 'latest']).optional(),
  }),
  file: z.strictObject({
    path: z.string(),
    state: z.enum(['directory', 'absent', 'file']),
    mode: mode.optional(),
    owner: owner.optional(),
    group: group.optional(),
  }),
  copy: z.strictObject({
    path: z.string(),
    content: z.string().optional(),
    src: z.string().optional(),
    mode,
    owner: owner.optional(),
    group: group.optional(),
    validate: words.optional(),
  }),
  service: z.strictObject({
    name: z.string(),
    state: z.enum(['started', 'stopped', 'restarted', 'reloaded']).optional(),
    enabled: z.boolean().optional(),
    daemon_reload: z.boolean().optional(),
  }),
  command: z.strictObject({ argv: z.array(z.string()).min(1), creates: z.string().optional(), unless: z.array(z.string()).optional() }),
  sysctl: z.strictObject({ name: z.string(), value: z.union([z.string(), z.number()]).transform(String) }),
  wait_for: z.strictObject({
    argv: z.array(z.string()).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    host: host.optional(),
    timeout: z.number().positive().default(30),
    interval: z.number().positive().default(0.5),
  }),
};
type ModuleName = keyof typeof moduleSchemas;
const MODULES = Object.keys(moduleSchemas) as ModuleName[];

const taskBase = { name: z.string().optional(), notify: z.union([z.string(), z.array(z.string())]).optional() };
const playSchema = z.strictObject({
  name: z.string(),
  hosts: z.union([z.string(), z.array(z.string())]),
  serial: z.union([z.number(), z.string(), z.array(z.union([z.number(), z.string()]))]).optional(),
  max_fail_percentage: z.number().min(0).max(100).optional(),
  tasks: z.array(z.record(z.string(), z.unknown())).default([]),
  handlers: z.array(z.record(z.string(), z.unknown())).default([]),
});

/** Where a task is, for its module's builder: its own name (titles), its place (errors), the playbook's directory (copy's src). */
interface TaskSite {
  name: string | undefined;
  where: string;
  baseDir: string;
}

type Built = Pick<Task<any>, 'module' | 'params'>;

/** Each module's task from its checked arguments. */
const builders: { [M in ModuleName]: (p: z.output<(typeof moduleSchemas)[M]>, t: TaskSite) => Built } = {
  package: (p) => ({ module: packageModule, params: { names: p.names, ...(p.state ? { state: p.state } : {}) } }),
  file: (p) => ({ module: fileModule, params: p }),
  copy: (p, t) => {
    if ((p.content === undefined) === (p.src === undefined)) throw new InputError(`${t.where}.copy: give exactly one of content and src`);
    const content = p.content ?? readFileSync(resolve(t.baseDir, p.src!), 'utf8');
    const { path, mode, owner, group, validate } = p;
    return {
      module: templateModule,
      params: { path, content, mode, ...(owner ? { owner } : {}), ...(group ? { group } : {}), ...(validate ? { validate } : {}) },
    };
  },
  service: (p) => ({
    module: serviceModule,
    params: {
      name: p.name,
      ...(p.state ? { state: p.state } : {}),
      ...(p.enabled !== undefined ? { enabled: p.enabled } : {}),
      ...(p.daemon_reload ? { daemonReload: true } : {}),
    },
  }),
  command: (p, t) => ({
    module: commandModule,
    params: {
      cmd: { argv: p.argv },
      ...(p.creates ? { creates: p.creates } : {}),
      ...(p.unless ? { unless: { argv: p.unless } } : {}),
      title: t.name ?? `run ${p.argv.join(' ')}`,
    },
  }),
  sysctl: (p) => ({ module: sysctlModule, params: p }),
  wait_for: (p, t) => {
    if (!p.argv && !p.port) throw new InputError(`${t.where}.wait_for: give argv (a command that must succeed) or port`);
    const cmd = p.port ? { script: tcpConnectScript(p.host ?? '127.0.0.1', p.port) } : { argv: p.argv! };
    const title = t.name ?? (p.port ? `wait for ${p.host ?? '127.0.0.1'}:${p.port}` : `wait for ${p.argv!.join(' ')}`);
    return { module: waitForModule, params: { title, cmd, timeoutMs: p.timeout * 1000, intervalMs: p.interval * 1000 } };
  },
};

function toTask(raw: Record<string, unknown>, where: string, baseDir: string): Task<any> {
  const m = taskModule(raw, where);
  const name = typeof raw.name === 'string' ? raw.name : undefined;
  const parsed = moduleSchemas[m].safeParse(raw[m]);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new InputError(
      `${where}.${m}${i.path.length ? `.${i.path.join('.')}` : ''}${name !== undefined ? ` (task ${JSON.stringify(name)})` : ''}: ${i.message}`,
    );
  }
  const notify = raw.notify === undefined ? undefined : Array.isArray(raw.notify) ? (raw.notify as string[]) : [String(raw.notify)];
  const build = builders[m] as (p: unknown, t: TaskSite) => Built;
  return { ...(name ? { name } : {}), ...(notify ? { notify } : {}), ...build(parsed.data, { name, where, baseDir }) };
}

/** The task's one module; unknown keys and no module or several are bad input. */
function taskModule(raw: Record<string, unknown>, where: string): ModuleName {
  const mods = Object.keys(raw).filter((k) => k in moduleSchemas);
  const unknown = Object.keys(raw).filter((k) => !(k in moduleSchemas) && !(k in taskBase));
  if (unknown.length) throw new InputError(`${where}: unknown key ${unknown[0]}; a task has name, notify and one module of ${MODULES.join(', ')}`);
  if (mods.length !== 1)
    throw new InputError(`${where}: a task needs exactly one module (${MODULES.join(', ')}), found ${mods.length ? mods.join(', ') : 'none'}`);
  return mods[0] as ModuleName;
}

/** Resolve a play's `hosts:` (host or group names, or `all`) against the inventory. */
export function resolvePlayHosts(inv: Inventory, hosts: string | string[], where: string): string[] {
  const names = (Array.isArray(hosts) ? hosts : hosts.split(/[,:]/)).map((h) => h.trim()).filter(Boolean);
  const out: string[] = [];
  for (const n of names) {
    const members = n === 'all' ? inv.hosts.map((h) => h.name) : (inv.groups[n] ?? (inv.hosts.some((h) => h.name === n) ? [n] : undefined));
    if (!members) throw new InputError(`${where}.hosts: ${n} is neither a host nor a group of the inventory`);
    for (const m of members) if (!out.includes(m)) out.push(m);
  }
  return out;
}

export function parsePlaybook(text: string, file: string, inv: Inventory): Play[] {
  const doc = parseDocument(text);
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new InputError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: YAML syntax error: ${e.message.split('\n')[0]}`);
  }
  const data = doc.toJS();
  if (!Array.isArray(data)) throw new InputError(`${file}: a playbook is a list of plays (- name: ..., hosts: ..., tasks: [...])`);
  return data.map((raw, i) => {
    const where = `${file}: play ${i + 1}`;
    const parsed = playSchema.safeParse(raw);
    if (!parsed.success) {
      const is = parsed.error.issues[0]!;
      throw new InputError(`${where}${is.path.length ? `.${is.path.join('.')}` : ''}: ${is.message}`);
    }
    const p = parsed.data;
    if (p.serial !== undefined) validateSerial(p.serial, `${where}.serial`);
    const baseDir = dirname(resolve(file));
    const tasks = p.tasks.map((t, j) => toTask(t, `${where}.tasks[${j}]`, baseDir));
    const handlers = p.handlers.map((t, j) => {
      const task = toTask(t, `${where}.handlers[${j}]`, baseDir);
      if (!task.name) throw new InputError(`${where}.handlers[${j}]: a handler needs a name (tasks notify it by name)`);
      return task as Handler<any>;
    });
    for (const [j, t] of tasks.entries()) {
      for (const n of t.notify ?? [])
        if (!handlers.some((h) => h.name === n)) throw new InputError(`${where}.tasks[${j}].notify: no handler named ${JSON.stringify(n)}`);
    }
    return {
      name: p.name,
      hosts: resolvePlayHosts(inv, p.hosts, where),
      tasks,
      handlers,
      ...(p.serial !== undefined ? { serial: p.serial } : {}),
      ...(p.max_fail_percentage !== undefined ? { maxFailPercentage: p.max_fail_percentage } : {}),
    } satisfies Play;
  });
}

export function loadPlaybook(file: string, inv: Inventory): Play[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      `${file}: ${code === 'ENOENT' ? 'playbook not found; pass the path of a YAML playbook (examples in playbooks/)' : code === 'EISDIR' ? 'is a directory; pass a playbook file' : `cannot read the playbook (${code})`}`,
    );
  }
  return parsePlaybook(text, file, inv);
}
