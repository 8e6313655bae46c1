/**
 * `@rungate/client` (also `rungate/client`): Doclo's runs API through a rungate gateway, with
 * waits and subscriptions answered by push over one WebSocket. Node 20 and browsers, plain ESM.
 */
export { createClient, type ClientOptions, type FlowSubscribeOptions, type RunListQuery, type RungateClient, type SubscribeOptions } from './client.js';
export {
  AuthenticationError,
  AuthorizationError,
  ClientClosedError,
  DocloError,
  NetworkError,
  NotFoundError,
  RateLimitError,
  TimeoutError,
  ValidationError,
  type RateLimitInfo,
} from './errors.js';
export type { BackoffOptions } from './backoff.js';
export type { FetchLike } from './http-client.js';
export type { WebSocketConstructor, WebSocketLike } from './web-socket.js';
export type { DocumentInput, FlowRunOptions, WaitForManyOptions, WaitOptions } from './options.js';
export { isFinalStatus, type Delivery, type Execution, type ExecutionFields, type Run, type RunError, type RunSource, type RunStatus, type TimelineEntry, type RunPage } from './run.js';
