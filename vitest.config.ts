import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests run against the client package's sources (the `@rungate/source` entries of its exports
  // map), not its build, so that no test sees a stale packages/client/dist.
  ssr: { resolve: { conditions: ['@rungate/source', ...defaultServerConditions] } },
  test: {
    include: ['test/**/*.test.ts'],
    // One private build of src/ for the tests that spawn the CLI (see the file).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests open real sockets and spawn processes; two cores are the limit here.
    pool: 'forks',
    maxWorkers: 2,
  },
});
