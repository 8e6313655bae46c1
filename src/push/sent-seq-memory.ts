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
  // Allocated at the first remember(): most connections stay idle, and an empty Map and four
  // empty arrays would cost each of them about half a kilobyte.
  private log: SendLog | undefined;
  private horizonMs = -Infinity;

  constructor(
    private readonly options: SentSeqMemoryOptions = DEFAULT_SENT_SEQ_MEMORY,
    private readonly keep: (runId: string) => boolean = () => false,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many runs are remembered. */
  get size(): number {
    return this.log?.seqs.size ?? 0;
  }

  /** The newest seq sent of a run, while it is remembered. */
  sentSeq(runId: string): number | undefined {
    return this.log?.seqs.get(runId);
  }

  /** Whether the change `seq` of a run, written at `writtenAtMs` (unknown: now), is news to this subscriber. */
  isNew(runId: string, seq: number, writtenAtMs: number = this.now()): boolean {
    const sent = this.log?.seqs.get(runId);
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
    const log = (this.log ??= new SendLog());
    this.forgetExpired(log, nowMs);
    const sent = log.seqs.get(runId);
    // Infinity: no seq is above it, so isNew stays false for the run while it is remembered.
    const held = final ? Infinity : seq;
    if (sent !== undefined && sent >= held) return;
    log.seqs.set(runId, held);
    log.append(runId, held, writtenAtMs, nowMs);
    for (let guard = log.ids.length; log.seqs.size > this.options.maxRuns && guard > 0; guard--) this.forgetOldest(log, nowMs);
  }

  private forgetExpired(log: SendLog, nowMs: number): void {
    const cutoff = nowMs - this.options.retentionMs;
    while (log.head < log.ids.length && log.sentAt[log.head]! <= cutoff) this.forgetOldest(log, nowMs);
    log.compact();
  }

  /** Takes the oldest log entry; forgets its run unless it was sent again since or is kept. */
  private forgetOldest(log: SendLog, nowMs: number): void {
    const index = log.head++;
    const runId = log.ids[index]!;
    const seq = log.seqAt[index]!;
    if (log.seqs.get(runId) !== seq) return;
    if (this.keep(runId)) {
      // Still subscribed by id: look again one retention later.
      log.append(runId, seq, log.writtenAt[index]!, nowMs);
      return;
    }
    log.seqs.delete(runId);
    this.horizonMs = Math.max(this.horizonMs, log.writtenAt[index]!);
  }
}

/**
 * What a SentSeqMemory holds once it sent something: run id → the newest seq sent (or that the
 * subscriber said it has), and the send log, oldest first, as parallel arrays (no object per
 * send): one entry per remember(). An entry whose run was remembered again since is stale and
 * skipped when reached.
 */
class SendLog {
  readonly seqs = new Map<string, number>();
  ids: string[] = [];
  seqAt: number[] = [];
  writtenAt: number[] = [];
  sentAt: number[] = [];
  head = 0;

  append(runId: string, seq: number, writtenAtMs: number, sentAtMs: number): void {
    this.ids.push(runId);
    this.seqAt.push(seq);
    this.writtenAt.push(writtenAtMs);
    this.sentAt.push(sentAtMs);
  }

  compact(): void {
    if (this.head < COMPACT_AFTER || this.head * 2 < this.ids.length) return;
    this.ids = this.ids.slice(this.head);
    this.seqAt = this.seqAt.slice(this.head);
    this.writtenAt = this.writtenAt.slice(this.head);
    this.sentAt = this.sentAt.slice(this.head);
    this.head = 0;
  }
}
