import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { isFinal } from '../runs/run.js';
import { decodeCursor, encodeCursor, type UnfinishedCounts, type UnfinishedRun, type RunListPage, type RunListQuery, type RunStore } from './run-store.js';
import { InvalidCursorError } from '../errors.js';
import type { RunRecord } from '../runs/run-record.js';
import { deliveryDueAtMs } from '../runs/delivery.js';
import { TimeBudgetedBatch } from '../util/time-budgeted-batch.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';

/** Schema migrations, applied in order; the index + 1 is the schema version they lead to. */
const MIGRATIONS: string[] = [
  `CREATE TABLE runs (
     ordinal       INTEGER PRIMARY KEY AUTOINCREMENT,
     id            TEXT    NOT NULL UNIQUE,
     flow_id       TEXT    NOT NULL,
     status        TEXT    NOT NULL,
     owner         TEXT,
     rev           INTEGER NOT NULL,
     final         INTEGER NOT NULL,
     updated_at_ms INTEGER NOT NULL,
     record        TEXT    NOT NULL
   );
   CREATE INDEX runs_unfinished ON runs (final) WHERE final = 0;
   CREATE INDEX runs_by_flow ON runs (flow_id, ordinal);
   CREATE INDEX runs_by_owner ON runs (owner, ordinal);
   CREATE INDEX runs_by_age ON runs (final, updated_at_ms);`,
  // 2: every filter combination of the list route on an index ending in ordinal (as in
  // PostgreSQL), so a page is one backward range scan of limit + 1 entries however rare the
  // value: without them a status filter walked the whole table past non-matching rows (seconds
  // at 1M runs). The owner ones are partial: runs started without auth cost them nothing.
  `CREATE INDEX runs_by_status ON runs (status, ordinal);
   CREATE INDEX runs_by_flow_status ON runs (flow_id, status, ordinal);
   CREATE INDEX runs_by_owner_flow ON runs (owner, flow_id, ordinal) WHERE owner IS NOT NULL;
   CREATE INDEX runs_by_owner_status ON runs (owner, status, ordinal) WHERE owner IS NOT NULL;
   CREATE INDEX runs_by_owner_flow_status ON runs (owner, flow_id, status, ordinal) WHERE owner IS NOT NULL;`,
  // 3: the relay outbox's index: when a run's pending delivery is due (NULL: none pending).
  `ALTER TABLE runs ADD COLUMN relay_due_ms INTEGER;
   CREATE INDEX runs_relay_due ON runs (relay_due_ms) WHERE relay_due_ms IS NOT NULL;`,
];

/**
 * How long one pruning statement may hold the event loop unless told otherwise. A fixed count
 * did not bound it: 250 rows (each in about ten indexes) took 45 ms at 100k stored runs and over
 * 300 ms at 1M on a loaded machine, as each row's index pages were further apart.
 */
const DEFAULT_PRUNE_BUDGET_MS = 20;
/** The most finished runs one pruning statement deletes unless told otherwise. */
const DEFAULT_PRUNE_BATCH = 5000;
/** The first pruning statement's size, before anything is known of what a row costs. */
const FIRST_PRUNE_BATCH = 50;

export interface SqliteRunStoreOptions {
  /**
   * The most finished runs one pruning statement deletes; the event loop runs between
   * statements, so a backlog of a million costs many short pauses instead of one of seconds.
   */
  pruneBatch?: number;
  /** How long one pruning statement should take: its size follows what the last ones cost. */
  pruneBudgetMs?: number;
  /**
   * Checkpoint from a worker thread (sqlite-checkpointer.ts) rather than inside commits; on by
   * default for a database file. Off: SQLite's automatic checkpoint, every 1,000 WAL pages.
   */
  backgroundCheckpoint?: boolean;
  /** With the worker: the WAL length (pages) at which the writing connection restarts it (WAL_RESTART_FRAMES). */
  walRestartPages?: number;
}

