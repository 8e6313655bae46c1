import type { Logger } from 'pino';
import type { RunBus } from '../bus/run-bus.js';
import type { RunCache } from '../cache/run-cache.js';
import type { RunStore } from '../store/run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { mergeRun, type RunAnnotations, type RunNews } from '../runs/merge-run.js';
import { restoreRun, restoredCopy } from '../runs/restore-run.js';
import { isValidId, type RunSource } from '../runs/run.js';
import { StoreResetError, WriteConflictError } from '../errors.js';
import type { RunLedger } from './run-ledger.js';

/** What one `apply` did. */
export type ApplyResult =
  | { kind: 'changed'; record: RunRecord; previous: RunRecord | undefined }
  | { kind: 'unchanged' | 'annotated'; record: RunRecord }
  | { kind: 'invalid'; reason: string; record: RunRecord | undefined };

/** What one `restore` did (see runs/restore-run.ts). */
export type RestoreResult = { kind: 'restored' | 'annotated'; record: RunRecord } | { kind: 'unchanged'; record: RunRecord | undefined };

/** The writer's clock, change hook, and (cluster mode) what it needs across store resets. */
export interface RunWriterOptions {
  now?: () => number;
  /** Called once per accepted change, on the instance that wrote it (metrics). */
  onChanged?: (record: RunRecord) => void;
  /** Called after every write this instance made, annotations and restores included (the relay's nudge). */
  onWritten?: (record: RunRecord) => void;
  /** What this instance still knows of runs (cluster mode): a run the store lost is built on it. */
  ledger?: Pick<RunLedger, 'copyOf' | 'notesOf' | 'observe'>;
  /** The seq floor of the store's current generation (runs/seq-rule.ts); 0 unless the store was reset. */
  seqFloor?: () => number;
  /**
   * Called when the store refused a write as reset (StoreResetError); resolves once this instance
   * knows the store's new mark, after which the write is tried again. Without it the error is thrown.
   */
  onStoreReset?: (error: StoreResetError) => Promise<void>;
  /**
   * Read the cache before the store on a write's first attempt, and take a run it does not hold
   * for a new one: only for an instance that is the store's one writer, whose cache then holds
   * what it last wrote. A stale copy, or a run the store holds but the cache no longer does, only
   * costs a retry: the compare-and-set refuses it, and later attempts read the store.
   */
  readCacheFirst?: boolean;
}

/** A decision about one run given its stored record, the generation's seq floor and the time. */
type Decision =
  | { kind: 'changed' | 'annotated' | 'restored'; record: RunRecord }
  | { kind: 'unchanged'; record: RunRecord | undefined }
  | { kind: 'invalid'; reason: string };

const MAX_ATTEMPTS = 16;

/**
 * The one write path for run state. Every piece of news — webhook, poll answer, start, lookup or
 * cancel answer — goes through `apply`: merge (see mergeRun), compare-and-set in the store,
 * refresh the cache, publish on the bus. Nothing else writes runs, so duplicates, reordering and
 * webhook/poll races are harmless by construction. `restore` gives a store that lost its data a
 * copy this instance still holds, through the same compare-and-set.
 */
export class RunWriter {
  private readonly now: () => number;
  private readonly onChanged: (record: RunRecord) => void;
  private readonly seqFloor: () => number;

  constructor(
    private readonly store: RunStore,
    private readonly cache: RunCache,
    private readonly bus: RunBus,
    private readonly logger: Logger,
    private readonly options: RunWriterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onChanged = options.onChanged ?? (() => undefined);
    this.seqFloor = options.seqFloor ?? (() => 0);
  }

