import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { redisDbOf } from '../redis/redis-connection.js';
import { LOG_LEVEL_OPTION } from './log-level.js';
import { atLeast, between, group, zeroOrBetween, isHttpUrl, isPort, parseOptions, type ConfigOf, type OptionNamer, type OptionTree } from './option-parser.js';
import { ConfigError } from '../errors.js';

/** `OWNER=KEY`, the key at least 16 characters. */
const CLIENT_KEY_PAIR = /^[^=\s]{1,128}=\S{16,}$/;

function isStoreUrl(value: string): string | undefined {
  if (value === 'memory') return undefined;
  if (value.startsWith('sqlite:') && value.length > 'sqlite:'.length) return undefined;
  if (value.startsWith('redis://') || value.startsWith('rediss://')) {
    if (!URL.canParse(value)) return 'is not a valid redis:// URL';
    try {
      redisDbOf(value);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }
  if (value.startsWith('postgres://') || value.startsWith('postgresql://')) {
    try {
      const url = new URL(value);
      if (url.hostname === '' || url.pathname.replace(/^\//, '') === '') return 'a PostgreSQL URL needs a host and a database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB';
      return undefined;
    } catch {
      return 'is not a valid postgres:// URL';
    }
  }
  return "must be 'memory', 'sqlite:PATH', 'redis://HOST:PORT[/DB]' or 'postgres://USER[:PASSWORD]@HOST[:PORT]/DB'";
}

/** Where runs live, as `--store` names it. */
export type StoreConfig =
  | { kind: 'memory' }
  | { kind: 'sqlite'; path: string }
  | { kind: 'redis'; url: string; prefix: string }
  | { kind: 'postgres'; url: string };

function storeOf(url: string, redisPrefix: string): StoreConfig {
  if (url === 'memory') return { kind: 'memory' };
  if (url.startsWith('sqlite:')) return { kind: 'sqlite', path: url.slice('sqlite:'.length) };
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { kind: 'postgres', url };
  return { kind: 'redis', url, prefix: redisPrefix };
}

/** The origin a text names exactly (a trailing slash aside), or undefined. */
function originOf(text: string): string | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  const isWeb = url.protocol === 'http:' || url.protocol === 'https:';
  return isWeb && url.origin === text.replace(/\/+$/, '') ? url.origin : undefined;
}

const withoutTrailingSlashes = (url: string): string => url.replace(/\/+$/, '');

/** A secret must have something in it: one of only whitespace is a slip, not a secret. */
export const notBlank = (value: string): string | undefined => (value.trim().length === 0 ? 'must not be empty or only whitespace' : undefined);

/**
 * Every `rungate serve` flag, with its environment variable and default, placed where its value
 * lands in ServeConfig: adding a flag is adding its entry here.
 */
export const SERVE_OPTIONS = {
  host: { flag: 'host', env: 'RUNGATE_HOST', kind: 'string', default: '127.0.0.1', help: 'listen address' },
  port: { flag: 'port', env: 'RUNGATE_PORT', kind: 'int', default: 8080, check: isPort, help: 'listen port; 0 = any free port' },
  publicUrl: {
    flag: 'public-url', env: 'RUNGATE_PUBLIC_URL', kind: 'string', check: isHttpUrl, to: withoutTrailingSlashes,
    help: 'base URL at which Doclo reaches this gateway (default: the listening URL)',
  },
  upstreamUrl: {
    flag: 'upstream-url', env: 'DOCLO_API_URL', kind: 'string', default: 'https://app.doclo.ai/api/v1', check: isHttpUrl, to: withoutTrailingSlashes,
    help: "Doclo's API base",
  },
  apiKey: { flag: 'api-key', env: 'DOCLO_API_KEY', kind: 'string', check: notBlank, help: 'Doclo API key used for every upstream call' },
  webhookSecrets: {
    flag: 'webhook-secret', env: 'DOCLO_WEBHOOK_SECRET', kind: 'list',
    help: 'comma-separated webhook signing secrets; a webhook verifies if any one matches',
  },
  store: group(
    {
      url: { flag: 'store', env: 'RUNGATE_STORE', kind: 'string', default: 'sqlite:./data/rungate.db', check: isStoreUrl, help: 'memory, sqlite:PATH, redis://HOST:PORT[/DB] or postgres://USER[:PASSWORD]@HOST[:PORT]/DB' },
      redisPrefix: { flag: 'redis-prefix', env: 'RUNGATE_REDIS_PREFIX', kind: 'string', default: 'rungate:', help: 'key and channel prefix in Redis' },
    },
    ({ url, redisPrefix }) => storeOf(url, redisPrefix),
  ),
  /** Resolved by loadServeConfig when unset, since the default depends on the upstream flags. */
  simulate: { flag: 'simulate', env: 'RUNGATE_SIMULATE', kind: 'boolean', help: 'start an embedded Doclo simulator and use it as upstream (default: on when neither an API key nor --upstream-url is given; RUNGATE_SIMULATE=false turns it off)' },
  simRunMs: {
    flag: 'sim-run-ms', env: 'RUNGATE_SIM_RUN_MS', kind: 'int', default: 3000, check: atLeast(0),
    help: "with --simulate: the embedded simulator's mean run duration in ms (each run takes 0.5× to 1.5× of it)",
  },
  jwtSecret: {
    flag: 'jwt-secret', env: 'RUNGATE_JWT_SECRET', kind: 'string',
    check: notBlank,
    help: 'when set, clients need an HS256 JWT (or a client key); use at least 32 random characters',
  },
  jwtMaxLifetimeSeconds: {
    flag: 'jwt-max-lifetime-s', env: 'RUNGATE_JWT_MAX_LIFETIME_S', kind: 'int', default: 30 * 86_400, check: atLeast(60),
    help: "tokens whose exp lies further ahead than this many seconds are refused (a token that never expires cannot be taken back)",
  },
  /** Static client keys: key → owner. */
  clientKeys: group(
    {
      pairs: {
        flag: 'client-key', env: 'RUNGATE_CLIENT_KEYS', kind: 'list',
        check: (v: string[]) => (v.every((pair) => CLIENT_KEY_PAIR.test(pair)) ? undefined : 'each must be OWNER=KEY with a key of at least 16 characters'),
        help: 'static client keys for server-to-server callers, OWNER=KEY (repeatable or comma-separated); the key is sent as a Bearer token',
      },
      file: { flag: 'client-keys-file', env: 'RUNGATE_CLIENT_KEYS_FILE', kind: 'string', help: 'a file of OWNER=KEY lines (# comments allowed)' },
    },
    ({ pairs, file }, nameOf): ReadonlyMap<string, string> => readClientKeys(pairs, file, nameOf),
  ),
  allowedOrigins: {
    flag: 'allowed-origins', env: 'RUNGATE_ALLOWED_ORIGINS', kind: 'list',
    check: (v: string[]) => {
      const bad = v.find((origin) => originOf(origin) === undefined);
      return bad === undefined ? undefined : `'${bad}' is not an origin like https://app.example.com`;
    },
    to: (v: string[]): readonly string[] => v.map((origin) => originOf(origin) ?? origin),
    help:
      "browser origins allowed besides the gateway's own (its Host, or --public-url) to open /ws and event streams, send non-GET /api/v1 requests and get CORS answers; "
      + 'unset = only pages of the gateway itself; requests without an Origin (servers, CLIs) are never affected',
  },
  trustProxy: {
    flag: 'trust-proxy', env: 'RUNGATE_TRUST_PROXY', kind: 'string', check: trustProxyProblem, to: trustProxyValue,
    help: 'behind proxies: the number of proxies in front (1 for one load balancer), or their addresses and CIDRs (comma-separated; loopback, linklocal, uniquelocal allowed), whose X-Forwarded-For is believed for client IPs (default: none)',
  },
  perRunWebhookSecret: {
    flag: 'per-run-webhook-secret', env: 'RUNGATE_PER_RUN_WEBHOOK_SECRET', kind: 'boolean', default: false,
    help: "send a fresh webhookSecret with each start and also accept that run's webhooks signed with it",
  },
  rateLimit: {
    perIpPerMinute: { flag: 'rate-limit-per-ip', env: 'RUNGATE_RATE_LIMIT_PER_IP', kind: 'int', default: 60_000, check: atLeast(0), help: 'REST requests per minute from one IP (a flood guard); 0 = no limit' },
    perOwnerPerMinute: { flag: 'rate-limit-per-owner', env: 'RUNGATE_RATE_LIMIT_PER_OWNER', kind: 'int', default: 60_000, check: atLeast(0), help: 'REST requests per minute per authenticated owner; 0 = no limit' },
  },
  logLevel: LOG_LEVEL_OPTION,
  webhookBodyLimitBytes: { flag: 'webhook-body-limit', env: 'RUNGATE_WEBHOOK_BODY_LIMIT', kind: 'bytes', default: 16 * 1024 * 1024, check: atLeast(1024), help: 'largest webhook body accepted (bytes, or 512kb, 16mb…)' },
  webhookToleranceSeconds: {
    flag: 'webhook-tolerance-s', env: 'RUNGATE_WEBHOOK_TOLERANCE_S', kind: 'int', default: 0, check: atLeast(0),
    help: "reject webhooks whose signed timestamp is older than this many seconds; 0 = no limit (Doclo's retry timing is unknown)",
  },
  requestBodyLimitBytes: { flag: 'request-body-limit', env: 'RUNGATE_REQUEST_BODY_LIMIT', kind: 'bytes', default: 64 * 1024 * 1024, check: atLeast(1024), help: 'largest REST request body, decoded (a start carries the document)' },
  bodies: {
    requestInFlightBytes: {
      flag: 'request-bodies-in-flight', env: 'RUNGATE_REQUEST_BODIES_IN_FLIGHT', kind: 'bytes', default: 256 * 1024 * 1024, check: atLeast(2048),
      help: 'most bytes of REST bodies being read or held at once, over all requests (at least --request-body-limit); beyond it requests get 503 with Retry-After',
    },
    webhookInFlightBytes: {
      flag: 'webhook-bodies-in-flight', env: 'RUNGATE_WEBHOOK_BODIES_IN_FLIGHT', kind: 'bytes', default: 64 * 1024 * 1024, check: atLeast(2048),
      help: 'most bytes of webhook bodies (verified or not) being read or held at once (at least --webhook-body-limit); beyond it webhooks get 503 with Retry-After',
    },
    idleTimeoutMs: {
      flag: 'body-idle-timeout-ms', env: 'RUNGATE_BODY_IDLE_TIMEOUT_MS', kind: 'int', default: 10_000, check: atLeast(100),
      help: 'a request body that pauses longer than this is cut off with 408',
    },
    timeoutMs: {
      flag: 'body-timeout-ms', env: 'RUNGATE_BODY_TIMEOUT_MS', kind: 'int', default: 60_000, check: atLeast(100),
      help: 'a request body that has not arrived in full after this long is cut off with 408',
    },
  },
  poll: {
    graceMs: { flag: 'poll-grace-ms', env: 'RUNGATE_POLL_GRACE_MS', kind: 'int', default: 6000, check: atLeast(0), help: 'wait before the first poll of a run whose flow has no history yet (fewer than 20 runs seen end)' },
    minGraceMs: { flag: 'poll-min-grace-ms', env: 'RUNGATE_POLL_MIN_GRACE_MS', kind: 'int', default: 2000, check: atLeast(0), help: 'lower bound of the learned grace, and the earliest age of any poll planned when webhooks go missing' },
    maxGraceMs: { flag: 'poll-max-grace-ms', env: 'RUNGATE_POLL_MAX_GRACE_MS', kind: 'int', default: 120_000, check: atLeast(0), help: 'upper bound of the learned grace (the last planned poll, the only one while no webhook goes missing)' },
    intervalMs: { flag: 'poll-interval-ms', env: 'RUNGATE_POLL_INTERVAL_MS', kind: 'int', default: 2000, check: atLeast(100), help: 'first interval between polls of an unfinished run; grows ×1.5 with jitter' },
    maxIntervalMs: { flag: 'poll-max-interval-ms', env: 'RUNGATE_POLL_MAX_INTERVAL_MS', kind: 'int', default: 60_000, check: atLeast(100), help: 'largest interval between polls' },
    maxAgeMs: { flag: 'poll-max-age-ms', env: 'RUNGATE_POLL_MAX_AGE_MS', kind: 'int', default: 24 * 3600_000, check: atLeast(1000), help: 'stop polling a run this long after it started and mark it stale' },
    leaseMs: {
      flag: 'poll-lease-ms', env: 'RUNGATE_POLL_LEASE_MS', kind: 'int', default: 30_000, check: atLeast(100),
      help: 'how long a taken poll is held before another instance may take it (the runs of a crashed instance move on after this)',
    },
    concurrency: { flag: 'poll-concurrency', env: 'RUNGATE_POLL_CONCURRENCY', kind: 'int', default: 8, check: between(1, 1000), help: 'polls in flight at once' },
  },
  upstream: {
    timeoutMs: { flag: 'upstream-timeout-ms', env: 'RUNGATE_UPSTREAM_TIMEOUT_MS', kind: 'int', default: 15_000, check: atLeast(100), help: 'per-request timeout for Doclo calls' },
    concurrency: { flag: 'upstream-concurrency', env: 'RUNGATE_UPSTREAM_CONCURRENCY', kind: 'int', default: 16, check: between(1, 1000), help: 'Doclo calls in flight at once' },
    retries: { flag: 'upstream-retries', env: 'RUNGATE_UPSTREAM_RETRIES', kind: 'int', default: 4, check: between(0, 20), help: 'retries of a Doclo call on 429, 5xx, network errors and timeouts' },
    callerMaxWaitMs: {
      flag: 'start-max-wait-ms', env: 'RUNGATE_START_MAX_WAIT_MS', kind: 'int', default: 2000, check: between(0, 65_000),
      help: "longest wait for Doclo's rate limit that a start or cancel sleeps through for its caller; a longer one is answered 429 RATE_LIMITED at once",
    },
  },
  relay: {
    secret: {
      flag: 'relay-secret', env: 'RUNGATE_RELAY_SECRET', kind: 'string',
      check: (v: string) => (v.trim().length === 0 ? 'must not be empty' : undefined),
      help: "signs the webhooks delivered to callers' own webhookUrl (X-Doclo-Signature); default: the first --webhook-secret",
    },
    allowPrivate: {
      flag: 'relay-allow-private', env: 'RUNGATE_RELAY_ALLOW_PRIVATE', kind: 'boolean', default: false,
      help: 'allow caller webhook URLs on loopback and private networks (and host names that resolve there)',
    },
    timeoutMs: { flag: 'relay-timeout-ms', env: 'RUNGATE_RELAY_TIMEOUT_MS', kind: 'int', default: 10_000, check: between(100, 120_000), help: 'per-attempt timeout of a delivery' },
    maxAgeMs: {
      flag: 'relay-max-age-h', env: 'RUNGATE_RELAY_MAX_AGE_H', kind: 'int', default: 24, check: between(1, 24 * 30), to: (hours: number) => hours * 3600_000,
      help: 'a delivery not through after this many hours of retries is failed',
    },
    baseDelayMs: {
      flag: 'relay-retry-ms', env: 'RUNGATE_RELAY_RETRY_MS', kind: 'int', default: 1000, check: between(10, 3000),
      help: 'first retry of a delivery after about this long (×0.5 to ×1.5); each later wait doubles, up to an hour',
    },
    concurrency: { flag: 'relay-concurrency', env: 'RUNGATE_RELAY_CONCURRENCY', kind: 'int', default: 64, check: between(1, 10_000), help: 'delivery attempts in flight at once' },
    perHost: { flag: 'relay-per-host', env: 'RUNGATE_RELAY_PER_HOST', kind: 'int', default: 16, check: between(1, 10_000), help: 'delivery attempts in flight at once to one destination host' },
    scanIntervalMs: {
      flag: 'relay-scan-ms', env: 'RUNGATE_RELAY_SCAN_MS', kind: 'int', default: 500, check: between(50, 60_000),
      help: "how often the store is asked for due deliveries (retries, a restarted or dead instance's deliveries)",
    },
  },
  proxyWrites: {
    flag: 'proxy-writes', env: 'RUNGATE_PROXY_WRITES', kind: 'boolean', default: false,
    help: 'also pass non-GET requests for other Doclo routes through to Doclo (admins only when auth is on)',
  },
  progress: {
    intervalMs: {
      flag: 'progress-poll-ms', env: 'RUNGATE_PROGRESS_POLL_MS', kind: 'int', default: 0,
      check: (v: number) => (v === 0 || v >= 100 ? undefined : 'must be 0 (off) or at least 100'),
      help: 'poll an unfinished run that someone watches (WebSocket or SSE) this often, for its running state and progress; 0 = off',
    },
    perMinute: {
      flag: 'progress-poll-per-minute', env: 'RUNGATE_PROGRESS_POLL_PER_MINUTE', kind: 'int', default: 600, check: atLeast(1),
      help: 'most progress polls per minute, over all watched runs together (they also leave a reserve of Doclo\'s window to starts and cancels)',
    },
  },
  sse: {
    keepAliveMs: {
      flag: 'sse-keepalive-ms', env: 'RUNGATE_SSE_KEEPALIVE_MS', kind: 'int', default: 15_000, check: between(100, 30_000),
      help: 'a comment line keeps each idle Server-Sent Events stream alive this often',
    },
    maxBufferedBytes: {
      flag: 'sse-max-buffered', env: 'RUNGATE_SSE_MAX_BUFFERED', kind: 'bytes', default: 4 * 1024 * 1024, check: atLeast(1024),
      help: 'a Server-Sent Events consumer with more unsent bytes than this is disconnected',
    },
  },
  cache: {
    finalTtlSeconds: { flag: 'cache-final-ttl-s', env: 'RUNGATE_CACHE_FINAL_TTL_S', kind: 'int', default: 3600, check: atLeast(1), help: 'how long a finished run stays in the hot cache' },
    activeTtlSeconds: { flag: 'cache-active-ttl-s', env: 'RUNGATE_CACHE_ACTIVE_TTL_S', kind: 'int', default: 30, check: atLeast(1), help: 'how long an unfinished run stays in the hot cache' },
    maxRuns: { flag: 'cache-max-runs', env: 'RUNGATE_CACHE_MAX_RUNS', kind: 'int', default: 10_000, check: atLeast(1), help: "most runs held in the hot cache (about 0.6 KB each plus the run's output); the least recently used go first" },
  },
  retentionMs: {
    flag: 'retention-h', env: 'RUNGATE_RETENTION_H', kind: 'int', default: 24 * 30, check: atLeast(1), to: (hours: number) => hours * 3600_000,
    help: 'finished runs are pruned from the store after this many hours',
  },
  ws: {
    maxSubscriptions: { flag: 'ws-max-subscriptions', env: 'RUNGATE_WS_MAX_SUBSCRIPTIONS', kind: 'int', default: 1000, check: atLeast(1), help: 'subscriptions per WebSocket connection' },
    maxBufferedBytes: { flag: 'ws-max-buffered', env: 'RUNGATE_WS_MAX_BUFFERED', kind: 'bytes', default: 4 * 1024 * 1024, check: atLeast(1024), help: 'a peer with more unsent bytes than this is closed with 1013' },
    pingIntervalMs: { flag: 'ws-ping-interval-ms', env: 'RUNGATE_WS_PING_INTERVAL_MS', kind: 'int', default: 30_000, check: atLeast(100), help: 'ping period; a peer silent for two periods is closed' },
    lookupsPerConnectionPerMinute: { flag: 'ws-lookups-per-connection', env: 'RUNGATE_WS_LOOKUPS_PER_CONNECTION', kind: 'int', default: 120, check: atLeast(0), help: 'upstream lookups of unknown runs one connection may cause per minute' },
    lookupsPerMinute: { flag: 'lookups-per-minute', env: 'RUNGATE_LOOKUPS_PER_MINUTE', kind: 'int', default: 1200, check: atLeast(0), help: 'upstream lookups of unknown runs that clients may cause per minute, in total' },
    maxConnectionsPerClient: { flag: 'ws-max-connections-per-client', env: 'RUNGATE_WS_MAX_CONNECTIONS_PER_CLIENT', kind: 'int', default: 10_000, check: atLeast(1), help: 'open WebSocket connections per owner (or per IP before authentication)' },
    authTimeoutMs: { flag: 'ws-auth-timeout-ms', env: 'RUNGATE_WS_AUTH_TIMEOUT_MS', kind: 'int', default: 5000, check: atLeast(100), help: 'with auth on, a connection without a valid token by then is closed' },
    seqRetentionMs: {
      flag: 'push-seq-retention-s', env: 'RUNGATE_PUSH_SEQ_RETENTION_S', kind: 'int', default: 60, check: atLeast(1), to: (seconds: number) => seconds * 1000,
      help: "how long a subscriber (WebSocket or SSE) remembers the seq it was sent of a run after the run's last frame (keeps a final state from going out twice)",
    },
    seqMaxRuns: { flag: 'push-seq-max-runs', env: 'RUNGATE_PUSH_SEQ_MAX_RUNS', kind: 'int', default: 100_000, check: atLeast(1), help: 'most runs one subscriber remembers at once; the oldest are forgotten sooner' },
  },
  heapGrowthPercent: {
    flag: 'heap-growth-percent', env: 'RUNGATE_HEAP_GROWTH_PERCENT', kind: 'int', default: 100, check: zeroOrBetween(25, 1000),
    help: "V8 collects the JS heap again once it has grown this much (%) past what its last full collection kept, so RSS follows live data; 0 = V8's own factor (up to 4×)",
  },
  shutdownTimeoutMs: { flag: 'shutdown-timeout-ms', env: 'RUNGATE_SHUTDOWN_TIMEOUT_MS', kind: 'int', default: 6000, check: between(100, 60_000), help: 'longest wait for in-flight requests on SIGTERM (the whole shutdown must fit in 10 s)' },
} satisfies OptionTree;

/** express's names for groups of addresses (proxy-addr's). */
const PROXY_GROUPS = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(text: string): boolean {
  if (PROXY_GROUPS.has(text)) return true;
  const [address, prefix, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

function trustProxyProblem(text: string): string | undefined {
  const value = text.trim().toLowerCase();
  if (['false', 'no', 'off', '0', 'none'].includes(value)) return undefined;
  if (['true', 'yes', 'on', 'all'].includes(value)) {
    return 'trusting every hop lets any client choose its IP with X-Forwarded-For; give the number of proxies in front (for example 1) or their addresses';
  }
  if (/^\d+$/.test(value)) return Number(value) <= 32 ? undefined : 'a hop count must be at most 32';
  const bad = value.split(',').map((part) => part.trim()).find((part) => !isProxyAddress(part));
  return bad === undefined ? undefined : `'${bad}' is neither a hop count nor an IP address, CIDR, loopback, linklocal or uniquelocal`;
}

/** As express's `trust proxy` takes it: false, a hop count, or the trusted addresses. */
export type TrustProxy = false | number | readonly string[];

function trustProxyValue(text: string): TrustProxy {
  const value = text.trim().toLowerCase();
  if (['false', 'no', 'off', '0', 'none'].includes(value)) return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',').map((part) => part.trim());
}

/** The validated, frozen configuration of `rungate serve`: SERVE_OPTIONS' layout, `simulate` resolved. */
export type ServeConfig = Omit<ConfigOf<typeof SERVE_OPTIONS>, 'simulate'> & { readonly simulate: boolean };

/** Client keys from the flag and the file, as key → owner; a key given twice is an error. */
function readClientKeys(pairs: readonly string[], file: string | undefined, nameOf: OptionNamer): Map<string, string> {
  const all = [...pairs];
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`${nameOf('client-keys-file')}: cannot read ${file}: ${(error as Error).message}`);
    }
    text.split('\n').forEach((line, index) => {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) return;
      if (!CLIENT_KEY_PAIR.test(trimmed)) throw new ConfigError(`${nameOf('client-keys-file')}: line ${index + 1} is not OWNER=KEY (key of 16+ characters)`);
      all.push(trimmed);
    });
  }
  const keys = new Map<string, string>();
  for (const pair of all) {
    const at = pair.indexOf('=');
    const key = pair.slice(at + 1);
    if (keys.has(key)) throw new ConfigError(`${nameOf('client-key')}: the same key is given twice`);
    keys.set(key, pair.slice(0, at));
  }
  return keys;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Builds the serve config from argv (after the command) and the environment. */
