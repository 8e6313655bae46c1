import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signBody, verifySignature } from '../../../src/webhooks/signature-verifier.js';
import { WebhookSignatureError, WebhookPayloadError } from '../../../src/errors.js';
import { parseWebhookPayload } from '../../../src/webhooks/webhook-payload.js';

const reasonOf = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof WebhookSignatureError) return error.reason;
    throw error;
  }
};

describe('verifySignature', () => {
  const body = Buffer.from('{"event":"execution.completed"}');

  it('accepts a signature by any configured secret (rotation)', () => {
    expect(reasonOf(() => verifySignature(body, signBody('new', body), ['old', 'new']))).toBeUndefined();
    expect(reasonOf(() => verifySignature(body, signBody('old', body), ['old', 'new']))).toBeUndefined();
  });

  it('names each failure', () => {
    expect(reasonOf(() => verifySignature(body, undefined, ['s']))).toBe('missing');
    expect(reasonOf(() => verifySignature(body, '', ['s']))).toBe('missing');
    expect(reasonOf(() => verifySignature(body, 'sha1=abc', ['s']))).toBe('malformed');
    expect(reasonOf(() => verifySignature(body, signBody('s', body).toUpperCase(), ['s']))).toBe('malformed');
    expect(reasonOf(() => verifySignature(body, `${signBody('s', body)}=`, ['s']))).toBe('malformed');
    expect(reasonOf(() => verifySignature(body, signBody('s', body), []))).toBe('no_secret');
    expect(reasonOf(() => verifySignature(body, signBody('t', body), ['s']))).toBe('mismatch');
  });

  it('no header other than the right one ever verifies', () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 200 }), (header, bytes) => {
        const raw = Buffer.from(bytes);
        fc.pre(header !== signBody('secret', raw));
        expect(() => verifySignature(raw, header, ['secret'])).toThrow(WebhookSignatureError);
      }),
    );
  });
});

describe('parseWebhookPayload', () => {
  it('never throws anything but WebhookPayloadError, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        try {
          parseWebhookPayload(Buffer.from(text));
        } catch (error) {
          expect(error).toBeInstanceOf(WebhookPayloadError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('accepts both event families and keeps data as given', () => {
    const event = parseWebhookPayload(Buffer.from(JSON.stringify({ event: 'run.completed', timestamp: '2024-01-15T10:30:00Z', data: { id: 'exec_1', flowId: 'f', status: 'completed', output: { a: 1 } } })));
    expect(event.event).toBe('run.completed');
    expect(event.data).toEqual({ id: 'exec_1', flowId: 'f', status: 'completed', output: { a: 1 } });
  });
});
