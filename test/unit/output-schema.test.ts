// --json on every command gives one documented shape, success or failure (issue 17):
//  - schema/kha-output.schema.json is what src/cli/output-schema.ts generates (not stale), shipped;
//  - every command of the manifest has a result schema, and --json (help aside);
//  - the BUILT CLI (`npm run build` first): each command's document, on success where no host is
//    needed and on failure (bad input, flag errors anywhere on the line, an unknown command,
//    hosts that cannot be reached), is exactly one JSON document on stdout that fits the schema,
//    its exit the process's, its error named, and nothing but progress on stderr;
//  - kha status's document in-process against fake hosts, and its outcome table.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { suggestVirtualRouterId } from '../../src/actions/init.js';
import { status, statusJsonOutcome, type NodeProxyStatus, type StatusResult } from '../../src/actions/status.js';
import { outputJsonSchema, parseOutput, RESULTS } from '../../src/cli/output-schema.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import { outputDocument } from '../../src/report/json.js';
import { outputProblems, REPO_ROOT, runKha, showRun, type KhaJson, type KhaRun } from '../helpers/cli.js';
import { FakeConn, fakeRun } from '../helpers/fake-conn.js';
import { mastersYaml } from '../helpers/masters-yaml.js';

const SCHEMA_FILE = path.join(REPO_ROOT, 'schema', 'kha-output.schema.json');

describe('the published schema', () => {
  test('schema/kha-output.schema.json is what the zod schemas give (else: npm run schema, and commit it)', () => {
    const committed = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')) as unknown;
    expect(committed, 'schema/kha-output.schema.json is stale: run npm run schema and commit it').toEqual(outputJsonSchema());
    expect(outputJsonSchema()).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'kha --json output' });
  });

  test('the npm package ships it', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('schema');
  });

  test('every command has a result schema and a --json flag (help and completion print text: flag errors only)', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, { flags: Record<string, unknown> }>;
    };
    const ids = Object.keys(manifest.commands).map((id) => id.replace(/:/g, ' '));
    expect(ids.sort()).toEqual(Object.keys(RESULTS).sort());
    for (const [id, c] of Object.entries(manifest.commands)) expect(Boolean(c.flags['json']), id).toBe(id !== 'help' && id !== 'completion');
  });

  test('the schema refuses what it should: an unknown key, a result of the wrong command, an error without hosts', () => {
    const ok = outputDocument(
      { command: 'version', exit: 0, error: null, log: null },
      { result: { name: 'kha', version: '1', node: 'v20', platform: 'linux-x64' } },
    );
    expect(outputProblems(ok)).toEqual([]);
    expect(outputProblems({ ...ok, extra: 1 })).not.toEqual([]);
    expect(outputProblems({ ...ok, command: 'status' })).not.toEqual([]);
    const bad = outputDocument({ command: 'up', exit: 4, error: { code: 'E_INPUT', message: 'x', hosts: [], hint: null }, log: null });
    expect(outputProblems(bad)).toEqual([]);
    expect(outputProblems({ ...bad, error: { code: 'E_INPUT', message: 'x', hint: null } })).toEqual([
      'error.hosts: Invalid input: expected array, received undefined',
    ]);
    expect(outputProblems({ ...bad, error: { ...bad.error, code: 'E_NOPE' } })).not.toEqual([]);
  });
});

// ---- the built CLI ----------------------------------------------------------------------------

let root = '';
const runs = new Map<string, KhaRun>();

