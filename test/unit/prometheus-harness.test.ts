// The Prometheus harness (test/helpers/prometheus.ts) against Debian's real prometheus and a local
// target, no Docker: a node:http server serving `demo_up`, a rule DemoDown (demo_up == 0, for 2s),
// and the alert's whole life: quiet while up, firing no sooner than `for` after the flip, inactive
// after the flip back. Without /usr/bin/prometheus this file fails (beforeAll throws), never skips.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPrometheus, type Prometheus } from '../helpers/prometheus.js';

const RULES = `groups:
  - name: demo
    rules:
      - alert: DemoDown
        expr: demo_up == 0
        for: 2s
        labels: { severity: warning }
        annotations: { summary: demo is down }
`;

let up = 1;
let server: http.Server;
let target = '';
let prom: Prometheus | undefined;

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(`# HELP demo_up 1 while the demo is up\n# TYPE demo_up gauge\ndemo_up ${up}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const t0 = Date.now();
  prom = await startPrometheus({
    scrapeConfigs: `- job_name: demo\n  static_configs:\n    - targets: ['${target}']\n`,
    ruleFiles: [RULES],
  });
  console.log(`[timing] prometheus ready on ${prom.url} in ${Date.now() - t0} ms`);
}, 40_000);

afterAll(async () => {
  await prom?.stop();
  await new Promise((resolve) => server?.close(resolve));
});

describe('prometheus harness: a real prometheus, a local target, one alert', () => {
  test('the target goes up and demo_up reads 1', async () => {
    const t0 = Date.now();
    const targets = await prom!.waitTargetsUp(10_000);
    console.log(`[timing] target up after ${Date.now() - t0} ms`);
    expect(targets.map((t) => [t.scrapeUrl, t.health])).toEqual([[`http://${target}/metrics`, 'up']]);
    expect(await prom!.query('demo_up')).toEqual([{ metric: { __name__: 'demo_up', instance: target, job: 'demo' }, value: 1 }]);
  });

  test('DemoDown stays quiet while demo_up is 1, fires no sooner than its for: 2s after the flip, then clears', async () => {
    await sleep(2500); // more than two evaluations and the whole `for` with demo_up == 1
    expect((await prom!.alerts()).filter((a) => a.name === 'DemoDown')).toEqual([]);

    up = 0;
    const firing = await prom!.waitAlert('DemoDown', 'firing', { timeoutMs: 10_000, labels: { job: 'demo', severity: 'warning' } });
    console.log(`[timing] demo_up 1 -> 0: DemoDown firing after ${firing.ms} ms (for: 2s, scrape and evaluation every 1s)`);
    expect(firing.ms).toBeGreaterThanOrEqual(2000);
    const [alert] = (await prom!.alerts()).filter((a) => a.name === 'DemoDown');
    expect(alert).toMatchObject({ state: 'firing', labels: { alertname: 'DemoDown', instance: target, job: 'demo', severity: 'warning' } });

    up = 1;
    const cleared = await prom!.waitAlert('DemoDown', 'inactive', { timeoutMs: 10_000 });
    console.log(`[timing] demo_up 0 -> 1: DemoDown inactive after ${cleared.ms} ms`);
    expect(await prom!.query('demo_up')).toMatchObject([{ value: 1 }]);
  });

  test('a wait that times out lists the alerts there are', async () => {
    await expect(prom!.waitAlert('DemoDown', 'firing', { timeoutMs: 300 })).rejects.toThrow(
      /DemoDown not firing after 300 ms; alerts now:\n {2}\(no alerts pending or firing\)/,
    );
  });
});

describe('prometheus harness: startup failures say why', () => {
  test('no binary: one line naming the package', async () => {
    await expect(startPrometheus({ scrapeConfigs: '[]', bin: '/nonexistent/prometheus' })).rejects.toThrow(
      /^prometheus: \/nonexistent\/prometheus not found: apt-get install prometheus/,
    );
  });

  test('a bad rule file: prometheus exits, and its stderr is in the error', async () => {
    await expect(
      startPrometheus({ scrapeConfigs: '[]', ruleFiles: ['groups:\n  - name: x\n    rules:\n      - alert: Bad\n        expr: "up =="\n'] }),
    ).rejects.toThrow(/exited \(code 1.*before ready[\s\S]*prometheus stderr[\s\S]*parse error/);
  });

  test('scrapeConfigs that are not a list are refused before prometheus starts', async () => {
    await expect(startPrometheus({ scrapeConfigs: 'job_name: x' })).rejects.toThrow(/scrapeConfigs must be a YAML list/);
  });
});
