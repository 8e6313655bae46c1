import type pg from 'pg';
import { inTransaction } from './postgres-connection.js';

/**
 * The schema, as migrations applied in order; migration N (1-based) leads to schema version N.
 * Every table and function is prefixed `rungate_`, so rungate can share a database (and a schema)
 * with an application; they live in the first schema of the connection's `search_path`.
 * New state (a run timeline, a relay outbox, shared limits) is a new migration appended here,
 * never an edit of one that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: runs, the change log the bus delivers from, the poll schedule, and the store's epoch.
  `
  -- One row per deployment's database: 'epoch' is drawn when the schema is created, so a database
  -- that was dropped and created again (or restored from nothing) is told apart from the one an
  -- instance knew, the way a vanished marker key tells a Redis reset.
  CREATE TABLE rungate_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
  );
  INSERT INTO rungate_meta (key, value) VALUES
    ('epoch', gen_random_uuid()::text),
    ('changes_pruned_through', '0');

  -- ordinal: the insertion order (list is newest first, its cursor is the last ordinal shown).
  -- record: the RunRecord as JSON text (text, not jsonb: stored as given, no re-parse on write).
  CREATE TABLE rungate_runs (
    ordinal       bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            text    NOT NULL UNIQUE,
    flow_id       text    NOT NULL,
    status        text    NOT NULL,
    owner         text,
    final         boolean NOT NULL,
    stale         boolean NOT NULL,
    rev           integer NOT NULL,
    updated_at_ms bigint  NOT NULL,
    record        text    NOT NULL
  );
  -- The list route filters by any of flow, status and owner (owner: every caller without admin
  -- when auth is on) and pages newest first. One index per combination, each ending in ordinal,
  -- so every page is one backward index range scan of limit + 1 entries however many rows the
  -- table holds and however rare the filtered value is (no scan-and-filter past non-matching rows).
  CREATE INDEX rungate_runs_by_flow ON rungate_runs (flow_id, ordinal);
  CREATE INDEX rungate_runs_by_status ON rungate_runs (status, ordinal);
  CREATE INDEX rungate_runs_by_flow_status ON rungate_runs (flow_id, status, ordinal);
  CREATE INDEX rungate_runs_by_owner ON rungate_runs (owner, ordinal) WHERE owner IS NOT NULL;
  CREATE INDEX rungate_runs_by_owner_flow ON rungate_runs (owner, flow_id, ordinal) WHERE owner IS NOT NULL;
  CREATE INDEX rungate_runs_by_owner_status ON rungate_runs (owner, status, ordinal) WHERE owner IS NOT NULL;
  CREATE INDEX rungate_runs_by_owner_flow_status ON rungate_runs (owner, flow_id, status, ordinal) WHERE owner IS NOT NULL;
  -- Unfinished runs are few next to finished ones: counted and listed from a small partial index.
  CREATE INDEX rungate_runs_unfinished ON rungate_runs (status, stale) WHERE NOT final;
  -- Pruning walks finished runs oldest write first.
  CREATE INDEX rungate_runs_finished_by_age ON rungate_runs (updated_at_ms) WHERE final;

  -- Every accepted change, in one order: what LISTEN/NOTIFY announces by id (a NOTIFY payload
  -- carries at most 8000 bytes, a run's output can be megabytes) and what a listener that was
  -- away catches up from. Pruned by age; (run_id, rev, updated_at_ms) makes logging idempotent.
  CREATE TABLE rungate_changes (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        text        NOT NULL,
    rev           integer     NOT NULL,
    updated_at_ms bigint      NOT NULL,
    record        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE UNIQUE INDEX rungate_changes_once ON rungate_changes (run_id, rev, updated_at_ms);
  CREATE INDEX rungate_changes_by_age ON rungate_changes (created_at);

  -- Appends one change and announces its id. Ids come from a sequence, which hands them out in
  -- call order, not commit order: without the lock a reader could see id 11 committed, move its
  -- mark past it, and never see id 10 committing a moment later. The transaction-scoped lock,
  -- taken before the id is drawn and held until commit, makes commit order equal id order
  -- (NOTIFY serialises committing transactions anyway, so this costs little more). Returns the
  -- new id, or NULL when that exact change was logged before.
  CREATE FUNCTION rungate_log_change(p_run_id text, p_rev integer, p_updated_at_ms bigint, p_record text)
  RETURNS bigint LANGUAGE plpgsql AS $$
  DECLARE
    change_id bigint;
  BEGIN
    -- A change published after the store logged it (the usual case) costs no lock.
    IF EXISTS (SELECT 1 FROM rungate_changes WHERE run_id = p_run_id AND rev = p_rev AND updated_at_ms = p_updated_at_ms) THEN
      RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('rungate:changes:' || current_schema()));
    INSERT INTO rungate_changes (run_id, rev, updated_at_ms, record)
    VALUES (p_run_id, p_rev, p_updated_at_ms, p_record)
    ON CONFLICT (run_id, rev, updated_at_ms) DO NOTHING
    RETURNING id INTO change_id;
    IF change_id IS NOT NULL THEN
      PERFORM pg_notify('rungate_changes:' || current_schema(), change_id::text);
    END IF;
    RETURN change_id;
  END $$;

  -- Compare-and-set of a batch of runs, one transaction for all (group commit: one disk flush
  -- and one change-log lock for the batch). Each item writes only when the stored rev is the
  -- expected one (0 = the run must not exist), in the order given, so two items of one run
  -- behave as two writes in a row. Every accepted write is logged in the same transaction, so a
  -- change that is stored is also announced, whatever happens to the writer or the database
  -- right after. Rows are locked first and the change log's lock is taken after the last of them
  -- (callers sort a batch by run id), so batches from several instances cannot deadlock.
  CREATE FUNCTION rungate_put_runs(
    p_expected_rev integer[], p_id text[], p_flow_id text[], p_status text[], p_owner text[],
    p_final boolean[], p_stale boolean[], p_rev integer[], p_updated_at_ms bigint[], p_record text[])
  RETURNS boolean[] LANGUAGE plpgsql AS $$
  DECLARE
    written boolean[] := '{}';
  BEGIN
    FOR i IN 1 .. coalesce(array_length(p_id, 1), 0) LOOP
      IF p_expected_rev[i] = 0 THEN
        INSERT INTO rungate_runs (id, flow_id, status, owner, final, stale, rev, updated_at_ms, record)
        VALUES (p_id[i], p_flow_id[i], p_status[i], p_owner[i], p_final[i], p_stale[i], p_rev[i], p_updated_at_ms[i], p_record[i])
        ON CONFLICT (id) DO NOTHING;
      ELSE
        UPDATE rungate_runs
           SET status = p_status[i], owner = p_owner[i], final = p_final[i], stale = p_stale[i],
               rev = p_rev[i], updated_at_ms = p_updated_at_ms[i], record = p_record[i]
         WHERE id = p_id[i] AND rev = p_expected_rev[i];
      END IF;
      written := written || FOUND;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(p_id, 1), 0) LOOP
      IF written[i] THEN
        PERFORM rungate_log_change(p_id[i], p_rev[i], p_updated_at_ms[i], p_record[i]);
      END IF;
    END LOOP;
    RETURN written;
  END $$;

  -- Due polls; a taken one is moved to the end of its lease (see PostgresPollSchedule).
  CREATE TABLE rungate_polls (
    run_id    text   PRIMARY KEY,
    due_at_ms bigint NOT NULL
  );
  CREATE INDEX rungate_polls_by_due ON rungate_polls (due_at_ms, run_id);
  `,
  // 2: the gateway's own limits, shared by every instance (see PostgresLimitStore).
  `
  -- The database's clock in ms, so instances with skewed clocks agree on windows and refills.
  CREATE FUNCTION rungate_now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS
    $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

  -- UNLOGGED: limits are guards, not records. Their writes skip the WAL, so a commit that only
  -- touched them does not wait for a disk flush (REST requests would, on every hit); the price
  -- is that a crashed server comes back with them empty, which only forgives some requests.
  CREATE UNLOGGED TABLE rungate_limit_windows (
    key         text    PRIMARY KEY,
    hits        integer NOT NULL,
    reset_at_ms bigint  NOT NULL
  );
  CREATE INDEX rungate_limit_windows_by_reset ON rungate_limit_windows (reset_at_ms);
  CREATE UNLOGGED TABLE rungate_limit_buckets (
    key           text             PRIMARY KEY,
    tokens        double precision NOT NULL,
    updated_at_ms bigint           NOT NULL,
    full_at_ms    bigint           NOT NULL
  );
  CREATE INDEX rungate_limit_buckets_by_full ON rungate_limit_buckets (full_at_ms);

  -- One hit on a fixed window that starts at the key's first hit; one statement, so concurrent
  -- hits from every instance are all counted.
  CREATE FUNCTION rungate_limit_hit(p_key text, p_window_ms bigint, OUT out_hits integer, OUT out_reset_at_ms bigint)
  LANGUAGE plpgsql AS $$
  DECLARE
    now_ms bigint := rungate_now_ms();
  BEGIN
    INSERT INTO rungate_limit_windows AS w (key, hits, reset_at_ms) VALUES (p_key, 1, now_ms + p_window_ms)
    ON CONFLICT (key) DO UPDATE SET
      hits = CASE WHEN w.reset_at_ms <= now_ms THEN 1 ELSE w.hits + 1 END,
      reset_at_ms = CASE WHEN w.reset_at_ms <= now_ms THEN now_ms + p_window_ms ELSE w.reset_at_ms END
    RETURNING w.hits, w.reset_at_ms INTO out_hits, out_reset_at_ms;
  END $$;

  -- Takes a token if there is one; a missing bucket is full. A refused take writes nothing: the
  -- refill is computed from the last taken token either way.
  CREATE FUNCTION rungate_limit_take(p_key text, p_capacity double precision, p_period_ms bigint)
  RETURNS boolean LANGUAGE plpgsql AS $$
  DECLARE
    now_ms bigint := rungate_now_ms();
    taken boolean;
  BEGIN
    IF p_capacity < 1 THEN
      RETURN false;
    END IF;
    INSERT INTO rungate_limit_buckets AS b (key, tokens, updated_at_ms, full_at_ms)
    VALUES (p_key, p_capacity - 1, now_ms, now_ms + ceil(p_period_ms / p_capacity)::bigint)
    ON CONFLICT (key) DO UPDATE SET
      tokens = least(p_capacity, b.tokens + greatest(0, now_ms - b.updated_at_ms) * p_capacity / p_period_ms) - 1,
      updated_at_ms = now_ms,
      full_at_ms = now_ms + ceil((p_capacity - (least(p_capacity, b.tokens + greatest(0, now_ms - b.updated_at_ms) * p_capacity / p_period_ms) - 1)) * p_period_ms / p_capacity)::bigint
    WHERE least(p_capacity, b.tokens + greatest(0, now_ms - b.updated_at_ms) * p_capacity / p_period_ms) >= 1
    RETURNING true INTO taken;
    RETURN coalesce(taken, false);
  END $$;
  `,
  // 3: the relay outbox's index (contract section 8).
  `
  -- When a run's pending delivery is due (its lease's end while one is held); NULL: none pending.
  -- Written by the same statement as the record, so a final state and its delivery commit together.
  ALTER TABLE rungate_runs ADD COLUMN relay_due_ms bigint;
  CREATE INDEX rungate_runs_relay_due ON rungate_runs (relay_due_ms) WHERE relay_due_ms IS NOT NULL;

  -- rungate_put_runs with the due times of the batch's deliveries; the version without them is
  -- dropped, so an instance of an older build fails loudly instead of losing the index.
  DROP FUNCTION rungate_put_runs(integer[], text[], text[], text[], text[], boolean[], boolean[], integer[], bigint[], text[]);
  CREATE FUNCTION rungate_put_runs(
    p_expected_rev integer[], p_id text[], p_flow_id text[], p_status text[], p_owner text[],
    p_final boolean[], p_stale boolean[], p_rev integer[], p_updated_at_ms bigint[], p_record text[],
    p_relay_due_ms bigint[])
  RETURNS boolean[] LANGUAGE plpgsql AS $$
  DECLARE
    written boolean[] := '{}';
  BEGIN
    FOR i IN 1 .. coalesce(array_length(p_id, 1), 0) LOOP
      IF p_expected_rev[i] = 0 THEN
        INSERT INTO rungate_runs (id, flow_id, status, owner, final, stale, rev, updated_at_ms, record, relay_due_ms)
        VALUES (p_id[i], p_flow_id[i], p_status[i], p_owner[i], p_final[i], p_stale[i], p_rev[i], p_updated_at_ms[i], p_record[i], p_relay_due_ms[i])
        ON CONFLICT (id) DO NOTHING;
      ELSE
        UPDATE rungate_runs
           SET status = p_status[i], owner = p_owner[i], final = p_final[i], stale = p_stale[i],
               rev = p_rev[i], updated_at_ms = p_updated_at_ms[i], record = p_record[i], relay_due_ms = p_relay_due_ms[i]
         WHERE id = p_id[i] AND rev = p_expected_rev[i];
      END IF;
      written := written || FOUND;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(p_id, 1), 0) LOOP
      IF written[i] THEN
        PERFORM rungate_log_change(p_id[i], p_rev[i], p_updated_at_ms[i], p_record[i]);
      END IF;
    END LOOP;
    RETURN written;
  END $$;
  `,
];

/** The schema version this build of rungate knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema up to SCHEMA_VERSION: every missing migration in one transaction, under an
 * advisory lock, so instances starting together apply each exactly once (the second waits, then
 * finds nothing to do) and a failed migration leaves the previous version intact. Refuses a
 * schema newer than this build. Returns the versions before and after.
 */
