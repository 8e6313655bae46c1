import type { Logger } from 'pino';
import type { RunBus } from '../bus/run-bus.js';
import type { RunCache } from '../cache/run-cache.js';
import type { RunStore } from '../store/run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { mergeRun, type RunAnnotations, type RunNews } from '../runs/merge-run.js';
import type { RunSource } from '../runs/run.js';
import { WriteConflictError } from '../errors.js';

/** What one `apply` did. */
export type ApplyResult =
  | { kind: 'changed'; record: RunRecord; previous: RunRecord | undefined }
  | { kind: 'unchanged' | 'annotated'; record: RunRecord }
  | { kind: 'invalid'; reason: string; record: RunRecord | undefined };

const MAX_ATTEMPTS = 16;

/**
 * The one write path for run state. Every piece of news — webhook, poll answer, start, lookup or
 * cancel answer — goes through `apply`: merge (see mergeRun), compare-and-set in the store,
 * refresh the cache, publish on the bus. Nothing else writes runs, so duplicates, reordering and
 * webhook/poll races are harmless by construction.
 */
export class RunWriter {
  private readonly now: () => number;
  private readonly onChanged: (record: RunRecord) => void;

  constructor(
    private readonly store: RunStore,
    private readonly cache: RunCache,
    private readonly bus: RunBus,
    private readonly logger: Logger,
    options: {
      now?: () => number;
      /** Called once per accepted change, on the instance that wrote it (metrics). */
      onChanged?: (record: RunRecord) => void;
    } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.onChanged = options.onChanged ?? (() => undefined);
  }

  async apply(news: RunNews, source: RunSource, notes: RunAnnotations = {}): Promise<ApplyResult> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.store.get(news.id);
      const outcome = mergeRun(current, news, source, notes, this.now());
      if (outcome.kind === 'invalid') return { ...outcome, record: current };
      if (outcome.kind === 'unchanged') {
        // current exists: mergeRun only answers unchanged for a known run.
        this.cache.set(current!);
        return { kind: 'unchanged', record: current! };
      }
      const written = await this.store.compareAndSet(outcome.record, current?.rev ?? 0);
      if (!written) continue;
      this.cache.set(outcome.record);
      if (outcome.kind === 'changed') {
        this.logger.debug({ runId: news.id, status: outcome.record.run.status, seq: outcome.record.run.seq, source }, 'run changed');
        this.onChanged(outcome.record);
      }
      // An annotation (an owner learnt after a webhook came first) is published too, with the same
      // seq: peers that already have that seq skip it, the owner's flow subscribers now get it.
      try {
        await this.bus.publish(outcome.record);
      } catch (error) {
        // The state is stored; subscribers catch up through resync or their next lookup.
        this.logger.error({ err: error, runId: news.id }, 'publishing a run change failed');
      }
      return outcome.kind === 'changed' ? { kind: 'changed', record: outcome.record, previous: current } : { kind: 'annotated', record: outcome.record };
    }
    throw new WriteConflictError(news.id);
  }
}
