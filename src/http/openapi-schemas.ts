/** Shared parts of the OpenAPI document: schemas, parameters and answers (see openapi-document.ts). */

const idPattern = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$';

/** The JSON Schemas of what the gateway's routes take and answer. */
export const SCHEMAS = {
  Run: {
    type: 'object',
    description: "Doclo's Execution with `status` normalised, plus `seq` and `source` (contract section 2). Unknown Doclo fields pass through.",
    required: ['id', 'flowId', 'status', 'seq', 'source'],
    additionalProperties: true,
    properties: {
      id: { type: 'string', pattern: idPattern, examples: ['exec_abc123'] },
      flowId: { type: 'string', pattern: idPattern },
      status: { type: 'string', enum: ['queued', 'running', 'success', 'failed', 'cancelled'] },
      seq: { type: 'integer', minimum: 1, description: 'Grows by at least 1 with each accepted change of this run' },
      source: { type: 'string', enum: ['webhook', 'poll', 'request'] },
      version: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' },
      completedAt: { type: 'string', format: 'date-time' },
      cancelledAt: { type: 'string', format: 'date-time' },
      duration: { type: 'number', description: 'milliseconds' },
      progress: { type: 'object', properties: { step: { type: 'string' }, percentage: { type: 'number', minimum: 0, maximum: 100 } } },
      output: { description: 'flow-specific output, on success' },
      error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, step: { type: 'string' }, details: { type: 'object' } } },
      metrics: { type: 'object', additionalProperties: true },
      metadata: { type: 'object', additionalProperties: true },
      stale: { type: 'boolean', description: 'The gateway gave up polling this unfinished run' },
    },
  },
  Error: {
    type: 'object',
    description: "Doclo's error envelope",
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'string', examples: ['EXECUTION_NOT_FOUND'] }, message: { type: 'string' }, details: { type: 'object', additionalProperties: true } },
      },
    },
  },
  StartRequest: {
    type: 'object',
    required: ['input'],
    properties: {
      input: {
        type: 'object',
        required: ['document'],
        properties: {
          document: { type: 'object', required: ['base64'], properties: { base64: { type: 'string' }, filename: { type: 'string' }, mimeType: { type: 'string' } } },
          variables: { type: 'object', additionalProperties: true },
        },
      },
      metadata: { type: 'object', additionalProperties: true },
      version: { type: 'string' },
      idempotencyKey: { type: 'string', minLength: 1, maxLength: 256, description: 'Scoped to the owner; a body field, as Doclo takes it' },
      webhookUrl: { type: 'string', format: 'uri', description: 'Delivered by the gateway itself (contract section 8), never sent to Doclo' },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'number', default: 30000, description: 'ms, with wait; more than 60000 is held to 60000' },
    },
  },
  RunList: {
    type: 'object',
    required: ['data'],
    properties: { data: { type: 'array', items: { $ref: '#/components/schemas/Run' } }, nextCursor: { type: 'string' } },
  },
  Timeline: {
    type: 'object',
    required: ['data'],
    properties: {
      data: {
        type: 'array',
        items: {
          type: 'object',
          required: ['seq', 'status', 'source', 'at'],
          properties: {
            seq: { type: 'integer' }, status: { type: 'string' }, source: { type: 'string', enum: ['webhook', 'poll', 'request'] },
            at: { type: 'string', format: 'date-time' }, progress: { type: 'object' },
          },
        },
      },
    },
  },
  Deliveries: {
    type: 'object',
    required: ['data'],
    properties: {
      data: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'url', 'event', 'status', 'attempts'],
          properties: {
            id: { type: 'string' }, url: { type: 'string', description: 'without its query string' }, event: { type: 'string' },
            status: { type: 'string', enum: ['pending', 'delivered', 'failed'] }, attempts: { type: 'integer' },
            lastAttemptAt: { type: 'string', format: 'date-time' }, lastStatus: { type: 'integer' }, lastError: { type: 'string' },
            nextAttemptAt: { type: 'string', format: 'date-time' }, deliveredAt: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  },
  WebhookEvent: {
    type: 'object',
    required: ['event', 'data'],
    properties: {
      event: { type: 'string', examples: ['execution.completed', 'execution.failed', 'run.completed'] },
      timestamp: { type: 'string', format: 'date-time' },
      data: { type: 'object', required: ['id', 'status'], additionalProperties: true },
    },
  },
  PassedThrough: { description: "Doclo's own answer, status, body and X-RateLimit-* headers as Doclo sent them" },
} as const;

const rateLimitHeaders = {
  'Retry-After': { description: 'seconds', schema: { type: 'integer' } },
  'X-RateLimit-Limit': { schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { schema: { type: 'integer' } },
  'X-RateLimit-Reset': { description: 'Unix seconds when the window resets', schema: { type: 'integer' } },
};

const error = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** Answers that many routes share. */
export const RESPONSES = {
  BadRequest: error('INVALID_INPUT (or VALIDATION_ERROR / MISSING_REQUIRED_FIELD, 422)'),
  Unauthorized: error('UNAUTHORIZED: a token is needed (auth on)'),
  Forbidden: error("FORBIDDEN: this token may not read this run (also when it does not exist), or a cross-site page"),
  RunNotFound: error('EXECUTION_NOT_FOUND (also for an id outside the id rule, without asking Doclo)'),
  RateLimited: error("RATE_LIMITED: the gateway's own limit, or Doclo's answered at once", rateLimitHeaders),
  Unavailable: error('UPSTREAM_UNAVAILABLE: Doclo could not be reached; retry', { 'Retry-After': rateLimitHeaders['Retry-After'] }),
  Run: { description: 'the run', content: { 'application/json': { schema: { $ref: '#/components/schemas/Run' } } } },
  EventStream: {
    description: 'text/event-stream: `event: run`, `id: <seq>`, `data: <run JSON>` (one line); comment lines keep it alive',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  },
} as const;

/** Path and query parameters that many routes share. */
export const PARAMETERS = {
  RunId: { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: idPattern } },
  FlowId: { name: 'flowId', in: 'path', required: true, schema: { type: 'string', pattern: idPattern } },
  LastEventId: { name: 'Last-Event-ID', in: 'header', required: false, description: 'the seq the consumer has (EventSource resends it)', schema: { type: 'integer', minimum: 0 } },
  Since: { name: 'since', in: 'query', required: false, description: 'the seq the consumer has', schema: { type: 'integer', minimum: 0 } },
  AccessToken: { name: 'access_token', in: 'query', required: false, description: 'the token, for clients that cannot set headers (never logged)', schema: { type: 'string' } },
} as const;
