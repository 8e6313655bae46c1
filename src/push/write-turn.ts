/** What a WriteTurn flushes: a peer holding frames queued during the turn. */
export interface QueuedWriter {
  flush(): void;
}

/**
 * Several changes to one peer in one write. The first change of an event-loop turn goes out at
 * once (a lone change waits for nothing); changes after it in the same turn — webhooks that
 * arrived together, a group commit's batch — are queued on each peer and written at the end of
 * the turn (setImmediate) as one buffer per peer: one syscall and one TCP segment for several
 * frames, on both ends. Order per peer is kept: a peer with queued frames queues whatever comes
 * next until the flush.
 */
export class WriteTurn {
  private active = false;
  private waiting: QueuedWriter[] = [];

  /** Called once per change offered: whether its frames must queue (an earlier change went out this turn). */
  claim(): boolean {
    if (this.active) return true;
    this.active = true;
    setImmediate(this.end);
    return false;
  }

  /** A peer queued its first frame of this turn: it is flushed at the end of the turn. */
  enlist(writer: QueuedWriter): void {
    this.waiting.push(writer);
  }

  /** Writes everything queued now (at shutdown; the turn's end does it otherwise). */
  flushAll(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const writer of waiting) writer.flush();
  }

  private readonly end = (): void => {
    this.active = false;
    this.flushAll();
  };
}
