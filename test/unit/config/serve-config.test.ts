import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { describeOptions, flattenOptions, parseBytes } from '../../../src/config/option-parser.js';
import { ConfigError } from '../../../src/errors.js';
import { SERVE_OPTIONS, loadServeConfig, type ServeConfig, type StoreConfig, type TrustProxy } from '../../../src/config/serve-config.js';

describe('loadServeConfig', () => {
  it('has the contract defaults, and simulate is on without an API key', () => {
    const config = loadServeConfig([], {});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, upstreamUrl: 'https://app.doclo.ai/api/v1', store: { kind: 'sqlite', path: './data/rungate.db' }, simulate: true, logLevel: 'info', webhookBodyLimitBytes: 16 * 1024 * 1024 });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.poll)).toBe(true);
    expect(loadServeConfig([], { DOCLO_API_KEY: 'k' }).simulate).toBe(false);
    expect(loadServeConfig(['--simulate'], { DOCLO_API_KEY: 'k' }).simulate).toBe(true);
    // An upstream of one's own without a key (a standalone simulator) is used as given.
    expect(loadServeConfig(['--upstream-url', 'http://127.0.0.1:8081/api/v1'], {}).simulate).toBe(false);
    expect(loadServeConfig([], { DOCLO_API_URL: 'http://127.0.0.1:8081/api/v1' }).simulate).toBe(false);
    expect(loadServeConfig([], { RUNGATE_SIMULATE: 'false' }).simulate).toBe(false);
  });

  it('takes flags over environment over defaults', () => {
    expect(loadServeConfig([], { RUNGATE_PORT: '9000' }).port).toBe(9000);
    expect(loadServeConfig(['--port', '0'], { RUNGATE_PORT: '9000' }).port).toBe(0);
    expect(loadServeConfig(['--webhook-secret=a, b'], {}).webhookSecrets).toEqual(['a', 'b']);
    expect(loadServeConfig([], { DOCLO_WEBHOOK_SECRET: 'x,y' }).webhookSecrets).toEqual(['x', 'y']);
    expect(loadServeConfig(['--store', 'redis://127.0.0.1:6379/2'], {}).store).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379/2', prefix: 'rungate:' });
    expect(loadServeConfig(['--webhook-body-limit', '512kb'], {}).webhookBodyLimitBytes).toBe(512 * 1024);
    expect(loadServeConfig(['--heap-growth-percent', '0'], {}).heapGrowthPercent).toBe(0);
    expect(loadServeConfig([], {})).toMatchObject({ heapGrowthPercent: 100 });
    expect(loadServeConfig([], {})).toMatchObject({ proxyWrites: false, progress: { intervalMs: 0 }, upstream: { callerMaxWaitMs: 2000 }, sse: { keepAliveMs: 15_000 } });
    expect(loadServeConfig(['--proxy-writes'], {}).proxyWrites).toBe(true);
    expect(loadServeConfig([], { RUNGATE_PROGRESS_POLL_MS: '1000' }).progress.intervalMs).toBe(1000);
  });

  it('takes postgres:// and postgresql:// store URLs as given', () => {
    for (const url of ['postgres://rungate:s3cret@db.internal:5433/rungate', 'postgresql://postgres@127.0.0.1/rungate']) {
      expect(loadServeConfig(['--store', url], {}).store).toEqual({ kind: 'postgres', url });
    }
    expect(loadServeConfig([], { RUNGATE_STORE: 'postgres://u@h/db' }).store).toEqual({ kind: 'postgres', url: 'postgres://u@h/db' });
  });

  it('names the flag in every error', () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--bogus'], {}, /bogus/],
      [['--port', 'abc'], {}, /--port/],
      [['--port', '70000'], {}, /--port/],
      [[], { RUNGATE_PORT: 'x' }, /RUNGATE_PORT \(--port\)/],
      [['--store', 'mysql://x'], {}, /--store/],
      [['--store', 'redis://h:1/x'], {}, /--store: the Redis database must be a number/],
      [['--store', 'postgres://u@127.0.0.1:5432'], {}, /--store.*database/],
      [['--store', 'postgresql://u@:5432/db'], {}, /--store/],
      [['--upstream-url', 'ftp://x'], {}, /--upstream-url/],
      [['--log-level', 'loud'], {}, /--log-level/],
      [['--webhook-body-limit', 'huge'], {}, /--webhook-body-limit/],
      [['--poll-interval-ms', '90000'], {}, /--poll-interval-ms/],
      [['serve-extra'], {}, /serve-extra/],
      [['--progress-poll-ms', '50'], {}, /--progress-poll-ms: must be 0 \(off\) or at least 100/],
      [[], { RUNGATE_PROXY_WRITES: 'maybe' }, /RUNGATE_PROXY_WRITES \(--proxy-writes\)/],
      [['--sse-keepalive-ms', '60000'], {}, /--sse-keepalive-ms/],
      [['--start-max-wait-ms', '-1'], {}, /--start-max-wait-ms/],
      [[], { RUNGATE_STORE: 'bogus' }, /^RUNGATE_STORE \(--store\): must be/],
      [['--poll-concurrency', '-1'], {}, /^--poll-concurrency: must be between 1 and 1000$/],
      [['--heap-growth-percent', '10'], {}, /^--heap-growth-percent: must be 0 or between 25 and 1000$/],
      [['--heap-growth-percent', '-1'], {}, /^--heap-growth-percent: must be 0 or between 25 and 1000$/],
      [[], { RUNGATE_HEAP_GROWTH_PERCENT: '5000' }, /^RUNGATE_HEAP_GROWTH_PERCENT \(--heap-growth-percent\): must be 0 or between 25 and 1000$/],
      [['--heap-growth-percent', 'lots'], {}, /--heap-growth-percent/],
      [[], { RUNGATE_POLL_MIN_GRACE_MS: '200000' }, /^RUNGATE_POLL_MIN_GRACE_MS \(--poll-min-grace-ms\): must not exceed --poll-max-grace-ms$/],
      [['--sim-run-ms', '-5'], {}, /^--sim-run-ms: must be at least 0$/],
      [[], { RUNGATE_CLIENT_KEYS_FILE: '/nonexistent/keys' }, /^RUNGATE_CLIENT_KEYS_FILE \(--client-keys-file\): cannot read \/nonexistent\/keys/],
      [['--client-key', `a=${'k'.repeat(16)}`, '--client-key', `b=${'k'.repeat(16)}`], {}, /^--client-key: the same key is given twice$/],
    ];
    for (const [argv, env, pattern] of cases) {
      expect(() => loadServeConfig(argv, env)).toThrow(ConfigError);
      expect(() => loadServeConfig(argv, env)).toThrow(pattern);
    }
  });

  it('parses byte sizes', () => {
    expect(parseBytes('16mb')).toBe(16 * 1024 * 1024);
    expect(parseBytes('1024')).toBe(1024);
    expect(parseBytes('2 KiB')).toBe(2048);
    expect(parseBytes('lots')).toBeUndefined();
  });

  it('lays the values out as the consumers read them, converted and frozen', () => {
    const config = loadServeConfig(
      ['--public-url', 'https://gw.example.com//', '--allowed-origins', 'https://app.example.com/', '--retention-h', '2', '--poll-grace-ms', '7000', '--ws-lookups-per-connection', '5', '--client-key', `me=${'k'.repeat(16)}`],
      {},
    );
    expect(config.publicUrl).toBe('https://gw.example.com');
    expect(config.allowedOrigins).toEqual(['https://app.example.com']);
    expect(config.retentionMs).toBe(2 * 3600_000);
    expect(config.poll).toMatchObject({ graceMs: 7000, minGraceMs: 2000, maxGraceMs: 120_000, concurrency: 8, leaseMs: 30_000 });
    expect(config.ws.lookupsPerConnectionPerMinute).toBe(5);
    expect(config.rateLimit).toEqual({ perIpPerMinute: 60_000, perOwnerPerMinute: 60_000 });
    expect([...config.clientKeys]).toEqual([['k'.repeat(16), 'me']]);
    expect(config.webhookSecrets).toEqual([]);
    expect(Object.isFrozen(config.store) && Object.isFrozen(config.webhookSecrets) && Object.isFrozen(config.ws)).toBe(true);
    // Freezing one config leaves the table, and so the next config, alone.
    expect(Object.isFrozen(SERVE_OPTIONS.host)).toBe(false);
  });

  it('types each value as its option says', () => {
    expectTypeOf<ServeConfig['poll']['graceMs']>().toEqualTypeOf<number>();
    expectTypeOf<ServeConfig['publicUrl']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<ServeConfig['apiKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<ServeConfig['webhookSecrets']>().toEqualTypeOf<readonly string[]>();
    expectTypeOf<ServeConfig['store']>().toEqualTypeOf<StoreConfig>();
    expectTypeOf<ServeConfig['clientKeys']>().toEqualTypeOf<ReadonlyMap<string, string>>();
    expectTypeOf<ServeConfig['simulate']>().toEqualTypeOf<boolean>();
    expectTypeOf<ServeConfig['retentionMs']>().toEqualTypeOf<number>();
    expectTypeOf<ServeConfig['trustProxy']>().toEqualTypeOf<TrustProxy | undefined>();
  });

  it('names every flag once, and --help and README list them all', () => {
    const specs = flattenOptions(SERVE_OPTIONS);
    expect(new Set(specs.map((spec) => spec.flag)).size).toBe(specs.length);
    expect(new Set(specs.map((spec) => spec.env)).size).toBe(specs.length);
    const help = describeOptions(SERVE_OPTIONS);
    const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
    for (const spec of specs) {
      expect(help).toContain(`--${spec.flag} [${spec.env}]\n      ${spec.help}`);
      expect(readme).toMatch(new RegExp(`\`--${spec.flag}[\` ]`));
    }
  });
});
