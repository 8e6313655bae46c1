import type { RunRecord } from '../runs/run-record.js';

/** Who is calling, once a token or client key has been verified. */
export interface Principal {
  /** The owner: runs this principal starts belong to it. */
  sub: string;
  /** Sees and subscribes to everything, `flowId: "*"` included. */
  admin: boolean;
  /** Run ids this principal may read besides its own (the token's `runs` claim). */
  runs: ReadonlySet<string>;
  /** When the token stops being valid (epoch ms); undefined for client keys. */
  expiresAtMs: number | undefined;
}

/**
 * May `principal` read this run? `undefined` principal means auth is off: everyone may.
 * Someone else's run and a run the gateway does not know look the same from outside (403),
 * so probing ids leaks nothing.
 */
export function canRead(principal: Principal | undefined, runId: string, record: RunRecord | undefined): boolean {
  if (!principal || principal.admin || principal.runs.has(runId)) return true;
  return record !== undefined && record.owner === principal.sub;
}

/**
 * May `principal` change this run (cancel it, retry its deliveries)? Its owner and admins only: a
 * `runs` claim grants reading, nothing more. `undefined` principal means auth is off: everyone may.
 */
export function canWrite(principal: Principal | undefined, record: RunRecord): boolean {
  if (!principal || principal.admin) return true;
  return record.owner !== undefined && record.owner === principal.sub;
}

/**
 * May this principal cause an upstream lookup of a run the gateway does not know? Besides
 * admins and holders of a `runs` claim, the run's owner may, when the gateway still knows it as
 * such (`knownOwner`): a run whose record a shared store lost stays readable by its owner.
 */
export function mayLookUpstream(principal: Principal | undefined, runId: string, knownOwner?: string): boolean {
  return !principal || principal.admin || principal.runs.has(runId) || (knownOwner !== undefined && knownOwner === principal.sub);
}
