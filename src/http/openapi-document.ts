import { PARAMETERS, RESPONSES, SCHEMAS } from './openapi-schemas.js';

const ref = (kind: 'parameters' | 'responses' | 'schemas', name: string) => ({ $ref: `#/components/${kind}/${name}` });
const json = (schema: unknown, description: string) => ({ description, content: { 'application/json': { schema } } });
const runErrors = {
  '401': ref('responses', 'Unauthorized'), '403': ref('responses', 'Forbidden'), '404': ref('responses', 'RunNotFound'), '429': ref('responses', 'RateLimited'),
};
const publicRoute = { security: [] as unknown[] };
const passThroughAnswer = {
  description: "Doclo's answer as it came (status, body, X-RateLimit-*); 404 NOT_FOUND for paths the gateway keeps (runs) or that step out of the API",
  content: { 'application/json': { schema: ref('schemas', 'PassedThrough') } },
};

/**
 * The OpenAPI 3.1 description of every route of contract sections 2, 8 and 9 (served at
 * `GET /openapi.json`). A test validates it with a standard validator and checks that every route
 * the express app serves is in it.
 */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'rungate',
      version,
      description:
        "A webhook-plus-polling gateway for Doclo runs. Doclo-compatible routes use Doclo's paths, bodies, status codes and error envelope; " +
        'other GET /api/v1/… routes are passed through to Doclo with the gateway\'s API key (other methods with --proxy-writes). ' +
        'The WebSocket protocol of /ws is described in the README.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'needed when the gateway runs with --jwt-secret or client keys' } },
      schemas: SCHEMAS,
      responses: RESPONSES,
      parameters: PARAMETERS,
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/v1/flows/{flowId}/run': {
        post: {
          summary: 'Start a run (Doclo-compatible); wait:true is served by the gateway',
          parameters: [ref('parameters', 'FlowId')],
          requestBody: { required: true, content: { 'application/json': { schema: ref('schemas', 'StartRequest') } } },
          responses: {
            '200': ref('responses', 'Run'), '400': ref('responses', 'BadRequest'), '401': ref('responses', 'Unauthorized'),
            '404': json(ref('schemas', 'Error'), 'FLOW_NOT_FOUND'), '413': json(ref('schemas', 'Error'), 'PAYLOAD_TOO_LARGE'),
            '422': json(ref('schemas', 'Error'), 'VALIDATION_ERROR, MISSING_REQUIRED_FIELD, INVALID_DOCUMENT'),
            '429': ref('responses', 'RateLimited'), '503': ref('responses', 'Unavailable'),
            '504': json(ref('schemas', 'Error'), 'EXECUTION_TIMEOUT (wait:true past its timeout; details.executionId, the run goes on) or UPSTREAM_TIMEOUT'),
          },
        },
      },
      '/api/v1/runs': {
        get: {
          summary: "The gateway's own list of the runs it tracks, newest first",
          parameters: [
            { name: 'flowId', in: 'query', schema: { type: 'string' } },
            { name: 'status', in: 'query', schema: { type: 'string', enum: ['queued', 'running', 'success', 'failed', 'cancelled'] } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, default: 50, description: 'more than 500 is capped' } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: { '200': json(ref('schemas', 'RunList'), 'a page of runs'), '400': ref('responses', 'BadRequest'), '401': ref('responses', 'Unauthorized') },
        },
      },
      '/api/v1/runs/{id}': {
        get: {
          summary: "The run's latest known state; Prefer: wait=N holds the answer until it ends",
          parameters: [ref('parameters', 'RunId'), { name: 'Prefer', in: 'header', schema: { type: 'string', examples: ['wait=30'] } }],
          responses: { '200': ref('responses', 'Run'), ...runErrors, '503': ref('responses', 'Unavailable') },
        },
      },
      '/api/v1/runs/{id}/cancel': {
        post: {
          summary: "Cancel upstream; Doclo's 409s pass through",
          parameters: [ref('parameters', 'RunId')],
          responses: { '200': ref('responses', 'Run'), ...runErrors, '409': json(ref('schemas', 'Error'), 'ALREADY_CANCELLED or NOT_CANCELLABLE'), '503': ref('responses', 'Unavailable') },
        },
      },
      '/api/v1/runs/{id}/timeline': {
        get: {
          summary: 'Every state change the gateway accepted for the run, oldest first',
          parameters: [ref('parameters', 'RunId')],
          responses: { '200': json(ref('schemas', 'Timeline'), 'the timeline'), ...runErrors },
        },
      },
      '/api/v1/runs/{id}/deliveries': {
        get: {
          summary: "Deliveries of the run's final state to the caller's webhookUrl (contract section 8)",
          parameters: [ref('parameters', 'RunId')],
          responses: { '200': json(ref('schemas', 'Deliveries'), 'the deliveries'), ...runErrors },
        },
      },
      '/api/v1/runs/{id}/deliveries/retry': {
        post: {
          summary: 'Queue the failed deliveries again',
          parameters: [ref('parameters', 'RunId')],
          responses: { '202': json(ref('schemas', 'Deliveries'), 'the deliveries, the failed ones queued again'), ...runErrors },
        },
      },
      '/api/v1/runs/{id}/events': {
        get: {
          summary: "Server-Sent Events of one run: its latest state (when newer than Last-Event-ID / since), every change, then the stream ends after the final state",
          parameters: [ref('parameters', 'RunId'), ref('parameters', 'LastEventId'), ref('parameters', 'Since'), ref('parameters', 'AccessToken')],
          responses: { '200': ref('responses', 'EventStream'), '204': { description: 'the run is final and the consumer has its final state' }, '400': ref('responses', 'BadRequest'), ...runErrors },
        },
      },
      '/api/v1/events': {
        get: {
          summary: "Server-Sent Events of a flow's runs from then on (* = every run; admins only with auth on)",
          parameters: [{ name: 'flowId', in: 'query', required: true, schema: { type: 'string' } }, ref('parameters', 'AccessToken')],
          responses: {
            '200': ref('responses', 'EventStream'), '400': ref('responses', 'BadRequest'), '401': ref('responses', 'Unauthorized'),
            '403': ref('responses', 'Forbidden'), '404': json(ref('schemas', 'Error'), 'FLOW_NOT_FOUND (a flow id outside the id rule)'),
          },
        },
      },
      '/api/v1/stats': {
        get: { summary: "The dashboard's counters as JSON", responses: { '200': json({ type: 'object' }, 'counters'), '401': ref('responses', 'Unauthorized') } },
      },
      '/api/v1/flows': {
        get: {
          summary: "Doclo's flows, passed through with the gateway's API key (one of the Doclo routes the gateway does not answer itself)",
          'x-rungate-pass-through': true,
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer' } }, { name: 'offset', in: 'query', schema: { type: 'integer' } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: { default: passThroughAnswer },
        },
      },
      '/api/v1/flows/{flowId}': {
        get: {
          summary: "One of Doclo's flows, passed through (404 FLOW_NOT_FOUND for an id outside the id rule, without asking Doclo)",
          'x-rungate-pass-through': true,
          parameters: [ref('parameters', 'FlowId'), { name: 'version', in: 'query', schema: { type: 'string' } }],
          responses: { default: passThroughAnswer },
        },
      },
      '/webhooks/doclo': {
        post: {
          ...publicRoute,
          summary: "Doclo's webhook receiver; X-Doclo-Signature is its authentication",
          parameters: [{ name: 'X-Doclo-Signature', in: 'header', required: true, schema: { type: 'string', pattern: '^sha256=[0-9a-f]{64}$' } }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('schemas', 'WebhookEvent') } } },
          responses: {
            '200': { description: 'accepted (also a duplicate)' }, '400': json(ref('schemas', 'Error'), 'malformed'),
            '401': json(ref('schemas', 'Error'), 'missing or wrong signature'), '413': json(ref('schemas', 'Error'), 'over the body limit'),
            '503': { description: 'too many unverified bytes in memory; retry after Retry-After' },
          },
        },
      },
      '/healthz': { get: { ...publicRoute, summary: 'Liveness', responses: { '200': json({ type: 'object' }, 'the process runs') } } },
      '/readyz': {
        get: { ...publicRoute, summary: 'Readiness: the store answers and shutdown has not begun', responses: { '200': json({ type: 'object' }, 'ready'), '503': json({ type: 'object' }, 'not ready') } },
      },
      '/metrics': { get: { ...publicRoute, summary: 'Prometheus text', responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { ...publicRoute, summary: 'This document', responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1') } } },
      '/': { get: { ...publicRoute, summary: 'The live dashboard page', responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } } } },
      '/dashboard.js': { get: { ...publicRoute, summary: "The dashboard's script", responses: { '200': { description: 'JavaScript', content: { 'text/javascript': { schema: { type: 'string' } } } } } } },
      '/dashboard.css': { get: { ...publicRoute, summary: "The dashboard's styles", responses: { '200': { description: 'CSS', content: { 'text/css': { schema: { type: 'string' } } } } } } },
      '/ws': {
        get: {
          summary: 'The WebSocket endpoint (an HTTP upgrade; contract section 3). A token in Authorization at upgrade, or an auth frame first',
          responses: { '101': { description: 'switching protocols' }, '401': { description: 'bad or expired token at upgrade' }, '403': { description: 'a page of another origin' }, '429': { description: 'too many connections of this client' } },
        },
      },
    },
  };
}
