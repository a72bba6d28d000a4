// What kha leaves on a host, as ONE table, and the tasks `kha reset` takes it away with. Every path
// comes from the roles' own constants; test/unit/reset.test.ts collects every path the roles'
// tasks write and fails when one is missing here, so a file added to a role cannot be forgotten.
//
// How reset knows a path is kha's (`owned`):
//   header: the file holds MANAGED_HEADER as a line; a file of the same name without it is the
//           operator's (the distribution's haproxy.cfg, say) and stays;
//   name:   a name only kha uses (.kha-prev copies, /run/kha/*, /var/lib/kha/*);
//   empty:  a directory, removed only when nothing is left in it;
//   markers: the kha block of a file the operator also edits (/etc/hosts), between its markers.
import type { Handler, Task } from '../engine/types.js';
import { APPLIED_DIR, appliedPath } from '../modules/applied.js';
import { blockInFileModule } from '../modules/blockinfile.js';
import { commandModule, fileModule } from '../modules/index.js';
import { purgeModule } from '../modules/purge.js';
import { PREV_SUFFIX } from '../modules/template.js';
import { METRICS_SCRIPT_PATH, METRICS_SERVER_PATH, METRICS_SERVICE_PATH, METRICS_SOCKET_PATH, VRRP_COUNT_NFT_PATH, VRRP_COUNT_UNIT_PATH } from './metrics.js';
import { quote } from '../transport/quote.js';
import {
  CHECK_APISERVER_SCRIPT_PATH,
  CHECK_HAPROXY_SCRIPT_PATH,
  DEFAULT_SCRIPT_USER,
  HAPROXY_DROPIN_DIR,
  HAPROXY_DROPIN_PATH,
  HAPROXY_TMPFILES_PATH,
  INSTALLED_RECORD,
  KEEPALIVED_DIR,
  KHA_STATE_DIR,
  MANAGED_HEADER,
  NOTIFY_SCRIPT_PATH,
  NOTIFY_STATE_FILE,
  HAPROXY_DOWN_FILE,
  DUMP_LOCK,
  SERVER_STATE_SCRIPT_PATH,
  USERS_RECORD,
} from './files.js';
import { SERVER_STATE_FILE } from './server-state.js';
import { HAPROXY_CFG, KEEPALIVED_CONF, KEEPALIVED_SECRET_KEYS } from './ha.js';
import { ETC_HOSTS } from './nodes.js';
import { NGINX_CONF, nginxPackages } from './node-proxy.js';

/** lb: the load-balancer hosts; node: the nodes (node-local proxy); any: every host kha touches. */
export type HostRole = 'lb' | 'node' | 'any';

export interface ManagedPath {
  path: string;
  kind: 'file' | 'dir' | 'block';
  /** the hosts kha writes it on */
  on: readonly HostRole[];
  owned: 'header' | 'name' | 'empty' | 'markers';
  /** keywords whose values are secrets: redacted on the host, should the --diff of its removal show them */
  redact?: readonly string[];
  /** removing it changes what systemd loads: `systemctl daemon-reload` afterwards */
  systemd?: boolean;
  /** kept by a plain reset, removed by --purge: the records of what kha installed */
  purgeOnly?: boolean;
  /** what it is, for the reader */
  what: string;
}

/** A file kha renders (owned by its header), then the copy the template module keeps of the version it replaced. */
function rendered(path: string, on: readonly HostRole[], what: string, extra: Partial<ManagedPath> = {}): ManagedPath[] {
  return [
    { path, kind: 'file', on, owned: 'header', what, ...extra },
    {
      path: `${path}${PREV_SUFFIX}`,
      kind: 'file',
      on,
      owned: 'name',
      what: `the previous ${what} (kept for a rollback)`,
      ...(extra.redact ? { redact: extra.redact } : {}),
    },
  ];
}

const LB: readonly HostRole[] = ['lb'];
const NODE: readonly HostRole[] = ['node'];
const LB_NODE: readonly HostRole[] = ['lb', 'node'];
const ANY: readonly HostRole[] = ['any'];

/**
 * Everything kha writes, in removal order: files, then their directories (emptied first), the
 * /etc/hosts block, then the records only --purge removes (after the packages they name).
 */
