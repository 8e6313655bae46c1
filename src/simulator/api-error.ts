/** An answer in Doclo's error envelope: an HTTP status plus `{"error":{code,message,details?}}`. */
export class SimApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Extra response headers, e.g. `Retry-After` on a 429. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'SimApiError';
  }

  /** The JSON body Doclo sends for this error. */
  toBody(): { error: { code: string; message: string; details?: Record<string, unknown> } } {
    return {
      error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) },
    };
  }
}
