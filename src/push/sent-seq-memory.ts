/** How a SentSeqMemory forgets. */
export interface SentSeqMemoryOptions {
  /** How long a run is remembered after the last frame of it went out (ms). */
  retentionMs: number;
  /** Most runs remembered at once; past it the oldest are forgotten sooner. */
  maxRuns: number;
}

/** The defaults of `--push-seq-retention-s` and `--push-seq-max-runs`. */
export const DEFAULT_SENT_SEQ_MEMORY: SentSeqMemoryOptions = { retentionMs: 60_000, maxRuns: 100_000 };

/** Below this many consumed entries the send log is not compacted (compaction copies it). */
const COMPACT_AFTER = 1024;

/**
 * What one subscriber (a WebSocket connection; an SSE stream alike) was sent of each run, so that
 * a run's `seq` only grows on it and its final state goes out once — in memory that depends on
 * the rate of changes it receives and the retention, not on how many runs it has ever seen.
 *
 * Once a subscriber holds a run's final state, nothing of that run is new to it again — not even
 * a higher seq, as a store that lost its data may write the same final state back under one.
 *
 * Each run is remembered (its newest seq sent) until `retentionMs` after its last frame, or
 * sooner when more than `maxRuns` are remembered; runs that `keep` names (those subscribed by id)
 * are never forgotten. What is forgotten leaves one number behind: the *horizon*, the newest
 * write time (`updatedAtMs`) among the records forgotten.
 *
 * Invariant: an offer is new to the subscriber iff its seq is above the one remembered for its
 * run, or — its run not remembered — it was written after the horizon. A re-offer of a forgotten
 * run (a resync after a bus outage, however long; a duplicate delivery) carries a record written
 * no later than the horizon, so it is refused; a later change of it was written after, so it
 * goes out. This holds while two conditions do, which the bounds are chosen for:
 * - no change reaches the subscriber more than `retentionMs` after one written later than it was
 *   sent (bus and store latency, a resync finishing after an outage, clock skew between
 *   instances are all far below a minute); and
 * - a re-offer that carries a new write time but no new seq — an owner annotation published
 *   after the run's state, when a start's answer comes after its webhook — comes within
 *   `retentionMs` of the frame it repeats.
 */
export class SentSeqMemory {
  /** run id → the newest seq sent (or that the subscriber said it has). */
  private readonly seqs = new Map<string, number>();
  // The send log, oldest first, as parallel arrays (no object per send): one entry per
  // remember(). An entry whose run was remembered again since is stale and skipped when reached.
  private logIds: string[] = [];
  private logSeqs: number[] = [];
  private logWrittenAt: number[] = [];
  private logSentAt: number[] = [];
  private head = 0;
  private horizonMs = -Infinity;

  constructor(
    private readonly options: SentSeqMemoryOptions = DEFAULT_SENT_SEQ_MEMORY,
    private readonly keep: (runId: string) => boolean = () => false,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many runs are remembered. */
  get size(): number {
    return this.seqs.size;
  }

  /** The newest seq sent of a run, while it is remembered. */
  sentSeq(runId: string): number | undefined {
    return this.seqs.get(runId);
  }

  /** Whether the change `seq` of a run, written at `writtenAtMs` (unknown: now), is news to this subscriber. */
  isNew(runId: string, seq: number, writtenAtMs: number = this.now()): boolean {
    const sent = this.seqs.get(runId);
    return sent === undefined ? writtenAtMs > this.horizonMs : seq > sent;
  }

  /**
   * Notes that the subscriber has `seq` of a run (sent it, or it said so), written at
   * `writtenAtMs` — when unknown, now, which is no earlier on one clock — and whether that was the
   * run's final state.
   */
  remember(runId: string, seq: number, options: { writtenAtMs?: number; final?: boolean } = {}): void {
    const nowMs = this.now();
    const writtenAtMs = options.writtenAtMs ?? nowMs;
    const final = options.final ?? false;
    this.forgetExpired(nowMs);
    const sent = this.seqs.get(runId);
    // Infinity: no seq is above it, so isNew stays false for the run while it is remembered.
    const held = final ? Infinity : seq;
    if (sent !== undefined && sent >= held) return;
    this.seqs.set(runId, held);
    this.append(runId, held, writtenAtMs, nowMs);
    for (let guard = this.logIds.length; this.seqs.size > this.options.maxRuns && guard > 0; guard--) this.forgetOldest(nowMs);
  }

  private append(runId: string, seq: number, writtenAtMs: number, sentAtMs: number): void {
    this.logIds.push(runId);
    this.logSeqs.push(seq);
    this.logWrittenAt.push(writtenAtMs);
    this.logSentAt.push(sentAtMs);
  }

  private forgetExpired(nowMs: number): void {
    const cutoff = nowMs - this.options.retentionMs;
    while (this.head < this.logIds.length && this.logSentAt[this.head]! <= cutoff) this.forgetOldest(nowMs);
    this.compact();
  }

  /** Takes the oldest log entry; forgets its run unless it was sent again since or is kept. */
  private forgetOldest(nowMs: number): void {
    const index = this.head++;
    const runId = this.logIds[index]!;
    const seq = this.logSeqs[index]!;
    if (this.seqs.get(runId) !== seq) return;
    if (this.keep(runId)) {
      // Still subscribed by id: look again one retention later.
      this.append(runId, seq, this.logWrittenAt[index]!, nowMs);
      return;
    }
    this.seqs.delete(runId);
    this.horizonMs = Math.max(this.horizonMs, this.logWrittenAt[index]!);
  }

  private compact(): void {
    if (this.head < COMPACT_AFTER || this.head * 2 < this.logIds.length) return;
    this.logIds = this.logIds.slice(this.head);
    this.logSeqs = this.logSeqs.slice(this.head);
    this.logWrittenAt = this.logWrittenAt.slice(this.head);
    this.logSentAt = this.logSentAt.slice(this.head);
    this.head = 0;
  }
}
