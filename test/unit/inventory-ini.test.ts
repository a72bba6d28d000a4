// Ansible's INI inventory syntax (src/inventory/ini.ts) and Python's literal_eval as Ansible
// applies it to INI values (src/inventory/pyliteral.ts): tables of what Ansible itself gives.
import { describe, expect, test } from 'vitest';
import { InputError } from '../../src/errors.js';
import { expandHostRange, iniValue, parseIni, shlexSplit, type IniEntry } from '../../src/inventory/ini.js';
import { literalEval } from '../../src/inventory/pyliteral.js';

const fail = (m: string) => new InputError(m);
const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
};
const ini = (lines: string[]) => lines.join('\n') + '\n';
const hosts = (entries: IniEntry[]) =>
  entries.filter((e) => e.kind === 'host').map((e) => [e.group, e.host, Object.fromEntries(e.kind === 'host' ? e.vars : []), e.line]);

describe('literalEval: Python literals, as Ansible reads INI values', () => {
  test.each<[string, unknown]>([
    ['2222', 2222],
    ['-3', -3],
    ['+7', 7],
    ['1_000', 1000],
    ['0x1F', 31],
    ['0o17', 15],
    ['0b101', 5],
    ['00', 0],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['1e3', 1000],
    ['01.5', 1.5],
    ['True', true],
    ['False', false],
    ['None', null],
    ["'03'", '03'],
    ['"a b"', 'a b'],
    ["'it''s'", 'its'],
    ['\'a\' "b"', 'ab'],
    ["r'\\d+'", '\\d+'],
    ["b'bytes'", 'bytes'],
    ["'tab\\there'", 'tab\there'],
    ["'\\x41\\u00e9\\101'", 'Aé\x41'],
    ["'unknown \\q escape'", 'unknown \\q escape'],
    ["'''triple'''", 'triple'],
    ['[1, "two", [3]]', [1, 'two', [3]]],
    ['[1, 2,]', [1, 2]],
    ['(1, 2)', [1, 2]],
    ['(1,)', [1]],
    ['(5)', 5],
    ['()', []],
    ["{'a': 1, 2: [True]}", { a: 1, '2': [true] }],
    ['{}', {}],
    ['{1, 2, 2}', [1, 2]],
    ['80, 443', [80, 443]],
    ['8080 # a comment', 8080],
    ['  42', 42],
  ])('%s', (text, value) => {
    expect(literalEval(text)).toEqual({ ok: true, value });
  });

  test.each([
    'true',
    'yes',
    'master-01',
    '10.0.0.100',
    '01',
    '0_1',
    '1_',
    '1j',
    '1e',
    'a b',
    "'unclosed",
    '[1, 2',
    'f"x"',
    "'a' b'b'",
    '1 2',
    '...',
    '{[1]: 2}',
    '',
    'ntp.example.com # comment',
    '9007199254740993x',
  ])('%s is not a literal', (text) => {
    expect(literalEval(text)).toEqual({ ok: false });
  });

  test('an integer beyond 2^53 stays its digits, not a rounded number', () => {
    expect(literalEval('9007199254740993')).toEqual({ ok: true, value: '9007199254740993' });
  });

  test('iniValue: a literal, else the text itself', () => {
    expect(iniValue('2222')).toBe(2222);
    expect(iniValue('true')).toBe('true');
    expect(iniValue('ntp.example.com # comment')).toBe('ntp.example.com # comment');
  });
});

describe('shlexSplit: host lines split as POSIX shlex with comments', () => {
  test.each<[string, string[]]>([
    ['node1 ansible_host=10.0.0.11', ['node1', 'ansible_host=10.0.0.11']],
    ['h  a="quoted value"   b=\'single one\'', ['h', 'a=quoted value', 'b=single one']],
    ['h x="\'03#pa33w0rd\'"', ['h', "x='03#pa33w0rd'"]],
    ['h a=1 # a comment', ['h', 'a=1']],
    ['h a=b#c d=e', ['h', 'a=b']],
    ['h a="in \\"double\\" \\\\ \\n"', ['h', 'a=in "double" \\ \\n']],
    ["h a='no \\escape'", ['h', 'a=no \\escape']],
    ['h a=\\"bare\\ space', ['h', 'a="bare space']],
    ["h empty=''", ['h', 'empty=']],
  ])('%s', (line, tokens) => {
    expect(shlexSplit(line, fail)).toEqual(tokens);
  });

  test('an unclosed quote and a trailing backslash are errors', () => {
    expect(errorOf(() => shlexSplit('h a="open', fail))).toBe('the double quote opened on this line is never closed; close it on the same line');
    expect(errorOf(() => shlexSplit("h a='open", fail))).toBe('the single quote opened on this line is never closed; close it on the same line');
    expect(errorOf(() => shlexSplit('h a=b\\', fail))).toBe('the line ends with a backslash (escaping nothing); remove it or quote the value');
  });
});

