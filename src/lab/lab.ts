// The ONE code path that starts kha's test hosts: real systemd containers with sshd and a stand-in
// kube-apiserver (docker/), on their own bridge network with static addresses. Used by the
// integration tests (test/helpers/lab.ts) and by `kha lab up` / `kha lab down`.
//
// Recipe (docs: /work/shared/ENVIRONMENT.md): privileged mode is refused on these machines; instead caps SYS_ADMIN, NET_ADMIN, NET_RAW;
// seccomp=unconfined; tmpfs /run and /run/lock; /sys/fs/cgroup bound rw; /sbin/init as PID 1;
// stop signal SIGRTMIN+3 (systemd's clean shutdown). Containers and network carry the label
// kha.lab=<name>, so labDown(name) removes exactly them, from any process.
//
// Addresses: the network is created with an explicit /24 subnet and every host gets a fixed
// address (.11, .12, ...), so stopHost/startHost keep the address. The VIP is .250 (or the next
// free one below it), never the gateway nor a host.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseableKeyPair } from '../transport/keygen.js';
import type { ContainerRuntimeClient, GenericContainer as GenericContainerT } from 'testcontainers';
import YAML from 'yaml';

// Ryuk (testcontainers' reaper) cannot be pulled where there is no registry; we clean up by label.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

const execFileP = promisify(execFile);

export const LAB_LABEL = 'kha.lab';
const STATE_LABEL = 'kha.lab.state';
const HOST_LABEL = 'kha.lab.host';
export const DEFAULT_IMAGE = 'kha-host:1';
/** the sudo password of the image's non-root user `kha` */
export const KHA_SUDO_PASSWORD = 'kha-sudo-pw';
/** default host directory of the shared apt archive seed (option aptCache) */
export const DEFAULT_APT_CACHE_DIR = path.join(os.tmpdir(), 'kha-apt-cache');
const APT_SEED_MOUNT = '/var/cache/kha-apt-seed';

export const NO_DOCKER_MESSAGE =
  'no Docker engine answers (docker info failed): start one (see README: bash scripts/ensure-docker.sh) and retry';

export interface LabHost {
  name: string;
  address: string;
  containerId: string;
}

export interface ExecOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Lab {
  name: string;
  /** docker network name */
  network: string;
  subnet: { base: string; prefix: number };
  gateway: string;
  hosts: LabHost[];
  /** a free address in the subnet: not the gateway, not a host, not used by any container on it */
  vip: string;
  /** ed25519 private key (OpenSSH format, mode 0600) authorized for root and for `kha` on every host */
  keyFile: string;
  publicKey: string;
  /** `<address> ssh-ed25519 AAAA...` per host, read from each container after boot */
  knownHostsFile: string;
  stateDir: string;
  /** the login user the inventory uses ('kha' logs in unprivileged and becomes root with sudo) */
  user: 'root' | 'kha';
  /** docker exec as root (observations, fault injection); never throws on a non-zero exit */
  exec(host: string, cmd: string[]): Promise<ExecOutput>;
  /** clean stop (SIGRTMIN+3 → systemd poweroff); the address is kept (static IP) */
  stopHost(host: string): Promise<void>;
  /** start a stopped host again and wait until it is ready (same address, same host key) */
  startHost(host: string): Promise<void>;
  /** with aptCache: copy the .debs the hosts downloaded into the shared seed dir (down() does it too) */
  saveAptCache(): Promise<void>;
  /** removes exactly what labUp made: containers, network, state dir */
  down(): Promise<void>;
}

