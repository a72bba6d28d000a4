// haproxy's runtime API as kha uses it (src/facts/haproxy.ts), the apiserver health probe
// (readyProbeScript, src/actions/probes.ts) and the server-state save
// (src/roles/server-state.ts): the parsers as tables, and the perl scripts run here for real (perl
// and IO::Socket::UNIX, as on the hosts) against a fake stats socket (test/helpers/fake-haproxy.ts).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN, commandRefusal, drainedServers, parseServersState, runtimeAnswers, runtimeScript, serverView } from '../../src/facts/haproxy.js';
import { readyAnswer, readyProbeScript } from '../../src/actions/probes.js';
import { parseHaproxyStat } from '../../src/actions/probes.js';
import { MANAGED_HEADER } from '../../src/roles/files.js';
import { SERVER_STATE_FILE, parseSaved, renderServerStateScript, saveStateScript, serverStatePerl } from '../../src/roles/server-state.js';
import { STATS_SOCKET, HAPROXY_CFG } from '../../src/roles/ha.js';
import { quote, quoteArgv } from '../../src/transport/quote.js';
import { showServersState, showStat, startFakeHaproxy, type FakeHaproxy, type FakeServer } from '../helpers/fake-haproxy.js';

const execFileP = promisify(execFile);
const servers = (): FakeServer[] => [
  { name: 'm1', port: 6443, health: 'UP', admin: 0, sessions: 2 },
  { name: 'm2', port: 6443, health: 'UP', admin: 8, sessions: 3 },
  { name: 'm3', port: 6443, health: 'DOWN', admin: 0, sessions: 0 },
];

