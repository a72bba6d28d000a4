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

/**
 * What the renderers need of a host's place on the VRRP network: its interface and its own
 * address there. kha up finds both from facts (preflight); kha render takes them from flags or
 * the inventory, without connecting.
 */
export type VrrpPlace = Pick<HostNet, 'iface' | 'address'>;
