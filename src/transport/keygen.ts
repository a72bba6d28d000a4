// ssh2's generateKeyPairSync('ed25519') yields a key its own parseKey rejects about 1 time in 256:
// a public key whose first byte is zero is written 31 bytes long ("Malformed OpenSSH public key";
// mscdex/ssh2 #1390, #1513). Every key kha or its tests and benchmarks generate comes from here,
// which retries until both halves parse, so nothing ever gets a key kha cannot load.
import ssh2 from 'ssh2';

/** ssh2's passphrase options for an ed25519 key (the comment is parseableKeyPair's first argument) */
export interface KeyPairOptions {
  passphrase?: string;
  cipher?: string;
  rounds?: number;
}

export function parseableKeyPair(comment?: string, opts: KeyPairOptions = {}): { private: string; public: string } {
  const o = { ...opts, ...(comment !== undefined ? { comment } : {}) };
  for (let i = 0; i < 20; i++) {
    const k = ssh2.utils.generateKeyPairSync('ed25519', o as Parameters<typeof ssh2.utils.generateKeyPairSync>[1]);
    const priv = o.passphrase !== undefined ? ssh2.utils.parseKey(k.private, o.passphrase) : ssh2.utils.parseKey(k.private);
    if (!(priv instanceof Error) && !(ssh2.utils.parseKey(k.public) instanceof Error)) return k;
  }
  throw new Error('could not generate an ed25519 key that ssh2 can parse in 20 tries');
}
