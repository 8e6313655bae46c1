/**
 * A WebSocket text message framed once for every peer that gets it: the payload (for a socket
 * that must go through `ws`) and the whole unmasked frame as it goes on the wire (RFC 6455
 * section 5.2: FIN + text opcode, then the length in 7, 7+16 or 7+64 bits), so a broadcast
 * costs one buffer per change instead of a header, an options object and a two-part write per
 * peer. Servers never mask, and the hub's server never negotiates compression.
 */
export interface TextFrame {
  readonly payload: Buffer;
  readonly wire: Buffer;
}

const FIN_TEXT = 0x81;

export function textFrame(payload: Buffer): TextFrame {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const wire = Buffer.allocUnsafe(headerLength + length);
  wire[0] = FIN_TEXT;
  if (length < 126) {
    wire[1] = length;
  } else if (length < 65_536) {
    wire[1] = 126;
    wire.writeUInt16BE(length, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    wire.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(wire, headerLength);
  return { payload, wire };
}

/** A JSON message as a text frame. */
export function jsonFrame(message: unknown): TextFrame {
  return textFrame(Buffer.from(JSON.stringify(message)));
}
