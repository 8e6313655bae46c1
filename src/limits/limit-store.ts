/** The hits counted so far in a key's current window, and when that window ends. */
export interface WindowHits {
  hits: number;
  resetAtMs: number;
}

/**
 * Counters behind the gateway's own limits (REST requests per IP and per owner, upstream lookups
 * caused by clients). One instance keeps them in memory; in cluster mode they live in the shared
 * store, so N instances allow what one would, not N times as much. Contract for every driver:
 * - `hit` counts one hit on `key` in a fixed window that starts at the key's first hit and lasts
 *   `windowMs`; the next hit after it ends starts a new window at 1. Atomic across instances:
 *   concurrent hits are all counted.
 * - `unhit` takes one hit back (not below 0) from the current window; `reset` forgets the key.
 * - `take` takes one token from the bucket `key` (`capacity` tokens, refilled continuously at
 *   `capacity` per `periodMs`, full when first used) and answers whether there was one; a
 *   capacity below 1 refuses everything. Atomic across instances like `hit`.
 * - Limits are guards, not records: a driver may lose its counts when its server restarts.
 * - After `close`, no method may be called.
 */
export interface LimitStore {
  /** True when other instances count on the same keys (express-rate-limit's `localKeys` is the opposite). */
  readonly shared: boolean;
  hit(key: string, windowMs: number): Promise<WindowHits>;
  unhit(key: string): Promise<void>;
  reset(key: string): Promise<void>;
  take(key: string, capacity: number, periodMs: number): Promise<boolean>;
  close(): Promise<void>;
}