export function loadServeConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServeConfig {
  const { values, nameOf } = parseOptions(SERVE_OPTIONS, argv, env);
  const { poll } = values;
  if (poll.minGraceMs > poll.maxGraceMs) throw new ConfigError(`${nameOf('poll-min-grace-ms')}: must not exceed ${nameOf('poll-max-grace-ms')}`);
  if (poll.intervalMs > poll.maxIntervalMs) throw new ConfigError(`${nameOf('poll-interval-ms')}: must not exceed ${nameOf('poll-max-interval-ms')}`);
  if (values.bodies.requestInFlightBytes < values.requestBodyLimitBytes) {
    throw new ConfigError(`${nameOf('request-bodies-in-flight')}: must be at least ${nameOf('request-body-limit')}, or the largest bodies could never be read`);
  }
  if (values.bodies.webhookInFlightBytes < values.webhookBodyLimitBytes) {
    throw new ConfigError(`${nameOf('webhook-bodies-in-flight')}: must be at least ${nameOf('webhook-body-limit')}, or the largest webhooks could never be read`);
  }
  // No key and no upstream of one's own: the embedded simulator. An upstream URL without a key
  // (a standalone simulator, a keyless proxy) is used as given.
  const simulate = values.simulate ?? (values.apiKey === undefined && values.upstreamUrl === SERVE_OPTIONS.upstreamUrl.default);
  return deepFreeze({ ...values, simulate });
}
