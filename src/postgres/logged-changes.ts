/**
 * The changes this instance's run store has just logged in their write's transaction, handed to
 * its bus so that publishing one of them costs no round trip to ask the database whether it is
 * logged already (the writer publishes every change right after storing it). Bounded: an entry
 * whose publish never comes (a writer that failed in between) is dropped, oldest first.
 */
export class LoggedChanges {
  private readonly keys = new Set<string>();

  constructor(private readonly max = 10_000) {}

  /** Notes that the change (run, rev, updatedAtMs) is committed to the change log. */
  add(runId: string, rev: number, updatedAtMs: number): void {
    if (this.keys.size >= this.max) {
      // A Set iterates in insertion order: the first key is the oldest.
      const oldest = this.keys.values().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
    this.keys.add(keyOf(runId, rev, updatedAtMs));
  }

  /** Whether that change was noted (and forgets it: each is published once). */
  take(runId: string, rev: number, updatedAtMs: number): boolean {
    return this.keys.delete(keyOf(runId, rev, updatedAtMs));
  }
}

function keyOf(runId: string, rev: number, updatedAtMs: number): string {
  return `${runId}\n${rev}\n${updatedAtMs}`;
}
