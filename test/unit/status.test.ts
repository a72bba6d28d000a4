// kha status against in-process fake hosts: a host it cannot reach keeps its reason everywhere
// (the row, the lines under the table, --json, the error line), and the VIP holder is "unknown",
// never "none", while a host that might hold it was not seen. --limit asks only some hosts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  backendsCell,
  parseNodeStatus,
  renderNodeProxyTable,
  renderStatusTable,
  status,
  statusOutcome,
  vipVerdict,
  type HostStatus,
  type StatusReport,
} from '../../src/actions/status.js';
import { parseOutput } from '../../src/cli/output-schema.js';
import { ExitCode, TransportError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import { FakeConn, fakeRun } from '../helpers/fake-conn.js';
import { mastersYaml } from '../helpers/masters-yaml.js';
import { showServersState, showStat, type FakeServer } from '../helpers/fake-haproxy.js';

const FACTS = readFileSync(join(import.meta.dirname, '../fixtures/facts/debian12-m1.txt'), 'utf8');
const VIP = '172.29.62.250';
const HOSTS = ['m1', 'm2', 'm3'];
const settings = () =>
  resolveSettings(parseInventory(mastersYaml(VIP, Object.fromEntries(HOSTS.map((h, i) => [h, `ansible_host: 172.29.62.${11 + i}`]))), 'hosts.yaml'));

/** the lab fixture's facts (keepalived and haproxy active), with the VIP only on `holder`; kha's config on every host */
function cluster(holder: string | null, o: { lostAtStatus?: string } = {}) {
  return (n: string) =>
    new FakeConn(n, (script) => {
      if (script.includes('@@kha@@hostname')) return { stdout: n === holder ? FACTS : FACTS.replace(/^.*inet 172\.29\.62\.250\/32.*\n/m, '') };
      if (script.startsWith('echo @@kha-status@@state')) {
        if (n === o.lostAtStatus) throw new TransportError(`${n}: the connection to 172.29.62.12:22 was lost`, { host: n, code: 'E_CONNECTION_LOST' });
        return {
          stdout: '@@kha-status@@state\n@@kha-status@@stat\n@@kha-status@@files\n@@kha-status@@mine\n/etc/keepalived/keepalived.conf\n@@kha-status@@end\n',
        };
      }
      return { code: 1 };
    });
}

const row = (name: string, o: Partial<HostStatus>): HostStatus => ({
  name,
  address: '10.0.0.1',
  reachable: true,
  vrrpState: 'MASTER',
  holdsVip: false,
  keepalived: { active: 'active', version: '2.2' },
  haproxy: { active: 'active', version: '2.6' },
  backendsUp: null,
  backendsTotal: null,
  backendsDown: [],
  drift: [],
  managed: true,
  ...o,
});

describe('kha status: unreachable hosts and the VIP holder', () => {
  test('the holder unreachable: "VIP holder unknown: m1 unreachable", its reason kept, exit 3, never "no host holds the VIP"', async () => {
    const { ctx, connector } = fakeRun(HOSTS, cluster('m1'));
    connector.down.add('m1');
    const r = await status(ctx, settings());
    expect(r).toMatchObject({ holders: [], healthy: false, holderUnknown: 'VIP holder unknown: m1 unreachable' });
    expect(r.problem).toBeUndefined();
    expect(r.unreachable).toEqual([{ host: 'm1', reason: 'm1: connect ECONNREFUSED' }]);
    expect(r.hosts[0]).toMatchObject({ name: 'm1', reachable: false, vrrpState: 'UNREACHABLE', error: 'm1: connect ECONNREFUSED' });
    const table = renderStatusTable(r);
    expect(table.split('\n')[0]).toBe(`VIP ${VIP}:8443  holder: unknown: m1 unreachable`);
    expect(table).toMatch(/^m1: connect ECONNREFUSED$/m);
    expect(table).not.toContain('no host holds');
    // --json prints the report as it is: the reason is in it twice, per host and in the summary
    const json = JSON.parse(JSON.stringify(r)) as typeof r;
    expect(json.hosts[0]!.error).toBe('m1: connect ECONNREFUSED');
    expect(json.holderUnknown).toBe('VIP holder unknown: m1 unreachable');
    expect(statusOutcome(r, [])).toEqual({ errors: ['VIP holder unknown: m1 unreachable'], exit: ExitCode.unreachable });
  });

  test('two hosts unreachable, no holder among the one seen: both named in one line', async () => {
    const { ctx, connector } = fakeRun(HOSTS, cluster(null));
    connector.down.add('m3');
    connector.down.add('m2');
    const r = await status(ctx, settings());
    expect(statusOutcome(r, [])).toEqual({ errors: ['VIP holder unknown: m2, m3 unreachable'], exit: ExitCode.unreachable });
  });

  test('every host seen and none holds the VIP: that is the problem, exit 6', async () => {
    const { ctx } = fakeRun(HOSTS, cluster(null));
    const r = await status(ctx, settings());
    expect(r.problem).toBe(`no host holds the VIP ${VIP}`);
    expect(r.holderUnknown).toBeUndefined();
    expect(statusOutcome(r, [])).toEqual({ errors: [`no host holds the VIP ${VIP}`], exit: ExitCode.unhealthy });
  });

  test('the holder seen, another host unreachable: holder m1, exit 3 naming the lost host', async () => {
    const { ctx, connector } = fakeRun(HOSTS, cluster('m1'));
    connector.down.add('m3');
    const r = await status(ctx, settings());
    expect(r.holders).toEqual(['m1']);
    expect(r.holderUnknown).toBeUndefined();
    expect(renderStatusTable(r).split('\n')[0]).toBe(`VIP ${VIP}:8443  holder: m1`);
    expect(statusOutcome(r, [])).toEqual({ errors: ['m3 unreachable'], exit: ExitCode.unreachable });
  });

  test('a connection lost between the facts and the status command is unreachable too, with its reason', async () => {
    const { ctx } = fakeRun(HOSTS, cluster('m1', { lostAtStatus: 'm2' }));
    const r = await status(ctx, settings());
    expect(r.hosts[1]).toMatchObject({ name: 'm2', reachable: false, vrrpState: 'UNREACHABLE', error: 'm2: the connection to 172.29.62.12:22 was lost' });
    expect(statusOutcome(r, []).exit).toBe(ExitCode.unreachable);
  });

  test('every host unreachable: one line with every reason', async () => {
    const { ctx, connector } = fakeRun(HOSTS, cluster('m1'));
    for (const h of HOSTS) connector.down.add(h);
    const r = await status(ctx, settings());
    expect(statusOutcome(r, [])).toEqual({
      errors: ['no host is reachable (m1: connect ECONNREFUSED; m2: connect ECONNREFUSED; m3: connect ECONNREFUSED)'],
      exit: ExitCode.unreachable,
    });
  });

  test('--limit: only those hosts are asked; the holder outside them is unknown, and that is no error (exit 0)', async () => {
    const { ctx, connector } = fakeRun(HOSTS, cluster('m1'));
    const r = await status(ctx, settings(), { only: new Set(['m2']) });
    expect(r.hosts.map((h) => h.name)).toEqual(['m2']);
    expect(connector.conns.has('m1')).toBe(false);
    expect(connector.conns.has('m3')).toBe(false);
    expect(r).toMatchObject({ holders: [], notAsked: ['m1', 'm3'], holderUnknown: 'VIP holder unknown: m1, m3 not asked (--limit)' });
    expect(r.problem).toBeUndefined();
    expect(statusOutcome(r, [])).toEqual({ errors: [], exit: ExitCode.ok });
    const limitedToHolder = await status(fakeRun(HOSTS, cluster('m1')).ctx, settings(), { only: new Set(['m1']) });
    expect(limitedToHolder.holders).toEqual(['m1']);
    expect(limitedToHolder.holderUnknown).toBeUndefined();
  });

  test('vipVerdict: two holders is split brain even with a host unseen', () => {
    const v = vipVerdict({ vip: VIP }, [row('m1', { holdsVip: true }), row('m2', { holdsVip: true }), row('m3', { reachable: false, error: 'm3: timed out' })]);
    expect(v.problem).toBe(`split brain: m1 and m2 all hold the VIP ${VIP}`);
    expect(v.holderUnknown).toBeUndefined();
    expect(v.unreachable).toEqual([{ host: 'm3', reason: 'm3: timed out' }]);
  });

  test("a node's reason is said once, not prefixed with its name twice; a node down is exit 3", () => {
    const node = {
      name: 'n1',
      address: '10.0.0.21',
      proxy: 'haproxy' as const,
      active: 'unreachable',
      backendsUp: null,
      backendsTotal: null,
      error: 'n1: connect ETIMEDOUT',
    };
    expect(renderNodeProxyTable([node])).toMatch(/^n1: connect ETIMEDOUT$/m);
    const hosts = [row('m1', { holdsVip: true }), row('m2', {})];
    expect(statusOutcome({ vip: VIP, frontendPort: 8443, bootstrap: false, certProblems: [], hosts, ...vipVerdict({ vip: VIP }, hosts) }, [node])).toEqual({
      errors: ['n1 unreachable'],
      exit: ExitCode.unreachable,
    });
  });
});

describe('kha status: a drained backend (kha drain)', () => {
  const drainedCluster = (n: string) =>
    new FakeConn(n, (script) => {
      if (script.includes('@@kha@@hostname')) return { stdout: n === 'm1' ? FACTS : FACTS.replace(/^.*inet 172\.29\.62\.250\/32.*\n/m, '') };
      if (script.startsWith('echo @@kha-status@@state')) {
        const servers = upServers();
        servers[1]!.admin = 8;
        servers[2]!.health = 'DOWN';
        return {
          stdout: `@@kha-status@@state\n@@kha-status@@stat\n${showStat('kube-apiservers', servers)}@@kha-status@@servers\n@@kha-rt@@0\n${showServersState('kube-apiservers', servers)}\n@@kha-status@@files\n@@kha-status@@mine\n/etc/keepalived/keepalived.conf\n@@kha-status@@end\n`,
        };
      }
      return { code: 1 };
    });

  test('DRAIN in the backends column and backendsDrained in --json; a drained server is not "down"', async () => {
    const { ctx } = fakeRun(HOSTS, drainedCluster);
    const r = await status(ctx, settings());
    expect(r.hosts.map((h) => [h.name, h.backendsUp, h.backendsTotal, h.backendsDown, h.backendsDrained])).toEqual([
      ['m1', 1, 3, ['m3'], ['m2']],
      ['m2', 1, 3, ['m3'], ['m2']],
      ['m3', 1, 3, ['m3'], ['m2']],
    ]);
    expect(renderStatusTable(r)).toMatch(/^m1 .* 1\/3 \(down: m3; DRAIN: m2\) /m);
    expect(parseOutputResult(r)).toBeTruthy();
  });

  test.each([
    [3, 3, [], [], '3/3'],
    [2, 3, [], ['m2'], '2/3 (DRAIN: m2)'],
    [1, 3, ['m3'], ['m2'], '1/3 (down: m3; DRAIN: m2)'],
    [1, 3, ['m2', 'm3'], [], '1/3 (down: m2,m3)'],
  ])('backendsCell(%i, %i, %j, %j) = %s', (up, total, down, drained, want) => {
    expect(backendsCell(up, total, down, drained)).toBe(want);
  });

  test("a node's haproxy: the drained masters beside up/total", () => {
    const servers = upServers();
    servers[1]!.admin = 8;
    const out = `@@kha-node@@active\nactive\n@@kha-node@@mine\nyes\n@@kha-node@@stat\n${showStat('kube-apiservers', servers)}@@kha-node@@servers\n${showServersState('kube-apiservers', servers)}@@kha-node@@end\n`;
    const row = parseNodeStatus(out, { name: 'n1', address: '10.0.0.21', proxy: 'haproxy' });
    expect(row).toMatchObject({ backendsUp: 2, backendsTotal: 3, backendsDrained: ['m2'] });
    expect(renderNodeProxyTable([row])).toMatch(/^n1 .* 2\/3 \(DRAIN: m2\)$/m);
  });
});

const upServers = (): FakeServer[] => ['m1', 'm2', 'm3'].map((name) => ({ name, port: 6443, health: 'UP' as const, admin: 0, sessions: 0 }));

/** the status report as --json's result: the schema takes it */
function parseOutputResult(r: StatusReport): boolean {
  const doc = { format: 1, command: 'status', ok: true, exit: 0, error: null, result: { ...r, nodes: [] }, recap: {}, tasks: [], messages: [], log: null };
  return parseOutput(JSON.parse(JSON.stringify(doc))).command === 'status';
}
