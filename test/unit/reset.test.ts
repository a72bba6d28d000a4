// kha reset (issue 16):
//  - the one table of what kha leaves on a host (src/roles/reset.ts) against every path the roles'
//    tasks write: a file added to a role and forgotten by reset fails here;
//  - the order of the load balancers (holder last) as a pure function;
//  - the removal, record and purge scripts run for real in sh on temp files;
//  - the action against fake hosts with an in-memory file system: --check lists every file and
//    changes nothing, a reset removes them with the holder stopped last, a second reset and a
//    reset where kha never ran change nothing, a purge that would take a package kha did not
//    install is refused before any change.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { reset, resetHosts, resetOrder, vipHoldersFromFacts } from '../../src/actions/reset.js';
import { healthProblem } from '../../src/actions/drill.js';
import {
  nodeProxyProblem,
  nodeStatusScript,
  parseNodeStatus,
  renderNodeProxyTable,
  renderStatusTable,
  status,
  statusScript,
  type StatusReport,
} from '../../src/actions/status.js';
import { batches } from '../../src/engine/serial.js';
import { JsonSink } from '../../src/report/json.js';
import { outputProblems } from '../helpers/cli.js';
import type { HostContext, Task } from '../../src/engine/types.js';
import { ExitCode, KhaError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings, type HaSettings } from '../../src/inventory/settings.js';
import { APPLIED_DIR, appliedPath } from '../../src/modules/applied.js';
import { applyScript, parseRemovalProbe, removalProbeScript, type FileParams } from '../../src/modules/file.js';
import { recordingScript } from '../../src/modules/package.js';
import { purgeProbeScript } from '../../src/modules/purge.js';
import { PREV_SUFFIX } from '../../src/modules/template.js';
import { DUMP_LOCK, MANAGED_HEADER, NOTIFY_STATE_FILE, HAPROXY_DOWN_FILE, USERS_RECORD, renderNotifyScript } from '../../src/roles/files.js';
import { configureTasks, createScriptUserScript, haHandlers, installTasks, startTasks } from '../../src/roles/ha.js';
import { etcHostsTasks, nodeProxyHandlers, nodeProxyTasks } from '../../src/roles/nodes.js';
import { SERVER_STATE_FILE } from '../../src/roles/server-state.js';
import { KHA_PACKAGES, MANAGED_PATHS, anyHostResetTasks, lbResetTasks, nodeResetTasks, purgeTasks, type HostRole } from '../../src/roles/reset.js';
import { render } from '../../src/transport/quote.js';
import type { ExecOptions } from '../../src/transport/types.js';
import { FakeConn, fakeFacts, fakeRun } from '../helpers/fake-conn.js';

const y = (lines: string[]) => lines.join('\n') + '\n';
const VIP = '10.0.0.100';

/** 3 masters (the load balancers), 1 node; every feature that writes a file is on unless `vars` says otherwise */
function settings(vars: string[] = []): HaSettings {
  const on = ['track_apiserver: true', 'node_local_proxy: true', 'manage_etc_hosts: true'].filter(
    (d) => !vars.some((v) => v.split(':')[0] === d.split(':')[0]),
  );
  return resolveSettings(
    parseInventory(
      y([
        'all:',
        '  vars:',
        `    vip: ${VIP}`,
        ...[...on, ...vars].map((v) => `    ${v}`),
        '  hosts:',
        '    m1: { ansible_host: 10.0.0.11 }',
        '    m2: { ansible_host: 10.0.0.12 }',
        '    m3: { ansible_host: 10.0.0.13 }',
        '    n1: { ansible_host: 10.0.0.21 }',
        '  children:',
        '    masters:',
        '      hosts: { m1: , m2: , m3: }',
        '    nodes:',
        '      hosts: { n1: }',
      ]),
      'hosts.yaml',
    ),
  );
}

const NET = {
  m1: { iface: 'eth0', address: '10.0.0.11', prefix: 24, holdsVip: true },
  m2: { iface: 'eth0', address: '10.0.0.12', prefix: 24, holdsVip: false },
  m3: { iface: 'eth0', address: '10.0.0.13', prefix: 24, holdsVip: false },
};

function hc(name: string): HostContext {
  return {
    host: { name, vars: {}, groups: ['all'], connection: { name, address: '10.0.0.1', port: 22, user: 'root', become: false, becomeUser: 'root' } },
    facts: fakeFacts({ hostname: name }),
    check: true,
    diff: false,
    conn: new FakeConn(name),
    signal: new AbortController().signal,
  };
}

function paramsOf(t: Task<any>, host: string): Record<string, unknown> {
  return (typeof t.params === 'function' ? t.params(hc(host)) : t.params) as Record<string, unknown>;
}

interface Written {
  path: string;
  kind: 'file' | 'dir' | 'block';
  role: HostRole;
  by: string;
}

