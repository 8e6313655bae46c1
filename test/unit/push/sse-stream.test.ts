import { describe, expect, it } from 'vitest';
import { SseStream, runEvent, sseEvent, type EventSink } from '../../../src/push/sse-stream.js';
import type { Run } from '../../../src/runs/run.js';

class FakeSink implements EventSink {
  readonly written: string[] = [];
  writableLength = 0;
  destroyed = false;
  endedCleanly = false;
  write(chunk: Buffer | string): boolean {
    this.written.push(chunk.toString());
    return true;
  }
  end(): void {
    this.endedCleanly = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

const counter = () => ({ count: 0, inc() { this.count++; } });
const run = (seq: number, status: Run['status'] = 'running'): Run => ({ id: 'exec_1', flowId: 'f', status, seq, source: 'webhook' });

function stream(sink: FakeSink, endsWithRun?: string) {
  const metrics = { sseEventsSent: counter(), sseSlowConsumerCloses: counter() };
  return { metrics, stream: new SseStream({ sink, principal: undefined, maxBufferedBytes: 1024, metrics, ...(endsWithRun ? { endsWithRun } : {}) }) };
}

describe('SseStream', () => {
  it('writes event: run, id: seq and the run as one line of data', () => {
    expect(runEvent({ ...run(3), note: 'a\nb' }).toString()).toBe(`event: run\nid: 3\ndata: ${JSON.stringify({ ...run(3), note: 'a\nb' })}\n\n`);
    expect(runEvent({ ...run(3), note: 'a\nb' }).toString().split('\n')).toHaveLength(5);
  });

  it('sends a run only when its seq is newer, and ends a run stream after the final state', () => {
    const sink = new FakeSink();
    const { stream: s, metrics } = stream(sink, 'exec_1');
    s.sendSnapshot(run(2), 2);
    s.sendRun(run(2));
    s.sendRun(run(3));
    s.sendRun(run(3));
    s.sendRun(run(4, 'success'));
    s.sendRun(run(5, 'success'));
    expect(sink.written.map((text) => /id: (\d+)/.exec(text)?.[1])).toEqual(['3', '4']);
    expect(metrics.sseEventsSent.count).toBe(2);
    expect(sink.endedCleanly).toBe(true);
    expect(s.open).toBe(false);
  });

  it('disconnects a consumer whose unsent bytes would pass the bound, instead of buffering', () => {
    const sink = new FakeSink();
    const { stream: s, metrics } = stream(sink);
    s.sendRun(run(1));
    sink.writableLength = 1000;
    s.sendRun(run(2));
    expect(sink.destroyed).toBe(true);
    expect(metrics.sseSlowConsumerCloses.count).toBe(1);
    s.keepAlive();
    s.sendRun(run(3));
    expect(sink.written).toHaveLength(1);
  });

  it('keeps idle streams alive with a comment line', () => {
    const sink = new FakeSink();
    stream(sink).stream.keepAlive();
    expect(sink.written).toEqual([': keep-alive\n\n']);
  });
});

describe('an SSE event framed once', () => {
  it('is an HTTP/1.1 chunk of the event text: size in hex, CRLF, text, CRLF', () => {
    const text = runEvent(run(7));
    const { chunk } = sseEvent(text);
    const head = `${text.length.toString(16)}\r\n`;
    expect(chunk.toString('latin1', 0, head.length)).toBe(head);
    expect(chunk.subarray(head.length, head.length + text.length).equals(text)).toBe(true);
    expect(chunk.toString('latin1', chunk.length - 2)).toBe('\r\n');
  });

  it('goes to the socket whole only when the response is chunked, its headers are out and it holds nothing', () => {
    const direct: Buffer[] = [];
    const socket = { writable: true, writableLength: 0, write: (chunk: Buffer) => direct.push(chunk) > 0 };
    const sink = Object.assign(new FakeSink(), { socket, headersSent: true, chunkedEncoding: true });
    const { stream: s } = stream(sink);
    s.sendRun(run(1));
    expect(direct).toHaveLength(1);
    expect(sink.written).toHaveLength(0);
    // The response holds bytes of its own (not yet on the socket): through it, to keep the order.
    sink.writableLength = 10;
    s.sendRun(run(2));
    sink.chunkedEncoding = false;
    sink.writableLength = 0;
    s.sendRun(run(3));
    expect(direct).toHaveLength(1);
    expect(sink.written).toHaveLength(2);
  });
});
