import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import type { RunBus } from '../bus/run-bus.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RunRecord } from '../runs/run-record.js';
import type { RunLookup } from '../tracking/run-lookup.js';
import type { FollowedRuns, RunFollower } from '../tracking/resync.js';
import { TokenBucket } from '../util/token-bucket.js';
import { SubscriptionIndex } from './subscription-index.js';
import { WsAdmission, isRefusal } from './ws-admission.js';
import { WsConnection, runFrame } from './ws-connection.js';
import { WsProtocol } from './ws-protocol.js';
import type { TextFrame } from './text-frame.js';
import { WriteTurn } from './write-turn.js';
import type { SentSeqMemoryOptions } from './sent-seq-memory.js';

export interface WsHubOptions {
  /** How long and how many runs each connection remembers having sent (default: SentSeqMemory's). */
  seqMemory?: SentSeqMemoryOptions;
  path: string;
  maxPayloadBytes: number;
  maxSubscriptions: number;
  maxBufferedBytes: number;
  pingIntervalMs: number;
  lookupsPerConnectionPerMinute: number;
  /** The browser-origin rule (contract section 5): a page it refuses gets 403 at upgrade. */
  originAllowed: (req: IncomingMessage) => boolean;
  /** Open connections per owner (or per IP until a connection authenticates). */
  maxConnectionsPerClient: number;
  /** With auth on, a connection with no valid token by then is closed. */
  authTimeoutMs: number;
  /** The clock (epoch ms) for token expiry and lookup budgets; Date.now unless a test fakes it. */
  now?: () => number;
}

export interface WsHubDeps {
  bus: Pick<RunBus, 'subscribe'>;
  lookup: Pick<RunLookup, 'find' | 'findLocalReadable' | 'knownOwner'>;
  metrics: GatewayMetrics;
  logger: Logger;
  authenticator: Pick<Authenticator, 'enabled' | 'verify' | 'fromHeader'>;
}

/**
 * The WebSocket endpoint (contract section 3), as wiring: upgrades go through the admission,
 * accepted sockets become connections, frames go to the protocol, and each bus change reaches,
 * through the subscription index, exactly the peers that follow it — serialised once, the same
 * bytes to each. It also pings peers and cuts those that stop answering.
 */
export class WsHub implements RunFollower {
  private readonly server: WebSocketServer;
  private readonly connections = new Set<WsConnection>();
  private readonly index: SubscriptionIndex<WsConnection>;
  private readonly admission: WsAdmission;
  private readonly protocol: WsProtocol;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly unsubscribeBus: () => void;
  private readonly now: () => number;
  private readonly turn = new WriteTurn();
  /** Makes a connection's lookup budget when it first needs one (shared: no closure per connection). */
  private readonly newLookupBudget: () => TokenBucket;

