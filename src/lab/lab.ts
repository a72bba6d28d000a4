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
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerRuntimeClient } from 'testcontainers';
import { intToIp, ipToInt } from '../net/ipv4.js';
import { parseableKeyPair } from '../transport/keygen.js';
import { SEED_IN, SEED_OUT } from './apt-cache.js';
import { client, dockerExec, labContainer, validName } from './docker.js';
import { DEFAULT_LAB_RELEASE, LAB_RELEASES, dockerAvailable, ensureImage, type LabRelease } from './image.js';
import { createNetwork } from './network.js';
import { localAddresses } from './netns.js';
import { waitReady } from './ready.js';
import {
  APT_SEED_MOUNT,
  DEFAULT_APT_CACHE_DIR,
  HOST_LABEL,
  LAB_LABEL,
  NO_DOCKER_MESSAGE,
  STATE_LABEL,
  type Lab,
  type LabHost,
  type LabState,
  type LabUpOptions,
} from './types.js';

export { LAB_RELEASES, dockerAvailable, dockerDir, ensureImage, type LabRelease } from './image.js';
export { writeLabInventory } from './inventory.js';
export {
  DEFAULT_APT_CACHE_DIR,
  DEFAULT_IMAGE,
  DEFAULT_READY_IMAGE,
  KHA_SUDO_PASSWORD,
  LAB_LABEL,
  NO_DOCKER_MESSAGE,
  type ExecOutput,
  type Lab,
  type LabHost,
  type LabUpOptions,
} from './types.js';

/** host names from a count (m1..mN) or a list, checked */
function hostNamesOf(opts: LabUpOptions): string[] {
  const names = typeof opts.hosts === 'number' ? Array.from({ length: opts.hosts }, (_, i) => `m${i + 1}`) : [...opts.hosts];
  if (names.length < 1 || names.length > 200) throw new Error(`a lab has 1..200 hosts, not ${names.length}`);
  for (const h of names) {
    if (!/^[a-z0-9][a-z0-9-]{0,20}$/.test(h)) throw new Error(`bad host name '${h}': use [a-z0-9-]`);
  }
  if (new Set(names).size !== names.length) throw new Error(`duplicate host names in ${names.join(',')}`);
  return names;
}

/** each host's image: the preinstalled one for the hosts opts.preinstalled names, else the plain one */
async function imagesOf(opts: LabUpOptions, names: string[]): Promise<{ imageOf: (host: string) => string; preinstalled: (host: string) => boolean }> {
  const rel = opts.release;
  if (rel !== undefined && opts.image !== undefined) throw new Error('a lab takes image or release, not both');
  const releaseOf = (host: string): LabRelease => (typeof rel === 'string' ? rel : (rel?.[host] ?? DEFAULT_LAB_RELEASE));
  if (rel !== undefined) {
    for (const [h, r] of typeof rel === 'string' ? names.map((n) => [n, rel] as const) : Object.entries(rel)) {
      if (!names.includes(h)) throw new Error(`release: '${h}' is not a host of this lab (${names.join(', ')})`);
      if (!(LAB_RELEASES as readonly string[]).includes(r)) throw new Error(`release: '${r}' for ${h} is not one of ${LAB_RELEASES.join(', ')}`);
    }
  }
  const pre = opts.preinstalled;
  const preHosts = new Set(pre === true ? names : Array.isArray(pre) ? pre : []);
  for (const h of preHosts) if (!names.includes(h)) throw new Error(`preinstalled: '${h}' is not a host of this lab (${names.join(', ')})`);
  // one image per (kind, release) in use, built one after another (build-image.sh takes a lock anyway)
  const images = new Map<string, string>();
  const preinstalled = (host: string) => preHosts.has(host);
  const kindOf = (host: string) => (preinstalled(host) ? 'ready' : 'plain') as 'plain' | 'ready';
  for (const h of names) {
    const key = `${kindOf(h)}:${releaseOf(h)}`;
    if (images.has(key)) continue;
    images.set(key, opts.image !== undefined && kindOf(h) === 'plain' ? opts.image : await ensureImage(kindOf(h), releaseOf(h)));
  }
  return { imageOf: (host) => images.get(`${kindOf(host)}:${releaseOf(host)}`)!, preinstalled };
}

