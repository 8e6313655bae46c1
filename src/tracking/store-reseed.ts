import type { Logger } from 'pino';
import { isFinal } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import type { Resync } from './resync.js';
import type { RunLedger } from './run-ledger.js';
import type { RunLookup } from './run-lookup.js';
import type { RunWriter } from './run-writer.js';

/** Writes in flight at once while re-seeding: enough to be quick, few enough to leave room for live traffic. */
const RESEED_CONCURRENCY = 16;
/** Failures logged one by one per re-seed; the rest are only counted (the store may be gone again). */
const LOGGED_FAILURES = 5;

/** What one re-seed did, for the `store was reset` warning. */
export interface ReseedSummary {
  /** Copies this instance held (ledger and hot cache). */
  copies: number;
  /** Copies written back (the store had the run not at all, or behind). */
  restored: number;
  /** Copies that only gave back an owner, a webhook secret or a first-seen time. */
  annotated: number;
  /** Copies the store already had as they were, or newer. */
  kept: number;
  /** Runs peers follow that no copy covered and the store lacked, looked up upstream. */
  lookedUp: number;
  /** Owners learnt back from the subscriptions that prove them. */
  ownersLearnt: number;
  /** Writes or lookups that failed (the first few logged one by one). */
  failed: number;
}

/** What a re-seed writes through, reads from, and hands over to afterwards. */
export interface StoreReseedDeps {
  writer: Pick<RunWriter, 'restore' | 'apply'>;
  ledger: Pick<RunLedger, 'copies'>;
  lookup: Pick<RunLookup, 'findLocal' | 'find'>;
  /** What subscribers follow, with the owners their subscriptions prove, and their catching up. */
  resync: Pick<Resync, 'followed' | 'trigger'>;
  /** Puts every unfinished run in the store back on the poll schedule; resolves with how many. */
  reschedule: () => Promise<number>;
  logger: Logger;
}

/**
 * Gives a shared store that lost its data back what this instance still knows, through the one
 * write path: every copy it holds (unfinished runs first, since they still need polling), then
 * the runs its subscribers follow that neither a copy nor the store has (looked up upstream,
 * which also tracks them), then the owners its subscribers' rights prove. Every write is a
 * compare-and-set, so instances re-seeding at once converge (runs/restore-run.ts).
 */
export class StoreReseed {
  constructor(private readonly deps: StoreReseedDeps) {}

  /**
   * The whole recovery after a reset: re-seed, then every unfinished run back on the poll
   * schedule (it was lost with the rest), then subscribers and long-poll readers caught up.
   */
  async recover(): Promise<ReseedSummary & { pollsScheduled: number }> {
    const summary = await this.reseed();
    const pollsScheduled = await this.deps.reschedule();
    await this.deps.resync.trigger('store reset');
    return { ...summary, pollsScheduled };
  }

  async reseed(): Promise<ReseedSummary> {
    const { writer, ledger, lookup } = this.deps;
    const summary: ReseedSummary = { copies: 0, restored: 0, annotated: 0, kept: 0, lookedUp: 0, ownersLearnt: 0, failed: 0 };
    const failed = (error: unknown, runId: string, what: string): void => {
      if (++summary.failed <= LOGGED_FAILURES) this.deps.logger.warn({ err: error, runId }, what);
    };
    const copies = ledger.copies();
    summary.copies = copies.length;
    copies.sort((a, b) => Number(isFinal(a.run.status)) - Number(isFinal(b.run.status)));
    await forEachLimited(copies, async (copy: RunRecord) => {
      try {
        const result = await writer.restore(copy);
        if (result.kind === 'restored') summary.restored++;
        else if (result.kind === 'annotated') summary.annotated++;
        else summary.kept++;
      } catch (error) {
        failed(error, copy.run.id, 'could not write a run back into the store');
      }
    });

    const followed = this.deps.resync.followed();
    const held = new Set(copies.map((copy) => copy.run.id));
    await forEachLimited(
      followed.runIds.filter((runId) => !held.has(runId)),
      async (runId) => {
        try {
          if (await lookup.findLocal(runId)) return;
          if (await lookup.find(runId)) summary.lookedUp++;
        } catch (error) {
          failed(error, runId, 'could not look up a followed run the store lost');
        }
      },
    );

    await forEachLimited([...(followed.owners ?? [])], async ([runId, owner]) => {
      try {
        const result = await writer.apply({ id: runId }, 'request', { owner });
        if (result.kind === 'annotated') summary.ownersLearnt++;
      } catch (error) {
        failed(error, runId, 'could not give a run its owner back');
      }
    });
    return summary;
  }
}

/** Runs `action` on every item, at most RESEED_CONCURRENCY at a time; never rejects (actions catch). */
async function forEachLimited<T>(items: readonly T[], action: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await action(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(RESEED_CONCURRENCY, items.length) }, worker));
}
