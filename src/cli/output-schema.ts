// The --json document of every command, as zod 4 schemas: the envelope (src/report/json.ts) with
// each command's result. `npm run schema` writes schema/kha-output.schema.json from them (a unit
// test fails when the committed file is stale), and the tests parse real output with them.
//
// Not imported at run time (start-up): only by the schema script and the tests. Every result
// schema is checked against the type the code builds (schemaOf), so a field added to a result
// type fails to compile until the schema (and the README's JSON output section) says what it is.
import { z } from 'zod';
import type { DrainResult } from '../actions/drain.js';
import type { DrillResult } from '../actions/drill.js';
import type { InitResult } from '../actions/init.js';
import type { InventoryReport } from '../actions/inventory.js';
import type { MembersResult } from '../actions/members.js';
import type { PlaybookResult } from '../actions/play.js';
import type { RenderResult } from '../actions/render.js';
import type { ResetReport } from '../actions/reset.js';
import type { UpResult } from '../actions/rollout.js';
import type { StatusResult } from '../actions/status.js';
import type { UpgradeReport } from '../actions/upgrade.js';
import type { LabUpResult } from '../commands/lab/up.js';
import type { MonitoringRulesResult } from '../commands/monitoring/rules.js';
import type { MonitoringScrapeResult } from '../commands/monitoring/scrape-config.js';
import type { VersionResult } from '../commands/version.js';
import { ERROR_CODES } from '../errors.js';
import { SETTING_NAMES, type SettingName } from '../inventory/settings.js';
import { OUTPUT_FORMAT, type KhaOutput } from '../report/json.js';

/** ids ($defs in the JSON Schema) and descriptions; a registry of this module's own, not zod's global one */
const defs = z.registry<{ id?: string; title?: string; description?: string }>();
/** s with a description (a copy: the same schema is described differently where it is used) */
const about = <S extends z.ZodType>(s: S, description: string): S => {
  const c = s.clone() as S;
  defs.add(c, { description });
  return c;
};
const named = <S extends z.ZodType>(id: string, description: string, s: S): S => {
  defs.add(s, { id, description });
  return s;
};

/** A schema for T: does not compile when a value of T (what the code builds) would not parse. */
const schemaOf =
  <T>() =>
  <S extends z.ZodType>(s: S & ([T] extends [z.input<S>] ? unknown : never)): S =>
    s;

const count = z.int().nonnegative();
const host = about(z.string(), 'an inventory host name');
const hosts = z.array(host);

// ---- the envelope's parts --------------------------------------------------------------------

const hostRecap = named(
  'HostRecap',
  "one host's task counts (as Ansible's recap)",
  z.strictObject({ ok: count, changed: count, failed: count, unreachable: count, skipped: count }),
);

const task = named(
  'Task',
  'one task on one host, as it ended',
  z.strictObject({
    type: z.literal('task'),
    host,
    task: z.string(),
    status: z.enum(['ok', 'changed', 'failed', 'unreachable', 'skipped']),
    why: about(z.string().optional(), 'why nothing was needed, or what was done'),
    diff: about(z.string().optional(), 'unified diff (--diff)'),
    error: z.string().optional(),
    ms: z.number().nonnegative(),
    check: about(z.boolean(), '--check: nothing was changed'),
  }),
);

const message = named(
  'Message',
  'what a human sees as a line of its own (warnings also go to stderr)',
  z.strictObject({ type: z.literal('message'), level: z.enum(['info', 'warn', 'error']), host: host.optional(), text: z.string() }),
);

const outputError = named(
  'Error',
  'why the command failed (null when ok)',
  z.strictObject({
    code: about(z.enum(ERROR_CODES), 'stable: scripts match on it'),
    message: about(z.string(), 'the line a human sees after error: (secrets masked)'),
    hosts: about(hosts, 'the hosts it is about (failed, unreachable, refused); [] when none'),
    hint: about(z.string().nullable(), 'what to try next, or null'),
  }),
);

// ---- each command's result ------------------------------------------------------------------

