// Shell completion scripts for bash and zsh, written from the command list oclif reads from
// oclif.manifest.json: pure functions from that data to the script's text (the golden files in
// test/golden/completion are their output for test/fixtures/completion/manifest.json).
//
// What a flag's value completes to is decided in one place, valueKind: the flag's own choices,
// file paths, or the host names (and groups, for --limit) of the inventory given by -i, which the
// scripts get from `kha completion --hosts-of FILE` (one kha start and one inventory load, ~0.4 s).

/** The part of an oclif manifest the scripts need (Command.Loadable and its flags and args). */
export interface CompletionFlag {
  name: string;
  char?: string;
  type: 'boolean' | 'option';
  summary?: string;
  description?: string;
  options?: readonly string[];
  multiple?: boolean;
  allowNo?: boolean;
  hidden?: boolean;
}
export interface CompletionArg {
  name: string;
  description?: string;
  options?: readonly string[];
}
export interface CompletionCommand {
  id: string;
  summary?: string;
  description?: string;
  hidden?: boolean;
  flags: Record<string, CompletionFlag>;
  args: Record<string, CompletionArg>;
}
export interface CompletionInput {
  bin: string;
  commands: readonly CompletionCommand[];
  topics: ReadonlyArray<{ name: string; description?: string; hidden?: boolean }>;
}

export type ValueKind = { kind: 'choices'; choices: readonly string[] } | { kind: 'files' } | { kind: 'hosts'; groups: boolean } | { kind: 'none' };

/** flags whose value is a path, in every command */
const PATH_FLAGS = new Set(['inventory', 'private-key', 'known-hosts', 'log-file', 'output']);
/** flags whose value is a host of the inventory, per command (add-master's --name and --host are new) */
const HOST_FLAGS: Record<string, readonly string[]> = { render: ['host'], inventory: ['host'], 'remove-master': ['name'] };

/** What the value of `--<flag.name>` of command `id` completes to. */
export function valueKind(id: string, flag: CompletionFlag): ValueKind {
  if (flag.options?.length) return { kind: 'choices', choices: flag.options };
  if (PATH_FLAGS.has(flag.name)) return { kind: 'files' };
  if (flag.name === 'limit') return { kind: 'hosts', groups: true };
  if (HOST_FLAGS[id]?.includes(flag.name)) return { kind: 'hosts', groups: false };
  return { kind: 'none' };
}

/** A positional argument: its choices, kha's command names (kha help), a host of the inventory (kha drain's), or a path (kha play's playbook). */
export function argKind(arg: CompletionArg): ValueKind | { kind: 'commands' } {
  if (arg.options?.length) return { kind: 'choices', choices: arg.options };
  if (arg.name === 'host') return { kind: 'hosts', groups: false };
  return arg.name === 'command' ? { kind: 'commands' } : { kind: 'files' };
}

interface Node {
  /** the command or topic id, ':'-joined ('' for kha itself) */
  id: string;
  summary: string;
  command?: CompletionCommand;
  children: Node[];
}

const firstLine = (s: string | undefined) => (s ?? '').split('\n')[0]!.trim();

/** The visible commands as a tree of topics (lab -> lab up, lab down), each level sorted by name. */
function tree(input: CompletionInput): Node {
  const root: Node = { id: '', summary: '', children: [] };
  const nodes = new Map<string, Node>([['', root]]);
  const topicSummary = new Map(input.topics.map((t) => [t.name, firstLine(t.description)]));
  const node = (id: string): Node => {
    let n = nodes.get(id);
    if (!n) {
      n = { id, summary: topicSummary.get(id) ?? '', children: [] };
      nodes.set(id, n);
      node(id.includes(':') ? id.slice(0, id.lastIndexOf(':')) : '').children.push(n);
    }
    return n;
  };
  for (const c of [...input.commands].filter((c) => !c.hidden).sort((a, b) => a.id.localeCompare(b.id))) {
    const n = node(c.id);
    n.command = c;
    n.summary = firstLine(c.summary ?? c.description) || n.summary;
  }
  for (const n of nodes.values()) n.children.sort((a, b) => a.id.localeCompare(b.id));
  return root;
}

const visibleFlags = (c: CompletionCommand) =>
  Object.values(c.flags)
    .filter((f) => !f.hidden)
    .sort((a, b) => a.name.localeCompare(b.name));
const lastWord = (id: string) => id.slice(id.lastIndexOf(':') + 1);
/** a word in single quotes for sh/bash/zsh */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

// ---------------------------------------------------------------------------------------- bash

function bashValue(k: ValueKind | { kind: 'commands' }, top: string[]): string {
  switch (k.kind) {
    case 'choices':
      return `_kha_words ${sq(k.choices.join(' '))}`;
    case 'commands':
      return `_kha_words ${sq(top.join(' '))}`;
    case 'files':
      return '_kha_files';
    case 'hosts':
      return `_kha_words "$(_kha_hosts "$inv"${k.groups ? ' --groups' : ''})"`;
    case 'none':
      return ':';
  }
}