describe('expandHostRange: Ansible host ranges', () => {
  test.each<[string, string[]]>([
    ['node1', ['node1']],
    ['node[1:3]', ['node1', 'node2', 'node3']],
    ['node[01:03]', ['node01', 'node02', 'node03']],
    ['node[1:10:4]', ['node1', 'node5', 'node9']],
    ['node[:2]', ['node0', 'node1', 'node2']],
    ['db-[a:c]', ['db-a', 'db-b', 'db-c']],
    ['db-[a:e:2]', ['db-a', 'db-c', 'db-e']],
    ['x[y:B]', ['xy', 'xz', 'xA', 'xB']],
    ['r[1:2]n[a:b]', ['r1na', 'r1nb', 'r2na', 'r2nb']],
    ['10.0.0.[11:13]', ['10.0.0.11', '10.0.0.12', '10.0.0.13']],
  ])('%s', (pattern, names) => {
    expect(expandHostRange(pattern, fail)).toEqual(names);
  });

  test.each<[string, string]>([
    ['node[1:]', '"node[1:]": the host range has no end; write it as [begin:end] or [begin:end:step], e.g. node[1:3], node[01:10:2] or node-[a:c]'],
    ['node[1]', '"node[1]": "[1]" is not a host range; write it as [begin:end] or [begin:end:step], e.g. node[1:3], node[01:10:2] or node-[a:c]'],
    ['node[3:1]', '"node[3:1]": the range starts after it ends (3 > 1); write the smaller bound first'],
    [
      'node[1:3:0]',
      '"node[1:3:0]": the step 0 is not a positive number; write it as [begin:end] or [begin:end:step], e.g. node[1:3], node[01:10:2] or node-[a:c]',
    ],
    ['node[01:100]', '"node[01:100]": a zero-padded range needs bounds of the same width (01 and 100); write e.g. [01:100]'],
    [
      'node[a:3]',
      '"node[a:3]": the bounds must be two numbers or two letters; write it as [begin:end] or [begin:end:step], e.g. node[1:3], node[01:10:2] or node-[a:c]',
    ],
    ['node[1:3', '"node[1:3": unbalanced [ ] in a host range; write a range as name[1:3]'],
    ['node[1:99999]', '"node[1:99999]" expands to more than 10000 hosts; check the range\'s bounds'],
  ])('%s is an error', (pattern, message) => {
    expect(errorOf(() => expandHostRange(pattern, fail))).toBe(message);
  });
});

