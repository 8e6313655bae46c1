import { isIP } from 'node:net';

function ipv4Kind(address: string): string | undefined {
  const [a, b] = address.split('.').map(Number) as [number, number];
  if (a === 0) return 'an unspecified address';
  if (a === 127) return 'a loopback address';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) return 'a private address';
  if (a === 169 && b === 254) return 'a link-local address';
  return undefined;
}

function ipv6Kind(address: string): string | undefined {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return ipv4Kind(mapped[1]!);
  if (/^[0:]+$/.test(lower)) return 'an unspecified address';
  if (/^[0:]+1$/.test(lower)) return 'a loopback address';
  if (/^f[cd]/.test(lower)) return 'a private address';
  if (/^fe[89ab]/.test(lower)) return 'a link-local address';
  return undefined;
}

/**
 * Why Doclo, on the internet, could not reach a public URL — its host is a loopback, unspecified
 * (`0.0.0.0`, what a container listens on), private or link-local address, or a name that only
 * resolves inside its own network — or undefined when it may well be reachable.
 */
export function unreachablePublicUrl(publicUrl: string): string | undefined {
  let host: string;
  try {
    host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
  const family = isIP(host);
  if (family === 4) return ipv4Kind(host);
  if (family === 6) return ipv6Kind(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return 'a loopback address';
  if (!host.includes('.') || host.endsWith('.local') || host.endsWith('.internal')) return 'a host name of a local network';
  return undefined;
}