/** a script as the host's sh runs it; `paths` swaps the hosts' paths for this test's */
async function sh(script: string, paths: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let s = script;
  for (const [from, to] of Object.entries(paths)) s = s.split(from).join(to);
  try {
    const { stdout, stderr } = await execFileP('/bin/sh', ['-c', s], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('what the socket says, parsed', () => {
  test('show servers state: read by the header, a server per line; the drained ones', () => {
    const text = showServersState('kube-apiservers', servers());
    expect(parseServersState(text)).toEqual([
      { backend: 'kube-apiservers', server: 'm1', opState: 2, adminState: 0 },
      { backend: 'kube-apiservers', server: 'm2', opState: 2, adminState: 8 },
      { backend: 'kube-apiservers', server: 'm3', opState: 0, adminState: 0 },
    ]);
    expect(drainedServers(text, 'kube-apiservers')).toEqual(['m2']);
    expect(drainedServers(text, 'other')).toEqual([]);
    // an inherited drain (a tracked server) counts; maintenance does not
    expect(
      drainedServers(
        text.replace(' m1 10.0.0.11 2 0 ', ` m1 10.0.0.11 2 ${ADMIN.IDRAIN} `).replace(' m3 10.0.0.13 0 0 ', ' m3 10.0.0.13 0 1 '),
        'kube-apiservers',
      ),
    ).toEqual(['m1', 'm2']);
    expect(parseServersState("Can't find backend.\n")).toEqual([]);
    expect(parseServersState('')).toEqual([]);
  });

  test('show stat: the sessions (scur) beside the status', () => {
    expect(parseHaproxyStat(showStat('kube-apiservers', servers()))).toEqual([
      { backend: 'kube-apiservers', server: 'm1', status: 'UP', sessions: 2 },
      { backend: 'kube-apiservers', server: 'm2', status: 'DRAIN', sessions: 3 },
      { backend: 'kube-apiservers', server: 'm3', status: 'DOWN', sessions: 0 },
    ]);
  });

  test.each([
    ['UP, not drained', servers()[0]!, { status: 'UP', drained: false, maint: false, sessions: 2 }],
    ['drained, sessions still open', servers()[1]!, { status: 'DRAIN', drained: true, maint: false, sessions: 3 }],
    // a drained server whose health check fails shows DOWN, not DRAIN: the admin state says it is drained
    ['drained and DOWN', { ...servers()[1]!, health: 'DOWN' as const }, { status: 'DOWN', drained: true, maint: false, sessions: 3 }],
    ['in maintenance', { ...servers()[0]!, admin: 1 }, { status: 'MAINT', drained: false, maint: true, sessions: 2 }],
  ])('serverView: %s', (_n, srv, want) => {
    const list = [srv];
    expect(serverView(showStat('kube-apiservers', list), showServersState('kube-apiservers', list), 'kube-apiservers', srv.name)).toEqual(want);
  });

  test('serverView: a server haproxy does not list is null', () => {
    expect(serverView(showStat('kube-apiservers', servers()), showServersState('kube-apiservers', servers()), 'kube-apiservers', 'm4')).toBeNull();
  });

  test.each([
    ['', null],
    ['\n', null],
    ['No such server.\n\n', 'No such server.'],
    ['Unknown command. Please enter one of the following commands only :\n  help\n', 'Unknown command. Please enter one of the following commands only :'],
  ])('commandRefusal(%j)', (answer, want) => {
    expect(commandRefusal(answer)).toBe(want);
  });

  test.each([
    ['200', '200'],
    ['200\n', '200'],
    ['503', '503'],
    ['', '000'],
    ['curl: (7) failed', '000'],
    ['no-tool\n', 'no-tool'],
  ])('readyAnswer(%j) = %s', (out, want) => {
    expect(readyAnswer(out)).toBe(want);
  });

  test('runtimeAnswers: each command its answer, in order', () => {
    const out = '@@kha-rt@@0\n\n@@kha-rt@@1\nx,y\n\n';
    expect(runtimeAnswers(out, 3)).toEqual(['', 'x,y\n\n', '']);
  });

  test('the scripts: every value quoted, one command a line', () => {
    expect(runtimeScript(STATS_SOCKET, ['show stat', "set server a/b'; reboot state drain"])).toContain(`'set server a/b'\\''; reboot state drain'`);
    expect(() => runtimeScript(STATS_SOCKET, ['show stat\nshutdown sessions server a/b'])).toThrow(/one line/);
    expect(readyProbeScript("10.0.0.12'; reboot", 6443, '/readyz')).toContain(`'https://10.0.0.12'\\''; reboot:6443/readyz'`);
    expect(readyProbeScript('fd00::12', 6443, '/readyz')).toContain(`'https://[fd00::12]:6443/readyz'`);
  });
});

describe('the perl scripts against a fake stats socket', () => {
  let dir = '';
  let hap: FakeHaproxy;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-runtime-'));
    hap = await startFakeHaproxy(dir, 'kube-apiservers', servers());
  });
  afterAll(async () => {
    await hap.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const paths = () => ({ [STATS_SOCKET]: hap.socket, [SERVER_STATE_FILE]: path.join(dir, 'server-state'), [HAPROXY_CFG]: path.join(dir, 'haproxy.cfg') });

  test('runtimeScript: one connection per command, each answer after its marker', async () => {
    hap.received.length = 0;
    const r = await sh(
      runtimeScript(STATS_SOCKET, [
        'set server kube-apiservers/m1 state drain',
        'show servers state kube-apiservers',
        'set server kube-apiservers/m9 state drain',
      ]),
      paths(),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(hap.received).toEqual([
      'set server kube-apiservers/m1 state drain',
      'show servers state kube-apiservers',
      'set server kube-apiservers/m9 state drain',
    ]);
    const [set, state, refused] = runtimeAnswers(r.stdout, 3);
    expect(commandRefusal(set!)).toBeNull();
    expect(drainedServers(state!, 'kube-apiservers')).toEqual(['m1', 'm2']);
    expect(commandRefusal(refused!)).toBe('No such server.');
    hap.servers[0]!.admin = 0;
  });

  test('runtimeScript: no socket (haproxy stopped) is exit 2 and one line on stderr', async () => {
    const r = await sh(runtimeScript(STATS_SOCKET, ['show stat']), { [STATS_SOCKET]: path.join(dir, 'none.sock') });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`stats socket ${path.join(dir, 'none.sock')}: No such file or directory\n`);
  });

  test('the save: only the drained servers, each with the port of the config being loaded; `saved N`', async () => {
    // the config moved m2 to 7443 since the state was made; m9 is gone from it
    fs.writeFileSync(paths()[HAPROXY_CFG], 'backend kube-apiservers\n    server m1 10.0.0.11:6443 check\n    server m2 10.0.0.12:7443 check\n');
    hap.servers.push({ name: 'm9', port: 6443, health: 'UP', admin: 8, sessions: 0 });
    try {
      const r = await sh(saveStateScript({ statsSocket: STATS_SOCKET, config: HAPROXY_CFG }), paths());
      expect(r.code, r.stderr).toBe(0);
      expect(parseSaved(r.stdout)).toBe(1);
      const file = fs.readFileSync(paths()[SERVER_STATE_FILE], 'utf8');
      const lines = file.split('\n');
      expect(lines[0]).toBe('1');
      expect(lines[1]).toBe(MANAGED_HEADER);
      expect(lines.slice(2)).toEqual(['3 kube-apiservers 2 m2 10.0.0.12 2 8 1 1 12 6 3 4 6 0 0 0 - 7443 - 0 0 - - 0', '']);
      expect(fs.existsSync(`${paths()[SERVER_STATE_FILE]}.kha-tmp`)).toBe(false);
    } finally {
      hap.servers.pop();
    }
  });

  test('the save with nothing drained writes a file haproxy reads as no state at all', async () => {
    hap.servers[1]!.admin = 0;
    try {
      const r = await sh(`perl -e ${quote(serverStatePerl())} ${quoteArgv(Object.values(paths()))}`);
      expect(r.code, r.stderr).toBe(0);
      expect(parseSaved(r.stdout)).toBe(0);
      expect(fs.readFileSync(paths()[SERVER_STATE_FILE], 'utf8')).toBe(`1\n${MANAGED_HEADER}\n`);
    } finally {
      hap.servers[1]!.admin = 8;
    }
  });

  test('the save with haproxy stopped keeps the file as it was (exit 2): a reload never loses a drain for it', async () => {
    fs.writeFileSync(paths()[SERVER_STATE_FILE], 'before\n');
    const r = await sh(`perl -e ${quote(serverStatePerl())} ${quoteArgv([path.join(dir, 'none.sock'), paths()[SERVER_STATE_FILE], paths()[HAPROXY_CFG]])}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^stats socket .*none\.sock: No such file or directory\n$/);
    expect(fs.readFileSync(paths()[SERVER_STATE_FILE], 'utf8')).toBe('before\n');
  });

  test('the script file the drop-in runs: the same code, the paths written in; perl -c accepts it', async () => {
    const text = renderServerStateScript({ statsSocket: STATS_SOCKET, config: HAPROXY_CFG });
    expect(text.split('\n').slice(0, 2)).toEqual(['#!/usr/bin/perl', MANAGED_HEADER]);
    expect(text).toContain(`@ARGV = ('${STATS_SOCKET}', '${SERVER_STATE_FILE}', '${HAPROXY_CFG}') unless @ARGV;\n${serverStatePerl()}\n`);
    const file = path.join(dir, 'kha-server-state.pl');
    fs.writeFileSync(file, text);
    const c = await execFileP('perl', ['-c', file]);
    expect(c.stderr).toMatch(/syntax OK/);
    // run as the drop-in runs it (no arguments), the host's paths swapped for this test's
    fs.writeFileSync(
      file,
      text.split(STATS_SOCKET).join(hap.socket).split(SERVER_STATE_FILE).join(paths()[SERVER_STATE_FILE]).split(HAPROXY_CFG).join(paths()[HAPROXY_CFG]),
    );
    const r = await execFileP('perl', [file]);
    expect(r.stdout).toBe('saved 1\n');
  });
});

describe("the health path probe, run here against a local HTTPS server (as haproxy's check asks the apiserver)", () => {
  let dir = '';
  let server: import('node:https').Server;
  let port = 0;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-readyz-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    await execFileP('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=standin',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    const https = await import('node:https');
    server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      res.writeHead(req.url === '/readyz' ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(req.url === '/readyz' ? 'ok\n' : 'not ready\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as import('node:net').AddressInfo).port;
    // a PATH with openssl and the tools the script needs, but no curl
    fs.mkdirSync(path.join(dir, 'bin'));
    for (const tool of ['openssl', 'timeout', 'head']) {
      const { stdout } = await execFileP('sh', ['-c', `command -v ${tool}`]);
      fs.symlinkSync(stdout.trim(), path.join(dir, 'bin', tool));
    }
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // as the host's exec: the answer is what it printed, whatever its exit (curl exits 7 on a refused connection)
  const probe = async (script: string, env: NodeJS.ProcessEnv = process.env) => {
    const out = await execFileP('/bin/sh', ['-c', script], { env, timeout: 20_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    return readyAnswer(out.stdout);
  };

  test('with curl: 200 on the health path, the status otherwise, 000 when nothing listens', async () => {
    expect(await probe(readyProbeScript('127.0.0.1', port, '/readyz'))).toBe('200');
    expect(await probe(readyProbeScript('127.0.0.1', port, '/livez'))).toBe('503');
    expect(await probe(readyProbeScript('127.0.0.1', await net0(), '/readyz'))).toBe('000');
  });

  test('without curl, through openssl s_client: the same answers', async () => {
    const env = { PATH: path.join(dir, 'bin') };
    expect(await probe(readyProbeScript('127.0.0.1', port, '/readyz'), env)).toBe('200');
    expect(await probe(readyProbeScript('127.0.0.1', port, '/livez'), env)).toBe('503');
    expect(await probe(readyProbeScript('127.0.0.1', await net0(), '/readyz'), env)).toBe('000');
  });

  test('neither curl nor openssl: no-tool', async () => {
    expect(await probe(readyProbeScript('127.0.0.1', port, '/readyz'), { PATH: path.join(dir, 'empty') })).toBe('no-tool');
  });
});

/** a local port nothing listens on (bound, then closed) */
async function net0(): Promise<number> {
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const p = (s.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return p;
}
