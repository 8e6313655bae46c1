// The slice of the WebSocket API the client uses: the browser's own, or `ws` in Node (whose
// event-target interface matches it, with text frames arriving as strings).

/** What the client needs from a WebSocket instance. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error', listener: (event: unknown) => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, `ws`'s, or a test's override. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState of an open socket (the same constant in browsers and in `ws`). */
export const OPEN = 1;

let nodeWebSocket: Promise<WebSocketConstructor> | undefined;

/**
 * The platform's WebSocket. Node 20 has none, so `ws` is imported there, and only when needed.
 * Browser bundlers never take `ws` in, even minifying ones that fold the specifier below into a
 * literal (esbuild does): package.json maps it to nothing for browsers (`"browser": {"ws":
 * false}`). The specifier sits in a variable so that bundlers that do not fold it leave the
 * import to run time. `ws` is an optional peer dependency: where it is missing the socket never
 * opens and waits are answered by the long-poll fallback alone.
 */
export function loadWebSocket(): Promise<WebSocketConstructor> {
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (native) return Promise.resolve(native);
  nodeWebSocket ??= (async () => {
    const specifier = 'ws';
    const module: unknown = await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
    const candidate = (module as { WebSocket?: unknown; default?: unknown }).WebSocket ?? (module as { default?: unknown }).default;
    if (typeof candidate !== 'function') throw new Error("no WebSocket here: install the 'ws' package (Node 20 has no global WebSocket)");
    return candidate as WebSocketConstructor;
  })();
  nodeWebSocket.catch(() => (nodeWebSocket = undefined));
  return nodeWebSocket;
}
