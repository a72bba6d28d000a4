// Hostile inventory values: every field that can reach a remote command, with shell
// metacharacters, newlines, quotes, option injection and look-alike unicode. Each is refused at
// load (exit 4, one error line naming the field, nothing printed on stdout, no SSH login on any
// host) or, where the value is legitimately free-form (the sudo password travels on stdin; a
// health path may carry a query with `&`), used safely on real hosts. The marker file
// /tmp/kha-pwned must never appear, on the lab hosts nor here.
//
// Order: the tests share one 2-host lab and run as written: the refused values first (nothing may
// reach the hosts), then the free-form values on real hosts.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { writeLabInventory, type Lab } from '../../src/lab/lab.js';
import { kha, secs, showRun } from '../helpers/cli.js';
import { sh, vipHolders } from '../helpers/hosts.js';
import { sshdLinesPerHost, useLab } from '../helpers/lab.js';

const MARKER = '/tmp/kha-pwned';
const SUB = `$(touch ${MARKER})`;
const TICKS = `\`touch ${MARKER}\``;

interface Hostile {
  /** what is tried, for the report */
  name: string;
  /** the field the error line must name */
  field: string;
  /** change the inventory document (all.vars / masters hosts) */
  edit?: (doc: InvDoc) => void;
  /** extra command-line arguments */
  args?: string[];
  /** a secret: the error must not print it */
  secret?: string;
}

interface InvDoc {
  all: { vars: Record<string, unknown>; children: Record<string, { hosts: Record<string, Record<string, unknown>> }> };
}

const masters = (d: InvDoc) => d.all.children['masters']!.hosts;
const renameHost = (d: InvDoc, from: string, to: string) => {
  const hs = masters(d);
  hs[to] = hs[from]!;
  delete hs[from];
};