export interface LabUpOptions {
  name: string;
  /** a count (names m1..mN) or explicit host names */
  hosts: number | string[];
  /** default: <cwd>/.kha/lab/<name> */
  stateDir?: string;
  /** default: ensureImage() (KHA_IMAGE or kha-host:1, built from docker/ when missing or stale) */
  image?: string;
  user?: 'root' | 'kha';
  /**
   * Share downloaded packages between labs: a host dir (default DEFAULT_APT_CACHE_DIR, or the
   * given path) is mounted at /var/cache/kha-apt-seed; at boot its .debs (and apt lists) are copied
   * into the host's own /var/cache/apt/archives and /var/lib/apt/lists, and down()/saveAptCache()
   * copy new ones back (write to temp + rename, so concurrent labs never see half a file; apt
   * checks every .deb's hash anyway). Each host keeps its own apt locks, so parallel installs on
   * several hosts still work. Traffic still goes only to the Debian mirror.
   */
  aptCache?: boolean | string;
  /** per-host readiness timeout, ms (default 120 s) */
  readyTimeoutMs?: number;
  /** where progress and warnings go (default: stderr) */
  log?: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------
// engine and image

export async function dockerAvailable(): Promise<boolean> {
  try {
    await execFileP('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** the repository's docker/ directory, from src/lab/lab.ts and from dist/lab/lab.js alike */
export function dockerDir(): string {
  return fileURLToPath(new URL('../../docker/', import.meta.url));
}

let imagePromise: Promise<string> | undefined;

/** Runs docker/build-image.sh (fast when the image is present and current); returns the image name. */
export async function ensureImage(): Promise<string> {
  imagePromise ??= (async () => {
    const image = process.env.KHA_IMAGE ?? DEFAULT_IMAGE;
    const script = path.join(dockerDir(), 'build-image.sh');
    if (!fs.existsSync(script)) throw new Error(`cannot build the lab image: ${script} is missing`);
    try {
      await execFileP('bash', [script], {
        env: { ...process.env, KHA_IMAGE: image },
        timeout: 15 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`building the lab image ${image} failed (bash ${script}): ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
        cause: err,
      });
    }
    return image;
  })();
  try {
    return await imagePromise;
  } catch (err) {
    imagePromise = undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// IPv4 helpers

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`bad IPv4 address ${ip}`);
  return (((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!) >>> 0;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

interface Cidr {
  base: number;
  prefix: number;
}

function parseCidr(s: string): Cidr | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(s);
  if (!m) return undefined;
  const prefix = Number(m[2]);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ipToInt(m[1]!) & mask) >>> 0, prefix };
}

function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0);
}

/** IPv4 networks in use on this machine: routes and interface addresses */
function hostNetworks(): Cidr[] {
  const out: Cidr[] = [];
  try {
    for (const line of fs.readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const le = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0);
      const dest = le(f[1]!);
      const mask = le(f[7]!);
      if (mask === 0) continue; // default route
      const prefix = mask.toString(2).replace(/0/g, '').length;
      out.push({ base: dest >>> 0, prefix });
    }
  } catch {
    /* not Linux: interface addresses below still help */
  }
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && a.cidr) {
        const c = parseCidr(a.cidr);
        if (c) out.push(c);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// docker plumbing

// testcontainers is loaded only when a lab is used: importing it costs ~0.5 s at every kha start
async function client(): Promise<ContainerRuntimeClient> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  return getContainerRuntimeClient();
}

/** GenericContainer plus the two create options testcontainers 11 has no builder method for. */
interface LabContainerT extends GenericContainerT {
  withStaticAddress(network: string, address: string): this;
  withStopSignal(signal: string): this;
}

async function labContainer(image: string): Promise<LabContainerT> {
  const { GenericContainer } = await import('testcontainers');
  class LabContainer extends GenericContainer {
    withStaticAddress(network: string, address: string): this {
      this.createOpts.NetworkingConfig = { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: address } } } };
      return this;
    }

    withStopSignal(signal: string): this {
      this.createOpts.StopSignal = signal;
      return this;
    }
  }
  return new LabContainer(image);
}

async function dockerExec(c: ContainerRuntimeClient, id: string, cmd: string[]): Promise<ExecOutput> {
  const r = await c.container.exec(c.container.getById(id), cmd);
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

function validName(name: string): void {
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) {
    throw new Error(`bad lab name '${name}': use 1-41 of [a-z0-9-], starting with a letter or digit`);
  }
}

// ---------------------------------------------------------------------------------------------
// readiness

/** wait until systemd is up, sshd listens on 22 and the stand-in apiserver answers /readyz */
async function waitReady(c: ContainerRuntimeClient, host: LabHost, timeoutMs: number, log: (l: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ex = (cmd: string[]) => dockerExec(c, host.containerId, cmd);
  let state = '';
  for (;;) {
    // `--wait` blocks while systemd is starting; before D-Bus is up it fails at once: retry.
    // bounded: a systemd stuck in 'initializing' would block `--wait` forever
    const r = await ex(['timeout', '10', 'systemctl', 'is-system-running', '--wait']).catch((e: unknown) => ({
      code: -1,
      stdout: '',
      stderr: String(e),
    }));
    state = r.stdout.trim();
    if (state === 'running' || state === 'degraded') break;
    if (state === 'maintenance' || state === 'stopping' || Date.now() > deadline) {
      const failed = await ex(['systemctl', '--failed', '--no-legend', '--plain']).catch(() => undefined);
      const journal = await ex(['journalctl', '-b', '--no-pager', '-o', 'cat', '-n', '200']).catch(() => undefined);
      const inotify = journal?.stdout.includes('Failed to create inotify object')
        ? '; the kernel ran out of inotify instances (every systemd container holds some): sysctl -w fs.inotify.max_user_instances=1024 (scripts/ensure-docker.sh does it)'
        : '';
      throw new Error(
        `lab host ${host.name} (${host.address}): systemd is '${state || r.stderr.trim()}' after boot${inotify}` +
          (failed ? `; failed units:\n${failed.stdout}` : ''),
      );
    }
    await sleep(200);
  }
  if (state === 'degraded') {
    const failed = await ex(['systemctl', '--failed', '--no-legend', '--plain']);
    log(`lab host ${host.name}: systemd is degraded; failed units:\n${failed.stdout.trim()}`);
  }
  const probe = [
    'sh',
    '-c',
    'ss -Hltn "sport = :22" | grep -q . && curl -fsk --max-time 2 https://127.0.0.1:6443/readyz >/dev/null',
  ];
  for (;;) {
    const r = await ex(probe);
    if (r.code === 0) break;
    if (Date.now() > deadline) {
      const st = await ex(['systemctl', 'status', '--no-pager', 'ssh', 'kha-standin-apiserver']);
      throw new Error(`lab host ${host.name} (${host.address}): sshd or the stand-in apiserver is not up:\n${st.stdout}`);
    }
    await sleep(200);
  }
  // And from this process: kha will connect to exactly this address.
  const banner = await sshBanner(host.address, Math.max(2_000, deadline - Date.now()));
  if (!banner.startsWith('SSH-2.0')) {
    throw new Error(`lab host ${host.name}: ${host.address}:22 answered '${banner}' instead of an SSH banner`);
  }
}

function sshBanner(address: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: address, port: 22 });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no SSH banner from ${address}:22 within ${timeoutMs} ms (is the container network reachable from here?)`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      data += d;
      if (data.includes('\n')) {
        clearTimeout(timer);
        sock.destroy();
        resolve(data.split('\n')[0]!.trim());
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach ${address}:22 from this machine: ${e.message}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// apt cache seed

const SEED_IN = `set -e
seed=${APT_SEED_MOUNT}
[ -d "$seed/archives" ] && find "$seed/archives" -maxdepth 1 -name '*.deb' -exec cp -n -t /var/cache/apt/archives/ {} + || true
if [ -d "$seed/lists" ] && ! ls /var/lib/apt/lists/*_InRelease >/dev/null 2>&1; then
  find "$seed/lists" -maxdepth 1 -type f -exec cp -n -t /var/lib/apt/lists/ {} + || true
fi`;

const SEED_OUT = `set -e
seed=${APT_SEED_MOUNT}
mkdir -p "$seed/archives" "$seed/lists"
for f in /var/cache/apt/archives/*.deb; do
  [ -e "$f" ] || continue; b=$(basename "$f")
  [ -e "$seed/archives/$b" ] || { cp "$f" "$seed/archives/.$b.$$" && mv -f "$seed/archives/.$b.$$" "$seed/archives/$b"; }
done
for f in /var/lib/apt/lists/*; do
  [ -f "$f" ] || continue; b=$(basename "$f"); [ "$b" = lock ] && continue
  cp "$f" "$seed/lists/.$b.$$" && mv -f "$seed/lists/.$b.$$" "$seed/lists/$b"
done`;

// ---------------------------------------------------------------------------------------------
// up / down

interface LabState {
  kind: 'kha-lab';
  name: string;
  network: string;
  subnet: { base: string; prefix: number };
  gateway: string;
  vip: string;
  hosts: LabHost[];
  keyFile: string;
  knownHostsFile: string;
  user: 'root' | 'kha';
  aptCache?: string;
  /** labUp created stateDir (down removes it whole); else only the files labUp wrote go */
  createdStateDir: boolean;
}

async function createNetwork(c: ContainerRuntimeClient, name: string, netName: string, stateDir: string): Promise<{ subnet: Cidr; gateway: number }> {
  const d = c.container.dockerode;
  for (let attempt = 0; attempt < 8; attempt++) {
    const used: Cidr[] = [...hostNetworks()];
    for (const n of await d.listNetworks()) {
      for (const cfg of n.IPAM?.Config ?? []) {
        const s = cfg.Subnet ? parseCidr(cfg.Subnet) : undefined;
        if (s) used.push(s);
      }
    }
    // /24s inside 172.29.0.0/16, from a random start so concurrent labs rarely race for one
    const start = randomBytes(1)[0]!;
    let subnet: Cidr | undefined;
    for (let i = 0; i < 256 && !subnet; i++) {
      const cand = { base: ipToInt(`172.29.${(start + i) % 256}.0`), prefix: 24 };
      if (!used.some((u) => overlaps(u, cand))) subnet = cand;
    }
    if (!subnet) throw new Error('no free /24 left in 172.29.0.0/16 for a lab network');
    const gateway = subnet.base + 1;
    try {
      await d.createNetwork({
        Name: netName,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: `${intToIp(subnet.base)}/24`, Gateway: intToIp(gateway) }] },
        Labels: { [LAB_LABEL]: name, [STATE_LABEL]: stateDir },
      });
      return { subnet, gateway };
    } catch (err) {
      if (/overlap/i.test(String((err as Error).message))) continue; // another lab took it meanwhile
      throw err;
    }
  }
  throw new Error('could not create a lab network: every subnet tried overlapped another network');
}

export async function labUp(opts: LabUpOptions): Promise<Lab> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  validName(opts.name);
  const hostNames = typeof opts.hosts === 'number' ? Array.from({ length: opts.hosts }, (_, i) => `m${i + 1}`) : [...opts.hosts];
  if (hostNames.length < 1 || hostNames.length > 200) throw new Error(`a lab has 1..200 hosts, not ${hostNames.length}`);
  for (const h of hostNames) {
    if (!/^[a-z0-9][a-z0-9-]{0,20}$/.test(h)) throw new Error(`bad host name '${h}': use [a-z0-9-]`);
  }
  if (new Set(hostNames).size !== hostNames.length) throw new Error(`duplicate host names in ${hostNames.join(',')}`);
  if (!(await dockerAvailable())) throw new Error(NO_DOCKER_MESSAGE);

  const image = opts.image ?? (await ensureImage());
  const user = opts.user ?? 'root';
  const c = await client();
  const d = c.container.dockerode;
  const filter = { label: [`${LAB_LABEL}=${opts.name}`] };
  const existing = [...(await d.listContainers({ all: true, filters: filter })), ...(await d.listNetworks({ filters: filter }))];
  if (existing.length > 0) {
    throw new Error(`lab '${opts.name}' already exists (containers or network labelled ${LAB_LABEL}=${opts.name}): run labDown('${opts.name}') / kha lab down ${opts.name} first`);
  }

  const stateDir = path.resolve(opts.stateDir ?? path.join(process.cwd(), '.kha', 'lab', opts.name));
  const createdStateDir = !fs.existsSync(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const keyFile = path.join(stateDir, 'id_ed25519');
  const knownHostsFile = path.join(stateDir, 'known_hosts');
  const keys = parseableKeyPair(`kha-lab-${opts.name}`);
  fs.writeFileSync(keyFile, keys.private.endsWith('\n') ? keys.private : `${keys.private}\n`, { mode: 0o600 });
  fs.chmodSync(keyFile, 0o600);
  const publicKey = keys.public.trim();
  fs.writeFileSync(`${keyFile}.pub`, `${publicKey}\n`, { mode: 0o644 });
  const aptCache = opts.aptCache ? path.resolve(typeof opts.aptCache === 'string' ? opts.aptCache : DEFAULT_APT_CACHE_DIR) : undefined;
  if (aptCache) fs.mkdirSync(path.join(aptCache, 'archives'), { recursive: true });

  const netName = `${opts.name}-net`;
  let state: LabState | undefined;
  try {
    const { subnet, gateway } = await createNetwork(c, opts.name, netName, stateDir);
    const hosts: LabHost[] = hostNames.map((h, i) => ({ name: h, address: intToIp(subnet.base + 11 + i), containerId: '' }));

    const started = await Promise.allSettled(
      hosts.map(async (h) => {
        const ctr = (await labContainer(image))
          .withName(`${opts.name}-${h.name}`)
          .withHostname(h.name)
          .withLabels({ [LAB_LABEL]: opts.name, [HOST_LABEL]: h.name })
          .withNetworkMode(netName)
          .withStaticAddress(netName, h.address)
          .withStopSignal('SIGRTMIN+3')
          .withCommand(['/sbin/init'])
          .withAddedCapabilities('SYS_ADMIN', 'NET_ADMIN', 'NET_RAW')
          .withSecurityOpt('seccomp=unconfined')
          .withTmpFs({ '/run': 'rw', '/run/lock': 'rw' })
          .withBindMounts([
            { source: '/sys/fs/cgroup', target: '/sys/fs/cgroup', mode: 'rw' },
            ...(aptCache ? [{ source: aptCache, target: APT_SEED_MOUNT, mode: 'rw' as const }] : []),
          ])
          .withCopyContentToContainer([
            { content: `${publicKey}\n`, target: '/root/.ssh/authorized_keys', mode: 0o600 },
            { content: `${publicKey}\n`, target: '/home/kha/.ssh/authorized_keys', mode: 0o600 },
          ])
          .withStartupTimeout(60_000);
        const sc = await ctr.start();
        h.containerId = sc.getId();
      }),
    );
    const failed = started.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) throw new Error(`starting lab '${opts.name}' failed: ${failed.map((f) => String((f.reason as Error)?.message ?? f.reason)).join('; ')}`);

    const timeout = opts.readyTimeoutMs ?? 120_000;
    await Promise.all(
      hosts.map(async (h) => {
        // sshd reads authorized_keys as the user: the copied file is root's until we hand it over.
        await dockerExec(c, h.containerId, ['chown', '-R', 'kha:kha', '/home/kha/.ssh']);
        if (aptCache) await dockerExec(c, h.containerId, ['sh', '-c', SEED_IN]);
        await waitReady(c, h, timeout, log);
      }),
    );

    const hostKeys = await Promise.all(
      hosts.map(async (h) => {
        const r = await dockerExec(c, h.containerId, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
        const [type, key] = r.stdout.trim().split(/\s+/);
        if (r.code !== 0 || type !== 'ssh-ed25519' || !key) throw new Error(`lab host ${h.name}: no ed25519 host key (${r.stderr.trim()})`);
        return `${h.address} ${type} ${key}\n`;
      }),
    );
    fs.writeFileSync(knownHostsFile, hostKeys.join(''), { mode: 0o644 });

    // VIP: .250 or the highest free address below it, checked against what the engine reports.
    const info = await d.getNetwork(netName).inspect();
    const taken = new Set<number>([gateway, ...hosts.map((h) => ipToInt(h.address))]);
    for (const ep of Object.values((info.Containers ?? {}) as Record<string, { IPv4Address?: string }>)) {
      const a = ep.IPv4Address?.split('/')[0];
      if (a) taken.add(ipToInt(a));
    }
    let vipInt = subnet.base + 250;
    while (taken.has(vipInt) && vipInt > subnet.base + 2) vipInt--;
    if (taken.has(vipInt)) throw new Error(`no free VIP address in ${intToIp(subnet.base)}/24`);

    state = {
      kind: 'kha-lab',
      name: opts.name,
      network: netName,
      subnet: { base: intToIp(subnet.base), prefix: subnet.prefix },
      gateway: intToIp(gateway),
      vip: intToIp(vipInt),
      hosts,
      keyFile,
      knownHostsFile,
      user,
      ...(aptCache ? { aptCache } : {}),
      createdStateDir,
    };
    fs.writeFileSync(path.join(stateDir, 'lab.json'), `${JSON.stringify(state, null, 2)}\n`);
  } catch (err) {
    await labDown(opts.name, { stateDir }).catch((e: unknown) => log(`cleanup of lab '${opts.name}' failed: ${String(e)}`));
    throw err;
  }
  return makeLab(c, state, stateDir, publicKey, opts.readyTimeoutMs ?? 120_000, log);
}

function makeLab(c: ContainerRuntimeClient, s: LabState, stateDir: string, publicKey: string, timeout: number, log: (l: string) => void): Lab {
  const byName = (host: string): LabHost => {
    const h = s.hosts.find((x) => x.name === host);
    if (!h) throw new Error(`lab '${s.name}' has no host '${host}' (hosts: ${s.hosts.map((x) => x.name).join(', ')})`);
    return h;
  };
  const d = c.container.dockerode;
  const saveAptCache = async () => {
    if (!s.aptCache) return;
    await Promise.all(
      s.hosts.map(async (h) => {
        const st = await d.getContainer(h.containerId).inspect().catch(() => undefined);
        if (st?.State?.Running) await dockerExec(c, h.containerId, ['sh', '-c', SEED_OUT]);
      }),
    );
  };
  let downed = false;
  return {
    name: s.name,
    network: s.network,
    subnet: s.subnet,
    gateway: s.gateway,
    hosts: s.hosts,
    vip: s.vip,
    keyFile: s.keyFile,
    publicKey,
    knownHostsFile: s.knownHostsFile,
    stateDir,
    user: s.user,
    exec: (host, cmd) => dockerExec(c, byName(host).containerId, cmd),
    async stopHost(host) {
      await d.getContainer(byName(host).containerId).stop({ t: 10 }).catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 304) throw e; // 304: already stopped
      });
    },
    async startHost(host) {
      const h = byName(host);
      await d.getContainer(h.containerId).start().catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 304) throw e; // 304: already running
      });
      await waitReady(c, h, timeout, log);
    },
    saveAptCache,
    async down() {
      if (downed) return;
      downed = true;
      await saveAptCache().catch((e: unknown) => log(`lab '${s.name}': saving the apt cache failed: ${String(e)}`));
      await labDown(s.name, { stateDir });
    },
  };
}

/**
 * Removes every container and network labelled kha.lab=<name>, and the lab's state dir (the one
 * recorded on the network, or opts.stateDir) when it holds a lab.json of that lab (or nothing).
 */
export async function labDown(name: string, opts: { stateDir?: string } = {}): Promise<void> {
  validName(name);
  if (!(await dockerAvailable())) throw new Error(NO_DOCKER_MESSAGE);
  const c = await client();
  const d = c.container.dockerode;
  const filter = { label: [`${LAB_LABEL}=${name}`] };
  const containers = await d.listContainers({ all: true, filters: filter });
  await Promise.all(
    containers.map((ci) =>
      d
        .getContainer(ci.Id)
        .remove({ force: true, v: true })
        .catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 404) throw e;
        }),
    ),
  );
  const stateDirs = new Set<string>(opts.stateDir ? [opts.stateDir] : []);
  for (const n of await d.listNetworks({ filters: filter })) {
    const dir = n.Labels?.[STATE_LABEL];
    if (dir) stateDirs.add(dir);
    await d
      .getNetwork(n.Id)
      .remove()
      .catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 404) throw e;
      });
  }
  for (const dir of stateDirs) removeStateDir(dir, name);
}

