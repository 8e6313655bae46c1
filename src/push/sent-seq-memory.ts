/** How many runs one peer's memory holds by default (oldest forgotten first). */
export const DEFAULT_REMEMBERED_RUNS = 100_000;

/**
 * What one peer already holds: the newest `seq` it was sent (or said it had, with `since`) for
 * each run, and whether that was its final state. Sending only what is newer makes a run's seq
 * only grow on that peer and its final state go out exactly once, however many subscriptions (a
 * run and its flow), resyncs, duplicates or store resets offer it. Transport-neutral: the WebSocket connection and a Server-Sent Events
 * stream keep one each.
 *
 * Bounded: beyond `maxRuns` the run touched longest ago is forgotten; a forgotten run's next
 * change is sent again, which for a peer following that many runs is the lesser harm than
 * memory without bound.
 */
export class SentSeqMemory {
  private readonly seqs = new Map<string, number>();

  constructor(private readonly maxRuns = DEFAULT_REMEMBERED_RUNS) {}

  /** True when `seq` is newer than anything this peer holds for run `id` (nothing is, after its final state). */
  isNew(id: string, seq: number): boolean {
    return seq > (this.seqs.get(id) ?? 0);
  }

  /**
   * The peer now holds `seq` of run `id` (never lowers what it already held). Once it holds the
   * run's final state (`final`), nothing of that run is new for it again — not even a higher seq,
   * as a store that lost its data may give the same final state when it is written back.
   */
  remember(id: string, seq: number, final = false): void {
    // Infinity: no seq is above it, so isNew stays false for good.
    const held = final ? Infinity : Math.max(seq, this.seqs.get(id) ?? 0);
    // Delete first so the run moves to the newest end of the insertion order.
    this.seqs.delete(id);
    this.seqs.set(id, held);
    if (this.seqs.size > this.maxRuns) {
      const oldest = this.seqs.keys().next().value;
      if (oldest !== undefined) this.seqs.delete(oldest);
    }
  }

  /** How many runs are remembered. */
  get size(): number {
    return this.seqs.size;
  }
}
