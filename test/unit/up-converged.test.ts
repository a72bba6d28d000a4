// kha up skips its start phases only when the Plan found nothing on any host and the VIP is where
// it should be; any drift (a change planned, a pending handler, no or two holders, the wrong
// holder with preemption, check mode) keeps them.
import { describe, expect, it } from 'vitest';
import { aptTimeLine, vrrpSituation } from '../../src/actions/up.js';
import type { HaSettings } from '../../src/inventory/settings.js';
import { fakeRun, FakeConn } from '../helpers/fake-conn.js';

const hosts = ['m1', 'm2', 'm3'];
function state(
  over: { plan?: Record<string, string[]>; holders?: string[]; nopreempt?: boolean; check?: boolean; splitBrain?: boolean; vrrpBreaking?: boolean } = {},
) {
  const { ctx } = fakeRun(hosts, (n) => new FakeConn(n), { check: over.check ?? false });
  const s = { lbHosts: hosts, primary: 'm1', nopreempt: over.nopreempt ?? false, vip: '10.0.0.250' } as unknown as HaSettings;
  return {
    run: ctx,
    s,
    plan: over.plan ?? { m1: [], m2: [], m3: [] },
    holders: over.splitBrain ? ['m1', 'm2'] : (over.holders ?? ['m1']),
    vrrpBreaking: over.vrrpBreaking ?? false,
  };
}

/** the converged message, or null when the Plan's VRRP situation is anything else */
function convergedWhy(st: ReturnType<typeof state>): string | null {
  const v = vrrpSituation(st, st.holders, st.plan, st.vrrpBreaking);
  return v.kind === 'converged' ? v.why : null;
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

describe('vrrpSituation', () => {
  it('split brain wins over converged, and keeps whether the change breaks VRRP', async () => {
    const { breaksVrrp } = await import('../../src/actions/up.js');
    const st = state({ holders: ['m1', 'm2'] });
    expect(vrrpSituation(st, st.holders, st.plan, false)).toEqual({ kind: 'split-brain', holders: ['m1', 'm2'], breaking: false });
    const b = vrrpSituation(st, st.holders, st.plan, true);
    expect(b).toEqual({ kind: 'split-brain', holders: ['m1', 'm2'], breaking: true });
    expect(breaksVrrp(b)).toBe(true);
  });
  it('a VRRP-breaking change on a healthy cluster: the others restart together', async () => {
    const { breaksVrrp } = await import('../../src/actions/up.js');
    const st = state({ plan: { m1: ['write keepalived.conf'], m2: [], m3: [] } });
    expect(vrrpSituation(st, st.holders, st.plan, true)).toEqual({ kind: 'breaking' });
    expect(breaksVrrp(vrrpSituation(st, st.holders, st.plan, false))).toBe(false);
  });
});

describe('aptTimeLine', () => {
  it("puts apt's time beside the run's, with the rest", () => {
    expect(aptTimeLine({ hosts: ['m1', 'm2', 'm3'], ms: 21_340 }, 35_010)).toBe(
      "time in apt (update and install on m1, m2, m3, at once): 21.3 s of this run's 35.0 s; everything else 13.7 s",
    );
    expect(aptTimeLine({ hosts: ['m4'], ms: 900 }, 800)).toBe(
      "time in apt (update and install on m4, at once): 0.9 s of this run's 0.8 s; everything else 0.0 s",
    );
  });
});
