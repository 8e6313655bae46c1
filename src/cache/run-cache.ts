import NodeCache from 'node-cache';
import { isFinal } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';

export interface RunCacheOptions {
  finalTtlSeconds: number;
  activeTtlSeconds: number;
  maxRuns: number;
}

/**
 * Hot copies of run records in front of the store. Finished runs never change, so they stay
 * long; unfinished ones briefly, since another instance may move them on. A record only
 * replaces a cached one with a lower or equal `rev`, so a late reader cannot put back an older
 * state than the writer left.
 */
export class RunCache {
  private readonly cache: NodeCache;

  constructor(private readonly options: RunCacheOptions) {
    // useClones: false — records are treated as immutable, copying them would only cost time.
    this.cache = new NodeCache({ useClones: false, checkperiod: 60, maxKeys: options.maxRuns, deleteOnExpire: true });
  }

  get(id: string): RunRecord | undefined {
    return this.cache.get<RunRecord>(id);
  }

  set(record: RunRecord): void {
    const cached = this.cache.get<RunRecord>(record.run.id);
    if (cached && (cached.run.seq > record.run.seq || (cached.run.seq === record.run.seq && cached.rev >= record.rev))) return;
    const ttl = isFinal(record.run.status) ? this.options.finalTtlSeconds : this.options.activeTtlSeconds;
    try {
      this.cache.set(record.run.id, record, ttl);
    } catch {
      // Full (maxKeys): the store still answers; the cache just does not grow further.
    }
  }

  /** Forgets every unfinished run, so the next read goes to the store (after a bus outage). */
  dropUnfinished(): number {
    let dropped = 0;
    for (const id of this.cache.keys()) {
      const record = this.cache.get<RunRecord>(id);
      if (record && !isFinal(record.run.status)) {
        this.cache.del(id);
        dropped++;
      }
    }
    return dropped;
  }

  /** Every record held right now (what a store that lost its data can be given back). */
  records(): RunRecord[] {
    const records: RunRecord[] = [];
    for (const id of this.cache.keys()) {
      const record = this.cache.get<RunRecord>(id);
      if (record) records.push(record);
    }
    return records;
  }

  size(): number {
    return this.cache.keys().length;
  }

  close(): void {
    this.cache.flushAll();
    this.cache.close();
  }
}
