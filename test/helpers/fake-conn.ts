// A fake Connection for engine and module tests: commands are data, answered by a handler.
import type { Command, Connection, ExecOptions, ExecResult, UploadOptions } from '../../src/transport/types.js';
import { render } from '../../src/transport/quote.js';
import { statScript } from '../../src/modules/file.js';
import { unitShowScript } from '../../src/modules/probe-groups.js';
import { probeScript } from '../../src/modules/template.js';
import type { Facts } from '../../src/facts/types.js';
import type { Inventory, InventoryHost } from '../../src/inventory/types.js';
import type { Connector } from '../../src/engine/context.js';
import { RunContext } from '../../src/engine/context.js';
import { EventBus, type RunEvent } from '../../src/engine/events.js';

export type Handler = (script: string, opts: ExecOptions) => Partial<ExecResult> | undefined;

export class FakeConn implements Connection {
  readonly stats = { execs: 0, uploads: 0 };
  readonly log: string[] = [];
  readonly uploads: Array<{ path: string; content: string; opts: UploadOptions }> = [];
  constructor(
    readonly name: string,
    public handler: Handler = () => ({}),
  ) {}
  async exec(cmd: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    this.stats.execs++;
    const s = render(cmd);
    this.log.push(s);
    const r = this.handler(s, opts) ?? {};
    return { code: 0, signal: null, stdout: '', stderr: '', ...r };
  }
  async upload(content: string | Buffer, path: string, opts: UploadOptions): Promise<void> {
    this.stats.uploads++;
    this.uploads.push({ path, content: content.toString(), opts });
  }
  async close(): Promise<void> {}
}

/** FakeConn plus execBatch (the SSH connection's one round trip): each part answered by the handler, one batch counted. */
export class BatchingConn extends FakeConn {
  batches: string[][] = [];
  async execBatch(cmds: Command[], opts: ExecOptions = {}): Promise<ExecResult[]> {
    this.batches.push(cmds.map(render));
    this.stats.execs++;
    return cmds.map((c) => ({
      code: 0,
      signal: null,
      stdout: '',
      stderr: '',
      ...(mergedAnswer(render(c), (x) => this.handler(x, opts)) ?? this.handler(render(c), opts) ?? {}),
    }));
  }
}

/**
 * A merged probe (src/modules/probe-groups.ts) answered from the handler's answers to each member's
 * own command, as a real host would print it: fakes that know single probes need not know merged ones.
 */
export function mergedAnswer(script: string, single: (cmd: string) => Partial<ExecResult> | undefined): Partial<ExecResult> | undefined {
  const out = (cmd: string) => single(cmd)?.stdout ?? '';
  const files = /^echo @@kha-stat@@; stat -c '%n\|%F\|%a\|%U\|%G' -- (.+) 2>\/dev\/null\necho @@kha-sha@@(?:; sha256sum -- (.+) 2>\/dev\/null)?; true$/.exec(
    script,
  );
  if (files) {
    const hashed = new Set(files[2]?.split(' ') ?? []);
    const stat: string[] = [];
    const sha: string[] = [];
    for (const p of files[1]!.split(' ')) {
      const [first = '', second] = out(hashed.has(p) ? probeScript(p, false) : statScript(p)).split('\n');
      if (first && first !== 'missing') stat.push(`${p}|${first}\n`);
      if (hashed.has(p) && second) sha.push(`${second}\n`);
    }
    return { code: 0, stdout: `@@kha-stat@@\n${stat.join('')}@@kha-sha@@\n${sha.join('')}` };
  }
  const units = /^systemctl show -p LoadState -p ActiveState -p UnitFileState -- (.+ .+)$/.exec(script);
  if (units)
    return {
      code: 0,
      stdout: units[1]!
        .split(' ')
        .map((u) => out(unitShowScript(u)))
        .join('\n'),
    };
  return undefined;
}

export function fakeFacts(over: Partial<Facts> = {}): Facts {
  return {
    hostname: 'h',
    uid: 0,
    os: { id: 'debian', idLike: [], versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    pkgMgr: 'apt',
    systemd: true,
    interfaces: [
      { name: 'lo', up: true, ipv4: [{ address: '127.0.0.1', prefix: 8 }] },
      { name: 'eth0', up: true, ipv4: [{ address: '10.0.0.11', prefix: 24 }] },
    ],
    packages: {},
    services: {},
    listening: [],
    files: {},
    ...over,
  };
}

export function fakeInventory(names: string[]): Inventory {
  const hosts: InventoryHost[] = names.map((name, i) => ({
    name,
    vars: {},
    groups: ['all', 'masters'],
    connection: { name, address: `10.0.0.${11 + i}`, port: 22, user: 'root', become: false, becomeUser: 'root' },
  }));
  return { file: '/tmp/hosts.yaml', hosts, groups: { all: names, masters: names }, secrets: [] };
}

export class FakeConnector implements Connector {
  handshakes = 0;
  readonly conns = new Map<string, FakeConn>();
  down = new Set<string>();
  constructor(private readonly make: (name: string) => FakeConn) {}
  async get(host: InventoryHost): Promise<Connection> {
    if (this.down.has(host.name)) {
      const { TransportError } = await import('../../src/errors.js');
      throw new TransportError(`${host.name}: connect ECONNREFUSED`, { host: host.name });
    }
    let c = this.conns.get(host.name);
    if (!c) {
      c = this.make(host.name);
      this.conns.set(host.name, c);
      this.handshakes++;
    }
    return c;
  }
  async closeAll(): Promise<void> {}
}

export function fakeRun(names: string[], make: (name: string) => FakeConn, opts: { check?: boolean; diff?: boolean; forks?: number } = {}) {
  const events: RunEvent[] = [];
  const bus = new EventBus();
  bus.add({ emit: (e) => events.push(e) });
  const connector = new FakeConnector(make);
  const ctx = new RunContext(fakeInventory(names), connector, bus, {
    check: opts.check ?? false,
    diff: opts.diff ?? false,
    forks: opts.forks ?? 20,
    signal: new AbortController().signal,
  });
  for (const n of names) ctx.facts.set(n, fakeFacts({ hostname: n }));
  return { ctx, events, connector };
}
