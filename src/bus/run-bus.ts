import type { Logger } from 'pino';
import type { RunRecord } from '../runs/run-record.js';

/** Receives every accepted change of any run, in the order the bus delivers them. */
export type RunListener = (record: RunRecord) => void;

/**
 * Fan-out of run changes to every listener of every instance. Contract for every driver:
 * - `publish` resolves once the change is handed to the transport; listeners on this instance
 *   may be called before or after that.
 * - Listeners are called one at a time; a throwing listener does not stop the others.
 * - Across a transport outage a driver calls `onResync` listeners once it is back, so they can
 *   reread the runs they care about from the store: changes are never silently lost.
 * - After `close`, publish rejects and no listener is called.
 */
export interface RunBus {
  publish(record: RunRecord): Promise<void>;
  subscribe(listener: RunListener): () => void;
  onResync(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Calls every listener with a change; one that throws is logged and the others still run. */
export function notifyListeners(listeners: Iterable<RunListener>, record: RunRecord, logger: Logger | undefined): void {
  for (const listener of listeners) {
    try {
      listener(record);
    } catch (error) {
      logger?.error({ err: error, runId: record.run.id }, 'run listener failed');
    }
  }
}
