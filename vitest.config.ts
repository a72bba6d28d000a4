import os from 'node:os';
import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests (no Docker) and integration tests against real systemd
// containers. `npm test` runs both; integration tests FAIL (never skip) without a Docker engine.
//
// The unit files run first (groupOrder 0), then the integration files (groupOrder 1), several at
// a time: each file has its own labs (own network, own /24, own VIP), and most of a file's time is
// spent waiting on the hosts (VRRP adverts, health checks, systemd), not on this machine's CPU.
// KHA_IT_WORKERS sets how many integration files run at once (default: one per core, at most 3).
const cores = os.availableParallelism();
const itWorkers = Number(process.env.KHA_IT_WORKERS ?? Math.min(3, cores));

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          maxWorkers: itWorkers,
          sequence: { groupOrder: 1 },
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
        },
      },
    ],
  },
});
