import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration files each start their own Postgres servers; two cores run two files at once.
    fileParallelism: true,
    maxWorkers: 2,
    globalSetup: ['test/harness/globalSetup.ts'],
    reporters: ['default', './test/harness/summaryReporter.ts'],
  },
});
