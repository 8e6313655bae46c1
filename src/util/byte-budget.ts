/**
 * A bound on the bytes of request bodies being read or held at one time, shared by every request
 * of one kind (REST bodies, webhook bodies). A body takes its bytes as they arrive and gives them
 * back when its request is done; one that finds no room left is refused (503) instead of letting
 * many bodies together grow the process past what its container holds.
 */
export class ByteBudget {
  private held = 0;

  constructor(readonly limitBytes: number) {}

  /** Takes `bytes` if they fit; false (and nothing taken) when they do not. */
  tryTake(bytes: number): boolean {
    if (this.held + bytes > this.limitBytes) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }

  /** Bytes taken now (for metrics and tests). */
  get inUse(): number {
    return this.held;
  }
}