export const MANAGED_PATHS: readonly ManagedPath[] = [
  ...rendered(KEEPALIVED_CONF, LB, 'keepalived config', { redact: KEEPALIVED_SECRET_KEYS }),
  ...rendered(CHECK_HAPROXY_SCRIPT_PATH, LB, 'vrrp check script (haproxy)'),
  ...rendered(CHECK_APISERVER_SCRIPT_PATH, LB, 'vrrp check script (apiserver, track_apiserver)'),
  ...rendered(NOTIFY_SCRIPT_PATH, LB, 'keepalived notify script'),
  ...rendered(METRICS_SCRIPT_PATH, LB, "kha's VRRP metrics collector script"),
  ...rendered(METRICS_SERVER_PATH, LB, "kha's VRRP metrics server"),
  ...rendered(METRICS_SOCKET_PATH, LB, "the exporter's socket unit", { systemd: true }),
  ...rendered(METRICS_SERVICE_PATH, LB, "the exporter's service unit", { systemd: true }),
  ...rendered(VRRP_COUNT_NFT_PATH, LB, 'the nftables counter of foreign VRRP adverts'),
  ...rendered(VRRP_COUNT_UNIT_PATH, LB, "the counter's oneshot unit", { systemd: true }),
  ...rendered(HAPROXY_CFG, LB_NODE, 'haproxy config'),
  ...rendered(HAPROXY_DROPIN_PATH, LB_NODE, 'haproxy systemd drop-in', { systemd: true }),
  ...rendered(HAPROXY_TMPFILES_PATH, LB_NODE, 'tmpfiles.d entry for /run/haproxy'),
  ...rendered(SERVER_STATE_SCRIPT_PATH, LB_NODE, 'haproxy reload step that saves drained servers'),
  // written by that script (and kha drain), with kha's header line as a comment
  { path: SERVER_STATE_FILE, kind: 'file', on: LB_NODE, owned: 'header', what: "haproxy's saved server state (drained servers)" },
  ...rendered(NGINX_CONF, NODE, 'nginx config (node-local proxy)'),
  { path: NOTIFY_STATE_FILE, kind: 'file', on: LB, owned: 'name', what: "keepalived's state, written by the notify script" },
  // (keepalived removes its notify FIFO itself when it stops)
  { path: HAPROXY_DOWN_FILE, kind: 'file', on: LB, owned: 'name', what: "haproxy's up/down flag that keepalived tracks" },
  { path: DUMP_LOCK, kind: 'file', on: LB, owned: 'name', what: "the lock that gives keepalived's dumps one reader at a time" },
  { path: appliedPath('keepalived.service'), kind: 'file', on: LB, owned: 'name', what: 'the config keepalived runs with (hash)' },
  { path: appliedPath('haproxy.service'), kind: 'file', on: LB_NODE, owned: 'name', what: 'the config haproxy runs with (hash)' },
  { path: appliedPath('nginx.service'), kind: 'file', on: NODE, owned: 'name', what: 'the config nginx runs with (hash)' },
  { path: HAPROXY_DROPIN_DIR, kind: 'dir', on: LB_NODE, owned: 'empty', what: 'drop-in directory' },
  { path: KEEPALIVED_DIR, kind: 'dir', on: LB, owned: 'empty', what: "keepalived's config directory" },
  { path: APPLIED_DIR, kind: 'dir', on: LB_NODE, owned: 'empty', what: "kha's runtime records" },
  { path: ETC_HOSTS, kind: 'block', on: ANY, owned: 'markers', what: 'the kha block of /etc/hosts' },
  { path: INSTALLED_RECORD, kind: 'file', on: ANY, owned: 'name', purgeOnly: true, what: 'the packages kha installed' },
  { path: USERS_RECORD, kind: 'file', on: ANY, owned: 'name', purgeOnly: true, what: 'the system users kha created' },
  { path: KHA_STATE_DIR, kind: 'dir', on: ANY, owned: 'empty', purgeOnly: true, what: "kha's state directory" },
];

/** Every package kha's roles install (either package manager's names): named by --purge when it stays. */
export const KHA_PACKAGES: readonly string[] = [...new Set(['keepalived', 'haproxy', 'curl', 'nftables', ...nginxPackages('apt'), ...nginxPackages('dnf')])];

export const H_DAEMON_RELOAD = 'systemd daemon-reload';

