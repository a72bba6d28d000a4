// Renderers of src/roles: golden files plus targeted assertions.
//
// The golden files under test/golden/ are compared byte for byte. After an intended change,
// regenerate them with
//     npx vitest run --project unit test/unit/roles.test.ts -u
// then READ THE DIFF line by line before keeping it: the goldens are the reviewed reference, and
// they were checked with the real tools (keepalived 2.2.7 `keepalived -t -f`, haproxy 2.6
// `haproxy -c -f`) on Debian bookworm.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWeight, renderKeepalived, type KeepalivedVars } from '../../src/roles/keepalived.js';
import { needsNonlocalBind, renderHaproxy, type HaproxyVars } from '../../src/roles/haproxy.js';
import {
  CHECK_APISERVER_SCRIPT_PATH,
  CHECK_HAPROXY_SCRIPT_PATH,
  DEFAULT_SCRIPT_USER,
  HAPROXY_VALIDATE_ARGV,
  KEEPALIVED_VALIDATE_ARGV,
  MANAGED_HEADER,
  NOTIFY_SCRIPT_PATH,
  NOTIFY_FIFO,
  HAPROXY_DOWN_FILE,
  parseNotifyState,
  renderCheckApiserverScript,
  renderCheckHaproxyScript,
  renderHaproxyDropIn,
  renderHaproxyTmpfiles,
  renderNotifyScript,
} from '../../src/roles/files.js';

const GOLDEN_DIR = fileURLToPath(new URL('../golden/', import.meta.url));
/** Byte for byte against test/golden/<name> (vitest's file snapshot: `-u` rewrites it). */
function golden(name: string, actual: string): Promise<void> {
  return expect(actual).toMatchFileSnapshot(join(GOLDEN_DIR, name));
}

// Three lb hosts, priorities 150 / 140 / 130: gap 20.
const primary: KeepalivedVars = {
  routerId: 'kha-m1',
  instanceName: 'VI_KHA',
  state: 'MASTER',
  nopreempt: false,
  interface: 'eth0',
  virtualRouterId: 51,
  priority: 150,
  priorityGap: 20,
  advertInt: 1,
  authPass: 'kha-pw01',
  vip: '192.168.50.100',
  vipPrefix: 24,
  checkScript: CHECK_HAPROXY_SCRIPT_PATH,
  scriptUser: DEFAULT_SCRIPT_USER,
  notifyScript: NOTIFY_SCRIPT_PATH,
  notifyFifo: NOTIFY_FIFO,
  haproxyDownFile: HAPROXY_DOWN_FILE,
  garpMasterRefresh: 60,
};

const backupUnicast: KeepalivedVars = {
  ...primary,
  routerId: 'kha-m2',
  state: 'BACKUP',
  priority: 140,
  unicast: { srcIp: '192.168.50.12', peers: ['192.168.50.11', '192.168.50.12', '192.168.50.13'] },
};
delete backupUnicast.authPass;

const trackApiserver: KeepalivedVars = { ...primary, trackApiserver: { script: CHECK_APISERVER_SCRIPT_PATH } };

const nopreempt: KeepalivedVars = {
  ...primary,
  nopreempt: true,
  unicast: { srcIp: '192.168.50.11', peers: ['192.168.50.12', '192.168.50.13'] },
};

const haproxy3: HaproxyVars = {
  frontendPort: 8443,
  bindAddress: '0.0.0.0',
  backends: [
    { name: 'm1', address: '192.168.50.11', port: 6443 },
    { name: 'm2', address: '192.168.50.12', port: 6443 },
    { name: 'm3', address: '192.168.50.13', port: 6443 },
  ],
  algorithm: 'roundrobin',
  healthPath: '/readyz',
  timeouts: { client: '20s', server: '20s', connect: '5s' },
  monitorPort: 8404,
  statsSocket: '/run/haproxy/admin.sock',
  hardStopAfter: '1h',
};

