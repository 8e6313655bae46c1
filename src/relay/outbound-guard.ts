import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Addresses a caller-supplied webhook URL must not reach (unless --relay-allow-private):
 * loopback, private, link-local, unspecified, and the other ranges no public receiver lives in
 * (carrier NAT, benchmarking, multicast, reserved). IPv4-mapped IPv6 is checked as IPv4.
 */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** Whether an IP address is one a delivery must not contact. */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  return mapped ? BLOCKED.check(mapped, 'ipv4') : BLOCKED.check(address, 'ipv6');
}

/** The host of a URL as an IP literal (brackets gone), or undefined for a name. */
function literalAddress(hostname: string): string | undefined {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) ? bare : undefined;
}

/**
 * Why a caller's webhookUrl is refused at start, or undefined when it is accepted: not http(s),
 * credentials in it, or (unless private hosts are allowed) a loopback, private, link-local or
 * unspecified literal host — `localhost` counts as loopback.
 */
export function webhookUrlProblem(text: string, allowPrivate: boolean): string | undefined {
  if (text.length > 2048) return 'must be at most 2048 characters';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http: or https: URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http: or https: URL';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.hostname === '') return 'must name a host';
  if (allowPrivate) return undefined;
  const literal = literalAddress(url.hostname);
  if (literal !== undefined && isBlockedAddress(literal)) return 'must not point at a loopback, private, link-local or unspecified address';
  const name = url.hostname.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return 'must not point at a loopback address';
  return undefined;
}

/** Raised by the pinned lookup when a host name resolves to an address a delivery must not reach. */
export class BlockedAddressError extends Error {
  readonly code = 'RUNGATE_RELAY_BLOCKED';
  constructor(hostname: string) {
    super(`${hostname} resolves to an address deliveries may not reach`);
  }
}

/** Whether a delivery URL's literal host is blocked (names are checked at resolution, by the lookup). */
export function literalHostBlocked(url: URL, allowPrivate: boolean): boolean {
  if (allowPrivate) return false;
  const literal = literalAddress(url.hostname);
  return literal !== undefined && isBlockedAddress(literal);
}

/** Resolves a host name to every address it has (dns.lookup with all: true). */
export type Resolver = (hostname: string, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

const systemResolver: Resolver = (hostname, callback) => dnsLookup(hostname, { all: true, verbatim: true }, callback);

/**
 * The `lookup` for outbound sockets: resolves the name once, refuses the whole answer when any
 * address in it is blocked, and hands the socket exactly the addresses it checked — the socket
 * connects to what was checked, so a second resolution (DNS rebinding) never happens.
 */
export function pinnedLookup(allowPrivate: boolean, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const family = options.family === 4 || options.family === 6 ? options.family : undefined;
      const usable = addresses.filter((entry) => family === undefined || entry.family === family);
      if (usable.length === 0) {
        const none: NodeJS.ErrnoException = new Error(`${hostname} has no address`);
        none.code = 'ENOTFOUND';
        return callback(none, '', 0);
      }
      if (!allowPrivate && usable.some((entry) => isBlockedAddress(entry.address))) return callback(new BlockedAddressError(hostname), '', 0);
      if (options.all) {
        (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, usable);
        return;
      }
      const first = usable[0]!;
      callback(null, first.address, first.family);
    });
  };
}
