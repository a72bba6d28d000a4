// Greenfield: the VIP comes first, then `kubeadm init` against it, then the joins. Until the
// first apiserver answers, "no backend up" is the expected state, not an error. This module holds
// what `kha up` and `kha status` say about it (pure), and the serving-certificate check that
// starts to matter once an apiserver answers: a client through the VIP verifies the apiserver's
// certificate against the VIP (or the endpoint name), so it must be among the certSANs.
import { X509Certificate } from 'node:crypto';
import type { HaSettings } from '../inventory/settings.js';
import { quote } from '../transport/quote.js';
import type { Connection } from '../transport/types.js';

/** The one line both `kha up` and `kha status` print when no apiserver answers on any load balancer. */
export const BOOTSTRAP_LINE = 'bootstrap: no apiserver answers yet';

/** `host:port` with brackets for IPv6 */
function hostPort(h: string, port: number): string {
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

/** What clients (and kubeadm's admin.conf) use: the endpoint name when kha manages one, else the VIP. */
export function controlPlaneEndpoint(s: HaSettings): string {
  return hostPort(s.manageEtcHosts ? s.apiEndpointName : s.vip, s.frontendPort);
}

/** The certSANs entries the apiservers' serving certificate needs: the VIP and, when set, the endpoint name. */
export function requiredSans(s: HaSettings): string[] {
  return s.manageEtcHosts ? [s.vip, s.apiEndpointName] : [s.vip];
}

/**
 * The exact next steps after `kha up` on masters without an apiserver: `kubeadm init` on the
 * first master (the VIP's primary when the masters hold it) against the endpoint, then the joins.
 * Pure.
 */
export function nextSteps(s: HaSettings): string[] {
  const first = s.masters.includes(s.primary) ? s.primary : s.masters[0]!;
  const others = s.masters.filter((m) => m !== first);
  const ep = controlPlaneEndpoint(s);
  const port = s.hosts[first]?.apiserverPort ?? s.apiserverPort;
  const init = [
    'kubeadm init',
    `--control-plane-endpoint ${ep}`,
    `--apiserver-cert-extra-sans ${requiredSans(s).join(',')}`,
    ...(port !== 6443 ? [`--apiserver-bind-port ${port}`] : []),
    '--upload-certs',
  ].join(' ');
  const lines = [`on ${first}: ${init}`];
  if (others.length) {
    lines.push(
      `then on ${others.join(', ')}, one at a time: kubeadm join ${ep} --control-plane --token <token> --discovery-token-ca-cert-hash sha256:<hash> --certificate-key <key>   (kubeadm init prints this line)`,
    );
  }
  lines.push(
    `${ep} reaches each apiserver about 1 s after it answers ${s.apiserverHealthPath}; kha status shows the backends come up (the VIP does not move meanwhile)`,
  );
  return lines;
}

// ---- serving certificates -------------------------------------------------------------------

export interface CertTarget {
  /** master name, or 'VIP' for the read through the VIP */
  label: string;
  address: string;
  port: number;
}

const MARK = '@@kha-cert@@';

/**
 * Reads each target's serving certificate with openssl on the host (the LB holder) and prints it
 * (PEM); kha reads its subjectAltName (node:crypto X509Certificate), so the host runs one openssl
 * per target, not a second one to decode it. `no-openssl` when the tool is missing. Addresses and
 * ports are validated IPs and numbers, still quoted.
 */
export function certProbeScript(targets: CertTarget[]): string {
  const lines = ['command -v openssl >/dev/null 2>&1 || { echo no-openssl; exit 0; }'];
  // every target at once (a TLS handshake each, up to 5 s for one that does not answer); each
  // block is printed by one printf (a certificate is well under PIPE_BUF), so blocks never interleave
  for (const t of targets) {
    const addr = quote(hostPort(t.address, t.port));
    lines.push(
      `( c=$(timeout 5 openssl s_client -connect ${addr} </dev/null 2>/dev/null | sed -n '/-BEGIN CERTIFICATE-/,/-END CERTIFICATE-/p'); printf '%s\\n%s\\n' ${quote(MARK + t.label)} "$c" ) &`,
    );
  }
  lines.push('wait');
  return lines.join('\n');
}

export type CertRead = { label: string; sans: string[] | null };

/** The SAN entries of a subjectAltName string (`DNS:x, IP Address:y` -> 'x', 'y'). Pure. */
export function sanEntries(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '')
    .split(',')
    .map((x) => /^(?:DNS|IP Address|IP):(.+)$/.exec(x.trim())?.[1]?.trim())
    .filter((x): x is string => Boolean(x));
}

