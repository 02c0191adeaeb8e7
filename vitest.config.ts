import { defineConfig } from 'vitest/config';

// Integration suites share one RabbitMQ and one PostgreSQL, and one suite restarts the broker:
// files run one at a time so a restart never lands in another suite's traffic.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
