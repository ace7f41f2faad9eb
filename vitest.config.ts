import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Agents under test run the bundle, as installed (lib/agent/agent-command.ts).
    globalSetup: ['test/helpers/build-agent-bundle.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Integration suites start real processes (agent, serverless-offline, libvirtd); two cores.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
