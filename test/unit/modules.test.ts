// The modules' apply side (and the waiting of wait_for) against the fake connection: uploads,
// validation, renames, rollbacks, error messages. Their decisions are tables: module-tables.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { HostContext, Module, Plan } from '../../src/engine/types.js';
import { commandModule, packageModule, serviceModule, templateModule, waitForModule } from '../../src/modules/index.js';
import { parseProbe } from '../../src/modules/template.js';
import { installScript } from '../../src/modules/package.js';
import { daemonReloadIfNeeded } from '../../src/modules/service.js';
import { FakeConn, fakeFacts, fakeInventory } from '../helpers/fake-conn.js';
import type { Handler } from '../helpers/fake-conn.js';

function hc(handler: Handler, over: Partial<HostContext> = {}): HostContext & { conn: FakeConn } {
  const conn = new FakeConn('m1', handler);
  return {
    host: fakeInventory(['m1']).hosts[0]!,
    conn,
    facts: fakeFacts(),
    check: false,
    diff: false,
    signal: new AbortController().signal,
    ...over,
  } as HostContext & { conn: FakeConn };
}

async function plan<P>(m: Module<P>, ctx: HostContext, p: P): Promise<Plan> {
  return m.plan(ctx, p);
}

describe('package', () => {
  it('installs what is missing with apt, noninteractive, lock wait, services kept stopped', async () => {
    const ctx = hc((s) => (s.includes('dpkg-query') ? { stdout: 'keepalived 1:2.2.7 ii \n' } : undefined));
    const p = await plan(packageModule, ctx, { names: ['keepalived', 'haproxy'], noStart: true });
    expect(p.change).toBe(true);
    expect(p.why).toBe('haproxy missing');
    if (p.change) await p.apply();
    const script = ctx.conn.log[1]!;
    expect(script).toContain('DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120');
    expect(script).toContain('install --no-install-recommends haproxy');
    expect(script).toContain('/usr/sbin/policy-rc.d');
  });

  it('a pinned version that differs is a change; dnf script', async () => {
    const ctx = hc((s) => (s.includes('dpkg-query') ? { stdout: 'haproxy 2.6.12-1 ii \n' } : undefined), { facts: fakeFacts({ pkgMgr: 'dnf' }) });
    const p = await plan(packageModule, ctx, { names: ['haproxy'], versions: { haproxy: '2.8.3' } });
    expect(p.why).toBe('haproxy 2.6.12-1 != 2.8.3');
    expect(installScript('dnf', ['haproxy-2.8.3'], { latest: false, noStart: false })).toBe('dnf -y install haproxy-2.8.3');
    expect(installScript('yum', ['keepalived'], { latest: true, noStart: false })).toBe('yum -y upgrade keepalived');
  });

  it("a failed install reports apt's own error line", async () => {
    const ctx = hc((s) =>
      s.includes('dpkg-query')
        ? {}
        : s.includes('apt-get')
          ? { code: 100, stderr: 'Reading package lists...\nE: Unable to locate package haproxy\n' }
          : undefined,
    );
    const p = await plan(packageModule, ctx, { names: ['haproxy'] });
    if (!p.change) throw new Error('expected a change');
    await expect(p.apply()).rejects.toThrow('apt install haproxy failed (exit 100): E: Unable to locate package haproxy');
  });
});

