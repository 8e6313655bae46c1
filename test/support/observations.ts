import { appendFileSync } from 'node:fs';

/**
 * Figures a test saw on its way to its assertions (the gap between two delivery attempts, a
 * delivery's lag after a run's end), for a note or a README: appended as JSON lines to the file
 * named by RUNGATE_TEST_OBSERVATIONS, and nothing at all without it, so passing tests stay quiet.
 */
export function observe(test: string, figures: Record<string, number | string>): void {
  const file = process.env.RUNGATE_TEST_OBSERVATIONS;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ test, ...figures })}\n`);
}
