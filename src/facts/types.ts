// Facts are gathered once per host per run, in one command (one round trip).

export interface InterfaceFact {
  name: string;
  /** IPv4 addresses with prefix, e.g. { address: '172.18.0.2', prefix: 16 } */
  ipv4: Array<{ address: string; prefix: number }>;
  up: boolean;
}

export interface Facts {
  hostname: string;
  os: { id: string; idLike: string[]; versionId: string; prettyName: string };
  /** 'apt' | 'dnf' | 'yum' | null (unsupported) */
  pkgMgr: 'apt' | 'dnf' | 'yum' | null;
  systemd: boolean;
  interfaces: InterfaceFact[];
  /** installed package versions that kha cares about, keyed by package name */
  packages: Record<string, string>;
  /**
   * apt's candidate version of each of those packages that is not installed (apt-cache policy;
   * absent without package lists or apt): what an install would put there
   */
  candidates?: Record<string, string>;
  /** systemd units: active state and enabled state */
  services: Record<string, { active: string; enabled: string }>;
  /** TCP ports listening on this host (any address) with the owning process name when known */
  listening: Array<{ address: string; port: number; process?: string }>;
  /** sha256 of files kha manages, null when absent */
  files: Record<string, string | null>;
  /** uid of the login user (0 = root) */
  uid: number;
}
