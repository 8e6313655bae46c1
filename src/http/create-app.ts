import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Authenticator } from '../auth/authenticator.js';
import type { Logger } from 'pino';
import { createDashboardRouter } from '../dashboard/dashboard-router.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { LimitStore } from '../limits/limit-store.js';
import type { RunStore } from '../store/run-store.js';
import { answers, sendError } from './error-answers.js';
import { requireAuth } from './auth-middleware.js';
import { cors } from './cors.js';
import { perIpLimit, perOwnerLimit } from './rate-limits.js';
import { apiErrorHandler, createRunsRouter, type RunsRouteDeps } from './runs-routes.js';
import { createStatsHandler } from './stats-route.js';
import type { StatsHistory } from '../metrics/stats-history.js';
import type { RequestHandler } from 'express';
import { WEBHOOK_PATH } from '../webhooks/webhook-route.js';
import { createPassThrough, isGatewayPath } from './pass-through.js';
import { createEventsRouter } from './events-routes.js';
import type { SseHub } from '../push/sse-hub.js';
import type { OriginPolicy } from '../auth/origin-policy.js';
import type { TrustProxy } from '../config/serve-config.js';
import type { ByteBudget } from '../util/byte-budget.js';
import { jsonBody } from './json-body.js';
import { crossOriginWriteGuard } from './origin-guard.js';
import { requestLog } from './request-log.js';
import { createOpenApiHandler } from './openapi-route.js';

export interface AppDeps extends RunsRouteDeps {
  store: RunStore;
  metrics: GatewayMetrics;
  logger: Logger;
  requestBodyLimitBytes: number;
  /** The bytes of REST bodies being read or held at once, and how slow a body may arrive. */
  requestBodies: { budget: ByteBudget; idleTimeoutMs: number; totalTimeoutMs: number };
  webhookHandler: RequestHandler;
  authenticator: Authenticator;
  /** The browser-origin rule (section 5) for event streams and writes; CORS names its allowed origins. */
  origins: OriginPolicy;
  /** express's `trust proxy`: false, a hop count, or the proxies' addresses. */
  trustProxy: TrustProxy;
  rateLimit: { perIpPerMinute: number; perOwnerPerMinute: number };
  /** Where the REST limits count: this instance's memory, or the cluster's shared store. */
  limits: LimitStore;
  /** `--proxy-writes`: pass non-GET requests for other Doclo routes through as well. */
  proxyWrites: boolean;
  /** Server-Sent Events streams. */
  events: Pick<SseHub, 'openRun' | 'openFlow'>;
  /** The last hour per minute for `/api/v1/stats` (the dashboard's charts). */
  statsHistory?: Pick<StatsHistory, 'minutes'>;
}

const JSON_TYPE = /^application\/(?:json|[^;\s]+\+json)\s*(?:;|$)/i;

/**
 * The express app: Doclo-compatible routes, the webhook receiver, health and metrics. It never
 * listens itself, so tests drive it with supertest and the gateway attaches it to its server.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', typeof deps.trustProxy === 'object' ? [...deps.trustProxy] : deps.trustProxy);
  // The dashboard sets its own Content-Security-Policy; the JSON routes need none.
  app.use(helmet({ contentSecurityPolicy: false }));
  app.use(requestLog(deps.logger));

  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await deps.store.ping();
      res.status(200).json({ status: 'ready', store: deps.store.kind });
    } catch (error) {
      deps.logger.warn({ err: error }, 'store is not reachable');
      res.status(503).json({ status: 'unavailable', store: deps.store.kind });
    }
  });
  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await deps.metrics.render();
    res.set('Content-Type', contentType).send(body);
  });

  app.get('/openapi.json', createOpenApiHandler());

  // The page itself takes no token; its data (runs, counters) does, like every /api/v1 route.
  app.use(createDashboardRouter(deps.origins.allowedOrigins));

  // The receiver reads its own raw body: the signature covers the exact bytes.
  app.post(WEBHOOK_PATH, deps.webhookHandler);

  const api = express.Router();
  const ownerLimit = perOwnerLimit(deps.authenticator.enabled ? deps.rateLimit.perOwnerPerMinute : 0, deps.limits);
  // CORS answers allowed origins' preflights; then no page of another origin may change anything.
  api.use(cors(deps.origins.allowedOrigins), crossOriginWriteGuard(deps.origins), perIpLimit(deps.rateLimit.perIpPerMinute, deps.limits));
  // Event streams authenticate themselves: EventSource can only send its token in the query.
  api.use(createEventsRouter({ events: deps.events, authenticator: deps.authenticator, originAllowed: (req) => deps.origins.originAllowed(req), perOwnerLimit: ownerLimit }));
  api.use(requireAuth(deps.authenticator), ownerLimit);
  api.get('/stats', createStatsHandler(deps.metrics, deps.statsHistory));
  // Bodies of the gateway's own routes are parsed; those passed through to Doclo stream on as sent.
  const ownJson = (req: { url?: string; headers: { 'content-type'?: string } }) =>
    isGatewayPath(req.url ?? '/') && JSON_TYPE.test(req.headers['content-type'] ?? '');
  const { budget, idleTimeoutMs, totalTimeoutMs } = deps.requestBodies;
  api.use(jsonBody({ limitBytes: deps.requestBodyLimitBytes, budget, idleTimeoutMs, totalTimeoutMs, applies: ownJson }), createRunsRouter(deps));
  api.use(createPassThrough({ upstream: deps.upstream, proxyWrites: deps.proxyWrites, requestBodyLimitBytes: deps.requestBodyLimitBytes, logger: deps.logger }));
  app.use('/api/v1', api);

  app.use((req, res) => sendError(res, answers.routeNotFound(req.method, req.path)));
  app.use(apiErrorHandler(deps.logger));
  return app;
}
