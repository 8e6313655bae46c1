import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Authenticator } from './auth/authenticator.js';
import { ConfigError, type StoreResetError } from './errors.js';
import { RunCache } from './cache/run-cache.js';
import type { ServeConfig } from './config/serve-config.js';
import { createApp } from './http/create-app.js';
import { announce } from './logger.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { RecoveryPlanner } from './polling/recovery-planner.js';
import { StatsHistory } from './metrics/stats-history.js';
import { readStatsSnapshot } from './metrics/gateway-stats.js';
import { Poller } from './polling/poller.js';
import { ProgressPoller } from './polling/progress-poller.js';
import { WsHub } from './push/ws-hub.js';
import { SseHub } from './push/sse-hub.js';
import { OriginPolicy } from './auth/origin-policy.js';
import { ByteBudget } from './util/byte-budget.js';
import { unreachablePublicUrl } from './config/public-url.js';
import { FinalStateWaiters } from './tracking/final-state-waiters.js';
import { RunLookup } from './tracking/run-lookup.js';
import { Resync } from './tracking/resync.js';
import { RunLedger } from './tracking/run-ledger.js';
import { StoreReseed } from './tracking/store-reseed.js';
import { StoreResetWatch } from './tracking/store-reset-watch.js';
import { isFinal } from './runs/run.js';
import { RunWriter } from './tracking/run-writer.js';
import { createSimulator, type Simulator } from './simulator/index.js';
import { createDrivers } from './drivers.js';
import { StoredTokenBucket } from './limits/budget.js';
import { createUpstream } from './upstream/index.js';
import type { Upstream } from './upstream/upstream.js';
import { WEBHOOK_PATH, createWebhookHandler, isWebhookRequest } from './webhooks/webhook-route.js';
import { DeliverySender } from './relay/delivery-sender.js';
import { DeliveryWorker } from './relay/delivery-worker.js';
import { packageVersion } from './version.js';
import { setHeapGrowth } from './util/heap-growth.js';

/** A running gateway. */
export interface Gateway {
  /** `http://host:port` as it listens (the real port, also for --port 0). */
  url: string;
  /** The base at which Doclo reaches it; webhooks go to `${publicUrl}/webhooks/doclo`. */
  publicUrl: string;
  /** The embedded simulator, with --simulate. */
  simulator: Simulator | undefined;
  metrics: GatewayMetrics;
  /** Stops accepting, finishes in-flight requests, closes WebSockets with 1001, flushes the store. */
  close(): Promise<void>;
}

const WS_MAX_PAYLOAD_BYTES = 64 * 1024;
const PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * The composition root: the only place that picks drivers and wires the parts together. Parts
 * are closed in the reverse order of their construction.
 */
export async function startGateway(config: ServeConfig, logger: Logger): Promise<Gateway> {
  const closers: Array<() => Promise<void> | void> = [];
  // Once: a second call (a signal during shutdown, a test's cleanup after its own close) gets the
  // same promise instead of closing every part again.
  let closing: Promise<void> | undefined;
  const closeAll = () =>
    (closing ??= (async () => {
      for (const close of closers.toReversed()) {
        try {
          await close();
        } catch (error) {
          logger.error({ err: error }, 'error while closing');
        }
      }
    })());
  try {
    return await assemble(config, logger, closers, closeAll);
  } catch (error) {
    await closeAll();
    throw error;
  }
}

