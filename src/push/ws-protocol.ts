import type { Logger } from 'pino';
import type { RawData } from 'ws';
import { type Authenticator } from '../auth/authenticator.js';
import { AuthError, LookupBudgetError } from '../errors.js';
import { canRead, mayLookUpstream, type Principal } from '../auth/principal.js';
import type { Run } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import { type RunLookup } from '../tracking/run-lookup.js';
import { ProtocolError, parseClientMessage, type ClientMessage, type SubscriptionTarget } from './client-message.js';
import { EVERY_FLOW, type SubscriptionIndex } from './subscription-index.js';
import { ownerKey, type WsAdmission } from './ws-admission.js';
import { CLOSE_POLICY, type WsConnection } from './ws-connection.js';

export interface WsProtocolDeps {
  index: SubscriptionIndex<WsConnection>;
  lookup: Pick<RunLookup, 'find' | 'findLocalReadable' | 'knownOwner'>;
  authenticator: Pick<Authenticator, 'enabled' | 'verify'>;
  /** Per-client connection counts: a connection moves from its IP to its owner when it authenticates. */
  admission: Pick<WsAdmission, 'move'>;
  logger: Logger;
}

export interface WsProtocolOptions {
  /** Subscriptions (runs and flows) per connection; also the most run ids in one frame. */
  maxSubscriptions: number;
  /** Open connections per owner: an auth frame beyond it closes its connection (1008). */
  maxConnectionsPerClient: number;
}

/**
 * The client side of contract section 3: turns client frames into subscriptions, unsubscriptions
 * and authentication, and answers with `subscribed`, snapshots and error frames. It keeps no
 * state of its own: subscriptions live in the index, everything about a peer in its connection.
 */
export class WsProtocol {
  constructor(
    private readonly deps: WsProtocolDeps,
    private readonly options: WsProtocolOptions,
  ) {}

