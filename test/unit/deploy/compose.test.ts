import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../../src/config/serve-config.js';
import {
  DEPLOY,
  ROOT,
  SERVE_ENV_NAMES,
  directive,
  durationSeconds,
  interpolate,
  parseEnvFile,
  parseNginx,
  readYaml,
  referencedVariables,
  type NginxBlock,
} from './deploy-files.js';

const COMPOSE_DIR = join(DEPLOY, 'compose');
const EXAMPLE_ENV = parseEnvFile(readFileSync(join(COMPOSE_DIR, '.env.example'), 'utf8'));
/** The port the image listens on (its ENV), which the proxy and health checks must use. */
const IMAGE_PORT = Number(/RUNGATE_PORT=(\d+)/.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]);

/** A compose file as `docker compose config` would see it with the example .env. */
function render(file: string): any {
  return interpolate(readYaml(join(COMPOSE_DIR, file)), EXAMPLE_ENV);
}

const VARIANTS = [
  { file: 'compose.yaml', database: 'postgres' },
  { file: 'compose.redis.yaml', database: 'redis' },
] as const;

describe.each(VARIANTS)('deploy/compose/$file', ({ file, database }) => {
  const compose = render(file);
  const gateways = ['gateway-a', 'gateway-b'].map((name) => compose.services[name]);

  it('has two gateways, a proxy and the database, and nothing else', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway-a', 'gateway-b', 'proxy', database].sort());
  });

  it('builds the gateways from the repository Dockerfile', () => {
    for (const gateway of gateways) {
      expect(resolve(COMPOSE_DIR, gateway.build.context)).toBe(ROOT);
      expect(existsSync(join(ROOT, gateway.build.dockerfile))).toBe(true);
      expect(gateway.image).toMatch(/^rungate:/);
    }
  });

  it('sets only variables that rungate serve reads, the public URL among them', () => {
    for (const gateway of gateways) {
      const names = Object.keys(gateway.environment);
      expect(names.filter((name) => !SERVE_ENV_NAMES.has(name))).toEqual([]);
      expect(names).toEqual(expect.arrayContaining(['RUNGATE_PUBLIC_URL', 'RUNGATE_STORE', 'DOCLO_API_KEY', 'DOCLO_WEBHOOK_SECRET', 'RUNGATE_JWT_SECRET', 'RUNGATE_TRUST_PROXY']));
      expect(new URL(gateway.environment.RUNGATE_PUBLIC_URL).protocol).toBe('https:');
    }
  });

  it('gives the gateways values that rungate serve accepts', () => {
    for (const gateway of gateways) {
      const env = { ...gateway.environment };
      // postgres:// is checked by its own shape below until the PostgreSQL store is on main.
      if (database === 'postgres') delete env.RUNGATE_STORE;
      const config = loadServeConfig([], env);
      expect(config.publicUrl).toBe(EXAMPLE_ENV.RUNGATE_PUBLIC_URL);
      expect(config.webhookSecrets).toEqual([EXAMPLE_ENV.DOCLO_WEBHOOK_SECRET]);
      expect(config.simulate).toBe(false);
    }
  });

  it('points the store at the database service with its credentials', () => {
    const store = new URL(gateways[0].environment.RUNGATE_STORE);
    expect(store.hostname).toBe(database);
    if (database === 'postgres') {
      const db = compose.services.postgres.environment;
      expect(store.protocol).toBe('postgres:');
      expect(store.port).toBe('5432');
      expect(store.username).toBe(db.POSTGRES_USER);
      expect(store.password).toBe(db.POSTGRES_PASSWORD);
      expect(store.pathname).toBe(`/${db.POSTGRES_DB}`);
    } else {
      const command: string[] = compose.services.redis.command;
      const flag = (name: string) => command[command.indexOf(name) + 1];
      expect(store.protocol).toBe('redis:');
      expect(store.port).toBe('6379');
      expect(store.password).toBe(flag('--requirepass'));
      // Without persistence a Redis restart loses every run and scheduled poll.
      expect(flag('--appendonly')).toBe('yes');
      expect(flag('--appendfsync')).toBe('everysec');
      expect(compose.services.redis.volumes[0]).toMatch(/^\w+:\/data$/);
    }
    expect(gateways[1].environment.RUNGATE_STORE).toBe(gateways[0].environment.RUNGATE_STORE);
  });

  it('starts gateways after the database is healthy and the proxy after both gateways', () => {
    for (const gateway of gateways) {
      expect(gateway.depends_on[database].condition).toBe('service_healthy');
      expect(compose.services[database].healthcheck.test.length).toBeGreaterThan(0);
      expect(gateway.healthcheck.test.join(' ')).toContain(`127.0.0.1:${IMAGE_PORT}/readyz`);
    }
    expect(compose.services.proxy.depends_on).toEqual({ 'gateway-a': { condition: 'service_healthy' }, 'gateway-b': { condition: 'service_healthy' } });
  });

  it('lets a gateway finish its 10 s shutdown before it is killed', () => {
    for (const gateway of gateways) expect(durationSeconds(gateway.stop_grace_period)).toBeGreaterThan(10);
  });

  it('mounts the nginx configuration that lists both gateways', () => {
    expect(compose.services.proxy.volumes).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro');
    const upstream = nginxHttp().blocks.find((block) => block.name === 'upstream')!;
    expect(directive(upstream, 'server').map((args) => args[0])).toEqual([`gateway-a:${IMAGE_PORT}`, `gateway-b:${IMAGE_PORT}`]);
  });

  it('takes every variable it needs from .env, which the example lists and git ignores', () => {
    expect(referencedVariables(readYaml(join(COMPOSE_DIR, file))).filter((name) => !(name in EXAMPLE_ENV))).toEqual([]);
    expect(() => interpolate(readYaml(join(COMPOSE_DIR, file)), {})).toThrow(/RUNGATE_PUBLIC_URL|DOCLO_API_KEY|PASSWORD/);
  });
});

