// The log file of a run that never connected is not left behind: a run that opened no SSH session
// on any host (a bad inventory, a bad flag value, every host unreachable) removes its default log
// when it ends, and prints no `log:` line pointing at it. A run that reached a host keeps it,
// whatever happened after; --log-file always keeps the file the operator named. The BUILT CLI
// (`npm run build` first) against the in-process fake SSH server.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runKha, showRun } from '../helpers/cli.js';
import { startFakeSshServer, type FakeSshServer } from '../helpers/fake-ssh-server.js';

/** a TCP port nothing listens on (bound, then closed): a connect there is refused at once */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const inventory = (port: number) =>
  ['all:', '  vars:', '    vip: 10.0.0.100', '    ansible_user: root', '    ansible_password: pw-log', '  children:', '    masters:', '      hosts:']
    .concat(`        m1: { ansible_host: 127.0.0.1, ansible_port: ${port} }`, '')
    .join('\n');

describe('the log file of a run that never reached a host is not left behind', () => {
  let dir = '';
  let server: FakeSshServer;
  let deadPort = 0;
  const logs = (state: string) => {
    const d = path.join(state, 'kha', 'logs');
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
  };
  /** a fresh XDG_STATE_HOME per run: its logs are that run's only */
  const kha = async (args: string[]) => {
    const state = fs.mkdtempSync(path.join(dir, 'state-'));
    const r = await runKha(args, { env: { XDG_STATE_HOME: state, HOME: dir, SSH_AUTH_SOCK: '' }, timeoutMs: 60_000 });
    return { ...r, logs: logs(state) };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-log-life-'));
    // answers every command with nothing: enough for a session to open and for status to go on
    server = await startFakeSshServer({ password: 'pw-log', handler: () => ({ code: 0, stdout: '', stderr: '' }) });
    deadPort = await closedPort();
    fs.writeFileSync(path.join(dir, 'up.yaml'), inventory(server.port));
    fs.writeFileSync(path.join(dir, 'down.yaml'), inventory(deadPort));
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'all:\n  vars:\n    vip: 10.0.0.300\n  children:\n    masters:\n      hosts:\n        m1:\n');
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a bad inventory (exit 4): no log left, no log: line', async () => {
    const r = await kha(['status', '-i', path.join(dir, 'bad.yaml')]);
    expect(r.code, showRun(r)).toBe(4);
    expect(r.logs).toEqual([]);
    expect(r.stderr).not.toMatch(/^log:/m);
  });

  test('a bad flag value found inside the run (--serial) and a bad -e: no log left', async () => {
    const serial = await kha(['up', '-i', path.join(dir, 'up.yaml'), '--serial', 'lots']);
    expect(serial.code, showRun(serial)).toBe(4);
    expect(serial.logs).toEqual([]);
    const extra = await kha(['up', '-i', path.join(dir, 'up.yaml'), '-e', 'advert_int=0']);
    expect(extra.code, showRun(extra)).toBe(4);
    expect(extra.logs).toEqual([]);
  });

  test('every host unreachable (exit 3): no session was opened, so no log left and no log: line', async () => {
    const r = await kha(['status', '-i', path.join(dir, 'down.yaml'), '--known-hosts', path.join(dir, 'known_hosts'), '--connect-timeout', '2']);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toMatch(/^error: no host is reachable \(m1: /m);
    expect(r.logs).toEqual([]);
    expect(r.stderr).not.toMatch(/^log:/m);
  });

  test('a run that reached a host keeps its log, and says where it is when it fails', async () => {
    const r = await kha(['status', '-i', path.join(dir, 'up.yaml'), '--known-hosts', path.join(dir, 'known_hosts'), '--accept-new-host-keys']);
    // the fake host answers nothing useful: status fails, after connecting
    expect(r.code, showRun(r)).not.toBe(0);
    expect(r.logs, showRun(r)).toHaveLength(1);
    expect(r.stderr).toContain(`log: `);
    expect(r.stderr).toContain(r.logs[0]!);
  });

  test('--log-file names the log: it stays even when nothing was reached', async () => {
    const file = path.join(dir, 'named.log');
    const r = await kha(['status', '-i', path.join(dir, 'bad.yaml'), '--log-file', file]);
    expect(r.code, showRun(r)).toBe(4);
    expect(fs.existsSync(file)).toBe(true);
  });
});
