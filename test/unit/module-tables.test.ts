// Modules as tables (pyinfra's tests/operations/<op>/<case>.json): each file under
// test/fixtures/modules/<module>/ holds the params (and facts, run mode), what the probes printed,
// and the decision expected. No connection: probe() names the commands, decide() is pure.
//   { params, facts?, ctx?: {check, diff, planning, factsCurrent}, probeMs?,
//     probe: {stdout, stderr?, code?} | [...] | null,
//     expect: {probes?: [rendered commands], change, why | whyMatches, diff?, wait?} | {throws: regex} }
// A "mode" given as a string is octal ("0644"). Every module has at least one no-change case.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decideContext, probesOf } from '../../src/engine/plan-tasks.js';
import type { Decision, Module, ModuleContext } from '../../src/engine/types.js';
import type { Facts } from '../../src/facts/types.js';
import { blockInFileModule } from '../../src/modules/blockinfile.js';
import { haproxyServerModule } from '../../src/modules/haproxy-server.js';
import { purgeModule } from '../../src/modules/purge.js';
import {
  appliedModule,
  commandModule,
  fileModule,
  packageModule,
  serviceModule,
  sysctlModule,
  templateModule,
  waitForModule,
} from '../../src/modules/index.js';
import { render } from '../../src/transport/quote.js';
import type { ExecResult } from '../../src/transport/types.js';
import { fakeFacts, fakeInventory } from '../helpers/fake-conn.js';

const modules: Record<string, Module<any>> = {
  applied: appliedModule,
  blockinfile: blockInFileModule,
  command: commandModule,
  file: fileModule,
  haproxy_server: haproxyServerModule,
  package: packageModule,
  purge: purgeModule,
  service: serviceModule,
  sysctl: sysctlModule,
  template: templateModule,
  wait_for: waitForModule,
};

interface Case {
  params: Record<string, unknown>;
  facts?: Partial<Facts>;
  ctx?: { check?: boolean; diff?: boolean; planning?: boolean; factsCurrent?: boolean };
  probeMs?: number;
  probe: Partial<ExecResult> | Partial<ExecResult>[] | null;
  expect: { throws: string } | { probes?: string[]; change: boolean; why?: string; whyMatches?: string; diff?: unknown; wait?: boolean };
}

const root = join(import.meta.dirname, '../fixtures/modules');
const dirs = readdirSync(root).sort();

function load(dir: string, file: string): Case {
  const c = JSON.parse(readFileSync(join(root, dir, file), 'utf8')) as Case;
  if (typeof c.params.mode === 'string') c.params.mode = parseInt(c.params.mode, 8);
  return c;
}

const result = (r: Partial<ExecResult>): ExecResult => ({ code: 0, signal: null, stdout: '', stderr: '', ...r });

/** probe() then decide() as the engine calls them, with the case's probe output. */
function run(m: Module<any>, c: Case): { probes: string[]; decision: Decision } {
  const ctx: ModuleContext = { host: fakeInventory(['m1']).hosts[0]!, facts: fakeFacts(c.facts), check: false, diff: false, ...c.ctx };
  const probes = probesOf(m, c.params, ctx).map((p) => render(p.cmd));
  const out = c.probe === null ? [] : Array.isArray(c.probe) ? c.probe.map(result) : [result(c.probe)];
  if (out.length !== probes.length) throw new Error(`the case gives ${out.length} probe results for ${probes.length} probes`);
  return { probes, decision: m.decide(out, c.params, decideContext(ctx, c.probeMs ?? 0)) };
}

test('every module has a table, and each table a no-change case', () => {
  expect(dirs).toEqual(Object.keys(modules).sort());
  for (const d of dirs) {
    const noChange = readdirSync(join(root, d)).filter((f) => {
      const e = load(d, f).expect;
      return 'change' in e && e.change === false;
    });
    expect(noChange.length, d).toBeGreaterThan(0);
  }
});

for (const dir of dirs) {
  describe(dir, () => {
    const files = readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.json'))
      .sort();
    test.each(files)('%s', (file) => {
      const c = load(dir, file);
      const m = modules[dir]!;
      const e = c.expect;
      if ('throws' in e) {
        expect(() => run(m, c)).toThrow(new RegExp(e.throws));
        return;
      }
      const { probes, decision } = run(m, c);
      if (e.probes) expect(probes).toEqual(e.probes);
      expect(decision.change).toBe(e.change);
      if (e.why !== undefined) expect(decision.why).toBe(e.why);
      if (e.whyMatches !== undefined) expect(decision.why).toMatch(new RegExp(e.whyMatches));
      if ('diff' in e) expect(decision.change ? (decision.diff ?? null) : null).toEqual(e.diff);
      if (e.wait !== undefined) expect(!decision.change && decision.wait !== undefined).toBe(e.wait);
    });
  });
}
