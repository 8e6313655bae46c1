import type { Run } from '../runs/run.js';

/** The flow id that stands for every flow. */
export const EVERY_FLOW = '*';

/** A peer's subscription to one run: pending until its snapshot is out, with what came meanwhile. */
interface RunSubscription {
  confirmed: boolean;
  /** The newest change that arrived while the subscription was pending. */
  parked: Run | undefined;
}

/** Everything one peer follows. */
interface PeerSubscriptions {
  runs: Map<string, RunSubscription>;
  flows: Set<string>;
}

/** What confirming a pending run subscription found. */
export interface Confirmation {
  /** The newest change parked while the subscription was pending, if any. */
  parked: Run | undefined;
}

export interface SubscriptionIndexOptions {
  /** Called with the new total whenever the number of subscriptions changes (for a gauge). */
  onSizeChange?: (size: number) => void;
}

/**
 * Who follows what: run id → peers and flow id → peers, and per peer what it follows. Pure (no
 * I/O, no transport): a peer is any object, so the WebSocket hub and a Server-Sent Events
 * transport index their peers the same way.
 *
 * A run subscription starts *pending* (`beginRun`) while the run is looked up: changes offered
 * meanwhile are parked (`park`), not delivered, so a peer's confirmation (`subscribed`, or a
 * stream's first event) comes before any change of that run, and none falls between the lookup
 * and the confirmation (`confirmRun` hands the parked change over).
 */
export class SubscriptionIndex<Peer> {
  private readonly byRun = new Map<string, Set<Peer>>();
  private readonly byFlow = new Map<string, Set<Peer>>();
  private readonly byPeer = new Map<Peer, PeerSubscriptions>();
  private total = 0;

  constructor(private readonly options: SubscriptionIndexOptions = {}) {}

  /** Subscriptions of every peer, pending ones included. */
  get size(): number {
    return this.total;
  }

  /** Subscriptions of one peer, pending ones included (what a per-peer limit counts). */
  countOf(peer: Peer): number {
    const entry = this.byPeer.get(peer);
    return entry ? entry.runs.size + entry.flows.size : 0;
  }

  /** Whether `peer` follows run `runId` by id, and whether that subscription is confirmed yet. */
  runState(peer: Peer, runId: string): 'pending' | 'confirmed' | undefined {
    const subscription = this.byPeer.get(peer)?.runs.get(runId);
    if (!subscription) return undefined;
    return subscription.confirmed ? 'confirmed' : 'pending';
  }

  /** Whether `peer` follows flow `flowId` (`*` = every flow). */
  followsFlow(peer: Peer, flowId: string): boolean {
    return this.byPeer.get(peer)?.flows.has(flowId) ?? false;
  }

  /** Starts a pending subscription of `peer` to run `runId`; false if it already follows it. */
  beginRun(peer: Peer, runId: string): boolean {
    const entry = this.entryOf(peer);
    if (entry.runs.has(runId)) return false;
    entry.runs.set(runId, { confirmed: false, parked: undefined });
    addTo(this.byRun, runId, peer);
    this.resize(1);
    return true;
  }

  /**
   * Confirms `peer`'s subscription to run `runId` (a no-op when already confirmed) and hands over
   * the change parked meanwhile. Undefined when the peer no longer follows the run (it
   * unsubscribed while the run was looked up): nothing is to be sent then.
   */
  confirmRun(peer: Peer, runId: string): Confirmation | undefined {
    const subscription = this.byPeer.get(peer)?.runs.get(runId);
    if (!subscription) return undefined;
    const { parked } = subscription;
    subscription.confirmed = true;
    subscription.parked = undefined;
    return { parked };
  }

  /**
   * Parks a change for a peer whose subscription to that run is pending (keeping the newest);
   * true when parked, false when the change should be delivered as usual.
   */
  park(peer: Peer, run: Run): boolean {
    const subscription = this.byPeer.get(peer)?.runs.get(run.id);
    if (!subscription || subscription.confirmed) return false;
    if (!subscription.parked || subscription.parked.seq < run.seq) subscription.parked = run;
    return true;
  }

