import { durationQuantileMs, planPolls, type PollPlan, type PollPrices } from './poll-plan.js';

export interface RecoveryPlannerOptions {
  /** The first poll's age for a flow with too little history. */
  defaultMs: number;
  /** The earliest age any poll of the plan may come at. */
  minMs: number;
  /** Upper bound of the conservative grace (the plan's last point). */
  maxMs: number;
  prices?: PollPrices;
  now?: () => number;
}

/** How a run's final state became known here. */
export type FinalVia = 'webhook' | 'poll' | 'other';

/**
 * One poll that comes before a run's news costs as much as 0.5 s of a lost run's delay when that
 * run's webhook is lost too (the poll was part of its recovery), 4 s when its webhook then
 * arrives: at a 30 % miss rate (even one misjudged up to ~60 %) no poll comes before the longest
 * runs end; with every webhook lost, polls come at the likely completion times.
 */
export const DEFAULT_POLL_PRICES: PollPrices = { lostRunPollMs: 500, arrivingRunPollMs: 4000 };

const SAMPLES_PER_FLOW = 64;
/**
 * Below this many samples the plan is one poll no earlier than the default: the first runs of a
 * burst to finish are its shortest, and learning from them alone would poll the longer ones too
 * early.
 */
const MIN_SAMPLES = 20;
/** Runs seen unfinished by a poll and not seen final since, per flow (the oldest forgotten first). */
const CENSORED_PER_FLOW = 16;
const MAX_FLOWS = 10_000;
/** Each new outcome weighs the older ones down by 1/MISS_MEMORY: the miss rate follows about the last 64 runs. */
const MISS_MEMORY = 64;
/** Runs whose late webhook was already counted (a redelivered webhook must not count twice). */
const LATE_RUNS_REMEMBERED = 1024;
/**
 * A flow's plan is recomputed after this many new observations (an eighth of a full history), or
 * this long after the last when fewer came. One new run among 64 barely moves a plan; replanning
 * each second a flow of one to eight finals a second was 2.5 % of the soak gateway's CPU (200
 * such flows).
 */
const REPLAN_AFTER_OBSERVATIONS = 8;
const REPLAN_AFTER_MS = 10_000;
/** Two polls of one run are at least this far apart. */
const MIN_POLL_GAP_MS = 250;

interface FlowHistory {
  /** Ring of ages at which runs reached a final state. */
  events: number[];
  next: number;
  /** Ring of ages at which final webhooks arrived (a run's end plus the webhook's delay). */
  arrivals: number[];
  nextArrival: number;
  censored: Map<string, number>;
  /** Decayed counts of final webhooks that arrived and that went missing. */
  arrived: number;
  missed: number;
  plan: PollPlan | undefined;
  unplanned: number;
  plannedAtMs: number;
}

/**
 * Learns, per flow, how long runs take to reach a final state (Kaplan–Meier over final ages and
 * polls that found runs still running) and how often their final webhook goes missing (decayed,
 * so it follows a change either way), and from both when to poll a run not yet known final (see
 * poll-plan.ts): early and at the likely completion times when webhooks are mostly lost, once just
 * past the longest runs when some are, and only after the conservative grace — the 95th percentile
 * (Kaplan–Meier) plus a quarter plus 250 ms, within [minMs, maxMs] — when none are. Memory is bounded: 64 final
 * ages and 16 unfinished runs per flow, 10,000 flows (the oldest forgotten first). Each instance
 * learns from the changes it hears of (in cluster mode the bus carries every instance's finals),
 * from its own polls, and from the late webhooks it receives.
 */
export class RecoveryPlanner {
  private readonly flows = new Map<string, FlowHistory>();
  private readonly lateRuns = new Set<string>();
  private readonly prices: PollPrices;
  private readonly now: () => number;

  constructor(private readonly options: RecoveryPlannerOptions) {
    this.prices = options.prices ?? DEFAULT_POLL_PRICES;
    this.now = options.now ?? Date.now;
  }

  /**
   * A run reached a final state `ageMs` after it was tracked; when its webhook brought the news,
   * `arrivalAgeMs` is when that came.
   */
  observeFinal(flowId: string, runId: string, ageMs: number, via: FinalVia, arrivalAgeMs?: number): void {
    const flow = this.flowFor(flowId);
    flow.censored.delete(runId);
    if (Number.isFinite(ageMs) && ageMs >= 0) {
      if (flow.events.length < SAMPLES_PER_FLOW) flow.events.push(ageMs);
      else flow.events[flow.next] = ageMs;
      flow.next = (flow.next + 1) % SAMPLES_PER_FLOW;
    }
    if (arrivalAgeMs !== undefined && Number.isFinite(arrivalAgeMs) && arrivalAgeMs >= 0) {
      if (flow.arrivals.length < SAMPLES_PER_FLOW) flow.arrivals.push(arrivalAgeMs);
      else flow.arrivals[flow.nextArrival] = arrivalAgeMs;
      flow.nextArrival = (flow.nextArrival + 1) % SAMPLES_PER_FLOW;
    }
    if (via !== 'other') {
      flow.arrived *= 1 - 1 / MISS_MEMORY;
      flow.missed *= 1 - 1 / MISS_MEMORY;
      if (via === 'webhook') flow.arrived += 1;
      else flow.missed += 1;
    }
    flow.unplanned++;
  }