describe('template', () => {
  it('reads the hash from sha256sum as printed (hash, two spaces, path)', () => {
    const h = 'a'.repeat(64);
    expect(parseProbe(`regular file|644|root|root\n${h}  /etc/haproxy/haproxy.cfg\n`)).toEqual({
      exists: true,
      type: 'file',
      mode: 0o644,
      owner: 'root',
      group: 'root',
      hash: h,
    });
    expect(parseProbe(`regular file|644|root|root\n\\${h}  /etc/a\\nb\n`).hash).toBe(h);
    expect(parseProbe('missing\n')).toEqual({ exists: false });
  });
  const content = 'global\n  daemon\n';
  it('a change uploads beside the target, validates the temp file, keeps the previous one, renames', async () => {
    const ctx = hc((s) => (s.startsWith('if [ -e') ? { stdout: `regular file|644|root|root\n${'0'.repeat(64)}\n@@content@@\nold\n` } : undefined), {
      diff: true,
    });
    const p = await plan(templateModule, ctx, { path: '/etc/haproxy/haproxy.cfg', content, mode: 0o644, validate: ['haproxy', '-c', '-f', '%s'] });
    if (!p.change) throw new Error('expected a change');
    expect(p.why).toBe('content differs');
    expect(p.diff).toContain('-old');
    expect(p.diff).toContain('+global');
    await p.apply();
    const up = ctx.conn.uploads[0]!;
    expect(up.path).toMatch(/^\/etc\/haproxy\/\.haproxy\.cfg\.kha-[a-z0-9]+$/);
    expect(up.opts.mode).toBe(0o644);
    expect(ctx.conn.log).toContain(`haproxy -c -f ${up.path}`);
    expect(ctx.conn.log.at(-1)).toBe(
      `if [ -f /etc/haproxy/haproxy.cfg ]; then cp -p -- /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.kha-prev; fi; mv -f -- ${up.path} /etc/haproxy/haproxy.cfg`,
    );
  });

  it('the temp file gets an unpredictable name (crypto, not Math.random) and is created exclusively', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      const ups = [];
      for (let i = 0; i < 2; i++) {
        const ctx = hc((s) => (s.startsWith('if [ -e') ? { stdout: 'missing\n' } : undefined));
        const p = await plan(templateModule, ctx, { path: '/etc/haproxy/haproxy.cfg', content, mode: 0o644 });
        if (!p.change) throw new Error('expected a change');
        await p.apply();
        ups.push(ctx.conn.uploads[0]!);
      }
      expect(ups[0]!.path).toMatch(/^\/etc\/haproxy\/\.haproxy\.cfg\.kha-[0-9a-f]{16}$/);
      expect(ups[1]!.path).not.toBe(ups[0]!.path);
      expect(ups.map((u) => u.opts.exclusive)).toEqual([true, true]);
    } finally {
      random.mockRestore();
    }
  });

  it('a rejected file leaves the old one in place: the temp file is removed and nothing is renamed', async () => {
    const ctx = hc((s) =>
      s.startsWith('if [ -e')
        ? { stdout: 'missing\n' }
        : s.startsWith('haproxy -c')
          ? { code: 1, stderr: "[ALERT] parsing [x:3] : unknown keyword 'bogus'" }
          : undefined,
    );
    const p = await plan(templateModule, ctx, { path: '/etc/haproxy/haproxy.cfg', content: 'bogus\n', mode: 0o644, validate: ['haproxy', '-c', '-f', '%s'] });
    if (!p.change) throw new Error('expected a change');
    await expect(p.apply()).rejects.toThrow('/etc/haproxy/haproxy.cfg: the new content was rejected by `haproxy -c -f %s` (exit 1); the old file is untouched');
    expect(ctx.conn.log.at(-1)).toMatch(/^rm -f -- \/etc\/haproxy\/\.haproxy\.cfg\.kha-/);
    expect(ctx.conn.log.some((l) => l.includes('mv -f'))).toBe(false);
  });
});

describe('service', () => {
  const show = (active: string, enabled: string) => ({ stdout: `LoadState=loaded\nActiveState=${active}\nUnitFileState=${enabled}\n` });
  it('starts and enables a stopped, disabled unit', async () => {
    const ctx = hc((s) =>
      s.startsWith('systemctl show') || s.startsWith('sleep') ? show(ctx.conn.log.length > 2 ? 'active' : 'inactive', 'disabled') : undefined,
    );
    const p = await plan(serviceModule, ctx, { name: 'keepalived', state: 'started', enabled: true });
    expect(p.why).toBe('not enabled (disabled), not running (inactive)');
    if (p.change) await p.apply();
    expect(ctx.conn.log[1]).toBe('systemctl enable -- keepalived.service && systemctl start -- keepalived.service');
  });
  it('daemon-reload runs only when systemd says the unit is not loaded as it is on disk (run by sh against a stand-in systemctl)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kha-systemctl-'));
    try {
      // the stand-in prints $SHOW for `show` and logs every other call
      writeFileSync(path.join(dir, 'systemctl'), '#!/bin/sh\nif [ "$1" = show ]; then printf "$SHOW"; else echo "$*" >> "$LOG"; fi\n', { mode: 0o755 });
      const reloads = (show: string) => {
        const log = path.join(dir, 'log');
        rmSync(log, { force: true });
        execFileSync('sh', ['-c', daemonReloadIfNeeded('haproxy.service')], { env: { PATH: `${dir}:/usr/bin:/bin`, SHOW: show, LOG: log } });
        return existsSync(log) ? readFileSync(log, 'utf8') : '';
      };
      expect(reloads('LoadState=loaded\nNeedDaemonReload=no\n')).toBe('');
      expect(reloads('NeedDaemonReload=no\nLoadState=loaded\n')).toBe('');
      expect(reloads('LoadState=loaded\nNeedDaemonReload=yes\n')).toBe('daemon-reload\n');
      expect(reloads('LoadState=not-found\nNeedDaemonReload=no\n')).toBe('daemon-reload\n');
      expect(reloads('LoadState=bad-setting\nNeedDaemonReload=no\n')).toBe('daemon-reload\n');
      expect(reloads('')).toBe('daemon-reload\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a start with daemonReload asks systemd first, in the same command', async () => {
    const ctx = hc((s) =>
      s.startsWith('systemctl show') || s.startsWith('sleep') ? show(ctx.conn.log.length > 2 ? 'active' : 'inactive', 'enabled') : undefined,
    );
    const p = await plan(serviceModule, ctx, { name: 'haproxy', state: 'started', daemonReload: true });
    if (!p.change) throw new Error('expected a change');
    await p.apply();
    expect(ctx.conn.log[1]).toBe(`${daemonReloadIfNeeded('haproxy.service')} && systemctl start -- haproxy.service`);
  });
  it('a failed restart puts the previous config back and restarts with it', async () => {
    const ctx = hc((s) =>
      s.startsWith('systemctl restart')
        ? { code: 1, stderr: 'Job failed' }
        : s.startsWith('systemctl show')
          ? show('active', 'enabled')
          : s.startsWith('journalctl')
            ? { stdout: 'Keepalived_vrrp: bad config\n' }
            : undefined,
    );
    const p = await plan(serviceModule, ctx, { name: 'keepalived', state: 'restarted', rollback: ['/etc/keepalived/keepalived.conf'] });
    if (!p.change) throw new Error('expected a change');
    await expect(p.apply()).rejects.toThrow(
      'restart keepalived.service failed with the new config; the previous config was put back and keepalived.service restarted with it',
    );
    expect(ctx.conn.log.at(-1)).toBe(
      'if [ -f /etc/keepalived/keepalived.conf.kha-prev ]; then cp -p -- /etc/keepalived/keepalived.conf.kha-prev /etc/keepalived/keepalived.conf; fi; systemctl restart -- keepalived.service',
    );
  });
});

