import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDrivers } from '../../src/drivers.js';
import { StoreUnreachableError } from '../../src/errors.js';
import { redisDbOf } from '../../src/redis/redis-connection.js';
import { postgresAvailable, TestDatabase } from '../support/postgres.js';
import { deletePrefix, redisAvailable, redisUrl, testRedis, uniquePrefix } from '../support/redis.js';
import { record } from './run-store.contract.js';

const redisUp = await redisAvailable();
const postgresUp = await postgresAvailable();
const logger = pino({ level: 'silent' });

describe('createDrivers', () => {
  it('keeps everything in memory for --store memory', async () => {
    const drivers = await createDrivers({ kind: 'memory' }, logger);
    expect(drivers.store.kind).toBe('memory');
    await drivers.close();
  });

  it('reads the database number from a redis URL', () => {
    expect(redisDbOf('redis://127.0.0.1:6379')).toBe(0);
    expect(redisDbOf('redis://127.0.0.1:6379/')).toBe(0);
    expect(redisDbOf('redis://:secret@127.0.0.1:6379/7')).toBe(7);
    // Not a number: refused rather than read as NaN (the serve config reports it as --store).
    expect(() => redisDbOf('redis://127.0.0.1:6379/x')).toThrow(/must be a number/);
  });

  it('fails with a clear error, leaving nothing open, when Redis does not answer', async () => {
    // Port 1 on loopback: nothing listens there.
    await expect(createDrivers({ kind: 'redis', url: 'redis://127.0.0.1:1/0', prefix: 'x:' }, logger)).rejects.toThrow(/Redis at redis:\/\/127\.0\.0\.1:1\/0 is not reachable/);
    await expect(createDrivers({ kind: 'redis', url: 'redis://127.0.0.1:1/0', prefix: 'x:' }, logger)).rejects.toBeInstanceOf(StoreUnreachableError);
  });

  it('fails with a clear error that hides the password, leaving nothing open, when PostgreSQL does not answer', async () => {
    const attempt = createDrivers({ kind: 'postgres', url: 'postgres://rungate:hunter2@127.0.0.1:1/rungate' }, logger);
    await expect(attempt).rejects.toBeInstanceOf(StoreUnreachableError);
    await expect(attempt).rejects.toThrow(/^--store: PostgreSQL at postgres:\/\/rungate:\*\*\*@127\.0\.0\.1:1\/rungate is not reachable: /);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
  });

  it.skipIf(!postgresUp)('shares one PostgreSQL database between store, bus and schedule, migrating it first', async () => {
    const db = await TestDatabase.create('drivers');
    try {
      const drivers = await createDrivers({ kind: 'postgres', url: db.url }, logger);
      try {
        expect(drivers.store.kind).toBe('postgres');
        const seen: string[] = [];
        drivers.bus.subscribe((r) => seen.push(`${r.run.id}@${r.rev}`));
        const r = record();
        expect(await drivers.store.compareAndSet(r, 0)).toBe(true);
        await drivers.bus.publish(r);
        await drivers.schedule.add(r.run.id, 5);
        // The store's write alone announces the change; the writer's publish after it adds nothing.
        await expect.poll(() => seen).toEqual([`${r.run.id}@1`]);
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          expect((await client.query('SELECT due_at_ms::int AS due FROM rungate_polls')).rows).toEqual([{ due: 5 }]);
          const names = await client.query<{ name: string }>('SELECT application_name AS name FROM pg_stat_activity WHERE datname = current_database() ORDER BY 1');
          expect(names.rows.map((row) => row.name)).toContain('rungate-listener');
        } finally {
          await client.end();
        }
      } finally {
        await drivers.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('says in one line which store could not be reached and why, the password hidden', async () => {
    const error = await createDrivers({ kind: 'redis', url: 'redis://:hunter2@127.0.0.1:1/0', prefix: 'x:' }, logger).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnreachableError);
    expect((error as Error).message).toBe('--store: Redis at redis://:***@127.0.0.1:1/0 is not reachable: connect ECONNREFUSED 127.0.0.1:1');
  });

  it('says in one line which SQLite file could not be opened and why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rungate-drivers-'));
    try {
      const path = join(dir, 'not-a-database.db');
      writeFileSync(path, 'this is text, not a database '.repeat(40));
      const error = await createDrivers({ kind: 'sqlite', path }, logger).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnreachableError);
      expect((error as Error).message).toBe(`--store: cannot open the SQLite database ${path}: file is not a database`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!redisUp)('shares one Redis between store, bus and schedule, in the URL’s database', async () => {
    const prefix = uniquePrefix('drivers');
    const drivers = await createDrivers({ kind: 'redis', url: redisUrl(3), prefix }, logger);
    const admin = testRedis(3);
    try {
      const seen: string[] = [];
      drivers.bus.subscribe((r) => seen.push(r.run.id));
      const r = record();
      expect(await drivers.store.compareAndSet(r, 0)).toBe(true);
      await drivers.schedule.add(r.run.id, 5);
      await drivers.bus.publish(r);
      await expect.poll(() => seen).toEqual([r.run.id]);
      expect(await admin.exists(`${prefix}run:${r.run.id}`)).toBe(1);
      expect(await admin.zscore(`${prefix}polls`, r.run.id)).toBe('5');
    } finally {
      await drivers.close();
      await deletePrefix(admin, prefix);
      await admin.quit();
    }
  });
});
