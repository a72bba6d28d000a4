// kha inventory: the report (pure) and the BUILT CLI (`node bin/run.js inventory ...`, no
// connection anywhere; `npm run build` first) on the kubespray and kubeasz fixtures.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inventoryReport, renderInventoryReport, type InventoryReport } from '../../src/actions/inventory.js';
import { InputError } from '../../src/errors.js';
import { loadInventory, parseInventory } from '../../src/inventory/load.js';
import { explainSettings } from '../../src/inventory/settings.js';
import type { Inventory } from '../../src/inventory/types.js';
import { errorLines, outputProblems, parseJson, runKha, showRun } from '../helpers/cli.js';

const FIX = 'test/fixtures/inventories';
const lines = (...l: string[]) => l.join('\n') + '\n';
const report = (inv: Inventory, host?: string) => {
  const { settings, origins } = explainSettings(inv);
  return inventoryReport(inv, settings, origins, host);
};

describe('inventoryReport', () => {
  test('kubespray-ini: hosts with roles and addresses; settings with their origins', async () => {
    const r = report(await loadInventory(path.join(FIX, 'kubespray-ini')));
    expect(r.inventory).toEqual({
      file: `${FIX}/kubespray-ini/inventory.ini`,
      format: 'ini',
      varFiles: [
        `${FIX}/kubespray-ini/group_vars/all/all.yml`,
        `${FIX}/kubespray-ini/group_vars/all/containerd.yml`,
        `${FIX}/kubespray-ini/group_vars/all/kha.yml`,
        `${FIX}/kubespray-ini/group_vars/k8s_cluster/k8s-cluster.yml`,
        `${FIX}/kubespray-ini/group_vars/k8s_cluster/kube_control_plane.yml`,
      ],
    });
    expect(r.groups).toEqual({ masters: 'kube_control_plane', loadBalancers: 'kube_control_plane', nodes: 'kube_node' });
    expect(r.hosts[0]).toEqual({
      name: 'node1',
      groups: ['all', 'etcd', 'k8s_cluster', 'kube_control_plane'],
      roles: ['master', 'load balancer'],
      address: '10.0.0.11',
      addressFrom: null,
      port: 22,
      user: 'ubuntu',
      become: true,
      priority: 250,
      primary: true,
      settings: {
        priority: { value: 250, from: { kind: 'default' } },
        vrrp_interface: { value: 'ens3', from: { kind: 'inventory', file: `${FIX}/kubespray-ini/group_vars/all/kha.yml`, line: 5, key: 'vrrp_interface' } },
        apiserver_port: {
          value: 6443,
          from: {
            kind: 'mapped',
            variable: 'kube_apiserver_port',
            tool: 'kubespray',
            file: `${FIX}/kubespray-ini/group_vars/k8s_cluster/k8s-cluster.yml`,
            line: 8,
            key: 'kube_apiserver_port',
          },
        },
        metrics_bind: { value: '10.0.0.11', from: { kind: 'default' } },
      },
    });
    expect(r.hosts[3]).toMatchObject({ name: 'node4', roles: ['node'], priority: null, primary: false, settings: {} });
    expect(r.settings.vip).toEqual({
      value: '10.0.0.100',
      from: {
        kind: 'mapped',
        variable: 'loadbalancer_apiserver.address',
        tool: 'kubespray',
        file: `${FIX}/kubespray-ini/group_vars/all/all.yml`,
        line: 8,
        key: 'loadbalancer_apiserver.address',
      },
    });
    expect(r.settings.keepalived_version).toEqual({ value: null, from: { kind: 'default' } });
    expect([r.settings.metrics, r.settings.metrics_port, r.settings.vrrp_metrics_port]).toEqual([
      { value: true, from: { kind: 'default' } },
      { value: 8405, from: { kind: 'default' } },
      { value: 8406, from: { kind: 'default' } },
    ]);
    // per host only
    expect(Object.keys(r.settings)).not.toContain('metrics_bind');
    expect(Object.keys(r.settings)).not.toContain('priority');
  });

  test('the text: aligned tables, the DNS name an address came from, host settings that are not defaults', () => {
    const inv = parseInventory(
      lines(
        '[masters]',
        'm1 ansible_host=m1.example.internal priority=180',
        'm2 ansible_host=10.0.0.12',
        '[all:vars]',
        'vip=10.0.0.100',
        'advert_int=2',
        'ansible_user=ops',
      ),
      'inventory.ini',
    );
    inv.hosts[0]!.resolved = { name: 'm1.example.internal', address: '10.0.0.11' };
    const text = renderInventoryReport(report(inv));
    expect(text.split('\n').slice(0, 8)).toEqual([
      'inventory: inventory.ini (INI)',
      'vars files: none',
      'masters: masters  load balancers: masters (the masters)  nodes: -',
      '',
      'HOST  ROLE                   ADDRESS                          PORT  USER  PRIORITY  PRIMARY  GROUPS',
      'm1    master, load balancer  10.0.0.11 (m1.example.internal)  22    ops   180       -        all, masters',
      'm2    master, load balancer  10.0.0.12                        22    ops   200       yes      all, masters',
      '',
    ]);
    expect(text).toContain('\nvip                      10.0.0.100                   inventory.ini:5 [all:vars] vip\n');
    expect(text).toContain('\nadvert_int               2                            inventory.ini:6 [all:vars] advert_int\n');
    expect(text).toContain('\nHOST  HOST SETTING  VALUE  FROM\nm1    priority      180    inventory.ini:2 [masters] m1 priority\n');
    expect(text).not.toContain('m2    priority');
  });

  test('secrets are shown as ********', () => {
    const inv = parseInventory(
      lines('[masters]', 'm1 ansible_host=10.0.0.11 ansible_password=pw-on-host', '[all:vars]', 'vip=10.0.0.100', 'vrrp_auth_pass=k3ep4liv'),
      'hosts',
    );
    const r = report(inv);
    expect(r.settings.vrrp_auth_pass?.value).toBe('********');
    const all = JSON.stringify(r) + renderInventoryReport(r);
    expect(all).not.toContain('k3ep4liv');
    expect(all).not.toContain('pw-on-host');
  });

  test('--host: that host only; an unknown one is bad input with a suggestion', async () => {
    const inv = await loadInventory(path.join(FIX, 'kubeasz-ini/hosts'));
    expect(report(inv, '10.0.2.7').hosts.map((h) => h.name)).toEqual(['10.0.2.7']);
    expect(() => report(inv, '10.0.2.9')).toThrow(InputError);
    expect(() => report(inv, '10.0.2.9')).toThrow(`--host: 10.0.2.9 is not a host of ${FIX}/kubeasz-ini/hosts; did you mean 10.0.2.1?`);
  });
});

