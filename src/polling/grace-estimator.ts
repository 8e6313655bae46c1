export interface GraceOptions {
  /** The grace for a flow with too little history. */
  defaultMs: number;
  minMs: number;
  maxMs: number;
}

const SAMPLES_PER_FLOW = 64;
/**
 * Below this many samples the grace never drops under the default: the first runs of a burst to
 * finish are its shortest, and learning from them alone would poll the longer ones too early.
 */
const MIN_SAMPLES = 20;
const MAX_FLOWS = 10_000;

/**
 * Learns, per flow, how long runs take to reach a final state, so the first poll of a run comes
 * just after its webhook should have arrived: late enough that a working webhook costs no poll,
 * early enough that a lost one is recovered soon. The grace is the 95th percentile of recent
 * samples plus a quarter, within [minMs, maxMs].
 */
export class GraceEstimator {
  private readonly samples = new Map<string, { values: number[]; next: number }>();
  /** graceFor's answers until the flow's next sample: it is asked on every change and poll. */
  private readonly graces = new Map<string, number>();

  constructor(private readonly options: GraceOptions) {}

  observe(flowId: string, durationMs: number): void {
    if (!Number.isFinite(durationMs) || durationMs < 0) return;
    this.graces.delete(flowId);
    let ring = this.samples.get(flowId);
    if (!ring) {
      if (this.samples.size >= MAX_FLOWS) {
        const oldest = this.samples.keys().next().value;
        if (oldest !== undefined) {
          this.samples.delete(oldest);
          this.graces.delete(oldest);
        }
      }
      ring = { values: [], next: 0 };
      this.samples.set(flowId, ring);
    }
    if (ring.values.length < SAMPLES_PER_FLOW) ring.values.push(durationMs);
    else ring.values[ring.next] = durationMs;
    ring.next = (ring.next + 1) % SAMPLES_PER_FLOW;
  }

  graceFor(flowId: string): number {
    let grace = this.graces.get(flowId);
    if (grace === undefined) {
      grace = this.compute(flowId);
      if (this.graces.size >= MAX_FLOWS) this.graces.clear();
      this.graces.set(flowId, grace);
    }
    return grace;
  }

  private compute(flowId: string): number {
    const { defaultMs, minMs, maxMs } = this.options;
    const values = this.samples.get(flowId)?.values;
    let grace: number;
    if (!values || values.length < MIN_SAMPLES) {
      // Too little history: the default, unless runs of this flow were already seen to take longer.
      grace = Math.max(defaultMs, values && values.length > 0 ? Math.max(...values) * 1.25 : 0);
    } else {
      const sorted = [...values].sort((a, b) => a - b);
      const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)]!;
      grace = p95 * 1.25 + 250;
    }
    return Math.round(Math.min(maxMs, Math.max(minMs, grace)));
  }
}
