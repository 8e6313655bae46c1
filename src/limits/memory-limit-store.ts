import { TokenBucket } from '../util/token-bucket.js';
import type { LimitStore, WindowHits } from './limit-store.js';

/** How often windows that ended are dropped (keys are client IPs and owners: unbounded over time). */
const SWEEP_INTERVAL_MS = 60_000;

/** The limits of one instance, in process memory. */
export class MemoryLimitStore implements LimitStore {
  readonly shared = false;
  private readonly windows = new Map<string, WindowHits>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  hit(key: string, windowMs: number): Promise<WindowHits> {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || window.resetAtMs <= now) {
      window = { hits: 0, resetAtMs: now + windowMs };
      this.windows.set(key, window);
    }
    window.hits++;
    return Promise.resolve({ ...window });
  }

  unhit(key: string): Promise<void> {
    const window = this.windows.get(key);
    if (window && window.hits > 0 && window.resetAtMs > this.now()) window.hits--;
    return Promise.resolve();
  }

  reset(key: string): Promise<void> {
    this.windows.delete(key);
    this.buckets.delete(key);
    return Promise.resolve();
  }

  take(key: string, capacity: number, periodMs: number): Promise<boolean> {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(capacity, periodMs, this.now);
      this.buckets.set(key, bucket);
    }
    return Promise.resolve(bucket.tryTake());
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    this.windows.clear();
    this.buckets.clear();
    return Promise.resolve();
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) if (window.resetAtMs <= now) this.windows.delete(key);
  }
}
