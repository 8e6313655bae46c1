import type { Run, TimelineEntry } from '@rungate/client';

export const FINAL = new Set(['success', 'failed', 'cancelled']);
export const GLYPH: Record<string, string> = { queued: '\u25CB', running: '\u25D4', success: '\u2713', failed: '\u2715', cancelled: '\u2298' };

/** A duration as people read it: 0 ms, 6.1 s, 42 s, 3 min, 2 h. */
export function formatMs(ms: number): string {
  const value = Math.max(0, ms);
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 10_000) return `${(value / 1000).toFixed(1)} s`;
  if (value < 120_000) return `${Math.round(value / 1000)} s`;
  if (value < 7_200_000) return `${Math.round(value / 60_000)} min`;
  return `${Math.round(value / 3_600_000)} h`;
}

/** The run's live percentage (0..100), if it is running and Doclo said. */
export function percentOf(run: Run): number | undefined {
  const progress = run.progress;
  if (FINAL.has(run.status) || !progress || typeof progress.percentage !== 'number' || !Number.isFinite(progress.percentage)) return undefined;
  return Math.max(0, Math.min(100, Math.round(progress.percentage)));
}

/** " 40% · page 2" for a running run with progress; "" otherwise. */
export function progressText(run: Run): string {
  const pct = percentOf(run);
  if (pct === undefined) return '';
  const step = run.progress?.step;
  return ` ${pct}%${typeof step === 'string' && step ? ` \u00B7 ${step}` : ''}`;
}

/** "took 2.1 s" for a finished run, "12 s old" for one under way. */
export function ageText(run: Run, nowMs = Date.now()): string {
  const created = Date.parse(run.createdAt ?? '');
  if (FINAL.has(run.status)) {
    let ms = typeof run.duration === 'number' ? run.duration : NaN;
    if (!Number.isFinite(ms)) ms = Date.parse(run.completedAt ?? run.cancelledAt ?? '') - created;
    return Number.isFinite(ms) ? `took ${formatMs(ms)}` : '';
  }
  return Number.isFinite(created) ? `${formatMs(nowMs - created)} old` : '';
}

/**
 * The timeline in one line: "queued (request) 0 ms → running (poll) 6.1 s → success (poll) 9.3 s —
 * no webhook". Times count from the first accepted change; progress-only changes are left out of
 * the line (the list shows them). A final state that came otherwise than by webhook says so.
 */
export function timelineSummary(timeline: readonly TimelineEntry[]): string {
  const first = timeline[0];
  if (!first) return '';
  const start = Date.parse(first.at);
  const steps: string[] = [];
  let previous: string | undefined;
  for (const entry of timeline) {
    if (entry.status === previous) continue;
    previous = entry.status;
    steps.push(`${entry.status} (${entry.source}) ${formatMs(Date.parse(entry.at) - start)}`);
  }
  const last = timeline[timeline.length - 1]!;
  const webhook = timeline.some((entry) => entry.source === 'webhook');
  const note = FINAL.has(last.status) && !webhook ? ' \u2014 no webhook' : '';
  return steps.join(' \u2192 ') + note;
}
