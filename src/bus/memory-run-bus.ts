import type { Logger } from 'pino';
import type { RunRecord } from '../runs/run-record.js';
import { notifyListeners, type RunBus, type RunListener } from './run-bus.js';

/** The single-instance bus: listeners are called synchronously inside `publish`. */
export class MemoryRunBus implements RunBus {
  private readonly listeners = new Set<RunListener>();
  private closed = false;

  constructor(private readonly logger?: Logger) {}

  publish(record: RunRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error('bus is closed'));
    notifyListeners(this.listeners, record, this.logger);
    return Promise.resolve();
  }

  subscribe(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onResync(): () => void {
    // One process never loses its own messages.
    return () => undefined;
  }

  close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    return Promise.resolve();
  }
}
