import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { BodyReadError, BodyTooLargeError, type RungateError } from '../errors.js';
import type { ByteBudget } from './byte-budget.js';

export interface BodyReadOptions {
  /** Largest body accepted, counted after decoding (and before it, for the bytes on the wire). */
  limitBytes: number;
  /** Decode `Content-Encoding: gzip | deflate | br`; any other encoding is refused (415). */
  decode?: boolean;
  /** The bytes being read or held by all requests of this kind together. */
  budget?: ByteBudget;
  /** Longest pause between two pieces of the body; 0 = none. */
  idleTimeoutMs?: number;
  /** Longest time the whole body may take to arrive; 0 = none. */
  totalTimeoutMs?: number;
}

/** A body read in full, holding its share of the budget until released. */
export interface HeldBody {
  body: Buffer;
  /** Gives the body's bytes back to the budget (idempotent); call when the request is done. */
  release(): void;
}

/** Seconds a client refused for want of room should wait before it tries again. */
export const BUDGET_RETRY_AFTER_SECONDS = 2;

type Decoding = 'identity' | 'gzip' | 'deflate' | 'br';

/** The one encoding a `Content-Encoding` header names, or undefined for one the gateway does not decode. */
export function decodingOf(header: string | undefined): Decoding | undefined {
  const value = (header ?? '').trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  if (value === 'br') return 'br';
  return undefined;
}

function decoderFor(decoding: Exclude<Decoding, 'identity'>): Transform {
  if (decoding === 'gzip') return createGunzip();
  if (decoding === 'deflate') return createInflate();
  return createBrotliDecompress();
}

/**
 * Reads a request body into one Buffer, decoding it when asked, and never holding more than its
 * limit or more than the shared budget allows. A body that fails (too large, corrupt, no room)
 * is still read to its end and thrown away, and only then rejected: answering while the client
 * is still sending would make the server reset the connection, and the sender would see
 * ECONNRESET instead of the answer. Decoding stops as soon as the decoded size passes the limit,
 * so a small compressed "bomb" costs no more than the limit. Only a body that arrives too slowly
 * (408), one that finds the budget spent (503) and a sender that leaves are rejected at once:
 * the first two are answered and their connection closed (see closeAfterAnswer).
 */
export function readHeldBody(req: IncomingMessage, options: BodyReadOptions): Promise<HeldBody> {
  const { limitBytes, budget } = options;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let decodedSize = 0;
    let wireSize = 0;
    let taken = 0;
    let failure: RungateError | undefined;
    let settled = false;
    let wireEnded = false;
    const timers: NodeJS.Timeout[] = [];
    let idleTimer: NodeJS.Timeout | undefined;

    const release = () => {
      if (taken > 0) budget?.give(taken);
      taken = 0;
    };
    const take = (bytes: number): boolean => {
      if (!budget) return true;
      if (!budget.tryTake(bytes)) return false;
      taken += bytes;
      return true;
    };
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      if (idleTimer) clearTimeout(idleTimer);
      req.off('data', onData);
      outcome();
    };
    /** From now on the body is read and thrown away; the failure is answered at its end. */
    const fail = (error: RungateError) => {
      if (failure) return;
      failure = error;
      chunks.length = 0;
      release();
      decoder?.destroy();
      // The rest is read (and dropped) to its end; a decoder that was still finishing never will.
      req.resume();
      if (wireEnded) finish();
    };
    const keep = (chunk: Buffer) => {
      if (failure) return;
      decodedSize += chunk.length;
      if (decodedSize > limitBytes) return fail(new BodyTooLargeError(limitBytes));
      // No room: not even read on (reading to throw away would churn memory too); answered at once.
      if (!take(chunk.length)) return abandon(budgetExhausted());
      chunks.push(compact(chunk));
    };
    const finish = () =>
      settle(() => {
        if (failure) return reject(failure);
        // The joined copy replaces the chunks, which are let go at once: the share stays the same.
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, decodedSize);
        chunks.length = 0;
        resolve({ body, release });
      });
    const abandon = (error: RungateError) =>
      settle(() => {
        req.pause();
        chunks.length = 0;
        release();
        decoder?.destroy();
        reject(error);
      });

    const decoding = options.decode ? decodingOf(req.headers['content-encoding']) : 'identity';
    const decoder = decoding === undefined || decoding === 'identity' ? undefined : decoderFor(decoding);
    if (decoding === undefined) {
      fail(new BodyReadError('UNSUPPORTED_CONTENT_ENCODING', { details: { contentEncoding: String(req.headers['content-encoding']) } }));
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limitBytes) fail(new BodyTooLargeError(limitBytes));
    if (decoder) {
      decoder.on('data', keep);
      decoder.on('error', () => fail(new BodyReadError('BODY_NOT_DECODABLE')));
      decoder.on('end', finish);
      // Writes only while the decoder keeps up: its input waits in the socket, not in memory.
      decoder.on('drain', () => req.resume());
    }

    const tooSlow = () => abandon(new BodyReadError('REQUEST_TIMEOUT'));
    const armIdle = () => {
      if (!options.idleTimeoutMs) return;
      if (idleTimer) idleTimer.refresh();
      else idleTimer = setTimeout(tooSlow, options.idleTimeoutMs);
    };
    if (options.totalTimeoutMs) timers.push(setTimeout(tooSlow, options.totalTimeoutMs));
    armIdle();

    function onData(chunk: Buffer): void {
      armIdle();
      wireSize += chunk.length;
      if (wireSize > limitBytes) fail(new BodyTooLargeError(limitBytes));
      if (failure) return;
      if (!decoder) return keep(chunk);
      if (!decoder.write(chunk)) req.pause();
    }
    req.on('data', onData);
    req.on('end', () => {
      wireEnded = true;
      if (decoder && !failure) decoder.end();
      else finish();
    });
    req.on('error', () => abandon(new BodyReadError('RUNGATE_ERR_REQUEST_ABORTED')));
    req.on('close', () => {
      if (!req.complete) abandon(new BodyReadError('RUNGATE_ERR_REQUEST_ABORTED'));
    });
  });
}

/**
 * A chunk that keeps no more memory than its length: a socket read is a slice of a 64 KiB
 * allocation, so a body held as many short slices would hold several times what it counts.
 */
function compact(chunk: Buffer): Buffer {
  return chunk.length * 2 >= chunk.buffer.byteLength ? chunk : Buffer.from(chunk);
}

function budgetExhausted(): BodyReadError {
  return new BodyReadError('BODY_BUDGET_EXHAUSTED', { headers: { 'Retry-After': String(BUDGET_RETRY_AFTER_SECONDS) } });
}

/** Reads a whole body as it came (no decoding, no budget); past `limitBytes` it rejects with BodyTooLargeError after reading it. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const held = await readHeldBody(req, { limitBytes });
  held.release();
  return held.body;
}
