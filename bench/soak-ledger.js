// The soak's record of what every subscriber received, in typed arrays (a few bytes per run and
// subscriber, no object per frame, so the checker's own garbage does not slow the load): for each
// run whether the gateway has it and when its synthetic webhooks were sent; for each
// (connection, run) the last seq received and how many final states arrived.
const FINAL = new Set(['success', 'failed', 'cancelled']);

export class DeliveryLedger {
  constructor({ flows, connections, subscribersPerRun }) {
    this.flows = flows;
    this.connections = connections;
    this.subscribersPerRun = subscribersPerRun;
    /** The connections subscribed to each flow: flow f goes to subscribersPerRun consecutive ones. */
    this.subscribersOfFlow = Array.from({ length: flows }, (_, flow) => Array.from({ length: subscribersPerRun }, (_, j) => (flow * subscribersPerRun + j) % connections));
    this.capacity = 1 << 16;
    this.runs = 0;
    this.created = new Uint8Array(this.capacity);
    this.runningSentAt = new Float64Array(this.capacity);
    this.finalSentAt = new Float64Array(this.capacity);
    this.lastSeq = Array.from({ length: connections }, () => new Uint16Array(this.capacity));
    this.finals = Array.from({ length: connections }, () => new Uint8Array(this.capacity));
    this.counts = { expectedFinals: 0, firstFinals: 0, frames: 0, duplicateFinals: 0, seqRegressions: 0, unexpectedFrames: 0 };
  }

  /** A new run's index; its flow is index % flows. */
  newRun() {
    const index = this.runs++;
    if (index >= this.capacity) this.grow();
    return index;
  }

  /** The gateway has the run (start answered, or its first webhook accepted). */
  markCreated(index) {
    this.created[index] = 1;
    this.counts.expectedFinals += this.subscribersPerRun;
  }

  /** A synthetic webhook of the run left this process at `at`. */
  markSent(index, final, at) {
    (final ? this.finalSentAt : this.runningSentAt)[index] = at;
  }

  /**
   * A run frame reached `connection` at `at`: checks seq order and final-once, and returns the
   * push latency when it is the frame of a synthetic webhook (undefined otherwise).
   */
  receive(connection, run, at) {
    const counts = this.counts;
    counts.frames++;
    const index = run.metadata?.soakIndex;
    if (!Number.isInteger(index) || index >= this.runs || !this.subscribersOfFlow[index % this.flows].includes(connection)) {
      counts.unexpectedFrames++;
      return undefined;
    }
    const seqs = this.lastSeq[connection];
    if (run.seq <= seqs[index]) counts.seqRegressions++;
    else seqs[index] = run.seq;
    const final = FINAL.has(run.status);
    if (final) {
      if (++this.finals[connection][index] === 1) counts.firstFinals++;
      else counts.duplicateFinals++;
    }
    if (run.source !== 'webhook' || run.metadata.soakKind !== 'synthetic') return undefined;
    const sentAt = final ? this.finalSentAt[index] : run.status === 'running' ? this.runningSentAt[index] : 0;
    return sentAt > 0 ? at - sentAt : undefined;
  }

  /** Created runs with subscribers still lacking a final state: [{index, missing}]. */
  missing() {
    const runs = [];
    for (let index = 0; index < this.runs; index++) {
      if (!this.created[index]) continue;
      const missing = this.subscribersOfFlow[index % this.flows].filter((c) => this.finals[c][index] === 0).length;
      if (missing > 0) runs.push({ index, missing });
    }
    return runs;
  }

  /** How many runs the gateway had, and extra final states over all their subscribers. */
  tally() {
    let runsChecked = 0;
    let duplicated = 0;
    for (let index = 0; index < this.runs; index++) {
      if (!this.created[index]) continue;
      runsChecked++;
      for (const c of this.subscribersOfFlow[index % this.flows]) if (this.finals[c][index] > 1) duplicated += this.finals[c][index] - 1;
    }
    return { runsChecked, pairsChecked: runsChecked * this.subscribersPerRun, duplicated };
  }

  grow() {
    this.capacity *= 2;
    const resized = (old) => {
      const next = new old.constructor(this.capacity);
      next.set(old);
      return next;
    };
    this.created = resized(this.created);
    this.runningSentAt = resized(this.runningSentAt);
    this.finalSentAt = resized(this.finalSentAt);
    this.lastSeq = this.lastSeq.map(resized);
    this.finals = this.finals.map(resized);
  }
}
