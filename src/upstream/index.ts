export type { CallOptions, CallPriority, ForwardAnswer, ForwardRequest, RateBudgetSnapshot, StartRunBody, Upstream } from './upstream.js';
export {
  UPSTREAM_ERROR_CODES, UpstreamError, classifyStatus, errorFromResponse, isRetryableKind,
  type ErrorEnvelope, type UpstreamErrorInit, type UpstreamErrorKind,
} from './upstream-error.js';
export { createUpstream, type UpstreamOptions, type UpstreamRequestInfo, type UpstreamRoute } from './http-upstream.js';
export { RateBudget, type RateBudgetOptions } from './rate-budget.js';
export { ConcurrencyLimiter, type ReleaseSlot } from './concurrency-limiter.js';
export { parseExecution } from './execution-parser.js';
export { parseRateLimitHeaders, parseRetryAfter, type HeaderSource, type RateLimitInfo } from './rate-limit-headers.js';
export { forwardRequest, type ForwardTarget } from './forward.js';
export { requestHeadersToForward, responseHeadersToReturn } from './forward-headers.js';
