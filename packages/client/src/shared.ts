/**
 * `@rungate/client/shared`: the few dependency-free helpers the rungate gateway shares with its
 * client, so each exists once. Not part of the client's API: they follow the gateway's needs.
 */
export { ID_PATTERN, FINAL_STATUSES, isFinalStatus, isValidId, statusRank } from './run.js';
export { isPlainObject } from './is-plain-object.js';
export { fullJitterDelay, type BackoffPolicy } from './backoff.js';
export { abortReason, sleep, unrefTimer } from './timers.js';
