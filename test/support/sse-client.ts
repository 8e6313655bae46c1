/** One event (or comment) as an EventSource would parse it. */
export interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
  retry?: string;
}

/**
 * A small Server-Sent Events reader over fetch for tests: records every event and comment in
 * order, parsed as the WHATWG spec says (fields up to the blank line), and whether the server
 * ended the stream.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  ended = false;
  private readonly controller = new AbortController();
  private readonly done: Promise<void>;

  private constructor(readonly response: Response) {
    this.done = this.read().catch(() => undefined);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    const client = new SseClient(response);
    client.controller.signal.addEventListener('abort', () => controller.abort());
    return client;
  }

  /** The `run` events' data, parsed. */
  runs(): Array<Record<string, any>> {
    return this.events.filter((e) => e.event === 'run').map((e) => JSON.parse(e.data ?? 'null') as Record<string, any>);
  }

  async waitFor(match: (event: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Resolves when the server has ended the stream. */
  async waitEnded(timeoutMs = 10_000): Promise<void> {
    await Promise.race([this.done, new Promise((_resolve, reject) => setTimeout(() => reject(new Error('stream did not end')), timeoutMs).unref())]);
  }

  close(): Promise<void> {
    this.controller.abort();
    return this.done;
  }

  private async read(): Promise<void> {
    if (!this.response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let current: SseEvent = {};
    const reader = this.response.body.getReader();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      buffer += decoder.decode(chunk.value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
        if (line === '') {
          if (Object.keys(current).length > 0) this.events.push(current);
          current = {};
        } else if (line.startsWith(':')) {
          this.events.push({ comment: line.slice(1).trim() });
        } else {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
          else if (field === 'event' || field === 'id' || field === 'retry') current[field] = value;
        }
      }
    }
    this.ended = true;
  }
}
