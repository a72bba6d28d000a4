import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mask, quote, render, sh } from '../../src/transport/quote.js';

const hostile = [`'; rm -rf / #`, '$(reboot)', '`reboot`', 'a\nreboot', 'a b', '"x"', '\\', '*', '~root', '$HOME', "it's", '-rf', ''];

describe('quoting hostile values', () => {
  it.each(hostile)('%j reaches the program as exactly one argument, unchanged', (v) => {
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${quote(v)}`]).toString();
    expect(out).toBe(`${v}\0`);
  });
  it('sh`` quotes interpolations and keeps literal parts', () => {
    expect(render(sh`test -f ${'/a b'} && cat ${'$(reboot)'}`)).toBe(`test -f '/a b' && cat '$(reboot)'`);
    expect(render({ argv: ['echo', `'; rm -rf / #`] })).toBe(`echo ''\\''; rm -rf / #'`);
  });
  it('rejects NUL', () => {
    expect(() => quote('a\0b')).toThrow('NUL');
  });
  it('masks every secret', () => {
    expect(mask('auth_pass s3cr3t; sudo pw s3cr3t and hunter2', ['s3cr3t', 'hunter2', ''])).toBe('auth_pass ********; sudo pw ******** and ********');
  });
});
