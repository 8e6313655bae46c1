import { describeOptions } from '../config/option-parser.js';
import { loadSimulateConfig, SIMULATE_OPTIONS } from '../config/simulate-config.js';
import { announce, createLogger, exitAfterLogs } from '../logger.js';
import { createSimulator, DEV_WEBHOOK_SECRET } from '../simulator/index.js';

const HELP = `Usage: rungate simulate [flags]

A standalone simulator of Doclo's runs API (POST /api/v1/flows/:flowId/run, GET /api/v1/runs/:id,
POST /api/v1/runs/:id/cancel) with fault injection; counters at GET /_sim/stats.

Flags:
${describeOptions(SIMULATE_OPTIONS)}`;

/** Most a shutdown may take before the process exits anyway (contract section 1: within 10 s). */
const SHUTDOWN_LIMIT_MS = 9_000;

/**
 * `rungate simulate`: starts the simulator and keeps the process alive with its server. A bad
 * flag throws ConfigError (the CLI exits 2); SIGTERM/SIGINT close it and exit 0.
 */
export async function simulateCommand(argv: string[]): Promise<number | void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const config = loadSimulateConfig(argv, process.env);
  const logger = createLogger(config.logLevel);
  const simulator = await createSimulator({ ...config, logger });

  // The default secret is public anyway and a user must see it to configure a gateway; a secret
  // given by flag or environment is the user's own and is only acknowledged, never printed.
  const usingDevSecret = config.webhookSecret === undefined;
  announce(
    logger,
    usingDevSecret ? { signingSecret: DEV_WEBHOOK_SECRET, signingSecretSource: 'default' } : { signingSecretSource: 'configured' },
    'webhook signing secret',
  );
  logger.info(
    {
      seed: simulator.seed,
      runMs: config.runMs,
      failRate: config.failRate,
      webhookDropRate: config.webhookDropRate,
      webhookDuplicateRate: config.webhookDuplicateRate,
      webhookDelayMs: config.webhookDelayMs,
      webhookRetries: config.webhookRetries,
      errorRate: config.errorRate,
      rateLimit: config.rateLimit,
      rateLimitExemptStarts: config.rateLimitExemptStarts,
      statusVocabulary: config.statusVocabulary,
      auth: config.apiKey === undefined ? 'off' : 'api key required',
    },
    'simulator settings',
  );
  announce(logger, { url: simulator.url }, 'listening');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A dead log reader cannot hold the exit either (see exitAfterLogs).
    const hardStop = setTimeout(() => exitAfterLogs(0, 500), SHUTDOWN_LIMIT_MS - 500);
    hardStop.unref();
    simulator.close().then(
      () => {
        logger.info('stopped');
        exitAfterLogs(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while closing');
        exitAfterLogs(0);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
