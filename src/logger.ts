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

/** The stdout stream of the process's logger, when it writes to stdout. */
let stdoutLogs: ReturnType<typeof pino.destination> | undefined;

/** The one pino logger of a process; JSON lines on stdout unless a destination is given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  let stream = destination;
  if (!stream) stream = stdoutLogs ??= pino.destination({ dest: 1, sync: false });
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } }, stream);
}

/**
 * Exits with `code` once the log lines written so far are out, or after `maxWaitMs` whatever has
 * become of stdout. Pino writes what is left synchronously as the process exits, and retries a
 * write that fails with EPIPE forever: when stdout is a pipe whose reader died (`rungate serve |
 * head -3`), that hangs the exit and every later signal is ignored. So the lines are flushed here,
 * where a broken pipe can only cost the wait, and the exit-time write is dropped.
 */
export function exitAfterLogs(code: number, maxWaitMs = 1000): void {
  const stream = stdoutLogs;
  const exit = () => {
    if (stream) stream.flushSync = () => undefined;
    process.exit(code);
  };
  if (!stream) return exit();
  setTimeout(exit, maxWaitMs);
  try {
    stream.flush(exit);
  } catch {
    exit();
  }
}

/**
 * Writes the `msg` line at info level whatever the logger's level is: contract section 1 wants
 * the "listening" line even under --log-level error.
 */
export function announce(logger: Logger, fields: Record<string, unknown>, msg: string): void {
  logger.child({}, { level: 'info' }).info(fields, msg);
}
