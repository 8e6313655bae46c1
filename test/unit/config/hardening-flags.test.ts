import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../../src/config/serve-config.js';
import { unreachablePublicUrl } from '../../../src/config/public-url.js';
import { ConfigError } from '../../../src/errors.js';

const load = (argv: string[], env: Record<string, string> = {}) => loadServeConfig(argv, env);

describe('hardening flags', () => {
  it('--trust-proxy takes a hop count or proxy addresses, and refuses to trust every hop (finding 12)', () => {
    expect(load([]).trustProxy).toBeUndefined();
    expect(load(['--trust-proxy', '1']).trustProxy).toBe(1);
    expect(load(['--trust-proxy', 'false']).trustProxy).toBe(false);
    expect(load(['--trust-proxy', '10.0.0.0/8, loopback,192.168.1.4,fd00::/8']).trustProxy).toEqual(['10.0.0.0/8', 'loopback', '192.168.1.4', 'fd00::/8']);
    for (const bad of ['true', 'yes', '10.0.0.0/33', 'proxy.example', '99']) expect(() => load(['--trust-proxy', bad]), bad).toThrow(ConfigError);
    expect(() => load([], { RUNGATE_TRUST_PROXY: 'true' })).toThrow(/RUNGATE_TRUST_PROXY \(--trust-proxy\): trusting every hop/);
  });

  it('refuses secrets of only whitespace (finding 13)', () => {
    for (const blank of [' ', '\t', '   ']) {
      expect(() => load(['--jwt-secret', blank])).toThrow(/--jwt-secret: must not be empty or only whitespace/);
      expect(() => load(['--api-key', blank])).toThrow(/--api-key: must not be empty or only whitespace/);
    }
    expect(load(['--jwt-secret', 'x'.repeat(32)]).jwtMaxLifetimeSeconds).toBe(30 * 86_400);
  });

  it('keeps body budgets at least as large as the body limits', () => {
    expect(() => load(['--request-body-limit', '8mb', '--request-bodies-in-flight', '4mb'])).toThrow(/--request-bodies-in-flight: must be at least --request-body-limit/);
    expect(() => load(['--webhook-bodies-in-flight', '8mb'])).toThrow(/--webhook-bodies-in-flight: must be at least --webhook-body-limit/);
    expect(load([]).bodies).toEqual({ requestInFlightBytes: 256 * 1024 * 1024, webhookInFlightBytes: 64 * 1024 * 1024, idleTimeoutMs: 10_000, timeoutMs: 60_000 });
  });

  it('knows public URLs Doclo cannot reach (finding 16)', () => {
    for (const url of ['http://0.0.0.0:8080', 'http://127.0.0.1:8080', 'http://localhost:8080', 'http://10.1.2.3', 'http://192.168.0.9', 'http://172.20.0.2:8080', 'http://[::]:8080', 'http://[::1]', 'http://[fd12::1]', 'http://rungate:8080', 'http://169.254.1.1']) {
      expect(unreachablePublicUrl(url), url).toBeDefined();
    }
    for (const url of ['https://rungate.example.com', 'http://203.0.113.9:8080', 'http://172.32.0.1']) expect(unreachablePublicUrl(url), url).toBeUndefined();
  });
});
