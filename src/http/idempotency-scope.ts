import { createHash } from 'node:crypto';

/** Hex characters of the owner's hash in a scoped key: 64 bits, so owners do not collide by chance. */
const OWNER_HASH_CHARS = 16;

/**
 * The idempotency key sent to Doclo for a caller's key: Doclo's keys are shared by everyone who
 * uses the gateway's API key, so each owner's key is prefixed with a hash of the owner (contract
 * section 2: the same key from two owners starts two runs). The owner's name itself never goes
 * upstream. With auth off there is one owner, and the key goes as it came.
 */
export function ownerScopedKey(owner: string | undefined, key: string): string {
  if (owner === undefined) return key;
  return `${createHash('sha256').update(owner).digest('hex').slice(0, OWNER_HASH_CHARS)}:${key}`;
}
