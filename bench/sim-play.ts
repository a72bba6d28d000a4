// The simulated fleet's play and the canned answers that make it a no-change run.
//
// Ten tasks on every host, with kha's real modules (package, command, file, template, service),
// shaped like the configure + start plays of `kha up`. The fake server (sim-server.ts) answers
// exactly the commands those modules send when nothing needs to change, built here from the
// same functions the modules use (factsScript, installedQuery, statScript, probeScript) and the
// same rendered file contents (so template probes answer the right sha256). Any other command
// gets exit 127 and is counted as unexpected: the benchmark then fails instead of measuring a
// run that took another path.
import type { Handler, Play, Task } from '../src/engine/types.js';
import { factsScript, FACT_PACKAGES, FACT_SERVICES } from '../src/facts/gather.js';
import { commandModule, fileModule, packageModule, serviceModule, templateModule } from '../src/modules/index.js';
import { installedQuery } from '../src/modules/package.js';
import { statScript } from '../src/modules/file.js';
import { FILE_STAT } from '../src/modules/probe-groups.js';
import { probeScript, sha256, type TemplateParams } from '../src/modules/template.js';
import { renderCheckHaproxyScript, renderNotifyScript } from '../src/roles/files.js';
import { renderHaproxy } from '../src/roles/haproxy.js';
import { renderKeepalived } from '../src/roles/keepalived.js';
import { batchMarkers } from '../src/transport/batch.js';
import { quote, render } from '../src/transport/quote.js';
import type { Command } from '../src/transport/types.js';

export const SIM_TASKS = 10;
const SCRIPT_USER = 'keepalived_script';
const PACKAGES = ['keepalived', 'haproxy'];
const DIRS = ['/etc/keepalived', '/etc/systemd/system/haproxy.service.d'];
const SERVICES = ['haproxy', 'keepalived'];

export function simHostName(i: number): string {
  return `h${String(i + 1).padStart(4, '0')}`;
}

/** The files every simulated host has: kha's own renderers, keepalived.conf differs per host. */
export function simFiles(i: number): TemplateParams[] {
  const name = simHostName(i);
  return [
    { path: '/etc/keepalived/kha-check-haproxy.sh', content: renderCheckHaproxyScript({ monitorPort: 8404 }), mode: 0o755, owner: 'root', group: 'root' },
    { path: '/etc/keepalived/kha-notify.sh', content: renderNotifyScript(), mode: 0o755, owner: 'root', group: 'root' },
    {
      path: '/etc/haproxy/haproxy.cfg',
      content: renderHaproxy({
        frontendPort: 8443,
        bindAddress: '0.0.0.0',
        backends: [1, 2, 3].map((n) => ({ name: `m${n}`, address: `10.0.0.${10 + n}`, port: 6443 })),
        algorithm: 'roundrobin',
        healthPath: '/readyz',
        timeouts: { client: '4h', server: '4h', connect: '5s', tunnel: '4h' },
        monitorPort: 8404,
        statsSocket: '/run/haproxy/admin.sock',
        hardStopAfter: '30s',
      }),
      mode: 0o644,
      owner: 'root',
      group: 'root',
      validate: ['haproxy', '-c', '-q', '-f', '%s'],
    },
    {
      path: '/etc/keepalived/keepalived.conf',
      content: renderKeepalived({
        routerId: `kha-${name}`,
        instanceName: 'VI_KHA',
        state: i === 0 ? 'MASTER' : 'BACKUP',
        nopreempt: false,
        interface: 'eth0',
        virtualRouterId: 51,
        priority: i === 0 ? 150 : 100,
        priorityGap: 50,
        advertInt: 1,
        vip: '10.0.0.250',
        vipPrefix: 32,
        checkScript: '/etc/keepalived/kha-check-haproxy.sh',
        scriptUser: SCRIPT_USER,
        notifyScript: '/etc/keepalived/kha-notify.sh',
        notifyFifo: '/run/keepalived-kha.fifo',
        haproxyDownFile: '/run/kha-haproxy.down',
        garpMasterRefresh: 60,
      }),
      mode: 0o600,
      owner: 'root',
      group: 'root',
      validate: ['keepalived', '-t', '-f', '%s'],
    },
  ];
}

