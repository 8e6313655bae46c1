import type { IncomingMessage } from 'node:http';

/**
 * The browser-origin rule of contract section 5, the same for /ws, event streams and REST
 * writes: a page may use them when it is the gateway's own origin as the browser sees it (the
 * request's `Host`, or `--public-url`) or is listed in `--allowed-origins`. Requests without an
 * `Origin` (servers, CLIs) are not a browser page's, and pass.
 */
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(
    readonly allowedOrigins: readonly string[],
    /** The gateway's public URL once known ('' until then). */
    private readonly publicUrl: () => string,
  ) {
    this.allowed = new Set(allowedOrigins);
  }

  /** Whether the request's `Origin`, if any, is the gateway's own or an allowed one. */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return this.isAllowedOrigin(origin, req.headers.host);
  }

  /**
   * Whether a request that changes something may go ahead: its `Origin` is allowed, and a
   * browser that says the request is cross-site (`Sec-Fetch-Site`) names an allowed origin.
   */
  writeAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin !== undefined) return this.isAllowedOrigin(origin, req.headers.host);
    return req.headers['sec-fetch-site'] !== 'cross-site';
  }

  /** Whether CORS answers may name this origin: only those listed (the gateway's own needs none). */
  corsAllowed(origin: string): boolean {
    return this.allowed.has(origin);
  }

  private isAllowedOrigin(origin: string, host: string | undefined): boolean {
    if (this.allowed.has(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin.toLowerCase().replace(/\/$/, '')) return false;
    if (host !== undefined && url.host === host.toLowerCase()) return true;
    const own = this.publicUrl();
    return own !== '' && URL.canParse(own) && new URL(own).origin === url.origin;
  }
}
