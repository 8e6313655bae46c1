/**
 * A token bucket: `capacity` tokens, refilled continuously at `capacity` per `periodMs`.
 * A capacity of 0 refuses everything.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  constructor(
    private readonly capacity: number,
    private readonly periodMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = capacity;
    this.updatedAtMs = now();
  }

  /** Takes one token if there is one. */
  tryTake(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updatedAtMs) * this.capacity) / this.periodMs);
    this.updatedAtMs = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
