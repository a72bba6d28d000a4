// Jump hosts, the pure parts: shell words, ProxyJump and ProxyCommand values, the route through
// ~/.ssh/config, ansible_ssh_common_args / ansible_ssh_extra_args and --bastion in the inventory,
// and the warnings for ssh options kha does not read.
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { parseSshArgs, sshArgWarnings } from '../../src/inventory/ssh-args.js';
import { parseProxyJump, proxyCommandJump, resolveRoute, routeLabel } from '../../src/transport/jump.js';
import { lookupSshConfig } from '../../src/transport/ssh-config.js';
import { shellWords } from '../../src/transport/shell-words.js';
import type { HostConnectionSpec } from '../../src/transport/types.js';

const y = (lines: string[]) => lines.join('\n') + '\n';

describe('shellWords (shlex rules, as Ansible splits ansible_ssh_common_args)', () => {
  it.each([
    ['-o ProxyJump=root@b1', ['-o', 'ProxyJump=root@b1']],
    ['  -J   b1  ', ['-J', 'b1']],
    [`-o ProxyCommand="ssh -W %h:%p -q user@bastion"`, ['-o', 'ProxyCommand=ssh -W %h:%p -q user@bastion']],
    [`-o 'ProxyCommand ssh -W "%h:%p" b1'`, ['-o', 'ProxyCommand ssh -W "%h:%p" b1']],
    [`a\\ b "c\\"d" 'e\\f' ''`, ['a b', 'c"d', 'e\\f', '']],
    [`"x\\y" #z`, ['x\\y', '#z']],
  ])('%s', (text, words) => {
    expect(shellWords(text)).toEqual({ ok: true, words });
  });

  it('an unclosed quote or a trailing backslash is an error, not a guess', () => {
    expect(shellWords(`-o ProxyCommand="ssh -W %h:%p b1`)).toEqual({ ok: false, message: 'the double quote at character 17 is never closed' });
    expect(shellWords(`-o 'x`)).toMatchObject({ ok: false, message: expect.stringMatching(/single quote at character 4/) });
    expect(shellWords('x\\')).toMatchObject({ ok: false });
  });
});

