// Greenfield (kha up before kubeadm init): the next steps, the status table's bootstrap line, and
// the serving-certificate check (its probe script runs for real in sh against a TLS server on this
// machine's loopback, with certificates made by openssl).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseInventory } from '../../src/inventory/load.js';
import { resolveSettings } from '../../src/inventory/settings.js';
import {
  BOOTSTRAP_LINE,
  canonical,
  certFindings,
  certProbeScript,
  nextSteps,
  parseCertProbe,
  requiredSans,
  sanEntries,
  sanProblems,
} from '../../src/actions/bootstrap.js';
import { renderStatusTable, type StatusReport } from '../../src/actions/status.js';

const inv = (extra = '', masters = 'm1: {ansible_host: 10.0.0.11}\n        m2: {ansible_host: 10.0.0.12}\n        m3: {ansible_host: 10.0.0.13}') =>
  resolveSettings(parseInventory(`all:\n  vars:\n    vip: 10.0.0.100\n${extra}  children:\n    masters:\n      hosts:\n        ${masters}\n`, 'hosts.yaml'));

describe('next steps', () => {
  test('kubeadm init on the primary against VIP:8443 with the VIP in the SANs, then the joins', () => {
    expect(nextSteps(inv())).toEqual([
      'on m1: kubeadm init --control-plane-endpoint 10.0.0.100:8443 --apiserver-cert-extra-sans 10.0.0.100 --upload-certs',
      'then on m2, m3, one at a time: kubeadm join 10.0.0.100:8443 --control-plane --token <token> --discovery-token-ca-cert-hash sha256:<hash> --certificate-key <key>   (kubeadm init prints this line)',
      '10.0.0.100:8443 reaches each apiserver about 1 s after it answers /readyz; kha status shows the backends come up (the VIP does not move meanwhile)',
    ]);
  });

  test('with an endpoint name (manage_etc_hosts), another port and the primary second: the name, both SANs, the bind port', () => {
    const s = inv(
      '    manage_etc_hosts: true\n    frontend_port: 9443\n    apiserver_port: 7443\n',
      'm1: {ansible_host: 10.0.0.11, priority: 100}\n        m2: {ansible_host: 10.0.0.12, priority: 200}',
    );
    expect(requiredSans(s)).toEqual(['10.0.0.100', 'kube-apiserver.kha.internal']);
    const [init, join] = nextSteps(s);
    expect(init).toBe(
      'on m2: kubeadm init --control-plane-endpoint kube-apiserver.kha.internal:9443 --apiserver-cert-extra-sans 10.0.0.100,kube-apiserver.kha.internal --apiserver-bind-port 7443 --upload-certs',
    );
    expect(join).toMatch(/^then on m1, one at a time: kubeadm join kube-apiserver\.kha\.internal:9443 --control-plane /);
  });

  test('one master: no join line', () => {
    expect(nextSteps(inv('', 'm1: {ansible_host: 10.0.0.11}')).filter((l) => l.includes('join'))).toEqual([]);
  });

  test('the status table says bootstrap in one line', () => {
    const r: StatusReport = { vip: '10.0.0.100', frontendPort: 8443, holders: ['m1'], healthy: true, bootstrap: true, certProblems: [], hosts: [] };
    expect(
      renderStatusTable(r)
        .split('\n')
        .filter((l) => l.startsWith(BOOTSTRAP_LINE)),
    ).toHaveLength(1);
    expect(renderStatusTable({ ...r, bootstrap: false })).not.toContain(BOOTSTRAP_LINE);
  });
});