/** Pure: the SAN entries per target; null when no certificate was read (or it does not parse). */
export function parseCertProbe(out: string): CertRead[] | 'no-openssl' {
  if (/^no-openssl$/m.test(out)) return 'no-openssl';
  return out
    .split(MARK)
    .slice(1)
    .map((block) => {
      const nl = block.indexOf('\n');
      const label = nl < 0 ? block : block.slice(0, nl);
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(block)?.[0];
      if (!pem) return { label, sans: null };
      try {
        return { label, sans: sanEntries(new X509Certificate(pem).subjectAltName) };
      } catch {
        return { label, sans: null };
      }
    });
}

/** Canonical form of an address or a DNS name for comparison (IPv6 expanded, lower case). */
export function canonical(v: string): string {
  const x = v.toLowerCase();
  if (!x.includes(':')) return x;
  const [head, tail = ''] = x.split('::');
  const h = head ? head.split(':') : [];
  const t = x.includes('::') && tail ? tail.split(':') : [];
  const groups = x.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : x.split(':');
  return groups.map((g) => String(parseInt(g || '0', 16).toString(16))).join(':');
}

/**
 * Pure: one line per certificate that does not cover every required SAN, naming the master and
 * the certSANs entries to add. Reads with no certificate (the apiserver stopped in between) are
 * left out.
 */
export function sanProblems(s: HaSettings, reads: CertRead[]): string[] {
  const need = requiredSans(s);
  const lines: string[] = [];
  for (const r of reads) {
    if (r.sans === null) continue;
    const have = new Set(r.sans.map(canonical));
    const missing = need.filter((n) => !have.has(canonical(n)));
    if (!missing.length) continue;
    const who = r.label === 'VIP' ? `the certificate served through ${hostPort(s.vip, s.frontendPort)}` : `${r.label}'s apiserver certificate`;
    lines.push(
      `${who} does not cover ${missing.join(' and ')}: add ${missing.map((m) => `"${m}"`).join(', ')} to apiServer.certSANs in the kubeadm ClusterConfiguration (or --apiserver-cert-extra-sans ${missing.join(',')}) and renew that certificate (kubeadm init phase certs apiserver), else clients through the VIP fail TLS verification`,
    );
  }
  // the VIP read repeats a master's finding: keep it only when no master line says it
  const masterLines = lines.filter((l) => !l.startsWith('the certificate served through'));
  return masterLines.length ? masterLines : lines;
}

/** Reads the certificates through the VIP and from each of `masters` (direct), on `conn` (a load balancer), all at once. */
export async function readCerts(conn: Connection, s: HaSettings, masters: string[]): Promise<CertRead[] | 'no-openssl'> {
  const targets: CertTarget[] = [
    { label: 'VIP', address: s.vip, port: s.frontendPort },
    ...masters.map((m) => ({ label: m, address: s.hosts[m]!.address, port: s.hosts[m]!.apiserverPort })),
  ];
  const r = await conn.exec({ script: certProbeScript(targets) }, { timeoutMs: 30_000 });
  const parsed = parseCertProbe(r.stdout);
  if (parsed === 'no-openssl') return parsed;
  // the probes run at once and answer in any order: keep the targets' order
  const order = (label: string) => targets.findIndex((t) => t.label === label);
  return [...parsed].sort((a, b) => order(a.label) - order(b.label));
}

/** Pure: the findings of `reads` for the VIP and the masters in `up` (those haproxy counts as up); `on` names the host that read them. */
export function certFindings(s: HaSettings, reads: CertRead[] | 'no-openssl', up: string[], on: string): { problems: string[]; note?: string } {
  if (reads === 'no-openssl') return { problems: [], note: `the apiserver certificates' SANs were not checked: openssl is not installed on ${on}` };
  return {
    problems: sanProblems(
      s,
      reads.filter((r) => r.label === 'VIP' || up.includes(r.label)),
    ),
  };
}

/**
 * Reads the certificates through the VIP and from each master in `up` (direct), on `conn` (a load
 * balancer). Returns the problem lines, or a note when openssl is missing there.
 */
export async function checkCertSans(conn: Connection, s: HaSettings, up: string[]): Promise<{ problems: string[]; note?: string }> {
  return certFindings(s, await readCerts(conn, s, up), up, conn.name);
}
