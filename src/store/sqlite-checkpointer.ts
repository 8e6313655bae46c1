import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface SqliteCheckpointerOptions {
  /** How often the worker folds the WAL back into the database file. */
  intervalMs?: number;
  /** After each checkpoint: the WAL's length in frames (pages), and how many are in the database file. */
  onCheckpoint?: (walFrames: number, checkpointed: number) => void;
  /** The worker failed or stopped on its own: the caller checkpoints again itself. */
  onFailure?: (message: string) => void;
}

/** Often enough that the WAL stays a few MB at thousands of writes a second. */
const DEFAULT_INTERVAL_MS = 100;

/**
 * The worker's whole program, run from a string so that it needs no file of its own next to the
 * compiled (or, in tests, the TypeScript) store. Its connection only checkpoints: PASSIVE copies
 * what the WAL holds into the database file and syncs it without taking the write lock, so the
 * gateway's writes go on meanwhile. SQLite's WAL notes name this: turn off automatic
 * checkpoints and run them from a separate thread.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const checkpoint = () => {
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    if (result && result.log >= 0) parentPort.postMessage({ walFrames: result.log, checkpointed: result.checkpointed });
  } catch (error) {
    // SQLITE_BUSY now and then (another checkpoint, a reset): the next tick tries again.
    const code = String(error.code ?? '');
    if (!code.startsWith('SQLITE_BUSY') && !code.startsWith('SQLITE_LOCKED')) parentPort.postMessage({ error: String(error.message) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints a WAL-mode SQLite database from a worker thread. SQLite's automatic checkpoint
 * runs inside whichever commit crosses 1,000 WAL pages, and better-sqlite3 commits on the event
 * loop: every few thousand writes one commit copied 4 MB into the database file and fsynced it,
 * a pause of 5–10 ms that lands on a push or a webhook answer (and longer with a large file).
 * With the checkpointer, the connection that writes has its automatic checkpoints off and never
 * syncs the database file; commits only append to the WAL.
 */
export class SqliteCheckpointer {
  private readonly worker: Worker;
  private stopped: Promise<void> | undefined;

  constructor(path: string, options: SqliteCheckpointerOptions = {}) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS } });
    let failed = false;
    const fail = (message: string) => {
      if (failed || this.stopped) return;
      failed = true;
      // A worker that could not checkpoint is not left running beside the fallback.
      void this.worker.terminate();
      options.onFailure?.(message);
    };
    this.worker.on('message', (message: { error?: string; walFrames?: number; checkpointed?: number }) => {
      if (message.error !== undefined) fail(message.error);
      else if (message.walFrames !== undefined && !failed) options.onCheckpoint?.(message.walFrames, message.checkpointed ?? 0);
    });
    this.worker.on('error', (error) => fail(error.message));
    this.worker.on('exit', () => fail('the checkpoint worker exited'));
    // A gateway that exits without closing its store must not be held open by its checkpointer.
    this.worker.unref();
  }

  /** One last checkpoint, then the worker's connection closes. */
  stop(): Promise<void> {
    this.stopped ??= new Promise((done) => {
      if (this.worker.threadId === -1) return done(); // already exited
      // Held again, or a process with nothing else left to do would exit before the worker did.
      this.worker.ref();
      this.worker.once('exit', () => done());
      this.worker.postMessage('stop');
    });
    return this.stopped;
  }
}