/** Every path a task list writes on a host, from the tasks themselves (the modules' params). */
function written(tasks: Task<any>[], role: HostRole, host: string): Written[] {
  const out: Written[] = [];
  const add = (path: string, kind: Written['kind'], by: string) => out.push({ path, kind, role, by });
  for (const t of tasks) {
    if (t.meta) continue;
    const p = paramsOf(t, host);
    const by = `${t.module.name}: ${t.module.describe(p)}`;
    switch (t.module.name) {
      case 'template':
        add(p.path as string, 'file', by);
        // the template module keeps the version it replaces
        add(`${p.path as string}${PREV_SUFFIX}`, 'file', by);
        break;
      case 'file':
        add(p.path as string, p.state === 'directory' ? 'dir' : 'file', by);
        break;
      case 'blockinfile':
        add(p.path as string, 'block', by);
        break;
      case 'service':
        if ((p.record as string[] | undefined)?.length) {
          const unit = (p.name as string).includes('.') ? (p.name as string) : `${p.name as string}.service`;
          add(appliedPath(unit), 'file', by);
          add(APPLIED_DIR, 'dir', by);
        }
        break;
      case 'applied':
        add(appliedPath(p.unit as string), 'file', by);
        add(APPLIED_DIR, 'dir', by);
        break;
      case 'package':
        if (p.record) {
          add(p.record as string, 'file', by);
          add(dirname(p.record as string), 'dir', by);
        }
        break;
      case 'command': {
        // a script that appends to a file (the useradd record) writes it, and mkdir -p its directory
        const script = render((p as { cmd: { argv: string[] } | { script: string } }).cmd);
        for (const m of script.matchAll(/>>\s*(\/\S+)/g)) add(m[1]!, 'file', by);
        for (const m of script.matchAll(/mkdir -p -- (\/\S+)/g)) add(m[1]!, 'dir', by);
        break;
      }
    }
  }
  return out;
}

function everyWrittenPath(): Written[] {
  const s = settings();
  const nginx = settings(['node_proxy: nginx']);
  const lb = [...installTasks(s), ...configureTasks(s, NET), ...startTasks(s), ...haHandlers()];
  return [
    ...written(lb, 'lb', 'm1'),
    ...written([...nodeProxyTasks(s), ...nodeProxyHandlers()], 'node', 'n1'),
    ...written([...nodeProxyTasks(nginx), ...nodeProxyHandlers()], 'node', 'n1'),
    ...written(etcHostsTasks(s), 'any', 'm1'),
    // the notify script (rendered above) writes keepalived's state here, at run time
    { path: NOTIFY_STATE_FILE, kind: 'file', role: 'lb', by: 'the notify script' },
    // haproxy's unit (the drop-in rendered above) writes its up/down flag here for keepalived's track_file
    { path: HAPROXY_DOWN_FILE, kind: 'file', role: 'lb', by: "haproxy's systemd drop-in" },
    // the VRRP exporter and kha up's check probe take this lock around keepalived's dumps
    { path: DUMP_LOCK, kind: 'file', role: 'lb', by: 'the VRRP exporter (kha-metrics.sh)' },
    // the server-state script (rendered above) writes the drained servers here, at a reload and on kha drain
    { path: SERVER_STATE_FILE, kind: 'file', role: 'lb', by: 'the server-state script' },
    { path: SERVER_STATE_FILE, kind: 'file', role: 'node', by: 'the server-state script' },
  ];
}

/** What reset's tasks for a role remove: path -> the removal params (blockinfile: block ''). */
function removedBy(tasks: Task<any>[]): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const t of tasks) {
    const p = paramsOf(t, 'm1');
    if (t.module.name === 'file' && p.state === 'absent') out.set(p.path as string, p);
    if (t.module.name === 'blockinfile' && p.block === '') out.set(p.path as string, p);
  }
  return out;
}

