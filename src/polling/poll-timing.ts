export interface PollIntervalOptions {
  intervalMs: number;
  maxIntervalMs: number;
}

/**
 * The wait before the next poll of a run that is still unfinished: half the time the run has
 * been tracked (so polls thin out geometrically, ×1.5 per poll, with no per-run counter to keep
 * in sync across instances), at least `intervalMs`, at most `maxIntervalMs`, with ±20 % jitter so
 * runs started together do not poll together.
 */
export function nextPollDelayMs(trackedForMs: number, options: PollIntervalOptions, random: () => number = Math.random): number {
  const base = Math.min(options.maxIntervalMs, Math.max(options.intervalMs, trackedForMs * 0.5));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Full jitter in [0, maxMs): spreads the polls of runs found unfinished at start-up. */
export function startupJitterMs(maxMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * maxMs);
}
