import { describe, expect, it } from 'vitest';
import { batchSizes, batches, parseSerialFlag } from '../../src/engine/serial.js';
import { InputError } from '../../src/errors.js';

describe('serial arithmetic (Ansible rules: round down, at least 1, last entry repeats)', () => {
  it.each([
    ['20%', 1, [1]],
    ['20%', 3, [1, 1, 1]],
    ['20%', 5, [1, 1, 1, 1, 1]],
    ['20%', 7, [1, 1, 1, 1, 1, 1, 1]],
    ['20%', 10, [2, 2, 2, 2, 2]],
    ['20%', 100, [20, 20, 20, 20, 20]],
    ['50%', 5, [2, 2, 1]],
    ['100%', 4, [4]],
    [2, 5, [2, 2, 1]],
    [10, 3, [3]],
  ] as const)('%s of %i hosts -> %j', (spec, n, want) => {
    expect(batchSizes(spec, n)).toEqual(want);
  });

  it('[1, "20%"] starts with one canary, then 20% batches', () => {
    expect(batchSizes([1, '20%'], 10)).toEqual([1, 2, 2, 2, 2, 1]);
    expect(batchSizes([1, '20%'], 3)).toEqual([1, 1, 1]);
    expect(batchSizes([1, 2, '50%'], 10)).toEqual([1, 2, 5, 2]);
  });

  it('no serial means one batch of everything; zero hosts means no batch', () => {
    expect(batchSizes(undefined, 7)).toEqual([7]);
    expect(batchSizes('20%', 0)).toEqual([]);
  });

  it('keeps host order in batches', () => {
    expect(batches('40%', ['a', 'b', 'c', 'd', 'e'])).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it.each([
    ['0', '--serial: 0 is not a valid batch size; use a whole number >= 1 or a percentage such as 20%'],
    ['0%', '--serial: 0% is not a valid batch size; use a percentage from 1% to 100%'],
    ['120%', '--serial: 120% is not a valid batch size; use a percentage from 1% to 100%'],
    ['-1', '--serial: "-1" is not a valid batch size; use a whole number >= 1, a percentage such as 20%, or a list such as [1, "20%"]'],
    ['abc', '--serial: "abc" is not a valid batch size; use a whole number >= 1, a percentage such as 20%, or a list such as [1, "20%"]'],
    ['[1, "x"]', '--serial: "x" is not a valid batch size; use a whole number >= 1, a percentage such as 20%, or a list such as [1, "20%"]'],
    ['[]', '--serial: the list is empty; give at least one batch size'],
  ])('rejects --serial %s', (v, msg) => {
    expect(() => parseSerialFlag(v)).toThrow(new InputError(msg));
    try {
      parseSerialFlag(v);
    } catch (e) {
      expect((e as InputError).exit).toBe(4);
    }
  });

  it('parses flag forms', () => {
    expect(parseSerialFlag('20%')).toBe('20%');
    expect(parseSerialFlag('3')).toBe(3);
    expect(parseSerialFlag('1,20%')).toEqual(['1', '20%']);
    expect(parseSerialFlag('[1, "20%"]')).toEqual([1, '20%']);
  });
});
