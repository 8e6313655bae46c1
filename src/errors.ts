// The one catalogue of every error code rungate emits — in HTTP answers (Doclo's envelope), in
// WebSocket error frames, in the simulator's answers, and the internal codes that carry a failure
// to the place that answers it. docs/errors.md is its table; a test keeps the two in step.

/** One code of the catalogue. */
export interface ErrorSpec {
  /** The HTTP status it is answered with; absent for codes that never reach an HTTP answer as such. */
  readonly status?: number;
  /** The default message (callers may give a more precise one). */
  readonly message: string;
  /** `doclo`: Doclo's own code, answered as Doclo does; `rungate`: the gateway's own. */
  readonly origin: 'doclo' | 'rungate';
  /** The class that carries it, when one other than RungateError does (instanceof checks). */
  readonly className?: string;
  /** Where it shows and what it turns into, when that is not simply the HTTP answer. */
  readonly note?: string;
}

/** Every code the gateway and the simulator answer with or carry internally. */
export const ERROR_CATALOGUE = {
  // Doclo's codes (doclo-api.md §8.3), answered by the gateway and the simulator as Doclo does.
  INVALID_INPUT: { status: 400, origin: 'doclo', message: 'The request is not valid' },
  VALIDATION_ERROR: { status: 422, origin: 'doclo', message: 'A field has an invalid value' },
  MISSING_REQUIRED_FIELD: { status: 422, origin: 'doclo', message: 'A required field is missing' },
  INVALID_DOCUMENT: { status: 422, origin: 'doclo', message: 'The document is empty, corrupt or of an unsupported type' },
  UNAUTHORIZED: { status: 401, origin: 'doclo', message: 'Missing or invalid credentials' },
  FORBIDDEN: { status: 403, origin: 'doclo', message: 'This token may not access this run' },
  EXECUTION_NOT_FOUND: { status: 404, origin: 'doclo', message: 'Execution not found' },
  FLOW_NOT_FOUND: { status: 404, origin: 'doclo', message: 'Flow not found' },
  VERSION_NOT_FOUND: { status: 404, origin: 'doclo', message: 'Flow version not found', note: 'simulator (`GET /flows/:flowId?version=`)' },
  ALREADY_CANCELLED: { status: 409, origin: 'doclo', message: 'Execution is already cancelled' },
  NOT_CANCELLABLE: { status: 409, origin: 'doclo', message: 'Execution has already finished' },
  RATE_LIMITED: { status: 429, origin: 'doclo', message: 'Too many requests; slow down' },
  EXECUTION_TIMEOUT: { status: 504, origin: 'doclo', message: 'Execution did not complete in time; it goes on' },
  INTERNAL_ERROR: { status: 500, origin: 'doclo', message: 'Internal error' },
  UNKNOWN_ERROR: {
    origin: 'doclo',
    message: 'Doclo answered an error without its envelope',
    className: 'UpstreamError',
    note: "Doclo's SDK name for an error body it cannot read; passed on with Doclo's status",
  },
  EXTRACTION_FAILED: {
    origin: 'rungate',
    message: 'The simulated extraction failed',
    note: "the simulator's `error.code` inside a failed run, not an HTTP answer",
  },

  // Answered by the simulator (its inventions where Doclo documents nothing), and by the gateway where the note says.
  IDEMPOTENCY_KEY_CONFLICT: {
    status: 409,
    origin: 'rungate',
    message: 'Idempotency key was already used with a different request',
    note: 'simulator; the gateway also answers it when Doclo answers a start with a run the caller may not read',
  },
  METHOD_NOT_ALLOWED: { status: 405, origin: 'rungate', message: 'Method not allowed here', note: 'simulator' },
  SERVICE_UNAVAILABLE: { status: 503, origin: 'rungate', message: 'Service temporarily unavailable', note: 'simulator (injected faults, shutdown)' },

  // The gateway's own HTTP answers.
  NOT_FOUND: { status: 404, origin: 'rungate', message: 'No such route' },
  PAYLOAD_TOO_LARGE: { status: 413, origin: 'rungate', message: 'The body is larger than the limit', note: 'the limit applies to the decoded size; `details.limitBytes`' },
  UNSUPPORTED_CONTENT_ENCODING: {
    status: 415,
    origin: 'rungate',
    message: 'The body has a Content-Encoding the gateway does not decode (it decodes gzip, deflate and br)',
    className: 'BodyReadError',
  },
  BODY_NOT_DECODABLE: { status: 400, origin: 'rungate', message: 'The body is not what its Content-Encoding says (corrupt or truncated)', className: 'BodyReadError' },
  REQUEST_TIMEOUT: { status: 408, origin: 'rungate', message: 'The body arrived too slowly', className: 'BodyReadError', note: 'the connection is closed after the answer' },
  BODY_BUDGET_EXHAUSTED: {
    status: 503,
    origin: 'rungate',
    message: 'Too many request bytes are being read or held at once; try again shortly',
    className: 'BodyReadError',
    note: 'with `Retry-After`; bounds `--request-bodies-in-flight` and `--webhook-bodies-in-flight`',
  },
  ORIGIN_NOT_ALLOWED: {
    status: 403,
    origin: 'rungate',
    message: "A page of this origin may not use this route; see --allowed-origins",
    note: 'a WebSocket upgrade is refused with a bare 403',
  },
  UPSTREAM_UNAVAILABLE: { status: 503, origin: 'rungate', message: 'Doclo could not be reached; try again' },
  UPSTREAM_TIMEOUT: { status: 504, origin: 'rungate', message: 'Doclo did not answer in time; try again' },
  UPSTREAM_BAD_RESPONSE: { status: 502, origin: 'rungate', message: 'Doclo answered with something that is not a run' },
  RUNGATE_ERR_WEBHOOK_SIGNATURE: {
    status: 401,
    origin: 'rungate',
    message: 'The webhook signature is missing, malformed or does not match',
    className: 'WebhookSignatureError',
    note: '`details.reason`: missing, malformed, mismatch, no_secret',
  },
  RUNGATE_ERR_WEBHOOK_PAYLOAD: { status: 400, origin: 'rungate', message: 'The webhook body is not a Doclo event', className: 'WebhookPayloadError' },
  RUNGATE_ERR_WEBHOOK_STALE: { status: 400, origin: 'rungate', message: "The webhook's signed timestamp is older than the tolerance" },

  // Internal codes: thrown inside the gateway and answered as the note says.
  RUNGATE_ERR_CONFIG: { origin: 'rungate', message: 'A flag, variable or value is not valid', className: 'ConfigError', note: 'the CLI prints it and exits 2; 64 for watch, run and token' },
  RUNGATE_ERR_STORE_UNREACHABLE: {
    origin: 'rungate',
    message: 'The store named by --store cannot be reached or opened at start',
    className: 'StoreUnreachableError',
    note: 'the CLI prints it as one line and exits 1',
  },
  RUNGATE_ERR_REQUEST_ABORTED: {
    origin: 'rungate',
    message: 'The client went away before its body arrived in full',
    className: 'BodyReadError',
    note: 'nothing is answered; logged at debug',
  },
  RUNGATE_ERR_AUTH: { origin: 'rungate', message: 'The token does not authenticate', className: 'AuthError', note: 'answered as UNAUTHORIZED (HTTP 401) or `unauthorized` (WebSocket)' },
  RUNGATE_ERR_LOOKUP_BUDGET: {
    origin: 'rungate',
    message: 'Too many lookups of unknown runs; try again later',
    className: 'LookupBudgetError',
    note: 'answered as RATE_LIMITED (HTTP 429) or `limit_exceeded` (WebSocket)',
  },
  RUNGATE_ERR_RELAY_BLOCKED: {
    origin: 'rungate',
    message: 'The host of a webhookUrl resolves to an address deliveries may not reach',
    className: 'BlockedAddressError',
    note: 'the relay\'s pinned lookup; the delivery is failed with `lastError: "blocked"`',
  },
  RUNGATE_ERR_INVALID_CURSOR: { origin: 'rungate', message: 'The cursor is not one this gateway handed out', className: 'InvalidCursorError', note: 'answered as INVALID_INPUT (HTTP 400)' },
  RUNGATE_ERR_WRITE_CONFLICT: { origin: 'rungate', message: 'The run kept changing while it was being written', className: 'WriteConflictError', note: 'answered as INTERNAL_ERROR (HTTP 500)' },
  RUNGATE_ERR_STORE_RESET: {
    origin: 'rungate',
    message: 'The shared store lost its data since this instance last looked',
    className: 'StoreResetError',
    note: 'refuses a write; the writer has the reset handled and writes again',
  },
  RUNGATE_ERR_UPSTREAM_NETWORK: { origin: 'rungate', message: 'Doclo could not be reached', className: 'UpstreamError', note: 'answered as UPSTREAM_UNAVAILABLE (HTTP 503)' },
  RUNGATE_ERR_UPSTREAM_TIMEOUT: { origin: 'rungate', message: 'Doclo did not answer in time', className: 'UpstreamError', note: 'answered as UPSTREAM_TIMEOUT (HTTP 504)' },
  RUNGATE_ERR_UPSTREAM_BAD_RESPONSE: { origin: 'rungate', message: 'Doclo answered with something that is not a run', className: 'UpstreamError', note: 'answered as UPSTREAM_BAD_RESPONSE (HTTP 502)' },
  RUNGATE_ERR_UPSTREAM_CLOSED: { origin: 'rungate', message: 'The upstream client is closed (shutting down)', className: 'UpstreamError', note: 'answered as UPSTREAM_UNAVAILABLE (HTTP 503)' },
} as const satisfies Record<string, ErrorSpec>;

