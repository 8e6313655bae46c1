import { createHmac } from 'node:crypto';

/**
 * Doclo's webhook signature: `sha256=` + lowercase hex HMAC-SHA256 keyed with the secret (UTF-8)
 * over the exact bytes of the body. Signing a re-serialised object would not match, so callers
 * pass the very string or buffer they send.
 */
export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