  async apply(news: RunNews, source: RunSource, notes: RunAnnotations = {}): Promise<ApplyResult> {
    // Not even read under an id outside the rule: such news names no run the gateway could hold.
    if (!isValidId(news.id)) return { kind: 'invalid', reason: 'the run id is not a valid id', record: undefined };
    let previous: RunRecord | undefined;
    const decision = await this.commit(news.id, (current, floor, nowMs) => {
      previous = current;
      // A run the store does not have, but this instance holds a copy of, was lost with the
      // store's data: the news builds on the copy (owner, seq and all), which goes back with it.
      const copy = current ? undefined : this.options.ledger?.copyOf(news.id);
      const base = copy ? restoredCopy(copy, nowMs) : current;
      const known = base ? undefined : this.options.ledger?.notesOf(news.id);
      const merged = mergeRun(base, news, source, known ? withKnown(notes, known) : notes, nowMs, floor);
      if (merged.kind === 'unchanged') return base && copy ? { kind: 'restored', record: base } : { kind: 'unchanged', record: base };
      return merged;
    });
    switch (decision.kind) {
      case 'invalid':
        return { kind: 'invalid', reason: decision.reason, record: previous };
      case 'changed':
        return { kind: 'changed', record: decision.record, previous };
      case 'restored':
        return { kind: 'unchanged', record: decision.record };
      case 'annotated':
        return { kind: 'annotated', record: decision.record };
      case 'unchanged':
        // A known run: mergeRun answers unchanged only for one.
        return { kind: 'unchanged', record: decision.record! };
    }
  }

  /** Writes back a copy of a run held here, reconciled with what the store has (runs/restore-run.ts). */
  async restore(copy: RunRecord): Promise<RestoreResult> {
    const decision = await this.commit(copy.run.id, (current, floor, nowMs) => {
      const outcome = restoreRun(current, copy, floor, nowMs);
      return outcome.kind === 'unchanged' ? { kind: 'unchanged', record: current } : outcome;
    });
    if (decision.kind === 'invalid' || decision.kind === 'changed') throw new Error(`restoring run ${copy.run.id} decided ${decision.kind}`);
    return decision.kind === 'unchanged' ? decision : { kind: decision.kind, record: decision.record };
  }

  /**
   * The compare-and-set loop: read, decide, write if the stored rev is still the one read (else
   * read again), then refresh the cache and publish. A write the store refuses as reset waits
   * until this instance knows the store's new mark (and seq floor), then decides again.
   */
  private async commit(id: string, decide: (current: RunRecord | undefined, floor: number, nowMs: number) => Decision): Promise<Decision> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let current: RunRecord | undefined;
      let guessedNew = false;
      if (attempt === 0 && this.options.readCacheFirst) {
        current = this.cache.get(id);
        // Not cached: most likely a run never heard of (the cache holds what this writer wrote
        // lately), so it is tried as new without a read. Had the store a record after all, the
        // insert is refused and the next attempt reads it.
        guessedNew = current === undefined;
      }
      if (!guessedNew) current ??= await this.store.get(id);
      const decision = decide(current, this.seqFloor(), this.now());
      // Only a new run's insert is tried blind: any other verdict waits for the stored record.
      if (guessedNew && decision.kind !== 'changed') continue;
      if (decision.kind === 'invalid') return decision;
      if (decision.kind === 'unchanged') {
        if (decision.record) this.cache.set(decision.record);
        return decision;
      }
      let written: boolean;
      try {
        written = await this.store.compareAndSet(decision.record, current?.rev ?? 0);
      } catch (error) {
        if (!(error instanceof StoreResetError) || !this.options.onStoreReset) throw error;
        await this.options.onStoreReset(error);
        continue;
      }
      if (!written) continue;
      const { record } = decision;
      this.cache.set(record);
      this.options.ledger?.observe(record);
      this.options.onWritten?.(record);
      if (decision.kind === 'changed') {
        if (this.logger.isLevelEnabled('debug')) this.logger.debug({ runId: id, status: record.run.status, seq: record.run.seq, source: record.run.source }, 'run changed');
        this.onChanged(record);
      }
      // An annotation (an owner learnt after a webhook came first) is published too, with the same
      // seq: peers that already have that seq skip it, the owner's flow subscribers now get it. A
      // restored copy likewise reaches only the peers that lack it.
      try {
        await this.bus.publish(record);
      } catch (error) {
        // The state is stored; subscribers catch up through resync or their next lookup.
        this.logger.error({ err: error, runId: id }, 'publishing a run change failed');
      }
      return decision;
    }
    throw new WriteConflictError(id);
  }
}

/** The call's annotations, completed with what the ledger knows (the call's own win). */
function withKnown(notes: RunAnnotations, known: { owner?: string; webhookSecret?: string }): RunAnnotations {
  const owner = notes.owner ?? known.owner;
  const webhookSecret = notes.webhookSecret ?? known.webhookSecret;
  return { ...notes, ...(owner !== undefined ? { owner } : {}), ...(webhookSecret !== undefined ? { webhookSecret } : {}) };
}
