// A lab host's IPv4 addresses read from this machine, without `docker exec`: the kernel lists a
// network namespace's local addresses in /proc/<pid>/net/fib_trie (for any pid in it, here the
// container's init). One file read instead of a runc exec (about 0.1 s idle, over 1 s on a loaded
// 2-core machine), so tests can watch the VIP every 100 ms without loading the machine.
import fs from 'node:fs/promises';

/**
 * Pure: the local addresses in a fib_trie dump: every `|-- <address>` leaf followed by a
 * `/32 host LOCAL` line (the kernel's local route for an address assigned to an interface).
 */
export function parseFibTrieLocal(text: string): Set<string> {
  const out = new Set<string>();
  let leaf: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\s*\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (m) {
      leaf = m[1];
      continue;
    }
    if (leaf && /^\s*\/32 host LOCAL\s*$/.test(line)) out.add(leaf);
    else if (!/^\s*\/\d+ /.test(line)) leaf = undefined;
  }
  return out;
}

/** The local IPv4 addresses of the network namespace `pid` lives in (pid > 0). */
export async function localAddresses(pid: number): Promise<Set<string>> {
  return parseFibTrieLocal(await fs.readFile(`/proc/${pid}/net/fib_trie`, 'utf8'));
}
