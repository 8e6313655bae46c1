import { LOG_LEVEL_OPTION } from './log-level.js';
import { atLeast, between, isPort, isRate, parseOptions, type ConfigOf, type OptionTable } from './option-parser.js';

/** Every `rungate simulate` flag (contract section 7), with its environment variable and default. */
export const SIMULATE_OPTIONS = {
  host: { flag: 'host', env: 'SIM_HOST', kind: 'string', default: '127.0.0.1', help: 'listen address' },
  port: { flag: 'port', env: 'SIM_PORT', kind: 'int', default: 8081, check: isPort, help: 'listen port; 0 = any free port' },
  apiKey: {
    flag: 'api-key', env: 'SIM_API_KEY', kind: 'string',
    check: (v: string) => (v.length === 0 ? 'must not be empty' : undefined),
    help: 'when set, requests need Authorization: Bearer <key>',
  },
  webhookSecret: { flag: 'webhook-secret', env: 'SIM_WEBHOOK_SECRET', kind: 'string', help: 'signing secret (default: a fixed development secret, printed at start)' },
  runMs: { flag: 'run-ms', env: 'SIM_RUN_MS', kind: 'int', default: 3000, check: atLeast(0), help: 'mean run duration; each run takes 0.5× to 1.5× of it' },
  failRate: { flag: 'fail-rate', env: 'SIM_FAIL_RATE', kind: 'number', default: 0.05, check: isRate, help: 'share of runs that end failed' },
  webhookDropRate: { flag: 'webhook-drop-rate', env: 'SIM_WEBHOOK_DROP_RATE', kind: 'number', default: 0, check: isRate, help: 'share of webhooks never sent' },
  webhookDuplicateRate: { flag: 'webhook-duplicate-rate', env: 'SIM_WEBHOOK_DUPLICATE_RATE', kind: 'number', default: 0, check: isRate, help: 'share of webhooks sent twice' },
  webhookDelayMs: { flag: 'webhook-delay-ms', env: 'SIM_WEBHOOK_DELAY_MS', kind: 'int', default: 0, check: atLeast(0), help: 'each delivery waits a random 0..N ms more' },
  webhookRetries: { flag: 'webhook-retries', env: 'SIM_WEBHOOK_RETRIES', kind: 'int', default: 3, check: between(0, 20), help: 'retries of a delivery answered non-2xx or timing out; 0 = none' },
  errorRate: { flag: 'error-rate', env: 'SIM_ERROR_RATE', kind: 'number', default: 0, check: isRate, help: 'share of API requests answered 503' },
  rateLimit: { flag: 'rate-limit', env: 'SIM_RATE_LIMIT', kind: 'int', default: 0, check: atLeast(0), help: 'requests per minute; beyond it 429 with Retry-After; 0 = none' },
  rateLimitExemptStarts: {
    flag: 'rate-limit-exempt-starts', env: 'SIM_RATE_LIMIT_EXEMPT_STARTS', kind: 'boolean', default: false,
    help: 'starts (POST …/run) neither count toward --rate-limit nor get 429, so a load of starts leaves the window to lookups',
  },
  seed: { flag: 'seed', env: 'SIM_SEED', kind: 'int', help: 'seed for every random choice (default: random)' },
  statusVocabulary: {
    flag: 'status-vocabulary', env: 'SIM_STATUS_VOCABULARY', kind: 'string', default: 'sdk',
    check: (v: string) => (v === 'sdk' || v === 'apiref' ? undefined : "must be 'sdk' (queued/success) or 'apiref' (pending/completed)"),
    // Narrows the type to the two names, which are all the check lets through.
    to: (v: string): 'sdk' | 'apiref' => (v === 'apiref' ? 'apiref' : 'sdk'),
    help: "Doclo's status names: sdk (queued, success) or apiref (pending, completed)",
  },
  logLevel: LOG_LEVEL_OPTION,
} satisfies OptionTable;

/** The validated options of `rungate simulate`, also accepted by `createSimulator`. */
export type SimulateConfig = ConfigOf<typeof SIMULATE_OPTIONS>;

/** Builds the simulate config from argv (after the command) and the environment. */
export function loadSimulateConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): SimulateConfig {
  return Object.freeze(parseOptions(SIMULATE_OPTIONS, argv, env).values);
}
