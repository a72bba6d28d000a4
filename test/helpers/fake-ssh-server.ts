// An in-process SSH server on 127.0.0.1 (random port) for transport tests and benchmarks.
// Commands run through a canned `handler`, or (default) by spawning `sh -c <command>` locally
// with streamed stdin/stdout/stderr. SFTP supports what upload needs (OPEN/WRITE/CLOSE/SETSTAT/
// FSETSTAT/REMOVE), into an in-memory map (default) or the local filesystem (`sftp: 'fs'`).
// With `forward: true` it is also a jump host: `direct-tcpip` channels (ssh -J, forwardOut) are
// piped to the address and port asked for (loopback only, in tests).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Algorithms, Connection as ServerClient, ParsedKey } from 'ssh2';
import { parseableKeyPair } from '../../src/transport/keygen.js';

const { Server, utils } = ssh2;
const { STATUS_CODE, flagsToString } = utils.sftp;

export interface FakeExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface FakeSshServerOptions {
  /** private host keys (OpenSSH/PEM text); default: one fresh ed25519 key */
  hostKeys?: Array<string | Buffer | { key: ParsedKey }>;
  /** OpenSSH public key line accepted for publickey auth */
  authorizedKey?: string;
  /** password accepted for password auth */
  password?: string;
  /** when set, only this user name may log in */
  username?: string;
  /** canned responder; without it commands run as `sh -c <command>` on this machine */
  handler?: (command: string, stdin: Buffer) => Promise<FakeExecResult> | FakeExecResult;
  /** delay before each exec starts (simulated latency) */
  delayMs?: number;
  /** environment for spawned commands (default: process.env) */
  env?: NodeJS.ProcessEnv;
  /** where SFTP writes go: an in-memory map (default) or the local filesystem */
  sftp?: 'memory' | 'fs';
  /** fault: the host vanishes (its TCP connection is destroyed) when an SFTP WRITE arrives */
  dropOnSftpWrite?: boolean;
  /** the algorithms the server offers (ssh2's defaults otherwise), e.g. an old sshd's SHA-1 only */
  algorithms?: Algorithms;
  /**
   * act as a jump host: accept `direct-tcpip` channels and pipe each to destIP:destPort (a TCP
   * connect that fails rejects the channel, as sshd does). Off: such channels are refused
   * (administratively prohibited, as with AllowTcpForwarding no). 'hang': asked channels are
   * never answered (a bastion whose own connect to the target never completes).
   */
  forward?: boolean | 'hang';
}

export interface FakeSshServer {
  port: number;
  /** `ssh-ed25519 AAAA...` of the first host key */
  hostKeyPublic: string;
  stats: {
    /** TCP connections that reached the SSH layer (one per connect attempt) */
    connections: number;
    /** successful logins */
    handshakes: number;
    /** client connections that have closed */
    disconnects: number;
    authFailures: number;
    execs: number;
    /** every exec command string as received */
    commands: string[];
    /** user names that logged in */
    users: string[];
    /** `address:port` of every direct-tcpip channel asked for (forward: true), in order */
    forwards: string[];
  };
  /** in-memory SFTP files (sftp: 'memory') */
  files: Map<string, { data: Buffer; mode: number }>;
  /** end every client connection; the server keeps accepting new ones (a dropped link, not a dead host) */
  dropConnections(): void;
  close(): Promise<void>;
}