/** A port with nothing listening: bound, then closed. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const inv = (name: string) => path.join(root, name);
const kh = () => ['--known-hosts', path.join(root, 'known_hosts')];

/** name -> kha arguments; every one carries --json somewhere */
function cases(): Record<string, string[]> {
  return {
    // success without hosts
    version: ['version', '--json'],
    init: ['init', '--json', '-o', inv('init.yaml'), '--vip', '10.0.0.100', '--master', 'm1=10.0.0.11', '--master', 'm2=10.0.0.12'],
    render: ['render', '-i', inv('good.yaml'), '--host', 'm1', '--interface', 'eth0', '--address', '127.0.0.1', '--json'],
    inventory: ['inventory', '-i', inv('good.yaml'), '--json'],
    'monitoring rules': ['monitoring', 'rules', '--json'],
    'monitoring scrape-config': ['monitoring', 'scrape-config', '-i', inv('good.yaml'), '--json'],
    // bad input
    'drain: unknown host': ['drain', '-i', inv('good.yaml'), 'nosuch', '--json'],
    'init: the file exists': ['init', '--json', '-o', inv('good.yaml'), '--vip', '10.0.0.100', '--master', 'm1=10.0.0.11'],
    'render: unknown host': ['render', '-i', inv('good.yaml'), '--host', 'nosuch', '--json'],
    'inventory: no such file': ['inventory', '-i', inv('nope.yaml'), '--json'],
    'up: bad inventory': ['up', '-i', inv('bad.yaml'), '--json'],
    'status --watch --json': ['status', '-i', inv('good.yaml'), '--watch', '--json'],
    'lab up: bad name': ['lab', 'up', '--name', 'Bad_Name', '--json'],
    'monitoring rules: bad window': ['monitoring', 'rules', '--flap-window', '10', '--json'],
    // flag errors: oclif's, before kha sees the flags; --json before or after the bad flag
    'up: unknown flag': ['up', '--json', '-i', inv('good.yaml'), '--bogus'],
    'up: missing -i': ['up', '--json'],
    'status: bad integer': ['status', '-i', inv('good.yaml'), '--interval', 'x', '--json'],
    'drill: bad option': ['drill', '-i', inv('good.yaml'), '--mode', 'nope', '--json'],
    'play: missing argument': ['play', '-i', inv('good.yaml'), '--json'],
    'lab down: unknown flag': ['lab', 'down', '--bogus', '--json'],
    'version: unknown flag': ['version', '--json', '--bogus'],
    'help --json': ['help', '--json'],
    'unknown command': ['upp', '--json'],
    'no command, only --json': ['--json'],
    // hosts that cannot be reached (nothing listens on their ports)
    'up: unreachable': ['up', '-i', inv('dead.yaml'), ...kh(), '--json'],
    'status: unreachable': ['status', '-i', inv('dead.yaml'), ...kh(), '--json'],
    'drill: unreachable': ['drill', '-i', inv('dead.yaml'), ...kh(), '--json'],
    'upgrade: unreachable': ['upgrade', '-i', inv('dead.yaml'), ...kh(), '--json'],
    'reset: unreachable': ['reset', '-i', inv('dead.yaml'), ...kh(), '--json'],
    'add-master: unreachable': ['add-master', '-i', inv('dead.yaml'), ...kh(), '--name', 'm4', '--host', '10.0.0.14', '--json'],
    'remove-master: unreachable': ['remove-master', '-i', inv('dead.yaml'), ...kh(), '--name', 'm3', '--json'],
    'play: unreachable': ['play', '-i', inv('dead.yaml'), inv('site.yaml'), ...kh(), '--json'],
    'drain: unreachable': ['drain', '-i', inv('dead.yaml'), 'm1', ...kh(), '--json'],
    'undrain: unreachable': ['undrain', '-i', inv('dead.yaml'), 'm1', ...kh(), '--json'],
  };
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'commands', 'up.js'))) throw new Error('kha is not built: run npm run build first');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-output-'));
  const hosts = (ports: number[]) =>
    `${mastersYaml('10.0.0.100', Object.fromEntries(ports.map((p, i) => [`m${i + 1}`, `ansible_host: 127.0.0.1, ansible_port: ${p}`])))}\n`;
  fs.writeFileSync(inv('good.yaml'), hosts([2201, 2202, 2203]));
  fs.writeFileSync(inv('dead.yaml'), hosts([await deadPort(), await deadPort(), await deadPort()]));
  fs.writeFileSync(inv('bad.yaml'), hosts([2201, 2202, 70000]));
  fs.writeFileSync(inv('site.yaml'), ['- name: a play', '  hosts: masters', '  tasks:', '    - command: { argv: ["true"] }', ''].join('\n'));
  const env = { HOME: root, SSH_AUTH_SOCK: '', XDG_STATE_HOME: path.join(root, 'state') };
  const all = Object.entries(cases());
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < all.length) {
        const [name, args] = all[next++]!;
        runs.set(name, await runKha(args, { env, timeoutMs: 90_000 }));
      }
    }),
  );
}, 240_000);

afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

/** The run's one document, checked against the schema and the process: exit, ok, error. */
function docOf(name: string): { r: KhaRun; doc: KhaJson<Record<string, unknown>> } {
  const r = runs.get(name);
  if (!r) throw new Error(`${name} did not run`);
  let doc: KhaJson<Record<string, unknown>>;
  try {
    doc = JSON.parse(r.stdout) as KhaJson<Record<string, unknown>>;
  } catch (e) {
    throw new Error(`stdout is not exactly one JSON document (${String(e)})\n${showRun(r)}`);
  }
  expect(outputProblems(doc), showRun(r)).toEqual([]);
  expect(doc.exit, showRun(r)).toBe(r.code);
  expect(doc.ok).toBe(r.code === 0);
  expect(doc.error === null).toBe(doc.ok);
  // the error is in the document only: a human line on stderr would be a second account of it
  expect(r.stderr, showRun(r)).not.toMatch(/^error: /m);
  return { r, doc };
}

describe('--json through the built CLI: one document that fits the schema, success or failure', () => {
  test.each([
    ['version', 'version'],
    ['init', 'init'],
    ['render', 'render'],
    ['inventory', 'inventory'],
    ['monitoring rules', 'monitoring rules'],
    ['monitoring scrape-config', 'monitoring scrape-config'],
  ])('%s: ok, exit 0, the result', (name, command) => {
    const { doc } = docOf(name);
    expect(doc).toMatchObject({ command, ok: true, exit: 0, error: null });
    expect(doc.result).not.toBeNull();
  });

  test('the results say what they are about', () => {
    expect(docOf('version').doc.result).toMatchObject({ name: 'kha', node: process.version });
    expect(docOf('init').doc.result).toMatchObject({ file: inv('init.yaml'), vip: '10.0.0.100', virtual_router_id: suggestVirtualRouterId('10.0.0.100').id });
    expect(docOf('render').doc.result).toMatchObject({ host: 'm1', assumed: [] });
    expect(docOf('inventory').doc.result).toMatchObject({ groups: { masters: 'masters' } });
    // kha inventory connects nowhere: its log is not left behind, and the document says so
    expect(docOf('inventory').doc.log).toBeNull();
    expect(docOf('monitoring rules').doc.result).toMatchObject({ flapWindow: '10m', flapMoves: 3, alerts: expect.arrayContaining(['KhaVipNoHolder']) });
    expect(docOf('monitoring scrape-config').doc.result).toMatchObject({ targets: { kha: ['127.0.0.1:8406'], 'kha-haproxy': ['127.0.0.1:8405'] } });
  });

  test.each([
    ['init: the file exists', 'init', 'E_FILE_EXISTS'],
    ['render: unknown host', 'render', 'E_UNKNOWN_HOST'],
    ['inventory: no such file', 'inventory', 'E_INPUT'],
    ['up: bad inventory', 'up', 'E_INPUT'],
    ['status --watch --json', 'status', 'E_INPUT'],
    ['lab up: bad name', 'lab up', 'E_INPUT'],
    ['monitoring rules: bad window', 'monitoring rules', 'E_INPUT'],
    ['up: unknown flag', 'up', 'E_INPUT'],
    ['up: missing -i', 'up', 'E_INPUT'],
    ['status: bad integer', 'status', 'E_INPUT'],
    ['drill: bad option', 'drill', 'E_INPUT'],
    ['play: missing argument', 'play', 'E_INPUT'],
    ['lab down: unknown flag', 'lab down', 'E_INPUT'],
    ['version: unknown flag', 'version', 'E_INPUT'],
    ['help --json', 'help', 'E_INPUT'],
    ['drain: unknown host', 'drain', 'E_UNKNOWN_HOST'],
  ])('%s: exit 4, %s, %s, nothing on stderr', (name, command, code) => {
    const { r, doc } = docOf(name);
    expect(r.code, showRun(r)).toBe(4);
    expect(doc).toMatchObject({ command, ok: false, exit: 4, result: null, error: { code, hosts: [] } });
    expect(r.stderr).toBe('');
  });

  test("flag errors carry kha's one line and the help to try", () => {
    expect(docOf('up: unknown flag').doc.error).toEqual({ code: 'E_INPUT', message: 'unknown flag --bogus', hosts: [], hint: 'kha up --help' });
    expect(docOf('up: missing -i').doc.error?.message).toBe('missing -i/--inventory: pass the inventory file, as in kha up -i hosts.yaml');
    expect(docOf('status: bad integer').doc.error?.message).toMatch(/--interval/);
    expect(docOf('help --json').doc.error?.message).toBe('unknown flag --json');
  });

  test('kha --json alone: one document, command null, exit 4, a command comes first', () => {
    const { r, doc } = docOf('no command, only --json');
    expect(r.code, showRun(r)).toBe(4);
    expect(doc).toMatchObject({
      command: null,
      exit: 4,
      error: { code: 'E_INPUT', message: 'kha --json: a command comes first, then its flags (kha help lists the commands)' },
    });
  });

  test('an unknown command: command null, exit 4, the did-you-mean', () => {
    const { doc } = docOf('unknown command');
    expect(doc).toMatchObject({
      command: null,
      exit: 4,
      error: { code: 'E_INPUT', message: 'kha upp: no such command; did you mean kha up? (kha help lists them)' },
    });
  });

  test.each([
    ['up: unreachable', 'up'],
    ['status: unreachable', 'status'],
    ['drill: unreachable', 'drill'],
    ['upgrade: unreachable', 'upgrade'],
    ['reset: unreachable', 'reset'],
    ['add-master: unreachable', 'add-master'],
    ['remove-master: unreachable', 'remove-master'],
    ['play: unreachable', 'play'],
    ['drain: unreachable', 'drain'],
    ['undrain: unreachable', 'undrain'],
  ])('%s: not ok, the error names the hosts', (name, command) => {
    const { r, doc } = docOf(name);
    expect(doc.command).toBe(command);
    expect(r.code, showRun(r)).not.toBe(0);
    expect(doc.error?.hosts.length, showRun(r)).toBeGreaterThan(0);
    for (const h of doc.error!.hosts) expect(['m1', 'm2', 'm3', 'm4']).toContain(h);
  });

  test('kha up: exit 3, E_UNREACHABLE naming m1, m2, m3; the recap and tasks in the document, the progress on stderr', () => {
    const { r, doc } = docOf('up: unreachable');
    expect(r.code).toBe(3);
    expect(doc.error).toMatchObject({ code: 'E_UNREACHABLE', hosts: ['m1', 'm2', 'm3'] });
    expect(Object.keys(doc.recap)).toEqual(['m1', 'm2', 'm3']);
    expect(doc.tasks.map((t) => `${t.host} ${t.status}`)).toEqual(['m1 unreachable', 'm2 unreachable', 'm3 unreachable']);
    expect(r.stderr).toContain('==> Connect and gather facts');
  });

  test('kha status: exit 3, the report in result (every host unreachable, with the reason), no error line on stderr', () => {
    const { r, doc } = docOf('status: unreachable');
    expect(r.code).toBe(3);
    expect(doc.error).toMatchObject({ code: 'E_UNREACHABLE', hosts: ['m1', 'm2', 'm3'] });
    expect(doc.error?.message).toMatch(/^no host is reachable \(m1: /);
    const result = doc.result as unknown as StatusResult;
    expect(result.hosts.map((h) => [h.name, h.reachable])).toEqual([
      ['m1', false],
      ['m2', false],
      ['m3', false],
    ]);
    expect(result.nodes).toEqual([]);
  });
});

// ---- kha status, in-process ------------------------------------------------------------------

describe('kha status: its document against fake hosts, and the outcome of a report', () => {
  const FACTS = fs.readFileSync(path.join(import.meta.dirname, '../fixtures/facts/debian12-m1.txt'), 'utf8');
  const settings = () =>
    resolveSettings(
      parseInventory(
        [
          'all:',
          '  vars:',
          '    vip: 172.29.62.250',
          '  children:',
          '    masters:',
          '      hosts:',
          '        m1: { ansible_host: 172.29.62.11 }',
          '        m2: { ansible_host: 172.29.62.12 }',
          '',
        ].join('\n'),
        'hosts.yaml',
      ),
    );
  /** m1 holds the VIP (the fixture's facts), m2 the same facts without it */
  const handler = (name: string) => (script: string) => {
    if (script.includes('@@kha@@hostname')) return { stdout: name === 'm1' ? FACTS : FACTS.replace(/^.*inet 172\.29\.62\.250\/32.*\n/m, '') };
    if (script.startsWith('echo @@kha-status@@state'))
      return {
        stdout: '@@kha-status@@state\n@@kha-status@@stat\n@@kha-status@@files\n@@kha-status@@mine\n/etc/keepalived/keepalived.conf\n@@kha-status@@end\n',
      };
    return { code: 1 };
  };
  const doc = (result: StatusResult, exit: number) => outputDocument({ command: 'status', exit, error: null, log: null }, { result });

  test('a holder and a reachable backup: the document fits, exit 0', async () => {
    const { ctx } = fakeRun(['m1', 'm2'], (n) => new FakeConn(n, handler(n)));
    const result: StatusResult = { ...(await status(ctx, settings())), nodes: [] };
    expect(result.holders).toEqual(['m1']);
    expect(statusJsonOutcome(result)).toEqual({ exit: 0, lines: [] });
    expect(parseOutput(doc(result, 0)).result).toEqual(result);
  });

  test('m2 unreachable: exit 3 naming m2 and why; the document (with its error) fits', async () => {
    const { ctx, connector } = fakeRun(['m1', 'm2'], (n) => new FakeConn(n, handler(n)));
    connector.down.add('m2');
    ctx.facts.delete('m2'); // fakeRun's facts: a real run knows nothing of a host before it answers
    const result: StatusResult = { ...(await status(ctx, settings())), nodes: [] };
    const o = statusJsonOutcome(result);
    expect(o).toMatchObject({ exit: 3, error: { code: 'E_UNREACHABLE', hosts: ['m2'] }, lines: ['m2 unreachable'] });
    expect(o.error?.message).toBe('m2 unreachable (m2: connect ECONNREFUSED)');
    const error = { code: o.error!.code, message: o.error!.message, hosts: o.error!.hosts ?? [], hint: null };
    expect(outputProblems(outputDocument({ command: 'status', exit: 3, error, log: null }, { result }))).toEqual([]);
  });

  const report = (over: Partial<StatusResult>): StatusResult => ({
    vip: '10.0.0.100',
    frontendPort: 8443,
    holders: ['m1'],
    healthy: true,
    bootstrap: false,
    managed: true,
    certProblems: [],
    hosts: ['m1', 'm2'].map((name) => ({
      name,
      address: '10.0.0.1',
      reachable: true,
      vrrpState: 'BACKUP',
      holdsVip: name === 'm1',
      keepalived: { active: 'active', version: '2' },
      haproxy: { active: 'active', version: '2' },
      backendsUp: 2,
      backendsTotal: 2,
      backendsDown: [],
      drift: [],
    })),
    nodes: [],
    ...over,
  });
  const node = (name: string, active: string, up: number): NodeProxyStatus => ({
    name,
    address: '10.0.0.21',
    proxy: 'haproxy',
    active,
    backendsUp: up,
    backendsTotal: 2,
  });

  test.each([
    [
      'split brain: 6, E_SPLIT_BRAIN naming both holders',
      report({ holders: ['m1', 'm2'], healthy: false, problem: 'split brain: m1 and m2 all hold the VIP 10.0.0.100' }),
      6,
      'E_SPLIT_BRAIN',
      ['m1', 'm2'],
    ],
    ['no holder: 6, E_NO_HOLDER', report({ holders: [], healthy: false, problem: 'no host holds the VIP 10.0.0.100' }), 6, 'E_NO_HOLDER', []],
    ['a node proxy down: 6, E_NODE_PROXY naming it', report({ nodes: [node('n1', 'inactive', 0), node('n2', 'active', 2)] }), 6, 'E_NODE_PROXY', ['n1']],
    ['a node unreachable: 3, E_UNREACHABLE', report({ nodes: [node('n1', 'unreachable', 0)] }), 3, 'E_UNREACHABLE', ['n1']],
  ])('%s', (_name, r, exit, code, hosts) => {
    const o = statusJsonOutcome(r);
    expect(o).toMatchObject({ exit, error: { code, hosts } });
    // one human error: line at least, for a problem (6) and for the unreachable (3) alike
    expect(o.lines.length).toBeGreaterThan(0);
  });
});