async function refuseExisting(c: ContainerRuntimeClient, name: string): Promise<void> {
  const d = c.container.dockerode;
  const filter = { label: [`${LAB_LABEL}=${name}`] };
  const existing = [...(await d.listContainers({ all: true, filters: filter })), ...(await d.listNetworks({ filters: filter }))];
  if (existing.length > 0) {
    throw new Error(`lab '${name}' already exists (containers or network labelled ${LAB_LABEL}=${name}): run labDown('${name}') / kha lab down ${name} first`);
  }
}

/** the state dir with a fresh ed25519 key pair in it */
function prepareStateDir(opts: LabUpOptions): { stateDir: string; createdStateDir: boolean; keyFile: string; publicKey: string } {
  const stateDir = path.resolve(opts.stateDir ?? path.join(process.cwd(), '.kha', 'lab', opts.name));
  const createdStateDir = !fs.existsSync(stateDir);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const keyFile = path.join(stateDir, 'id_ed25519');
  const keys = parseableKeyPair(`kha-lab-${opts.name}`);
  fs.writeFileSync(keyFile, keys.private.endsWith('\n') ? keys.private : `${keys.private}\n`, { mode: 0o600 });
  fs.chmodSync(keyFile, 0o600);
  const publicKey = keys.public.trim();
  fs.writeFileSync(`${keyFile}.pub`, `${publicKey}\n`, { mode: 0o644 });
  return { stateDir, createdStateDir, keyFile, publicKey };
}

interface HostSpec {
  lab: string;
  netName: string;
  image: string;
  publicKey: string;
  aptCache: string | undefined;
}

async function startHost(h: LabHost, o: HostSpec): Promise<void> {
  const ctr = (await labContainer(o.image))
    .withName(`${o.lab}-${h.name}`)
    .withHostname(h.name)
    .withLabels({ [LAB_LABEL]: o.lab, [HOST_LABEL]: h.name })
    .withNetworkMode(o.netName)
    .withStaticAddress(o.netName, h.address)
    .withStopSignal('SIGRTMIN+3')
    .withCommand(['/sbin/init'])
    .withAddedCapabilities('SYS_ADMIN', 'NET_ADMIN', 'NET_RAW')
    .withSecurityOpt('seccomp=unconfined')
    .withTmpFs({ '/run': 'rw', '/run/lock': 'rw' })
    .withBindMounts([
      { source: '/sys/fs/cgroup', target: '/sys/fs/cgroup', mode: 'rw' },
      ...(o.aptCache ? [{ source: o.aptCache, target: APT_SEED_MOUNT, mode: 'rw' as const }] : []),
    ])
    .withCopyContentToContainer([
      { content: `${o.publicKey}\n`, target: '/root/.ssh/authorized_keys', mode: 0o600 },
      { content: `${o.publicKey}\n`, target: '/home/kha/.ssh/authorized_keys', mode: 0o600 },
    ])
    .withStartupTimeout(60_000);
  h.containerId = (await ctr.start()).getId();
}

/** After boot: hand over kha's keys, seed apt, wait until ready; preinstalled units stopped. */
async function settleHost(
  c: ContainerRuntimeClient,
  h: LabHost,
  o: { aptCache: string | undefined; preinstalled: boolean; timeout: number; log: (l: string) => void },
): Promise<void> {
  // sshd reads authorized_keys as the user: the copied file is root's until we hand it over.
  await dockerExec(c, h.containerId, ['chown', '-R', 'kha:kha', '/home/kha/.ssh']);
  if (o.aptCache) await dockerExec(c, h.containerId, ['sh', '-c', SEED_IN]);
  await waitReady(c, h, o.timeout, o.log);
  // preinstalled: enabled and stopped, as kha's own install leaves them (docker/ready.Dockerfile)
  if (o.preinstalled) await dockerExec(c, h.containerId, ['systemctl', 'stop', 'haproxy.service', 'keepalived.service']);
}