describe('the table of what kha leaves on a host, against the roles', () => {
  const all = everyWrittenPath();
  const removed: Record<HostRole, Map<string, Record<string, unknown>>> = {
    lb: removedBy([...lbResetTasks(), ...anyHostResetTasks(), ...purgeTasks()]),
    node: removedBy([...nodeResetTasks(), ...anyHostResetTasks(), ...purgeTasks()]),
    any: removedBy([...anyHostResetTasks(), ...purgeTasks()]),
  };

  test('the roles write what the test expects to find (the collection itself works)', () => {
    const paths = all.map((w) => w.path);
    expect(paths).toEqual(expect.arrayContaining(['/etc/keepalived/keepalived.conf', '/etc/haproxy/haproxy.cfg', '/etc/nginx/nginx.conf', '/etc/hosts']));
    expect(paths).toEqual(
      expect.arrayContaining(['/etc/keepalived/kha-check-apiserver.sh', '/var/lib/kha/installed', USERS_RECORD, '/run/kha/nginx.service.applied']),
    );
    expect(all.length).toBeGreaterThan(25);
  });

  test.each(everyWrittenPath().map((w) => [`${w.role} ${w.kind} ${w.path}`, w] as const))('%s is in the table and reset removes it', (_n, w) => {
    const entry = MANAGED_PATHS.find((m) => m.path === w.path);
    expect(entry, `${w.path} (written by ${w.by}) is missing from MANAGED_PATHS in src/roles/reset.ts`).toBeDefined();
    expect(entry!.kind, w.path).toBe(w.kind);
    expect(entry!.on.includes(w.role) || entry!.on.includes('any'), `${w.path}: the table does not say kha writes it on ${w.role} hosts`).toBe(true);
    expect(removed[w.role].has(w.path), `reset's tasks for ${w.role} hosts do not remove ${w.path}`).toBe(true);
  });

  test('the table has no entry the roles do not write (no dead rows)', () => {
    const paths = new Set(all.map((w) => w.path));
    expect(MANAGED_PATHS.map((m) => m.path).filter((p) => !paths.has(p))).toEqual([]);
  });

  test("every file kha renders carries kha's header line: the guard that tells kha's files from the operator's holds", () => {
    const s = settings();
    const nginx = settings(['node_proxy: nginx']);
    const templates = [
      ...configureTasks(s, NET).map((t) => ({ t, host: 'm1' })),
      ...nodeProxyTasks(s).map((t) => ({ t, host: 'n1' })),
      ...nodeProxyTasks(nginx).map((t) => ({ t, host: 'n1' })),
    ].filter(({ t }) => t.module.name === 'template');
    expect(templates.length).toBeGreaterThan(8);
    for (const { t, host } of templates) {
      const p = paramsOf(t, host);
      expect((p.content as string).split('\n'), p.path as string).toContain(MANAGED_HEADER);
      const entry = MANAGED_PATHS.find((m) => m.path === p.path)!;
      expect(entry.owned, p.path as string).toBe('header');
      expect(removed.lb.get(p.path as string)?.onlyIfLine ?? removed.node.get(p.path as string)?.onlyIfLine).toBe(MANAGED_HEADER);
    }
    expect(renderNotifyScript()).toContain(`state_file=${NOTIFY_STATE_FILE}`);
  });

  test('the secret-bearing keepalived.conf (and its previous copy) is diffed redacted; the drop-in removal reloads systemd', () => {
    expect(removed.lb.get('/etc/keepalived/keepalived.conf')?.redact).toEqual(['auth_pass']);
    expect(removed.lb.get(`/etc/keepalived/keepalived.conf${PREV_SUFFIX}`)?.redact).toEqual(['auth_pass']);
    const dropIn = lbResetTasks().find((t) => paramsOf(t, 'm1').path === '/etc/systemd/system/haproxy.service.d/kha.conf')!;
    expect(dropIn.notify).toEqual(['systemd daemon-reload']);
  });

  test('directories go after the files in them, and only when empty', () => {
    const order = lbResetTasks().map((t) => paramsOf(t, 'm1').path as string | undefined);
    expect(order.indexOf('/etc/systemd/system/haproxy.service.d')).toBeGreaterThan(order.indexOf('/etc/systemd/system/haproxy.service.d/kha.conf'));
    expect(order.indexOf('/run/kha')).toBeGreaterThan(order.indexOf('/run/kha/keepalived.service.applied'));
    for (const m of MANAGED_PATHS.filter((x) => x.kind === 'dir')) expect(m.owned, m.path).toBe('empty');
  });

  test("every service a role starts is stopped and disabled first, only where it runs kha's config", () => {
    const s = settings();
    const nginx = settings(['node_proxy: nginx']);
    const started = (tasks: Task<any>[], host: string) =>
      tasks.filter((t) => t.module.name === 'service' && paramsOf(t, host).state === 'started').map((t) => paramsOf(t, host).name as string);
    const stops = (tasks: Task<any>[]) =>
      tasks
        .filter((t) => t.module.name === 'command' && render(paramsOf(t, 'm1').cmd as never).startsWith('systemctl disable --now'))
        .map((t) => render(paramsOf(t, 'm1').cmd as never));
    // keepalived and haproxy by their short names; the metrics units (kha-metrics.socket, kha-vrrp-count.service) by their full ones
    const unitOf = (name: string) => (name.includes('.') ? name : `${name}.service`);
    for (const unit of started(startTasks(s), 'm1')) expect(stops(lbResetTasks())).toContain(`systemctl disable --now ${unitOf(unit)}`);
    for (const unit of [...started(nodeProxyTasks(s), 'n1'), ...started(nodeProxyTasks(nginx), 'n1')])
      expect(stops(nodeResetTasks())).toContain(`systemctl disable --now ${unit}.service`);
    // keepalived goes first: a host never holds the VIP without haproxy behind it
    expect(stops(lbResetTasks())[0]).toBe('systemctl disable --now keepalived.service');
    expect(lbResetTasks().findIndex((t) => t.module.name === 'file')).toBeGreaterThan(1);
  });

  test('every package a role installs is recorded for --purge and known by name to reset', () => {
    const s = settings();
    const nginxApt = settings(['node_proxy: nginx']);
    const pkgTasks = [...installTasks(s), ...nodeProxyTasks(s), ...nodeProxyTasks(nginxApt)].filter((t) => t.module.name === 'package');
    expect(pkgTasks.length).toBe(3);
    for (const t of pkgTasks) {
      const p = paramsOf(t, 'n1');
      expect(p.record).toBe('/var/lib/kha/installed');
      for (const n of p.names as string[]) expect(KHA_PACKAGES).toContain(n);
    }
    expect(KHA_PACKAGES).toEqual(expect.arrayContaining(['nginx-mod-stream', 'libnginx-mod-stream', 'curl']));
    expect(createScriptUserScript()).toContain(`>> ${USERS_RECORD}`);
  });
});

describe('the order: the hosts without the VIP in --serial batches, the holder last', () => {
  const serial = (spec: string | number) => (hs: string[]) => batches(spec, hs, '--serial');
  test.each([
    ['holder m1, serial 1', ['m1', 'm2', 'm3'], ['m1'], 1, [['m2'], ['m3'], ['m1']]],
    ['holder m2 (not the primary), serial 1', ['m1', 'm2', 'm3'], ['m2'], 1, [['m1'], ['m3'], ['m2']]],
    ['holder m1, 5 hosts, serial 50%', ['m1', 'm2', 'm3', 'm4', 'm5'], ['m1'], '50%', [['m2', 'm3'], ['m4', 'm5'], ['m1']]],
    ['no holder: plain batches', ['m1', 'm2', 'm3'], [], 2, [['m1', 'm2'], ['m3']]],
    ['split brain: every holder, together, last', ['m1', 'm2', 'm3'], ['m1', 'm3'], 1, [['m2'], ['m1', 'm3']]],
    ['only the holder changes', ['m1'], ['m1'], 1, [['m1']]],
    ['the holder has nothing to change', ['m2', 'm3'], ['m1'], 1, [['m2'], ['m3']]],
  ] as const)('%s', (_n, hosts, holders, spec, want) => {
    expect(resetOrder([...hosts], [...holders], serial(spec))).toEqual(want);
  });

  test('the holders come from the facts; the hosts are the load balancers, the masters and (with a node feature) the nodes', () => {
    const s = settings();
    const facts = new Map([
      ['m1', fakeFacts({ interfaces: [{ name: 'eth0', up: true, ipv4: [{ address: '10.0.0.11', prefix: 24 }] }] })],
      [
        'm2',
        fakeFacts({
          interfaces: [
            {
              name: 'eth0',
              up: true,
              ipv4: [
                { address: '10.0.0.12', prefix: 24 },
                { address: VIP, prefix: 32 },
              ],
            },
          ],
        }),
      ],
    ]);
    expect(vipHoldersFromFacts(s, facts)).toEqual(['m2']);
    expect(resetHosts(s)).toEqual(['m1', 'm2', 'm3', 'n1']);
    expect(resetHosts(settings(['node_local_proxy: false', 'manage_etc_hosts: false']))).toEqual(['m1', 'm2', 'm3']);
  });
});

