/** Up to this many runs are resubscribed one frame each (exact `since`); more go in batches. */
export const SINGLE_FRAMES_UP_TO = 50;
/** Runs per `runIds` batch. */
export const BATCH_SIZE = 100;

/** A subscribe frame and the runs it covers. */
export interface SubscribeFrame {
  frame: Record<string, unknown>;
  runIds: string[];
}

/** The subscribe frame of one run: `since` = the highest seq the app already has, if any. */
export function subscribeFrame(runId: string, lastSeq: number): Record<string, unknown> {
  return lastSeq > 0 ? { op: 'subscribe', runId, since: lastSeq } : { op: 'subscribe', runId };
}

/**
 * The frames that subscribe `runs` on a new socket. A few go one frame each; many go as `runIds`
 * batches, sorted by seq, each with the smallest `since` in it: the gateway queues only so many
 * frames while it checks a token, and the extra snapshots a low `since` brings are dropped by the
 * follower registry's seq rule.
 */
export function resubscribeFrames(runs: ReadonlyArray<{ runId: string; lastSeq: number }>): SubscribeFrame[] {
  if (runs.length <= SINGLE_FRAMES_UP_TO) return runs.map((run) => ({ frame: subscribeFrame(run.runId, run.lastSeq), runIds: [run.runId] }));
  const sorted = [...runs].sort((a, b) => a.lastSeq - b.lastSeq);
  const frames: SubscribeFrame[] = [];
  for (let i = 0; i < sorted.length; i += BATCH_SIZE) {
    const batch = sorted.slice(i, i + BATCH_SIZE);
    const since = batch[0]?.lastSeq ?? 0;
    const runIds = batch.map((run) => run.runId);
    frames.push({ frame: { op: 'subscribe', runIds, ...(since > 0 ? { since } : {}) }, runIds });
  }
  return frames;
}