const STATE_FILES = ['id_ed25519', 'id_ed25519.pub', 'known_hosts', 'lab.json'];

function removeStateDir(dir: string, name: string): void {
  if (!fs.existsSync(dir)) return;
  const marker = path.join(dir, 'lab.json');
  if (fs.existsSync(marker)) {
    let s: Partial<LabState> = {};
    try {
      s = JSON.parse(fs.readFileSync(marker, 'utf8')) as Partial<LabState>;
    } catch {
      return;
    }
    if (s.kind !== 'kha-lab' || s.name !== name) return; // not this lab's dir: leave it alone
    if (s.createdStateDir) {
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
  }
  // a dir that existed before labUp (or a labUp that failed before lab.json): only our files go
  for (const f of STATE_FILES) fs.rmSync(path.join(dir, f), { force: true });
  if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
}

/** Ansible-style YAML inventory of the lab: all.vars + children.masters.hosts.<name>.ansible_host */
export function writeLabInventory(
  lab: Lab,
  file: string,
  extra: {
    vars?: Record<string, unknown>;
    /** group -> host names (masters, loadbalancers, nodes...): hosts go under all.hosts, groups under all.children */
    groups?: Record<string, string[]>;
    /** the lab hosts in the inventory (default: every one) */
    hosts?: string[];
  } = {},
): void {
  const vars: Record<string, unknown> = {
    vip: lab.vip,
    ansible_user: lab.user,
    ansible_ssh_private_key_file: lab.keyFile,
    ansible_ssh_common_args: `-o UserKnownHostsFile=${lab.knownHostsFile} -o StrictHostKeyChecking=yes`,
    ...(lab.user === 'kha' ? { ansible_become: true, ansible_become_password: KHA_SUDO_PASSWORD } : {}),
    ...extra.vars,
  };
  const hosts: Record<string, { ansible_host: string }> = {};
  for (const h of lab.hosts) if (!extra.hosts || extra.hosts.includes(h.name)) hosts[h.name] = { ansible_host: h.address };
  const doc = extra.groups
    ? { all: { vars, hosts, children: Object.fromEntries(Object.entries(extra.groups).map(([g, members]) => [g, { hosts: Object.fromEntries(members.map((m) => [m, null])) }])) } }
    : { all: { vars, children: { masters: { hosts } } } };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `# kha lab '${lab.name}' (generated)\n${YAML.stringify(doc)}`);
}
