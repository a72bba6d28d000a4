// The lab's shapes and constants: what a lab is (Lab, LabHost), how it is asked for (LabUpOptions),
// and what is written to <stateDir>/lab.json (LabState) so that any process can take it down.
import os from 'node:os';
import path from 'node:path';

export const LAB_LABEL = 'kha.lab';
export const STATE_LABEL = 'kha.lab.state';
export const HOST_LABEL = 'kha.lab.host';
export const DEFAULT_IMAGE = 'kha-host:1';
/** the same host with keepalived and haproxy preinstalled (docker/ready.Dockerfile) */
export const DEFAULT_READY_IMAGE = 'kha-host-ready:1';
/** the sudo password of the image's non-root user `kha` */
export const KHA_SUDO_PASSWORD = 'kha-sudo-pw';
/** default host directory of the shared apt archive seed (option aptCache) */
export const DEFAULT_APT_CACHE_DIR = path.join(os.tmpdir(), 'kha-apt-cache');
export const APT_SEED_MOUNT = '/var/cache/kha-apt-seed';

export const NO_DOCKER_MESSAGE = 'no Docker engine answers (docker info failed): start one (see README: bash scripts/ensure-docker.sh) and retry';

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
  /**
   * The host's local IPv4 addresses (what `ip -o -4 addr show` lists), read from this machine's
   * /proc without a docker exec (src/lab/netns.ts); falls back to exec where /proc is not readable.
   * Throws when the host is not running.
   */
  ipv4Addresses(host: string): Promise<Set<string>>;
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
  /**
   * The Debian release of the hosts, one for all or per host name (others: bookworm): bullseye
   * (11), bookworm (12) or trixie (13). Images kha-host:<release>, built on demand. Not with `image`.
   */
  release?: 'bullseye' | 'bookworm' | 'trixie' | Record<string, 'bullseye' | 'bookworm' | 'trixie'>;
  /**
   * Hosts that start with keepalived and haproxy already installed (KHA_READY_IMAGE or
   * kha-host-ready:1, docker/ready.Dockerfile): true for every host, or a list of host names.
   * For tests that are not about installing; the demo and `kha lab up` use plain hosts.
   */
  preinstalled?: boolean | string[];
  user?: 'root' | 'kha';
  /**
   * Reissue each stand-in apiserver's certificate with the VIP among its names, as kubeadm's
   * apiServer.certSANs does on a real cluster (default false: a host's own names only, as
   * `kubeadm init` without --apiserver-cert-extra-sans). `kha lab up` turns it on.
   */
  vipInCertificates?: boolean;
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

/** <stateDir>/lab.json */
export interface LabState {
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
