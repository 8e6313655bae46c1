import { createHash, timingSafeEqual } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import type { Principal } from './principal.js';
import { ID_PATTERN } from '../runs/run.js';
import { AuthError } from '../errors.js';

export interface AuthenticatorOptions {
  jwtSecret: string | undefined;
  /** Static client keys: key → owner. */
  clientKeys: ReadonlyMap<string, string>;
  /** Seconds of clock skew tolerated on `exp` and `nbf`. */
  clockToleranceSeconds?: number;
  /** A token whose `exp` lies further ahead than this is refused: one that never expires cannot be taken back. */
  maxLifetimeSeconds?: number;
  /** The clock (epoch ms); Date.now unless a test fakes it. */
  now?: () => number;
}

const MAX_RUNS_CLAIM = 10_000;

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Turns a bearer token into a Principal: a static client key (compared in constant time), or an
 * HS256 JWT signed with the gateway's secret carrying `sub` and `exp` (optional `runs`, `admin`).
 * Disabled when neither a JWT secret nor a client key is configured.
 */
export class Authenticator {
  readonly enabled: boolean;
  private readonly secret: Uint8Array | undefined;
  private readonly keys: Array<{ hash: Buffer; owner: string }>;
  private readonly clockTolerance: number;
  private readonly maxLifetimeSeconds: number;
  private readonly now: () => number;

  constructor(options: AuthenticatorOptions) {
    this.secret = options.jwtSecret === undefined ? undefined : new TextEncoder().encode(options.jwtSecret);
    this.keys = [...options.clientKeys].map(([key, owner]) => ({ hash: digest(key), owner }));
    this.enabled = this.secret !== undefined || this.keys.length > 0;
    this.clockTolerance = options.clockToleranceSeconds ?? 5;
    this.maxLifetimeSeconds = options.maxLifetimeSeconds ?? Number.POSITIVE_INFINITY;
    this.now = options.now ?? Date.now;
  }

  /** Reads `Authorization: Bearer <token>`; AuthError('missing') without one. */
  async fromHeader(header: string | undefined): Promise<Principal> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) throw new AuthError(header ? 'invalid' : 'missing');
    return this.verify(match[1]!);
  }

  async verify(token: string): Promise<Principal> {
    const presented = digest(token);
    let owner: string | undefined;
    // Every key is compared, so timing does not tell how many or which matched.
    for (const key of this.keys) if (timingSafeEqual(key.hash, presented)) owner = key.owner;
    if (owner !== undefined) return { sub: owner, admin: false, runs: new Set(), expiresAtMs: undefined };
    if (!this.secret || token.split('.').length !== 3) throw new AuthError('invalid');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], clockTolerance: this.clockTolerance, requiredClaims: ['sub', 'exp'] }));
    } catch (error) {
      throw new AuthError(error instanceof joseErrors.JWTExpired ? 'expired' : 'invalid');
    }
    const { sub, exp, runs, admin } = payload;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256 || typeof exp !== 'number') throw new AuthError('invalid');
    if (exp - this.now() / 1000 > this.maxLifetimeSeconds + this.clockTolerance) throw new AuthError('invalid');
    if (admin !== undefined && typeof admin !== 'boolean') throw new AuthError('invalid');
    if (runs !== undefined && (!Array.isArray(runs) || runs.length > MAX_RUNS_CLAIM || !runs.every((id) => typeof id === 'string' && ID_PATTERN.test(id)))) {
      throw new AuthError('invalid');
    }
    return { sub, admin: admin === true, runs: new Set((runs as string[] | undefined) ?? []), expiresAtMs: (exp + this.clockTolerance) * 1000 };
  }
}
