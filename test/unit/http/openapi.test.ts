import SwaggerParser from '@apidevtools/swagger-parser';
import { pino } from 'pino';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../../src/auth/authenticator.js';
import { OriginPolicy } from '../../../src/auth/origin-policy.js';
import { ByteBudget } from '../../../src/util/byte-budget.js';
import { createApp, type AppDeps } from '../../../src/http/create-app.js';
import { openApiDocument } from '../../../src/http/openapi-document.js';
import { GatewayMetrics } from '../../../src/metrics/gateway-metrics.js';

/** The app as the gateway builds it; these tests only look at its routes, so most parts are inert. */
function app() {
  const unused = new Proxy({}, { get: () => () => Promise.reject(new Error('not used in this test')) });
  const deps = {
    upstream: unused, writer: unused, lookup: unused, waiters: unused, store: unused, events: unused, webhookHandler: (_req: unknown, res: { end(): void }) => res.end(),
    metrics: new GatewayMetrics(), logger: pino({ level: 'silent' }), requestBodyLimitBytes: 1024 * 1024,
    authenticator: new Authenticator({ jwtSecret: undefined, clientKeys: new Map() }), origins: new OriginPolicy([], () => ''), trustProxy: false,
    rateLimit: { perIpPerMinute: 0, perOwnerPerMinute: 0 }, proxyWrites: false,
    requestBodies: { budget: new ByteBudget(4 * 1024 * 1024), idleTimeoutMs: 10_000, totalTimeoutMs: 60_000 },
    webhookUrl: () => 'http://gateway/webhooks/doclo', callerMaxWaitMs: 2000,
  };
  return createApp(deps as unknown as AppDeps);
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string;
}

/** Every (method, path) the express app routes, mounted routers included, in OpenAPI's {param} form. */
function servedRoutes(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${layer.route.path}`.replace(/:(\w+)/g, '{$1}') || '/';
      return Object.keys(layer.route.methods).filter((m) => m !== '_all').map((method) => `${method.toUpperCase()} ${path}`);
    }
    if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      return servedRoutes(layer.handle.stack, `${prefix}${mount}`);
    }
    return [];
  });
}

/** Every (method, path) the document describes. */
function documentedRoutes(document: Record<string, any>): Set<string> {
  return new Set(Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)));
}

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document that a standard validator accepts', async () => {
    const answer = await request(app()).get('/openapi.json');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/application\/json/);
    const document = answer.body as Record<string, any>;
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.version).toMatch(/^\d+\.\d+\.\d+/);
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeTruthy();
  });

  it('describes every route the express app serves', () => {
    const served = servedRoutes((app() as unknown as { router: { stack: Layer[] } }).router.stack);
    // The walk must find the routes of every mounted router, or this test would prove nothing.
    expect(served).toEqual(expect.arrayContaining(['POST /api/v1/flows/{flowId}/run', 'GET /api/v1/runs/{id}/events', 'GET /healthz', 'GET /']));
    const documented = documentedRoutes(openApiDocument('0.0.0'));
    expect(served.filter((route) => !documented.has(route))).toEqual([]);
  });

  it('describes every route of contract sections 2, 8 and 9', () => {
    const documented = documentedRoutes(openApiDocument('0.0.0'));
    for (const route of [
      'POST /api/v1/flows/{flowId}/run', 'GET /api/v1/runs/{id}', 'GET /api/v1/runs', 'GET /api/v1/runs/{id}/timeline', 'GET /api/v1/runs/{id}/deliveries',
      'POST /api/v1/runs/{id}/deliveries/retry', 'GET /api/v1/runs/{id}/events', 'GET /api/v1/events', 'POST /api/v1/runs/{id}/cancel', 'GET /api/v1/flows',
      'GET /api/v1/flows/{flowId}', 'POST /webhooks/doclo', 'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /openapi.json', 'GET /', 'GET /ws',
    ]) expect(documented.has(route), route).toBe(true);
  });
});