/** A code of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The codes of WebSocket `{"type":"error"}` frames (contract section 3). */
export const WS_ERROR_CATALOGUE = {
  bad_request: 'The frame is not a valid client message; the connection stays usable',
  not_found: 'Neither the gateway nor Doclo knows the run',
  unauthorized: 'The token is missing, bad or expired; without a valid one the connection closes (1008)',
  forbidden: 'This token may not read this run (also for runs that do not exist), or subscribe to every flow',
  limit_exceeded: 'A per-connection limit (subscriptions, lookups, queued frames) is reached',
  unavailable: 'Doclo could not be asked about the run just now; the client may retry',
} as const satisfies Record<string, string>;

/** A WebSocket error frame's code. */
export type WsErrorCode = keyof typeof WS_ERROR_CATALOGUE;

/** Doclo's error envelope. */
export interface ErrorEnvelope {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** Options of a RungateError besides its code. */
export interface RungateErrorOptions {
  message?: string;
  details?: Record<string, unknown>;
  /** Response headers that go with the answer (e.g. `Retry-After`). */
  headers?: Record<string, string>;
  /** Overrides the catalogue's status (pass-through of an upstream answer). */
  status?: number;
  cause?: unknown;
}

/**
 * An error with a catalogue code. Its `status` is the catalogue's (500 for codes that have none:
 * they should have been translated before reaching an answer). Answers carry Doclo's envelope.
 */
export class RungateError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
  /** False for internal codes (no status in the catalogue): they must be translated, not answered. */
  readonly answerable: boolean;

