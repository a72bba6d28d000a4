// OpenSSH known_hosts: parse, look up, append. Pure functions plus two small file helpers; the
// ssh2 hostVerifier (handshake.ts) calls checkHostKey() with the raw key blob the server sent.
//
// Format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
//   [@revoked|@cert-authority] host-patterns keytype base64-blob [comment]
// host-patterns: comma-separated globs (`*`, `?`, `!negation`), `[host]:port` for ports other
// than 22, or one hashed entry `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface KnownHostEntry {
  /** 1-based line number in the file */
  line: number;
  marker?: '@revoked' | '@cert-authority';
  /** the host-patterns field as written */
  hosts: string;
  keyType: string;
  /** base64 of the key blob */
  key: string;
}

export type HostKeyCheck =
  | { status: 'ok'; line: number }
  /** no entry at all for this host (and no @cert-authority line covers it) */
  | { status: 'unknown' }
  /** an entry for this host and key type holds a different key */
  | { status: 'changed'; line: number; keyType: string }
  /**
   * the host is known, but only by keys of other types: a changed identity, refused like
   * 'changed' (`lines`: the entries for the host)
   */
  | { status: 'type-changed'; keyType: string; knownTypes: string[]; lines: number[] }
  /** no entry for this host, but a @cert-authority line covers it (ssh2 cannot check host certificates) */
  | { status: 'cert-authority'; line: number }
  | { status: 'revoked'; line: number };

/** The name known_hosts stores: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) return;
    const fields = l.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0];
      fields.shift();
    } else if (fields[0]?.startsWith('@')) {
      return; // unknown marker: ignore the line, as OpenSSH does
    }
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key) return;
    out.push({ line: i + 1, ...(marker ? { marker } : {}), hosts, keyType, key });
  });
  return out;
}

/** HMAC-SHA1 hashed host name as OpenSSH writes it with HashKnownHosts (salt: 20 random bytes). */
export function hashKnownHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const h = createHmac('sha1', salt).update(name).digest('base64');
  return `|1|${salt.toString('base64')}|${h}`;
}

function globToRegExp(pattern: string): RegExp {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i');
}

/** Does a host-patterns field match `name` (already in knownHostName() form)? */
export function hostsFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    return hashKnownHostName(name, Buffer.from(salt, 'base64')) === hosts;
  }
  let matched = false;
  for (const p of hosts.split(',')) {
    const neg = p.startsWith('!');
    const pat = neg ? p.slice(1) : p;
    // most entries are exact names: compare as strings, no RegExp (the profile's top cost)
    const hit = /[*?]/.test(pat) ? globToRegExp(pat).test(name) : pat.toLowerCase() === name.toLowerCase();
    if (hit && neg) return false;
    if (hit) matched = true;
  }
  return matched;
}

/** Key type from an SSH wire-format key blob (first field: uint32 length + name). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:...` fingerprint, as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * OpenSSH's decision, stricter in one place: an entry with exactly this key wins (unless
 * @revoked); an entry for the host with the same key type means the key CHANGED; entries for the
 * host with only other key types mean its identity changed too (OpenSSH would ask; kha refuses,
 * even with --accept-new-host-keys: the presented key cannot be checked against a known one).
 * Only a host with no entry at all is unknown; one a @cert-authority line covers is reported
 * apart, since ssh2 cannot verify host certificates.
 */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, blob: Buffer): HostKeyCheck {
  const name = knownHostName(host, port);
  const type = keyTypeOf(blob);
  const b64 = blob.toString('base64');
  const revoked = entries.find((e) => e.marker === '@revoked' && e.key === b64);
  if (revoked) return { status: 'revoked', line: revoked.line };
  const mine = entries.filter((e) => e.marker === undefined && hostsFieldMatches(e.hosts, name));
  const same = mine.find((e) => e.keyType === type && e.key === b64);
  if (same) return { status: 'ok', line: same.line };
  const changed = mine.find((e) => e.keyType === type);
  if (changed) return { status: 'changed', line: changed.line, keyType: type };
  if (mine.length > 0) {
    return { status: 'type-changed', keyType: type, knownTypes: [...new Set(mine.map((e) => e.keyType))], lines: mine.map((e) => e.line) };
  }
  const ca = entries.find((e) => e.marker === '@cert-authority' && hostsFieldMatches(e.hosts, name));
  if (ca) return { status: 'cert-authority', line: ca.line };
  return { status: 'unknown' };
}

