// sysctl: a persistent setting in /etc/sysctl.d plus the live value.
import { defineModule } from '../engine/plan-tasks.js';
import { TaskFailed } from '../errors.js';
import { quote } from '../transport/quote.js';
import { must } from './util.js';

export interface SysctlParams {
  name: string;
  value: string;
  file?: string;
}

const NAME = /^[a-z0-9_.]+$/;
const VALUE = /^[A-Za-z0-9 ._-]+$/;

const fileOf = (p: SysctlParams) => p.file ?? '/etc/sysctl.d/99-kha.conf';
const lineOf = (p: SysctlParams) => `${p.name} = ${p.value}`;

export const sysctlModule = defineModule<SysctlParams>({
  name: 'sysctl',
  describe: (p) => `sysctl ${p.name}=${p.value}`,
  probe(p) {
    if (!NAME.test(p.name) || !VALUE.test(p.value)) throw new TaskFailed(`sysctl ${p.name}=${p.value} is not valid`);
    return {
      cmd: { script: `sysctl -n ${quote(p.name)}; grep -Fx -- ${quote(lineOf(p))} ${quote(fileOf(p))} >/dev/null 2>&1 && echo persisted` },
      become: true,
    };
  },
  decide([r], p) {
    const file = fileOf(p);
    const out = r?.stdout ?? '';
    const [live] = out.trim().split('\n');
    const persisted = out.includes('persisted');
    const why: string[] = [];
    if (live?.trim() !== p.value) why.push(`live value ${live?.trim() || 'unknown'}`);
    if (!persisted) why.push(`not in ${file}`);
    if (why.length === 0) return { change: false, why: `${p.name} = ${p.value}` };
    return {
      change: true,
      why: why.join(', '),
      apply: async (ctx) => {
        const key = p.name.replace(/\./g, '\\.');
        await must(
          ctx.conn,
          {
            script: `touch ${quote(file)} && sed -i ${quote(`/^${key}[[:space:]]*=/d`)} ${quote(file)} && echo ${quote(lineOf(p))} >> ${quote(file)} && sysctl -w ${quote(`${p.name}=${p.value}`)}`,
          },
          `sysctl ${p.name}`,
        );
      },
    };
  },
});