  constructor(code: ErrorCode, options: RungateErrorOptions = {}) {
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    super(options.message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RungateError';
    this.code = code;
    this.status = options.status ?? spec.status ?? 500;
    this.answerable = options.status !== undefined || spec.status !== undefined;
    if (options.details !== undefined) this.details = options.details;
    if (options.headers !== undefined) this.headers = options.headers;
  }

  /**
   * An answer that passes on another service's error as it came (Doclo's 4xx with a code the
   * catalogue need not know, such as INSUFFICIENT_CREDITS).
   */
  static passThrough(status: number, code: string, message: string, details?: Record<string, unknown>, headers?: Record<string, string>): RungateError {
    const error = new RungateError('INTERNAL_ERROR', { message, status, ...(details === undefined ? {} : { details }), ...(headers === undefined ? {} : { headers }) });
    (error as { code: string }).code = code;
    return error;
  }

  /** `{"error":{"code","message","details?"}}`. */
  toEnvelope(): ErrorEnvelope {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/** A bad flag, environment variable or value: the CLI prints the message and exits 2. */
export class ConfigError extends RungateError {
  constructor(message: string) {
    super('RUNGATE_ERR_CONFIG', { message });
    this.name = 'ConfigError';
  }
}

/**
 * The store `--store` names could not be reached (or opened) at start. The message is one line
 * that names `--store`, the store with any password hidden, and why; the CLI prints just that.
 */
export class StoreUnreachableError extends RungateError {
  /** `problem`: which store and why, e.g. `Redis at redis://:***@host:6379/0 is not reachable: connect ECONNREFUSED …`. */
  constructor(problem: string, cause?: unknown) {
    super('RUNGATE_ERR_STORE_UNREACHABLE', { message: `--store: ${problem}`, cause });
    this.name = 'StoreUnreachableError';
  }
}

/** Why a token does not authenticate. */
export type AuthFailure = 'missing' | 'invalid' | 'expired';

const AUTH_MESSAGES: Record<AuthFailure, string> = {
  missing: 'a bearer token is required',
  expired: 'the token has expired',
  invalid: 'the token is not valid',
};

/** A token that does not authenticate; `reason` says why (asserted by tests). */
export class AuthError extends RungateError {
  constructor(readonly reason: AuthFailure) {
    super('RUNGATE_ERR_AUTH', { message: AUTH_MESSAGES[reason] });
    this.name = 'AuthError';
  }
}

/** How a webhook signature failed. */
export type SignatureFailure = 'missing' | 'malformed' | 'mismatch' | 'no_secret';

const SIGNATURE_MESSAGES: Record<SignatureFailure, string> = {
  missing: 'missing X-Doclo-Signature header',
  malformed: "X-Doclo-Signature must be 'sha256=<hex>'",
  no_secret: 'no webhook secret is configured',
  mismatch: 'signature does not match',
};

/** The webhook signature failed; `reason` says how (asserted by tests, counted in metrics). */
export class WebhookSignatureError extends RungateError {
  constructor(readonly reason: SignatureFailure) {
    super('RUNGATE_ERR_WEBHOOK_SIGNATURE', { message: SIGNATURE_MESSAGES[reason], details: { reason } });
    this.name = 'WebhookSignatureError';
  }
}

/** A verified webhook whose body is not a Doclo event. */
export class WebhookPayloadError extends RungateError {
  constructor(message: string) {
    super('RUNGATE_ERR_WEBHOOK_PAYLOAD', { message });
    this.name = 'WebhookPayloadError';
  }
}

/** Why a request body could not be read: too slow, badly encoded, no room, or its sender left. */
export type BodyReadCode = 'UNSUPPORTED_CONTENT_ENCODING' | 'BODY_NOT_DECODABLE' | 'REQUEST_TIMEOUT' | 'BODY_BUDGET_EXHAUSTED' | 'RUNGATE_ERR_REQUEST_ABORTED';

/** A request body that could not be read (other than too large); `code` says why. */
export class BodyReadError extends RungateError {
  constructor(code: BodyReadCode, options: RungateErrorOptions = {}) {
    super(code, options);
    this.name = 'BodyReadError';
  }
}

/** A body passed its limit; it was read to the end and thrown away. */
export class BodyTooLargeError extends RungateError {
  constructor(readonly limitBytes: number) {
    super('PAYLOAD_TOO_LARGE', { message: `Body is larger than ${limitBytes} bytes`, details: { limitBytes } });
    this.name = 'BodyTooLargeError';
  }
}

/** A client asked about an unknown run, but the lookup budget is spent. */
export class LookupBudgetError extends RungateError {
  constructor() {
    super('RUNGATE_ERR_LOOKUP_BUDGET');
    this.name = 'LookupBudgetError';
  }
}

/** Raised by the relay's pinned lookup when a host name resolves to a blocked address. */
export class BlockedAddressError extends RungateError {
  constructor(hostname: string) {
    super('RUNGATE_ERR_RELAY_BLOCKED', { message: `${hostname} resolves to an address deliveries may not reach` });
    this.name = 'BlockedAddressError';
  }
}

/** A list cursor that no page of this store handed out. */
export class InvalidCursorError extends RungateError {
  constructor() {
    super('RUNGATE_ERR_INVALID_CURSOR');
    this.name = 'InvalidCursorError';
  }
}

/** Compare-and-set kept losing: something writes this run in a tight loop. */
export class WriteConflictError extends RungateError {
  constructor(id: string) {
    super('RUNGATE_ERR_WRITE_CONFLICT', { message: `run ${id} kept changing while it was being written` });
    this.name = 'WriteConflictError';
  }
}

/**
 * A shared store refused a write because it no longer holds the mark this instance expects: it
 * lost its data (or went back in time) since, or another instance already re-marked it after such
 * a loss. Nothing was written.
 */
export class StoreResetError extends RungateError {
  constructor(readonly expectedMarkId: string) {
    super('RUNGATE_ERR_STORE_RESET');
    this.name = 'StoreResetError';
  }
}