/** `<address> ssh-ed25519 <key>` lines, read from each host after boot */
async function hostKeyLines(c: ContainerRuntimeClient, hosts: LabHost[]): Promise<string> {
  const lines = await Promise.all(
    hosts.map(async (h) => {
      const r = await dockerExec(c, h.containerId, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
      const [type, key] = r.stdout.trim().split(/\s+/);
      if (r.code !== 0 || type !== 'ssh-ed25519' || !key) throw new Error(`lab host ${h.name}: no ed25519 host key (${r.stderr.trim()})`);
      return `${h.address} ${type} ${key}\n`;
    }),
  );
  return lines.join('');
}

/** The stand-in apiserver's certificate again, with the VIP as an extra SAN (docker/standin-cert.sh). */
async function reissueCertificate(c: ContainerRuntimeClient, h: LabHost, vip: string, timeout: number, log: (l: string) => void): Promise<void> {
  const script = `echo IP:${vip} > /etc/kha-standin/extra-sans && rm -f /etc/kha-standin/tls.crt && systemctl restart kha-standin-apiserver.service`;
  const r = await dockerExec(c, h.containerId, ['sh', '-c', script]);
  if (r.code !== 0) throw new Error(`lab host ${h.name}: reissuing the stand-in certificate with the VIP failed: ${r.stderr.trim()}`);
  await waitReady(c, h, timeout, log);
}

/** VIP: .250 or the highest free address below it, checked against what the engine reports. */
async function pickVip(c: ContainerRuntimeClient, netName: string, base: number, taken: Set<number>): Promise<string> {
  const info = await c.container.dockerode.getNetwork(netName).inspect();
  for (const ep of Object.values((info.Containers ?? {}) as Record<string, { IPv4Address?: string }>)) {
    const a = ep.IPv4Address?.split('/')[0];
    if (a) taken.add(ipToInt(a));
  }
  let vip = base + 250;
  while (taken.has(vip) && vip > base + 2) vip--;
  if (taken.has(vip)) throw new Error(`no free VIP address in ${intToIp(base)}/24`);
  return intToIp(vip);
}

export async function labUp(opts: LabUpOptions): Promise<Lab> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  validName(opts.name);
  const hostNames = hostNamesOf(opts);
  if (!(await dockerAvailable())) throw new Error(NO_DOCKER_MESSAGE);
  const { imageOf, preinstalled } = await imagesOf(opts, hostNames);
  const c = await client();
  await refuseExisting(c, opts.name);

  const { stateDir, createdStateDir, keyFile, publicKey } = prepareStateDir(opts);
  const knownHostsFile = path.join(stateDir, 'known_hosts');
  const aptCache = opts.aptCache ? path.resolve(typeof opts.aptCache === 'string' ? opts.aptCache : DEFAULT_APT_CACHE_DIR) : undefined;
  if (aptCache) fs.mkdirSync(path.join(aptCache, 'archives'), { recursive: true });
  const netName = `${opts.name}-net`;
  const timeout = opts.readyTimeoutMs ?? 120_000;
  let state: LabState;
  try {
    const { subnet, gateway } = await createNetwork(c, opts.name, netName, stateDir);
    const hosts: LabHost[] = hostNames.map((h, i) => ({ name: h, address: intToIp(subnet.base + 11 + i), containerId: '' }));
    const started = await Promise.allSettled(hosts.map((h) => startHost(h, { lab: opts.name, netName, image: imageOf(h.name), publicKey, aptCache })));
    const failed = started.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0)
      throw new Error(`starting lab '${opts.name}' failed: ${failed.map((f) => String((f.reason as Error)?.message ?? f.reason)).join('; ')}`);
    await Promise.all(hosts.map((h) => settleHost(c, h, { aptCache, preinstalled: preinstalled(h.name), timeout, log })));
    fs.writeFileSync(knownHostsFile, await hostKeyLines(c, hosts), { mode: 0o644 });
    const vip = await pickVip(c, netName, subnet.base, new Set([gateway, ...hosts.map((h) => ipToInt(h.address))]));
    if (opts.vipInCertificates) await Promise.all(hosts.map((h) => reissueCertificate(c, h, vip, timeout, log)));
    state = {
      kind: 'kha-lab',
      name: opts.name,
      network: netName,
      subnet: { base: intToIp(subnet.base), prefix: subnet.prefix },
      gateway: intToIp(gateway),
      vip,
      hosts,
      keyFile,
      knownHostsFile,
      user: opts.user ?? 'root',
      ...(aptCache ? { aptCache } : {}),
      createdStateDir,
    };
    fs.writeFileSync(path.join(stateDir, 'lab.json'), `${JSON.stringify(state, null, 2)}\n`);
  } catch (err) {
    await labDown(opts.name, { stateDir }).catch((e: unknown) => log(`cleanup of lab '${opts.name}' failed: ${String(e)}`));
    throw err;
  }
  return makeLab(c, state, stateDir, publicKey, timeout, log);
}

