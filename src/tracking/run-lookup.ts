import type { Logger } from 'pino';
import type { RunCache } from '../cache/run-cache.js';
import type { Budget } from '../limits/budget.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RunStore } from '../store/run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import type { Upstream } from '../upstream/upstream.js';
import type { RunLedger } from './run-ledger.js';
import type { RunWriter } from './run-writer.js';
import { LookupBudgetError } from '../errors.js';

export interface FindOptions {
  /** An extra per-caller budget, checked with the global one before asking upstream. */
  budget?: Budget;
}

/**
 * Finds a run: hot cache, then store, then (once, however many ask at the same moment) upstream.
 * A run found upstream goes through the write path, which also gets it polled if unfinished.
 * Resolves undefined when upstream does not know the run either.
 */
export class RunLookup {
  private readonly inFlight = new Map<string, Promise<RunRecord | undefined>>();

  constructor(
    private readonly deps: {
      store: RunStore;
      cache: RunCache;
      writer: RunWriter;
      upstream: Upstream;
      metrics: GatewayMetrics;
      logger: Logger;
      /** Budget for upstream lookups caused by clients, shared by all of them (and, in cluster mode, by every instance). */
      budget: Budget;
      /** What this instance remembers of runs beyond the store (cluster mode). */
      ledger?: Pick<RunLedger, 'notesOf'>;
    },
  ) {}

  /**
   * The owner this instance remembers for a run, also when the store has lost the run's record
   * (undefined when it remembers none): such an owner may have the run looked up again.
   */
  knownOwner(id: string): string | undefined {
    return this.deps.ledger?.notesOf(id)?.owner;
  }

  /** The gateway's own copy only: cache, then store. */
  async findLocal(id: string): Promise<RunRecord | undefined> {
    const cached = this.deps.cache.get(id);
    this.deps.metrics.cacheLookups.inc({ result: cached ? 'hit' : 'miss' });
    if (cached) return cached;
    const stored = await this.deps.store.get(id);
    if (stored) this.deps.cache.set(stored);
    return stored;
  }

  /**
   * The gateway's own copy, for a caller who may read only some runs: undefined unless `mayRead`
   * accepts it. A run the caller may not read leaves no trace — no cache lookup counted, nothing
   * cached, no change in eviction order — so metrics tell a foreign run from a missing one no
   * better than the 403 does (contract section 5).
   */
  async findLocalReadable(id: string, mayRead: (record: RunRecord) => boolean): Promise<RunRecord | undefined> {
    const cached = this.deps.cache.peek(id);
    const record = cached ?? (await this.deps.store.get(id));
    if (!record || !mayRead(record)) return undefined;
    this.deps.metrics.cacheLookups.inc({ result: cached ? 'hit' : 'miss' });
    if (cached) this.deps.cache.get(id);
    else this.deps.cache.set(record);
    return record;
  }

  async find(id: string, options: FindOptions = {}): Promise<RunRecord | undefined> {
    const local = await this.findLocal(id);
    if (local) return local;
    const shared = this.inFlight.get(id);
    if (shared) return shared;
    if ((options.budget && !(await options.budget.tryTake())) || !(await this.deps.budget.tryTake())) {
      this.deps.metrics.clientLookupsRefused.inc();
      throw new LookupBudgetError();
    }
    // A shared budget answers asynchronously: someone may have started the same lookup meanwhile.
    const started = this.inFlight.get(id);
    if (started) return started;
    const lookup = this.lookUpstream(id).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, lookup);
    return lookup;
  }

  private async lookUpstream(id: string): Promise<RunRecord | undefined> {
    try {
      const execution = await this.deps.upstream.getRun(id);
      const result = await this.deps.writer.apply(execution, 'request');
      if (result.kind === 'invalid') this.deps.logger.warn({ runId: id, reason: result.reason }, 'upstream answered a lookup with an unusable run');
      return result.record;
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === 'not_found') return undefined;
      throw error;
    }
  }
}
