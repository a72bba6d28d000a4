// Worker nodes and /etc/hosts: the phases `kha up` (and add/remove-master) run after the
// load-balancer hosts are done. The tasks and handlers are roles/nodes.ts; `kha status`'s view of
// the nodes is in actions/status.ts.
//   node-local proxy: on every node, haproxy (or nginx) on 127.0.0.1:<apiserver_port> -> every
//     master; rolled through the nodes in --serial batches, each batch proven by a request
//     through the proxy before the next one starts.
//   /etc/hosts: a marked block on every host (masters, load balancers, nodes) with every host's
//     name and `<vip> <api_endpoint_name>`; the operator's own lines are never touched.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../engine/context.js';
import type { Phase } from '../engine/phases.js';
import { ExitCode, KhaError, PreflightError, describeError } from '../errors.js';
import type { Facts } from '../facts/types.js';
import type { HaSettings } from '../inventory/settings.js';
import { supportProblem } from '../facts/versions.js';
import { versionsOn } from '../roles/ha.js';
import { etcHostsTargets, etcHostsTasks, nodeListenPort, nodeProxyHandlers, nodeProxyTasks } from '../roles/nodes.js';
import { proxyAnswered, proxyProbeScript, tcpProbeScript } from './probes.js';
import { gatherHosts, playOrThrow, type UpState } from './rollout.js';

/** how long a batch's nodes may take to answer through their new proxy */
const PROXY_READY_TIMEOUT_MS = 30_000;

/** Connect to and gather facts of `hosts` (cached per run); unreachable hosts stop the phase before any change. */
async function gather(run: RunContext, hosts: string[], what: string): Promise<void> {
  const bad = await gatherHosts(
    run,
    hosts.filter((h) => !run.facts.has(h) && run.alive(h)),
  );
  const gone = [...bad.map((b) => b.host), ...hosts.filter((h) => run.unreachable.has(h) && !bad.some((b) => b.host === h))];
  if (gone.length) {
    const first = bad[0] ? describeError(bad[0].err) : (run.unreachable.get(gone[0]!) ?? 'unreachable');
    throw new KhaError(`${gone.join(', ')} ${gone.length === 1 ? 'is' : 'are'} unreachable (${first}); nothing was changed ${what}`, {
      code: 'E_UNREACHABLE',
      exit: ExitCode.unreachable,
    });
  }
}

/** Pure: what stops a node from running the proxy (facts only). */
export function nodePreflightErrors(s: HaSettings, facts: Record<string, Facts>): string[] {
  const errors: string[] = [];
  for (const n of s.nodes) {
    const f = facts[n];
    if (!f) continue;
    if (!f.pkgMgr) errors.push(`${n}: ${f.os.prettyName} has no apt, dnf or yum; kha installs the node-local proxy with them`);
    if (!f.systemd) errors.push(`${n}: systemd is not running; kha runs the node-local proxy as a systemd service`);
    if (f.pkgMgr && s.nodeProxy === 'haproxy') {
      const unsupported = supportProblem(n, f, versionsOn(s, f), ['haproxy']);
      if (unsupported) errors.push(unsupported);
    }
    const port = nodeListenPort(s, n);
    const busy = f.listening.find(
      (l) =>
        l.port === port &&
        ['127.0.0.1', '0.0.0.0', '*', '::', ''].includes(l.address) &&
        l.process !== undefined &&
        l.process !== 'haproxy' &&
        l.process !== 'nginx',
    );
    if (busy) {
      errors.push(
        `${n}: port ${port} is already in use by ${busy.process} (${busy.address || '*'}:${port}); the node-local proxy listens on 127.0.0.1:${port}. A kube-apiserver here? Then ${n} is a master: list it under ${s.mastersGroup}, not only under the nodes group`,
      );
    }
  }
  return errors;
}

/**
 * Connect to the nodes (when a feature needs them) and check them for the proxy; throws before
 * anything is changed on a node. Facts are cached per run: cheap to call again.
 */
export async function nodePreflight(st: UpState): Promise<void> {
  const { s, run } = st;
  if (!(s.nodeLocalProxy || s.manageEtcHosts) || s.nodes.length === 0) return;
  await gather(run, s.nodes, 'on the nodes');
  if (!s.nodeLocalProxy) return;
  const errors = nodePreflightErrors(s, Object.fromEntries([...run.facts.entries()]));
  if (errors.length) {
    for (const e of errors) run.events.emit({ type: 'message', level: 'error', text: e });
    throw new PreflightError(
      errors.length === 1 ? `preflight: ${errors[0]}` : `node preflight found ${errors.length} problems (listed above), first: ${errors[0]}`,
      {
        suggestions: ['nothing was changed on the nodes; fix the cause and run the command again'],
      },
    );
  }
}

