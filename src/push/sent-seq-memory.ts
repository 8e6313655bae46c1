/** How a SentSeqMemory forgets. */
export interface SentSeqMemoryOptions {
  /** How long a run is remembered after the last frame of it went out (ms). */
  retentionMs: number;
  /** Most runs remembered at once; past it the oldest are forgotten sooner. */
  maxRuns: number;
}

/** The defaults of `--push-seq-retention-s` and `--push-seq-max-runs`. */
export const DEFAULT_SENT_SEQ_MEMORY: SentSeqMemoryOptions = { retentionMs: 60_000, maxRuns: 100_000 };

/**
 * Slots a send log has at first, and the fewest it shrinks to: it doubles when full and halves
 * when three quarters are free, so its size stays a power of two (its indexes wrap by masking).
 * Small, as a connection sent a few frames keeps its log: 16 slots are about half a kilobyte.
 */
const INITIAL_LOG_CAPACITY = 16;

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

  /** The slots of the send log: its entries (stale ones included) and room for more. */
  get logCapacity(): number {
    return this.log?.capacity ?? 0;
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
    for (let guard = log.length; log.seqs.size > this.options.maxRuns && guard > 0; guard--) this.forgetOldest(log, nowMs);
  }

  private forgetExpired(log: SendLog, nowMs: number): void {
    const cutoff = nowMs - this.options.retentionMs;
    while (log.length > 0 && log.oldestSentAtMs() <= cutoff) this.forgetOldest(log, nowMs);
  }

  /** Takes the oldest log entry; forgets its run unless it was sent again since or is kept. */
  private forgetOldest(log: SendLog, nowMs: number): void {
    const { runId, seq, writtenAtMs } = log.takeOldest();
    if (log.seqs.get(runId) !== seq) return;
    if (this.keep(runId)) {
      // Still subscribed by id: look again one retention later.
      log.append(runId, seq, writtenAtMs, nowMs);
      return;
    }
    log.seqs.delete(runId);
    this.horizonMs = Math.max(this.horizonMs, writtenAtMs);
  }
}

/**
 * What a SentSeqMemory holds once it sent something: run id → the newest seq sent (or that the
 * subscriber said it has), and the send log, oldest first: one entry per remember(). An entry
 * whose run was remembered again since is stale and skipped when reached.
 *
 * The log is a ring: its numbers in typed arrays (outside the JS heap, never scanned or copied by
 * the garbage collector), its run ids in one array of fixed length. Appending and taking move two
 * indexes; nothing is copied but when the ring doubles or halves. A log of arrays compacted by
 * slicing copied every connection's last minute at once, once a minute (connections that opened
 * together compact together): in the soak, 40 connections put ~16 MB of fresh arrays in the young
 * generation at the same moment, and the scavenges that copied them paused 10–24 ms each.
 */
class SendLog {
  readonly seqs = new Map<string, number>();
  private ids: (string | undefined)[] = new Array<string | undefined>(INITIAL_LOG_CAPACITY).fill(undefined);
  // Any JS number round-trips exactly through a Float64Array: seqs, Infinity (a final state's mark), times.
  private seqAt = new Float64Array(INITIAL_LOG_CAPACITY);
  private writtenAt = new Float64Array(INITIAL_LOG_CAPACITY);
  private sentAt = new Float64Array(INITIAL_LOG_CAPACITY);
  /** Where the oldest entry is. */
  private head = 0;
  private count = 0;

  /** Entries in the log, stale ones included. */
  get length(): number {
    return this.count;
  }

  /** The slots the log has room for (a power of two). */
  get capacity(): number {
    return this.ids.length;
  }

  append(runId: string, seq: number, writtenAtMs: number, sentAtMs: number): void {
    if (this.count === this.ids.length) this.resize(this.ids.length * 2);
    const slot = (this.head + this.count) & (this.ids.length - 1);
    this.ids[slot] = runId;
    this.seqAt[slot] = seq;
    this.writtenAt[slot] = writtenAtMs;
    this.sentAt[slot] = sentAtMs;
    this.count++;
  }

  /** When the oldest entry was sent; only while the log is not empty. */
  oldestSentAtMs(): number {
    return this.sentAt[this.head]!;
  }

  /** Removes the oldest entry and answers it; only while the log is not empty. */
  takeOldest(): { runId: string; seq: number; writtenAtMs: number } {
    const slot = this.head;
    const taken = { runId: this.ids[slot]!, seq: this.seqAt[slot]!, writtenAtMs: this.writtenAt[slot]! };
    this.ids[slot] = undefined;
    this.head = (slot + 1) & (this.ids.length - 1);
    this.count--;
    if (this.ids.length > INITIAL_LOG_CAPACITY && this.count <= this.ids.length / 4) this.resize(this.ids.length / 2);
    return taken;
  }

  /** Moves the entries, oldest first, into rings of `capacity` slots (at least `count`). */
  private resize(capacity: number): void {
    // The entries are at most two runs of slots: from the head to the end, then from slot 0.
    const firstRun = Math.min(this.count, this.ids.length - this.head);
    const secondRun = this.count - firstRun;
    const ids = new Array<string | undefined>(capacity).fill(undefined);
    for (let index = 0; index < firstRun; index++) ids[index] = this.ids[this.head + index];
    for (let index = 0; index < secondRun; index++) ids[firstRun + index] = this.ids[index];
    const move = (from: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const to = new Float64Array(capacity);
      to.set(from.subarray(this.head, this.head + firstRun));
      to.set(from.subarray(0, secondRun), firstRun);
      return to;
    };
    const seqAt = move(this.seqAt);
    const writtenAt = move(this.writtenAt);
    const sentAt = move(this.sentAt);
    this.ids = ids;
    this.seqAt = seqAt;
    this.writtenAt = writtenAt;
    this.sentAt = sentAt;
    this.head = 0;
  }
}
