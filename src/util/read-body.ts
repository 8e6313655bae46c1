import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError } from '../errors.js';

/**
 * Reads a request body into one Buffer. Past `limitBytes` it keeps reading but discards, and
 * rejects with BodyTooLargeError only at the end: answering 413 while the client is still
 * sending would make the server reset the connection, and the sender would see ECONNRESET
 * instead of the 413.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limitBytes) tooLarge = true;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (tooLarge) return;
      if (size > limitBytes) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new BodyTooLargeError(limitBytes)) : resolve(Buffer.concat(chunks, size))));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('request aborted')));
  });
}
