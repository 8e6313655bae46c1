import type { OptionSpec } from './option-parser.js';

/** pino's levels, and `silent`. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** `--log-level`, the same for every command that logs. */
export const LOG_LEVEL_OPTION = {
  flag: 'log-level',
  env: 'LOG_LEVEL',
  kind: 'string',
  default: 'info',
  check: (v: string) => (LOG_LEVELS.includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`),
  help: 'pino level',
} as const satisfies OptionSpec<'string'>;
