/**
 * Doclo's webhook signature: `sha256=` + lowercase hex HMAC-SHA256 keyed with the secret (UTF-8)
 * over the exact bytes of the body — the same function the gateway's verifier is tested with.
 */
export { signBody as signWebhookBody } from '../webhooks/signature-verifier.js';
