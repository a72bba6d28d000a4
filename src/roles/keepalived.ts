// keepalived.conf for kha: one VRRP instance holding the VIP, tracked by a check of the local
// haproxy (and optionally of the local kube-apiserver). Pure: vars -> text.
//
// Checked against keepalived 2.2.7 (Debian bookworm) with `keepalived -t`. Notes:
// - never vrrp_strict: it implies no_accept (the host would drop packets to the VIP, i.e. the
//   apiserver traffic), forbids authentication, and adds iptables rules.
// - enable_script_security: a script run as root must not be writable by anyone else; kha ships
//   the scripts root:root 0755 under /etc/keepalived. Check scripts run as script_user
//   (unprivileged, see DEFAULT_SCRIPT_USER); the notify script runs as root (it writes /run).
// - unicast_fault_no_peer exists since keepalived 2.2.4 (so in 2.2.7): a unicast instance never
//   falls back to multicast silently. With no peer at all (a single load balancer) the unicast
//   block is left out, since that keyword would hold the only host in FAULT. Before 2.2.4
//   (Debian 11's 2.1.5) it is left out too: kha's unicast blocks always list peers, so it changes
//   nothing there (facts/versions.ts, KEYWORD_GATES).
// - Also checked on keepalived 2.1.5 (Debian 11) and 2.3.3 (Debian 13).
import { MANAGED_HEADER, absPath, badVar, int, ipAddr, isIPv6, joinLines, token } from './files.js';

export const HAPROXY_TRACK_SCRIPT = 'kha_check_haproxy';
export const APISERVER_TRACK_SCRIPT = 'kha_check_apiserver';
export const HAPROXY_TRACK_FILE = 'kha_haproxy_down';

export interface KeepalivedVars {
  /** unique per host, e.g. 'kha-m1' */
  routerId: string;
  /** VRRP instance name, e.g. 'VI_KHA' */
  instanceName: string;
  /** MASTER on the primary only (ignored when nopreempt: every host is BACKUP then) */
  state: 'MASTER' | 'BACKUP';
  /**
   * Every host BACKUP + nopreempt. A nopreempt backup ignores a lower-priority master, so a
   * negative weight could never move the VIP: the checks then carry no weight and a failing
   * check puts the instance in FAULT, which releases the VIP at once.
   */
  nopreempt: boolean;
  interface: string;
  /** 1..255, unique per L2 segment */
  virtualRouterId: number;
  /** 1..254 (255 means address owner, whose priority no check can lower) */
  priority: number;
  /** max priority - min priority across all lb hosts */
  priorityGap: number;
  /** seconds */
  advertInt: number;
  /** auth_type PASS when set: 1..8 characters (keepalived uses only the first 8) */
  authPass?: string;
  vip: string;
  vipPrefix: number;
  /** unicast adverts: our source address and the other lb hosts' addresses (self is dropped) */
  unicast?: { srcIp: string; peers: string[] };
  /** path of the haproxy check script (renderCheckHaproxyScript) */
  checkScript: string;
  /** user the check scripts run as (global script_user), e.g. DEFAULT_SCRIPT_USER */
  scriptUser: string;
  /** second vrrp_script on the local kube-apiserver (renderCheckApiserverScript) */
  trackApiserver?: { script: string };
  /** path of the notify script (renderNotifyScript): keepalived's vrrp_notify_fifo_script, run as root */
  notifyScript: string;
  /** the FIFO keepalived writes its transitions to (vrrp_notify_fifo), read by notifyScript */
  notifyFifo: string;
  /**
   * track_file written by haproxy's systemd unit (renderHaproxyDropIn): 1 while haproxy is stopped
   * or dead. Weight 0: 1 means FAULT, so a dead haproxy hands the VIP over at once.
   */
  haproxyDownFile: string;
  /** seconds between gratuitous ARP refreshes while MASTER (0 = off) */
  garpMasterRefresh: number;
  /** unicast_fault_no_peer in a unicast block (keepalived 2.2.4+; see KEYWORD_GATES in facts/versions.ts). Default true */
  unicastFaultNoPeer?: boolean;
}

/**
 * Weight of each vrrp_script when preemption is on. Rule: a failing check must pull the holder
 * below EVERY healthy host, i.e. |weight| > priorityGap (max - min priority across the lb hosts);
 * we take priorityGap + 10 for margin. keepalived accepts -253..253, so priorityGap <= 243.
 */
export function checkWeight(priorityGap: number): number {
  int('priorityGap', priorityGap, 0, 243);
  return -(priorityGap + 10);
}

const AUTH_PASS = /^[A-Za-z0-9._@%+:=,^~-]{1,8}$/;