describe('command, wait_for', () => {
  it('command: creates skips, a failing command fails', async () => {
    expect(
      await plan(
        commandModule,
        hc(() => ({ code: 0 })),
        { cmd: { argv: ['touch', '/x'] }, creates: '/x' },
      ),
    ).toEqual({ change: false, why: '/x exists' });
    const p = await plan(
      commandModule,
      hc((s) => (s.startsWith('test -e') ? { code: 1 } : { code: 3, stderr: 'boom' })),
      { cmd: { argv: ['false'] }, creates: '/x' },
    );
    if (!p.change) throw new Error('expected change');
    await expect(p.apply()).rejects.toThrow('command failed (exit 3)');
  });
  it('command: with creates and unless, the unless probe runs only when the creates path is missing (real sh)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { spawnSync } = await import('node:child_process');
    const { render } = await import('../../src/transport/quote.js');
    const { probesOf } = await import('../../src/engine/plan-tasks.js');
    const dir = mkdtempSync(join(tmpdir(), 'kha cmd '));
    try {
      const creates = join(dir, "it's done");
      const ctx = hc(() => ({}));
      const [, unless] = probesOf(commandModule, { cmd: { argv: ['true'] }, creates, unless: { script: 'echo ran; exit 3' } }, ctx);
      const run = () => spawnSync('sh', ['-c', render(unless!.cmd)], { encoding: 'utf8' });
      expect([run().status, run().stdout]).toEqual([3, 'ran\n']);
      writeFileSync(creates, '');
      expect([run().status, run().stdout]).toEqual([0, '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('wait_for: holds, or times out with the last output', async () => {
    let n = 0;
    const ok = await plan(
      waitForModule,
      hc(() => ({ code: ++n >= 3 ? 0 : 1 })),
      { title: 'VIP', cmd: { argv: ['true'] }, timeoutMs: 2000, intervalMs: 10 },
    );
    expect(ok.change).toBe(false);
    expect(n).toBe(3);
    await expect(
      plan(
        waitForModule,
        hc(() => ({ code: 1, stdout: 'inet 10.0.0.11/24' })),
        { title: 'wait for the VIP', cmd: { argv: ['ip'] }, timeoutMs: 100, intervalMs: 20, onTimeout: async () => 'journal: Entering BACKUP STATE' },
      ),
    ).rejects.toMatchObject({
      message: 'timed out after 0 s',
      detail: 'last output: inet 10.0.0.11/24\njournal: Entering BACKUP STATE',
    });
  });
});

describe('template: temp files a dead host left behind', () => {
  it('prepareDirScript creates the directory and removes only .<name>.kha-* beside the target (real sh)', async () => {
    const { mkdtempSync, writeFileSync, readdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { execFileSync } = await import('node:child_process');
    const { prepareDirScript } = await import('../../src/modules/template.js');
    const root = mkdtempSync(join(tmpdir(), 'kha tmpl '));
    try {
      const dir = join(root, "it's here");
      execFileSync('sh', ['-c', prepareDirScript(join(dir, 'haproxy.cfg'))]);
      for (const f of ['haproxy.cfg', 'haproxy.cfg.kha-prev', '.haproxy.cfg.kha-itmahnvt', '.haproxy.cfg.kha-x', '.other.cfg.kha-abcdefgh', 'keep'])
        writeFileSync(join(dir, f), 'x');
      execFileSync('sh', ['-c', prepareDirScript(join(dir, 'haproxy.cfg'))]);
      expect(readdirSync(dir).sort()).toEqual(['.other.cfg.kha-abcdefgh', 'haproxy.cfg', 'haproxy.cfg.kha-prev', 'keep']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
