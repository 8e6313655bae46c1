import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { checkValue, type AnyOptionSpec } from '../config/option-parser.js';
import { loadSimulateConfig, SIMULATE_OPTIONS, type SimulateConfig } from '../config/simulate-config.js';
import { createRateLimiter } from './rate-limiter.js';
import { deriveRng, normalizeSeed, randomSeed } from './rng.js';
import { createRequestHandler } from './routes.js';
import { createRunEngine } from './run-engine.js';
import { createCounters, snapshotStats, type SimStats } from './sim-stats.js';
import { createWebhookSender } from './webhook-sender.js';

/**
 * The development signing secret used when none is given. Fixed on purpose: a gateway started
 * with the same default verifies the simulator's webhooks without any setup.
 */
export const DEV_WEBHOOK_SECRET = 'whsec_rungate_dev_3f9a1c7e5b2d4860a1f7c3e9b5d2a684';

/** The simulator's body limit: Doclo accepts documents up to 50 MB, base64 makes them ~4/3 bigger. */
export const SIM_BODY_LIMIT_BYTES = 64 * 1024 * 1024;

/** createSimulator's options: any simulate flag, plus knobs only tests and embedders need. */
export type SimulatorOptions = Partial<SimulateConfig> & {
  /** Where the simulator logs (never API keys or documents); silent by default. */
  logger?: Logger;
  /** Per-attempt deadline of a webhook delivery (default 10000). */
  webhookTimeoutMs?: number;
  /** Wait before the first webhook retry, doubled for each next one (default 500). */
  webhookBackoffMs?: number;
  /** Largest accepted request body (default 64 MiB). */
  bodyLimitBytes?: number;
};

/** A running simulator of Doclo's runs API. */
export interface Simulator {
  /** `http://host:port`, no trailing slash; the API base is `${url}/api/v1`. */
  url: string;
  /** The secret that signs webhooks of runs without their own `webhookSecret`. */
  webhookSecret: string;
  /** The seed in use (the given one, or the random one drawn), so a run can be repeated. */
  seed: number;
  /** The counters `GET /_sim/stats` serves. */
  stats(): SimStats;
  /** Stops timers and webhook deliveries, answers held requests, closes the server. */
  close(): Promise<void>;
}

function checkOptions(config: SimulateConfig): void {
  for (const [key, spec] of Object.entries(SIMULATE_OPTIONS) as Array<[keyof SimulateConfig, AnyOptionSpec]>) checkValue(spec, config[key], key);
}

/**
 * Starts a simulator listening on `host:port` (port 0, any free one, by default). Options are
 * validated once here; a bad one throws ConfigError.
 */
export async function createSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const { logger: givenLogger, webhookTimeoutMs = 10_000, webhookBackoffMs = 500, bodyLimitBytes = SIM_BODY_LIMIT_BYTES, ...flags } = options;
  const defined = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined)) as Partial<SimulateConfig>;
  const config: SimulateConfig = { ...loadSimulateConfig([], {}), port: 0, ...defined };
  checkOptions(config);
  const logger = givenLogger ?? pino({ level: 'silent' });
  const seed = config.seed === undefined ? randomSeed() : normalizeSeed(config.seed);
  const webhookSecret = config.webhookSecret ?? DEV_WEBHOOK_SECRET;
  const counters = createCounters();

  const sender = createWebhookSender({
    defaultSecret: webhookSecret,
    vocabulary: config.statusVocabulary,
    dropRate: config.webhookDropRate,
    duplicateRate: config.webhookDuplicateRate,
    delayMs: config.webhookDelayMs,
    retries: config.webhookRetries,
    timeoutMs: webhookTimeoutMs,
    backoffMs: webhookBackoffMs,
    rng: deriveRng(seed, 'webhooks'),
    counters: counters.webhooks,
    logger,
  });
  const engine = createRunEngine({
    runMs: config.runMs,
    failRate: config.failRate,
    idRng: deriveRng(seed, 'ids'),
    lifecycleRng: deriveRng(seed, 'lifecycle'),
    onFinished: (run) => sender.send(run),
  });
  const stats = (): SimStats => snapshotStats(counters, engine.counts());
  const server = createServer(
    { keepAliveTimeout: 5_000 },
    createRequestHandler({
      engine,
      counters,
      limiter: createRateLimiter(config.rateLimit),
      rateLimitExemptStarts: config.rateLimitExemptStarts,
      faultRng: deriveRng(seed, 'faults'),
      errorRate: config.errorRate,
      apiKey: config.apiKey,
      vocabulary: config.statusVocabulary,
      bodyLimitBytes,
      stats,
      logger,
    }),
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${host}:${address.port}`,
    webhookSecret,
    seed,
    stats,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // Engine first: it answers held `wait:true` requests, so server.close() is not kept waiting.
        engine.close();
        sender.close();
        // Held requests answered just now leave keep-alive sockets that only turn idle after
        // their answer is flushed; sweep them briefly, then cut whatever is left.
        const sweep = setInterval(() => server.closeIdleConnections(), 20);
        sweep.unref();
        const force = setTimeout(() => server.closeAllConnections(), 1_000);
        force.unref();
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