  /** A poll found the run still unfinished `ageMs` after it was tracked: it lasts longer (censored). */
  observeUnfinished(flowId: string, runId: string, ageMs: number): void {
    if (!Number.isFinite(ageMs) || ageMs < 0) return;
    const flow = this.flowFor(flowId);
    flow.censored.delete(runId);
    if (flow.censored.size >= CENSORED_PER_FLOW) {
      const oldest = flow.censored.keys().next().value;
      if (oldest !== undefined) flow.censored.delete(oldest);
    }
    flow.censored.set(runId, ageMs);
    flow.unplanned++;
  }

  /** The final webhook of a run already polled final came after all: it was late, not lost. */
  observeLateWebhook(flowId: string, runId: string): void {
    const flow = this.flows.get(flowId);
    if (!flow || this.lateRuns.has(runId)) return;
    if (this.lateRuns.size >= LATE_RUNS_REMEMBERED) {
      const oldest = this.lateRuns.values().next().value;
      if (oldest !== undefined) this.lateRuns.delete(oldest);
    }
    this.lateRuns.add(runId);
    const moved = Math.min(1, flow.missed);
    flow.missed -= moved;
    flow.arrived += moved;
    flow.unplanned++;
  }

  /** The share of the flow's recent final webhooks that went missing (0 without history). */
  missRate(flowId: string): number {
    const flow = this.flows.get(flowId);
    if (!flow) return 0;
    const total = flow.arrived + flow.missed;
    return total > 0 ? flow.missed / total : 0;
  }

  /** The flow's current plan: ascending poll ages, the last one the conservative grace. */
  planFor(flowId: string): PollPlan {
    const flow = this.flows.get(flowId);
    if (!flow) return single(this.options.defaultMs, this.options);
    const nowMs = this.now();
    const due =
      !flow.plan ||
      (flow.unplanned > 0 && (flow.unplanned >= REPLAN_AFTER_OBSERVATIONS || nowMs - flow.plannedAtMs >= REPLAN_AFTER_MS || flow.events.length < MIN_SAMPLES + REPLAN_AFTER_OBSERVATIONS));
    if (due) {
      flow.plan = this.compute(flow);
      flow.unplanned = 0;
      flow.plannedAtMs = nowMs;
    }
    return flow.plan!;
  }

  /** The age at which a run of the flow is first polled. */
  firstPollAgeMs(flowId: string): number {
    return this.planFor(flowId).agesMs[0]!;
  }

  /** The plan's next poll age after a poll at `ageMs`, or undefined past the plan's end. */
  nextPollAgeMs(flowId: string, ageMs: number): number | undefined {
    return this.planFor(flowId).agesMs.find((at) => at >= ageMs + MIN_POLL_GAP_MS);
  }

  private compute(flow: FlowHistory): PollPlan {
    const { defaultMs, minMs, maxMs } = this.options;
    const values = flow.events;
    if (values.length < MIN_SAMPLES) {
      // Too little history: the default, unless runs of this flow were already seen to take longer.
      const longest = Math.max(0, ...values, ...flow.arrivals);
      return single(Math.max(defaultMs, longest * 1.25), this.options);
    }
    const censored = [...flow.censored.values()];
    // The grace waits for webhooks: it is taken from their arrival ages once there are enough.
    const p95 = Math.max(durationQuantileMs(values, censored, 0.95), flow.arrivals.length >= MIN_SAMPLES ? durationQuantileMs(flow.arrivals, censored, 0.95) : 0);
    const graceMs = clamp(p95 * 1.25 + 250, minMs, maxMs);
    const missRate = flow.arrived + flow.missed > 0 ? flow.missed / (flow.arrived + flow.missed) : 0;
    return planPolls({ events: values, censored, arrivals: flow.arrivals, missRate, firstMs: minMs, lastMs: graceMs, prices: this.prices });
  }

  private flowFor(flowId: string): FlowHistory {
    let flow = this.flows.get(flowId);
    if (!flow) {
      if (this.flows.size >= MAX_FLOWS) {
        const oldest = this.flows.keys().next().value;
        if (oldest !== undefined) this.flows.delete(oldest);
      }
      flow = { events: [], next: 0, arrivals: [], nextArrival: 0, censored: new Map(), arrived: 0, missed: 0, plan: undefined, unplanned: 0, plannedAtMs: 0 };
      this.flows.set(flowId, flow);
    }
    return flow;
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.round(Math.min(max, Math.max(min, value)));
}

function single(ageMs: number, options: RecoveryPlannerOptions): PollPlan {
  return { agesMs: [clamp(ageMs, options.minMs, options.maxMs)], expectedGets: 0, expectedLostDelayMs: 0 };
}
