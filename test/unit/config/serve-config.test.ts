import { describe, expect, it } from 'vitest';
import { ConfigError, parseBytes } from '../../../src/config/option-parser.js';
import { loadServeConfig } from '../../../src/config/serve-config.js';

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
      [['--store', 'redis://h:1/x'], {}, /--store/],
      [['--store', 'postgres://u@127.0.0.1:5432'], {}, /--store.*database/],
      [['--store', 'postgresql://u@:5432/db'], {}, /--store/],
      [['--upstream-url', 'ftp://x'], {}, /--upstream-url/],
      [['--log-level', 'loud'], {}, /--log-level/],
      [['--webhook-body-limit', 'huge'], {}, /--webhook-body-limit/],
      [['--poll-interval-ms', '90000'], {}, /--poll-interval-ms/],
      [['serve-extra'], {}, /serve-extra/],
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
});
