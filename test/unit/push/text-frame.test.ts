import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { jsonFrame, textFrame } from '../../../src/push/text-frame.js';

/** A server whose upgraded TCP sockets the test writes frames to by hand; a real `ws` client reads them. */
async function rawPeer(): Promise<{ wire: Duplex; client: WebSocket; messages: string[]; server: Server }> {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const accepted = new Promise<Duplex>((resolve) => {
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => resolve(socket)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const messages: string[] = [];
  client.on('message', (data, isBinary) => messages.push(isBinary ? 'BINARY' : Buffer.from(data as Buffer).toString('utf8')));
  await once(client, 'open');
  return { wire: await accepted, client, messages, server };
}

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup) step();
  cleanup = [];
});

describe('a text frame built once', () => {
  it('frames 7-bit, 16-bit and 64-bit lengths as a ws client reads them, several in one write', async () => {
    const peer = await rawPeer();
    cleanup.push(() => peer.client.terminate(), () => peer.server.close());
    const small = 'x'.repeat(125);
    const medium = 'é'.repeat(40_000); // 80,000 bytes: past 65,535, the 64-bit length
    const sixteen = 'y'.repeat(126);
    const frames = [textFrame(Buffer.from(small)), textFrame(Buffer.from(medium)), jsonFrame({ type: 'run', seq: 1 }), textFrame(Buffer.from(sixteen))];
    expect(frames.map((f) => f.wire.length - f.payload.length)).toEqual([2, 10, 2, 4]);
    peer.wire.write(frames[0]!.wire);
    peer.wire.write(Buffer.concat(frames.slice(1).map((f) => f.wire)));
    await expect.poll(() => peer.messages.length).toBe(4);
    expect(peer.messages).toEqual([small, medium, '{"type":"run","seq":1}', sixteen]);
  });
});
