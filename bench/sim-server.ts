// The simulated fleet, in a child process of its own (forked by sim-client.ts) so that the memory
// and CPU measured in the parent are kha's alone. One fake SSH server (test/helpers/fake-ssh-server)
// per simulated host, each on its own 127.0.0.1 port with its own ed25519 host key: every host is
// a distinct address:port pair with its own known_hosts line and its own connection. Each exec
// is answered after `delayMs` with the canned output of sim-play.ts.
//
// IPC protocol (parent -> child): {type:'start', hosts, delayMs, authorizedKey}, {type:'stats'},
// {type:'close'}. Child -> parent: {type:'ready', hosts:[{port, hostKey}]}, {type:'stats', ...}.
import net from 'node:net';
import ssh2 from 'ssh2';
import { startFakeSshServer, type FakeSshServer } from '../test/helpers/fake-ssh-server.js';
import { withKeyObjects } from '../src/transport/ssh.js';
import { parseableKeyPair } from '../src/transport/keygen.js';
import { simAnswer, simAnswers } from './sim-play.js';

export interface SimStartMsg {
  type: 'start';
  hosts: number;
  delayMs: number;
  authorizedKey: string;
  /**
   * TCP_NODELAY on the fake hosts' sockets (default true). ssh2's Server writes the output, exit
   * status, EOF and close of a command as separate segments; with Nagle on, the last ones wait
   * for the client's delayed ACK (~40 ms), a stall OpenSSH's sshd does not have (it flushes them
   * together). Without this, the "10 ms per command" of the simulation would really be ~50 ms.
   */
  serverNoDelay?: boolean;
}

export interface SimServerStats {
  type: 'stats';
  /** per host: TCP connections that reached SSH, successful logins, execs */
  connections: number[];
  handshakes: number[];
  execs: number[];
  authFailures: number;
  unexpected: number;
  unexpectedSamples: string[];
  rssMB: number;
  maxRssMB: number;
  /** CPU time the fake fleet used since it was ready, ms */
  cpuMs: number;
}

export interface SimReadyMsg {
  type: 'ready';
  hosts: Array<{ port: number; hostKey: string }>;
}

const send = (m: unknown) => process.send?.(m);

async function start(msg: SimStartMsg): Promise<FakeSshServer[]> {
  if (msg.serverNoDelay !== false) {
    type Emit = (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean;
    const proto = net.Server.prototype as unknown as { emit: Emit };
    const emit = proto.emit;
    proto.emit = function (event, ...args) {
      if (event === 'connection') (args[0] as net.Socket).setNoDelay(true);
      return emit.call(this, event, ...args);
    };
  }
  let unexpected = 0;
  const samples: string[] = [];
  const servers: FakeSshServer[] = [];
  for (let i = 0; i < msg.hosts; i++) {
    const answers = simAnswers(i);
    const key = parseableKeyPair();
    // the host key as a real sshd holds it: loaded once, not re-parsed from PEM text on every
    // signature (ssh2's default; 0.6 ms of the fake host's CPU per handshake, see withKeyObjects)
    const parsed = ssh2.utils.parseKey(key.private) as ssh2.ParsedKey;
    servers.push(
      await startFakeSshServer({
        hostKeys: [{ key: withKeyObjects(parsed) }],
        authorizedKey: msg.authorizedKey,
        username: 'root',
        delayMs: msg.delayMs,
        handler: (command) => {
          const a = simAnswer(answers, command);
          if (a) return a;
          unexpected++;
          if (samples.length < 5) samples.push(command.slice(0, 300));
          return { code: 127, stdout: '', stderr: `sim: unexpected command: ${command.slice(0, 200)}` };
        },
      }),
    );
  }
  const cpu0 = process.cpuUsage();
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      const st: SimServerStats = {
        type: 'stats',
        connections: servers.map((s) => s.stats.connections),
        handshakes: servers.map((s) => s.stats.handshakes),
        execs: servers.map((s) => s.stats.execs),
        authFailures: servers.reduce((n, s) => n + s.stats.authFailures, 0),
        unexpected,
        unexpectedSamples: samples,
        rssMB: process.memoryUsage().rss / 2 ** 20,
        maxRssMB: process.resourceUsage().maxRSS / 1024,
        cpuMs: Math.round(((c) => (c.user + c.system) / 1000)(process.cpuUsage(cpu0))),
      };
      send(st);
    }
  });
  return servers;
}

process.once('message', (m: SimStartMsg) => {
  if (m.type !== 'start') return;
  start(m).then(
    (servers) => {
      const ready: SimReadyMsg = { type: 'ready', hosts: servers.map((s) => ({ port: s.port, hostKey: s.hostKeyPublic })) };
      send(ready);
      process.on('message', (x: { type: string }) => {
        if (x.type === 'close') {
          // the fake server's stats keep every command string: no need to drain, just go
          void Promise.allSettled(servers.map((s) => s.close())).finally(() => process.exit(0));
          setTimeout(() => process.exit(0), 2000).unref();
        }
      });
    },
    (err: unknown) => {
      process.stderr.write(`sim-server: ${String((err as Error)?.stack ?? err)}\n`);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
