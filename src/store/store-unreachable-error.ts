/**
 * The store named by `--store` did not answer at start. The CLI prints its message as one line
 * naming the flag (no stack trace) and exits non-zero: it is the operator's setting or database to
 * fix, not a bug.
 */
export class StoreUnreachableError extends Error {
  readonly code = 'RUNGATE_ERR_STORE_UNREACHABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnreachableError';
  }
}