const haproxyLeastconn: HaproxyVars = {
  ...haproxy3,
  bindAddress: '192.168.50.100',
  backends: [
    { name: 'm2', address: '192.168.50.12', port: 6443 },
    { name: 'm1', address: '192.168.50.11', port: 6443 },
  ],
  algorithm: 'leastconn',
  timeouts: { client: '1m', server: '1m', connect: '3s', tunnel: '30m', check: '3s' },
};

describe('golden files', () => {
  it.each([
    ['keepalived.primary.multicast.conf', () => renderKeepalived(primary)],
    ['keepalived.backup.unicast.conf', () => renderKeepalived(backupUnicast)],
    ['keepalived.track-apiserver.conf', () => renderKeepalived(trackApiserver)],
    ['keepalived.nopreempt.conf', () => renderKeepalived(nopreempt)],
    ['haproxy.3masters.cfg', () => renderHaproxy(haproxy3)],
    ['haproxy.leastconn.cfg', () => renderHaproxy(haproxyLeastconn)],
    // version families (facts/versions.ts KEYWORD_GATES): keepalived before 2.2.4, haproxy before 2.4
    ['keepalived-2.1/keepalived.backup.unicast.conf', () => renderKeepalived({ ...backupUnicast, unicastFaultNoPeer: false })],
    ['keepalived-2.1/keepalived.nopreempt.conf', () => renderKeepalived({ ...nopreempt, unicastFaultNoPeer: false })],
    ['haproxy-2.2/haproxy.3masters.cfg', () => renderHaproxy({ ...haproxy3, tcpKeepaliveTimers: false })],
    ['check_haproxy.sh', () => renderCheckHaproxyScript({ monitorPort: 8404 })],
    ['check_apiserver.sh', () => renderCheckApiserverScript({ apiserverPort: 6443, healthPath: '/readyz' })],
    ['notify.sh', () => renderNotifyScript()],
    ['haproxy.dropin.conf', () => renderHaproxyDropIn()],
    ['haproxy.dropin.lb.conf', () => renderHaproxyDropIn({ downFile: HAPROXY_DOWN_FILE })],
    ['haproxy.tmpfiles.conf', () => renderHaproxyTmpfiles()],
  ])('%s', async (name, render) => {
    await golden(name, render());
  });
});

const everyRender = (): string[] => [
  renderKeepalived(primary),
  renderKeepalived(backupUnicast),
  renderKeepalived(trackApiserver),
  renderKeepalived(nopreempt),
  renderHaproxy(haproxy3),
  renderHaproxy(haproxyLeastconn),
  renderCheckHaproxyScript({ monitorPort: 8404 }),
  renderCheckApiserverScript({ apiserverPort: 6443, healthPath: '/readyz' }),
  renderNotifyScript(),
  renderHaproxyDropIn(),
  renderHaproxyDropIn({ downFile: HAPROXY_DOWN_FILE }),
  renderHaproxyTmpfiles(),
];

describe('every rendered file', () => {
  it('carries the managed header and ends with exactly one newline', () => {
    for (const text of everyRender()) {
      expect(text).toContain(MANAGED_HEADER);
      expect(text.endsWith('\n')).toBe(true);
      expect(text.endsWith('\n\n')).toBe(false);
    }
  });

  it('is deterministic', () => {
    expect(everyRender()).toEqual(everyRender());
  });
});

