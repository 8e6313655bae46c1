import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the receiver answers one request. */
export type ReceiverAnswer = { status: number; headers?: Record<string, string> } | 'hang';

/** One request the receiver got. */
export interface ReceivedWebhook {
  at: number;
  headers: IncomingHttpHeaders;
  raw: string;
  body: { event: string; timestamp: string; data: { id: string; status: string; [field: string]: unknown } };
  /** Whether X-Doclo-Signature verified with the receiver's own HMAC code. */
  verified: boolean;
  path: string;
  /** The status it was answered with (undefined: the receiver hung). */
  answered?: number;
}

/**
 * A caller's webhook receiver on 127.0.0.1, port 0: verifies `X-Doclo-Signature` with its own
 * HMAC code (not the gateway's), records every request, and answers as scripted (then 200).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly script: ReceiverAnswer[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    private readonly secret: string,
  ) {}

  static async start(secret: string, port = 0): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server, secret);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => receiver.onRequest(req.headers, req.url ?? '/', Buffer.concat(chunks), res));
    });
    server.on('connection', (socket) => {
      receiver.sockets.add(socket);
      socket.on('close', () => receiver.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/hooks/doclo'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** While set, every request is answered with this status (a receiver that is down behind its proxy). */
  downStatus: number | undefined;

  /** The next answers, in order; after them every request gets 200. */
  answer(...answers: ReceiverAnswer[]): void {
    this.script.push(...answers);
  }

  /** Requests for one run. */
  forRun(runId: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.body.data.id === runId);
  }

  private onRequest(headers: IncomingHttpHeaders, path: string, raw: Buffer, res: ServerResponse): void {
    const expected = `sha256=${createHmac('sha256', this.secret).update(raw).digest('hex')}`;
    const given = String(headers['x-doclo-signature'] ?? '');
    const verified = given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
    const answer = this.downStatus !== undefined ? { status: this.downStatus } : (this.script.shift() ?? { status: 200 });
    this.received.push({
      at: Date.now(), headers, raw: raw.toString(), body: JSON.parse(raw.toString()) as ReceivedWebhook['body'], verified, path,
      ...(answer === 'hang' ? {} : { answered: answer.status }),
    });
    if (answer === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(answer.status, answer.headers).end('ok');
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
