// A fake haproxy stats socket (a UNIX socket in a temp dir) that answers the runtime API commands
// kha sends (show stat, show servers state, set server ... state, shutdown sessions server) from a
// small model of one backend, as haproxy 2.6 writes them: the answer, then an empty line, then the
// connection closed (the socket's non-interactive mode). For the perl scripts kha runs on a host,
// run here for real (perl is on this machine as on the hosts).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface FakeServer {
  name: string;
  port: number;
  /** UP, DOWN, MAINT, ... as the health checks see it (DRAIN is derived from `admin`) */
  health: 'UP' | 'DOWN';
  /** srv_admin_state bits: 1 forced maintenance, 8 forced drain */
  admin: number;
  sessions: number;
}

export interface FakeHaproxy {
  socket: string;
  backend: string;
  servers: FakeServer[];
  /** every command received, in order */
  received: string[];
  /** called on each `show stat`, before it answers (sessions that end over time) */
  onShowStat?: () => void;
  close(): Promise<void>;
}

export const STAT_HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg\n';
export const STATE_HEADER =
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n';

/** haproxy's status word for a server of the model */
export function statusOf(s: FakeServer): string {
  if (s.admin & 1) return 'MAINT';
  if (s.health === 'DOWN') return 'DOWN';
  return s.admin & 8 ? 'DRAIN' : 'UP';
}

/** `show stat` of the model (a frontend, the servers, the backend line) */
export function showStat(backend: string, servers: FakeServer[]): string {
  const row = (px: string, sv: string, scur: number, status: string) => `${px},${sv},0,0,${scur},5,,10,0,0,,0,,0,0,0,0,${status},1,1,0,0,0,12\n`;
  return [
    STAT_HEADER,
    row(
      'kube-apiserver',
      'FRONTEND',
      servers.reduce((a, s) => a + s.sessions, 0),
      'OPEN',
    ),
    ...servers.map((s) => row(backend, s.name, s.sessions, statusOf(s))),
    row(
      backend,
      'BACKEND',
      servers.reduce((a, s) => a + s.sessions, 0),
      'UP',
    ),
  ].join('');
}

/** `show servers state <backend>` of the model (version 1, the header, a line per server) */
export function showServersState(backend: string, servers: FakeServer[]): string {
  return [
    '1\n',
    STATE_HEADER,
    ...servers.map(
      (s, i) =>
        `3 ${backend} ${i + 1} ${s.name} 10.0.0.${11 + i} ${s.health === 'UP' ? 2 : 0} ${s.admin} 1 1 12 6 3 ${s.health === 'UP' ? 4 : 0} 6 0 0 0 - ${s.port} - 0 0 - - 0\n`,
    ),
  ].join('');
}

function answer(h: FakeHaproxy, cmd: string): string {
  const find = (bs: string) => {
    const [b, s] = bs.split('/');
    return b === h.backend ? h.servers.find((x) => x.name === s) : undefined;
  };
  let m: RegExpExecArray | null;
  if (cmd === 'show stat') {
    h.onShowStat?.();
    return showStat(h.backend, h.servers);
  }
  if ((m = /^show servers state(?: (\S+))?$/.exec(cmd))) return !m[1] || m[1] === h.backend ? showServersState(h.backend, h.servers) : "Can't find backend.\n";
  if ((m = /^set server (\S+) state (ready|drain|maint)$/.exec(cmd))) {
    const s = find(m[1]!);
    if (!s) return 'No such server.\n';
    s.admin = m[2] === 'ready' ? 0 : m[2] === 'drain' ? (s.admin & ~1) | 8 : s.admin | 1;
    return '';
  }
  if ((m = /^shutdown sessions server (\S+)$/.exec(cmd))) {
    const s = find(m[1]!);
    if (!s) return 'No such server.\n';
    s.sessions = 0;
    return '';
  }
  return 'Unknown command. Please enter one of the following commands only :\n  help           : this message\n';
}

/** A fake haproxy listening on `<dir>/admin.sock`. */
export async function startFakeHaproxy(dir: string, backend: string, servers: FakeServer[]): Promise<FakeHaproxy> {
  const socket = path.join(dir, 'admin.sock');
  fs.rmSync(socket, { force: true });
  const h: FakeHaproxy = { socket, backend, servers, received: [], close: async () => {} };
  const srv = net.createServer((c) => {
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const cmd = buf.slice(0, nl).trim();
      h.received.push(cmd);
      c.end(`${answer(h, cmd)}\n`);
    });
    c.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(socket, () => resolve());
  });
  h.close = () => new Promise<void>((resolve) => srv.close(() => resolve()));
  return h;
}
