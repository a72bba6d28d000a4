import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WRITE_INVENTORY_PHASE, type MembersState } from '../../src/actions/members.js';
import { EventBus } from '../../src/engine/events.js';
import {
  addHostToInventoryText,
  hostEntryLine,
  InventoryChangedError,
  removeHostFromInventoryText,
  writeInventoryAtomic,
  type ManualEdit,
} from '../../src/inventory/edit.js';
import { HumanSink } from '../../src/report/human.js';
import { parseInventory } from '../../src/inventory/load.js';
import { InputError } from '../../src/errors.js';

const text = `# production masters: do not touch m1 by hand
all:
  vars:
    vip: 10.0.0.100   # the API endpoint
    ansible_user: ops
  children:
    masters:
      hosts:
        m1: { ansible_host: 10.0.0.11 }  # rack A
        m2:
          ansible_host: 10.0.0.12
        m3: { ansible_host: 10.0.0.13 }
    workers:
      hosts:
        w1: { ansible_host: 10.0.0.21 }
`;

describe("inventory edits keep the operator's comments, order and formatting", () => {
  it('add-master appends the host to the masters group, nothing else changes', () => {
    const out = addHostToInventoryText(text, ['all', 'children', 'masters'], 'm4', { ansible_host: '10.0.0.14' });
    expect(out).toBe(
      text.replace('        m3: { ansible_host: 10.0.0.13 }\n', '        m3: { ansible_host: 10.0.0.13 }\n        m4: { ansible_host: 10.0.0.14 }\n'),
    );
    expect(parseInventory(out, 'hosts.yaml').groups['masters']).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('remove-master deletes the host wherever it is listed and keeps every comment', () => {
    const { text: out, removedFrom } = removeHostFromInventoryText(text, 'm2');
    expect(removedFrom).toEqual(['all.children.masters.hosts']);
    expect(out).toBe(text.replace('        m2:\n          ansible_host: 10.0.0.12\n', ''));
    expect(out).toContain('# rack A');
    expect(out).toContain('# production masters: do not touch m1 by hand');
  });

  it('removing an unknown host is an input error', () => {
    expect(() => removeHostFromInventoryText(text, 'm9')).toThrow(new InputError('--name: m9 is not a host of the inventory'));
  });
});

describe('CRLF inventories', () => {
  it("the added line uses the file's own line ending", () => {
    const crlf = text.replace(/\n/g, '\r\n');
    const out = addHostToInventoryText(crlf, ['all', 'children', 'masters'], 'm4', { ansible_host: '10.0.0.14' });
    expect(out).toBe(
      crlf.replace('        m3: { ansible_host: 10.0.0.13 }\r\n', '        m3: { ansible_host: 10.0.0.13 }\r\n        m4: { ansible_host: 10.0.0.14 }\r\n'),
    );
  });
});

describe('dedicated load balancers (settings)', () => {
  const lbInv = (vars: string) =>
    [
      'all:',
      '  vars:',
      '    vip: 10.0.0.100',
      ...vars
        .split('\n')
        .filter(Boolean)
        .map((l) => `    ${l}`),
      '  children:',
      '    loadbalancers:',
      '      hosts:',
      '        lb1: { ansible_host: 10.0.0.5 }',
      '        lb2: { ansible_host: 10.0.0.6 }',
      '    masters:',
      '      hosts:',
      '        m1: { ansible_host: 10.0.0.11 }',
    ].join('\n');
  it('frontend_port 6443 is fine when no load balancer runs an apiserver', async () => {
    const { resolveSettings } = await import('../../src/inventory/settings.js');
    const s = resolveSettings(parseInventory(lbInv('frontend_port: 6443'), 'hosts.yaml'));
    expect(s.frontendPort).toBe(6443);
    expect(s.lbHosts).toEqual(['lb1', 'lb2']);
    expect(s.unicast).toBe(true);
  });
  it('track_apiserver is refused: the load balancers run no apiserver', async () => {
    const { resolveSettings } = await import('../../src/inventory/settings.js');
    expect(() => resolveSettings(parseInventory(lbInv('track_apiserver: true'), 'hosts.yaml'))).toThrow(
      'hosts.yaml:4: all.vars.track_apiserver: track_apiserver checks the apiserver on each load-balancer host, and lb1, lb2 run none (dedicated load balancers); remove track_apiserver',
    );
  });
});

// The rewrite itself, on real files in a temp dir: what add-master and remove-master do last.
describe('writing the inventory back (real files)', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-inv-write-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const added = addHostToInventoryText(text, ['all', 'children', 'masters'], 'm4', { ansible_host: '10.0.0.14' });

  it('replaces the file, keeps the previous version as .bak, and leaves no temp file', () => {
    const file = path.join(dir, 'hosts.yaml');
    fs.writeFileSync(file, text, { mode: 0o640 });
    fs.chmodSync(file, 0o640);
    const w = writeInventoryAtomic(file, added, { expected: text });
    expect(fs.readFileSync(file, 'utf8')).toBe(added);
    expect(w).toEqual({ target: file, backup: `${file}.bak` });
    expect(fs.readFileSync(`${file}.bak`, 'utf8')).toBe(text);
    expect((fs.statSync(`${file}.bak`).mode & 0o777).toString(8)).toBe('640');
    expect(fs.readdirSync(dir).sort()).toEqual(['hosts.yaml', 'hosts.yaml.bak']);
  });

  it("a symlinked inventory stays a link: its target is written, with the target's owner and mode", () => {
    const real = path.join(dir, 'real');
    fs.mkdirSync(real);
    const target = path.join(real, 'prod.yaml');
    fs.writeFileSync(target, text);
    fs.chmodSync(target, 0o604);
    // as root, another owner than the writer's; otherwise the writer's own (still checked)
    const [uid, gid] = process.getuid?.() === 0 ? [4321, 8765] : [process.getuid!(), process.getgid!()];
    fs.chownSync(target, uid, gid);
    const link = path.join(dir, 'hosts.yaml');
    fs.symlinkSync('real/prod.yaml', link);

    const w = writeInventoryAtomic(link, added, { expected: text });
    expect(w).toEqual({ target, backup: `${target}.bak` });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(link)).toBe('real/prod.yaml');
    expect(fs.readFileSync(target, 'utf8')).toBe(added);
    const st = fs.statSync(target);
    expect({ mode: (st.mode & 0o777).toString(8), uid: st.uid, gid: st.gid }).toEqual({ mode: '604', uid, gid });
    const bak = fs.statSync(`${target}.bak`);
    expect({ mode: (bak.mode & 0o777).toString(8), uid: bak.uid, gid: bak.gid }).toEqual({ mode: '604', uid, gid });
    expect(fs.readFileSync(`${target}.bak`, 'utf8')).toBe(text);
    expect(fs.readdirSync(dir).sort()).toEqual(['hosts.yaml', 'real']);
    expect(fs.readdirSync(real).sort()).toEqual(['prod.yaml', 'prod.yaml.bak']);
  });

  it('refuses to overwrite a file an operator edited after kha read it: nothing is written, no .bak, no temp file', () => {
    const file = path.join(dir, 'hosts.yaml');
    const edited = `${text}# the operator's edit during the run\n`;
    fs.writeFileSync(file, edited);
    expect(() => writeInventoryAtomic(file, added, { expected: text })).toThrow(new InventoryChangedError(file, 'changed on disk'));
    expect(fs.readFileSync(file, 'utf8')).toBe(edited);
    expect(fs.readdirSync(dir)).toEqual(['hosts.yaml']);
  });

  it('does not follow a file or link planted at a predictable temp name (random name, opened exclusively)', () => {
    const file = path.join(dir, 'hosts.yaml');
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(file, text);
    fs.writeFileSync(victim, 'do not touch\n');
    const planted = `${file}.kha-${process.pid}.tmp`;
    fs.symlinkSync(victim, planted);
    writeInventoryAtomic(file, added, { expected: text });
    expect(fs.readFileSync(victim, 'utf8')).toBe('do not touch\n');
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe(added);
    expect(fs.readdirSync(dir).sort()).toEqual(['hosts.yaml', 'hosts.yaml.bak', path.basename(planted), 'victim'].sort());
  });
});