/** nginx sizes: `64m`, `512k`, `1g`, plain bytes. */
function nginxSizeBytes(text: string): number {
  const match = /^(\d+)([kmg]?)$/i.exec(text);
  if (!match) throw new Error(`not an nginx size: ${text}`);
  return Number(match[1]) * 1024 ** ' kmg'.indexOf((match[2] || ' ').toLowerCase());
}

function nginxHttp(): NginxBlock {
  const config = parseNginx(readFileSync(join(COMPOSE_DIR, 'nginx.conf'), 'utf8'));
  return config.blocks.find((block) => block.name === 'http')!;
}

describe('deploy/compose/nginx.conf', () => {
  const http = nginxHttp();
  const server = http.blocks.find((block) => block.name === 'server')!;
  const location = (...args: string[]) => server.blocks.find((block) => block.name === 'location' && block.args.join(' ') === args.join(' '))!;
  const readTimeout = (block: NginxBlock) => durationSeconds(directive(block, 'proxy_read_timeout')[0]![0]!);

  it('holds REST requests longer than Prefer: wait and wait:true may (60 s)', () => {
    expect(readTimeout(server)).toBeGreaterThan(60);
    expect(directive(server, 'proxy_http_version')).toEqual([['1.1']]);
    expect(directive(server, 'proxy_set_header')).toEqual(expect.arrayContaining([['Host', '$host'], ['X-Forwarded-For', '$proxy_add_x_forwarded_for']]));
    // A start carries the document: at least the gateway's default --request-body-limit.
    expect(nginxSizeBytes(directive(server, 'client_max_body_size')[0]![0]!)).toBeGreaterThanOrEqual(64 * 1024 * 1024);
  });

  it('upgrades /ws to a WebSocket and keeps it open past the gateway pings', () => {
    const ws = location('=', '/ws');
    expect(directive(ws, 'proxy_pass')).toEqual([['http://rungate']]);
    expect(directive(ws, 'proxy_set_header')).toEqual(
      expect.arrayContaining([['Upgrade', '$http_upgrade'], ['Connection', '$connection_upgrade'], ['Host', '$host'], ['X-Forwarded-For', '$proxy_add_x_forwarded_for']]),
    );
    expect(readTimeout(ws)).toBeGreaterThan(60);
    const upgradeMap = http.blocks.find((block) => block.name === 'map' && block.args[0] === '$http_upgrade')!;
    expect(upgradeMap.args[1]).toBe('$connection_upgrade');
  });

  it('streams the SSE routes unbuffered', () => {
    const sse = location('~', '^/api/v1/(runs/[^/]+/)?events$');
    const pattern = new RegExp(sse.args[1]!);
    expect(['/api/v1/runs/exec_1/events', '/api/v1/events'].every((path) => pattern.test(path))).toBe(true);
    expect(pattern.test('/api/v1/runs/exec_1')).toBe(false);
    expect(directive(sse, 'proxy_buffering')).toEqual([['off']]);
    expect(readTimeout(sse)).toBeGreaterThan(60);
  });

  it('keeps /metrics off the public proxy and query strings out of its log', () => {
    expect(directive(location('=', '/metrics'), 'proxy_pass')).toEqual([]);
    const format = directive(http, 'log_format')[0]!.join(' ');
    expect(format).toContain('$uri');
    expect(format).not.toMatch(/\$request_uri|\$args|\$query_string|\$request /);
  });
});

describe('deploy/.gitignore', () => {
  it('keeps filled-in secrets out of git', () => {
    const ignored = (path: string) => spawnSync('git', ['check-ignore', '-q', path], { cwd: ROOT }).status === 0;
    expect(ignored('deploy/compose/.env')).toBe(true);
    expect(ignored('deploy/kubernetes/secret.yaml')).toBe(true);
    expect(ignored('deploy/compose/.env.example')).toBe(false);
  });
});