function bashCommand(n: Node, top: string[]): string[] {
  const c = n.command!;
  const flags = visibleFlags(c);
  const out: string[] = [`    ${sq(n.id)})`];
  const byAction = new Map<string, string[]>();
  const valued: string[] = [];
  for (const f of flags.filter((f) => f.type === 'option')) {
    const names = [...(f.char ? [`-${f.char}`] : []), `--${f.name}`];
    const action = bashValue(valueKind(c.id, f), top);
    byAction.set(action, [...(byAction.get(action) ?? []), ...names]);
    valued.push(...names);
  }
  if (byAction.size) {
    out.push('      case $prev in');
    for (const [action, names] of byAction) out.push(`        ${names.join(' | ')}) ${action}; return ;;`);
    out.push('      esac');
  }
  const arg = Object.values(c.args)[0];
  // before the first argument, a word that is not a flag is that argument
  if (arg) out.push(`      if [[ $cur != -* ]] && (($(_kha_nargs ${sq(valued.join(' '))}) == 0)); then ${bashValue(argKind(arg), top)}; return; fi`);
  const words = flags.flatMap((f) => [`--${f.name}`, ...(f.allowNo ? [`--no-${f.name}`] : []), ...(f.char ? [`-${f.char}`] : [])]);
  out.push(`      _kha_words ${sq([...words, '--help'].join(' '))}`, '      ;;');
  return out;
}

/** The bash script: `eval "$(kha completion bash)"` in ~/.bashrc. */
export function bashCompletion(input: CompletionInput): string {
  const root = tree(input);
  const all: Node[] = [];
  const walk = (n: Node) => n.children.forEach((c) => (all.push(c), walk(c)));
  walk(root);
  const bin = input.bin;
  const top = root.children.map((c) => c.id);
  const lines = [
    `# bash completion for ${bin}: commands, flags, paths, flag choices, and host names from the`,
    `# inventory given by -i. Enable it in ~/.bashrc:  eval "$(${bin} completion bash)"`,
    `_kha_words() { local IFS=$' \\t\\n'; COMPREPLY=($(compgen -W "$1" -- "$cur")); }`,
    `_kha_files() { compopt -o filenames 2>/dev/null; local IFS=$'\\n'; COMPREPLY=($(compgen -f -- "$cur")); }`,
    '_kha_hosts() {',
    '  local inv=$1',
    '  [[ -n $inv ]] || return 0',
    '  [[ $inv == "~/"* ]] && inv=$HOME/${inv#"~/"}',
    `  command ${bin} completion --hosts-of "$inv" \${2-} 2>/dev/null`,
    '}',
    '# how many arguments precede the cursor; $1: the flags that take a value',
    '_kha_nargs() {',
    '  local i n=0',
    '  for ((i = start; i < COMP_CWORD; i++)); do',
    "    if [[ ${COMP_WORDS[i+1]} == '=' ]]; then i=$((i + 2))",
    '    elif [[ ${COMP_WORDS[i]} == -* ]]; then [[ " $1 " == *" ${COMP_WORDS[i]} "* ]] && i=$((i + 1))',
    '    else n=$((n + 1)); fi',
    '  done',
    '  echo $n',
    '}',
    '_kha() {',
    '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= inv= start=1 i w',
    '  COMPREPLY=()',
    "  # bash splits --flag=value at '=' into three words",
    "  if [[ $cur == '=' ]]; then cur=; elif [[ $prev == '=' ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi",
    '  # the command: the first words, as long as they name a command or a topic (lab up)',
    '  while ((start < COMP_CWORD)); do',
    '    w=${COMP_WORDS[start]}',
    '    case ${cmd:+$cmd:}$w in',
    `      ${all.map((n) => n.id).join(' | ')}) cmd=\${cmd:+$cmd:}$w; start=$((start + 1)) ;;`,
    '      *) break ;;',
    '    esac',
    '  done',
    '  for ((i = start; i < COMP_CWORD; i++)); do',
    '    case ${COMP_WORDS[i]} in',
    "      -i | --inventory) inv=${COMP_WORDS[i+1]}; [[ $inv == '=' ]] && inv=${COMP_WORDS[i+2]} ;;",
    '    esac',
    '  done',
    '  case $cmd in',
    `    '') if [[ $cur == -* ]]; then _kha_words '--help --version'; else _kha_words ${sq(top.join(' '))}; fi ;;`,
  ];
  for (const n of all) {
    if (n.command) lines.push(...bashCommand(n, top));
    else lines.push(`    ${sq(n.id)}) _kha_words ${sq(n.children.map((c) => lastWord(c.id)).join(' '))} ;;`);
  }
  lines.push('  esac', '}', `complete -F _kha ${bin}`, '');
  return lines.join('\n');
}

// ----------------------------------------------------------------------------------------- zsh