const upResult = schemaOf<UpResult>()(
  named(
    'UpResult',
    'kha up: the verified cluster (null when the run failed before Verify)',
    z.strictObject({
      vip: z.string(),
      frontendPort: count,
      holder: host.nullable(),
      endpoint: about(z.string(), 'VIP:frontend_port'),
      hosts: z.array(
        z.strictObject({
          name: host,
          address: z.string(),
          interface: z.string(),
          priority: count,
          primary: z.boolean(),
          holdsVip: z.boolean(),
          backendsUp: count.optional(),
          backendsTotal: count.optional(),
        }),
      ),
      changed: z.boolean(),
      apiserversUp: about(count, 'apiservers haproxy on the holder counts up'),
      bootstrap: about(z.boolean(), 'no apiserver answers yet (before kubeadm init)'),
      nextSteps: about(z.array(z.string()).optional(), 'what to run next, when bootstrap'),
    }),
  ),
);

const upgradeResult = schemaOf<UpgradeReport>()(
  named(
    'UpgradeResult',
    'kha upgrade: the roll (also when it stopped)',
    z.strictObject({
      order: about(z.array(hosts), 'the batches, the VIP holder last'),
      holderBefore: host.nullable(),
      holderAfter: host.nullable(),
      done: hosts,
      failed: hosts,
      untouched: hosts,
      unchanged: hosts,
      stopped: z.boolean(),
      stopReason: z.string().optional(),
      handover: z.strictObject({ from: host, to: host, ms: z.number().nonnegative() }).optional(),
    }),
  ),
);

const membersResult = schemaOf<MembersResult>()(
  named(
    'MembersResult',
    'kha add-master, kha remove-master: the hosts and the inventory file',
    z.strictObject({
      holder: host.nullable(),
      inventoryWritten: z.boolean(),
      inventoryError: about(z.string().optional(), 'why the file was not written although the hosts were changed (exit 2)'),
      inventoryEdit: about(
        z
          .discriminatedUnion('kind', [
            z.strictObject({ kind: z.literal('add'), under: z.string(), line: z.string() }),
            z.strictObject({ kind: z.literal('remove'), from: z.array(z.string()), lines: z.array(z.string()) }),
          ])
          .optional(),
        'the edit to make by hand then',
      ),
      hosts: about(z.record(z.string(), z.string()), 'host -> where the change left it'),
    }),
  ),
);

const resetResult = schemaOf<ResetReport>()(
  named(
    'ResetResult',
    'kha reset: what was (or, with --check, would be) removed',
    z.strictObject({
      check: z.boolean(),
      purge: z.boolean(),
      changed: z.boolean(),
      holders: about(hosts, 'the hosts that held the VIP before'),
      order: z.array(hosts),
      hosts,
      plan: about(z.record(z.string(), z.array(z.string())), 'host -> what the plan found to remove ([]: nothing of kha)'),
      packages: about(z.record(z.string(), z.string()), 'host -> what --purge does there'),
    }),
  ),
);

const playResult = schemaOf<PlaybookResult>()(
  named(
    'PlayResult',
    "kha play: every play's outcome",
    z.strictObject({
      plays: z.array(
        z.strictObject({
          play: z.string(),
          done: hosts,
          failed: hosts,
          unreachable: hosts,
          untouched: about(hosts, 'in batches that never ran because the play stopped'),
          stopped: z.boolean(),
          stopReason: z.string().optional(),
        }),
      ),
      handshakes: about(count, 'SSH logins'),
    }),
  ),
);

