export interface TimeBudgetedBatchOptions {
  /** How long one batch may take (it holds the event loop when it is synchronous). */
  budgetMs: number;
  /** The first batch's size: small, since nothing is known yet of what a row costs. */
  initial: number;
  /** Never more than this many in one batch. */
  max: number;
}

/**
 * The size of the next batch of a repeated piece of work, adapted so that each batch takes about
 * `budgetMs` however much one item costs here: a fixed count was either too long on a loaded
 * machine or with large indexes (a pause per batch that grew with the table) or too short (many
 * more turns than needed on a quiet one). Grows by at most doubling, so one cheap batch does not
 * make the next huge; shrinks at once in proportion when a batch overran.
 */
export class TimeBudgetedBatch {
  private current: number;

  constructor(private readonly options: TimeBudgetedBatchOptions) {
    this.current = clamp(options.initial, 1, Math.max(1, options.max));
  }

  /** How many items the next batch should take. */
  get size(): number {
    return this.current;
  }

  /** Tells how long a batch of `size` items took; sizes the next one. */
  record(elapsedMs: number): void {
    const { budgetMs, max } = this.options;
    // A batch too fast to time says only that a much larger one fits.
    const target = elapsedMs > 0 ? Math.floor((this.current * budgetMs) / elapsedMs) : this.current * 2;
    this.current = clamp(Math.min(target, this.current * 2), 1, Math.max(1, max));
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