/** The `weight -N` values of a keepalived.conf. */
/** the vrrp_scripts' weights (not the track_file's) */
function weights(conf: string): number[] {
  return [...conf.matchAll(/^vrrp_script [^{]*\{[^}]*^\s*weight (-?\d+)$/gm)].map((m) => Number(m[1]));
}

describe('renderKeepalived', () => {
  it('never writes vrrp_strict', () => {
    for (const v of [primary, backupUnicast, trackApiserver, nopreempt]) {
      expect(renderKeepalived(v)).not.toMatch(/vrrp_strict|strict_mode/);
    }
  });

  it('gives every check a negative weight whose absolute value exceeds max - min priority', () => {
    for (const gap of [0, 1, 20, 100, 243]) {
      const ws = weights(renderKeepalived({ ...trackApiserver, priorityGap: gap }));
      expect(ws).toHaveLength(2);
      for (const w of ws) {
        expect(w).toBeLessThan(0);
        expect(Math.abs(w)).toBeGreaterThan(gap);
        expect(w).toBeGreaterThanOrEqual(-253);
      }
    }
    expect(checkWeight(20)).toBe(-30);
  });

  it('a failing check on the holder drops it below every healthy host', () => {
    const priorities = [150, 140, 130];
    const gap = Math.max(...priorities) - Math.min(...priorities);
    const w = checkWeight(gap);
    for (const p of priorities) {
      for (const other of priorities.filter((q) => q !== p)) expect(p + w).toBeLessThan(other);
    }
  });

  it('rejects a priority gap keepalived cannot express', () => {
    expect(() => renderKeepalived({ ...primary, priorityGap: 244 })).toThrow(/priorityGap/);
  });

  it('vrrp_script has interval 1, timeout 3, fall 3, rise 2 and init_fail (a stall of 2 s moves nothing)', () => {
    const conf = renderKeepalived(primary);
    expect(conf).toMatch(
      /vrrp_script kha_check_haproxy \{\n {4}script "\/etc\/keepalived\/kha-check-haproxy\.sh"\n {4}interval 1\n {4}timeout 3\n {4}fall 3\n {4}rise 2\n/,
    );
    expect(conf).toContain('    init_fail\n');
  });

  it("tracks haproxy's down file with weight 0 (FAULT, so the VIP leaves at once), created as 0 when missing", () => {
    const conf = renderKeepalived(primary);
    expect(conf).toContain('track_file kha_haproxy_down {\n    file "/run/kha-haproxy.down"\n    weight 0\n    init_file\n}\n');
    expect(conf).toContain('    track_file {\n        kha_haproxy_down\n    }\n');
    expect(renderKeepalived(nopreempt)).toContain('    track_file {\n        kha_haproxy_down\n    }\n');
    expect(() => renderKeepalived({ ...primary, haproxyDownFile: 'relative' })).toThrow(/haproxyDownFile/);
  });

  it('global_defs: router_id, enable_script_security, script_user, garp refresh, the notify FIFO and its reader', () => {
    const conf = renderKeepalived(primary);
    expect(conf).toContain(
      'global_defs {\n    router_id kha-m1\n    enable_script_security\n    script_user keepalived_script\n    vrrp_garp_master_refresh 60\n' +
        '    # every transition, in order, to one reader (kha status reads what it records)\n' +
        '    vrrp_notify_fifo /run/keepalived-kha.fifo\n    vrrp_notify_fifo_script /etc/keepalived/kha-notify.sh root\n}\n',
    );
  });

  it('unicast peers exclude self, keep the given order and drop duplicates', () => {
    const conf = renderKeepalived({
      ...backupUnicast,
      unicast: { srcIp: '192.168.50.12', peers: ['192.168.50.13', '192.168.50.12', '192.168.50.11', '192.168.50.13'] },
    });
    expect(conf).toContain(
      '    unicast_src_ip 192.168.50.12\n    unicast_peer {\n        192.168.50.13\n        192.168.50.11\n    }\n    unicast_fault_no_peer\n',
    );
  });

  it('a lone unicast host gets no unicast block (unicast_fault_no_peer would hold it in FAULT)', () => {
    const conf = renderKeepalived({ ...primary, unicast: { srcIp: '192.168.50.11', peers: ['192.168.50.11'] } });
    expect(conf).not.toMatch(/unicast_peer|unicast_src_ip|unicast_fault_no_peer/);
  });

  it('multicast: no unicast keywords', () => {
    expect(renderKeepalived(primary)).not.toContain('unicast');
  });

  it('authentication only when authPass is set', () => {
    expect(renderKeepalived(primary)).toContain('    authentication {\n        auth_type PASS\n        auth_pass kha-pw01\n    }\n');
    expect(renderKeepalived(backupUnicast)).not.toContain('authentication');
    expect(() => renderKeepalived({ ...primary, authPass: 'longer-than-8' })).toThrow(/authPass/);
    expect(() => renderKeepalived({ ...primary, authPass: 'a b' })).toThrow(/authPass/);
  });

  it('nopreempt: state BACKUP even for the primary, nopreempt, checks without weight', () => {
    const conf = renderKeepalived(nopreempt);
    expect(conf).toContain('    state BACKUP\n');
    expect(conf).not.toContain('state MASTER');
    expect(conf).toContain('    nopreempt\n');
    expect(weights(conf)).toEqual([0]);
    expect(renderKeepalived(primary)).not.toContain('nopreempt');
  });

  it('the VIP goes on the instance interface; no per-transition notify (the FIFO keeps the order)', () => {
    const conf = renderKeepalived(primary);
    expect(conf).toContain('    virtual_ipaddress {\n        192.168.50.100/24 dev eth0\n    }\n');
    expect(conf).not.toMatch(/^\s*notify /m);
  });

  it('a second vrrp_script and track entry only with trackApiserver', () => {
    expect(renderKeepalived(primary)).not.toContain('kha_check_apiserver');
    const conf = renderKeepalived(trackApiserver);
    expect(conf).toContain('vrrp_script kha_check_apiserver {\n    script "/etc/keepalived/kha-check-apiserver.sh"\n');
    expect(conf).toContain('    track_script {\n        kha_check_haproxy\n        kha_check_apiserver\n    }\n');
  });

  it('rejects values that would break or inject into the file', () => {
    expect(() => renderKeepalived({ ...primary, interface: 'eth0 }' })).toThrow(/interface/);
    expect(() => renderKeepalived({ ...primary, routerId: 'a\nb' })).toThrow(/routerId/);
    expect(() => renderKeepalived({ ...primary, checkScript: '/etc/x y.sh' })).toThrow(/checkScript/);
    expect(() => renderKeepalived({ ...primary, vip: '192.168.50.300' })).toThrow(/vip/);
    expect(() => renderKeepalived({ ...primary, priority: 255 })).toThrow(/priority/);
    expect(() => renderKeepalived({ ...primary, virtualRouterId: 0 })).toThrow(/virtualRouterId/);
    expect(() => renderKeepalived({ ...primary, vipPrefix: 33 })).toThrow(/vipPrefix/);
  });
});

describe('renderHaproxy', () => {
  const cfg = renderHaproxy(haproxy3);

  it('never uses ssl-hello-chk', () => {
    expect(cfg).not.toContain('ssl-hello-chk');
    expect(renderHaproxy(haproxyLeastconn)).not.toContain('ssl-hello-chk');
  });

  it('balance roundrobin by default, leastconn when asked', () => {
    expect(cfg).toContain('    balance roundrobin\n');
    expect(renderHaproxy(haproxyLeastconn)).toContain('    balance leastconn\n');
  });

  it('global: master-worker, hard-stop-after, admin socket with expose-fd, log, user, chroot', () => {
    expect(cfg).toMatch(/^global\n(?: {4}.*\n)*? {4}master-worker\n/m);
    expect(cfg).toContain('    hard-stop-after 1h\n');
    expect(cfg).toContain('    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners\n');
    expect(cfg).toContain('    log /dev/log local0\n');
    expect(cfg).toContain('    user haproxy\n    group haproxy\n');
    expect(cfg).toContain('    chroot /var/lib/haproxy\n');
  });

  it('defaults: tcp, tcplog, redispatch, retries 3, the given timeouts, tunnel and check', () => {
    expect(cfg).toMatch(/defaults\n {4}log global\n {4}mode tcp\n {4}option tcplog\n {4}option redispatch\n {4}retries 3\n/);
    expect(cfg).toContain('    timeout connect 5s\n    timeout client 20s\n    timeout server 20s\n');
    expect(cfg).toContain('    timeout tunnel 1h\n');
    expect(cfg).toContain('    timeout check 5s\n');
    const lc = renderHaproxy(haproxyLeastconn);
    expect(lc).toContain('    timeout tunnel 30m\n    timeout check 3s\n');
  });

  it('HTTPS health checks on the health path, TLS not verified', () => {
    expect(cfg).toContain('    option httpchk\n    http-check send meth GET uri /readyz\n    http-check expect status 200\n');
    expect(cfg).toContain('    default-server inter 2s fastinter 500ms downinter 500ms fall 3 rise 2 check check-ssl verify none');
  });

  it('one server line per backend, in the given order', () => {
    expect([...cfg.matchAll(/^ {4}server (.*)$/gm)].map((m) => m[1])).toEqual([
      'm1 192.168.50.11:6443 check',
      'm2 192.168.50.12:6443 check',
      'm3 192.168.50.13:6443 check',
    ]);
    const lc = renderHaproxy(haproxyLeastconn);
    expect([...lc.matchAll(/^ {4}server (\S+)/gm)].map((m) => m[1])).toEqual(['m2', 'm1']);
  });

  it('frontend binds the given address and port in tcp mode, transparent (sessions can still be answered once the VIP has moved)', () => {
    expect(cfg).toMatch(/frontend kube-apiserver\n(?: {4}#.*\n)* {4}bind 0\.0\.0\.0:8443 transparent\n {4}mode tcp\n {4}default_backend kube-apiservers\n/);
    expect(renderHaproxy(haproxyLeastconn)).toContain('    bind 192.168.50.100:8443 transparent\n');
  });

  it('loopback monitor frontend for the keepalived check: 200 while haproxy serves, whatever the apiservers do', () => {
    expect(cfg).toMatch(/frontend kha-monitor\n {4}bind 127\.0\.0\.1:8404\n {4}mode http\n {4}monitor-uri \/healthz\n$/);
    // not tied to the backends: with none up (before kubeadm init) every host must look the same to VRRP
    expect(cfg).not.toMatch(/monitor fail|nbsrv/);
  });

  it('backends: a server that comes up is checked every 500ms until it is up (kubeadm init answers through the VIP within about 1 s)', () => {
    expect(cfg).toContain('    default-server inter 2s fastinter 500ms downinter 500ms fall 3 rise 2 check ');
  });

  it('a health path with a query (the inventory accepts /readyz?exclude=etcd&verbose) renders, and is one quoted word in the check script', () => {
    const q = '/readyz?exclude=etcd&verbose';
    expect(renderHaproxy({ ...haproxy3, healthPath: q })).toContain(`    http-check send meth GET uri ${q}\n`);
    const script = renderCheckApiserverScript({ apiserverPort: 6443, healthPath: q });
    // `&` unquoted would send curl to the background and run `verbose` as a command
    expect(script).toContain(`-w '%{http_code}' 'https://127.0.0.1:6443${q}') || exit 1`);
    expect(() => renderCheckApiserverScript({ apiserverPort: 6443, healthPath: "/readyz';touch /tmp/x;'" })).toThrow(/healthPath/);
  });

  it('needsNonlocalBind only for a specific address', () => {
    expect(needsNonlocalBind(haproxy3)).toBe(false);
    expect(needsNonlocalBind({ bindAddress: '::' })).toBe(false);
    expect(needsNonlocalBind(haproxyLeastconn)).toBe(true);
  });

  it('rejects bad input', () => {
    expect(() => renderHaproxy({ ...haproxy3, backends: [] })).toThrow(/backends/);
    expect(() => renderHaproxy({ ...haproxy3, backends: [haproxy3.backends[0]!, haproxy3.backends[0]!] })).toThrow(/twice/);
    expect(() => renderHaproxy({ ...haproxy3, healthPath: '/readyz x' })).toThrow(/healthPath/);
    expect(() => renderHaproxy({ ...haproxy3, timeouts: { ...haproxy3.timeouts, client: '20 s' } })).toThrow(/timeouts.client/);
    expect(() => renderHaproxy({ ...haproxy3, monitorPort: 8443 })).toThrow(/monitorPort/);
    expect(() => renderHaproxy({ ...haproxy3, algorithm: 'source' as 'roundrobin' })).toThrow(/algorithm/);
  });
});

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { PATH: process.env.PATH, ...env }, timeout: 10_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout) });
    });
  });
}

