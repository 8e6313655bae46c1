/**
 * How far apart the seqs of two store generations lie. A shared store that lost its data starts
 * a new generation (see store/store-marker.ts), and every change accepted in generation `g` gets
 * a seq above `g × SEQ_GENERATION_STRIDE`: above anything a subscriber can hold from an earlier
 * generation, as long as no run took that many changes in one generation (a run changes a
 * handful of times, a few hundred with progress). 2^53 / 10^9 leaves room for nine million
 * generations. Generation 0 — every store that never lost its data — has floor 0, so its seqs
 * are 1, 2, 3 … as they always were.
 */
export const SEQ_GENERATION_STRIDE = 1_000_000_000;

/** The seq every change accepted in store generation `generation` lies above. */
export function seqFloor(generation: number): number {
  return generation * SEQ_GENERATION_STRIDE;
}

/**
 * The seq of the next accepted change of a run whose current seq is `previous` (undefined: a new
 * record), in a store generation whose floor is `floor`: at least one more than before — the
 * contract's "grows by at least 1 with each change" — and above the floor, so a change written
 * after a store reset reaches every subscriber, whatever seq it held before the reset.
 */
export function nextSeq(previous: number | undefined, floor: number): number {
  return Math.max(previous ?? 0, floor) + 1;
}
