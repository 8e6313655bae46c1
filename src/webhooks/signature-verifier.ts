import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookSignatureError } from '../errors.js';

const SIGNATURE_PATTERN = /^sha256=([0-9a-f]{64})$/;

/**
 * Verifies Doclo's `X-Doclo-Signature: sha256=<lowercase hex HMAC-SHA256(secret, raw body)>`
 * against each candidate secret (rotation: any one may match), in constant time per secret.
 * Like Doclo's client, only lowercase hex is accepted.
 */
export function verifySignature(rawBody: Buffer, header: string | undefined, secrets: readonly string[]): void {
  if (header === undefined || header === '') throw new WebhookSignatureError('missing');
  const match = SIGNATURE_PATTERN.exec(header.trim());
  if (!match) throw new WebhookSignatureError('malformed');
  if (secrets.length === 0) throw new WebhookSignatureError('no_secret');
  const given = Buffer.from(match[1]!, 'hex');
  let valid = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(rawBody).digest();
    // Check every secret, so timing does not tell which one (or whether an early one) matched.
    if (timingSafeEqual(expected, given)) valid = true;
  }
  if (!valid) throw new WebhookSignatureError('mismatch');
}

/** Signs a body the way Doclo does (for tests, tools and the simulator). */
export function signBody(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}