describe('parseProxyJump', () => {
  it.each([
    ['b1', [{ host: 'b1' }]],
    ['root@10.0.0.11', [{ host: '10.0.0.11', user: 'root' }]],
    ['ops@b1.example.com:2222', [{ host: 'b1.example.com', user: 'ops', port: 2222 }]],
    ['ssh://ops@b1:22', [{ host: 'b1', user: 'ops', port: 22 }]],
    ['a,root@b:2200', [{ host: 'a' }, { host: 'b', user: 'root', port: 2200 }]],
    ['none', 'none'],
    [' NONE ', 'none'],
  ])('%s', (text, value) => {
    expect(parseProxyJump(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['', /empty/],
    ['root@', /no host/],
    ['Root@b1', /"Root" is not a valid user name/],
    ['b1:0', /"0" is not a port/],
    ['b1:ssh', /"ssh" is not a port/],
    ['[::1]:22', /IPv4 only/],
    ['a,,b', /an empty hop/],
    ['a,none', /none cannot be part of a chain/],
    ['b1;reboot', /"b1;reboot" is not an IPv4 address or a host name/],
    ['10.0.0.300', /is not an IPv4 address or a host name/],
    [Array.from({ length: 9 }, (_, i) => `b${i}`).join(','), /a chain of 9 jump hosts; kha follows at most 8/],
  ])('%s is refused', (text, why) => {
    const r = parseProxyJump(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(why);
  });
});

describe('proxyCommandJump: only ssh -W %h:%p [user@]host is a jump', () => {
  it.each([
    ['ssh -W %h:%p -q user@bastion', { host: 'bastion', user: 'user' }],
    ['ssh -q -W [%h]:%p -p 2222 -l ops b1', { host: 'b1', user: 'ops', port: 2222 }],
    ['/usr/bin/ssh -W%h:%p root@10.0.0.11:2200', { host: '10.0.0.11', user: 'root', port: 2200 }],
  ])('%s', (cmd, jump) => {
    expect(proxyCommandJump(cmd)).toEqual(jump);
  });

  it.each([
    'ssh -W %h:%p -i ~/.ssh/k b1',
    'nc %h %p',
    'ssh b1 nc %h %p',
    'ssh -W %h:%p a b',
    'sshpass -p x ssh -W %h:%p b1',
    'ssh -W %h:22 b1',
    'ssh -W %h:%p -p',
  ])('%s is not', (cmd) => {
    expect(proxyCommandJump(cmd)).toBeUndefined();
  });
});

describe('~/.ssh/config: ProxyJump or ProxyCommand, whichever comes first', () => {
  it('the first of the two wins, as OpenSSH has it', () => {
    const cfg = 'Host m*\n  ProxyCommand ssh -W %h:%p b9\nHost *\n  ProxyJump b1\n';
    expect(lookupSshConfig(cfg, 'm2').proxy).toEqual({ kind: 'ProxyCommand', value: 'ssh -W %h:%p b9' });
    expect(lookupSshConfig(cfg, 'x').proxy).toEqual({ kind: 'ProxyJump', value: 'b1' });
  });
});

const env = { home: '/home/op', localUser: 'op', configFile: '~/.ssh/config' };
function spec(over: Partial<HostConnectionSpec> = {}): HostConnectionSpec {
  return { name: 'm2', address: '10.0.0.12', port: 22, user: 'root', become: false, becomeUser: 'root', explicit: { address: true, user: true }, ...over };
}

describe('resolveRoute', () => {
  const cfg = y([
    'Host b1',
    '  HostName 192.0.2.1',
    '  User ops',
    '  Port 2200',
    '  IdentityFile ~/.ssh/bastion_key',
    'Host inner',
    '  HostName 10.0.0.5',
    '  ProxyJump b1',
    'Host 10.0.0.*',
    '  ProxyJump b1',
  ]);

  it("a Host alias gives the bastion HostName, User, Port and its own IdentityFile (then the host's key)", () => {
    const r = resolveRoute(spec({ jump: [{ host: 'b1' }], privateKeyFile: '/k/host' }), cfg, env);
    expect(r.from).toBe('inventory');
    expect(r.hops).toEqual([
      {
        label: 'b1',
        target: { address: '192.0.2.1', port: 2200, user: 'ops', identityFiles: ['/home/op/.ssh/bastion_key', '/k/host'], keySource: 'ssh-config' },
      },
    ]);
    expect(r.target).toMatchObject({ address: '10.0.0.12', port: 22, user: 'root' });
  });

  it("without an IdentityFile of its own the bastion uses the host's key, else ~/.ssh/id_*; the local user without User", () => {
    const withKey = resolveRoute(spec({ jump: [{ host: '192.0.2.9', port: 2222 }], privateKeyFile: '/k/host' }), '', env);
    expect(withKey.hops[0]!.target).toEqual({ address: '192.0.2.9', port: 2222, user: 'op', identityFiles: ['/k/host'], keySource: 'inventory' });
    const plain = resolveRoute(spec({ jump: [{ host: '192.0.2.9', user: 'root' }] }), '', env);
    expect(plain.hops[0]!.target).toMatchObject({ user: 'root', port: 22, keySource: 'default' });
  });

  it("ProxyJump from ~/.ssh/config when the inventory and --bastion give none; the inventory's (even none) and the flag's win over it", () => {
    expect(routeLabel(resolveRoute(spec(), cfg, env).hops)).toBe('b1');
    expect(resolveRoute(spec(), cfg, env).from).toBe('ssh-config');
    expect(resolveRoute(spec({ jump: 'none' }), cfg, env).hops).toEqual([]);
    const flag = resolveRoute(spec({ jump: [{ host: '192.0.2.50' }], jumpFrom: 'flag' }), cfg, env);
    expect([routeLabel(flag.hops), flag.from]).toEqual(['192.0.2.50', 'flag']);
  });

  it("the first hop's own ProxyJump in ~/.ssh/config comes first (inner is reached through b1)", () => {
    const r = resolveRoute(spec({ jump: [{ host: 'inner' }] }), cfg, env);
    expect(routeLabel(r.hops)).toBe('b1 > inner');
    expect(r.hops[1]!.target.address).toBe('10.0.0.5');
  });

  it('a chain given as a,b keeps its order; the later hops use their config only for HostName/User/Port/keys', () => {
    const r = resolveRoute(spec({ jump: [{ host: '192.0.2.7' }, { host: 'inner' }] }), cfg, env);
    expect(routeLabel(r.hops)).toBe('192.0.2.7 > inner');
  });

  it('a loop is bad input naming the hosts and the fix', () => {
    const loop = 'Host b1\n  ProxyJump b2\nHost b2\n  ProxyJump b1\n';
    expect(() => resolveRoute(spec({ jump: [{ host: 'b1' }] }), loop, env)).toThrow(InputError);
    expect(() => resolveRoute(spec({ jump: [{ host: 'b1' }] }), loop, env)).toThrow(
      /^m2: the jump hosts loop \(b1 > b2 > b1\): b1 comes twice; .*add "ProxyJump none" under its Host entry/,
    );
    // `Host *` with a ProxyJump catches the bastion itself
    expect(() => resolveRoute(spec(), 'Host *\n  ProxyJump b1\n', env)).toThrow(/the jump hosts loop \(b1 > b1\)/);
  });

  it('a bad ProxyJump in ~/.ssh/config is bad input naming the file and the host', () => {
    expect(() => resolveRoute(spec(), 'Host 10.0.0.12\n  ProxyJump root@\n', env)).toThrow(/^~\/\.ssh\/config: ProxyJump for 10\.0\.0\.12: "root@": no host/);
  });

  it('a ProxyCommand of the ssh -W shape is a jump; any other is a note (connecting without it)', () => {
    const mapped = resolveRoute(spec(), 'Host 10.0.0.12\n  ProxyCommand ssh -W %h:%p -q ops@b7\n', env);
    expect(mapped.hops.map((h) => [h.label, h.target.user])).toEqual([['b7', 'ops']]);
    const other = resolveRoute(spec(), 'Host 10.0.0.12\n  ProxyCommand nc -X 5 -x proxy:1080 %h %p\n', env);
    expect(other.hops).toEqual([]);
    expect(other.notes).toEqual([expect.stringMatching(/^~\/\.ssh\/config: the ProxyCommand for 10\.0\.0\.12 is not run by kha/)]);
  });

  it('a host that is its own bastion (--bastion naming an inventory host) connects directly', () => {
    const r = resolveRoute(spec({ name: 'm1', address: '10.0.0.11', jump: [{ host: '10.0.0.11', user: 'root' }], jumpFrom: 'flag' }), '', env);
    expect(r.hops).toEqual([]);
    expect(r.from).toBeUndefined();
  });
});

describe('parseSshArgs (ansible_ssh_common_args / ansible_ssh_extra_args)', () => {
  it.each([
    ['-o ProxyJump=user@bastion', [{ host: 'bastion', user: 'user' }]],
    ['-o ProxyJump user@bastion:2222', undefined],
    ["-o 'ProxyJump user@bastion:2222'", [{ host: 'bastion', user: 'user', port: 2222 }]],
    ['-J user@bastion', [{ host: 'bastion', user: 'user' }]],
    ['-Jb1,b2', [{ host: 'b1' }, { host: 'b2' }]],
    ['-oProxyJump=none', 'none'],
    ['-o ProxyCommand="ssh -W %h:%p -q user@bastion"', [{ host: 'bastion', user: 'user' }]],
    ['-o ProxyCommand=none', 'none'],
    ['-J b1 -o ProxyJump=b2', [{ host: 'b1' }]],
  ])('%s', (text, jump) => {
    const r = parseSshArgs(text);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.jump).toEqual(jump);
  });

  it("reads UserKnownHostsFile and StrictHostKeyChecking=yes (the lab's args) without a warning", () => {
    expect(parseSshArgs('-o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=yes')).toEqual({ ok: true, value: { knownHostsFile: '/tmp/kh', ignored: [] } });
  });

  it('lists every option it does not read, with what to do instead; a command is not echoed', () => {
    const r = parseSshArgs(
      '-o StrictHostKeyChecking=no -C -o ControlMaster=auto -i ~/.ssh/k -o ProxyCommand="sshpass -p hunter2 ssh -W %h:%p b1" -o SetEnv=TOKEN=hunter3 stray',
    );
    expect(r).toEqual({
      ok: true,
      value: {
        ignored: [
          '-o StrictHostKeyChecking=no (kha always checks host keys against known_hosts; --accept-new-host-keys records unknown ones)',
          '-C',
          '-o ControlMaster=auto (kha keeps one connection per host for the whole run anyway)',
          '-i ~/.ssh/k (set ansible_ssh_private_key_file)',
          '-o ProxyCommand=... (kha runs no proxy command; it reads only "ssh -W %h:%p [user@]host" as a jump host; use -o ProxyJump=[user@]host)',
          '-o SetEnv=...',
          '"stray" (not an ssh option)',
        ],
      },
    });
    expect(JSON.stringify(r)).not.toMatch(/hunter/);
  });

  it('a bad ProxyJump or an unclosed quote is an error naming the option', () => {
    expect(parseSshArgs('-o ProxyJump=root@b1:99999')).toEqual({
      ok: false,
      message: '-o ProxyJump=root@b1:99999: "root@b1:99999": "99999" is not a port; use a number from 1 to 65535',
    });
    expect(parseSshArgs('-J')).toEqual({ ok: true, value: { ignored: ['-J (no value follows it)'] } });
    expect(parseSshArgs('-o "ProxyJump=b1')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^the double quote at character 4 is never closed; quote it/),
    });
  });
});