// ---- the scripts, run for real in sh --------------------------------------------------------

describe('the scripts, in sh on temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kha-reset-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  const probe = (p: FileParams, diff = true) => parseRemovalProbe(sh(removalProbeScript(p, diff)).stdout);

  test("a file with kha's header is removed; the operator's file of the same name stays; a missing file is absent", () => {
    const mine = join(dir, 'haproxy.cfg');
    const theirs = join(dir, 'their.cfg');
    writeFileSync(mine, `${MANAGED_HEADER}\nglobal\n`);
    writeFileSync(theirs, `# ${MANAGED_HEADER} (quoted, not the header line)\nglobal\n`);
    expect(probe({ path: mine, state: 'absent', onlyIfLine: MANAGED_HEADER })).toMatchObject({
      exists: true,
      type: 'file',
      hasLine: true,
      content: `${MANAGED_HEADER}\nglobal\n`,
    });
    expect(probe({ path: theirs, state: 'absent', onlyIfLine: MANAGED_HEADER })).toMatchObject({ exists: true, hasLine: false });
    expect(probe({ path: join(dir, 'nope'), state: 'absent', onlyIfLine: MANAGED_HEADER })).toEqual({ exists: false });
    expect(sh(applyScript({ path: mine, state: 'absent', onlyIfLine: MANAGED_HEADER })).status).toBe(0);
    expect(existsSync(mine)).toBe(false);
  });

  test('a secret is redacted on the host before the content leaves it', () => {
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, `${MANAGED_HEADER}\nvrrp_instance VI {\n    auth_pass s3cret-pw\n}\n`);
    const f = probe({ path: conf, state: 'absent', onlyIfLine: MANAGED_HEADER, redact: ['auth_pass'] });
    expect(f.content).toContain('auth_pass ********');
    expect(f.content).not.toContain('s3cret-pw');
  });

  test('a directory is removed only when empty, and never with what is in it', () => {
    const d = join(dir, 'haproxy.service.d');
    mkdirSync(d);
    writeFileSync(join(d, 'operator.conf'), '[Service]\n');
    expect(probe({ path: d, state: 'absent', onlyIfEmpty: true }, false)).toMatchObject({ type: 'directory', entries: ['operator.conf'] });
    // even if asked to, rmdir cannot take what is inside
    expect(sh(applyScript({ path: d, state: 'absent', onlyIfEmpty: true })).status).not.toBe(0);
    expect(existsSync(join(d, 'operator.conf'))).toBe(true);
    rmSync(join(d, 'operator.conf'));
    expect(probe({ path: d, state: 'absent', onlyIfEmpty: true }, false)).toMatchObject({ type: 'directory', entries: [] });
    expect(sh(applyScript({ path: d, state: 'absent', onlyIfEmpty: true })).status).toBe(0);
    expect(existsSync(d)).toBe(false);
  });

  // these two run kha's scripts against this machine's own dpkg (read-only queries and apt-get -s):
  // without dpkg they fail, saying so, rather than skip
  const needDpkg = () => expect(spawnSync('sh', ['-c', 'command -v dpkg-query']).status, 'these tests need dpkg-query (a Debian-family machine)').toBe(0);
  test('the record: an install that adds nothing records nothing; a failed install records nothing and keeps its exit code', () => {
    needDpkg();
    const record = join(dir, 'state', 'installed');
    expect(sh(recordingScript('true', record)).status).toBe(0);
    expect(readFileSync(record, 'utf8')).toBe('');
    writeFileSync(record, 'haproxy\nkeepalived\n');
    expect(sh(recordingScript('true', record)).status).toBe(0);
    expect(readFileSync(record, 'utf8')).toBe('haproxy\nkeepalived\n');
    const failed = sh(recordingScript('echo E: no such package >&2; exit 100', record));
    expect(failed.status).toBe(100);
    expect(readFileSync(record, 'utf8')).toBe('haproxy\nkeepalived\n');
  });

  test('the purge probe: a record of packages that are not installed simulates nothing', () => {
    needDpkg();
    const record = join(dir, 'purge-record');
    writeFileSync(record, 'kha-no-such-package\nnot a name; rm -rf /\n');
    const out = execFileSync('sh', ['-c', purgeProbeScript({ record, known: ['kha-no-such-package-2'] }, 'apt')], { encoding: 'utf8' });
    expect(out).toBe('@@kha-purge@@record\nkha-no-such-package\n@@kha-purge@@status\n@@kha-purge@@sim\n@@kha-purge@@end\n');
  });
});

// ---- the action against fake hosts -----------------------------------------------------------