export async function migrate(pool: pg.Pool): Promise<{ from: number; to: number }> {
  return inTransaction(pool, async (client) => {
    const schema = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
    if (!schema.rows[0]?.schema) throw new Error('the search_path names no schema that exists; create it first');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('rungate:migrate:' || current_schema()))");
    await client.query(
      'CREATE TABLE IF NOT EXISTS rungate_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const current = await client.query<{ version: number }>('SELECT coalesce(max(version), 0)::int AS version FROM rungate_schema_migrations');
    const from = current.rows[0]?.version ?? 0;
    if (from > SCHEMA_VERSION) {
      throw new Error(`database schema version ${from} is newer than this rungate knows (${SCHEMA_VERSION})`);
    }
    for (let version = from; version < SCHEMA_VERSION; version++) {
      await client.query(MIGRATIONS[version]!);
      await client.query('INSERT INTO rungate_schema_migrations (version) VALUES ($1)', [version + 1]);
    }
    return { from, to: SCHEMA_VERSION };
  });
}

/** The database's epoch (see rungate_meta): it changes only when the schema is created anew. */
export async function readEpoch(queryable: Pick<pg.Pool, 'query'>): Promise<string> {
  const { rows } = await queryable.query<{ value: string }>("SELECT value FROM rungate_meta WHERE key = 'epoch'");
  const epoch = rows[0]?.value;
  if (epoch === undefined) throw new Error('rungate_meta has no epoch: the schema is incomplete');
  return epoch;
}

/** The NOTIFY channel the change log announces on (channels are per database, so the schema is in it). */
export async function changeChannel(queryable: Pick<pg.Pool, 'query'>): Promise<string> {
  const { rows } = await queryable.query<{ channel: string }>("SELECT 'rungate_changes:' || current_schema() AS channel");
  return rows[0]!.channel;
}
