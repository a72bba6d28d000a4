// Bench-only stand-ins for proposed src changes, so a change can be measured before anyone writes
// it. They patch library prototypes in the benchmark's own process and can be undone.
import ssh2 from 'ssh2';

/**
 * TCP_NODELAY on every ssh2 client socket (kha's ssh.ts leaves Nagle on). Proposed src change:
 * `client.setNoDelay(true)` right after `client.connect(config)` in src/transport/ssh.ts.
 * Returns the undo.
 */
export function patchSsh2NoDelay(): () => void {
  const proto = ssh2.Client.prototype as unknown as { connect(cfg: unknown): unknown; setNoDelay(v: boolean): void };
  const connect = proto.connect;
  proto.connect = function (this: typeof proto, cfg: unknown) {
    const r = connect.call(this, cfg);
    this.setNoDelay(true);
    return r;
  };
  return () => {
    proto.connect = connect;
  };
}

export const EXPERIMENTS = { nodelay: patchSsh2NoDelay } as const;
export type ExperimentName = keyof typeof EXPERIMENTS;