  /** A raw frame from a peer: parsed (malformed ones get `bad_request`), then queued on its connection. */
  onFrame(connection: WsConnection, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      connection.sendError('bad_request', 'frames must be text');
      return;
    }
    let message: ClientMessage;
    try {
      message = parseClientMessage(rawToString(data), this.options.maxSubscriptions);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      connection.sendError('bad_request', error.message, error.runId);
      return;
    }
    connection.receive(message);
  }

  /**
   * Acts on one frame, in the connection's order. For an auth frame it returns the verification,
   * which holds back the frames after it (see WsConnection.receive); it never rejects.
   */
  handle(connection: WsConnection, message: ClientMessage): Promise<void> | undefined {
    if (!connection.live) return undefined;
    if (message.op === 'auth') {
      return this.authenticate(connection, message.token).catch((error: unknown) => {
        this.deps.logger.error({ err: error }, 'verifying a WebSocket auth frame failed');
      });
    }
    if (this.deps.authenticator.enabled && !connection.principal) {
      connection.sendError('unauthorized', 'authenticate first: send {"op":"auth","token":"…"} or an Authorization header');
      connection.close(CLOSE_POLICY, 'authentication required');
      return undefined;
    }
    if (message.op === 'unsubscribe') {
      this.unsubscribe(connection, message.target);
      return undefined;
    }
    if (message.target.kind === 'flow') {
      this.subscribeFlow(connection, message.target.flowId);
      return undefined;
    }
    for (const runId of message.target.runIds) {
      this.subscribeRun(connection, runId, message.since).catch((error: unknown) => {
        this.deps.logger.error({ err: error, runId }, 'subscribing failed');
        if (connection.live) connection.sendError('unavailable', 'the subscription could not be set up just now; try again', runId);
      });
    }
    return undefined;
  }

  /**
   * `{"op":"auth"}`: the first frame of a client that cannot set headers, or a later token
   * refresh (same owner only). With auth off it is accepted and ignored.
   */
  private async authenticate(connection: WsConnection, token: string): Promise<void> {
    if (!this.deps.authenticator.enabled) return;
    let principal: Principal;
    try {
      principal = await this.deps.authenticator.verify(token);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      connection.sendError('unauthorized', error.message);
      if (!connection.principal) connection.close(CLOSE_POLICY, 'authentication failed');
      return;
    }
    if (!connection.live) return;
    const current = connection.principal;
    if (current && current.sub !== principal.sub) {
      connection.sendError('forbidden', 'a connection cannot change owner; open a new one');
      return;
    }
    if (current) {
      connection.authenticate(principal);
      return;
    }
    // From now on the connection counts against its owner, no longer its IP — if the owner has
    // a connection to spare: the cap holds however a client authenticates (contract section 5).
    const key = ownerKey(principal);
    if (!this.deps.admission.move(connection.clientKey, key)) {
      connection.sendError('limit_exceeded', `at most ${this.options.maxConnectionsPerClient} connections per owner`);
      connection.close(CLOSE_POLICY, 'too many connections for this owner');
      return;
    }
    connection.authenticate(principal, key);
  }

  private subscribeFlow(connection: WsConnection, flowId: string): void {
    const { index } = this.deps;
    if (flowId === EVERY_FLOW && connection.principal && !connection.principal.admin) {
      connection.sendError('forbidden', 'only admins may subscribe to every flow');
      return;
    }
    if (!index.followsFlow(connection, flowId)) {
      if (index.countOf(connection) >= this.options.maxSubscriptions) {
        connection.sendError('limit_exceeded', `at most ${this.options.maxSubscriptions} subscriptions per connection`);
        return;
      }
      index.addFlow(connection, flowId);
    }
    connection.sendControl({ type: 'subscribed', flowId });
  }

  private async subscribeRun(connection: WsConnection, runId: string, since: number | undefined): Promise<void> {
    const { index, lookup } = this.deps;
    const principal = connection.principal;
    // Someone else's run and an unknown one look alike, and neither causes an upstream call.
    if (!mayLookUpstream(principal, runId, lookup.knownOwner(runId))) {
      const local = await lookup.findLocalReadable(runId, (found) => canRead(principal, runId, found));
      if (!connection.live) return;
      if (!canRead(principal, runId, local)) {
        connection.sendError('forbidden', 'this token may not read this run', runId);
        return;
      }
    }
    const already = index.runState(connection, runId) === 'confirmed';
    if (index.runState(connection, runId) === undefined) {
      if (index.countOf(connection) >= this.options.maxSubscriptions) {
        connection.sendError('limit_exceeded', `at most ${this.options.maxSubscriptions} subscriptions per connection`, runId);
        return;
      }
      // Pending: changes that arrive while the run is looked up are parked, so none falls
      // between the lookup and the confirmation, and `subscribed` comes first.
      index.beginRun(connection, runId);
    }
    let record: RunRecord | undefined;
    try {
      record = await lookup.find(runId, { budget: connection.lookupBudget });
    } catch (error) {
      if (!already) index.removeRun(connection, runId);
      if (error instanceof LookupBudgetError) connection.sendError('limit_exceeded', error.message, runId);
      else {
        this.deps.logger.warn({ err: error, runId }, 'run lookup for a subscriber failed');
        connection.sendError('unavailable', 'Doclo could not be asked about this run just now; try again', runId);
      }
      return;
    }
    if (!connection.live) return;
    if (!record) {
      if (!already) index.removeRun(connection, runId);
      connection.sendError('not_found', `run ${runId} does not exist`, runId);
      return;
    }
    if (!canRead(principal, runId, record)) {
      if (!already) index.removeRun(connection, runId);
      connection.sendError('forbidden', 'this token may not read this run', runId);
      return;
    }
    const confirmation = index.confirmRun(connection, runId);
    if (!confirmation) return; // unsubscribed while the lookup ran
    connection.sendControl({ type: 'subscribed', runId });
    const { parked } = confirmation;
    const latest: Run = parked && parked.seq > record.run.seq ? parked : record.run;
    connection.sendSnapshot(latest, since);
  }

  private unsubscribe(connection: WsConnection, target: SubscriptionTarget): void {
    if (target.kind === 'flow') this.deps.index.removeFlow(connection, target.flowId);
    else for (const runId of target.runIds) this.deps.index.removeRun(connection, runId);
  }
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
