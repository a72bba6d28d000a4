import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { factsScript, parseFacts } from '../../src/facts/gather.js';

describe('facts: one command, one pure parser', () => {
  it('parses the output captured from a real Debian 12 host running keepalived and haproxy', () => {
    const f = parseFacts(readFileSync(new URL('../fixtures/facts/debian12-m1.txt', import.meta.url), 'utf8'));
    expect(f.os).toMatchObject({ id: 'debian', versionId: '12' });
    expect(f.pkgMgr).toBe('apt');
    expect(f.systemd).toBe(true);
    expect(f.uid).toBe(0);
    expect(f.hostname).toBe('m1');
    const eth0 = f.interfaces.find((i) => i.name === 'eth0');
    expect(eth0?.up).toBe(true);
    expect(eth0?.ipv4[0]?.prefix).toBe(24);
    expect(Object.keys(f.packages).sort()).toEqual(['haproxy', 'keepalived']);
    expect(f.services['keepalived']).toEqual({ active: 'active', enabled: 'enabled' });
    expect(f.listening.some((l) => l.port === 22 && l.process === 'sshd')).toBe(true);
  });

  it('a cut-short output is an error, not empty facts', () => {
    expect(() => parseFacts('@@kha@@hostname\nm1\n')).toThrow('gathering facts: the output was cut short');
  });

  it('is one script (one round trip) and quotes what it is given', () => {
    expect(factsScript(['keepalived'], ['x'], ['/etc/a b'])).toContain("'/etc/a b'");
  });
});