interface FakeHost {
  files: Map<string, string>;
  dirs: Set<string>;
  services: Record<string, { active: boolean; enabled: boolean }>;
  vip: boolean;
  lock?: string;
  purgeProbe?: string;
}

const LB_FILES = [
  '/etc/keepalived/keepalived.conf',
  '/etc/keepalived/kha-check-haproxy.sh',
  '/etc/keepalived/kha-check-apiserver.sh',
  '/etc/keepalived/kha-notify.sh',
  '/etc/haproxy/haproxy.cfg',
  '/etc/systemd/system/haproxy.service.d/kha.conf',
  '/etc/tmpfiles.d/haproxy.conf',
  '/etc/keepalived/kha-metrics.sh',
  '/etc/keepalived/kha-metrics-server.pl',
  '/etc/systemd/system/kha-metrics.socket',
  '/etc/systemd/system/kha-metrics.service',
  '/etc/keepalived/kha-vrrp-count.nft',
  '/etc/systemd/system/kha-vrrp-count.service',
];
const HOSTS_WITH_BLOCK = `127.0.0.1 localhost\n# BEGIN kha managed block\n${VIP} kube-apiserver.kha.internal\n# END kha managed block\n`;

/** A host as kha up leaves it (`kha: true`), or as a distribution leaves it with the packages preinstalled. */
function fakeHost(role: 'lb' | 'node', o: { kha: boolean; vip?: boolean }): FakeHost {
  const files = new Map<string, string>([
    ['/etc/keepalived/keepalived.conf.sample', '! sample\n'],
    ['/etc/hosts', o.kha ? HOSTS_WITH_BLOCK : '127.0.0.1 localhost\n'],
  ]);
  const dirs = new Set(['/etc/keepalived', '/etc/haproxy', '/etc/tmpfiles.d', '/etc/systemd/system', '/run']);
  if (!o.kha) files.set('/etc/haproxy/haproxy.cfg', 'global\n    log /dev/log local0\n');
  if (o.kha && role === 'lb') {
    for (const f of LB_FILES) files.set(f, `${MANAGED_HEADER}\n${f.endsWith('keepalived.conf') ? '    auth_pass pw-1234\n' : 'x\n'}`);
    files.set('/etc/haproxy/haproxy.cfg.kha-prev', 'global\n');
    files.set('/run/keepalived-kha.state', 'state=BACKUP\n');
    files.set('/run/kha/haproxy.service.applied', 'h\n');
    files.set('/run/kha/keepalived.service.applied', 'h\n');
    dirs.add('/etc/systemd/system/haproxy.service.d').add('/run/kha');
  }
  if (o.kha && role === 'node') {
    files.set('/etc/haproxy/haproxy.cfg', `${MANAGED_HEADER}\n# Node-local apiserver proxy\n`);
    files.set('/etc/systemd/system/haproxy.service.d/kha.conf', `${MANAGED_HEADER}\n`);
    files.set('/run/kha/haproxy.service.applied', 'h\n');
    dirs.add('/etc/systemd/system/haproxy.service.d').add('/run/kha');
  }
  const on = { active: o.kha, enabled: true };
  const lbOn = role === 'lb' ? on : { active: false, enabled: false };
  return {
    files,
    dirs,
    // keyed by unit name, `.service` left off
    services: {
      keepalived: { ...on },
      haproxy: { ...on },
      nginx: { active: false, enabled: false },
      'kha-metrics.socket': { ...lbOn },
      'kha-vrrp-count': { ...lbOn },
    },
    vip: Boolean(o.vip),
  };
}

/** Every change, in the order it happened across hosts: `host: what`. */
type Journal = string[];