/** The table's entries for `role` (the purge-only records apart). Pure. */
export function pathsFor(role: HostRole, o: { purge?: boolean } = {}): ManagedPath[] {
  return MANAGED_PATHS.filter((m) => m.on.includes(role) && Boolean(m.purgeOnly) === Boolean(o.purge));
}

/** The task that takes one entry away. */
export function removeTask(m: ManagedPath): Task<any> {
  if (m.kind === 'block') return { name: `remove ${m.what}`, module: blockInFileModule, params: { path: m.path, block: '' } };
  return {
    module: fileModule,
    params: {
      path: m.path,
      state: 'absent',
      // kha rendered it: its content may be shown (secrets redacted); a .kha-prev may be the operator's old file
      ...(m.owned === 'header' ? { onlyIfLine: MANAGED_HEADER, diffContent: true } : {}),
      ...(m.owned === 'empty' ? { onlyIfEmpty: true } : {}),
      ...(m.redact ? { redact: [...m.redact] } : {}),
    },
    ...(m.systemd ? { notify: [H_DAEMON_RELOAD] } : {}),
  };
}

/**
 * Stop and disable `unit` only when it is kha's: its config holds kha's header, or kha recorded
 * the config it started it with. An operator's own haproxy or nginx (or a distribution's package
 * that kha never configured) is left as it is.
 */
export function stopKhaService(unit: 'keepalived' | 'haproxy' | 'nginx' | 'kha-metrics.socket' | 'kha-vrrp-count.service', conf: string): Task<any> {
  const svc = unit.includes('.') ? unit : `${unit}.service`;
  const kha = `{ grep -qsxF -- ${quote(MANAGED_HEADER)} ${quote(conf)} || [ -e ${quote(appliedPath(svc))} ]; }`;
  const on = `{ systemctl is-active --quiet ${svc} || [ "$(systemctl is-enabled ${svc} 2>/dev/null)" = enabled ]; }`;
  return {
    module: commandModule,
    params: {
      title: `stop + disable ${unit} (kha's)`,
      why: `it runs or is enabled, with kha's config`,
      cmd: { argv: ['systemctl', 'disable', '--now', svc] },
      unless: { script: `! { ${kha} && ${on}; }` },
    },
  };
}

/** A load-balancer host: keepalived first (never hold the VIP without haproxy behind it), then haproxy, then the files. */
export function lbResetTasks(): Task<any>[] {
  return [
    stopKhaService('keepalived', KEEPALIVED_CONF),
    stopKhaService('haproxy', HAPROXY_CFG),
    stopKhaService('kha-metrics.socket', METRICS_SOCKET_PATH),
    stopKhaService('kha-vrrp-count.service', VRRP_COUNT_UNIT_PATH),
    ...pathsFor('lb').map(removeTask),
  ];
}

/** A node: its node-local proxy (either flavour, whichever is kha's), then the files. */
export function nodeResetTasks(): Task<any>[] {
  return [stopKhaService('haproxy', HAPROXY_CFG), stopKhaService('nginx', NGINX_CONF), ...pathsFor('node').map(removeTask)];
}

/** Every host: the kha block of /etc/hosts. */
export function anyHostResetTasks(): Task<any>[] {
  return pathsFor('any').map(removeTask);
}

/** --purge, every host: the packages kha installed, the user it created, then the records of both. */
export function purgeTasks(): Task<any>[] {
  const user = quote(DEFAULT_SCRIPT_USER);
  return [
    { module: purgeModule, params: { record: INSTALLED_RECORD, known: [...KHA_PACKAGES] } },
    {
      module: commandModule,
      params: {
        title: `remove the user ${DEFAULT_SCRIPT_USER} (kha created it)`,
        why: 'kha recorded creating it',
        cmd: { argv: ['userdel', DEFAULT_SCRIPT_USER] },
        unless: { script: `! { grep -qsxF -- ${user} ${quote(USERS_RECORD)} && id -u ${user} >/dev/null 2>&1; }` },
      },
    },
    ...pathsFor('any', { purge: true }).map(removeTask),
  ];
}

/** A removed drop-in must not stay loaded. */
export function resetHandlers(): Handler<any>[] {
  return [
    {
      name: H_DAEMON_RELOAD,
      module: commandModule,
      params: { title: 'systemctl daemon-reload', why: "kha's drop-in was removed", cmd: { argv: ['systemctl', 'daemon-reload'] } },
    },
  ];
}