const USERADD: Command = { argv: ['useradd', '--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', SCRIPT_USER] };
const ID_PROBE: Command = { argv: ['id', '-u', SCRIPT_USER] };

/** The 10-task play (plus kha's three handlers, notified only on change). */
export function simPlay(hosts: string[], indexOf: (host: string) => number): Play {
  const files = new Map<number, TemplateParams[]>();
  const filesOf = (host: string) => {
    const i = indexOf(host);
    let f = files.get(i);
    if (!f) files.set(i, (f = simFiles(i)));
    return f;
  };
  const templates: Task<any>[] = [0, 1, 2, 3].map((k) => ({
    module: templateModule,
    params: (hc: { host: { name: string } }) => filesOf(hc.host.name)[k]!,
    ...(k === 2 ? { notify: ['reload haproxy'] } : k === 3 ? { notify: ['restart keepalived'] } : {}),
  }));
  const tasks: Task<any>[] = [
    { module: packageModule, params: { names: PACKAGES, noStart: true } },
    { module: commandModule, params: { title: `user ${SCRIPT_USER}`, cmd: USERADD, unless: ID_PROBE } },
    ...DIRS.map((d) => ({ module: fileModule, params: { path: d, state: 'directory', mode: 0o755, owner: 'root', group: 'root' } })),
    ...templates,
    { module: serviceModule, params: { name: 'haproxy', state: 'started', enabled: true, daemonReload: true } },
    { module: serviceModule, params: { name: 'keepalived', state: 'started', enabled: true } },
  ];
  if (tasks.length !== SIM_TASKS) throw new Error(`the sim play has ${tasks.length} tasks, not ${SIM_TASKS}`);
  const handlers: Handler<any>[] = [
    { name: 'reload haproxy', module: serviceModule, params: { name: 'haproxy', state: 'reloaded' } },
    { name: 'restart keepalived', module: serviceModule, params: { name: 'keepalived', state: 'restarted' } },
  ];
  return { name: 'sim', hosts, tasks, handlers, maxFailPercentage: 0 };
}

export interface CannedResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What the SSH server receives for a command run as root (no sudo): `sh -c <quoted script>`. */
function wire(c: Command | string): string {
  return `sh -c ${quote(typeof c === 'string' ? c : render(c))}`;
}

function factsOutput(i: number): string {
  const M = '@@kha@@';
  const a = 10 + (i >> 8);
  const b = i & 255;
  return [
    `${M}hostname`,
    simHostName(i),
    `${M}uid`,
    '0',
    `${M}os`,
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
    'NAME="Debian GNU/Linux"',
    'VERSION_ID="12"',
    'ID=debian',
    `${M}pkgmgr`,
    'apt-get',
    `${M}systemd`,
    'yes',
    `${M}addr`,
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    `2: eth0    inet 10.0.${a}.${b}/16 brd 10.0.255.255 scope global eth0\\       valid_lft forever preferred_lft forever`,
    `${M}link`,
    '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
    '2: eth0@if9: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default \\    link/ether 02:42:ac:1d:00:0b brd ff:ff:ff:ff:ff:ff link-netnsid 0',
    `${M}pkgs`,
    'keepalived 1:2.2.7-1+b2 ii ',
    'haproxy 2.6.12-1+deb12u1 ii ',
    `${M}svc`,
    'Id=keepalived.service',
    'ActiveState=active',
    'UnitFileState=enabled',
    '',
    'Id=haproxy.service',
    'ActiveState=active',
    'UnitFileState=enabled',
    `${M}listen`,
    'LISTEN 0      4096         0.0.0.0:8443       0.0.0.0:*    users:(("haproxy",pid=812,fd=7))',
    'LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=95,fd=3))',
    `${M}end`,
    '',
  ].join('\n');
}