// The scripts themselves, run with the real shells against a loopback server (loopback only).
describe('check_haproxy.sh behaviour', () => {
  let server: Server;
  let port = 0;
  let status = 200;
  let dir = '';

  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? status : 404;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    dir = mkdtempSync(join(tmpdir(), 'kha-roles-'));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const script = (p: number): string => {
    const f = join(dir, `check-${p}.sh`);
    writeFileSync(f, renderCheckHaproxyScript({ monitorPort: p }), { mode: 0o755 });
    return f;
  };

  it('exits 0 on 200', async () => {
    status = 200;
    expect((await run('bash', [script(port)])).code).toBe(0);
  });

  it('exits 1 on 503 (haproxy up, no apiserver up)', async () => {
    status = 503;
    expect((await run('bash', [script(port)])).code).toBe(1);
  });

  it('exits 1 when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect((await run('bash', [script(freePort)])).code).toBe(1);
  });
});

describe('notify.sh behaviour (the vrrp_notify_fifo reader)', () => {
  it("records keepalived's transitions in the order written, counts them and the MASTER ones, ignores groups and unknown states", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kha-roles-'));
    const stateFile = join(dir, 'keepalived-kha.state');
    const fifo = join(dir, 'keepalived-kha.fifo');
    const f = join(dir, 'notify.sh');
    writeFileSync(f, renderNotifyScript({ stateFile }), { mode: 0o755 });
    // both counters carry over from the file a previous reader left
    writeFileSync(stateFile, 'state=BACKUP\ninstance=VI_KHA\npriority=150\nsince=1\nchanges=7\nmasters=4\n');
    execFileSync('mkfifo', [fifo]);
    // keepalived passes the FIFO as the LAST argument
    const reader = spawn('sh', [f, 'ignored', fifo], { stdio: 'ignore' });
    try {
      const state = () => parseNotifyState(existsSync(stateFile) ? readFileSync(stateFile, 'utf8') : '');
      // the metrics exporter reads masters= itself (kha_vrrp_became_master_total); parseNotifyState does not
      const masters = () => /^masters=(\d+)$/m.exec(readFileSync(stateFile, 'utf8'))?.[1];
      const waitFor = async (pred: () => boolean) => {
        for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
      };
      // two bursts, the writer closing in between (the reader reopens the FIFO)
      writeFileSync(
        fifo,
        'INSTANCE "VI_KHA" MASTER 150\nGROUP "G1" FAULT 0\nINSTANCE "VI_KHA" BOGUS 1\nINSTANCE "VI_KHA" FAULT 150\nINSTANCE "VI_KHA" BACKUP 150\n',
      );
      await waitFor(() => state()?.changes === 10);
      const s = state();
      // FAULT then BACKUP, written back to back: the file ends on BACKUP (separate notify processes could swap them)
      expect(s).toMatchObject({ state: 'BACKUP', instance: 'VI_KHA', priority: 150, changes: 10 });
      expect(s?.since).toBeGreaterThan(1_600_000_000);
      expect(masters()).toBe('5');
      writeFileSync(fifo, 'INSTANCE "VI_KHA" MASTER 140\n');
      await waitFor(() => state()?.changes === 11);
      expect(state()).toMatchObject({ state: 'MASTER', priority: 140, changes: 11 });
      expect(masters()).toBe('6');
    } finally {
      reader.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to run without a FIFO', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kha-roles-'));
    try {
      const f = join(dir, 'notify.sh');
      writeFileSync(f, renderNotifyScript({ stateFile: join(dir, 'state') }), { mode: 0o755 });
      const r = await run('sh', [f, join(dir, 'missing')]);
      expect(r.code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parseNotifyState rejects foreign content', () => {
    expect(parseNotifyState('')).toBeUndefined();
    expect(parseNotifyState('state=WHATEVER\n')).toBeUndefined();
    expect(parseNotifyState('state=BACKUP\ninstance=VI_KHA\npriority=x\n')).toEqual({
      state: 'BACKUP',
      instance: 'VI_KHA',
      priority: undefined,
      since: undefined,
    });
  });
});

