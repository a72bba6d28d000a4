// Secret-bearing files (keepalived.conf with vrrp_auth_pass): the scripts that run on the host are
// run here for real in sh, against files in a temp dir, and must agree byte for byte with their
// TypeScript twins, while printing neither the secret nor a plain hash of the file.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PROBE_KEY, REDACTED, keyedHash, keyedHashScript, redactText, redactedCatScript } from '../../src/modules/secret-file.js';
import { probeScript as templateProbe, parseProbe } from '../../src/modules/template.js';
import { parseProbe as parseApplied, pendingReason, probeScript as appliedProbe, recordScript } from '../../src/modules/applied.js';
import { renderKeepalived, type KeepalivedVars } from '../../src/roles/keepalived.js';
import { vrrpSignature, vrrpSignatureScript } from '../../src/actions/up.js';
import { statusScript } from '../../src/actions/status.js';

const dir = mkdtempSync(join(tmpdir(), 'kha-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sh = (script: string) => execFileSync('sh', ['-c', script], { encoding: 'utf8' });

const vars: KeepalivedVars = {
  routerId: 'kha-m1',
  instanceName: 'VI_KHA',
  state: 'MASTER',
  nopreempt: false,
  interface: 'eth0',
  virtualRouterId: 51,
  priority: 250,
  priorityGap: 20,
  advertInt: 1,
  authPass: 'OldPw123',
  vip: '192.168.50.100',
  vipPrefix: 32,
  checkScript: '/etc/keepalived/kha-check-haproxy.sh',
  scriptUser: 'keepalived_script',
  notifyScript: '/etc/keepalived/kha-notify.sh',
  notifyFifo: '/run/keepalived-kha.fifo',
  haproxyDownFile: '/run/kha-haproxy.down',
  garpMasterRefresh: 60,
};
const oldConf = renderKeepalived(vars);
const newConf = renderKeepalived({ ...vars, authPass: 'NewPw456' });
const file = join(dir, 'keepalived.conf');
writeFileSync(file, oldConf);

describe('secret-bearing files', () => {
  test('the redacted read on the host equals the TypeScript redaction, and holds no secret', () => {
    const out = sh(redactedCatScript(file, ['auth_pass']));
    expect(out).toBe(redactText(oldConf, ['auth_pass']));
    expect(out).toContain(`        auth_pass ${REDACTED}\n`);
    expect(out).not.toContain('OldPw123');
    // only the value goes: the rest of the file is as it was
    expect(out.replace(REDACTED, 'OldPw123')).toBe(oldConf);
  });

  test('the keyed hash on the host equals keyedHash(content) and is not the plain sha256', () => {
    const out = sh(keyedHashScript(file)).split(' ')[0];
    expect(out).toBe(keyedHash(oldConf));
    expect(out).not.toBe(createHash('sha256').update(oldConf).digest('hex'));
    expect(PROBE_KEY).toMatch(/^[0-9a-f]{48}$/);
  });

  test('the template probe of a secret-bearing file: keyed hash, redacted content, never the secret or the plain hash', () => {
    const out = sh(templateProbe(file, true, ['auth_pass']));
    expect(out).not.toContain('OldPw123');
    expect(out).not.toContain(createHash('sha256').update(oldConf).digest('hex'));
    const p = parseProbe(out);
    expect(p.hash).toBe(keyedHash(oldConf));
    expect(p.content).toBe(redactText(oldConf, ['auth_pass']));
    // a rotation is a change (the keyed hashes differ) though the redacted texts are equal
    expect(keyedHash(newConf)).not.toBe(p.hash);
    expect(redactText(newConf, ['auth_pass'])).toBe(p.content);
  });

  test('the VRRP signature on the host equals the local one; a rotated pass changes it; no secret printed', () => {
    const out = sh(vrrpSignatureScript(file)).trim();
    expect(out).toBe(vrrpSignature(oldConf));
    expect(out).not.toBe(vrrpSignature(newConf));
    expect(out).not.toContain('OldPw123');
    expect(out).toMatch(/^51\|1\|[0-9a-f]{64}\|multicast$/);
    expect(sh(vrrpSignatureScript(join(dir, 'missing.conf')))).toBe('');
    const noAuth = join(dir, 'noauth.conf');
    const { authPass: _a, ...rest } = vars;
    writeFileSync(noAuth, renderKeepalived(rest));
    expect(sh(vrrpSignatureScript(noAuth)).trim()).toBe(vrrpSignature(renderKeepalived(rest)));
  });

  test('status: the secret-bearing file by its keyed hash only', () => {
    const out = sh(statusScript([{ path: file, redact: ['auth_pass'] }]));
    expect(out).toContain(`${keyedHash(oldConf)}  ${file}\n`);
    expect(out).not.toContain(createHash('sha256').update(oldConf).digest('hex'));
  });

  test('applied: the record is written 0600 and compared on the host (same / differs), no hash printed', () => {
    const rec = join(dir, 'rec');
    // recordScript writes under /run/kha; run its parts against the temp dir instead
    const script = recordScript('keepalived.service', [file]).replaceAll('/run/kha', rec);
    sh(script);
    const mode = execFileSync('stat', ['-c', '%a', join(rec, 'keepalived.service.applied')], { encoding: 'utf8' }).trim();
    expect(mode).toBe('600');
    const probe = () => sh(appliedProbe('keepalived.service', [file]).replaceAll('/run/kha', rec));
    expect(probe()).not.toMatch(/[0-9a-f]{64}/);
    expect(parseApplied(probe()).applied).toBe('same');
    writeFileSync(file, newConf);
    try {
      const p = parseApplied(probe());
      expect(p.applied).toBe('differs');
      expect(pendingReason({ ...p, active: true })).toMatch(/older config/);
    } finally {
      writeFileSync(file, oldConf);
    }
  });
});
