import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { type Authenticator } from '../auth/authenticator.js';
import { AuthError, LookupBudgetError } from '../errors.js';
import { canRead, mayLookUpstream, type Principal } from '../auth/principal.js';
import type { RunBus } from '../bus/run-bus.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { Run } from '../runs/run.js';
import { type RunLookup } from '../tracking/run-lookup.js';
import type { RunStore } from '../store/run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { TokenBucket } from '../util/token-bucket.js';
import { ProtocolError, parseClientMessage, type ClientMessage, type SubscriptionTarget } from './client-message.js';
import { WsAdmission, isRefusal, ownerKey } from './ws-admission.js';
import { WsConnection, runFrame } from './ws-connection.js';

/** How many of a subscribed flow's newest runs a resync rereads. */
const RESYNC_FLOW_RUNS = 100;
/** Clock skew allowed between instances when deciding which runs may have changed unseen. */
const RESYNC_SKEW_MS = 5000;

export interface WsHubOptions {
  path: string;
  maxPayloadBytes: number;
  maxSubscriptions: number;
  maxBufferedBytes: number;
  pingIntervalMs: number;
  lookupsPerConnectionPerMinute: number;
  /** Browser origins allowed besides the gateway's own; empty = any origin. */
  allowedOrigins: readonly string[];
  /** Open connections per owner (or per IP until a connection authenticates). */
  maxConnectionsPerClient: number;
  /** With auth on, a connection with no valid token by then is closed. */
  authTimeoutMs: number;
}

/** Close code for authentication failures (RFC 6455: policy violation). */
const CLOSE_POLICY = 1008;
/** Frames a peer may send while its auth frame is being verified. */
const MAX_QUEUED_FRAMES = 100;

/**
 * The WebSocket endpoint (contract section 3). Subscriptions are indexed by run and by flow, so
 * a change reaches exactly the peers that asked for it; the change is serialised once and the
 * same bytes go to each of them.
 */
export class WsHub {
  private readonly server: WebSocketServer;
  private readonly connections = new Set<WsConnection>();
  private readonly byRun = new Map<string, Set<WsConnection>>();
  private readonly byFlow = new Map<string, Set<WsConnection>>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly unsubscribeBus: () => void;
  private readonly unsubscribeResync: () => void;
  private subscriptions = 0;
  private readonly admission: WsAdmission;
  /** When the last change arrived from the bus: what a bus outage hid was written after it. */
  private lastChangeAtMs = Date.now();