function makeLab(c: ContainerRuntimeClient, s: LabState, stateDir: string, publicKey: string, timeout: number, log: (l: string) => void): Lab {
  const d = c.container.dockerode;
  const addresses = addressReader(c);
  const byName = hostByName(s);
  const saveAptCache = () => saveLabAptCache(c, s);
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
    ipv4Addresses: (host) => addresses.read(byName(host)),
    async stopHost(host) {
      addresses.forget(host);
      await ignoring(304, d.getContainer(byName(host).containerId).stop({ t: 10 })); // 304: already stopped
    },
    async startHost(host) {
      addresses.forget(host);
      const h = byName(host);
      await ignoring(304, d.getContainer(h.containerId).start()); // 304: already running
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

/** Docker's answer, or nothing when it failed with `status` (304: already in that state; 404: already gone). */
async function ignoring(status: number, p: Promise<unknown>): Promise<void> {
  await p.catch((e: { statusCode?: number }) => {
    if (e.statusCode !== status) throw e;
  });
}

function hostByName(s: LabState): (host: string) => LabHost {
  return (host) => {
    const h = s.hosts.find((x) => x.name === host);
    if (!h) throw new Error(`lab '${s.name}' has no host '${host}' (hosts: ${s.hosts.map((x) => x.name).join(', ')})`);
    return h;
  };
}

/**
 * A lab host's IPv4 addresses, from /proc/<pid>/net of its container's init (the pid remembered
 * until the host stops or starts: forget), else from `ip` inside the container.
 */
function addressReader(c: ContainerRuntimeClient): { read(h: LabHost): Promise<Set<string>>; forget(host: string): void } {
  const pids = new Map<string, number>();
  const pidOf = async (h: LabHost): Promise<number> => {
    let pid = pids.get(h.name);
    if (pid === undefined) {
      const st = await c.container.dockerode.getContainer(h.containerId).inspect();
      if (!st.State?.Running || !st.State.Pid) throw new Error(`lab host ${h.name} is not running`);
      pid = st.State.Pid;
      pids.set(h.name, pid);
    }
    return pid;
  };
  return {
    async read(h) {
      const pid = await pidOf(h);
      try {
        return await localAddresses(pid);
      } catch {
        pids.delete(h.name);
        const r = await dockerExec(c, h.containerId, ['ip', '-o', '-4', 'addr', 'show']);
        if (r.code !== 0) throw new Error(`${h.name}: ip -o -4 addr show -> exit ${r.code}: ${r.stderr.trim()}`);
        return new Set([...r.stdout.matchAll(/ inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!));
      }
    },
    forget: (host) => void pids.delete(host),
  };
}

/** Copy the running hosts' downloaded packages back to the lab's apt cache (when it has one). */
async function saveLabAptCache(c: ContainerRuntimeClient, s: LabState): Promise<void> {
  if (!s.aptCache) return;
  const d = c.container.dockerode;
  await Promise.all(
    s.hosts.map(async (h) => {
      const st = await d
        .getContainer(h.containerId)
        .inspect()
        .catch(() => undefined);
      if (st?.State?.Running) await dockerExec(c, h.containerId, ['sh', '-c', SEED_OUT]);
    }),
  );
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