  constructor(
    private readonly deps: WsHubDeps,
    private readonly options: WsHubOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.newLookupBudget = () => new TokenBucket(options.lookupsPerConnectionPerMinute, 60_000, this.now);
    this.admission = new WsAdmission(deps.authenticator, options);
    this.index = new SubscriptionIndex({ onSizeChange: (size) => deps.metrics.wsSubscriptions.set(size) });
    this.protocol = new WsProtocol(
      { index: this.index, lookup: deps.lookup, authenticator: deps.authenticator, admission: this.admission, logger: deps.logger },
      { maxSubscriptions: options.maxSubscriptions, maxConnectionsPerClient: options.maxConnectionsPerClient },
    );
    // No compression: frames are built once and written to the TCP socket whole (see TextFrame).
    this.server = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, clientTracking: false, perMessageDeflate: false });
    this.unsubscribeBus = deps.bus.subscribe((record) => this.offer(record));
    this.heartbeat = setInterval(() => {
      for (const connection of this.connections) connection.heartbeat();
    }, options.pingIntervalMs);
    this.heartbeat.unref();
  }

  /** Routes HTTP upgrades to the hub; those the admission refuses get a plain HTTP status. */
  attach(httpServer: Server): void {
    httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Node drops the HTTP server's error listener at upgrade and ws adds its own only inside
      // handleUpgrade: a reset in between would be an unhandled 'error' that ends the process.
      // A shared function, removed once ws has its own: a closure here would keep the upgrade
      // request (about 1.4 KB) alive for as long as the connection.
      socket.on('error', destroySocket);
      this.admission.admit(req).then(
        (verdict) => {
          if (isRefusal(verdict)) return refuse(socket, verdict.status, verdict.reason);
          if (socket.destroyed) return;
          this.server.handleUpgrade(req, socket, head, (ws) => {
            socket.off('error', destroySocket);
            this.accept(ws, socket, verdict.principal, verdict.clientKey);
          });
        },
        (error: unknown) => {
          this.deps.logger.error({ err: error }, 'WebSocket upgrade failed');
          socket.destroy();
        },
      );
    });
  }

  /**
   * Offers a change to every peer that follows its run or flow and may read it; each peer's seq
   * memory sends only what it lacks. Bus changes come here, and so do records reread by a resync.
   */
  offer(record: RunRecord): void {
    const { run } = record;
    const writtenAtMs = record.updatedAtMs;
    let frame: TextFrame | undefined;
    let queue: boolean | undefined;
    // Counted here and added once: a change to 10,000 peers is one counter update, not 10,000.
    let sent = 0;
    let dropped = 0;
    this.index.forEachPeer(run, (connection, byId) => {
      if (!connection.mayRead(record)) return;
      // A run whose own subscription is being set up waits for its `subscribed`, even when a
      // flow subscription covers it too: `subscribed` comes before any run message for it.
      if (byId && this.index.park(connection, run)) return;
      const written = connection.offerRun(run, (frame ??= runFrame(run)), writtenAtMs, (queue ??= this.turn.claim()));
      if (written === true) sent++;
      else if (written === false) dropped++;
    });
    if (sent > 0) this.deps.metrics.wsMessagesSent.inc(sent);
    if (dropped > 0) this.deps.metrics.wsMessagesDropped.inc(dropped);
  }

  /**
   * The runs and flows some peer follows, for a resync to reread, and the owners that confirmed
   * subscriptions prove: a peer that is no admin and has no `runs` claim for a run was let
   * subscribe to it only as its owner — which a store that lost the run's record can learn back.
   */
  followed(): FollowedRuns {
    const owners = new Map<string, string>();
    for (const connection of this.connections) {
      const principal = connection.principal;
      if (!principal || principal.admin) continue;
      for (const runId of this.index.confirmedRunIdsOf(connection)) if (!principal.runs.has(runId)) owners.set(runId, principal.sub);
    }
    return { runIds: this.index.runIds(), flowIds: this.index.flowIds(), ...(owners.size > 0 ? { owners } : {}) };
  }

  /** Closes every peer with 1001 (going away) and stops listening to the bus. */
  close(): Promise<void> {
    this.unsubscribeBus();
    clearInterval(this.heartbeat);
    this.turn.flushAll();
    for (const connection of this.connections) connection.close(1001, 'server shutting down');
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(ws: WebSocket, wire: Duplex, principal: Principal | undefined, clientKey: string): void {
    const connection: WsConnection = new WsConnection({
      socket: ws,
      wire,
      turn: this.turn,
      clientKey,
      lookupBudget: this.newLookupBudget,
      maxBufferedBytes: this.options.maxBufferedBytes,
      metrics: this.deps.metrics,
      handle: (message) => this.protocol.handle(connection, message),
      now: this.now,
      ...(this.options.seqMemory ? { seqMemory: this.options.seqMemory } : {}),
      keeps: (runId) => this.index.runState(connection, runId) !== undefined,
    });
    this.admission.add(clientKey);
    if (principal) connection.authenticate(principal);
    else if (this.deps.authenticator.enabled) connection.requireAuthWithin(this.options.authTimeoutMs);
    this.connections.add(connection);
    this.deps.metrics.wsConnections.set(this.connections.size);
    ws.on('pong', () => connection.pong());
    ws.on('message', (data: RawData, isBinary: boolean) => this.protocol.onFrame(connection, data, isBinary));
    ws.on('error', (error) => this.deps.logger.debug({ err: error }, 'websocket error'));
    ws.on('close', () => this.drop(connection));
  }

  /** A peer is gone: its subscriptions, its connection count and its timers go with it. */
  private drop(connection: WsConnection): void {
    if (!this.connections.delete(connection)) return;
    connection.dispose();
    this.index.removePeer(connection);
    this.admission.release(connection.clientKey);
    this.deps.metrics.wsConnections.set(this.connections.size);
  }
}

/** The error listener of a socket between upgrade request and WebSocket (it is `this`). */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/** Answers an upgrade request with a plain HTTP status and closes the socket. */
function refuse(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