function publicLine(key: ParsedKey): string {
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function parse(text: string | Buffer): ParsedKey {
  const k = utils.parseKey(text);
  if (k instanceof Error) throw k;
  return Array.isArray(k) ? (k[0] as ParsedKey) : k;
}

export async function startFakeSshServer(opts: FakeSshServerOptions = {}): Promise<FakeSshServer> {
  const generated = parseableKeyPair();
  const hostKeys = opts.hostKeys ?? [generated.private];
  const first = hostKeys[0]!;
  const hostKeyPublic = publicLine(typeof first === 'string' || Buffer.isBuffer(first) ? parse(first) : first.key);
  const allowed = opts.authorizedKey ? parse(opts.authorizedKey) : undefined;
  const stats: FakeSshServer['stats'] = { connections: 0, handshakes: 0, disconnects: 0, authFailures: 0, execs: 0, commands: [], users: [], forwards: [] };
  const piped = new Set<net.Socket>();
  const files = new Map<string, { data: Buffer; mode: number }>();
  const clients = new Set<ServerClient>();
  const methods = [...(allowed ? ['publickey'] : []), ...(opts.password !== undefined ? ['password'] : [])] as Array<'publickey' | 'password'>;

  const server = new Server({ hostKeys, ...(opts.algorithms ? { algorithms: opts.algorithms } : {}) }, (client) => {
    stats.connections++;
    clients.add(client);
    client.on('close', () => {
      clients.delete(client);
      stats.disconnects++;
    });
    client.on('error', () => {});
    let user = '';
    client.on('authentication', (ctx) => {
      user = ctx.username;
      const reject = () => {
        if (ctx.method !== 'none') stats.authFailures++;
        ctx.reject(methods);
      };
      if (opts.username !== undefined && ctx.username !== opts.username) return reject();
      if (ctx.method === 'password' && opts.password !== undefined) {
        return sameBytes(Buffer.from(ctx.password), Buffer.from(opts.password)) ? ctx.accept() : reject();
      }
      if (ctx.method === 'publickey' && allowed) {
        if (ctx.key.algo !== allowed.type || !sameBytes(ctx.key.data, allowed.getPublicSSH())) return reject();
        if (!ctx.signature) return ctx.accept(); // "would this key be accepted?" query
        return allowed.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo) === true ? ctx.accept() : reject();
      }
      reject();
    });
    client.on('ready', () => {
      stats.handshakes++;
      stats.users.push(user);
      if (opts.forward) {
        client.on('tcpip', (accept, rejectChannel, info) => {
          stats.forwards.push(`${info.destIP}:${info.destPort}`);
          if (opts.forward === 'hang') return;
          const sock = net.connect(info.destPort, info.destIP);
          piped.add(sock);
          sock.once('close', () => piped.delete(sock));
          sock.once('error', () => rejectChannel());
          sock.once('connect', () => {
            const channel = accept();
            sock.removeAllListeners('error');
            sock.on('error', () => channel.destroy());
            channel.on('error', () => sock.destroy());
            channel.pipe(sock).pipe(channel);
          });
        });
      }
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        let kill: (() => void) | undefined;
        session.on('signal', (accept, _reject, info) => {
          accept?.();
          if (info.name === 'KILL' || info.name === 'TERM') kill?.();
        });
        session.on('exec', (accept, _reject, info) => {
          const stream = accept();
          stats.execs++;
          stats.commands.push(info.command);
          const start = () => {
            if (opts.handler) {
              const handler = opts.handler;
              const input: Buffer[] = [];
              stream.on('data', (d: Buffer) => input.push(d));
              stream.once('end', () => {
                Promise.resolve()
                  .then(() => handler(info.command, Buffer.concat(input)))
                  .then(
                    (r) => {
                      if (r.stdout) stream.write(r.stdout);
                      if (r.stderr) stream.stderr.write(r.stderr);
                      stream.exit(r.code);
                      stream.end();
                    },
                    (e: Error) => {
                      stream.stderr.write(String(e.message));
                      stream.exit(255);
                      stream.end();
                    },
                  );
              });
              return;
            }
            const child = spawn('sh', ['-c', info.command], { env: opts.env ?? process.env, stdio: 'pipe' });
            kill = () => child.kill('SIGKILL');
            stream.on('close', () => {
              if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            });
            child.stdin.on('error', () => {});
            stream.pipe(child.stdin);
            child.stdout.on('data', (d: Buffer) => stream.write(d));
            child.stderr.on('data', (d: Buffer) => stream.stderr.write(d));
            child.on('close', (code, signal) => {
              if (signal) stream.exit(signal.replace(/^SIG/, ''), false, '');
              else stream.exit(code ?? 255);
              stream.end();
            });
          };
          if (opts.delayMs) setTimeout(start, opts.delayMs);
          else start();
        });
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          const handles = new Map<number, { path: string; fd?: number }>();
          let next = 0;
          const handleOf = (h: Buffer) => handles.get(h.length === 4 ? h.readUInt32BE(0) : -1);
          const ok = (id: number) => sftp.status(id, STATUS_CODE.OK);
          const failure = (id: number, e: unknown) =>
            sftp.status(
              id,
              (e as NodeJS.ErrnoException).code === 'ENOENT'
                ? STATUS_CODE.NO_SUCH_FILE
                : (e as NodeJS.ErrnoException).code === 'EACCES'
                  ? STATUS_CODE.PERMISSION_DENIED
                  : STATUS_CODE.FAILURE,
              (e as Error).message,
            );
          sftp.on('OPEN', (id, path, flags, attrs) => {
            try {
              const mode = attrs.mode ?? 0o644;
              const h = next++;
              if (opts.sftp === 'fs') {
                handles.set(h, { path, fd: fs.openSync(path, flagsToString(flags) ?? 'r', mode) });
              } else {
                const f = flagsToString(flags) ?? 'r';
                if (f.includes('x') && files.has(path)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
                const prev = files.get(path);
                files.set(path, { data: f.startsWith('w') || !prev ? Buffer.alloc(0) : prev.data, mode: prev?.mode ?? mode });
                handles.set(h, { path });
              }
              const b = Buffer.alloc(4);
              b.writeUInt32BE(h, 0);
              sftp.handle(id, b);
            } catch (e) {
              failure(id, e);
            }
          });
          sftp.on('WRITE', (id, handle, offset, data) => {
            if (opts.dropOnSftpWrite) {
              client.end();
              (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
              return;
            }
            const h = handleOf(handle);
            if (!h) return sftp.status(id, STATUS_CODE.FAILURE);
            try {
              if (h.fd !== undefined) fs.writeSync(h.fd, data, 0, data.length, offset);
              else {
                const f = files.get(h.path);
                if (!f) throw new Error('gone');
                const buf = Buffer.alloc(Math.max(f.data.length, offset + data.length));
                f.data.copy(buf);
                data.copy(buf, offset);
                f.data = buf;
              }
              ok(id);
            } catch (e) {
              failure(id, e);
            }
          });
          const setMode = (path: string, fd: number | undefined, mode: number | undefined) => {
            if (mode === undefined) return;
            if (fd !== undefined) fs.fchmodSync(fd, mode & 0o7777);
            else if (opts.sftp === 'fs') fs.chmodSync(path, mode & 0o7777);
            else {
              const f = files.get(path);
              if (!f) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
              f.mode = mode & 0o7777;
            }
          };
          sftp.on('FSETSTAT', (id, handle, attrs) => {
            const h = handleOf(handle);
            if (!h) return sftp.status(id, STATUS_CODE.FAILURE);
            try {
              setMode(h.path, h.fd, attrs.mode);
              ok(id);
            } catch (e) {
              failure(id, e);
            }
          });
          sftp.on('SETSTAT', (id, path, attrs) => {
            try {
              setMode(path, undefined, attrs.mode);
              ok(id);
            } catch (e) {
              failure(id, e);
            }
          });
          sftp.on('CLOSE', (id, handle) => {
            const h = handleOf(handle);
            if (!h) return sftp.status(id, STATUS_CODE.FAILURE);
            handles.delete(handle.readUInt32BE(0));
            if (h.fd !== undefined) fs.closeSync(h.fd);
            ok(id);
          });
          sftp.on('REMOVE', (id, path) => {
            try {
              if (opts.sftp === 'fs') fs.unlinkSync(path);
              else if (!files.delete(path)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
              ok(id);
            } catch (e) {
              failure(id, e);
            }
          });
        });
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    hostKeyPublic,
    stats,
    files,
    dropConnections: () => {
      for (const c of clients) c.end();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of piped) p.destroy();
        for (const c of clients) c.end();
        server.close(() => resolve());
      }),
  };
}