  constructor(
    private readonly deps: { bus: RunBus; store: RunStore; lookup: RunLookup; metrics: GatewayMetrics; logger: Logger; authenticator: Authenticator },
    private readonly options: WsHubOptions,
  ) {
    this.admission = new WsAdmission(deps.authenticator, options);
    this.server = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, clientTracking: false });
    this.unsubscribeBus = deps.bus.subscribe((record) => this.onChange(record));
    this.unsubscribeResync = deps.bus.onResync(() => {
      this.resync().catch((error: unknown) => deps.logger.error({ err: error }, 'resync after a bus outage failed'));
    });
    this.heartbeat = setInterval(() => this.checkAlive(), options.pingIntervalMs);
    this.heartbeat.unref();
  }

  /** Routes HTTP upgrades to the hub; those the admission refuses get a plain HTTP status. */
  attach(httpServer: Server): void {
    httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Node drops the HTTP server's error listener at upgrade and ws adds its own only inside
      // handleUpgrade: a reset in between would be an unhandled 'error' that ends the process.
      socket.on('error', () => socket.destroy());
      this.admission.admit(req).then(
        (verdict) => {
          if (isRefusal(verdict)) return refuse(socket, verdict.status, verdict.reason);
          if (socket.destroyed) return;
          this.server.handleUpgrade(req, socket, head, (ws) => this.accept(ws, verdict.principal, verdict.clientKey));
        },
        (error: unknown) => {
          this.deps.logger.error({ err: error }, 'WebSocket upgrade failed');
          socket.destroy();
        },
      );
    });
  }

  /** Closes every peer with 1001 (going away) and stops listening to the bus. */
  close(): Promise<void> {
    this.unsubscribeBus();
    this.unsubscribeResync();
    clearInterval(this.heartbeat);
    for (const connection of this.connections) connection.close(1001, 'server shutting down');
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(ws: WebSocket, principal: Principal | undefined, clientKey: string): void {
    const connection = new WsConnection(
      ws,
      new TokenBucket(this.options.lookupsPerConnectionPerMinute, 60_000),
      this.options.maxBufferedBytes,
      this.deps.metrics,
    );
    connection.clientKey = clientKey;
    this.admission.add(clientKey);
    if (principal) connection.authenticate(principal);
    else if (this.deps.authenticator.enabled) {
      connection.setAuthDeadline(this.options.authTimeoutMs, () => connection.close(CLOSE_POLICY, 'authentication required'));
    }
    this.connections.add(connection);
    this.deps.metrics.wsConnections.set(this.connections.size);
    ws.on('pong', () => (connection.alive = true));
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(connection, data, isBinary));
    ws.on('error', (error) => this.deps.logger.debug({ err: error }, 'websocket error'));
    ws.on('close', () => this.drop(connection));
  }

  private onMessage(connection: WsConnection, data: RawData, isBinary: boolean): void {
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
    // Frames that follow an auth frame wait for its verification, in order.
    if (connection.authPending) {
      if (connection.queuedFrames.length >= MAX_QUEUED_FRAMES) connection.sendError('limit_exceeded', 'too many frames while authenticating');
      else connection.queuedFrames.push(message);
      return;
    }
    this.handle(connection, message);
  }

  private handle(connection: WsConnection, message: ClientMessage): void {
    if (!this.isLive(connection)) return;
    if (message.op === 'auth') {
      connection.authPending = true;
      void this.authenticate(connection, message.token).finally(() => {
        connection.authPending = false;
        const queued = connection.queuedFrames.splice(0);
        for (const [index, next] of queued.entries()) {
          if (connection.authPending) {
            connection.queuedFrames.push(...queued.slice(index));
            break;
          }
          this.handle(connection, next);
        }
      });
      return;
    }
    if (this.deps.authenticator.enabled && !connection.principal) {
      connection.sendError('unauthorized', 'authenticate first: send {"op":"auth","token":"…"} or an Authorization header');
      connection.close(CLOSE_POLICY, 'authentication required');
      return;
    }
    switch (message.op) {
      case 'subscribe':
        if (message.target.kind === 'flow') this.subscribeFlow(connection, message.target.flowId);
        else {
          for (const id of message.target.runIds) {
            this.subscribeRun(connection, id, message.since).catch((error: unknown) => {
              this.deps.logger.error({ err: error, runId: id }, 'subscribing failed');
              if (this.isLive(connection)) connection.sendError('unavailable', 'the subscription could not be set up just now; try again', id);
            });
          }
        }
        return;
      case 'unsubscribe':
        this.unsubscribe(connection, message.target);
        return;
    }
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
    if (!this.isLive(connection)) return;
    if (connection.principal && connection.principal.sub !== principal.sub) {
      connection.sendError('forbidden', 'a connection cannot change owner; open a new one');
      return;
    }
    if (!connection.principal) {
      // From now on the connection counts against its owner, no longer its IP.
      this.admission.release(connection.clientKey);
      connection.clientKey = ownerKey(principal);
      this.admission.add(connection.clientKey);
    }
    connection.authenticate(principal);
  }

  /** Still connected and not yet dropped: async steps check this before touching any index. */
  private isLive(connection: WsConnection): boolean {
    return this.connections.has(connection);
  }

  private subscribeFlow(connection: WsConnection, flowId: string): void {
    if (!this.isLive(connection)) return;
    if (flowId === '*' && connection.principal && !connection.principal.admin) {
      connection.sendError('forbidden', 'only admins may subscribe to every flow');
      return;
    }
    if (!connection.flows.has(flowId)) {
      if (connection.subscriptionCount >= this.options.maxSubscriptions) {
        connection.sendError('limit_exceeded', `at most ${this.options.maxSubscriptions} subscriptions per connection`);
        return;
      }
      connection.flows.add(flowId);
      addTo(this.byFlow, flowId, connection);
      this.countSubscriptions(1);
    }
    connection.sendControl({ type: 'subscribed', flowId });
  }

  private async subscribeRun(connection: WsConnection, runId: string, since: number | undefined): Promise<void> {
    const principal = connection.principal;
    // Someone else's run and an unknown one look alike, and neither causes an upstream call.
    if (!mayLookUpstream(principal, runId)) {
      const local = await this.deps.lookup.findLocal(runId);
      if (!this.isLive(connection)) return;
      if (!canRead(principal, runId, local)) {
        connection.sendError('forbidden', 'this token may not read this run', runId);
        return;
      }
    }
    if (!this.isLive(connection)) return;
    const already = connection.runs.has(runId);
    if (!already && !connection.pendingRuns.has(runId)) {
      if (connection.subscriptionCount >= this.options.maxSubscriptions) {
        connection.sendError('limit_exceeded', `at most ${this.options.maxSubscriptions} subscriptions per connection`, runId);
        return;
      }
      // Park changes that arrive while the run is looked up, so none falls between the lookup
      // and the confirmation.
      connection.pendingRuns.set(runId, undefined);
      addTo(this.byRun, runId, connection);
      this.countSubscriptions(1);
    }
    let record: RunRecord | undefined;
    try {
      record = await this.deps.lookup.find(runId, { budget: connection.lookupBudget });
    } catch (error) {
      if (!already) this.forgetRun(connection, runId);
      if (error instanceof LookupBudgetError) connection.sendError('limit_exceeded', error.message, runId);
      else {
        this.deps.logger.warn({ err: error, runId }, 'run lookup for a subscriber failed');
        connection.sendError('unavailable', 'Doclo could not be asked about this run just now; try again', runId);
      }
      return;
    }
    if (!this.isLive(connection)) return;
    if (!record) {
      if (!already) this.forgetRun(connection, runId);
      connection.sendError('not_found', `run ${runId} does not exist`, runId);
      return;
    }
    if (!canRead(principal, runId, record)) {
      if (!already) this.forgetRun(connection, runId);
      connection.sendError('forbidden', 'this token may not read this run', runId);
      return;
    }
    const parked = connection.pendingRuns.get(runId);
    if (connection.pendingRuns.delete(runId)) connection.runs.add(runId);
    if (!connection.runs.has(runId)) return; // unsubscribed while the lookup ran
    connection.sendControl({ type: 'subscribed', runId });
    const latest: Run = parked && parked.seq > record.run.seq ? parked : record.run;
    connection.sendRun(latest, since);
  }

  private unsubscribe(connection: WsConnection, target: SubscriptionTarget): void {
    if (target.kind === 'flow') {
      if (connection.flows.delete(target.flowId)) {
        removeFrom(this.byFlow, target.flowId, connection);
        this.countSubscriptions(-1);
      }
      return;
    }
    for (const runId of target.runIds) this.forgetRun(connection, runId);
  }

  private forgetRun(connection: WsConnection, runId: string): void {
    const had = connection.runs.delete(runId) || connection.pendingRuns.delete(runId);
    if (!had) return;
    removeFrom(this.byRun, runId, connection);
    this.countSubscriptions(-1);
  }

  private drop(connection: WsConnection): void {
    if (!this.connections.delete(connection)) return;
    for (const runId of [...connection.runs, ...connection.pendingRuns.keys()]) removeFrom(this.byRun, runId, connection);
    for (const flowId of connection.flows) removeFrom(this.byFlow, flowId, connection);
    this.countSubscriptions(-connection.subscriptionCount);
    this.admission.release(connection.clientKey);
    connection.dispose();
    connection.runs.clear();
    connection.pendingRuns.clear();
    connection.flows.clear();
    this.deps.metrics.wsConnections.set(this.connections.size);
  }

  private onChange(record: RunRecord): void {
    this.lastChangeAtMs = Math.max(this.lastChangeAtMs, Date.now());
    const { run } = record;
    const byRun = this.byRun.get(run.id);
    const byFlow = this.byFlow.get(run.flowId);
    const byAll = this.byFlow.get('*');
    if (!byRun && !byFlow && !byAll) return;
    // Serialised once; a peer in several of these sets gets it once (seq check in offer).
    const frame = runFrame(run);
    if (byRun) for (const connection of byRun) connection.offer(record, frame);
    if (byFlow) for (const connection of byFlow) connection.offer(record, frame);
    if (byAll) for (const connection of byAll) connection.offer(record, frame);
  }

  /**
   * After a bus outage: rereads from the store every run a peer subscribed to by id, and the
   * newest runs of each subscribed flow written since the last change the bus delivered, and
   * offers them like bus changes; each connection's seq check sends only what its peer lacks.
   * Limit: a flow subscription sees at most its flow's RESYNC_FLOW_RUNS newest runs this way.
   */
  async resync(): Promise<void> {
    const sinceMs = this.lastChangeAtMs - RESYNC_SKEW_MS;
    const records = new Map<string, RunRecord>();
    for (const runId of [...this.byRun.keys()]) {
      const record = await this.deps.store.get(runId);
      if (record) records.set(runId, record);
    }
    for (const flowId of [...this.byFlow.keys()]) {
      const page = await this.deps.store.list(flowId === '*' ? { limit: RESYNC_FLOW_RUNS } : { flowId, limit: RESYNC_FLOW_RUNS });
      for (const record of page.records) if (record.updatedAtMs >= sinceMs) records.set(record.run.id, record);
    }
    for (const record of records.values()) this.onChange(record);
    this.deps.logger.info({ runs: records.size }, 'resynchronised subscribers from the store');
  }

  private checkAlive(): void {
    for (const connection of this.connections) {
      if (!connection.alive) {
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      try {
        connection.socket.ping();
      } catch {
        connection.socket.terminate();
      }
    }
  }

  private countSubscriptions(delta: number): void {
    this.subscriptions += delta;
    this.deps.metrics.wsSubscriptions.set(this.subscriptions);
  }
}

/** Answers an upgrade request with a plain HTTP status and closes the socket. */
function refuse(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function addTo(index: Map<string, Set<WsConnection>>, key: string, connection: WsConnection): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(connection);
}

function removeFrom(index: Map<string, Set<WsConnection>>, key: string, connection: WsConnection): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(connection);
  if (set.size === 0) index.delete(key);
}