const service = z.strictObject({ active: about(z.string(), 'systemctl is-active, or unknown'), version: z.string().nullable() });
const statusResult = schemaOf<StatusResult>()(
  named(
    'StatusResult',
    "kha status: who holds the VIP, and each load balancer's and node's state",
    z.strictObject({
      vip: z.string(),
      frontendPort: count,
      holders: hosts,
      healthy: z.boolean(),
      problem: z.string().optional(),
      holderUnknown: about(z.string().optional(), 'no holder seen and not every host asked: never "no host holds the VIP" then'),
      unreachable: about(z.array(z.strictObject({ host, reason: z.string() })).optional(), 'the hosts that could not be asked, each with why'),
      notAsked: about(hosts.optional(), 'the hosts --limit left out'),
      bootstrap: z.boolean(),
      managed: about(z.boolean().optional(), 'false: kha manages nothing here (after kha reset), exit 0'),
      certProblems: z.array(z.string()),
      certNote: z.string().optional(),
      hosts: z.array(
        z.strictObject({
          name: host,
          address: z.string(),
          via: about(z.string().optional(), 'the jump hosts'),
          reachable: z.boolean(),
          error: z.string().optional(),
          vrrpState: z.string(),
          holdsVip: z.boolean(),
          keepalived: service,
          haproxy: service,
          backendsUp: count.nullable(),
          backendsTotal: count.nullable(),
          backendsDown: about(z.array(z.string()), 'servers not UP (a drained one only when its health check fails too)'),
          backendsDrained: about(z.array(z.string()).optional(), 'servers drained on the stats socket (kha drain): no new connection goes to them'),
          drift: about(z.array(z.string()), 'managed files that differ from what the inventory renders'),
          managed: z.boolean().optional(),
        }),
      ),
      nodes: z.array(
        z.strictObject({
          name: host,
          address: z.string(),
          proxy: z.enum(['haproxy', 'nginx']),
          active: about(z.string(), 'systemctl is-active, or unreachable'),
          backendsUp: count.nullable(),
          backendsTotal: count.nullable(),
          backendsDrained: about(z.array(z.string()).optional(), 'haproxy: servers drained on its stats socket (kha drain)'),
          error: z.string().optional(),
          managed: z.boolean().optional(),
        }),
      ),
    }),
  ),
);

const ms = z.number().nonnegative();
const drillResult = schemaOf<DrillResult>()(
  named(
    'DrillResult',
    'kha drill: one entry per failover',
    z.strictObject({
      rounds: z.array(
        z.strictObject({
          round: count,
          mode: z.enum(['keepalived', 'haproxy', 'host']),
          holderBefore: host,
          newHolder: host.nullable(),
          vipMovedMs: about(ms.nullable(), 'polled over SSH every 100 ms'),
          vipMovedExactMs: about(ms.nullable(), "exact: the holder's clock at the failure to the new holder's kernel event adding the VIP"),
          vipReleasedExactMs: about(ms.nullable(), "exact: the failure to the old holder's kernel event deleting the VIP"),
          frontendAfterMoveMs: ms.nullable(),
          settledMs: ms.nullable(),
          holderAfter: host.nullable(),
          budgetMs: ms,
          withinBudget: z.boolean(),
        }),
      ),
    }),
  ),
);

const drainResult = schemaOf<DrainResult>()(
  named(
    'DrainResult',
    'kha drain, kha undrain: the master on every haproxy that lists it, and the figures of the waits',
    z.strictObject({
      server: about(host, 'the master drained or put back'),
      hosts: z.array(
        z.strictObject({
          host,
          role: z.enum(['load balancer', 'node']),
          status: about(z.string(), "haproxy's status of the server at the end: DRAIN, UP, DOWN, MAINT, UP 1/2, ..."),
          drained: z.boolean(),
          sessions: about(count, 'sessions open to it there: when kha stopped waiting (drain), at the end (undrain)'),
          drainedMs: about(ms.nullable().optional(), 'drain: ms from DRAIN until no session was left there; null: not within --timeout'),
          closed: about(count.optional(), '--shutdown-sessions: the sessions kha closed there'),
        }),
      ),
      skipped: about(z.array(z.strictObject({ host, reason: z.string() })), 'haproxy not running, not listing it, or nginx (no runtime API)'),
      drained: about(z.boolean(), 'drained on every haproxy that lists it, as kha ended'),
      drainMs: about(ms.nullable().optional(), 'drain: ms until no haproxy had a session open to it; null: --timeout came first'),
      sessionsLeft: about(count.optional(), 'drain: the sessions still open when kha stopped waiting'),
      cmd: about(
        z.strictObject({ argv: z.array(z.string()), exit: z.int().nullable(), signal: z.string().nullable(), ms }).optional(),
        'drain -- CMD: the command and how it ended',
      ),
      ready: about(
        z.strictObject({ from: host, ms: ms.nullable(), last: about(z.string(), 'the last HTTP status (000: no answer)') }).optional(),
        'the wait for the health path (undrain, drain -- CMD)',
      ),
      upMs: about(ms.nullable().optional(), 'ms from READY until every haproxy counted it UP; null: not within 15 s'),
    }),
  ),
);

