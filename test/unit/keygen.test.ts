// ssh2 writes about 1 in 256 generated ed25519 public keys 31 bytes long, which its own parser then
// rejects. parseableKeyPair is the one place kha, the lab, the tests and the benchmarks get keys.
import ssh2 from 'ssh2';
import { describe, expect, test } from 'vitest';
import { parseableKeyPair } from '../../src/transport/keygen.js';

const parses = (k: string, passphrase?: string) => !((passphrase === undefined ? ssh2.utils.parseKey(k) : ssh2.utils.parseKey(k, passphrase)) instanceof Error);

describe('parseableKeyPair', () => {
  test('2000 keys in a row: both halves of every one parse (raw generation fails here with p > 0.999)', () => {
    let bad = 0;
    for (let i = 0; i < 2000; i++) {
      const k = parseableKeyPair();
      if (!parses(k.private) || !parses(k.public)) bad++;
    }
    expect(bad).toBe(0);
  });

  test('comment and passphrase are kept', () => {
    const k = parseableKeyPair('kha-lab-x', { passphrase: 'open sesame', cipher: 'aes256-ctr', rounds: 2 });
    expect(k.public).toMatch(/^ssh-ed25519 \S+ kha-lab-x$/);
    expect(parses(k.private, 'open sesame')).toBe(true);
    expect(parses(k.private)).toBe(false);
  });
});
