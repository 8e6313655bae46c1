import { describe, expect, it } from 'vitest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { textFrame } from '../../../src/push/text-frame.js';
import { WsConnection, type WireSocket } from '../../../src/push/ws-connection.js';
import { WriteTurn } from '../../../src/push/write-turn.js';
import { FakeSocket, fakeMetrics, run } from './fakes.js';

class FakeWire implements WireSocket {
  writable = true;
  readonly writes: Buffer[] = [];
  write(chunk: Buffer): boolean {
    this.writes.push(chunk);
    return true;
  }
}

function wiredConnection(turn: WriteTurn, maxBufferedBytes = 1024 * 1024) {
  const socket = new FakeSocket();
  const wire = new FakeWire();
  const metrics = fakeMetrics();
  const connection = new WsConnection({ socket, wire, turn, clientKey: 'ip:127.0.0.1', lookupBudget: () => { throw new Error('unused'); }, maxBufferedBytes, metrics, handle: () => undefined, now: () => 1_000_000 });
  return { connection, socket, wire, metrics };
}

const frameOf = (id: string, seq: number) => textFrame(Buffer.from(JSON.stringify({ type: 'run', run: { id, seq } })));

describe('the write turn', () => {
  it('writes the first change of a turn at once and the later ones of that turn as one write per peer', async () => {
    const turn = new WriteTurn();
    const peers = [wiredConnection(turn), wiredConnection(turn)];
    const frames = [frameOf('a', 1), frameOf('b', 1), frameOf('c', 1)];
    // Three changes offered in one turn, as the hub does: claim once per change.
    for (const [i, frame] of frames.entries()) {
      const queue = turn.claim();
      for (const peer of peers) peer.connection.sendRun(run(['a', 'b', 'c'][i]!, 1), frame, 1_000_000, queue);
    }
    for (const peer of peers) expect(peer.wire.writes).toEqual([frames[0]!.wire]);
    await nextTurn();
    for (const peer of peers) expect(peer.wire.writes).toEqual([frames[0]!.wire, Buffer.concat([frames[1]!.wire, frames[2]!.wire])]);
    // A new turn: its first change goes out at once again.
    const later = frameOf('d', 1);
    expect(turn.claim()).toBe(false);
    peers[0]!.connection.sendRun(run('d', 1), later, 1_000_000, false);
    expect(peers[0]!.wire.writes.at(-1)).toBe(later.wire);
    await nextTurn();
  });

  it('keeps order: a control frame behind queued frames waits with them; close writes them first', async () => {
    const turn = new WriteTurn();
    const { connection, wire } = wiredConnection(turn);
    turn.claim();
    connection.sendRun(run('a', 1), frameOf('a', 1), 1_000_000, true);
    connection.sendError('bad_request', 'late');
    expect(wire.writes).toHaveLength(0);
    connection.close(1000, 'bye');
    expect(wire.writes).toHaveLength(1);
    const text = wire.writes[0]!.toString('latin1');
    expect(text.indexOf('"id":"a"')).toBeLessThan(text.indexOf('late'));
    await nextTurn();
    expect(wire.writes).toHaveLength(1);
  });

  it('counts queued bytes towards the slow-consumer bound', async () => {
    const turn = new WriteTurn();
    const frame = frameOf('a', 1);
    const { connection, socket, wire, metrics } = wiredConnection(turn, frame.wire.length * 3);
    turn.claim();
    for (let i = 1; i <= 4; i++) connection.sendRun(run(`r${i}`, 1), frame, 1_000_000, true);
    expect(metrics.wsSlowConsumerCloses.value).toBe(1);
    expect(socket.closed?.code).toBe(1013);
    await nextTurn();
    // The three that fitted went before the close; the fourth never.
    expect(wire.writes).toHaveLength(1);
    expect(wire.writes[0]!.length).toBe(frame.wire.length * 3);
  });
});
