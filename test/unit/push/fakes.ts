import { pino } from 'pino';
import type { Principal } from '../../../src/auth/principal.js';
import type { Run, RunStatus } from '../../../src/runs/run.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import { LookupBudgetError } from '../../../src/errors.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import type { ClientMessage } from '../../../src/push/client-message.js';
import { WsConnection, type FrameHandler, type PeerSocket } from '../../../src/push/ws-connection.js';

/** A socket that records what the connection does to it. */
export class FakeSocket implements PeerSocket {
  readyState = 1;
  bufferedAmount = 0;
  readonly frames: Buffer[] = [];
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  pings = 0;
  throwOnPing = false;

  send(data: Buffer): void {
    this.frames.push(data);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.readyState = 2;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
  ping(): void {
    if (this.throwOnPing) throw new Error('socket gone');
    this.pings++;
  }
  /** Every frame sent, parsed. */
  messages(): Array<Record<string, any>> {
    return this.frames.map((frame) => JSON.parse(frame.toString('utf8')));
  }
}

/** Counters that count. */
export function fakeMetrics() {
  const counter = () => ({ value: 0, inc() { this.value++; } });
  return { wsMessagesSent: counter(), wsMessagesDropped: counter(), wsSlowConsumerCloses: counter() };
}

/** A clock the test moves by hand. */
export class FakeClock {
  constructor(public nowMs = 1_000_000) {}
  readonly now = (): number => this.nowMs;
}

export function run(id: string, seq: number, status: RunStatus = 'running', flowId = 'f'): Run {
  return { id, flowId, status, seq, source: 'webhook' };
}

export function record(r: Run, owner?: string, updatedAtMs = 1_000_000): RunRecord {
  return { run: r, rev: r.seq, ...(owner === undefined ? {} : { owner }), trackedAtMs: 0, updatedAtMs };
}

export function principal(sub: string, extra: Partial<Principal> = {}): Principal {
  return { sub, admin: false, runs: new Set(), expiresAtMs: undefined, ...extra };
}

/** A run lookup whose answers the test sets; `hold` makes finds wait until released. */
export class FakeLookup {
  readonly records = new Map<string, RunRecord>();
  readonly finds: string[] = [];
  readonly localFinds: string[] = [];
  /** Owners remembered beyond the store (as a cluster instance's ledger does). */
  readonly owners = new Map<string, string>();
  failWith: Error | undefined;
  private held: Array<() => void> | undefined;

  hold(): void {
    this.held = [];
  }
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const resume of held) resume();
  }
  knownOwner(id: string): string | undefined {
    return this.owners.get(id);
  }
  findLocal(id: string): Promise<RunRecord | undefined> {
    this.localFinds.push(id);
    return Promise.resolve(this.records.get(id));
  }
  findLocalReadable(id: string, mayRead: (record: RunRecord) => boolean): Promise<RunRecord | undefined> {
    this.localFinds.push(id);
    const record = this.records.get(id);
    return Promise.resolve(record && mayRead(record) ? record : undefined);
  }
  async find(id: string, options: { budget?: TokenBucket } = {}): Promise<RunRecord | undefined> {
    this.finds.push(id);
    if (this.held) await new Promise<void>((resume) => this.held!.push(resume));
    if (this.failWith) throw this.failWith;
    if (!this.records.has(id) && options.budget && !options.budget.tryTake()) throw new LookupBudgetError();
    return this.records.get(id);
  }
}

export const silentLogger = pino({ level: 'silent' });

/** A connection over a fake socket; frames go to `handle`. */
export function fakeConnection(handle: FrameHandler = () => undefined, options: { clientKey?: string; now?: () => number; maxBufferedBytes?: number } = {}) {
  const socket = new FakeSocket();
  const metrics = fakeMetrics();
  const now = options.now ?? (() => 1_000_000);
  const connection = new WsConnection({
    socket,
    clientKey: options.clientKey ?? 'ip:127.0.0.1',
    lookupBudget: new TokenBucket(100, 60_000, now),
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    metrics,
    handle,
    now,
  });
  return { connection, socket, metrics };
}

export type { ClientMessage };
