// The operator's first five minutes, through the BUILT CLI as a subprocess: kha lab up makes hosts
// and an inventory that kha up accepts; status --json; --check changes nothing; drill measures a
// failover and leaves the cluster healthy; lab down leaves nothing behind. Also: the README's
// commands are the ones CI runs.
//
// Order: the operator's session, in order: lab up, kha up, status, drill, lab down; each step needs
// the one before.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputProblems, parseJson, REPO_ROOT, runKha } from '../helpers/cli.js';

const LAB = `optest${process.pid % 10000}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-operator-'));
const inv = path.join(dir, 'lab.yaml');

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' });
}

function labHosts(): Array<{ name: string; container: string }> {
  return docker(['ps', '--filter', `label=kha.lab=${LAB}`, '--format', '{{.Names}}'])
    .split('\n')
    .filter(Boolean)
    .sort()
    .map((c) => ({ name: c.slice(LAB.length + 1), container: c }));
}

function hashes(container: string): string {
  return docker([
    'exec',
    container,
    'sh',
    '-c',
    'sha256sum /etc/keepalived/keepalived.conf /etc/haproxy/haproxy.cfg 2>&1; systemctl show -p MainPID keepalived haproxy',
  ]);
}

describe('the operator experience, end to end through the CLI', () => {
  beforeAll(async () => {
    // fail loudly (never skip) without a Docker engine
    execFileSync('docker', ['info'], { stdio: 'ignore' });
    const r = await runKha(['lab', 'up', '--name', LAB, '--masters', '3', '-o', inv], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
  });

  afterAll(async () => {
    await runKha(['lab', 'down', '--name', LAB]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('kha lab up made 3 hosts and an inventory that kha up accepts', async () => {
    expect(labHosts().map((h) => h.name)).toEqual(['m1', 'm2', 'm3']);
    const text = fs.readFileSync(inv, 'utf8');
    expect(text).toMatch(/vip: 172\.\d+\.\d+\.\d+/);
    const r = await runKha(['up', '-i', inv, '--yes'], { timeoutMs: 600_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('==> Start the primary and wait until it holds the VIP');
    // kha lab up gives the stand-in apiservers certificates that name the VIP (as certSANs would):
    // kha's SAN check finds nothing to warn about
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/certificate does not cover/);
    expect(r.stdout).toMatch(/control-plane endpoint: 172\.\d+\.\d+\.\d+:8443/);
    console.log(`kha up on 3 fresh lab hosts: ${(r.ms / 1000).toFixed(1)} s`);
  });

  it('kha status --json reports exactly one holder and every backend up', async () => {
    const r = await runKha(['status', '-i', inv, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(outputProblems(parseJson(r)), r.stdout).toEqual([]);
    const s = JSON.parse(r.stdout).result;
    expect(s.holders).toEqual(['m1']);
    expect(s.healthy).toBe(true);
    for (const h of s.hosts) {
      expect(h.keepalived.active).toBe('active');
      expect(h.backendsUp).toBe(3);
      expect(h.backendsTotal).toBe(3);
      expect(h.drift).toEqual([]);
    }
    expect(s.hosts.map((h: { vrrpState: string }) => h.vrrpState)).toEqual(['MASTER', 'BACKUP', 'BACKUP']);
  });

  it('--check changes nothing (configs and service PIDs hashed before and after) yet reports the change', async () => {
    const before = labHosts().map((h) => hashes(h.container));
    const changed = fs.readFileSync(inv, 'utf8').replace(/(\n {4}vip: )/, '\n    haproxy_timeout_connect: 9s$1');
    const inv2 = path.join(dir, 'lab-changed.yaml');
    fs.writeFileSync(inv2, changed);
    const r = await runKha(['up', '-i', inv2, '--check', '--diff']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('would change');
    expect(r.stdout).toContain('+    timeout connect 9s');
    expect(labHosts().map((h) => hashes(h.container))).toEqual(before);
  });

  it('kha drill (keepalived mode) fails over within 3 x advert_int + 1 s and leaves the cluster healthy', async () => {
    const r = await runKha(['drill', '-i', inv, '--mode', 'keepalived', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(outputProblems(parseJson(r)), r.stdout).toEqual([]);
    const [round] = JSON.parse(r.stdout).result.rounds;
    console.log(
      `drill keepalived: VIP moved in ${round.vipMovedMs} ms, VIP:8443 answered ${round.frontendAfterMoveMs} ms later, settled ${round.settledMs} ms after restore`,
    );
    expect(round.holderBefore).toBe('m1');
    expect(round.newHolder).toBe('m2');
    expect(round.vipMovedMs).toBeLessThan(4000);
    expect(round.holderAfter).toBe('m1');
    const s = JSON.parse((await runKha(['status', '-i', inv, '--json'])).stdout).result;
    expect(s.holders).toEqual(['m1']);
  });

  it("kha drill (haproxy mode): the track_file puts the holder in FAULT, the VIP moves within 3 s by the hosts' kernel events", async () => {
    const r = await runKha(['drill', '-i', inv, '--mode', 'haproxy', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [round] = JSON.parse(r.stdout).result.rounds;
    console.log(
      `drill haproxy: VIP moved in ${round.vipMovedExactMs} ms exact (kernel events), ${round.vipMovedMs} ms polled; VIP:8443 answered ${round.frontendAfterMoveMs} ms later`,
    );
    expect(round.vipMovedExactMs).not.toBeNull();
    expect(round.vipMovedExactMs).toBeLessThanOrEqual(3000);
    expect(round.vipMovedMs).toBeLessThan(5000);
    expect(round.holderAfter).toBe('m1');
  });

  it('kha status exits 6 and names the problem when no host holds the VIP', async () => {
    for (const h of labHosts()) docker(['exec', h.container, 'systemctl', 'stop', 'keepalived']);
    try {
      const r = await runKha(['status', '-i', inv]);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('error: no host holds the VIP');
      const d = await runKha(['drill', '-i', inv]);
      expect(d.code).toBe(6);
      expect(d.stderr).toMatch(/the cluster is not healthy, so no drill/);
    } finally {
      for (const h of labHosts()) docker(['exec', h.container, 'systemctl', 'start', 'keepalived']);
    }
  });

  it('kha lab down removes exactly what lab up made', async () => {
    const r = await runKha(['lab', 'down', '--name', LAB]);
    expect(r.code, r.stderr).toBe(0);
    expect(docker(['ps', '-a', '--filter', `label=kha.lab=${LAB}`, '-q']).trim()).toBe('');
    expect(docker(['network', 'ls', '--filter', `label=kha.lab=${LAB}`, '-q']).trim()).toBe('');
  });
});

describe("the README's promise", () => {
  it('README names npm test and npm run demo, and .ci/run runs exactly npm test', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('npm run demo');
    expect(readme).toContain('npm test');
    const ci = fs.readFileSync(path.join(REPO_ROOT, '.ci', 'run'), 'utf8');
    const commands = ci
      .split('\n')
      .filter((l) => /^\s*npm (test|run)/.test(l))
      .map((l) => l.trim());
    expect(commands).toEqual(['npm test']);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.demo).toBe('bash scripts/demo.sh');
    expect(pkg.scripts.test).toMatch(/vitest run$/);
  });
});
