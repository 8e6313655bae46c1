import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPostgresPool } from '../../src/postgres/postgres-connection.js';
import { migrate } from '../../src/postgres/postgres-schema.js';

/** Where the PostgreSQL tests look; `.ci/run` starts the machine's server here when none answers. */
export const POSTGRES_HOST = '127.0.0.1';
export const POSTGRES_PORT = 5432;

/** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth, as on this machine and in CI). */
export function postgresUrl(database: string, port = POSTGRES_PORT): string {
  return `postgres://postgres@${POSTGRES_HOST}:${port}/${database}`;
}

/** `url` with its connections' search_path set to `schema` (tables then live there). */
export function withSchema(url: string, schema: string): string {
  return `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/** Whether a PostgreSQL on `port` of 127.0.0.1 answers within `timeoutMs`. */
export async function answersQuery(port: number, timeoutMs: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: postgresUrl('postgres', port), connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Whether PostgreSQL answers on 127.0.0.1:5432. Under CI=true a missing one throws, so the suites
 * that need it fail instead of being skipped; elsewhere they use `describe.skipIf(!available)`.
 */
export async function postgresAvailable(): Promise<boolean> {
  const up = await answersQuery(POSTGRES_PORT, 2000);
  if (!up && process.env.CI === 'true') {
    throw new Error(`PostgreSQL does not answer on ${POSTGRES_HOST}:${POSTGRES_PORT}, and under CI=true its tests must run (.ci/run starts it)`);
  }
  return up;
}

/** A database of the test's own on a shared server, and schemas inside it for single tests. */
export class TestDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly port: number,
  ) {}

  /** Creates `rungate_test_<label>_<random>`; nobody else uses that name, so dropping it is safe. */
  static async create(label: string, port = POSTGRES_PORT): Promise<TestDatabase> {
    const name = `rungate_test_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(5).toString('hex')}`;
    await admin(port, (client) => client.query(`CREATE DATABASE ${name}`));
    return new TestDatabase(name, postgresUrl(name, port), port);
  }

  /** A new empty schema in this database: the URL of connections that use it. */
  async schema(label = 's'): Promise<string> {
    const schema = `${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${schema}`);
    } finally {
      await client.end();
    }
    return withSchema(this.url, schema);
  }

  /** A migrated pool on a fresh schema (small: the shared server has few connections to spare). */
  async migratedPool(label = 's', max = 3): Promise<{ url: string; pool: pg.Pool }> {
    const url = await this.schema(label);
    const pool = createPostgresPool(url, { max, applicationName: `rungate-test-${label}` });
    await migrate(pool);
    return { url, pool };
  }

  /** Drops the database, closing whatever connections are still on it. */
  async drop(): Promise<void> {
    if (!this.name.startsWith('rungate_test_')) throw new Error(`refusing to drop ${this.name}`);
    await admin(this.port, (client) => client.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`));
  }
}

/** Terminates the server side of every connection to `database` named `applicationName` (a network drop). */
export async function terminateConnections(url: string, applicationName: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()',
      [applicationName],
    );
    return rows.filter((row) => row.ok).length;
  } finally {
    await client.end();
  }
}

async function admin(port: number, body: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl('postgres', port) });
  await client.connect();
  try {
    await body(client);
  } finally {
    await client.end();
  }
}