describe('parseIni', () => {
  test('sections, ungrouped hosts, ports, ranges, children and vars, with lines', () => {
    const doc = parseIni(
      ini([
        '# comment',
        '; another',
        'lonely ansible_host=10.0.0.9',
        '[masters]',
        'm[1:2] ansible_user=ubuntu  # both',
        'm3:2222 priority=100 flag=True name="a b"',
        '',
        '[k8s:children]',
        'masters',
        'workers   # trailing comment',
        '[workers]',
        'w1',
        '[k8s:vars]',
        'ntp = ntp.example.com # kept, as Ansible keeps it',
        'port=8443',
        "quoted='10'",
        '[workers]',
        'w1 zone=b',
      ]),
      'inventory.ini',
    );
    expect(hosts(doc.entries)).toEqual([
      ['ungrouped', 'lonely', { ansible_host: '10.0.0.9' }, 3],
      ['masters', 'm1', { ansible_user: 'ubuntu' }, 5],
      ['masters', 'm2', { ansible_user: 'ubuntu' }, 5],
      ['masters', 'm3', { ansible_port: 2222, priority: 100, flag: true, name: 'a b' }, 6],
      ['workers', 'w1', {}, 12],
      ['workers', 'w1', { zone: 'b' }, 18],
    ]);
    expect(doc.entries.filter((e) => e.kind === 'child').map((e) => e.kind === 'child' && [e.group, e.child])).toEqual([
      ['k8s', 'masters'],
      ['k8s', 'workers'],
    ]);
    const vars = doc.entries.find((e) => e.kind === 'vars');
    expect(vars?.kind === 'vars' && Object.fromEntries(vars.vars)).toEqual({ ntp: 'ntp.example.com # kept, as Ansible keeps it', port: 8443, quoted: '10' });
    expect(doc.lineOf(['masters'])).toBe(4);
    expect(doc.lineOf(['masters', 'hosts', 'm3', 'priority'])).toBe(6);
    expect(doc.lineOf(['workers', 'hosts', 'w1'])).toBe(12);
    expect(doc.lineOf(['workers', 'hosts', 'w1', 'zone'])).toBe(18);
    expect(doc.lineOf(['k8s', 'vars', 'port'])).toBe(15);
    expect(doc.lineOf(['k8s', 'vars', 'missing'])).toBe(13);
    expect(doc.lineOf(['k8s', 'children', 'workers'])).toBe(10);
    expect(doc.lineOf(['ungrouped', 'hosts', 'lonely'])).toBe(3);
    expect(doc.lineOf(['nowhere', 'vars', 'x'])).toBeUndefined();
  });

  test('a group may be declared after the section that names it', () => {
    const doc = parseIni(ini(['[all:children]', 'late', '[late:vars]', 'x=1', '[late]', 'h1']), 'hosts');
    expect(hosts(doc.entries)).toEqual([['late', 'h1', {}, 6]]);
  });

  test.each<[string, string[], string]>([
    [
      'space in a heading',
      ['[kube master]', 'h1'],
      'hosts:1: "[kube master]" is not a section heading; write [name], [name:children] or [name:vars], with no spaces inside the brackets',
    ],
    ['unknown section type', ['[etcd:hostz]', 'h1'], 'hosts:1: [etcd:hostz]: unknown section type hostz; use [etcd], [etcd:children] or [etcd:vars]'],
    [
      'vars of a group never declared',
      ['[m]', 'h1', '[etcd:vars]', 'x=1'],
      'hosts:3: [etcd:vars]: there is no group etcd; add the section [etcd] with its hosts (Ansible refuses this too)',
    ],
    [
      'a child never declared',
      ['[m]', 'h1', '[k8s:children]', 'm', 'calico_rr'],
      'hosts:5: [k8s:children] calico_rr: there is no group calico_rr; add the section [calico_rr] (it may be empty) or remove this line',
    ],
    ['a vars line without =', ['[all:vars]', 'vip'], 'hosts:2: [all:vars]: vip is not a variable; write one name=value per line'],
    ['a vars line without a name', ['[all:vars]', '=1'], 'hosts:2: [all:vars]: "=1" has no variable name; write name=value'],
    ['two names on a children line', ['[m]', 'h', '[k:children]', 'a b'], 'hosts:4: [k:children]: "a b" is not a group name; write one group name per line'],
    [
      'a host variable without =',
      ['[m]', 'h1 ansible_host'],
      'hosts:2: h1: ansible_host is not a variable; write host variables as name=value after the host name',
    ],
    ['a host variable without a name', ['[m]', 'h1 =x'], 'hosts:2: h1: "=x" has no variable name; write name=value'],
    ['a port that is not a number', ['[m]', 'h1:ssh'], 'hosts:2: "h1:ssh": ssh is not a port; write name:port with a number from 1 to 65535'],
    [
      'a YAML key',
      ['[m]', 'all:'],
      `hosts:2: "all:" ends with ':'; write the SSH port after it (all:2222) or remove the ':' (is this YAML? then name the file .yaml)`,
    ],
    ['IPv6', ['[m]', 'fe80::1'], 'hosts:2: "fe80::1" is not a host name or address kha can use (IPv6 is not supported); write name[:port]'],
    ['an unclosed quote', ['[m]', 'h1 a="x'], 'hosts:2: the double quote opened on this line is never closed; close it on the same line'],
    ['a bad range', ['[m]', 'h[2:1]'], 'hosts:2: "h[2:1]": the range starts after it ends (2 > 1); write the smaller bound first'],
  ])('%s', (_name, lines, message) => {
    expect(errorOf(() => parseIni(ini(lines), 'hosts'))).toBe(message);
  });
});
