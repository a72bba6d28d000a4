// sysctl: a persistent setting in /etc/sysctl.d plus the live value.
import type { Module } from '../engine/types.js';
import { TaskFailed } from '../engine/types.js';
import { quote } from '../transport/quote.js';
import { must } from './util.js';

export interface SysctlParams {
  name: string;
  value: string;
  file?: string;
}

const NAME = /^[a-z0-9_.]+$/;
const VALUE = /^[A-Za-z0-9 ._-]+$/;

export const sysctlModule: Module<SysctlParams> = {
  name: 'sysctl',
  describe: (p) => `sysctl ${p.name}=${p.value}`,
  async plan(ctx, p) {
    if (!NAME.test(p.name) || !VALUE.test(p.value)) throw new TaskFailed(`sysctl ${p.name}=${p.value} is not valid`);
    const file = p.file ?? '/etc/sysctl.d/99-kha.conf';
    const line = `${p.name} = ${p.value}`;
    const r = await ctx.conn.exec({ script: `sysctl -n ${quote(p.name)}; grep -Fx -- ${quote(line)} ${quote(file)} >/dev/null 2>&1 && echo persisted` }, { become: true });
    const [live] = r.stdout.trim().split('\n');
    const persisted = r.stdout.includes('persisted');
    const why: string[] = [];
    if (live?.trim() !== p.value) why.push(`live value ${live?.trim() || 'unknown'}`);
    if (!persisted) why.push(`not in ${file}`);
    if (why.length === 0) return { change: false, why: `${p.name} = ${p.value}` };
    return {
      change: true,
      why: why.join(', '),
      apply: async () => {
        const key = p.name.replace(/\./g, '\\.');
        await must(
          ctx.conn,
          { script: `touch ${quote(file)} && sed -i ${quote(`/^${key}[[:space:]]*=/d`)} ${quote(file)} && echo ${quote(line)} >> ${quote(file)} && sysctl -w ${quote(`${p.name}=${p.value}`)}` },
          `sysctl ${p.name}`,
        );
      },
    };
  },
};