async function assemble(
  config: ServeConfig,
  logger: Logger,
  closers: Array<() => Promise<void> | void>,
  closeAll: () => Promise<void>,
): Promise<Gateway> {
  setHeapGrowth(config.heapGrowthPercent);
  const metrics = new GatewayMetrics();

  let simulator: Simulator | undefined;
  let upstreamUrl = config.upstreamUrl;
  let webhookSecrets = [...config.webhookSecrets];
  if (config.simulate) {
    simulator = await createSimulator({
      host: '127.0.0.1',
      port: 0,
      runMs: config.simRunMs,
      ...(config.apiKey ? { apiKey: config.apiKey } : {}),
      ...(webhookSecrets[0] ? { webhookSecret: webhookSecrets[0] } : {}),
      logger: logger.child({ component: 'simulator' }),
    });
    closers.push(() => simulator?.close());
    upstreamUrl = `${simulator.url}/api/v1`;
    if (webhookSecrets.length === 0) webhookSecrets = [simulator.webhookSecret];
    announce(logger, { url: simulator.url, upstreamUrl, runMs: config.simRunMs }, 'embedded Doclo simulator started; it is the upstream');
  } else if (webhookSecrets.length === 0) {
    logger.warn('no --webhook-secret: every webhook will be refused with 401 and runs are learnt by polling only');
  }

  // Store, bus, schedule and limits are picked together (one instance, or shared in Redis or
  // PostgreSQL) and closed last, after every part that uses them.
  const drivers = await createDrivers(config.store, logger);
  closers.push(() => drivers.close());
  const { store, bus, schedule } = drivers;
  const cache = new RunCache(config.cache);
  closers.push(() => cache.close());
  // A shared store may lose its data while this process lives (Redis without persistence): then
  // what this instance saw is what it can give back. Stores that die with the process need none.
  const ledger = store.marker ? new RunLedger({ maxRuns: config.cache.maxRuns, cache }) : undefined;
  // Changes written by other instances reach this one only through the bus; set() ignores older
  // ones. Alone, every change is this instance's own and the writer has cached it already.
  if (drivers.shared) {
    bus.subscribe((record) => {
      cache.set(record);
      ledger?.observe(record);
    });
  }
  let reseed: StoreReseed | undefined;
  const recover = () => {
    metrics.storeResets.inc();
    return reseed!.recover();
  };
  const watch = store.marker ? new StoreResetWatch({ marker: store.marker, logger: logger.child({ component: 'store' }), recover }) : undefined;

  const upstream: Upstream = createUpstream({
    baseUrl: upstreamUrl,
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
    timeoutMs: config.upstream.timeoutMs,
    concurrency: config.upstream.concurrency,
    retries: config.upstream.retries,
    userAgent: `rungate/${packageVersion()}`,
    logger: logger.child({ component: 'upstream' }),
    onRequest: (info) => metrics.upstreamRequests.inc({ route: info.route, status: String(info.status) }),
  });
  closers.push(() => upstream.close());
  // Gauges of state kept elsewhere are read when scraped, not pushed from hot paths.
  metrics.observeState({
    unfinishedCounts: () => store.countUnfinished(),
    cacheEntries: () => cache.size(),
    scheduledPolls: () => schedule.size(),
    rateBudgetRemaining: () => upstream.rateBudget().remaining,
    pendingDeliveries: () => store.countPendingDeliveries(),
  });

  // The relay: final states delivered to callers' own webhookUrl (contract section 8).
  const relaySecret = config.relay.secret ?? webhookSecrets[0];
  if (relaySecret === undefined) logger.warn('no --relay-secret and no --webhook-secret: deliveries to callers are sent unsigned');
  const sender = new DeliverySender({ timeoutMs: config.relay.timeoutMs, allowPrivate: config.relay.allowPrivate });
  closers.push(() => sender.close());
  const relay = new DeliveryWorker(
    { store, sender, logger: logger.child({ component: 'relay' }), onResult: (result) => metrics.relayDeliveries.inc({ result }) },
    {
      concurrency: config.relay.concurrency,
      perHost: config.relay.perHost,
      // Longer than an attempt can take, so a live instance never loses a lease mid-attempt.
      leaseMs: config.relay.timeoutMs + 5000,
      scanIntervalMs: config.relay.scanIntervalMs,
      baseDelayMs: config.relay.baseDelayMs,
      maxDelayMs: 3600_000,
      maxAgeMs: config.relay.maxAgeMs,
      secret: relaySecret,
      instanceId: `${process.pid}-${randomBytes(6).toString('hex')}`,
      userAgent: `rungate/${packageVersion()}`,
    },
  );
  closers.push(() => relay.close());

  const writer = new RunWriter(store, cache, bus, logger, {
    // Alone on an SQLite file, the writer's own cached copy spares a SELECT and a JSON.parse per
    // change (the compare-and-set still guards it); a Map lookup in memory costs less than the cache.
    readCacheFirst: !drivers.shared && store.kind === 'sqlite',
    onChanged: (record) => {
      metrics.runChanges.inc({ source: record.run.source });
      if (isFinal(record.run.status)) metrics.runsFinal.inc({ source: record.run.source, status: record.run.status });
    },
    // The write that created a delivery here hands it to the worker at once (no wait for a scan).
    onWritten: (record) => {
      if (record.delivery?.status === 'pending') relay.nudge(record.run.id);
    },
    ...(ledger && watch ? { ledger, seqFloor: () => watch.seqFloor(), onStoreReset: (error: StoreResetError) => watch.confirm(error) } : {}),
  });
  const lookup = new RunLookup({
    store,
    cache,
    writer,
    upstream,
    metrics,
    logger,
    budget: new StoredTokenBucket(drivers.limits, 'lookups', config.ws.lookupsPerMinute, 60_000),
    ...(ledger ? { ledger } : {}),
  });
  const waiters = new FinalStateWaiters(bus);
  closers.push(() => waiters.close());
  // One owner of catching up when changes may have gone unseen here (a bus outage; later also a
  // store reset): rereads instead of trusting copies.
  const resync = new Resync({ bus, store, cache, waiters, logger: logger.child({ component: 'resync' }) });
  closers.push(() => resync.close());

  const planner = new RecoveryPlanner({ defaultMs: config.poll.graceMs, minMs: config.poll.minGraceMs, maxMs: config.poll.maxGraceMs });
  const poller = new Poller(
    {
      store,
      writer,
      upstream,
      schedule,
      planner,
      bus,
      metrics,
      logger: logger.child({ component: 'poller' }),
    },
    config.poll,
  );
  closers.push(() => poller.close());

  const authenticator = new Authenticator({ jwtSecret: config.jwtSecret, clientKeys: config.clientKeys, maxLifetimeSeconds: config.jwtMaxLifetimeSeconds });
  if (config.jwtSecret !== undefined && config.jwtSecret.length < 32) {
    logger.warn('--jwt-secret is shorter than 32 characters: tokens signed with it are easier to forge; use a long random secret');
  }
  if (authenticator.enabled) logger.info({ jwt: config.jwtSecret !== undefined, clientKeys: config.clientKeys.size }, 'client authentication is on');
  let publicUrl = config.publicUrl ?? '';
  const origins = new OriginPolicy(config.allowedOrigins, () => publicUrl);
  const bodyTimeouts = { idleTimeoutMs: config.bodies.idleTimeoutMs, totalTimeoutMs: config.bodies.timeoutMs };
  const webhookHandler = createWebhookHandler({
    bodyLimitBytes: config.webhookBodyLimitBytes,
    // Unverified bodies too: many forged senders together hold no more than this.
    budget: new ByteBudget(config.bodies.webhookInFlightBytes),
    ...bodyTimeouts,
    toleranceSeconds: config.webhookToleranceSeconds,
    secrets: () => webhookSecrets,
    // The ledger still knows a run's secret when a store reset took the record (until it is re-seeded).
    ...(config.perRunWebhookSecret
      ? { runSecret: async (runId: string) => (cache.get(runId) ?? (await store.get(runId)))?.webhookSecret ?? ledger?.notesOf(runId)?.webhookSecret }
      : {}),
    writer,
    onLateWebhook: (record) => planner.observeLateWebhook(record.run.flowId, record.run.id),
    metrics,
    logger,
  });
  // Event streams are ended before the server waits for its requests to finish (see closers).
  const sse = new SseHub(
    { bus, lookup, metrics, logger: logger.child({ component: 'sse' }) },
    { keepAliveMs: config.sse.keepAliveMs, maxBufferedBytes: config.sse.maxBufferedBytes },
  );
  resync.addFollower(sse);
  const statsHistory = new StatsHistory({
    read: () => readStatsSnapshot(metrics),
    onError: (error) => logger.warn({ err: error }, 'reading the counters for the stats history failed'),
  });
  await statsHistory.start();
  closers.push(() => statsHistory.close());
  const app = createApp({
    statsHistory,
    upstream,
    writer,
    lookup,
    waiters,
    store,
    metrics,
    logger,
    requestBodyLimitBytes: config.requestBodyLimitBytes,
    requestBodies: { budget: new ByteBudget(config.bodies.requestInFlightBytes), ...bodyTimeouts },
    authenticator,
    origins,
    trustProxy: config.trustProxy ?? false,
    rateLimit: config.rateLimit,
    limits: drivers.limits,
    proxyWrites: config.proxyWrites,
    events: sse,
    webhookUrl: () => `${publicUrl}${WEBHOOK_PATH}`,
    callerMaxWaitMs: config.upstream.callerMaxWaitMs,
    relayAllowPrivate: config.relay.allowPrivate,
    retryDeliveries: (runId) => relay.retryFailed(runId),
    ...(config.perRunWebhookSecret ? { newWebhookSecret: () => `whsec_${randomBytes(24).toString('base64url')}` } : {}),
    webhookHandler,
  });

  // Webhooks, the hot path, go straight to their handler; everything else through express.
  const server: Server = createServer((req, res) => {
    if (isWebhookRequest(req)) void webhookHandler(req, res);
    else app(req, res);
  });
  // Long-polls may hold a request for 60 s; keep-alive sockets are closed promptly at shutdown.
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;
  const hub = new WsHub(
    { bus, lookup, metrics, logger: logger.child({ component: 'ws' }), authenticator },
    {
      path: '/ws',
      maxPayloadBytes: WS_MAX_PAYLOAD_BYTES,
      maxSubscriptions: config.ws.maxSubscriptions,
      maxBufferedBytes: config.ws.maxBufferedBytes,
      pingIntervalMs: config.ws.pingIntervalMs,
      lookupsPerConnectionPerMinute: config.ws.lookupsPerConnectionPerMinute,
      originAllowed: (req) => origins.originAllowed(req),
      maxConnectionsPerClient: config.ws.maxConnectionsPerClient,
      authTimeoutMs: config.ws.authTimeoutMs,
      seqMemory: { retentionMs: config.ws.seqRetentionMs, maxRuns: config.ws.seqMaxRuns },
    },
  );
  hub.attach(server);
  resync.addFollower(hub);

  // After a loss of the shared store's data: every copy back, polls back, subscribers caught up.
  if (ledger) reseed = new StoreReseed({ writer, ledger, lookup, resync, reschedule: () => poller.start(), logger: logger.child({ component: 'store' }) });
  if (watch) {
    // Before anything is answered: every write from now on carries the store's mark.
    await watch.start();
    closers.push(() => watch.close());
  }

  // Progress for watched runs: one poll per run however many watch it, over both transports.
  let progress: ProgressPoller | undefined;
  if (config.progress.intervalMs > 0) {
    progress = new ProgressPoller(
      {
        bus, store, upstream, writer, metrics, logger: logger.child({ component: 'progress' }),
        watched: () => {
          const [ws, events] = [hub.followed(), sse.followed()];
          return { runIds: [...ws.runIds, ...events.runIds], flowIds: [...ws.flowIds, ...events.flowIds] };
        },
      },
      { intervalMs: config.progress.intervalMs, perMinute: config.progress.perMinute },
    );
    closers.push(() => progress?.close());
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(listenError(error, config.host, config.port));
    server.once('error', onError);
    server.listen(config.port, config.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  closers.push(() => closeServer(server, config.shutdownTimeoutMs, waiters));
  closers.push(() => hub.close());
  closers.push(() => sse.close());

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  if (!publicUrl) publicUrl = url;
  // Doclo posts webhooks to the public URL: one it cannot reach means every run is learnt by polling.
  const unreachable = config.simulate || config.apiKey === undefined ? undefined : unreachablePublicUrl(publicUrl);
  if (unreachable) {
    logger.warn(
      { publicUrl, reason: unreachable },
      `webhooks cannot arrive: Doclo cannot reach ${publicUrl} (${unreachable}); set --public-url (RUNGATE_PUBLIC_URL) to the address at which Doclo reaches this gateway. Until then every run is learnt by polling`,
    );
  }

  await progress?.start();
  relay.start();
  // Marks where resuming begins (the scale bench times the stalls of this step alone).
  logger.debug('resuming polling of unfinished runs');
  const resumed = await poller.start();
  if (resumed > 0) logger.info({ runs: resumed }, 'resumed polling of unfinished runs');

  const pruneTimer = setInterval(() => {
    store.pruneFinished(Date.now() - config.retentionMs).then(
      (removed) => removed > 0 && logger.info({ removed }, 'pruned finished runs past retention'),
      (error: unknown) => logger.warn({ err: error }, 'pruning failed'),
    );
  }, PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  closers.push(() => clearInterval(pruneTimer));

  announce(logger, { url, publicUrl, store: store.kind, simulate: simulator !== undefined }, 'listening');
  return { url, publicUrl, simulator, metrics, close: closeAll };
}

/** A listen failure as the flag that caused it (exit 2), or as it is when no flag did. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case 'ENOTFOUND':
    case 'EADDRNOTAVAIL':
    case 'EAI_AGAIN':
      return new ConfigError(`--host: cannot listen on ${host} (${error.code})`);
    case 'EADDRINUSE':
      return new ConfigError(`--port: ${host}:${port} is already in use`);
    case 'EACCES':
      return new ConfigError(`--port: no permission to listen on ${host}:${port}`);
    default:
      return error;
  }
}

/** Stops listening, lets in-flight requests finish (long-polls are released), then cuts the rest. */
async function closeServer(server: Server, timeoutMs: number, waiters: FinalStateWaiters): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  waiters.close();
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}
