import { canRead, type Principal } from '../auth/principal.js';
import { isFinal, type Run } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import { DEFAULT_SENT_SEQ_MEMORY, SentSeqMemory, type SentSeqMemoryOptions } from './sent-seq-memory.js';

/** The part of an HTTP response a stream writes to (a fake in unit tests). */
export interface EventSink {
  readonly writableLength: number;
  readonly destroyed: boolean;
  write(chunk: Buffer | string): boolean;
  end(): void;
  destroy(): void;
}

export interface SseStreamOptions {
  sink: EventSink;
  /** Who reads (undefined with auth off). */
  principal: Principal | undefined;
  /** Unsent bytes allowed before the consumer is disconnected. */
  maxBufferedBytes: number;
  /** For a run stream: the run whose final state ends it. */
  endsWithRun?: string;
  metrics: Record<'sseEventsSent' | 'sseSlowConsumerCloses', { inc(): void }>;
  /** How long and how many runs the seq memory keeps (default: SentSeqMemory's). */
  seqMemory?: SentSeqMemoryOptions;
  now?: () => number;
}

/** One `event: run` of a run, serialised once for every stream that gets it (JSON has no raw newline). */
export function runEvent(run: Run): Buffer {
  return Buffer.from(`event: run\nid: ${run.seq}\ndata: ${JSON.stringify(run)}\n\n`);
}

const KEEP_ALIVE = Buffer.from(': keep-alive\n\n');

/**
 * One Server-Sent Events consumer (contract section 9): what it was sent (so a run's seq only
 * grows on it and its final state goes out once — the same seq rules as a WebSocket peer), and
 * the bound on its unsent bytes: a consumer that cannot keep up is disconnected, never buffered
 * without limit. A run stream ends itself after its run's final state.
 */
export class SseStream {
  private readonly sent: SentSeqMemory;
  private readonly now: () => number;
  private ended = false;

  constructor(private readonly options: SseStreamOptions) {
    this.now = options.now ?? Date.now;
    // A run stream's own run is remembered for as long as the stream lasts: its `since` holds.
    const keeps = (runId: string) => runId === options.endsWithRun;
    this.sent = new SentSeqMemory(options.seqMemory ?? DEFAULT_SENT_SEQ_MEMORY, keeps, this.now);
  }

  /** Still writable. */
  get open(): boolean {
    return !this.ended && !this.options.sink.destroyed;
  }

  /** May this consumer see this run? */
  mayRead(record: RunRecord): boolean {
    return canRead(this.options.principal, record.run.id, record);
  }

  /**
   * Sends a change, written at `writtenAtMs` (unknown: now), unless this consumer has that seq or a newer one
   * (see SentSeqMemory); ends a run stream at its final state.
   */
  sendRun(run: Run, event?: Buffer, writtenAtMs: number = this.now()): void {
    if (this.sent.isNew(run.id, run.seq, writtenAtMs)) this.deliver(run, event ?? runEvent(run), writtenAtMs);
  }

  /** The first state of a run stream, unless it is not newer than `since` (what the consumer has). */
  sendSnapshot(run: Run, since: number | undefined): void {
    if (since !== undefined && run.seq <= since) {
      this.sent.remember(run.id, since);
      return;
    }
    if (run.seq > (this.sent.sentSeq(run.id) ?? 0)) this.deliver(run, runEvent(run), this.now());
  }

  private deliver(run: Run, event: Buffer, writtenAtMs: number): void {
    if (!this.write(event)) return;
    this.sent.remember(run.id, run.seq, { writtenAtMs, final: isFinal(run.status) });
    this.options.metrics.sseEventsSent.inc();
    if (run.id === this.options.endsWithRun && isFinal(run.status)) this.end();
  }

  /** A comment line, so proxies and the consumer see an idle stream is alive. */
  keepAlive(): void {
    this.write(KEEP_ALIVE);
  }

  /** Ends the stream cleanly. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.options.sink.destroyed) this.options.sink.end();
  }

  private write(chunk: Buffer): boolean {
    if (!this.open) return false;
    const { sink, maxBufferedBytes, metrics } = this.options;
    if (sink.writableLength + chunk.length > maxBufferedBytes) {
      metrics.sseSlowConsumerCloses.inc();
      this.ended = true;
      sink.destroy();
      return false;
    }
    sink.write(chunk);
    return true;
  }
}
