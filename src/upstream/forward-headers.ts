import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1: headers that describe one connection, never passed on by a proxy. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/**
 * Request headers that stay at the gateway: the caller's credentials (the gateway's own key goes
 * to Doclo instead), its cookies, where the request came from (a browser's origin, the caller's
 * address) and the host it was sent to.
 */
const CALLER_ONLY = new Set(['host', 'authorization', 'cookie', 'origin', 'referer', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip']);

/** Response headers that stay at Doclo: cookies are for Doclo's own clients, not the gateway's. */
const UPSTREAM_ONLY = new Set(['set-cookie', 'set-cookie2']);

/** The header names a `Connection` header lists: hop-by-hop for this message too. */
function listedInConnection(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(text.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean));
}

function filtered(headers: IncomingHttpHeaders, drop: ReadonlySet<string>): OutgoingHttpHeaders {
  const connection = listedInConnection(headers);
  // No prototype: a header named `__proto__` is just a name here.
  const kept = Object.create(null) as OutgoingHttpHeaders;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connection.has(name) || drop.has(name) || name.startsWith('sec-')) continue;
    kept[name] = value;
  }
  return kept;
}

/** What of a caller's request headers goes on to Doclo (content negotiation, body framing, …). */
export function requestHeadersToForward(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return filtered(headers, CALLER_ONLY);
}

/** What of Doclo's answer headers goes back to the caller: all but hop-by-hop ones and cookies. */
export function responseHeadersToReturn(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return filtered(headers, UPSTREAM_ONLY);
}
