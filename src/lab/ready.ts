// A lab host is ready when systemd has booted, sshd listens, the stand-in apiserver answers, and
// this process gets an SSH banner from the host's address (kha connects to exactly that).
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRuntimeClient } from 'testcontainers';
import { dockerExec } from './docker.js';
import type { LabHost } from './types.js';

/** wait until systemd is up, sshd listens on 22 and the stand-in apiserver answers /readyz */
export async function waitReady(c: ContainerRuntimeClient, host: LabHost, timeoutMs: number, log: (l: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ex = (cmd: string[]) => dockerExec(c, host.containerId, cmd);
  let state = '';
  for (;;) {
    // `--wait` blocks while systemd is starting; before D-Bus is up it fails at once: retry.
    // bounded: a systemd stuck in 'initializing' would block `--wait` forever
    const r = await ex(['timeout', '10', 'systemctl', 'is-system-running', '--wait']).catch((e: unknown) => ({
      code: -1,
      stdout: '',
      stderr: String(e),
    }));
    state = r.stdout.trim();
    if (state === 'running' || state === 'degraded') break;
    if (state === 'maintenance' || state === 'stopping' || Date.now() > deadline) {
      const failed = await ex(['systemctl', '--failed', '--no-legend', '--plain']).catch(() => undefined);
      const journal = await ex(['journalctl', '-b', '--no-pager', '-o', 'cat', '-n', '200']).catch(() => undefined);
      const inotify = journal?.stdout.includes('Failed to create inotify object')
        ? '; the kernel ran out of inotify instances (every systemd container holds some): sysctl -w fs.inotify.max_user_instances=1024 (scripts/ensure-docker.sh does it)'
        : '';
      throw new Error(
        `lab host ${host.name} (${host.address}): systemd is '${state || r.stderr.trim()}' after boot${inotify}` +
          (failed ? `; failed units:\n${failed.stdout}` : ''),
      );
    }
    await sleep(200);
  }
  if (state === 'degraded') {
    const failed = await ex(['systemctl', '--failed', '--no-legend', '--plain']);
    log(`lab host ${host.name}: systemd is degraded; failed units:\n${failed.stdout.trim()}`);
  }
  const probe = ['sh', '-c', 'ss -Hltn "sport = :22" | grep -q . && curl -fsk --max-time 2 https://127.0.0.1:6443/readyz >/dev/null'];
  for (;;) {
    const r = await ex(probe);
    if (r.code === 0) break;
    if (Date.now() > deadline) {
      const st = await ex(['systemctl', 'status', '--no-pager', 'ssh', 'kha-standin-apiserver']);
      throw new Error(`lab host ${host.name} (${host.address}): sshd or the stand-in apiserver is not up:\n${st.stdout}`);
    }
    await sleep(200);
  }
  // And from this process: kha will connect to exactly this address.
  const banner = await sshBanner(host.address, Math.max(2_000, deadline - Date.now()));
  if (!banner.startsWith('SSH-2.0')) {
    throw new Error(`lab host ${host.name}: ${host.address}:22 answered '${banner}' instead of an SSH banner`);
  }
}

function sshBanner(address: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: address, port: 22 });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no SSH banner from ${address}:22 within ${timeoutMs} ms (is the container network reachable from here?)`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      data += d;
      if (data.includes('\n')) {
        clearTimeout(timer);
        sock.destroy();
        resolve(data.split('\n')[0]!.trim());
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach ${address}:22 from this machine: ${e.message}`));
    });
  });
}