describe("the drop-in's reload keeps drained servers drained", () => {
  it("replaces the unit's ExecReload list: the config checked, the state saved, then the reload signal", () => {
    const reload = renderHaproxyDropIn()
      .split('\n')
      .filter((l) => l.startsWith('ExecReload='));
    expect(reload).toEqual([
      'ExecReload=',
      'ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS',
      // `-`: a failed save (haproxy stopped) never blocks the reload
      'ExecReload=-/usr/bin/perl /etc/haproxy/kha-server-state.pl',
      'ExecReload=/bin/kill -USR2 $MAINPID',
    ]);
  });

  it('haproxy.cfg names the state file in global and loads it for every backend (the node-local one too: its golden)', () => {
    const cfg = renderHaproxy(haproxy3);
    const global = cfg.slice(cfg.indexOf('\nglobal\n'), cfg.indexOf('\ndefaults\n'));
    const defaults = cfg.slice(cfg.indexOf('\ndefaults\n'), cfg.indexOf('\nfrontend '));
    expect(global).toContain('\n    server-state-file /var/lib/haproxy/server-state\n');
    expect(defaults).toContain('\n    load-server-state-from-file global\n');
  });
});

describe('haproxy /run/haproxy helpers', () => {
  it('drop-in re-applies the tmpfiles entry before start, tmpfiles matches Debian', () => {
    expect(renderHaproxyDropIn()).toContain('\nExecStartPre=-/usr/bin/systemd-tmpfiles --create /etc/tmpfiles.d/haproxy.conf\n');
    expect(renderHaproxyDropIn()).not.toContain('RuntimeDirectory');
    expect(renderHaproxyTmpfiles()).toContain('\nd /run/haproxy 2775 haproxy haproxy -\n');
  });
});

