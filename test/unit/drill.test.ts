// kha drill against in-process fake hosts: what decides its exit code before any service is
// stopped. An unreachable host is exit 3 (unreachable), as everywhere else, not 5: the lock is
// the first thing a drill does on every host, and a host that cannot be reached there is not a
// lock problem.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { drill } from '../../src/actions/drill.js';
import { ExitCode, describeError } from '../../src/errors.js';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import { FakeConn, fakeRun } from '../helpers/fake-conn.js';
import { mastersYaml } from '../helpers/masters-yaml.js';
import { refusal } from '../helpers/refusal.js';

const HOSTS = ['m1', 'm2', 'm3'];
const settings = () =>
  resolveSettings(parseInventory(mastersYaml('10.0.0.100', Object.fromEntries(HOSTS.map((h, i) => [h, `ansible_host: 10.0.0.${11 + i}`]))), 'hosts.yaml'));

/** hosts that take the lock and answer everything else with nothing */
const lockingHost = (n: string) =>
  new FakeConn(n, (script) =>
    script.includes('ln -- "$t"') ? { stdout: 'KHA-LOCK-TAKEN\n' } : script.startsWith('c=$(cat') ? { stdout: 'KHA-LOCK-RELEASED\n' } : {},
  );

describe('kha drill: an unreachable host', () => {
  test('one host down: exit 3 (E_UNREACHABLE) naming it and why, and no service is stopped anywhere', async () => {
    const { ctx, connector } = fakeRun(HOSTS, lockingHost);
    connector.down.add('m2');
    const err = await refusal(drill(ctx, settings(), 'keepalived', 1));
    expect(err.exit).toBe(ExitCode.unreachable);
    expect(err.code).toBe('E_UNREACHABLE');
    expect(describeError(err)).toBe('m2: cannot take the lock /run/kha.lock: connect ECONNREFUSED');
    for (const c of connector.conns.values()) expect(c.log.join('\n')).not.toMatch(/systemctl stop/);
  });

  test('two hosts down: one error naming both, in inventory order, exit 3', async () => {
    const { ctx, connector } = fakeRun(HOSTS, lockingHost);
    connector.down.add('m3');
    connector.down.add('m1');
    const err = await refusal(drill(ctx, settings(), 'keepalived', 1));
    expect(err.exit).toBe(ExitCode.unreachable);
    expect(describeError(err)).toBe(
      'm1: cannot take the lock /run/kha.lock: connect ECONNREFUSED; m3: cannot take the lock /run/kha.lock: connect ECONNREFUSED',
    );
  });

  test('a host lost after the lock: exit 3 with its reason, no service stopped, every lock released', async () => {
    const facts = readFileSync(join(import.meta.dirname, '../fixtures/facts/debian12-m1.txt'), 'utf8');
    const inv = ['all:', '  vars:', '    vip: 172.29.62.250', '  children:', '    masters:', '      hosts:'];
    const s = resolveSettings(parseInventory([...inv, ...HOSTS.map((h, i) => `        ${h}: { ansible_host: 172.29.62.${11 + i} }`)].join('\n'), 'hosts.yaml'));
    const released: string[] = [];
    const { ctx, connector } = fakeRun(HOSTS, (n) => {
      const c = lockingHost(n);
      const lock = c.handler;
      c.handler = (script, opts) => {
        // m2 answers the lock, then drops off the network
        if (n === 'm2' && script.includes('ln -- "$t"')) connector.down.add('m2');
        if (script.startsWith('c=$(cat')) released.push(n);
        return script.includes('@@kha@@hostname') ? { stdout: facts } : lock(script, opts);
      };
      return c;
    });
    const err = await refusal(drill(ctx, s, 'keepalived', 1));
    expect(err.exit).toBe(ExitCode.unreachable);
    expect(describeError(err)).toBe('m2: connect ECONNREFUSED; a drill needs every load-balancer host, so no drill: run kha status');
    for (const c of connector.conns.values()) expect(c.log.join('\n')).not.toMatch(/systemctl stop/);
    // m2's lock cannot be released while it is down: that is a warning, not a second error
    expect(released.sort()).toEqual(['m1', 'm3']);
  });
});
