import { canRead, type Principal } from '../auth/principal.js';
import { isFinal, type Run } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import { DEFAULT_SENT_SEQ_MEMORY, SentSeqMemory, type SentSeqMemoryOptions } from './sent-seq-memory.js';

/** The part of an HTTP response a stream writes to (a fake in unit tests). */
export interface EventSink {
  readonly writableLength: number;
  readonly destroyed: boolean;
  /** The response's TCP socket and framing (node's ServerResponse): see SseEvent. */
  readonly socket?: { readonly writable: boolean; readonly writableLength: number; write(chunk: Buffer): boolean } | null;
  readonly headersSent?: boolean;
  readonly chunkedEncoding?: boolean;
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

/**
 * An event as its text and as the HTTP/1.1 chunk that carries it (size in hex, CRLF, text, CRLF),
 * both built once per change. Written through `res.write`, each event costs every stream a size
 * line, two CRLFs, a cork and a four-part write; the chunk goes to the socket in one write, with
 * the same bytes on the wire. Only when the response is chunked, its headers are out and it holds
 * nothing unsent of its own; otherwise the text goes through the response as usual.
 */
export interface SseEvent {
  readonly text: Buffer;
  readonly chunk: Buffer;
}

export function sseEvent(text: Buffer): SseEvent {
  const head = Buffer.from(`${text.length.toString(16)}\r\n`, 'latin1');
  const chunk = Buffer.allocUnsafe(head.length + text.length + 2);
  head.copy(chunk, 0);
  text.copy(chunk, head.length);
  chunk[chunk.length - 2] = 0x0d;
  chunk[chunk.length - 1] = 0x0a;
  return { text, chunk };
}

/** The run's event, framed for the wire (see SseEvent). */
export function runSseEvent(run: Run): SseEvent {
  return sseEvent(runEvent(run));
}

const KEEP_ALIVE = sseEvent(Buffer.from(': keep-alive\n\n'));

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
  sendRun(run: Run, event?: SseEvent, writtenAtMs: number = this.now()): void {
    if (this.offerRun(run, event ?? runSseEvent(run), writtenAtMs)) this.options.metrics.sseEventsSent.inc();
  }

  /**
   * `sendRun` for a broadcast: the same, but whether it wrote the event is returned, and the
   * caller counts the events once per change, not once per stream.
   */
  offerRun(run: Run, event: SseEvent, writtenAtMs: number): boolean {
    return this.sent.isNew(run.id, run.seq, writtenAtMs) && this.deliver(run, event, writtenAtMs);
  }

  /** The first state of a run stream, unless it is not newer than `since` (what the consumer has). */
  sendSnapshot(run: Run, since: number | undefined): void {
    if (since !== undefined && run.seq <= since) {
      this.sent.remember(run.id, since);
      return;
    }
    if (run.seq > (this.sent.sentSeq(run.id) ?? 0) && this.deliver(run, runSseEvent(run), this.now())) this.options.metrics.sseEventsSent.inc();
  }

  /** Writes a run's event and remembers it as sent; false when it was not written (slow consumer, closed). */
  private deliver(run: Run, event: SseEvent, writtenAtMs: number): boolean {
    if (!this.write(event)) return false;
    this.sent.remember(run.id, run.seq, { writtenAtMs, final: isFinal(run.status) });
    if (run.id === this.options.endsWithRun && isFinal(run.status)) this.end();
    return true;
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

  private write(event: SseEvent): boolean {
    if (!this.open) return false;
    const { sink, maxBufferedBytes, metrics } = this.options;
    if (sink.writableLength + event.chunk.length > maxBufferedBytes) {
      metrics.sseSlowConsumerCloses.inc();
      this.ended = true;
      sink.destroy();
      return false;
    }
    const socket = sink.socket;
    // The response's own unsent bytes are its writableLength beyond the socket's.
    if (socket && sink.chunkedEncoding === true && sink.headersSent === true && socket.writable && sink.writableLength === socket.writableLength) socket.write(event.chunk);
    else sink.write(event.text);
    return true;
  }
}
