import type { Run, TimelineEntry } from './run.js';
import type { Delivery } from './delivery.js';

/** A run as the gateway stores it: the public run plus what only the gateway needs. */
export interface RunRecord {
  run: Run;
  /** Bumped by every write, also those that change no visible state; the compare-and-set token. */
  rev: number;
  /** The `sub` that started the run through the gateway (auth); undefined when it came otherwise. */
  owner?: string;
  /** The per-run webhook secret the gateway sent with the start, if any. */
  webhookSecret?: string;
  /** When the gateway first heard of the run (its own clock). */
  trackedAtMs: number;
  /** True when the gateway saw the run from its start, so trackedAtMs is its start time. */
  startedHere?: boolean;
  /** The caller's own webhookUrl from the start (contract section 8); Doclo is given the gateway's. */
  webhookUrl?: string;
  /** The delivery of the final state to `webhookUrl`, created by the write that made the run final. */
  delivery?: Delivery;
  /** When the gateway last accepted a write. */
  updatedAtMs: number;
  /**
   * Every accepted change, oldest first (bounded: see run-timeline.ts). Part of the record, so it
   * is written in the same compare-and-set as the change itself, by every store driver.
   */
  timeline?: TimelineEntry[];
}