const initResult = schemaOf<Omit<InitResult, 'warnings'>>()(
  named(
    'InitResult',
    'kha init: the inventory written',
    z.strictObject({
      file: about(z.string(), 'absolute path'),
      backup: about(z.string().optional(), 'the previous file (--force)'),
      hosts: z.array(z.strictObject({ name: host, group: z.enum(['masters', 'nodes']), address: z.string(), priority: count.optional() })),
      vip: z.string(),
      virtual_router_id: z.int().min(1).max(255),
    }),
  ),
);

const renderResult = schemaOf<RenderResult>()(
  named(
    'RenderResult',
    'kha render: the files kha up would write to one host',
    z.strictObject({
      host,
      files: z.array(
        z.strictObject({
          what: z.enum(['keepalived', 'haproxy', 'nginx', 'etc-hosts']),
          path: z.string(),
          content: z.string(),
          masked: about(z.array(z.string()), 'keywords whose values are shown as ********'),
        }),
      ),
      assumed: about(z.array(z.string()), 'facts assumed rather than given'),
    }),
  ),
);

const origin = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('default'), note: z.string().optional() }),
  z.strictObject({ kind: z.literal('inventory'), file: z.string(), line: count.nullable(), key: z.string() }),
  z.strictObject({
    kind: z.literal('extra-vars'),
    file: about(z.string(), '-e for KEY=VALUE, or the file of -e @FILE'),
    line: count.nullable(),
    key: z.string(),
  }),
  z.strictObject({
    kind: z.literal('mapped'),
    variable: z.string(),
    tool: z.string(),
    file: z.string(),
    line: count.nullable(),
    key: z.string(),
    note: z.string().optional(),
  }),
]);
const settings = z.partialRecord(
  z.enum(SETTING_NAMES as [SettingName, ...SettingName[]]),
  z.strictObject({ value: about(z.unknown(), 'secrets as ********'), from: origin }),
);
const inventoryResult = schemaOf<InventoryReport>()(
  named(
    'InventoryResult',
    'kha inventory: the inventory as kha resolved it',
    z.strictObject({
      inventory: z.strictObject({ file: z.string(), format: z.enum(['yaml', 'ini']), varFiles: z.array(z.string()) }),
      groups: z.strictObject({ masters: z.string(), loadBalancers: z.string(), nodes: z.string().nullable() }),
      hosts: z.array(
        z.strictObject({
          name: host,
          groups: z.array(z.string()),
          roles: z.array(z.enum(['master', 'load balancer', 'node'])),
          address: z.string(),
          addressFrom: z.string().nullable(),
          port: count,
          user: z.string(),
          become: z.boolean(),
          priority: count.nullable(),
          primary: z.boolean(),
          settings,
        }),
      ),
      settings,
      warnings: z.array(z.string()),
    }),
  ),
);

const versionResult = schemaOf<VersionResult>()(
  named('VersionResult', 'kha version', z.strictObject({ name: z.string(), version: z.string(), node: z.string(), platform: z.string() })),
);

const monitoringScrapeResult = schemaOf<MonitoringScrapeResult>()(
  named(
    'MonitoringScrapeResult',
    'kha monitoring scrape-config: the scrape jobs for the inventory',
    z.strictObject({
      targets: about(z.strictObject({ kha: z.array(z.string()), 'kha-haproxy': z.array(z.string()) }), "each job's targets (HOST:PORT)"),
      scrapeConfig: about(z.string(), 'the scrape_configs YAML, as printed without --json'),
    }),
  ),
);

