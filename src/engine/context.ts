// The run context: everything a run needs, passed explicitly (no module-level state).
import type { Inventory, InventoryHost } from '../inventory/types.js';
import type { Connection } from '../transport/types.js';
import type { Facts } from '../facts/types.js';
import type { EventBus } from './events.js';
import type { HostContext, HostRecap } from './types.js';
import { gatherFacts } from '../facts/gather.js';
import { TransportError, describeError } from '../errors.js';

/** Opens (once) and returns the connection of a host. The SSH pool implements it; tests fake it. */
export interface Connector {
  get(host: InventoryHost): Promise<Connection>;
  closeAll(): Promise<void>;
  readonly handshakes: number;
}

export interface RunOptions {
  check: boolean;
  diff: boolean;
  forks: number;
  signal: AbortSignal;
}

export class RunContext {
  readonly facts = new Map<string, Facts>();
  /** host -> why it is unreachable; such hosts are skipped by every later play */
  readonly unreachable = new Map<string, string>();
  /** host -> first failure; such hosts are skipped by every later play */
  readonly failed = new Map<string, string>();
  /** host -> handler names notified and not yet run */
  readonly notified = new Map<string, Set<string>>();
  readonly recap = new Map<string, HostRecap>();
  /** host -> how many times kha may have changed it in this run (see generation) */
  private readonly generations = new Map<string, number>();
  private factsInFlight = new Map<string, Promise<Facts>>();

  constructor(
    readonly inventory: Inventory,
    readonly connector: Connector,
    readonly events: EventBus,
    readonly opts: RunOptions,
  ) {
    for (const h of inventory.hosts) {
      this.recap.set(h.name, { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 });
    }
  }

  get check(): boolean {
    return this.opts.check;
  }

  host(name: string): InventoryHost {
    const h = this.inventory.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`unknown host ${name}`);
    return h;
  }

  /** Is the host still in the run (neither failed nor unreachable)? */
  alive(name: string): boolean {
    return !this.failed.has(name) && !this.unreachable.has(name);
  }

  count(host: string, status: keyof HostRecap): void {
    const r = this.recap.get(host);
    if (r) r[status]++;
  }

  /**
   * Moves each time kha may change the host: before a task's apply, and after a batch hook (which
   * may change any host). An earlier plan's probe results hold while it stays the same (Play.probed).
   */
  generation(host: string): number {
    return this.generations.get(host) ?? 0;
  }

  touched(host: string): void {
    this.generations.set(host, this.generation(host) + 1);
  }

  markUnreachable(host: string, err: unknown): void {
    if (!this.unreachable.has(host)) {
      this.unreachable.set(host, describeError(err));
      this.count(host, 'unreachable');
    }
  }

  markFailed(host: string, why: string): void {
    if (!this.failed.has(host)) this.failed.set(host, why);
  }

  /** Connect and gather facts once per host per run. */
  async facts0(name: string, refresh = false): Promise<Facts> {
    if (!refresh) {
      const known = this.facts.get(name);
      if (known) return known;
      const inflight = this.factsInFlight.get(name);
      if (inflight) return inflight;
    }
    const p = (async () => {
      const conn = await this.connector.get(this.host(name));
      const f = await gatherFacts(conn);
      this.facts.set(name, f);
      return f;
    })();
    this.factsInFlight.set(name, p);
    try {
      return await p;
    } finally {
      this.factsInFlight.delete(name);
    }
  }

  async hostContext(name: string): Promise<HostContext> {
    const host = this.host(name);
    const conn = await this.connector.get(host);
    const facts = await this.facts0(name);
    const factsCurrent = (this.recap.get(name)?.changed ?? 1) === 0;
    return { host, conn, facts, check: this.opts.check, diff: this.opts.diff, signal: this.opts.signal, factsCurrent };
  }

  notify(host: string, handlers: string[]): void {
    let s = this.notified.get(host);
    if (!s) this.notified.set(host, (s = new Set()));
    for (const h of handlers) s.add(h);
  }
}

export function isTransportError(err: unknown): boolean {
  return err instanceof TransportError;
}
