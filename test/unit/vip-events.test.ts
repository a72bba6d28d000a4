// The drill's exact times: `ip -ts -o monitor address` lines to VIP events, and the events to the
// round's exact figures (measured from the holder's clock at the failure).
import { describe, expect, it } from 'vitest';
import { exactTimes, type DrillRound } from '../../src/actions/drill.js';
import { parseMonitorTime, parseVipEvents } from '../../src/actions/vip-events.js';

const MON = [
  '[2026-12-02T13:48:42.551145] Deleted 598: eth0    inet 172.29.238.250/32 scope global eth0\\       valid_lft forever preferred_lft forever',
  '[2026-12-02T13:48:42.600000] 598: eth0    inet 172.29.238.2500/32 scope global eth0',
  '[2026-12-02T13:48:42.612698] 602: eth0    inet 172.29.238.250/32 scope global eth0\\       valid_lft forever preferred_lft forever',
  '[2026-12-02T13:48:43.000000] 602: eth0    inet 172.29.238.12/24 brd 172.29.238.255 scope global eth0',
  'garbage',
].join('\n');

const round = (): DrillRound => ({
  round: 1,
  mode: 'haproxy',
  holderBefore: 'm1',
  newHolder: 'm2',
  vipMovedMs: 170,
  vipMovedExactMs: null,
  vipReleasedExactMs: null,
  frontendAfterMoveMs: 30,
  settledMs: 4000,
  holderAfter: 'm1',
  budgetMs: 4000,
  withinBudget: true,
});

describe('ip monitor address, parsed', () => {
  it('reads the UTC timestamp to the microsecond', () => {
    expect(parseMonitorTime('[2026-12-02T13:48:42.612698] x')).toBe(Date.parse('2026-12-02T13:48:42Z') + 612.698);
    expect(parseMonitorTime('13:48:42 x')).toBeNull();
  });

  it('keeps only the VIP itself (not an address that starts with it), adds and deletes', () => {
    const m1 = parseVipEvents(MON, '172.29.238.250', 'm1');
    expect(m1.map((e) => e.up)).toEqual([false, true]);
    expect(m1[0]!.t).toBe(Date.parse('2026-12-02T13:48:42Z') + 551.145);
    expect(parseVipEvents(MON, '172.29.238.25', 'm1')).toEqual([]);
  });
});

describe("the drill's exact figures", () => {
  const t0 = Date.parse('2026-12-02T13:48:42Z') + 503.857;
  const events = [...parseVipEvents(MON.split('\n')[0]!, '172.29.238.250', 'm1'), ...parseVipEvents(MON.split('\n')[2]!, '172.29.238.250', 'm2')];

  it('from the holder clock at the stop to the old holder letting go and the new one taking it', () => {
    const r = round();
    exactTimes(r, t0, events);
    expect(r.vipReleasedExactMs).toBeCloseTo(47.3, 1);
    expect(r.vipMovedExactMs).toBeCloseTo(108.8, 1);
  });

  it('events before the failure, on other hosts, or a missing clock leave them null', () => {
    const r = round();
    exactTimes(r, t0 + 1000, events);
    expect([r.vipMovedExactMs, r.vipReleasedExactMs]).toEqual([null, null]);
    const r2 = { ...round(), newHolder: 'm3' };
    exactTimes(r2, t0, events);
    expect(r2.vipMovedExactMs).toBeNull();
    const r3 = round();
    exactTimes(r3, Number.NaN, events);
    expect(r3.vipMovedExactMs).toBeNull();
  });
});