/**
 * The WAL starts over only when a commit finds it wholly checkpointed, which the worker's
 * checkpoints, overlapping commits, rarely leave it. So once it is this long (pages: 64 MB) and
 * the worker has just caught up, the writing connection checkpoints the few pages written since
 * itself and its next commit starts the log over: a pause of a millisecond or two every few
 * seconds at a thousand writes a second, where SQLite's own checkpoint cost 5–15 ms every
 * 1,000 pages (a tenth of a second at that rate: each write touches a page in a dozen indexes).
 */
const WAL_RESTART_FRAMES = 16384;
/** The longest a bulk delete waits for the WAL to start over before it goes on anyway. */
const WAL_RESTART_PAUSE_MS = 1000;
/** SQLite's own automatic checkpoint threshold, put back if the worker fails. */
const AUTO_CHECKPOINT_FRAMES = 1000;

interface Row {
  ordinal: number;
  record: string;
}

interface WriteParams {
  id: string;
  flowId: string;
  status: string;
  owner: string | null;
  rev: number;
  final: number;
  updatedAtMs: number;
  relayDueMs: number | null;
  record: string;
  expectedRev: number;
}

interface PendingWrite {
  params: WriteParams;
  resolve: (written: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * The embedded default: one SQLite file in WAL mode. A write is in the file (the OS has it) when
 * its promise resolves, so killing the process loses nothing that was answered; synchronous=NORMAL
 * trades only power-loss durability of the last commits for write speed.
 */
export class SqliteRunStore implements RunStore {
  readonly kind = 'sqlite' as const;
  private readonly listStatements = new Map<string, Database.Statement>();
  private readonly statements;
  private readonly writeBatch: (batch: WriteParams[]) => boolean[];
  /** Writes waiting for the next group commit. */
  private pending: PendingWrite[] = [];

  private readonly pruneBatch: number;
  private readonly pruneBudgetMs: number;
  private checkpointer: SqliteCheckpointer | undefined;
  /** The WAL is past its restart length: a bulk delete pauses until it has started over. */
  private walRestartWanted = false;
  /** Whether a bulk delete is writing now (not paused for the WAL's restart). */
  private bulkWriting = false;
  /** Wakes a bulk delete paused for the WAL's restart. */
  private resumeBulk: (() => void) | undefined;
  /** The prune under way: one at a time, so that one pause and one `bulkWriting` describe it. */
  private pruning: Promise<number> | undefined;

  private constructor(
    private readonly db: Database.Database,
    options: SqliteRunStoreOptions,
    path: string,
  ) {
    this.pruneBatch = Math.max(1, options.pruneBatch ?? DEFAULT_PRUNE_BATCH);
    this.pruneBudgetMs = Math.max(1, options.pruneBudgetMs ?? DEFAULT_PRUNE_BUDGET_MS);
    this.statements = {
      get: db.prepare<[string], { record: string }>('SELECT record FROM runs WHERE id = ?'),
      insert: db.prepare(
        `INSERT OR IGNORE INTO runs (id, flow_id, status, owner, rev, final, updated_at_ms, relay_due_ms, record)
         VALUES (@id, @flowId, @status, @owner, @rev, @final, @updatedAtMs, @relayDueMs, @record)`,
      ),
      update: db.prepare(
        `UPDATE runs SET status = @status, owner = @owner, rev = @rev, final = @final, updated_at_ms = @updatedAtMs,
                         relay_due_ms = @relayDueMs, record = @record
         WHERE id = @id AND rev = @expectedRev`,
      ),
      unfinished: db.prepare<[], { record: string }>('SELECT record FROM runs WHERE final = 0'),
      // Keyset on the partial index of unfinished runs (its entries are in ordinal order), named
      // so that the planner does not walk the primary key past a million finished runs instead.
      unfinishedAfter: db.prepare<[number, number], { ordinal: number; id: string; stale: number | null }>(
        `SELECT ordinal, id, json_extract(record, '$.run.stale') AS stale FROM runs INDEXED BY runs_unfinished
         WHERE final = 0 AND ordinal > ? ORDER BY ordinal LIMIT ?`,
      ),
      countUnfinished: db.prepare<[], { status: string; stale: number | null; n: number }>(
        "SELECT status, json_extract(record, '$.run.stale') AS stale, count(*) AS n FROM runs WHERE final = 0 GROUP BY 1, 2",
      ),
      // The age index named: with every row finished the planner may prefer to sort the table.
      prune: db.prepare<[number, number]>(
        `DELETE FROM runs WHERE ordinal IN (
           SELECT ordinal FROM runs INDEXED BY runs_by_age WHERE final = 1 AND updated_at_ms < ? AND relay_due_ms IS NULL ORDER BY updated_at_ms LIMIT ?)`,
      ),
      dueDeliveries: db.prepare<[number, number], { id: string }>(
        'SELECT id FROM runs WHERE relay_due_ms IS NOT NULL AND relay_due_ms <= ? ORDER BY relay_due_ms LIMIT ?',
      ),
      pendingDeliveries: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM runs WHERE relay_due_ms IS NOT NULL'),
      ping: db.prepare('SELECT 1'),
    };
    this.writeBatch = db.transaction((batch: WriteParams[]) => batch.map((params) => this.writeOne(params)));
    if (path !== ':memory:' && options.backgroundCheckpoint !== false) this.checkpointInBackground(path, options.walRestartPages ?? WAL_RESTART_FRAMES);
  }

  private checkpointInBackground(path: string, restartPages: number): void {
    this.db.pragma('wal_autocheckpoint = 0');
    this.checkpointer = new SqliteCheckpointer(path, {
      onCheckpoint: (walFrames, checkpointed) => {
        if (walFrames < restartPages) return this.walRestarted();
        this.walRestartWanted = true;
        // A bulk delete writes thousands of pages a statement: what it wrote since the worker's
        // checkpoint began would make this one long. It pauses first (pruneFinished), and the
        // next checkpoint, begun after it paused, leaves only the webhooks' few pages.
        if (checkpointed !== walFrames || this.bulkWriting || !this.db.open) return;
        try {
          const [result] = this.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number }[];
          // Busy (the worker's next checkpoint): the log restarts after a later one.
          if (result?.busy) return;
        } catch {
          return;
        }
        this.walRestarted();
      },
      onFailure: () => {
        // Without the worker nothing would ever shorten the WAL: SQLite's own checkpoints again.
        this.checkpointer = undefined;
        this.walRestarted();
        try {
          if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_FRAMES}`);
        } catch {
          // Closing meanwhile: close() checkpoints what is left.
        }
      },
    });
  }

  /** The log was (or is about to be) started over, or nothing will restart it: bulk deletes go on. */
  private walRestarted(): void {
    this.walRestartWanted = false;
    const resume = this.resumeBulk;
    this.resumeBulk = undefined;
    resume?.();
  }

  /** Opens (creating folder and file if missing) and migrates the database at `path`. */
  static open(path: string, options: SqliteRunStoreOptions = {}): SqliteRunStore {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return new SqliteRunStore(db, options, path);
  }

  get(id: string): Promise<RunRecord | undefined> {
    const row = this.statements.get.get(id);
    return Promise.resolve(row ? (JSON.parse(row.record) as RunRecord) : undefined);
  }

  /**
   * Group commit: writes that arrive in the same turn of the event loop (concurrent webhooks)
   * are queued and committed together in one transaction at setImmediate, and each promise
   * resolves only after that commit — one commit per batch instead of one per write, with the
   * same durability. Within a batch statements run in arrival order, so two writes of one run
   * still race correctly: the second sees the first's rev and reports a lost compare-and-set.
   */
  compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean> {
    const params: WriteParams = {
      id: next.run.id,
      flowId: next.run.flowId,
      status: next.run.status,
      owner: next.owner ?? null,
      rev: next.rev,
      final: isFinal(next.run.status) ? 1 : 0,
      updatedAtMs: next.updatedAtMs,
      relayDueMs: deliveryDueAtMs(next.delivery) ?? null,
      record: JSON.stringify(next),
      expectedRev,
    };
    return new Promise((resolve, reject) => {
      this.pending.push({ params, resolve, reject });
      if (this.pending.length === 1) setImmediate(this.flushPending);
    });
  }

  private readonly flushPending = (): void => {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    if (!this.db.open) {
      for (const write of batch) write.reject(new Error('store is closed'));
      return;
    }
    let results: boolean[];
    try {
      results = this.writeBatch(batch.map((write) => write.params));
    } catch {
      // One bad write must not fail its neighbours: retry each in a transaction of its own.
      for (const write of batch) {
        try {
          write.resolve(this.writeBatch([write.params])[0] ?? false);
        } catch (error) {
          write.reject(error);
        }
      }
      return;
    }
    for (const [index, write] of batch.entries()) write.resolve(results[index] ?? false);
  };

  private writeOne(params: WriteParams): boolean {
    const result = params.expectedRev === 0 ? this.statements.insert.run(params) : this.statements.update.run(params);
    return result.changes === 1;
  }

  list(query: RunListQuery): Promise<RunListPage> {
    let before = Number.MAX_SAFE_INTEGER;
    try {
      if (query.cursor !== undefined) before = decodeCursor(query.cursor);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new InvalidCursorError());
    }
    const text = listSql(query);
    let statement = this.listStatements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.listStatements.set(text, statement);
    }
    const rows = statement.all({
      before,
      limit: query.limit + 1,
      flowId: query.flowId,
      status: query.status,
      owner: query.owner,
    }) as Row[];
    const page = rows.slice(0, query.limit);
    const records = page.map((row) => JSON.parse(row.record) as RunRecord);
    const last = page[page.length - 1];
    return Promise.resolve(
      rows.length > query.limit && last ? { records, nextCursor: encodeCursor(last.ordinal) } : { records },
    );
  }

  listUnfinished(): Promise<RunRecord[]> {
    return Promise.resolve(this.statements.unfinished.all().map((row) => JSON.parse(row.record) as RunRecord));
  }

  async *unfinishedBatches(batchSize: number): AsyncIterable<UnfinishedRun[]> {
    let after = 0;
    for (let first = true; ; first = false) {
      // Reads are synchronous here: the loop runs between them even if the reader never waits.
      if (!first) await nextTurn();
      if (!this.db.open) return;
      const rows = this.statements.unfinishedAfter.all(after, batchSize);
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.ordinal;
      yield rows.map((row) => ({ id: row.id, stale: row.stale === 1 }));
      if (rows.length < batchSize) return;
    }
  }

  countUnfinished(): Promise<UnfinishedCounts> {
    const counts: UnfinishedCounts = { queued: 0, running: 0, stale: 0 };
    for (const { status, stale, n } of this.statements.countUnfinished.all()) {
      if (stale) counts.stale += n;
      else if (status === 'queued' || status === 'running') counts[status] += n;
    }
    return Promise.resolve(counts);
  }

  listDueDeliveries(nowMs: number, limit: number): Promise<string[]> {
    return Promise.resolve(this.statements.dueDeliveries.all(nowMs, limit).map((row) => row.id));
  }

  countPendingDeliveries(): Promise<number> {
    return Promise.resolve(this.statements.pendingDeliveries.get()?.n ?? 0);
  }

  /**
   * Deletes in statements of at most `pruneBatch` rows, oldest first, each sized to take about
   * `pruneBudgetMs` (TimeBudgetedBatch), and lets the event loop run between them (setImmediate):
   * webhooks and pushes go on while a large backlog is pruned.
   */
  pruneFinished(beforeMs: number): Promise<number> {
    // After the one under way, whether it pruned or failed (its caller has its error).
    const previous = this.pruning?.catch(() => 0) ?? Promise.resolve(0);
    const next = previous.then(() => this.pruneInBatches(beforeMs));
    this.pruning = next;
    void next.finally(() => {
      if (this.pruning === next) this.pruning = undefined;
    }).catch(() => undefined);
    return next;
  }

  private async pruneInBatches(beforeMs: number): Promise<number> {
    const batch = new TimeBudgetedBatch({ budgetMs: this.pruneBudgetMs, initial: FIRST_PRUNE_BATCH, max: this.pruneBatch });
    let removed = 0;
    try {
      for (;;) {
        if (!this.db.open) return removed;
        if (this.walRestartWanted && this.checkpointer) await this.pauseForWalRestart();
        this.bulkWriting = true;
        const size = batch.size;
        const started = performance.now();
        const count = this.statements.prune.run(beforeMs, size).changes;
        batch.record(performance.now() - started);
        removed += count;
        if (count < size) return removed;
        await nextTurn();
      }
    } finally {
      this.bulkWriting = false;
    }
  }

  /** Stops deleting until the WAL has started over (at most a few checkpoints, or a second). */
  private pauseForWalRestart(): Promise<void> {
    this.bulkWriting = false;
    return new Promise((done) => {
      const resume = () => {
        clearTimeout(timer);
        if (this.resumeBulk === resume) this.resumeBulk = undefined;
        done();
      };
      const timer = setTimeout(resume, WAL_RESTART_PAUSE_MS);
      this.resumeBulk = resume;
    });
  }

  ping(): Promise<void> {
    this.statements.ping.get();
    return Promise.resolve();
  }

  async close(): Promise<void> {
    // Writes already queued are committed, not dropped: their callers were promised durability.
    this.flushPending();
    const checkpointer = this.checkpointer;
    this.checkpointer = undefined;
    this.walRestarted();
    await checkpointer?.stop();
    this.flushPending();
    if (this.db.open) {
      // Fold the WAL back into the main file so a copied database file is complete.
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.close();
    }
  }
}

/**
 * The list statement for the filters a query sets (named parameters @before, @limit and each
 * filter). A caller's list walks an index of the caller's own runs (the one that also holds the
 * other filters): with statistics (ANALYZE) the planner could otherwise prefer another owner's
 * flow index and walk that whole flow for an empty page — work, and a timing leak of the flow's
 * size, that the caller's own runs do not bound.
 */
export function listSql(query: Pick<RunListQuery, 'flowId' | 'status' | 'owner'>): string {
  const where = ['ordinal < @before'];
  if (query.flowId !== undefined) where.push('flow_id = @flowId');
  if (query.status !== undefined) where.push('status = @status');
  if (query.owner !== undefined) where.push('owner = @owner');
  const from = query.owner !== undefined ? `runs INDEXED BY ${ownerIndex(query)}` : 'runs';
  return `SELECT ordinal, record FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ordinal DESC LIMIT @limit`;
}

/** The index of an owner's runs that covers the query's other filters too. */
function ownerIndex(query: Pick<RunListQuery, 'flowId' | 'status'>): string {
  if (query.flowId !== undefined) return query.status !== undefined ? 'runs_by_owner_flow_status' : 'runs_by_owner_flow';
  return query.status !== undefined ? 'runs_by_owner_status' : 'runs_by_owner';
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare<[], { version: number }>('SELECT version FROM schema_version').get();
  const current = row?.version ?? 0;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this rungate knows (${MIGRATIONS.length})`);
  }
  const apply = db.transaction(() => {
    for (let version = current; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version]!);
    db.prepare('DELETE FROM schema_version').run();
    db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
  });
  if (current < MIGRATIONS.length) apply();
}
