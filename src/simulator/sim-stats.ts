/** The body of `GET /_sim/stats` (contract section 7), exactly these keys. */
export interface SimStats {
  requests: { run: number; get: number; cancel: number; rateLimited: number; failed: number };
  webhooks: { sent: number; dropped: number; duplicated: number; failed: number };
  runs: { total: number; terminal: number };
}

/** The mutable counters behind SimStats; `runs` is read from the engine when a snapshot is taken. */
export interface SimCounters {
  requests: SimStats['requests'];
  webhooks: SimStats['webhooks'];
}

/** Zeroed counters for one simulator. */
export function createCounters(): SimCounters {
  return {
    requests: { run: 0, get: 0, cancel: 0, rateLimited: 0, failed: 0 },
    webhooks: { sent: 0, dropped: 0, duplicated: 0, failed: 0 },
  };
}

/** A copy of the counters plus run totals, safe to hand out (later changes do not leak into it). */
export function snapshotStats(counters: SimCounters, runs: SimStats['runs']): SimStats {
  return { requests: { ...counters.requests }, webhooks: { ...counters.webhooks }, runs: { ...runs } };
}
