import type { IncomingMessage } from 'node:http';
import { type Authenticator } from '../auth/authenticator.js';
import { AuthError } from '../errors.js';
import type { Principal } from '../auth/principal.js';

export interface WsAdmissionOptions {
  path: string;
  /** The browser-origin rule (contract section 5): a page it refuses gets 403. */
  originAllowed: (req: IncomingMessage) => boolean;
  /** Open connections per owner (or per IP until a connection authenticates). */
  maxConnectionsPerClient: number;
}

/** Why an upgrade request is refused: the HTTP status it is answered with. */
export interface Refusal {
  status: number;
  reason: string;
}

/** Who is connecting (a principal if a token came at upgrade) and what the connection counts against. */
export interface Admission {
  principal: Principal | undefined;
  clientKey: string;
}

/**
 * Decides which upgrade requests become WebSocket connections — path, origin, a token sent at
 * upgrade, connections per client — and keeps the per-client connection counts.
 */
export class WsAdmission {
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly authenticator: Pick<Authenticator, 'enabled' | 'fromHeader'>,
    private readonly options: WsAdmissionOptions,
  ) {}

  async admit(req: IncomingMessage): Promise<Admission | Refusal> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== this.options.path) return { status: 404, reason: 'Not Found' };
    if (!this.options.originAllowed(req)) return { status: 403, reason: 'Forbidden' };
    let principal: Principal | undefined;
    const header = req.headers.authorization;
    if (this.authenticator.enabled && header !== undefined) {
      try {
        principal = await this.authenticator.fromHeader(header);
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
        return { status: 401, reason: 'Unauthorized' };
      }
    }
    const clientKey = principal ? ownerKey(principal) : `ip:${req.socket.remoteAddress ?? 'unknown'}`;
    if ((this.perClient.get(clientKey) ?? 0) >= this.options.maxConnectionsPerClient) return { status: 429, reason: 'Too Many Requests' };
    return { principal, clientKey };
  }

  /** A connection opened under `clientKey`. */
  add(clientKey: string): void {
    this.perClient.set(clientKey, (this.perClient.get(clientKey) ?? 0) + 1);
  }

  /**
   * A connection that counted against `fromKey` (its IP) authenticated as `toKey` (its owner):
   * it moves over only if the owner has a free slot, so the cap holds for connections that
   * authenticate by frame as for those that sent a header. False, and nothing moved, otherwise.
   */
  move(fromKey: string, toKey: string): boolean {
    if (fromKey === toKey) return true;
    if ((this.perClient.get(toKey) ?? 0) >= this.options.maxConnectionsPerClient) return false;
    this.release(fromKey);
    this.add(toKey);
    return true;
  }

  /** A connection under `clientKey` closed. */
  release(clientKey: string): void {
    const count = (this.perClient.get(clientKey) ?? 1) - 1;
    if (count <= 0) this.perClient.delete(clientKey);
    else this.perClient.set(clientKey, count);
  }
}

/** What an authenticated connection counts against. */
export function ownerKey(principal: Principal): string {
  return `sub:${principal.sub}`;
}

export function isRefusal(verdict: Admission | Refusal): verdict is Refusal {
  return 'status' in verdict;
}