const monitoringRulesResult = schemaOf<MonitoringRulesResult>()(
  named(
    'MonitoringRulesResult',
    'kha monitoring rules: the Prometheus rule file and the options it was rendered with',
    z.strictObject({
      flapWindow: z.string(),
      flapMoves: z.int().min(1),
      exporterJobs: z.string(),
      foreignWindow: about(z.string(), "KhaForeignVrrpRouter's window"),
      alerts: about(z.array(z.string()), "the alerts' names, in the file's order"),
      rules: about(z.string(), 'the rule file (YAML), as printed without --json'),
    }),
  ),
);

const labUpResult = schemaOf<LabUpResult>()(
  named(
    'LabUpResult',
    'kha lab up: the lab and its inventory',
    z.strictObject({
      name: z.string(),
      network: z.string(),
      subnet: z.strictObject({ base: z.string(), prefix: count }),
      vip: z.string(),
      hosts: z.array(z.strictObject({ name: host, address: z.string(), containerId: z.string() })),
      inventory: z.string(),
      keyFile: z.string(),
    }),
  ),
);

const labDownResult = named('LabDownResult', 'kha lab down', z.strictObject({ name: z.string(), removed: z.literal(true) }));

/** command (as typed after kha) -> its result schema; null: the command has no result (help, completion: they print text) */
export const RESULTS = {
  up: upResult,
  upgrade: upgradeResult,
  'add-master': membersResult,
  'remove-master': membersResult,
  reset: resetResult,
  play: playResult,
  status: statusResult,
  drill: drillResult,
  drain: drainResult,
  undrain: drainResult,
  init: initResult,
  render: renderResult,
  inventory: inventoryResult,
  version: versionResult,
  'lab up': labUpResult,
  'lab down': labDownResult,
  'monitoring rules': monitoringRulesResult,
  'monitoring scrape-config': monitoringScrapeResult,
  help: null,
  completion: null,
} as const;

export type OutputCommand = keyof typeof RESULTS;

const common = {
  format: about(z.literal(OUTPUT_FORMAT), "the envelope's version: changes only when a field is removed or changes meaning"),
  ok: about(z.boolean(), 'exit === 0'),
  exit: about(z.int().min(0).max(255), "the process's exit code (README: Exit codes)"),
  error: outputError.nullable(),
  recap: about(z.record(z.string(), hostRecap), 'per host ({} for commands that run no tasks)'),
  tasks: z.array(task),
  messages: z.array(message),
  log: about(z.string().nullable(), 'the JSON log of this run, or null'),
};

function envelope<C extends string | null>(command: C, result: z.ZodType | null) {
  return z.strictObject({
    ...common,
    command: z.literal(command),
    result: result ? result.nullable() : z.null(),
  });
}

/** Every document `--json` prints: one member per command, and one (command null) for a command that does not exist. */
export const outputSchema = z
  .discriminatedUnion('command', [
    ...(Object.entries(RESULTS) as Array<[OutputCommand, z.ZodType | null]>).map(([c, r]) => envelope(c, r)),
    envelope(null, null),
  ] as unknown as [ReturnType<typeof envelope>, ...ReturnType<typeof envelope>[]])
  .register(defs, {
    title: 'kha --json output',
    description:
      'The one JSON document every kha command prints on stdout with --json, success or failure. `result` is the command\u2019s own document (null when it failed before making one); `error` says why it failed (null when ok).',
  });

// the envelope the code builds fits every member's common part
schemaOf<Omit<KhaOutput, 'command' | 'result'>>()(z.strictObject(common));

/** The JSON Schema of the document (draft 2020-12), as committed in schema/kha-output.schema.json. */
export function outputJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(outputSchema, { metadata: defs, target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** Parse one --json document: the document typed, or an error naming the first field that does not fit. */
export function parseOutput(doc: unknown): z.infer<typeof outputSchema> {
  return outputSchema.parse(doc);
}