// keepalived 2.2.7 `-t` exits 143 whenever a vrrp_script exists (keepalived #2587): the wrapper
// judges by its messages. A fake `keepalived` on PATH plays each case.
describe('validator argv', () => {
  it('keepalived: passes on silence with 0 or 143, fails on any message or other code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kha-roles-'));
    try {
      const conf = join(dir, 'keepalived.conf');
      writeFileSync(conf, renderKeepalived(primary));
      const fake = (body: string): void => writeFileSync(join(dir, 'keepalived'), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      const validate = async (): Promise<number> => {
        const argv = KEEPALIVED_VALIDATE_ARGV.map((a) => (a === '%s' ? conf : a));
        return (await run(argv[0]!, argv.slice(1), { PATH: `${dir}:${process.env.PATH ?? ''}` })).code;
      };
      fake('[ "$1 $2 $3" = "-t -f ' + conf + '" ] || exit 9; kill -TERM $$');
      expect(await validate()).toBe(0);
      fake('exit 0');
      expect(await validate()).toBe(0);
      fake('echo "(Line 26) Unknown keyword \'bogus\'" >&2; kill -TERM $$');
      expect(await validate()).toBe(1);
      fake('exit 5');
      expect(await validate()).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('haproxy: -c on the temp file', () => {
    expect(HAPROXY_VALIDATE_ARGV).toEqual(['haproxy', '-c', '-q', '-f', '%s']);
  });
});