/** Wait until every host of the batch answers through its own proxy (`bootstrap`: no apiserver runs yet, a TCP accept will do). */
async function proxiesAnswer(st: UpState, hosts: string[], bootstrap: boolean): Promise<void> {
  const { s, run } = st;
  const failed: string[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      const conn = await run.connector.get(run.host(h));
      const port = nodeListenPort(s, h);
      const t0 = Date.now();
      let last = '';
      // before kubeadm init no apiserver can answer: the proxy must then accept connections, no more
      const script = bootstrap ? tcpProbeScript(port) : proxyProbeScript(port);
      for (;;) {
        const r = await conn.exec({ script }, { timeoutMs: 10_000 });
        last = r.stdout.trim() || r.stderr.trim().split('\n')[0] || `exit ${r.code}`;
        if (proxyAnswered(r.stdout)) {
          run.events.info(
            bootstrap
              ? `127.0.0.1:${port} accepts connections (the node-local ${s.nodeProxy}; no apiserver answers yet, it will reach the first one that starts)`
              : `https://127.0.0.1:${port}/healthz answers (${last}) through the node-local ${s.nodeProxy}`,
            h,
          );
          return;
        }
        if (Date.now() - t0 > PROXY_READY_TIMEOUT_MS || run.opts.signal.aborted) break;
        await sleep(500);
      }
      failed.push(`${h} (last: ${last})`);
    }),
  );
  if (failed.length) {
    if (bootstrap) {
      throw new KhaError(
        `the node-local ${s.nodeProxy} does not accept connections on 127.0.0.1 on ${failed.join(', ')} within ${PROXY_READY_TIMEOUT_MS / 1000} s; check it there (journalctl -u ${s.nodeProxy})`,
        { code: 'E_NODE_PROXY' },
      );
    }
    throw new KhaError(
      `no apiserver answers through the node-local proxy on ${failed.join(', ')} within ${PROXY_READY_TIMEOUT_MS / 1000} s; check ${s.nodeProxy} there (journalctl -u ${s.nodeProxy})`,
      {
        code: 'E_NODE_PROXY',
      },
    );
  }
}

/**
 * Install, configure and start the node-local proxy on every node, in --serial batches.
 * `bootstrap`: Verify found no apiserver up yet (before kubeadm init).
 */
export async function nodeProxyPhase(st: UpState, bootstrap = false): Promise<void> {
  const { s, run } = st;
  if (!s.nodeLocalProxy || s.nodes.length === 0) return;
  await nodePreflight(st);
  await playOrThrow(st, {
    name: `node-local ${s.nodeProxy}`,
    hosts: s.nodes,
    serial: st.opts.serial,
    maxFailPercentage: st.opts.maxFailPercentage ?? 0,
    tasks: nodeProxyTasks(s),
    handlers: nodeProxyHandlers(),
    afterBatch: async (hosts) => {
      await proxiesAnswer(st, hosts, bootstrap);
      run.events.info(`batch done: ${hosts.join(', ')} reach the apiservers through 127.0.0.1`);
    },
  });
}

/** Keep the kha block of /etc/hosts on every host. */
export async function etcHostsPhase(st: UpState): Promise<void> {
  const { s, run } = st;
  if (!s.manageEtcHosts) return;
  const hosts = etcHostsTargets(s);
  await gather(run, hosts, 'in /etc/hosts');
  await playOrThrow(st, { name: '/etc/hosts', hosts, maxFailPercentage: 0, tasks: etcHostsTasks(s) });
}

/**
 * Ready-made phases for a verb's list (the order stays in the verb's file). The node proxies'
 * phase asks `bootstrap()` when it runs: kha up's Verify, before it, says whether any apiserver is up.
 */
export function nodeProxiesPhase(bootstrap: () => boolean): Phase<UpState> {
  return {
    title: 'Node-local apiserver proxies on the nodes (in batches, each proven through 127.0.0.1)',
    shouldRun: (st) => st.s.nodeLocalProxy && st.s.nodes.length > 0,
    run: (st) => nodeProxyPhase(st, bootstrap()),
  };
}
/** add-master and remove-master: a cluster with an apiserver (the proxies must reach one) */
export const NODE_PROXY_PHASE: Phase<UpState> = nodeProxiesPhase(() => false);
export const ETC_HOSTS_PHASE: Phase<UpState> = {
  title: 'The kha block in /etc/hosts on every host',
  shouldRun: (st) => st.s.manageEtcHosts,
  run: etcHostsPhase,
};
export const NODE_PREFLIGHT_PHASE: Phase<UpState> = {
  title: 'Connect to the nodes and check them (nothing is changed yet)',
  shouldRun: (st) => (st.s.nodeLocalProxy || st.s.manageEtcHosts) && st.s.nodes.length > 0,
  run: nodePreflight,
};

/** Every host a run changes: the load balancers, plus the nodes and /etc/hosts targets when those are on (for the lock). */
export function changedHosts(s: HaSettings): string[] {
  return [...new Set([...s.lbHosts, ...(s.nodeLocalProxy ? s.nodes : []), ...(s.manageEtcHosts ? etcHostsTargets(s) : [])])];
}
