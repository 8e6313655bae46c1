import type { RunCache } from '../cache/run-cache.js';
import { isFinal } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';

/** What the ledger keeps of one run. */
interface LedgerEntry {
  /** The newest record seen, while the run is unfinished (small: no output yet). */
  copy: RunRecord | undefined;
  owner: string | undefined;
  webhookSecret: string | undefined;
}

/** Gateway-side facts the ledger still knows of a run whose copy it no longer holds. */
export interface KnownNotes {
  owner?: string;
  webhookSecret?: string;
}

/** How a RunLedger is bounded, and the cache it completes. */
export interface RunLedgerOptions {
  /** Most runs remembered; beyond it the run seen longest ago is forgotten. */
  maxRuns: number;
  /** The hot cache, whose finished runs (with their outputs) the ledger does not copy. */
  cache: Pick<RunCache, 'get' | 'records'>;
}

/**
 * What this instance knows of runs beyond the store, so that a shared store that lost its data
 * can be given it back (and a write that finds a run gone builds on it, not on nothing): the
 * newest record of every unfinished run it saw change — every instance sees every change on the
 * bus — and, for finished runs too, who owns them and their webhook secret. Finished records
 * themselves, outputs and all, are the hot cache's (kept there for `--cache-final-ttl-s`).
 * Unlike the cache it has no time limit, only a bound on how many runs it remembers.
 */
export class RunLedger {
  private readonly entries = new Map<string, LedgerEntry>();

  constructor(private readonly options: RunLedgerOptions) {}

  /** Takes a record seen on the bus or written here; an older one than the held copy changes nothing. */
  observe(record: RunRecord): void {
    const id = record.run.id;
    const entry = this.entries.get(id) ?? { copy: undefined, owner: undefined, webhookSecret: undefined };
    entry.owner ??= record.owner;
    entry.webhookSecret ??= record.webhookSecret;
    if (isFinal(record.run.status)) entry.copy = undefined;
    else if (!entry.copy || newer(record, entry.copy)) entry.copy = record;
    // Delete first so the run moves to the newest end of the insertion order.
    this.entries.delete(id);
    this.entries.set(id, entry);
    if (this.entries.size > this.options.maxRuns) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  /** The newest copy of a run held here or in the hot cache; undefined when neither has one. */
  copyOf(id: string): RunRecord | undefined {
    const held = this.entries.get(id)?.copy;
    const cached = this.options.cache.get(id);
    if (!held) return cached;
    return cached && newer(cached, held) ? cached : held;
  }

  /** The owner and webhook secret known of a run, also when no copy of it is held. */
  notesOf(id: string): KnownNotes | undefined {
    const entry = this.entries.get(id);
    if (!entry || (entry.owner === undefined && entry.webhookSecret === undefined)) return undefined;
    return {
      ...(entry.owner !== undefined ? { owner: entry.owner } : {}),
      ...(entry.webhookSecret !== undefined ? { webhookSecret: entry.webhookSecret } : {}),
    };
  }

  /** Every copy held here or in the hot cache, the newest of each run. */
  copies(): RunRecord[] {
    const newest = new Map<string, RunRecord>();
    for (const entry of this.entries.values()) if (entry.copy) newest.set(entry.copy.run.id, entry.copy);
    for (const cached of this.options.cache.records()) {
      const held = newest.get(cached.run.id);
      if (!held || newer(cached, held)) newest.set(cached.run.id, cached);
    }
    return [...newest.values()];
  }

  /** How many runs are remembered. */
  get size(): number {
    return this.entries.size;
  }
}

/** Whether `a` is a later state of its run than `b` (seq first; rev between equal seqs). */
function newer(a: RunRecord, b: RunRecord): boolean {
  return a.run.seq > b.run.seq || (a.run.seq === b.run.seq && a.rev > b.rev);
}