  /** Ends `peer`'s subscription to run `runId`, pending or confirmed; false if it had none. */
  removeRun(peer: Peer, runId: string): boolean {
    const entry = this.byPeer.get(peer);
    if (!entry?.runs.delete(runId)) return false;
    removeFrom(this.byRun, runId, peer);
    this.forgetIfEmpty(peer, entry);
    this.resize(-1);
    return true;
  }

  /** Subscribes `peer` to flow `flowId` (`*` = every flow); false if it already followed it. */
  addFlow(peer: Peer, flowId: string): boolean {
    const entry = this.entryOf(peer);
    if (entry.flows.has(flowId)) return false;
    entry.flows.add(flowId);
    addTo(this.byFlow, flowId, peer);
    this.resize(1);
    return true;
  }

  /** Ends `peer`'s subscription to flow `flowId`; false if it had none. */
  removeFlow(peer: Peer, flowId: string): boolean {
    const entry = this.byPeer.get(peer);
    if (!entry?.flows.delete(flowId)) return false;
    removeFrom(this.byFlow, flowId, peer);
    this.forgetIfEmpty(peer, entry);
    this.resize(-1);
    return true;
  }

  /** Forgets everything `peer` follows (it is gone); returns how many subscriptions it had. */
  removePeer(peer: Peer): number {
    const entry = this.byPeer.get(peer);
    if (!entry) return 0;
    this.byPeer.delete(peer);
    for (const runId of entry.runs.keys()) removeFrom(this.byRun, runId, peer);
    for (const flowId of entry.flows) removeFrom(this.byFlow, flowId, peer);
    const count = entry.runs.size + entry.flows.size;
    this.resize(-count);
    return count;
  }

  /**
   * Calls `visit` once for each peer a change of `run` concerns: those following the run by id
   * (pending or confirmed), its flow, or every flow. A peer in several of these is visited once,
   * with `byId` true when it follows the run by id: only such a peer can have a pending
   * subscription to park the change on, so a broadcast to flow subscribers skips that lookup.
   */
  forEachPeer(run: Pick<Run, 'id' | 'flowId'>, visit: (peer: Peer, byId: boolean) => void): void {
    const byRun = this.byRun.get(run.id);
    const byFlow = this.byFlow.get(run.flowId);
    const byAll = run.flowId === EVERY_FLOW ? undefined : this.byFlow.get(EVERY_FLOW);
    if (byRun) for (const peer of byRun) visit(peer, true);
    if (byFlow) for (const peer of byFlow) if (!byRun?.has(peer)) visit(peer, false);
    if (byAll) for (const peer of byAll) if (!byRun?.has(peer) && !byFlow?.has(peer)) visit(peer, false);
  }

  /** Every run followed by id by some peer (pending ones included). */
  runIds(): string[] {
    return [...this.byRun.keys()];
  }

  /** The runs `peer` follows by id whose subscription is confirmed (its read was allowed). */
  confirmedRunIdsOf(peer: Peer): string[] {
    const entry = this.byPeer.get(peer);
    if (!entry) return [];
    return [...entry.runs].filter(([, subscription]) => subscription.confirmed).map(([runId]) => runId);
  }

  /** Every flow followed by some peer (`*` among them when someone follows every flow). */
  flowIds(): string[] {
    return [...this.byFlow.keys()];
  }

  private entryOf(peer: Peer): PeerSubscriptions {
    let entry = this.byPeer.get(peer);
    if (!entry) this.byPeer.set(peer, (entry = { runs: new Map(), flows: new Set() }));
    return entry;
  }

  private forgetIfEmpty(peer: Peer, entry: PeerSubscriptions): void {
    if (entry.runs.size === 0 && entry.flows.size === 0) this.byPeer.delete(peer);
  }

  private resize(delta: number): void {
    if (delta === 0) return;
    this.total += delta;
    this.options.onSizeChange?.(this.total);
  }
}

function addTo<Peer>(index: Map<string, Set<Peer>>, key: string, peer: Peer): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(peer);
}

function removeFrom<Peer>(index: Map<string, Set<Peer>>, key: string, peer: Peer): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(peer);
  if (set.size === 0) index.delete(key);
}
