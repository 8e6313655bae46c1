import type { DocloError } from '../errors.js';
import { statusRank, type Run } from '../run.js';

/** Someone following every run of a flow (`*`: every flow) from now on. */
export interface FlowListener {
  onRun(run: Run): void;
  onError(error: DocloError): void;
  /** The gateway confirmed the subscription on a (new) socket: changes from here on come by push. */
  onLive?(): void;
  /** The socket went down: changes come again after the next `onLive`. */
  onLost?(): void;
}

/** How many runs' last handed-over states the flow followers remember for de-duplication. */
export const FLOW_SEEN_BOUND = 10_000;

/**
 * The flow subscriptions of a client and the rule that hands each run state to them once: news
 * only if its seq or its status rank is higher than the last one handed over for that run (the
 * same rule as for followed runs). A socket reconnect brings nothing twice; the runs remembered
 * are bounded, the oldest forgotten first.
 */
export class FlowFollowers {
  private readonly listeners = new Map<string, Set<FlowListener>>();
  private readonly seen = new Map<string, { seq: number; rank: number }>();

  /** Adds a listener; true when it is the flow's first (a subscribe frame is due). */
  add(flowId: string, listener: FlowListener): boolean {
    let set = this.listeners.get(flowId);
    const fresh = set === undefined;
    if (!set) {
      set = new Set();
      this.listeners.set(flowId, set);
    }
    set.add(listener);
    return fresh;
  }

  /** Removes a listener; true when it was the flow's last (an unsubscribe frame is due). */
  remove(flowId: string, listener: FlowListener): boolean {
    const set = this.listeners.get(flowId);
    if (!set?.delete(listener) || set.size > 0) return false;
    this.listeners.delete(flowId);
    return true;
  }

  /** The flows followed. */
  flows(): string[] {
    return [...this.listeners.keys()];
  }

  get size(): number {
    return this.listeners.size;
  }

  /** The listeners of a flow, as a snapshot. */
  of(flowId: string): FlowListener[] {
    return [...(this.listeners.get(flowId) ?? [])];
  }

  /** The listeners a run's state is for (its flow's and every-flow ones), if it is news; else none. */
  accept(run: Run): FlowListener[] {
    const targets = [...this.of('*'), ...(run.flowId !== '*' ? this.of(run.flowId) : [])];
    if (targets.length === 0) return [];
    const rank = statusRank(run.status);
    const last = this.seen.get(run.id);
    if (last && run.seq <= last.seq && rank <= last.rank) return [];
    this.seen.delete(run.id);
    this.seen.set(run.id, { seq: Math.max(run.seq, last?.seq ?? 0), rank: Math.max(rank, last?.rank ?? -1) });
    if (this.seen.size > FLOW_SEEN_BOUND) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return targets;
  }

  /** Drops every listener of `flowId` (or of all flows) and returns them. */
  drop(flowId?: string): FlowListener[] {
    const flows = flowId === undefined ? this.flows() : [flowId];
    const dropped: FlowListener[] = [];
    for (const flow of flows) {
      dropped.push(...this.of(flow));
      this.listeners.delete(flow);
    }
    return dropped;
  }
}