/** text inside an _arguments [description] in single quotes */
const zdesc = (s: string) =>
  firstLine(s)
    .replace(/\\/g, '\\\\')
    .replace(/'/g, `'\\''`)
    .replace(/([[\]])/g, '\\$1');
const zfn = (id: string) => `_kha${id ? `_${id.replace(/[^A-Za-z0-9]/g, '_')}` : ''}`;

function zshValue(k: ValueKind | { kind: 'commands' }, what: string, top: string[]): string {
  switch (k.kind) {
    case 'choices':
      return `:${what}:(${k.choices.join(' ')})`;
    case 'commands':
      return `:${what}:(${top.join(' ')})`;
    case 'files':
      return `:${what}:_files`;
    case 'hosts':
      return k.groups ? `:host or group:_kha_hosts --groups` : `:host:_kha_hosts`;
    case 'none':
      return `:${what}: `;
  }
}

function zshFlag(id: string, f: CompletionFlag, top: string[]): string[] {
  const desc = `[${zdesc(f.summary ?? f.description ?? '')}]`;
  const value = f.type === 'option' ? zshValue(valueKind(id, f), f.name, top) : '';
  const [short, long] = f.type === 'option' ? [`-${f.char}+`, `--${f.name}=`] : [`-${f.char}`, `--${f.name}`];
  // a flag given once excludes its other spelling; a repeatable one (*) excludes nothing
  const excl = `(${[...(f.char ? [`-${f.char}`] : []), `--${f.name}`, ...(f.allowNo ? [`--no-${f.name}`] : [])].join(' ')})`;
  const head = f.multiple ? `'*'` : `'${excl}'`;
  const spec = f.char ? `${head}{${short},${long}}'${desc}${value}'` : `'${f.multiple ? '*' : f.allowNo ? excl : ''}${long}${desc}${value}'`;
  return [spec, ...(f.allowNo ? [`'${excl}--no-${f.name}[${zdesc(`Not --${f.name}.`)}]'`] : [])];
}

function zshCommand(n: Node, top: string[]): string[] {
  const c = n.command!;
  const specs = visibleFlags(c).flatMap((f) => zshFlag(c.id, f, top));
  const arg = Object.values(c.args)[0];
  if (arg) specs.push(`'1${zshValue(argKind(arg), arg.name, top)}'`);
  specs.push("'--help[Show help.]'");
  return [`${zfn(n.id)}() {`, `  _arguments -s -S \\`, ...specs.map((s, i) => `    ${s}${i < specs.length - 1 ? ' \\' : ''}`), '}'];
}

function zshTopic(n: Node, bin: string): string[] {
  const root = n.id === '';
  const entries = n.children.map((c) => `    ${sq(`${lastWord(c.id)}:${firstLine(c.summary)}`)}`);
  return [
    `${zfn(n.id)}() {`,
    '  local curcontext=$curcontext state line',
    '  typeset -A opt_args',
    `  _arguments -C ${root ? "'(- *)--version[Print the version.]' '(- *)--help[Show help.]' " : ''}'1: :->cmd' '*:: :->arg' && return 0`,
    '  case $state in',
    '    cmd)',
    '      local -a cmds=(',
    ...entries.map((e) => `  ${e}`),
    '      )',
    `      _describe -t commands ${sq(`${[bin, ...(root ? [] : [n.id.replace(/:/g, ' ')])].join(' ')} command`)} cmds ;;`,
    '    arg)',
    '      case $words[1] in',
    ...n.children.map((c) => `        ${lastWord(c.id)}) ${zfn(c.id)} ;;`),
    '      esac ;;',
    '  esac',
    '}',
  ];
}

/** The zsh script: `eval "$(kha completion zsh)"` in ~/.zshrc, after compinit. */
export function zshCompletion(input: CompletionInput): string {
  const root = tree(input);
  const bin = input.bin;
  const top = root.children.map((c) => c.id);
  const lines = [
    `#compdef ${bin}`,
    `# zsh completion for ${bin}: commands, flags, paths, flag choices, and host names from the`,
    `# inventory given by -i. Enable it in ~/.zshrc, after compinit:  eval "$(${bin} completion zsh)"`,
    '# $1: --groups for group names too; the rest: what _arguments passes on to compadd',
    '_kha_hosts() {',
    '  local groups= inv=${opt_args[-i]:-${opt_args[--inventory]}}',
    '  [[ $1 == --groups ]] && { groups=--groups; shift; }',
    '  [[ -n $inv ]] || return 1',
    '  local -a names',
    `  names=(\${(f)"$(command ${bin} completion --hosts-of \${~inv} $groups 2>/dev/null)"})`,
    '  compadd "$@" -a names',
    '}',
  ];
  const walk = (n: Node): void => {
    lines.push(...(n.command ? zshCommand(n, top) : zshTopic(n, bin)));
    n.children.forEach(walk);
  };
  walk(root);
  lines.push(`compdef _kha ${bin}`, '');
  return lines.join('\n');
}
