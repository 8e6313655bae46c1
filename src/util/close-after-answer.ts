import type { ServerResponse } from 'node:http';

/**
 * Marks an answer as its connection's last and closes the socket once it is written: for a
 * sender too slow to finish its body, or one refused for want of room, whose remaining bytes
 * are not worth reading.
 */
export function closeAfterAnswer(res: ServerResponse): void {
  res.setHeader('Connection', 'close');
  res.once('finish', () => res.socket?.destroySoon());
}
