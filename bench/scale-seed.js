// Fast seeding of the scale scenarios: N run records written straight into a store made for the
// bench — a SQLite file (one transaction of prepared inserts) or a PostgreSQL database of its own
// (one INSERT … SELECT over generate_series) — never through HTTP. The schema is made by the
// build's own code (opening the SQLite store, migrate() on PostgreSQL), so it is the real one.
//
// Every seeded run is `exec_seed_<i>`, ordinal i; flows `flow-<i mod 10>`, owners `owner-<i mod
// 100>`; `kind` picks the statuses: 'unfinished' (all running, tracked and started just now), or
// 'finished' (success, every 100th failed; last written `updatedAtMs`).
/* global process, URL */ // a Node script; the lint config has no Node globals for plain JS
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromDist } from './bench-lib.js';

export const FLOWS = 10;
export const OWNERS = 100;

function status(kind, i) {
  if (kind === 'unfinished') return 'running';
  return i % 100 === 0 ? 'failed' : 'success';
}

function recordJson(kind, i, updatedAtMs) {
  const st = status(kind, i);
  const final = st !== 'running';
  const run = {
    id: `exec_seed_${i}`,
    flowId: `flow-${i % FLOWS}`,
    status: st,
    seq: final ? 3 : 2,
    source: final ? 'webhook' : 'request',
    createdAt: new Date(updatedAtMs - 3000).toISOString(),
    ...(final ? { completedAt: new Date(updatedAtMs).toISOString(), duration: 3000, output: { total: 42.5, currency: 'EUR', lines: 3 } } : {}),
  };
  return JSON.stringify({ run, rev: final ? 3 : 2, owner: `owner-${i % OWNERS}`, trackedAtMs: updatedAtMs - 3000, ...(final ? {} : { startedHere: true }), updatedAtMs });
}

/** A SQLite file at `path` (replaced if present) holding `count` runs of `kind`. */
export async function seedSqlite(path, count, kind, updatedAtMs = Date.now()) {
  rmSync(path, { force: true });
  rmSync(`${path}-wal`, { force: true });
  rmSync(`${path}-shm`, { force: true });
  mkdirSync(dirname(path), { recursive: true });
  const { SqliteRunStore } = await fromDist('store/sqlite-run-store.js');
  await SqliteRunStore.open(path).close();
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const insert = db.prepare(
      'INSERT INTO runs (ordinal, id, flow_id, status, owner, rev, final, updated_at_ms, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    db.transaction(() => {
      for (let i = 1; i <= count; i++) {
        const st = status(kind, i);
        const final = st !== 'running';
        insert.run(i, `exec_seed_${i}`, `flow-${i % FLOWS}`, st, `owner-${i % OWNERS}`, final ? 3 : 2, final ? 1 : 0, updatedAtMs, recordJson(kind, i, updatedAtMs));
      }
    })();
    db.exec('ANALYZE');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

async function adminQuery(adminUrl, sql) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A PostgreSQL database of its own on the server of `adminUrl`, migrated, holding `count` runs
 * of `kind`. Returns its URL and a drop().
 */
export async function seedPostgres(adminUrl, count, kind, updatedAtMs = Date.now()) {
  const name = `rungate_scale_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const drop = () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  try {
    const [{ default: pg }, { migrate }] = await Promise.all([import('pg'), fromDist('postgres/postgres-schema.js')]);
    // A plain pool: the gateway's sets a statement timeout that a million-row insert outlasts.
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    try {
      await migrate(pool);
      const unfinished = kind === 'unfinished';
      const statusSql = unfinished ? `'running'` : `CASE WHEN g % 100 = 0 THEN 'failed' ELSE 'success' END`;
      const created = new Date(updatedAtMs - 3000).toISOString();
      const completed = new Date(updatedAtMs).toISOString();
      const runFields = unfinished
        ? `'"seq":2,"source":"request","createdAt":"${created}"}'`
        : `'"seq":3,"source":"webhook","createdAt":"${created}","completedAt":"${completed}","duration":3000,"output":{"total":42.5,"currency":"EUR","lines":3}}'`;
      // Ordinals come from the identity column, in generate_series order (1..count).
      await pool.query(`
        INSERT INTO rungate_runs (id, flow_id, status, owner, final, stale, rev, updated_at_ms, record)
        SELECT 'exec_seed_' || g, 'flow-' || (g % ${FLOWS}), s.status, 'owner-' || (g % ${OWNERS}), ${!unfinished}, false, ${unfinished ? 2 : 3}, ${updatedAtMs},
               '{"run":{"id":"exec_seed_' || g || '","flowId":"flow-' || (g % ${FLOWS}) || '","status":"' || s.status || '",' || ${runFields}
               || ',"rev":${unfinished ? 2 : 3},"owner":"owner-' || (g % ${OWNERS}) || '","trackedAtMs":${updatedAtMs - 3000},${unfinished ? '"startedHere":true,' : ''}"updatedAtMs":${updatedAtMs}}'
          FROM generate_series(1, ${count}) g CROSS JOIN LATERAL (SELECT ${statusSql} AS status) s
         ORDER BY g`);
      await pool.query('ANALYZE rungate_runs');
    } finally {
      await pool.end();
    }
  } catch (error) {
    await drop();
    throw error;
  }
  return { url: url.toString(), drop };
}