const HOSTILE: Hostile[] = [
  { name: 'host name with ;', field: 'masters.hosts', edit: (d) => renameHost(d, 'm1', `m1;touch ${MARKER}`) },
  { name: 'host name with a newline', field: 'masters.hosts', edit: (d) => renameHost(d, 'm1', `m1\ntouch ${MARKER}`) },
  { name: 'host name, look-alike unicode', field: 'masters.hosts', edit: (d) => renameHost(d, 'm1', 'm1-mаster') },
  { name: 'ansible_host with $()', field: 'm1.ansible_host', edit: (d) => (masters(d)['m1']!['ansible_host'] = `10.0.0.1${SUB}`) },
  { name: 'ansible_port with backticks', field: 'm1.ansible_port', edit: (d) => (masters(d)['m1']!['ansible_port'] = `22;${TICKS}`) },
  { name: 'ansible_user with $()', field: 'all.vars.ansible_user', edit: (d) => (d.all.vars['ansible_user'] = `kha${SUB}`) },
  { name: 'ansible_user as an ssh option', field: 'all.vars.ansible_user', edit: (d) => (d.all.vars['ansible_user'] = `-oProxyCommand=touch ${MARKER}`) },
  { name: 'ansible_become_user with ;', field: 'all.vars.ansible_become_user', edit: (d) => (d.all.vars['ansible_become_user'] = `root; touch ${MARKER}`) },
  {
    name: 'ansible_become_password with a newline (a second command for sudo -S)',
    field: 'all.vars.ansible_become_password',
    edit: (d) => (d.all.vars['ansible_become_password'] = `pw\ntouch ${MARKER}`),
    secret: `pw\ntouch ${MARKER}`,
  },
  {
    name: 'ansible_ssh_private_key_file with a newline',
    field: 'ansible_ssh_private_key_file',
    edit: (d) => (d.all.vars['ansible_ssh_private_key_file'] = `/tmp/k\n${SUB}`),
  },
  {
    name: 'ansible_ssh_private_key_file with $() (a local path only: does not exist)',
    field: 'ansible_ssh_private_key_file',
    edit: (d) => (d.all.vars['ansible_ssh_private_key_file'] = `/tmp/${SUB}`),
  },
  { name: 'vrrp_interface with $()', field: 'm1.vrrp_interface', edit: (d) => (masters(d)['m1']!['vrrp_interface'] = `eth0${SUB}`) },
  { name: 'vrrp_interface as an option of ip(8)', field: 'all.vars.vrrp_interface', edit: (d) => (d.all.vars['vrrp_interface'] = '--help') },
  { name: 'vrrp_interface, unicode', field: 'all.vars.vrrp_interface', edit: (d) => (d.all.vars['vrrp_interface'] = 'eth0é') },
  { name: 'vip with backticks', field: 'all.vars.vip', edit: (d) => (d.all.vars['vip'] = `${String(d.all.vars['vip'])};${TICKS}`) },
  { name: 'virtual_router_id with &&', field: 'all.vars.virtual_router_id', edit: (d) => (d.all.vars['virtual_router_id'] = `51 && touch ${MARKER}`) },
  { name: 'frontend_port with |', field: 'all.vars.frontend_port', edit: (d) => (d.all.vars['frontend_port'] = `8443|touch ${MARKER}`) },
  {
    name: 'apiserver_port with a newline (config injection)',
    field: 'm2.apiserver_port',
    edit: (d) => (masters(d)['m2']!['apiserver_port'] = '6443\n    bind *:1'),
  },
  { name: 'api_endpoint_name with $()', field: 'all.vars.api_endpoint_name', edit: (d) => (d.all.vars['api_endpoint_name'] = `api.internal${SUB}`) },
  {
    name: 'api_endpoint_name, look-alike unicode',
    field: 'all.vars.api_endpoint_name',
    edit: (d) => (d.all.vars['api_endpoint_name'] = 'kube-аpiserver.kha.internal'),
  },
  {
    name: 'haproxy_timeout_client with a newline (config injection)',
    field: 'all.vars.haproxy_timeout_client',
    edit: (d) => (d.all.vars['haproxy_timeout_client'] = '4h\n    bind *:9999'),
  },
  {
    name: 'haproxy_timeout_connect with backticks',
    field: 'all.vars.haproxy_timeout_connect',
    edit: (d) => (d.all.vars['haproxy_timeout_connect'] = `5s;${TICKS}`),
  },
  {
    name: 'lb_algorithm with an extra server line',
    field: 'all.vars.lb_algorithm',
    edit: (d) => (d.all.vars['lb_algorithm'] = 'roundrobin\n    server evil 10.0.0.1:1'),
  },
  {
    name: 'apiserver_health_path with quotes and ;',
    field: 'all.vars.apiserver_health_path',
    edit: (d) => (d.all.vars['apiserver_health_path'] = `/readyz';touch ${MARKER};'`),
  },
  {
    name: 'apiserver_health_path with $() and $IFS',
    field: 'all.vars.apiserver_health_path',
    edit: (d) => (d.all.vars['apiserver_health_path'] = `/readyz$(touch\${IFS}${MARKER})`),
  },
  { name: 'vrrp_auth_pass with $()', field: 'all.vars.vrrp_auth_pass', edit: (d) => (d.all.vars['vrrp_auth_pass'] = 'p$(id)'), secret: 'p$(id)' },
  { name: 'keepalived_version with ;', field: 'all.vars.keepalived_version', edit: (d) => (d.all.vars['keepalived_version'] = `1:2.2.7;touch ${MARKER}`) },
  { name: 'haproxy_version as an apt option', field: 'all.vars.haproxy_version', edit: (d) => (d.all.vars['haproxy_version'] = '--allow-downgrades') },
  {
    name: 'node name with | (nodes group, node_local_proxy)',
    field: 'nodes.hosts',
    edit: (d) => {
      d.all.vars['node_local_proxy'] = true;
      d.all.children['nodes'] = { hosts: { [`n1|touch ${MARKER}`]: { ansible_host: '10.0.0.99' } } };
    },
  },
  { name: '--user with $()', field: '--user', args: ['--user', `kha${SUB}`] },
  { name: '--private-key with a newline', field: '--private-key', args: ['--private-key', `/tmp/k\n${SUB}`] },
  { name: '--serial with ;', field: '--serial', args: ['--serial', `1;touch ${MARKER}`] },
];

