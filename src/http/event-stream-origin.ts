import type { IncomingMessage } from 'node:http';

/**
 * The browser-origin rule for event streams (contract section 5): requests without an `Origin`
 * (servers, CLIs) pass; a page may open a stream when it is the gateway's own origin as the
 * browser sees it (the request's `Host`, or `--public-url`) or is listed in `--allowed-origins`.
 */
export function sameOriginOrAllowed(allowedOrigins: readonly string[], publicUrl: () => string): (req: IncomingMessage) => boolean {
  const allowed = new Set(allowedOrigins);
  return (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (allowed.has(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    if (req.headers.host !== undefined && url.host === req.headers.host.toLowerCase()) return true;
    const own = publicUrl();
    return own !== '' && URL.canParse(own) && new URL(own).origin === url.origin;
  };
}
