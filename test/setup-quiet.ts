import { afterEach, beforeEach } from 'vitest';
import { markCaptures, reportSince, SHOW_TEST_LOGS } from './support/test-logs.js';

/**
 * Runs before every test file (vitest `setupFiles`) to keep a passing run quiet. A failing test
 * prints what the gateways, simulators and processes of its file logged while it ran (see
 * support/test-logs.ts), through console.error, so vitest shows it with that test's failure.
 */
beforeEach(({ onTestFailed }) => {
  if (SHOW_TEST_LOGS) return; // every line went to stderr already
  const marks = markCaptures();
  onTestFailed(() => {
    const blocks = reportSince(marks);
    if (blocks.length > 0) console.error(`Logs written during this test:\n${blocks.join('\n')}`);
  });
});

/**
 * A process warning (a listener leak, a deprecation) fails the test it happened in: a passing
 * run prints none, and one that creeps in is found where it starts.
 */
const warnings = processWarnings();
afterEach(async () => {
  // Node emits a warning on a later tick than the code that caused it.
  await new Promise((resolve) => setImmediate(resolve));
  const seen = warnings.splice(0);
  if (seen.length > 0) throw new Error(`process warning(s) during this test:\n${seen.map((w) => w.stack ?? `${w.name}: ${w.message}`).join('\n')}`);
});

/** The warnings of this process: one listener per worker process, which runs many test files. */
function processWarnings(): Error[] {
  const key = Symbol.for('rungate.test.warnings');
  const global = globalThis as { [key]?: Error[] };
  if (!global[key]) {
    const list: Error[] = [];
    process.on('warning', (warning) => list.push(warning));
    global[key] = list;
  }
  return global[key];
}