/** Answers the probes and applies the changes of kha reset on one fake host; an unknown command fails the test. */
function fakeShell(name: string, h: FakeHost, journal: Journal, unknown: string[]) {
  let conn: FakeConn | undefined;
  const children = (d: string) => [...h.files.keys(), ...h.dirs].filter((p) => p !== d && dirname(p) === d);
  const stat = (p: string) => (h.dirs.has(p) ? 'directory|755|root|root' : h.files.has(p) ? 'regular file|644|root|root' : null);
  const handler = (script: string, opts: ExecOptions) => {
    let m: RegExpExecArray | null;
    if (script.includes('ln -- "$t" /run/kha.lock')) {
      h.lock = String(opts.stdin ?? '');
      return { stdout: 'KHA-LOCK-TAKEN\n' };
    }
    if (script.includes('KHA-LOCK-RELEASED')) {
      h.lock = undefined;
      return { stdout: 'KHA-LOCK-RELEASED\n' };
    }
    if (script.startsWith('if [ -e /run/kha.lock ]; then echo KHA-LOCK-HELD')) return { stdout: '' };
    if ((m = /^if \[ -e (\S+) \] \|\| \[ -L \S+ \]; then stat/.exec(script))) {
      const p = m[1]!;
      const st = stat(p);
      if (!st) return { stdout: 'missing\n' };
      let out = `${st}\n`;
      if (script.includes('@@kha-file@@line')) out += `@@kha-file@@line\n${(h.files.get(p) ?? '').split('\n').includes(MANAGED_HEADER) ? 'yes\n' : ''}`;
      if (script.includes('@@kha-file@@entries'))
        out += `@@kha-file@@entries\n${children(p)
          .map((c) => `${c.slice(p.length + 1)}\n`)
          .join('')}`;
      if (script.includes('@@kha-file@@content')) {
        const c = h.files.get(p);
        out += `@@kha-file@@content\n${c === undefined ? '' : script.includes('auth_pass') ? c.replace(/auth_pass \S+/, 'auth_pass ********') : c}`;
      }
      return { stdout: out };
    }
    if ((m = /^stat -c '%F\|%a\|%U\|%G' -- (\S+) 2>\/dev\/null \|\| echo missing$/.exec(script))) return { stdout: `${stat(m[1]!) ?? 'missing'}\n` };
    if ((m = /^(?:rm -rf -- (\S+)|if \[ -d (\S+) \] && \[ ! -L \S+ \]; then rmdir -- \S+; else rm -f -- \S+; fi)$/.exec(script))) {
      const p = (m[1] ?? m[2])!;
      if (h.dirs.has(p) && children(p).length) return { code: 1, stderr: `rmdir: failed to remove '${p}': Directory not empty` };
      h.files.delete(p);
      h.dirs.delete(p);
      journal.push(`${name}: rm ${p}`);
      return {};
    }
    if ((m = /^! \{ \{ grep -qsxF -- '[^']*' (\S+) \|\| \[ -e (\S+) \]; \} && \{ systemctl is-active --quiet ([\w@.-]+)/.exec(script))) {
      const isKha = (h.files.get(m[1]!) ?? '').split('\n').includes(MANAGED_HEADER) || h.files.has(m[2]!);
      const svc = h.services[m[3]!.replace(/\.service$/, '')]!;
      return { code: isKha && (svc.active || svc.enabled) ? 1 : 0 };
    }
    if ((m = /^systemctl disable --now ([\w@.-]+)$/.exec(script))) {
      const unit = m[1]!.replace(/\.service$/, '');
      h.services[unit] = { active: false, enabled: false };
      if (unit === 'keepalived') h.vip = false;
      journal.push(`${name}: stop ${unit}`);
      return {};
    }
    if (script === 'systemctl daemon-reload') {
      journal.push(`${name}: daemon-reload`);
      return {};
    }
    if ((m = /^if \[ -e (\S+) \]; then stat -c '%F\|%a\|%U\|%G' -- \S+; sha256sum -- \S+; echo @@content@@; cat -- \S+; else echo missing; fi$/.exec(script))) {
      const c = h.files.get(m[1]!);
      return { stdout: c === undefined ? 'missing\n' : `regular file|644|root|root\n${'0'.repeat(64)}  ${m[1]}\n@@content@@\n${c}` };
    }
    if ((m = /^if \[ "\$\(sha256sum < (\S+) \| cut -d' ' -f1\)" != \w+ \]/.exec(script))) {
      const up = conn!.uploads.find((u) => u.path === m![1]);
      h.files.set('/etc/hosts', up!.content);
      journal.push(`${name}: /etc/hosts block removed`);
      return { stdout: 'renamed\n' };
    }
    if (script === 'ip -o -4 addr show')
      return { stdout: `2: eth0    inet 10.0.0.1/24 scope global eth0\n${h.vip ? `2: eth0    inet ${VIP}/32 scope global eth0\n` : ''}` };
    if (script.startsWith('timeout 2 bash -c')) return { code: h.vip ? 0 : 1 };
    if (script.startsWith('echo @@kha-purge@@record'))
      return { stdout: h.purgeProbe ?? '@@kha-purge@@record\n@@kha-purge@@status\n@@kha-purge@@sim\n@@kha-purge@@end\n' };
    if (script.startsWith('! { grep -qsxF -- keepalived_script')) return { code: 0 };
    unknown.push(`${name}: ${script.slice(0, 120)}`);
    return { code: 99, stderr: 'unknown command in the fake host' };
  };
  return (n: string) => (conn = new FakeConn(n, handler));
}

function cluster(o: { kha: boolean; check?: boolean; diff?: boolean; holder?: string }) {
  const names = ['m1', 'm2', 'm3', 'n1'];
  const holder = o.holder ?? 'm1';
  const hosts: Record<string, FakeHost> = Object.fromEntries(
    names.map((n) => [n, fakeHost(n.startsWith('n') ? 'node' : 'lb', { kha: o.kha, vip: o.kha && n === holder })]),
  );
  const journal: Journal = [];
  const unknown: string[] = [];
  const makers = Object.fromEntries(names.map((n) => [n, fakeShell(n, hosts[n]!, journal, unknown)]));
  const { ctx, events } = fakeRun(names, (n) => makers[n]!(n), { check: o.check ?? false, diff: o.diff ?? false });
  // the facts say who holds the VIP (the reset reads them, as kha up does)
  for (const n of names) {
    ctx.facts.set(
      n,
      fakeFacts({
        hostname: n,
        interfaces: [{ name: 'eth0', up: true, ipv4: [{ address: '10.0.0.1', prefix: 24 }, ...(hosts[n]!.vip ? [{ address: VIP, prefix: 32 }] : [])] }],
      }),
    );
  }
  return { ctx, events, hosts, journal, unknown };
}

const opts = { serial: 1, purge: false, maxFailPercentage: 0 };
const changedTasks = (events: ReturnType<typeof cluster>['events']) =>
  events.flatMap((e) => (e.type === 'task' && e.status === 'changed' ? [`${e.host}: ${e.task}`] : []));
const messages = (events: ReturnType<typeof cluster>['events']) => events.flatMap((e) => (e.type === 'message' ? [e.text] : []));

describe('kha reset against fake hosts', () => {
  test('--check --diff: the plan per host names every file to remove, the diff masks the secret, and nothing is touched', async () => {
    const c = cluster({ kha: true, check: true, diff: true });
    await reset(c.ctx, settings(), opts);
    expect(c.unknown).toEqual([]);
    expect(c.journal).toEqual([]);
    expect(c.hosts.m1!.files.has('/etc/keepalived/keepalived.conf')).toBe(true);
    const plan = messages(c.events).find((l) => l.startsWith('m1: '))!;
    for (const f of LB_FILES) expect(plan).toContain(`remove ${f}`);
    expect(plan).toContain("stop + disable keepalived (kha's)");
    expect(messages(c.events)).toContain('load balancers, in this order: [m2] -> [m3] -> [m1] (m1 holds the VIP 10.0.0.100: last)');
    const diff = c.events.find((e) => e.type === 'task' && e.host === 'm1' && e.task === 'remove /etc/keepalived/keepalived.conf');
    expect(diff && diff.type === 'task' ? diff.diff : '').toMatch(/^\+\+\+ \/dev\/null/m);
    expect(diff && diff.type === 'task' ? diff.diff : '').toContain('-    auth_pass ********');
    expect(JSON.stringify(c.events)).not.toContain('pw-1234');
    // the operator's /etc/keepalived (the package's sample is in it) stays
    expect(changedTasks(c.events)).not.toContain('m1: remove /etc/keepalived');
    expect(changedTasks(c.events).filter((t) => t.startsWith('n1: '))).toEqual(
      expect.arrayContaining(["n1: stop + disable haproxy (kha's)", 'n1: remove /etc/haproxy/haproxy.cfg', 'n1: remove the kha block of /etc/hosts']),
    );
  });

  test('a reset removes everything of kha, stops the holder last, and a second reset changes nothing', async () => {
    const c = cluster({ kha: true, holder: 'm2' });
    await reset(c.ctx, settings(), opts);
    expect(c.unknown).toEqual([]);
    expect(c.ctx.failed.size).toBe(0);
    const stops = c.journal.filter((l) => / stop keepalived$/.test(l));
    expect(stops).toEqual(['m1: stop keepalived', 'm3: stop keepalived', 'm2: stop keepalived']);
    // the VIP was served (by m2) until m2's turn
    expect(messages(c.events)).toContain('m1: reset; the VIP 10.0.0.100 is still on m2 and 10.0.0.100:8443 answers');
    expect(messages(c.events)).toContain('m2: reset; the VIP 10.0.0.100 is released (its holder went last)');
    for (const h of ['m1', 'm2', 'm3']) {
      const left = [...c.hosts[h]!.files.keys()].sort();
      expect(left, h).toEqual(['/etc/hosts', '/etc/keepalived/keepalived.conf.sample']);
      expect(c.hosts[h]!.dirs.has('/etc/systemd/system/haproxy.service.d')).toBe(false);
      expect(c.hosts[h]!.dirs.has('/etc/keepalived')).toBe(true);
      expect(c.hosts[h]!.files.get('/etc/hosts')).toBe('127.0.0.1 localhost\n');
    }
    expect(c.journal).toContain('m1: daemon-reload');
    expect([...c.hosts.n1!.files.keys()].sort()).toEqual(['/etc/hosts', '/etc/keepalived/keepalived.conf.sample']);
    expect(c.hosts.n1!.services.haproxy).toEqual({ active: false, enabled: false });
    expect(messages(c.events)).toContain('nothing managed by kha is left on m1, m2, m3, n1');
    expect(c.hosts.m1!.lock).toBeUndefined();

    // the same hosts again: nothing to do
    const again = cluster({ kha: false });
    for (const n of ['m1', 'm2', 'm3', 'n1']) Object.assign(again.hosts[n]!, c.hosts[n]);
    await reset(again.ctx, settings(), opts);
    expect(again.unknown).toEqual([]);
    expect(changedTasks(again.events)).toEqual([]);
    expect(again.journal).toEqual([]);
  });

  test("its --json document (the run's events through the JSON sink) fits the published schema", async () => {
    const c = cluster({ kha: true, holder: 'm2' });
    await reset(c.ctx, settings(), opts);
    const sink = new JsonSink();
    for (const e of c.events) sink.emit(e);
    const doc = sink.document({ command: 'reset', exit: 0, error: null, log: null });
    expect(outputProblems(doc)).toEqual([]);
    expect(doc.result).toMatchObject({ check: false, purge: false, changed: true, holders: ['m2'], order: [['m1'], ['m3'], ['m2']] });
    expect(Object.keys(doc.recap)).toEqual(['m1', 'm2', 'm3', 'n1']);
  });

  test("hosts where kha never ran (the packages preinstalled, the distribution's haproxy.cfg, services enabled): nothing changes", async () => {
    const c = cluster({ kha: false });
    await reset(c.ctx, settings(), opts);
    expect(c.unknown).toEqual([]);
    expect(changedTasks(c.events)).toEqual([]);
    expect(c.journal).toEqual([]);
    expect(c.hosts.m1!.files.get('/etc/haproxy/haproxy.cfg')).toBe('global\n    log /dev/log local0\n');
    expect(c.hosts.m1!.services.haproxy!.enabled).toBe(true);
  });

  test('--purge that would remove a package kha did not install stops at the plan: exit 5, nothing changed on any host', async () => {
    const c = cluster({ kha: true });
    c.hosts.m3!.purgeProbe =
      '@@kha-purge@@record\nhaproxy\n@@kha-purge@@status\nhaproxy 2.6.12 ii \n@@kha-purge@@sim\nPurg haproxy [2.6.12]\nRemv my-app [1.0]\nrc=0\n@@kha-purge@@end\n';
    const err = await reset(c.ctx, settings(), { ...opts, purge: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KhaError);
    expect((err as KhaError).exit).toBe(ExitCode.preflight);
    expect((err as KhaError).message).toMatch(
      /^m3: purging what kha installed \(haproxy\) would also remove my-app, which kha did not install; nothing was purged/,
    );
    expect(c.journal).toEqual([]);
  });
});

describe('kha status after a reset: nothing managed by kha', () => {
  const row = (name: string, managed: boolean) => ({
    name,
    address: '10.0.0.1',
    reachable: true,
    vrrpState: managed ? 'BACKUP' : 'NOT MANAGED',
    holdsVip: false,
    keepalived: { active: 'inactive', version: '1:2.2.7-1+b2' },
    haproxy: { active: 'inactive', version: '2.6.12-1+deb12u3' },
    backendsUp: null,
    backendsTotal: null,
    backendsDown: [],
    drift: [],
    managed,
  });
  const report = (managed: boolean): StatusReport => ({
    vip: VIP,
    frontendPort: 8443,
    holders: [],
    healthy: false,
    managed,
    bootstrap: false,
    certProblems: [],
    hosts: [row('m1', managed), row('m2', managed)],
    ...(managed ? { problem: `no host holds the VIP ${VIP}` } : {}),
  });

  test('the status script asks which of keepalived.conf and haproxy.cfg carry the header', () => {
    expect(statusScript([])).toContain(`grep -lsxF -- '${MANAGED_HEADER}' /etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg`);
    expect(nodeStatusScript('nginx')).toContain(`grep -qsxF -- '${MANAGED_HEADER}' /etc/nginx/nginx.conf && echo yes`);
  });

  test('the table says so in one line, and no PROBLEM; a drill refuses with its own words', () => {
    const out = renderStatusTable(report(false));
    expect(out).toContain('nothing managed by kha on m1, m2: no kha config, keepalived and haproxy not running (kha up sets it up)');
    expect(out).not.toContain('PROBLEM');
    expect(out).toMatch(/^m1 +10\.0\.0\.1 +NOT MANAGED /m);
    expect(renderStatusTable(report(true))).toContain('PROBLEM: no host holds the VIP');
    expect(healthProblem(report(false))).toBe('nothing is managed by kha on these hosts; run kha up first');
  });

  test("a node whose proxy config is not kha's and whose proxy does not run is not managed; that is no problem only when nothing is", () => {
    const base = { name: 'n1', address: '10.0.0.21', proxy: 'haproxy' as const };
    const gone = parseNodeStatus('@@kha-node@@active\ninactive\n@@kha-node@@mine\n@@kha-node@@stat\n@@kha-node@@end\n', base);
    expect(gone.managed).toBe(false);
    const kha = parseNodeStatus('@@kha-node@@active\ninactive\n@@kha-node@@mine\nyes\n@@kha-node@@stat\n@@kha-node@@end\n', { ...base, name: 'n2' });
    expect(kha.managed).toBe(true);
    expect(nodeProxyProblem([gone], { unmanagedOk: true })).toBeUndefined();
    expect(nodeProxyProblem([gone])).toBe('no path to an apiserver through the node-local proxy on n1 (haproxy inactive)');
    expect(nodeProxyProblem([gone, kha], { unmanagedOk: true })).toBe('no path to an apiserver through the node-local proxy on n2 (haproxy inactive)');
    expect(renderNodeProxyTable([gone])).toContain('nothing managed by kha on n1');
    expect(renderNodeProxyTable([gone])).toMatch(/^n1 +10\.0\.0\.21 +haproxy +not managed \(inactive\)/m);
  });
});

describe('kha status against fake hosts: after a reset, nothing managed and no problem; half managed stays a problem', () => {
  const FACTS = readFileSync(join(import.meta.dirname, '../fixtures/facts/debian12-m1.txt'), 'utf8');
  /** the lab fixture's facts, with the VIP taken off and the services as given; the status script's answer */
  function statusOf(running: boolean, mine: string[]) {
    const facts = FACTS.replace(/^.*inet 172\.29\.62\.250\/32.*\n/m, '').replace(/ActiveState=active/g, `ActiveState=${running ? 'active' : 'inactive'}`);
    return (script: string) => {
      if (script.includes('@@kha@@hostname')) return { stdout: facts };
      if (script.startsWith('echo @@kha-status@@state'))
        return {
          stdout: `@@kha-status@@state\n@@kha-status@@stat\n@@kha-status@@files\n@@kha-status@@mine\n${mine.map((f) => `${f}\n`).join('')}@@kha-status@@end\n`,
        };
      return { code: 1 };
    };
  }
  const lab = () =>
    resolveSettings(
      parseInventory(
        y(['all:', '  vars:', '    vip: 172.29.62.250', '  children:', '    masters:', '      hosts:', '        m1: { ansible_host: 172.29.62.11 }']),
        'hosts.yaml',
      ),
    );

  test('no kha config, nothing running: managed false, no problem, the one line', async () => {
    const { ctx } = fakeRun(['m1'], (n) => new FakeConn(n, statusOf(false, [])));
    const r = await status(ctx, lab());
    expect(r).toMatchObject({ managed: false, holders: [], healthy: false });
    expect(r.problem).toBeUndefined();
    expect(r.hosts[0]).toMatchObject({ managed: false, vrrpState: 'NOT MANAGED', drift: [] });
    expect(renderStatusTable(r)).toContain('nothing managed by kha on m1');
  });

  test("kha's config still there (a reset that stopped halfway): managed, and no holder is the problem it is", async () => {
    const { ctx } = fakeRun(['m1'], (n) => new FakeConn(n, statusOf(false, ['/etc/keepalived/keepalived.conf'])));
    const r = await status(ctx, lab());
    expect(r.managed).toBe(true);
    expect(r.problem).toBe('no host holds the VIP 172.29.62.250');
  });
});