const M1_PEM = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT2gAwIBAgIUDTe1AoYgjYVQx1dnPNi3fML4tLIwCgYIKoZIzj0EAwIw
DTELMAkGA1UEAwwCbTEwIBcNMjYxMjAzMDYzNzU5WhgPMjEyNjExMDkwNjM3NTla
MA0xCzAJBgNVBAMMAm0xMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEN76TD7Fa
pkzZ9UPKYGx0RUjMgXAYni5SV5AyvLsGtckeibnpWqtfntEvKyqXL2oywxy8Ot6t
WriQV4hzfJGFOKN5MHcwHQYDVR0OBBYEFI9rNn/0Ygxs200vvXP1EwWifrLdMB8G
A1UdIwQYMBaAFI9rNn/0Ygxs200vvXP1EwWifrLdMA8GA1UdEwEB/wQFMAMBAf8w
JAYDVR0RBB0wG4ICbTGCCWxvY2FsaG9zdIcEfwAAAYcECgAACzAKBggqhkjOPQQD
AgNJADBGAiEAwY4rZmgyG6t8TCYSUX+7TeDdUp+F/JCH4nu0Nn73VzkCIQD9eK6Y
3X0QdqKiG4MwsmrZhQfDd1o8EkDod+t4qcmZLA==
-----END CERTIFICATE-----`;

describe('certificate SANs', () => {
  test('parse: SANs per target, a target with no certificate is null, no openssl is said', () => {
    // a certificate of m1 for 10.0.0.11 (openssl req -x509, EC, 100 years), as the probe prints it
    const out = `@@kha-cert@@VIP\n${M1_PEM}\n@@kha-cert@@m2\n\n@@kha-cert@@m3\n-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n`;
    expect(parseCertProbe(out)).toEqual([
      { label: 'VIP', sans: ['m1', 'localhost', '127.0.0.1', '10.0.0.11'] },
      { label: 'm2', sans: null },
      { label: 'm3', sans: null },
    ]);
    expect(sanEntries('DNS:a, IP Address:10.0.0.1, email:x@y')).toEqual(['a', '10.0.0.1']);
    expect(sanEntries(undefined)).toEqual([]);
    expect(parseCertProbe('no-openssl\n')).toBe('no-openssl');
  });

  test('problems name the master and the certSANs entry; covered and unread certificates say nothing; the VIP read only when no master line says it', () => {
    const s = inv();
    const lines = sanProblems(s, [
      { label: 'VIP', sans: ['m1'] },
      { label: 'm1', sans: ['m1', '10.0.0.11'] },
      { label: 'm2', sans: ['m2', '10.0.0.100'] },
      { label: 'm3', sans: null },
    ]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^m1's apiserver certificate does not cover 10\.0\.0\.100: add "10\.0\.0\.100" to apiServer\.certSANs /);
    expect(sanProblems(s, [{ label: 'VIP', sans: [] }])[0]).toMatch(/^the certificate served through 10\.0\.0\.100:8443 does not cover 10\.0\.0\.100/);
    expect(canonical('FD00:6A:0:0:0:0:0:64')).toBe(canonical('fd00:6a::64'));
  });

  test('certFindings: every master is read at once (up is known later), only the VIP and the masters haproxy counts up are judged', () => {
    const s = inv();
    const reads = [
      { label: 'VIP', sans: ['m1', '10.0.0.100'] },
      { label: 'm1', sans: ['m1', '10.0.0.11'] },
      { label: 'm2', sans: ['m2', '10.0.0.100'] },
    ];
    expect(certFindings(s, reads, ['m1', 'm2'], 'm1').problems).toHaveLength(1);
    expect(certFindings(s, reads, ['m1', 'm2'], 'm1').problems[0]).toMatch(/^m1's apiserver certificate/);
    // m1 is down in haproxy: its certificate is not the one clients get, so it says nothing
    expect(certFindings(s, reads, ['m2'], 'm1')).toEqual({ problems: [] });
    expect(certFindings(s, 'no-openssl', ['m2'], 'lb1')).toEqual({
      problems: [],
      note: "the apiserver certificates' SANs were not checked: openssl is not installed on lb1",
    });
  });

  test('the probe script reads real certificates over TLS with openssl: with and without the VIP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kha-cert-'));
    const make = (name: string, san: string) => {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-nodes',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-days',
          '1',
          '-subj',
          `/CN=${name}`,
          '-addext',
          `subjectAltName=${san}`,
          '-keyout',
          join(dir, `${name}.key`),
          '-out',
          join(dir, `${name}.crt`),
        ],
        { stdio: 'ignore' },
      );
      return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.crt`)) };
    };
    const servers = [make('m1', 'DNS:m1,IP:127.0.0.1'), make('m2', 'DNS:m2,IP:127.0.0.1,IP:10.0.0.100')].map((c) =>
      createServer(c, (_q, res) => res.end('ok')),
    );
    try {
      const ports = await Promise.all(
        servers.map((srv) => new Promise<number>((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as { port: number }).port)))),
      );
      const script = certProbeScript([
        { label: 'm1', address: '127.0.0.1', port: ports[0]! },
        { label: 'm2', address: '127.0.0.1', port: ports[1]! },
      ]);
      const out = await new Promise<string>((resolve, reject) => {
        import('node:child_process').then(({ execFile }) => execFile('sh', ['-c', script], (err, stdout) => (err ? reject(err) : resolve(stdout))));
      });
      // the targets are probed at once: whole blocks, in any order
      const reads = parseCertProbe(out);
      expect(reads).not.toBe('no-openssl');
      expect([...(reads as Exclude<typeof reads, 'no-openssl'>)].sort((a, b) => a.label.localeCompare(b.label))).toEqual([
        { label: 'm1', sans: ['m1', '127.0.0.1'] },
        { label: 'm2', sans: ['m2', '127.0.0.1', '10.0.0.100'] },
      ]);
      const lines = sanProblems(inv(), reads as Exclude<typeof reads, 'no-openssl'>);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^m1's apiserver/);
    } finally {
      servers.forEach((srv) => srv.close());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
