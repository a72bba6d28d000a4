// The lab reads a host's addresses from /proc/<pid>/net/fib_trie instead of a docker exec: the
// parser against a real dump (a keepalived holder: loopback, its own address, the VIP as /32).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFibTrieLocal } from '../../src/lab/netns.js';

const holder = fs.readFileSync(new URL('../fixtures/netns/fib_trie.holder.txt', import.meta.url), 'utf8');

describe('parseFibTrieLocal', () => {
  it('lists exactly the addresses `ip -o -4 addr show` lists on a VIP holder', () => {
    expect([...parseFibTrieLocal(holder)].sort()).toEqual(['127.0.0.1', '172.29.141.11', '172.29.141.250']);
  });

  it('a network or broadcast leaf is not a local address', () => {
    const s = parseFibTrieLocal(holder);
    expect(s.has('172.29.141.0')).toBe(false);
    expect(s.has('172.29.141.255')).toBe(false);
    expect(s.has('127.0.0.0')).toBe(false);
  });

  it('without the VIP (a backup), the VIP is absent', () => {
    const backup = holder.replace(/\|-- 172\.29\.141\.250\n\s*\/32 host LOCAL\n/g, '');
    expect(parseFibTrieLocal(backup).has('172.29.141.250')).toBe(false);
    expect(parseFibTrieLocal(backup).has('172.29.141.11')).toBe(true);
  });

  it('empty input: no addresses', () => {
    expect(parseFibTrieLocal('').size).toBe(0);
  });
});
