// service (systemd): enabled, started, stopped, restarted, reloaded; daemon-reload when unit
// files changed. A failed restart can put the previous config files back and restart with them.
import { defineModule } from '../engine/plan-tasks.js';
import type { ModuleContext } from '../engine/types.js';
import { TaskFailed } from '../errors.js';
import { quote } from '../transport/quote.js';
import type { Connection } from '../transport/types.js';
import { lastLines } from './util.js';
import { PREV_SUFFIX } from './template.js';
import { recordScript } from './applied.js';
import { UNIT_SHOW, unitShowScript } from './probe-groups.js';

export interface ServiceParams {
  name: string;
  state?: 'started' | 'stopped' | 'restarted' | 'reloaded';
  enabled?: boolean;
  daemonReload?: boolean;
  /** config files whose <file>.kha-prev is restored when a restart/reload fails */
  rollback?: string[];
  /** config files to record as applied after a successful start/restart/reload (modules/applied.ts) */
  record?: string[];
}

const UNIT = /^[A-Za-z0-9@._-]+$/;

export function parseShow(out: string): { load: string; active: string; enabled: string } {
  const m = new Map<string, string>();
  for (const l of out.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) m.set(l.slice(0, i), l.slice(i + 1).trim());
  }
  return { load: m.get('LoadState') ?? '', active: m.get('ActiveState') ?? '', enabled: m.get('UnitFileState') ?? '' };
}

export async function journalTail(conn: Connection, unit: string, n = 15): Promise<string> {
  const r = await conn.exec({ script: `journalctl -u ${quote(unit)} -n ${n} --no-pager -o cat 2>/dev/null || true` }, { become: true });
  return lastLines(r.stdout, n);
}

/**
 * `systemctl daemon-reload` unless systemd has the unit loaded as it is on disk (its unit file and
 * drop-ins: systemd's own NeedDaemonReload). A reload costs a quarter of a second on a busy host and
 * several units of one run share the first; asked at apply time, so files written by earlier tasks count.
 */
export function daemonReloadIfNeeded(unit: string): string {
  return `case "$(systemctl show -p LoadState -p NeedDaemonReload -- ${quote(unit)})" in *LoadState=loaded*NeedDaemonReload=no*|*NeedDaemonReload=no*LoadState=loaded*) ;; *) systemctl daemon-reload ;; esac`;
}

const unitOf = (p: ServiceParams) => (p.name.includes('.') ? p.name : `${p.name}.service`);

/** The facts hold ActiveState and UnitFileState of kha's services: the unit's state there while they are current. */
function fromFacts(p: ServiceParams, ctx: ModuleContext): { active: string; enabled: string } | undefined {
  const unit = unitOf(p);
  return ctx.factsCurrent && unit.endsWith('.service') ? ctx.facts.services[unit.slice(0, -'.service'.length)] : undefined;
}

export const serviceModule = defineModule<ServiceParams>({
  name: 'service',
  describe: (p) => {
    const parts = [];
    if (p.state) parts.push(p.state === 'started' ? 'start' : p.state === 'stopped' ? 'stop' : p.state === 'restarted' ? 'restart' : 'reload');
    if (p.enabled !== undefined) parts.push(p.enabled ? 'enable' : 'disable');
    return `${parts.join(' + ') || 'check'} ${p.name}`;
  },
  // systemctl's state, unless the facts hold it and are current (no probe then)
  probe(p, ctx) {
    if (!UNIT.test(p.name)) throw new TaskFailed(`unit name ${JSON.stringify(p.name)} is not valid`);
    if (fromFacts(p, ctx)) return null;
    const unit = unitOf(p);
    return { cmd: { script: unitShowScript(unit) }, become: false, group: { by: UNIT_SHOW, arg: unit } };
  },
  // a restart or a stop takes the unit's service away for a moment; a reload (haproxy's
  // master-worker hand-over, keepalived's SIGHUP) and a start do not
  interrupts: (p) => (p.state === 'restarted' || p.state === 'stopped' ? unitOf(p) : null),
  decide([r], p, ctx) {
    const unit = unitOf(p);
    const known = fromFacts(p, ctx);
    const st = known && !r ? { load: '', active: known.active, enabled: known.enabled } : parseShow(r?.stdout ?? '');
    const steps: string[] = [];
    const why: string[] = [];
    if (p.daemonReload) steps.push(daemonReloadIfNeeded(unit));
    if (p.enabled === true && !['enabled', 'static', 'generated', 'alias', 'indirect', 'enabled-runtime'].includes(st.enabled)) {
      steps.push(`systemctl enable -- ${quote(unit)}`);
      why.push(`not enabled (${st.enabled || 'unknown'})`);
    }
    if (p.enabled === false && st.enabled === 'enabled') {
      steps.push(`systemctl disable -- ${quote(unit)}`);
      why.push('enabled');
    }
    const active = st.active === 'active' || st.active === 'reloading' || st.active === 'activating';
    let verb: string | undefined;
    if (p.state === 'started' && !active) {
      verb = 'start';
      why.push(`not running (${st.active || 'unknown'})`);
    } else if (p.state === 'stopped' && active) {
      verb = 'stop';
      why.push('running');
    } else if (p.state === 'restarted') {
      verb = 'restart';
      why.push('restart requested');
    } else if (p.state === 'reloaded') {
      // reloading a stopped service would leave it stopped: start it instead
      verb = active ? 'reload' : 'start';
      why.push(active ? 'reload requested' : `not running (${st.active || 'unknown'})`);
    }
    if (verb) steps.push(`systemctl ${verb} -- ${quote(unit)}`);
    if (steps.length === 0 || (steps.length === 1 && p.daemonReload && !verb && why.length === 0)) {
      return { change: false, why: `${st.active}${st.enabled ? `, ${st.enabled}` : ''}` };
    }
    return {
      change: true,
      why: why.join(', ') || 'daemon-reload',
      apply: async (ctx) => {
        const record = async () => {
          if (p.record?.length && verb && verb !== 'stop') await ctx.conn.exec({ script: recordScript(unit, p.record) }, { become: true });
        };
        const r2 = await ctx.conn.exec({ script: steps.join(' && ') }, { become: true, timeoutMs: 120_000 });
        if (r2.code === 0) {
          // a unit can accept the start and die a moment later: look again
          if (verb === 'start' || verb === 'restart') {
            const again = parseShow((await ctx.conn.exec({ script: `sleep 0.3; ${unitShowScript(unit)}` })).stdout);
            if (again.active === 'active' || again.active === 'activating') return record();
          } else return record();
        }
        const journal = await journalTail(ctx.conn, unit);
        if (p.rollback?.length && verb && verb !== 'stop') {
          const restore = p.rollback.map((f) => `if [ -f ${quote(f + PREV_SUFFIX)} ]; then cp -p -- ${quote(f + PREV_SUFFIX)} ${quote(f)}; fi`).join('; ');
          const rr = await ctx.conn.exec({ script: `${restore}; systemctl restart -- ${quote(unit)}` }, { become: true, timeoutMs: 120_000 });
          if (rr.code === 0) await record();
          throw new TaskFailed(
            `${verb} ${unit} failed with the new config; the previous config was put back and ${unit} ${rr.code === 0 ? 'restarted with it' : 'did not restart with it either'}`,
            journal,
          );
        }
        throw new TaskFailed(`${verb ?? 'systemctl'} ${unit} failed${r2.stderr.trim() ? `: ${lastLines(r2.stderr, 1)}` : ''}`, journal);
      },
    };
  },
});