describe('the last phase of add-master / remove-master when the file changed during the run', () => {
  let dir = '';
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kha-inv-phase-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** run the phase against a file an operator edited; return the human output */
  async function runPhase(oldText: string, newText: string, manual: ManualEdit) {
    const file = path.join(dir, 'hosts.yaml');
    const edited = `${oldText}# edited by hand during the run\n`;
    fs.writeFileSync(file, edited);
    let out = '';
    const events = new EventBus();
    events.add(new HumanSink({ out: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream, color: false }));
    const st = { run: { check: false, events }, opts: { file, oldText, newText, manual }, inventoryWritten: false } as unknown as MembersState;
    await WRITE_INVENTORY_PHASE.run(st);
    return { out, st, file, edited };
  }

  it('add-master: one line says so, the next is the exact YAML line to add; the file keeps the edit', async () => {
    const newText = addHostToInventoryText(text, ['all', 'children', 'masters'], 'm4', { ansible_host: '10.0.0.14', priority: 90 });
    const line = hostEntryLine('m4', { ansible_host: '10.0.0.14', priority: 90 });
    const { out, st, file, edited } = await runPhase(text, newText, { kind: 'add', under: 'all.children.masters.hosts', line });
    expect(line).toBe('m4: { ansible_host: 10.0.0.14, priority: 90 }');
    expect(newText).toContain(`        ${line}\n`);
    expect(out.split('\n')).toEqual([
      `  error: ${file} changed on disk after kha read it, so kha did not overwrite it; the hosts are changed: add this line under all.children.masters.hosts by hand:`,
      '  m4: { ansible_host: 10.0.0.14, priority: 90 }',
      '',
    ]);
    expect(st.inventoryWritten).toBe(false);
    expect(st.inventoryError).toMatch(/changed on disk/);
    expect(fs.readFileSync(file, 'utf8')).toBe(edited);
    expect(fs.readdirSync(dir)).toEqual(['hosts.yaml']);
  });

  it('remove-master: the exact line to remove', async () => {
    const { text: newText, removedFrom, removedLines } = removeHostFromInventoryText(text, 'm3');
    expect(removedLines).toEqual([['m3: { ansible_host: 10.0.0.13 }']]);
    const { out, st } = await runPhase(text, newText, { kind: 'remove', from: removedFrom, lines: removedLines.flat() });
    expect(out).toContain('the hosts are changed: remove this line from all.children.masters.hosts by hand:\n  m3: { ansible_host: 10.0.0.13 }\n');
    expect(st.inventoryWritten).toBe(false);
  });

  it('when the file is unchanged it is written and the .bak named', async () => {
    const file = path.join(dir, 'hosts.yaml');
    fs.writeFileSync(file, text);
    const newText = removeHostFromInventoryText(text, 'm3').text;
    let out = '';
    const events = new EventBus();
    events.add(new HumanSink({ out: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream, color: false }));
    const st = {
      run: { check: false, events },
      opts: { file, oldText: text, newText, manual: { kind: 'remove', from: [], lines: [] } },
      inventoryWritten: false,
    } as unknown as MembersState;
    await WRITE_INVENTORY_PHASE.run(st);
    expect(st.inventoryWritten).toBe(true);
    expect(out).toBe(`  ${file} updated (the previous version is ${file}.bak)\n`);
    expect(fs.readFileSync(file, 'utf8')).toBe(newText);
  });
});