/** The inverse of quote() for one word (`'it'\\''s'` -> `it's`; safe words are as is). */
function unquoteWord(w: string): string | undefined {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w)) return w;
  if (w.length < 2 || !w.startsWith("'") || !w.endsWith("'")) return undefined;
  return w.slice(1, -1).replace(/'\\''/g, "'");
}

const BATCH_PART =
  /^sh -c ('(?:[^']|'\\'')*'|[A-Za-z0-9_@%+=:,./-]+) <\/dev\/null; r=\$\?; printf '\\n%s %s\\n' @@kha-([A-Za-z0-9]+):rc "\$r"; printf '\\n%s\\n' @@kha-\2:end >&2$/gm;

/**
 * The fake host as a shell for kha's batched probes (src/transport/batch.ts): each part of the
 * batch is answered from the same canned map as if it had been sent alone, framed the way `sh`
 * would frame it. One command on the wire, one injected delay, like a real host running the batch.
 */
export function simAnswer(answers: Map<string, CannedResult>, command: string): CannedResult | undefined {
  const direct = answers.get(command);
  if (direct) return direct;
  if (!command.startsWith('sh -c ')) return undefined;
  const script = unquoteWord(command.slice(6));
  if (!script || !script.includes('@@kha-')) return undefined;
  let stdout = '';
  let stderr = '';
  let parts = 0;
  let consumed = 0;
  for (const m of script.matchAll(BATCH_PART)) {
    const part = unquoteWord(m[1]!);
    const a = part === undefined ? undefined : answers.get(wire(part));
    if (!a) return undefined;
    const mk = batchMarkers(m[2]!);
    stdout += `${a.stdout}\n${mk.rc} ${a.code}\n`;
    stderr += `${a.stderr}\n${mk.end}\n`;
    parts++;
    consumed += m[0].length;
  }
  // every line must have been a part (the parts are joined by newlines)
  if (parts === 0 || consumed + parts - 1 !== script.length) return undefined;
  return { code: 0, stdout, stderr };
}

/** Exact command -> canned answer for host i: every command of a no-change run of simPlay. */
export function simAnswers(i: number): Map<string, CannedResult> {
  const ok = (stdout: string): CannedResult => ({ code: 0, stdout, stderr: '' });
  const m = new Map<string, CannedResult>();
  m.set(wire(factsScript(FACT_PACKAGES, FACT_SERVICES, [])), ok(factsOutput(i)));
  m.set(wire(installedQuery(PACKAGES)), ok('keepalived 1:2.2.7-1+b2 ii \nhaproxy 2.6.12-1+deb12u1 ii \n'));
  m.set(wire(ID_PROBE), ok('998\n'));
  for (const d of DIRS) m.set(wire(statScript(d)), ok('directory|755|root|root\n'));
  for (const f of simFiles(i)) {
    m.set(wire(probeScript(f.path, false)), ok(`regular file|${f.mode.toString(8)}|root|root\n${sha256(f.content)}  ${f.path}\n`));
  }
  // the same reads merged into one command, as the engine sends them (src/modules/probe-groups.ts):
  // the directories' stat and the templates' stat + sha256, in task order
  const files = simFiles(i);
  m.set(
    wire(FILE_STAT.script([...DIRS.map((d) => `stat:${d}`), ...files.map((f) => `hash:${f.path}`)])),
    ok(
      [
        '@@kha-stat@@',
        ...DIRS.map((d) => `${d}|directory|755|root|root`),
        ...files.map((f) => `${f.path}|regular file|${f.mode.toString(8)}|root|root`),
        '@@kha-sha@@',
        ...files.map((f) => `${sha256(f.content)}  ${f.path}`),
        '',
      ].join('\n'),
    ),
  );
  for (const s of SERVICES) {
    m.set(
      wire(`systemctl show -p LoadState -p ActiveState -p UnitFileState -- ${quote(`${s}.service`)}`),
      ok('LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n'),
    );
  }
  return m;
}
