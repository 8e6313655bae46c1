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
 * state than the writer left. At `maxRuns` the least recently used record makes room: the cache
 * keeps taking new hot records and holds at most `maxRuns`.
 */
export class RunCache {
  private readonly cache: NodeCache;
  /** Cached run ids, least recently read or written first: who goes when the cache is full. */
  private readonly recency = new Set<string>();
  /**
   * Where eviction goes on from: the oldest id still cached. A fresh iteration would step over
   * every id deleted or touched since the set was last compacted — up to `maxRuns` holes per
   * eviction — while a standing one resumes past them (a Set's iterator survives deletes and
   * sees ids added after it; once done it is replaced).
   */
  private evictionCursor: Iterator<string> | undefined;
  /**
   * Uses (touches, deletes) since the cursor was made. A parked Set iterator keeps every table
   * the Set has outgrown since alive, so it is dropped when nothing needs evicting and after
   * `maxRuns` uses: a fresh one then steps over at most that many holes once.
   */
  private usesSinceCursor = 0;

  constructor(private readonly options: RunCacheOptions) {
    // useClones: false — records are treated as immutable, copying them would only cost time.
    // No maxKeys: node-cache refuses every set() once full — updates of cached runs too, which
    // would leave their old state cached — so the bound is kept here, by eviction.
    this.cache = new NodeCache({ useClones: false, checkperiod: 60, deleteOnExpire: true });
    // Expiry, eviction and dropUnfinished all delete through del(), which emits this.
    this.cache.on('del', (id: NodeCache.Key) => {
      this.recency.delete(String(id));
      this.countUse();
    });
  }

  get(id: string): RunRecord | undefined {
    const record = this.cache.get<RunRecord>(id);
    if (record) this.touch(id);
    return record;
  }

  /** The cached record without counting as a use (its place in the eviction order stays). */
  peek(id: string): RunRecord | undefined {
    return this.cache.get<RunRecord>(id);
  }

  set(record: RunRecord): void {
    const id = record.run.id;
    const cached = this.cache.get<RunRecord>(id);
    if (cached && (cached.run.seq > record.run.seq || (cached.run.seq === record.run.seq && cached.rev >= record.rev))) return;
    if (!this.recency.has(id)) this.makeRoom();
    const ttl = isFinal(record.run.status) ? this.options.finalTtlSeconds : this.options.activeTtlSeconds;
    this.cache.set(id, record, ttl);
    this.touch(id);
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
    return this.recency.size;
  }

  close(): void {
    this.cache.flushAll();
    this.cache.close();
    this.recency.clear();
    this.evictionCursor = undefined;
  }

  private touch(id: string): void {
    this.recency.delete(id);
    this.recency.add(id);
    this.countUse();
  }

  private countUse(): void {
    if (this.evictionCursor && ++this.usesSinceCursor > this.options.maxRuns) this.evictionCursor = undefined;
  }

  /** Evicts least recently used records until one more fits. */
  private makeRoom(): void {
    if (this.recency.size < this.options.maxRuns) {
      this.evictionCursor = undefined;
      return;
    }
    while (this.recency.size >= this.options.maxRuns) {
      let next = this.evictionCursor?.next();
      if (!next || next.done) {
        this.evictionCursor = this.recency.values();
        this.usesSinceCursor = 0;
        next = this.evictionCursor.next();
        if (next.done) return;
      }
      // del() emits 'del' (which forgets the id) only for a key node-cache still holds.
      this.cache.del(next.value);
      this.recency.delete(next.value);
    }
  }
}
