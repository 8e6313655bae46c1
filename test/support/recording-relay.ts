import { request, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** One text frame that crossed the relay, and which way. */
export interface RelayedFrame {
  from: 'client' | 'gateway';
  text: string;
}

/** A close code a peer may send (1005 and 1006 are only ever reported, never sent). */
function sendableCloseCode(code: number): number {
  return (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999) ? code : 1000;
}

/**
 * A transparent relay in front of a gateway, on port 0: plain HTTP is passed through as it is,
 * WebSocket connections are bridged frame by frame and every text frame is recorded on the way.
 * It lets a test see exactly what a client sent, at the server side of the wire, without
 * reaching into the client.
 */
export class RecordingRelay {
  readonly frames: RelayedFrame[] = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true });

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {
    server.on('request', (req: IncomingMessage, res) => {
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      this.wss.handleUpgrade(req, socket, head, (client) => this.bridge(client, req.url ?? '/ws'));
    });
  }

  /** Starts a relay to the gateway at `targetUrl` (`http://host:port`). */
  static async start(targetUrl: string): Promise<RecordingRelay> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new RecordingRelay(server, new URL(targetUrl));
  }

  /** The relay's base URL, to give a client instead of the gateway's. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The frames one side sent, parsed. */
  sentBy(from: RelayedFrame['from']): unknown[] {
    return this.frames.filter((frame) => frame.from === from).map((frame) => JSON.parse(frame.text) as unknown);
  }

  /** Cuts every bridged connection, as a network failure would (the client sees 1006). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.terminate();
  }

  async close(): Promise<void> {
    this.dropConnections();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private bridge(client: WebSocket, path: string): void {
    const gateway = new WebSocket(new URL(path, `ws://${this.target.host}`));
    const early: Array<{ data: RawData; isBinary: boolean }> = [];
    for (const socket of [client, gateway]) {
      this.sockets.add(socket);
      socket.on('error', () => socket.terminate());
    }
    client.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.frames.push({ from: 'client', text: rawText(data) });
      if (gateway.readyState === WebSocket.OPEN) gateway.send(data, { binary: isBinary });
      else early.push({ data, isBinary });
    });
    gateway.on('open', () => {
      for (const frame of early.splice(0)) gateway.send(frame.data, { binary: frame.isBinary });
    });
    gateway.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.frames.push({ from: 'gateway', text: rawText(data) });
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
    const closeOther = (other: WebSocket) => (code: number, reason: Buffer) => {
      if (other.readyState === WebSocket.OPEN) other.close(sendableCloseCode(code), reason);
      else if (other.readyState === WebSocket.CONNECTING) other.terminate();
    };
    client.on('close', closeOther(gateway));
    gateway.on('close', closeOther(client));
    client.on('close', () => this.sockets.delete(client));
    gateway.on('close', () => this.sockets.delete(gateway));
  }
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
