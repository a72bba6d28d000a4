// kha up skips its start phases only when the Plan found nothing on any host and the VIP is where
// it should be; any drift (a change planned, a pending handler, no or two holders, the wrong
// holder with preemption, check mode) keeps them.
import { describe, expect, it } from 'vitest';
import { convergedWhy } from '../../src/actions/up.js';
import type { HaSettings } from '../../src/inventory/settings.js';
import { fakeRun, FakeConn } from '../helpers/fake-conn.js';

const hosts = ['m1', 'm2', 'm3'];
function state(over: { plan?: Record<string, string[]>; holders?: string[]; nopreempt?: boolean; check?: boolean; splitBrain?: boolean; vrrpBreaking?: boolean } = {}) {
  const { ctx } = fakeRun(hosts, (n) => new FakeConn(n), { check: over.check ?? false });
  const s = { lbHosts: hosts, primary: 'm1', nopreempt: over.nopreempt ?? false, vip: '10.0.0.250' } as unknown as HaSettings;
  return {
    run: ctx,
    s,
    plan: over.plan ?? { m1: [], m2: [], m3: [] },
    holders: over.holders ?? ['m1'],
    ...(over.splitBrain ? { splitBrain: true } : {}),
    ...(over.vrrpBreaking ? { vrrpBreaking: true } : {}),
  };
}

describe('convergedWhy', () => {
  it('converged: nothing planned anywhere, the primary holds the VIP', () => {
    expect(convergedWhy(state())).toMatch(/every host is converged and m1 holds the VIP 10\.0\.0\.250/);
  });
  it.each([
    ['a change on one host', { plan: { m1: [], m2: ['start + enable haproxy'], m3: [] } }],
    ['a host missing from the plan', { plan: { m1: [], m2: [] } }],
    ['nobody holds the VIP', { holders: [] }],
    ['two holders', { holders: ['m1', 'm2'] }],
    ['a backup holds it with preemption', { holders: ['m2'] }],
    ['check mode', { check: true }],
    ['split brain', { splitBrain: true }],
    ['a VRRP-breaking change', { vrrpBreaking: true }],
  ])('not converged: %s', (_why, over) => {
    expect(convergedWhy(state(over))).toBeNull();
  });
  it('with nopreempt whoever holds the VIP keeps it', () => {
    expect(convergedWhy(state({ nopreempt: true, holders: ['m2'] }))).toMatch(/m2 holds the VIP/);
  });
  it('a handler still pending on a host (an earlier play changed something) keeps the start phases', () => {
    const st = state();
    st.run.notify('m3', ['restart keepalived']);
    expect(convergedWhy(st)).toBeNull();
  });
  it('a host lost earlier in the run keeps the start phases (they report it)', () => {
    const st = state();
    st.run.markUnreachable('m2', new Error('gone'));
    expect(convergedWhy(st)).toBeNull();
  });
});