export function renderKeepalived(v: KeepalivedVars): string {
  const routerId = token('routerId', v.routerId);
  const instance = token('instanceName', v.instanceName);
  const iface = token('interface', v.interface);
  if (v.state !== 'MASTER' && v.state !== 'BACKUP') badVar('state', v.state, 'must be MASTER or BACKUP');
  const vrid = int('virtualRouterId', v.virtualRouterId, 1, 255);
  const priority = int('priority', v.priority, 1, 254);
  const advertInt = int('advertInt', v.advertInt, 1, 255);
  const vip = ipAddr('vip', v.vip);
  const v6 = isIPv6(vip);
  const prefix = int('vipPrefix', v.vipPrefix, 1, v6 ? 128 : 32);
  const checkScript = absPath('checkScript', v.checkScript);
  const scriptUser = token('scriptUser', v.scriptUser);
  const notifyScript = absPath('notifyScript', v.notifyScript);
  const notifyFifo = absPath('notifyFifo', v.notifyFifo);
  const downFile = absPath('haproxyDownFile', v.haproxyDownFile);
  const garp = int('garpMasterRefresh', v.garpMasterRefresh, 0, 86400);
  const weight = v.nopreempt ? 0 : checkWeight(v.priorityGap);
  if (v.authPass !== undefined) {
    if (!AUTH_PASS.test(v.authPass)) badVar('authPass', '***', 'must be 1..8 characters of letters, digits and . _ @ % + : = , ^ ~ -');
    if (v6) badVar('authPass', '***', 'cannot be used with an IPv6 VIP (VRRPv3 has no authentication)');
  }
  const state = v.nopreempt ? 'BACKUP' : v.state;

  const scripts: Array<{ name: string; path: string }> = [{ name: HAPROXY_TRACK_SCRIPT, path: checkScript }];
  if (v.trackApiserver) scripts.push({ name: APISERVER_TRACK_SCRIPT, path: absPath('trackApiserver.script', v.trackApiserver.script) });

  const out: string[] = [
    MANAGED_HEADER,
    'global_defs {',
    `    router_id ${routerId}`,
    '    enable_script_security',
    `    script_user ${scriptUser}`,
    `    vrrp_garp_master_refresh ${garp}`,
    '    # every transition, in order, to one reader (kha status reads what it records)',
    `    vrrp_notify_fifo ${notifyFifo}`,
    `    vrrp_notify_fifo_script ${notifyScript} root`,
    '}',
    '',
    '# haproxy stopped or died (its systemd unit writes 1, and 0 once it is ready): FAULT at once,',
    '# whose priority-0 advert hands the VIP over within the skew time instead of 3 adverts',
    `track_file ${HAPROXY_TRACK_FILE} {`,
    `    file "${downFile}"`,
    '    weight 0',
    '    init_file',
    '}',
    '',
  ];

  for (const s of scripts) {
    out.push(
      `vrrp_script ${s.name} {`,
      `    script "${s.path}"`,
      '    interval 1',
      '    timeout 3',
      '    fall 3',
      '    rise 2',
      v.nopreempt
        ? '    # nopreempt: no weight, a failing check means FAULT (releases the VIP)'
        : `    # |weight| > max - min priority (${v.priorityGap}): a failing check drops below every healthy host`,
      `    weight ${weight}`,
      '    init_fail',
      '}',
      '',
    );
  }

  out.push(
    `vrrp_instance ${instance} {`,
    `    state ${state}`,
    `    interface ${iface}`,
    `    virtual_router_id ${vrid}`,
    `    priority ${priority}`,
    `    advert_int ${advertInt}`,
  );
  if (v.nopreempt) out.push('    nopreempt');
  if (v.authPass !== undefined) {
    out.push('    authentication {', '        auth_type PASS', `        auth_pass ${v.authPass}`, '    }');
  }
  if (v.unicast) {
    const src = ipAddr('unicast.srcIp', v.unicast.srcIp);
    const peers: string[] = [];
    v.unicast.peers.forEach((p, i) => {
      ipAddr(`unicast.peers[${i}]`, p);
      if (p !== src && !peers.includes(p)) peers.push(p);
    });
    if (peers.length > 0) {
      out.push(`    unicast_src_ip ${src}`, '    unicast_peer {', ...peers.map((p) => `        ${p}`), '    }');
      // before 2.2.4 the keyword does not exist; the block above is never empty, so nothing changes
      if (v.unicastFaultNoPeer ?? true) out.push('    unicast_fault_no_peer');
    } else {
      out.push('    # unicast: no peer yet (single load balancer), so no unicast block');
    }
  }
  out.push(
    '    virtual_ipaddress {',
    `        ${vip}/${prefix} dev ${iface}`,
    '    }',
    '    track_file {',
    `        ${HAPROXY_TRACK_FILE}`,
    '    }',
    '    track_script {',
    ...scripts.map((s) => `        ${s.name}`),
    '    }',
    '}',
  );
  return joinLines(out);
}