/** at most `n` promises at a time */
async function pool<T, R>(items: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

async function markerOn(lab: Lab): Promise<string[]> {
  const out: string[] = [];
  for (const h of lab.hosts) if ((await lab.exec(h.name, ['test', '-e', MARKER])).code === 0) out.push(h.name);
  if (fs.existsSync(MARKER)) out.push('local');
  return out;
}

describe('hostile inventory values (2 masters, login as kha with sudo)', () => {
  const lab = useLab(2, { aptCache: true, user: 'kha', preinstalled: true });

  test(`${HOSTILE.length} hostile values are refused before any connection: exit 4, one error line naming the field; no marker anywhere`, async () => {
    const l = lab();
    fs.rmSync(MARKER, { force: true });
    const base = path.join(l.stateDir, 'base.yaml');
    writeLabInventory(l, base);
    const before = await sshdLinesPerHost(l, /^Accepted /);
    const results = await pool(HOSTILE, 4, async (c, i = HOSTILE.indexOf(c)) => {
      const doc = YAML.parse(fs.readFileSync(base, 'utf8')) as InvDoc;
      c.edit?.(doc);
      const file = path.join(l.stateDir, `hostile-${i}.yaml`);
      fs.writeFileSync(file, YAML.stringify(doc));
      const r = await kha(['up', '-i', file, '--yes', ...(c.args ?? [])], { timeoutMs: 60_000 });
      return { c, r };
    });
    const report = results.map(({ c, r }) => `${c.name}: exit ${r.code}: ${r.stderr.split('\n').find((x) => x.startsWith('error: ')) ?? r.stderr.trim()}`);
    console.log(`[hostile] tried at load (${results.length}):\n  ${report.join('\n  ')}`);
    for (const { c, r } of results) {
      const lines = r.stderr.split('\n').filter((x) => x !== '');
      const errors = lines.filter((x) => x.startsWith('error: '));
      expect(r.code, `${c.name}\n${showRun(r)}`).toBe(4);
      expect(errors, `${c.name}: one error line\n${showRun(r)}`).toHaveLength(1);
      expect(
        lines.filter((x) => !x.startsWith('error: ') && !x.startsWith('  try: ')),
        `${c.name}: only the error line (and suggestions)\n${showRun(r)}`,
      ).toEqual([]);
      expect(errors[0], `${c.name}: the error names ${c.field}`).toContain(c.field);
      expect(r.stdout, `${c.name}: nothing ran`).toBe('');
      if (c.secret) expect(r.stderr + r.stdout, `${c.name}: the secret is printed`).not.toContain(c.secret);
    }
    const after = await sshdLinesPerHost(l, /^Accepted /);
    expect(after, 'SSH logins on the lab hosts during the refused runs').toEqual(before);
    expect(await markerOn(l)).toEqual([]);
  });

  test('free-form values used safely on real hosts: a sudo password full of shell syntax (stdin only), a health path with a query and & (quoted in the check script); kha up converges, the marker never appears', async () => {
    const l = lab();
    fs.rmSync(MARKER, { force: true });
    // if the health path were pasted unquoted into the check script, `&/tmp/kha-mark` would run this
    for (const h of l.hosts) {
      await sh(l, h.name, ['sh', '-c', `rm -f ${MARKER}; printf '#!/bin/sh\\ntouch ${MARKER}\\n' > /tmp/kha-mark && chmod 755 /tmp/kha-mark`]);
    }
    const password = `p'w"${SUB};${TICKS}|&& -- --prompt=x \\ $HOME ü`;
    const b64 = Buffer.from(`kha:${password}\n`).toString('base64');
    for (const h of l.hosts) await sh(l, h.name, ['sh', '-c', `printf %s ${b64} | base64 -d | chpasswd`]);
    const healthPath = '/readyz?verbose&/tmp/kha-mark';
    const file = path.join(l.stateDir, 'hostile-ok.yaml');
    writeLabInventory(l, file, { vars: { ansible_become_password: password, apiserver_health_path: healthPath, track_apiserver: true } });
    const log = path.join(l.stateDir, 'hostile-ok.log');
    const r = await kha(['up', '-i', file, '--log-file', log], { timeoutMs: 5 * 60_000 });
    console.log(`[hostile] kha up with the hostile sudo password and health path: ${secs(r.ms)} (exit ${r.code})`);
    expect(r.code, showRun(r)).toBe(0);
    expect(await vipHolders(l)).toEqual(['m1']);
    // the check script holds the URL as one quoted word, and it passes against the stand-in apiserver
    for (const h of l.hosts) {
      const script = await sh(l, h.name, ['cat', '/etc/keepalived/kha-check-apiserver.sh']);
      expect(script).toContain(`'https://127.0.0.1:6443${healthPath}'`);
      expect((await l.exec(h.name, ['sh', '/etc/keepalived/kha-check-apiserver.sh'])).code, `${h.name}: the check script fails`).toBe(0);
    }
    // keepalived has run both check scripts several times by now (interval 2 s)
    await sleep(5_000);
    expect(await markerOn(l)).toEqual([]);
    // the password: never printed, never logged
    expect(r.stdout + r.stderr).not.toContain(password);
    expect(fs.readFileSync(log, 'utf8')).not.toContain('kha-pwned');
  });

  test('an SSH login password full of shell syntax (ansible_password, no key): kha up logs in with it and converges; a wrong one is tried once and refused (exit 3); never printed or logged', async () => {
    const l = lab();
    fs.rmSync(MARKER, { force: true });
    const password = `s'h"${SUB};${TICKS}|| -oProxyCommand=x \\ $PATH ß`;
    const b64 = Buffer.from(`kha:${password}\n`).toString('base64');
    // the lab image allows keys only; this test opens password logins for its own duration
    const passwordLogins = (on: boolean) =>
      Promise.all(
        l.hosts.map((h) =>
          sh(l, h.name, [
            'sh',
            '-c',
            `sed -i 's/^PasswordAuthentication ${on ? 'no' : 'yes'}$/PasswordAuthentication ${on ? 'yes' : 'no'}/' /etc/ssh/sshd_config.d/00-kha.conf && systemctl reload ssh`,
          ]),
        ),
      );
    for (const h of l.hosts) await sh(l, h.name, ['sh', '-c', `printf %s ${b64} | base64 -d | chpasswd`]);
    await passwordLogins(true);
    try {
      const file = path.join(l.stateDir, 'ssh-password.yaml');
      // no key file at all: the password is the only way in (HOME without keys, no agent)
      writeLabInventory(l, file, { vars: { ansible_ssh_private_key_file: undefined, ansible_password: password, ansible_become_password: password } });
      expect(fs.readFileSync(file, 'utf8')).not.toContain('ansible_ssh_private_key_file');
      const env = { HOME: l.stateDir, SSH_AUTH_SOCK: '' };
      const before = await sshdLinesPerHost(l, /^Accepted password for kha /);
      const log = path.join(l.stateDir, 'ssh-password.log');
      const r = await kha(['up', '-i', file, '--log-file', log], { timeoutMs: 5 * 60_000, env });
      console.log(`[hostile] kha up with a hostile SSH login password: ${secs(r.ms)} (exit ${r.code})`);
      expect(r.code, showRun(r)).toBe(0);
      expect(await vipHolders(l)).toEqual(['m1']);
      const after = await sshdLinesPerHost(l, /^Accepted password for kha /);
      expect(
        after.map((a, i) => a - before[i]!),
        'password logins per host',
      ).toEqual(l.hosts.map(() => 1));

      // the wrong password: one attempt per host, exit 3, the host named, the password never shown
      const wrong = `${password}x`;
      const bad = path.join(l.stateDir, 'ssh-password-wrong.yaml');
      writeLabInventory(l, bad, { vars: { ansible_ssh_private_key_file: undefined, ansible_password: wrong, ansible_become_password: password } });
      const failedBefore = await sshdLinesPerHost(l, /^Failed password for kha /);
      const w = await kha(['up', '-i', bad, '--log-file', log], { timeoutMs: 2 * 60_000, env });
      console.log(
        `[hostile] wrong SSH password: exit ${w.code}: ${w.stderr
          .split('\n')
          .filter((x) => x.startsWith('error') || / m[12]: /.test(x))
          .join(' | ')}`,
      );
      expect(w.code, showRun(w)).toBe(3);
      expect(w.stderr, showRun(w)).toMatch(/m1|m2/);
      expect(w.stderr, showRun(w)).toContain('(tried: password): check ansible_user and ansible_password');
      const failedAfter = await sshdLinesPerHost(l, /^Failed password for kha /);
      expect(
        failedAfter.map((a, i) => a - failedBefore[i]!),
        'failed password attempts per host (never retried)',
      ).toEqual(l.hosts.map(() => 1));

      const out = r.stdout + r.stderr + w.stdout + w.stderr + fs.readFileSync(log, 'utf8');
      expect(out).not.toContain(password);
      expect(out).not.toContain('ProxyCommand=x');
      expect(await markerOn(l)).toEqual([]);
    } finally {
      await passwordLogins(false);
    }
  });
});
