// A load-balancer host's place on the VRRP network, found from its facts by preflight.
export interface HostNet {
  /** the VRRP interface */
  iface: string;
  /** the host's own address on that interface (never the VIP) */
  address: string;
  prefix: number;
  /** the host holds the VIP right now */
  holdsVip: boolean;
}