describe('the built CLI: kha inventory -i <fixture> --json', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kha-inventory-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('kubespray-ini (a directory): one JSON document, exit 0, nothing contacted', async () => {
    const r = await runKha(['inventory', '-i', `${FIX}/kubespray-ini/`, '--json'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const doc = parseJson<InventoryReport>(r).result!;
    expect(doc.inventory.file).toBe(`${FIX}/kubespray-ini/inventory.ini`);
    expect(doc.hosts.map((h) => [h.name, h.roles.join('+'), h.address, h.priority, h.primary])).toEqual([
      ['node1', 'master+load balancer', '10.0.0.11', 250, true],
      ['node2', 'master+load balancer', '10.0.0.12', 200, false],
      ['node3', 'master+load balancer', '10.0.0.13', 150, false],
      ['node4', 'node', '10.0.0.14', null, false],
      ['node5', 'node', '10.0.0.15', null, false],
      ['node6', 'node', '10.0.0.16', null, false],
    ]);
    expect(doc.settings.vip?.value).toBe('10.0.0.100');
    expect(doc.settings.frontend_port).toMatchObject({ value: 8443, from: { kind: 'mapped', variable: 'loadbalancer_apiserver.port', line: 9 } });
    expect(doc.settings.api_endpoint_name?.value).toBe('api.cluster.internal');
    expect(doc.settings.virtual_router_id).toMatchObject({
      value: 61,
      from: { kind: 'inventory', file: `${FIX}/kubespray-ini/group_vars/all/kha.yml`, line: 4 },
    });
    expect(r.stderr).toBe('');
  });

  test('kubeasz-ini/hosts: the ex_lb hosts, LB_ROLE=master as the primary', async () => {
    const r = await runKha(['inventory', '-i', `${FIX}/kubeasz-ini/hosts`, '--json'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    const doc = parseJson<InventoryReport>(r).result!;
    expect(doc.groups).toEqual({ masters: 'kube_master', loadBalancers: 'ex_lb', nodes: 'kube_node' });
    expect(doc.hosts.filter((h) => h.roles.includes('load balancer')).map((h) => [h.name, h.priority, h.primary])).toEqual([
      ['10.0.2.6', 200, false],
      ['10.0.2.7', 250, true],
    ]);
    expect(doc.settings.vip).toEqual({
      value: '10.0.2.250',
      from: {
        kind: 'mapped',
        variable: 'EX_APISERVER_VIP',
        tool: 'kubeasz',
        file: `${FIX}/kubeasz-ini/hosts`,
        line: 25,
        key: '[ex_lb] 10.0.2.6 EX_APISERVER_VIP',
      },
    });
    expect(doc.settings.apiserver_port?.from).toMatchObject({ kind: 'mapped', variable: 'SECURE_PORT', line: 35 });
  });

  test('the human text of the same, and --host', async () => {
    const r = await runKha(['inventory', '-i', `${FIX}/kubeasz-ini/hosts`, '--host', '10.0.2.7'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toContain('\n10.0.2.7  load balancer  10.0.2.7  22    root  250       yes      all, ex_lb\n');
    expect(r.stdout).toContain(
      `\nvip                      10.0.2.250                   ${FIX}/kubeasz-ini/hosts:25 [ex_lb] 10.0.2.6 EX_APISERVER_VIP (kubeasz)\n`,
    );
    expect(r.stdout).not.toContain('10.0.2.6  load balancer');
  });

  test('a key file that does not exist is a warning for kha inventory (kha up refuses it)', async () => {
    const file = path.join(dir, 'key.ini');
    await writeFile(file, lines('[masters]', `m1 ansible_host=10.0.0.11 ansible_private_key_file=${dir}/no-such-key`, '[all:vars]', 'vip=10.0.0.100'));
    const r = await runKha(['inventory', '-i', file, '--json'], { timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    expect(parseJson<InventoryReport>(r).result!.warnings).toEqual([
      `m1: ansible_private_key_file: ${dir}/no-such-key does not exist; give the path of the private key, e.g. ~/.ssh/id_ed25519`,
    ]);
    const up = await runKha(['up', '-i', file, '--yes'], { timeoutMs: 60_000 });
    expect(up.code, showRun(up)).toBe(4);
    expect(errorLines(up.stderr)).toEqual([
      `error: m1: ansible_private_key_file: ${dir}/no-such-key does not exist; give the path of the private key, e.g. ~/.ssh/id_ed25519`,
    ]);
  });

  test('a bad inventory: the same one error line and exit 4 as kha up, nothing contacted', async () => {
    const file = path.join(dir, 'inventory.ini');
    await writeFile(file, lines('[masters]', 'm1 ansible_host=10.0.0.11 ansible_port=70000', '[all:vars]', 'vip=10.0.0.100'));
    const line = `error: ${file}:2: [masters] m1 ansible_port: 70000 is not a port; use a number from 1 to 65535`;
    const inv = await runKha(['inventory', '-i', file], { timeoutMs: 60_000 });
    const up = await runKha(['up', '-i', file, '--yes'], { timeoutMs: 60_000 });
    for (const r of [inv, up]) {
      expect(r.code, showRun(r)).toBe(4);
      expect(errorLines(r.stderr)).toEqual([line]);
      expect(r.stdout).toBe('');
    }
    const json = await runKha(['inventory', '-i', file, '--json'], { timeoutMs: 60_000 });
    expect(json.code).toBe(4);
    const doc = parseJson(json);
    expect(outputProblems(doc)).toEqual([]);
    expect(doc).toMatchObject({ ok: false, exit: 4, result: null, error: { message: line.slice('error: '.length), code: 'E_INPUT', hosts: [], hint: null } });
    expect(json.stderr).toBe('');
  });
});
