import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// RUNGATE_TEST_LOGS=1: every log line of what the tests start goes to stderr as it comes, and the
// tests' own console output (measured figures) is shown for passing tests too.
const showLogs = process.env.RUNGATE_TEST_LOGS === '1';

export default defineConfig({
  // Tests run against the client package's sources (the `@rungate/source` entries of its exports
  // map), not its build, so that no test sees a stale packages/client/dist.
  ssr: { resolve: { conditions: ['@rungate/source', ...defaultServerConditions] } },
  test: {
    include: ['test/**/*.test.ts'],
    // One private build of src/ for the tests that spawn the CLI (see the file).
    globalSetup: ['test/global-setup.ts'],
    // Logs of what the tests start are printed only for a failing test; a process warning fails the test.
    setupFiles: ['test/setup-quiet.ts'],
    // A passing run prints a dot per test and the summary; a failure prints in full, with the
    // console output of the failing test (and only of it).
    reporters: ['dot'],
    silent: showLogs ? false : 'passed-only',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests open real sockets and spawn processes; two cores are the limit here.
    pool: 'forks',
    maxWorkers: 2,
  },
});
