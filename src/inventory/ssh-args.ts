// What kha reads from ansible_ssh_common_args and ansible_ssh_extra_args: ssh command-line
// options, split into words as Ansible does (shlex). Read: -o UserKnownHostsFile=FILE, -o
// ProxyJump=... / -J ... (a jump host), -o ProxyCommand of the shape `ssh -W %h:%p [user@]host`
// (the same jump), -o StrictHostKeyChecking=yes (what kha does anyway). Every other option is
// ignored with a warning naming the hosts and the option: never silently. Pure.
import { formatJumpHost, parseProxyJump, proxyCommandJump } from '../transport/jump.js';
import { shellWords } from '../transport/shell-words.js';
import type { JumpHost } from '../transport/types.js';
import type { InventoryHost } from './types.js';

export const SSH_ARGS_VARS = ['ansible_ssh_common_args', 'ansible_ssh_extra_args'] as const;

export interface SshArgs {
  knownHostsFile?: string;
  /** the first ProxyJump, -J or ProxyCommand jump (OpenSSH: the first value given wins) */
  jump?: JumpHost[] | 'none';
  /** options kha does not read, as written (a command's text left out), each with why */
  ignored: string[];
}

export type SshArgsResult = { ok: true; value: SshArgs } | { ok: false; message: string };

/** ssh's options that take an argument (ssh(1)); the others are flags */
const WITH_ARG = new Set('BbcDEeFIiJLlmOoPpQRSWw'.split(''));
/** -o keywords whose value is a command or environment: not echoed in warnings (it may hold a secret) */
const HIDDEN_VALUE = new Set(['proxycommand', 'localcommand', 'remotecommand', 'knownhostscommand', 'setenv']);

const hint: Record<string, string> = {
  stricthostkeychecking: 'kha always checks host keys against known_hosts; --accept-new-host-keys records unknown ones',
  controlmaster: 'kha keeps one connection per host for the whole run anyway',
  controlpersist: 'kha keeps one connection per host for the whole run anyway',
  controlpath: 'kha keeps one connection per host for the whole run anyway',
  port: 'set ansible_port',
  user: 'set ansible_user',
  identityfile: 'set ansible_ssh_private_key_file',
  proxycommand: 'kha runs no proxy command; it reads only "ssh -W %h:%p [user@]host" as a jump host; use -o ProxyJump=[user@]host',
  '-p': 'set ansible_port',
  '-l': 'set ansible_user',
  '-i': 'set ansible_ssh_private_key_file',
};

const withHint = (shown: string, key: string) => (hint[key] ? `${shown} (${hint[key]})` : shown);

/** `Keyword=value`, `Keyword value` or `Keyword = value`, as ssh -o takes it */
function keywordOf(option: string): { key: string; value: string } | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*?)\s*$/s.exec(option);
  return m ? { key: m[1]!, value: m[2]! } : undefined;
}

export function parseSshArgs(text: string): SshArgsResult {
  const sw = shellWords(text);
  if (!sw.ok) return { ok: false, message: `${sw.message}; quote it as a shell would, e.g. -o ProxyJump=user@bastion` };
  const out: SshArgs = { ignored: [] };
  const words = sw.words;
  const setJump = (value: string, written: string): string | undefined => {
    const r = parseProxyJump(value);
    if (!r.ok) return `${written}: ${r.message}`;
    out.jump ??= r.value;
    return undefined;
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const flag = /^-[A-Za-z0-9]/.test(w) ? w[1]! : undefined;
    if (flag === undefined) {
      out.ignored.push(`${JSON.stringify(w)} (not an ssh option)`);
      continue;
    }
    const glued = w.length > 2;
    const arg = !WITH_ARG.has(flag) ? undefined : glued ? w.slice(2) : words[++i];
    if (WITH_ARG.has(flag) && arg === undefined) {
      out.ignored.push(`${w} (no value follows it)`);
      continue;
    }
    if (flag === 'J') {
      const err = setJump(arg!, `-J ${arg}`);
      if (err) return { ok: false, message: err };
      continue;
    }
    if (flag !== 'o') {
      out.ignored.push(withHint(arg === undefined ? w : `-${flag} ${arg}`, `-${flag}`));
      continue;
    }
    const kv = keywordOf(arg!);
    if (!kv) {
      out.ignored.push(`-o ${arg} (not a Keyword=value option)`);
      continue;
    }
    const key = kv.key.toLowerCase();
    const shown = `-o ${kv.key}=${HIDDEN_VALUE.has(key) ? '...' : kv.value}`;
    if (key === 'proxyjump') {
      const err = setJump(kv.value, `-o ProxyJump=${kv.value}`);
      if (err) return { ok: false, message: err };
    } else if (key === 'proxycommand' && kv.value.toLowerCase() === 'none') out.jump ??= 'none';
    else if (key === 'proxycommand' && proxyCommandJump(kv.value)) out.jump ??= [proxyCommandJump(kv.value)!];
    else if (key === 'userknownhostsfile') {
      // OpenSSH takes several files; kha reads the first
      out.knownHostsFile ??= kv.value.split(/\s+/)[0];
    } else if (key === 'stricthostkeychecking' && kv.value.toLowerCase() === 'yes') {
      // what kha does anyway
    } else out.ignored.push(withHint(shown, key));
  }
  return { ok: true, value: out };
}

/** For messages: a jump as ProxyJump would write it. */
export function jumpText(jump: readonly JumpHost[] | 'none'): string {
  return jump === 'none' ? 'none' : jump.map(formatJumpHost).join(',');
}

/**
 * One warning per ignored option, naming every host it applies to (a group's common args set on
 * 50 hosts give one line, not 50). Pure.
 */
export function sshArgWarnings(hosts: readonly InventoryHost[]): string[] {
  const byOption = new Map<string, string[]>();
  for (const h of hosts) {
    for (const v of SSH_ARGS_VARS) {
      const text = h.vars[v];
      if (typeof text !== 'string') continue;
      const r = parseSshArgs(text);
      if (!r.ok) continue;
      for (const o of r.value.ignored) {
        const key = `${v}\0${o}`;
        const list = byOption.get(key) ?? [];
        if (!list.includes(h.name)) list.push(h.name);
        byOption.set(key, list);
      }
    }
  }
  return [...byOption].map(([key, names]) => {
    const [v, option] = key.split('\0') as [string, string];
    const shown = names.length > 6 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
    return `${shown}: ${v}: kha does not read ${option}; ignored`;
  });
}