describe('the inventory: jumps, --bastion, warnings', () => {
  const inv = (over: { bastion?: string } = {}, extra: string[] = []) =>
    parseInventory(
      y([
        'all:',
        '  vars:',
        '    ansible_user: root',
        '    ansible_ssh_common_args: -o UserKnownHostsFile=/tmp/kh -o StrictHostKeyChecking=no',
        '  hosts:',
        '    m1: { ansible_host: 10.0.0.11 }',
        "    m2: { ansible_host: 10.0.0.12, ansible_ssh_common_args: '-o ProxyJump=root@10.0.0.11 -o StrictHostKeyChecking=no' }",
        "    m3: { ansible_host: 10.0.0.13, ansible_ssh_extra_args: '-J ops@10.0.0.99 -C' }",
        "    m4: { ansible_host: 10.0.0.14, ansible_ssh_common_args: '-o ProxyJump=none' }",
        ...extra,
      ]),
      'hosts.yaml',
      over,
    );

  it('ansible_ssh_common_args and ansible_ssh_extra_args give a host its jump; the rest of the host is as before', () => {
    const hosts = Object.fromEntries(inv().hosts.map((h) => [h.name, h.connection]));
    expect(hosts['m1']!.jump).toBeUndefined();
    expect(hosts['m1']!.knownHostsFile).toBe('/tmp/kh');
    expect(hosts['m2']!.jump).toEqual([{ host: '10.0.0.11', user: 'root' }]);
    // m2's own common args replace the group's (Ansible precedence): no UserKnownHostsFile there
    expect(hosts['m2']!.knownHostsFile).toBeUndefined();
    expect(hosts['m3']!).toMatchObject({ jump: [{ host: '10.0.0.99', user: 'ops' }], knownHostsFile: '/tmp/kh' });
    expect(hosts['m4']!.jump).toBe('none');
  });

  it('--bastion applies to every host without a jump of its own (not to ProxyJump=none)', () => {
    const hosts = Object.fromEntries(inv({ bastion: 'admin@b.example.com:2222' }).hosts.map((h) => [h.name, h.connection]));
    expect(hosts['m1']).toMatchObject({ jump: [{ host: 'b.example.com', user: 'admin', port: 2222 }], jumpFrom: 'flag' });
    expect(hosts['m2']!.jump).toEqual([{ host: '10.0.0.11', user: 'root' }]);
    expect(hosts['m2']!.jumpFrom).toBeUndefined();
    expect(hosts['m4']!.jump).toBe('none');
  });

  it('a bad --bastion is one InputError naming the flag', () => {
    expect(() => inv({ bastion: 'root@b1;reboot' })).toThrow(InputError);
    expect(() => inv({ bastion: 'root@b1;reboot' })).toThrow(
      /^--bastion: "root@b1;reboot": "b1;reboot" is not an IPv4 address or a host name; write \[user@\]host\[:port\]$/,
    );
  });

  it('a bad ProxyJump in the inventory is an error at its file:line and key path', () => {
    expect(() => inv({}, ["    m5: { ansible_host: 10.0.0.15, ansible_ssh_common_args: '-o ProxyJump=root@:22' }"])).toThrow(
      /^hosts\.yaml:10: all\.hosts\.m5\.ansible_ssh_common_args: -o ProxyJump=root@:22: "root@:22": no host; write \[user@\]host\[:port\]$/,
    );
  });

  it('one warning per ignored option, naming every host it applies to', () => {
    expect(sshArgWarnings(inv().hosts)).toEqual([
      'm1, m2, m3: ansible_ssh_common_args: kha does not read -o StrictHostKeyChecking=no (kha always checks host keys against known_hosts; --accept-new-host-keys records unknown ones); ignored',
      'm3: ansible_ssh_extra_args: kha does not read -C; ignored',
    ]);
  });

  it('sshArgWarnings shortens a long host list', () => {
    const hosts = Array.from({ length: 8 }, (_, i) => ({
      name: `n${i}`,
      vars: { ansible_ssh_common_args: '-A' },
      groups: ['all'],
      connection: spec({ name: `n${i}` }),
    }));
    expect(sshArgWarnings(hosts)).toEqual(['n0, n1, n2, n3, n4 and 3 more: ansible_ssh_common_args: kha does not read -A; ignored']);
  });
});
