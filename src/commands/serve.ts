import { describeOptions } from '../config/option-parser.js';
import { SERVE_OPTIONS, loadServeConfig } from '../config/serve-config.js';
import { startGateway } from '../gateway.js';
import { createLogger, exitAfterLogs } from '../logger.js';
import { startBanner, writeAfterLogs } from './start-banner.js';

/** `rungate serve`: runs the gateway until SIGTERM or SIGINT, then shuts down and exits 0. */
export async function serveCommand(argv: string[]): Promise<number | void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: rungate serve [flags]\n\n${describeOptions(SERVE_OPTIONS)}\n`);
    return 0;
  }
  const config = loadServeConfig(argv, process.env);
  const logger = createLogger(config.logLevel);
  const gateway = await startGateway(config, logger);
  // For people at a terminal; whatever reads stdout otherwise gets the JSON lines alone.
  if (process.stdout.isTTY) writeAfterLogs(logger, startBanner(gateway, config));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A shutdown that hangs must still end the process (later signals are ignored meanwhile).
    // The logs get the last second of the 10 s (exitAfterLogs: a dead log reader cannot hold the exit).
    const deadline = setTimeout(() => exitAfterLogs(1, 500), 9_000);
    deadline.unref();
    gateway.close().then(
      () => {
        logger.info('stopped');
        exitAfterLogs(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exitAfterLogs(1);
      },
    );
  };
  // One bad promise must not take every subscriber down with it: log it loudly and go on.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