/** Key types known for a host: ssh.ts offers these first so a known key is the one negotiated. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostName(host, port);
  return [...new Set(entries.filter((e) => e.marker === undefined && hostsFieldMatches(e.hosts, name)).map((e) => e.keyType))];
}

export function knownHostLine(host: string, port: number, blob: Buffer): string {
  return `${knownHostName(host, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}`;
}

/**
 * Parsed entries indexed by host name. Scanning every entry for every host cost O(hosts x lines):
 * with 1000 hosts in one file that was the largest kha share of a connect (the profile's top
 * kha function). Plain entries (exact names, no glob, negation or hash) are found by name; the
 * others (globs, negations, hashed names, @revoked and @cert-authority lines) are still
 * matched one by one, as before.
 */
export interface KnownHostsIndex {
  entries: readonly KnownHostEntry[];
  byName: ReadonlyMap<string, readonly KnownHostEntry[]>;
  others: readonly KnownHostEntry[];
}

export function indexKnownHosts(entries: readonly KnownHostEntry[]): KnownHostsIndex {
  const byName = new Map<string, KnownHostEntry[]>();
  const others: KnownHostEntry[] = [];
  for (const e of entries) {
    if (e.marker !== undefined || e.hosts.startsWith('|') || /[*?!]/.test(e.hosts)) {
      others.push(e);
      continue;
    }
    for (const n of new Set(e.hosts.toLowerCase().split(','))) {
      let l = byName.get(n);
      if (!l) byName.set(n, (l = []));
      l.push(e);
    }
  }
  return { entries, byName, others };
}

/** The entries that can matter for one host (checkHostKey/knownKeyTypes on these = on all). */
export function entriesFor(index: KnownHostsIndex, host: string, port: number): KnownHostEntry[] {
  const exact = index.byName.get(knownHostName(host, port).toLowerCase()) ?? [];
  if (index.others.length === 0) return [...exact];
  return [...exact, ...index.others].sort((a, b) => a.line - b.line);
}

/** Read and index a known_hosts file; a missing file is an empty one. */
export async function readKnownHostsIndex(file: string, cache?: KnownHostsCache): Promise<KnownHostsIndex> {
  try {
    if (cache) {
      // one parse per run and file: a pool connecting to 1000 hosts read and parsed the whole
      // file 1000 times; an append changes mtime/size, so a recorded key is seen next time
      // (the Promise is cached: 200 connects starting together share one read and parse)
      const st = await fs.stat(file);
      const hit = cache.get(file);
      if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return await hit.index;
      const index = fs.readFile(file, 'utf8').then((text) => indexKnownHosts(parseKnownHosts(text)));
      cache.set(file, { mtimeMs: st.mtimeMs, size: st.size, index });
      index.catch(() => {
        if (cache.get(file)?.index === index) cache.delete(file);
      });
      return await index;
    }
    return indexKnownHosts(parseKnownHosts(await fs.readFile(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return indexKnownHosts([]);
    throw err;
  }
}

/** Parsed known_hosts files, per pool (ConnectOptions.knownHostsCache). */
export type KnownHostsCache = Map<string, { mtimeMs: number; size: number; index: Promise<KnownHostsIndex> }>;

/** Append one plain entry; creates the directory (0700) and the file (0600) when missing. */
export async function appendKnownHost(file: string, host: string, port: number, blob: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const text = await fs.readFile(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) prefix = '\n';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.appendFile(file, `${prefix}${knownHostLine(host, port, blob)}\n`, { mode: 0o600 });
}
