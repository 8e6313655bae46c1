import { pino, type Logger, type DestinationStream } from 'pino';

/** Paths pino removes from every log line: credentials, signatures and document content. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-doclo-signature"]',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'apiKey',
  'api_key',
  'token',
  'secret',
  'webhookSecret',
  'webhookSecrets',
  'jwtSecret',
  'signature',
  'body.input',
  'input',
  'output',
  '*.apiKey',
  '*.webhookSecret',
  '*.input',
  '*.output',
];

/** The one pino logger of a process; JSON lines on stdout unless a destination is given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
}

/**
 * Writes the `msg` line at info level whatever the logger's level is: contract section 1 wants
 * the "listening" line even under --log-level error.
 */
export function announce(logger: Logger, fields: Record<string, unknown>, msg: string): void {
  logger.child({}, { level: 'info' }).info(fields, msg);
}
