// Whether the gateway has been heard from, so that a wait that runs out can tell "the run is not
// done yet" from "the gateway could not be reached at all" (contract section 6).

/** Why the gateway could not be reached: a line for people, and the error behind it. */
export interface Unreachable {
  reason: string;
  cause: unknown;
}

/**
 * The client's contacts with the gateway and its failures to reach it, in the order they happen.
 * A contact is an HTTP answer of any status or an open socket; a failure is a request or a
 * socket attempt that did not reach it (refused, DNS, reset). One counter orders both, so no
 * clock is involved: a wait takes a `mark` when it starts and asks `since(mark)` when it ends.
 */
export class Reachability {
  private events = 0;
  private lastContact = 0;
  private lastFailure: (Unreachable & { event: number }) | undefined;
  private socketOpen = false;

  /** A point to ask `since` about later. */
  mark(): number {
    return this.events;
  }

  /** The gateway answered something. */
  contacted(): void {
    this.lastContact = ++this.events;
  }

  /** An attempt to reach the gateway failed. */
  failed(reason: string, cause?: unknown): void {
    this.lastFailure = { reason, cause, event: ++this.events };
  }

  /** The socket opened (a contact that lasts while it stays open) or closed. */
  socket(open: boolean): void {
    this.socketOpen = open;
    if (open) this.contacted();
  }

  /**
   * The latest failure, when nothing has been heard from the gateway since `mark` and that failure
   * came after the last contact; undefined while the gateway is (or may be) reachable.
   */
  since(mark: number): Unreachable | undefined {
    if (this.socketOpen || this.lastContact > mark) return undefined;
    const failure = this.lastFailure;
    return failure !== undefined && failure.event > this.lastContact ? { reason: failure.reason, cause: failure.cause } : undefined;
  }
}

/**
 * The innermost reason of a failed connection, as one line: fetch's "fetch failed" hides the
 * socket's error in `cause` (an AggregateError when several addresses were tried).
 */
export function causeText(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    const inner: unknown = (current as { cause?: unknown } | undefined)?.cause;
    if (inner === undefined || inner === null) break;
    current = inner;
  }
  if (current instanceof AggregateError && current.errors.length > 0) {
    return [...new Set(current.errors.map((each) => causeText(each)))].join('; ');
  }
  if (current instanceof Error) {
    const code = (current as { code?: unknown }).code;
    return current.message || (typeof code === 'string' ? code : current.name);
  }
  return String(current);
}
