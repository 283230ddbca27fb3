// The hot path of the wire codec (the rest is src/protocol/codec.rs, in WASM): each received
// frame is read here once, and sizes are measured here. Field names and class codes must equal
// `protocol::codec::field` and `FrameClass`: a native test checks them.
const KIND = "kind", ROOM = "room", PAYLOAD = "payload", SEQ = "seq", USER = "user", ID = "id", ERROR = "error";
const MSG = "msg", RES = "res";
// The classes, offset by 4 (never negative): TooLarge, Binary, NotObject, NotJson, Envelope, Message,
// RoomMessage, Reply.
const TOO_LARGE = 0, BINARY = 1, NOT_OBJECT = 2, NOT_JSON = 3, ENVELOPE = 4, MESSAGE = 5, ROOM_MESSAGE = 6, REPLY = 7;

/** The frame read last, and the fields the driver reads of it (`h.current`). For a room
 * message, its `seq` and author `user` (undefined when absent or null), and its room. */
export const current: { _frame?: unknown; _payload?: unknown; _user?: unknown; _room?: string; _seq?: unknown } = {};

/** Raw mode's options: [sendOnOpen frames, ping frame, receive is "text", pong predicate]. */
export type RawOptions = [unknown[], unknown, boolean, ((data: unknown) => unknown) | undefined];

/** What `listen` reports: (-1, 0) on open, (-2, code) on close with the reason, and for a frame
 * what the reader returned (never negative) with the room message's seq or the reply's id, or
 * -1 - seq when the room is not the socket's last one. */
export type SocketHandler = (read: number, seq: number, reason?: string) => void;

/** Opens a socket with the client's `WebSocket` class and reads its frames into `current`.
 * The `error` listener matters in Node: the `ws` package throws an `error` event nobody listens
 * to; a `close` event follows it anyway. */
export function openSocket(
  Socket: new (url: string, protocols?: string | string[]) => WebSocket,
  url: string,
  protocols: string | string[] | undefined,
  limit: number,
  raw: RawOptions | undefined,
  handler: SocketHandler,
): WebSocket {
  const ws = protocols === undefined ? new Socket(url) : new Socket(url, protocols);
  ws.binaryType = "arraybuffer";
  ws.onerror = () => {};
  let lastRoom: string | undefined;
  ws.onopen = () => handler(-1, 0);
  ws.onclose = (event) => handler(-2, event.code, event.reason);
  ws.onmessage = ({ data }) => {
    if (raw) return handler(readRaw(data, limit, raw), 0);
    const read = readFrame(data, limit);
    const changed = read % 8 == ROOM_MESSAGE && current._room !== lastRoom;
    if (changed) lastRoom = current._room;
    handler(read, changed ? -1 - (current._seq as number) : (current._seq as number) ?? 0);
  };
  return ws;
}

/** Detaches `ws`'s handlers and closes it if it is still connecting or open. */
export function closeSocket(ws: WebSocket, code: number, reason: string) {
  ws.onopen = ws.onmessage = ws.onclose = null;
  if (ws.readyState < 2) {
    try {
      ws.close(code, reason);
    } catch {
      ws.close();
    }
  }
}

// Reads one received frame: checks it is text, measures it and parses it once. Returns
// size * 8 + class, size in UTF-8 bytes and class one of the constants above: plain and room messages
// are told apart here so their few fields are read directly. A room message is checked as the
// shared codec would (a string room, an integer seq in 0..2^53, a string or no user); one that
// fails is classed Envelope, so the shared codec reads it and reports the field. A frame over
// `limit` bytes is never parsed (a UTF-16 unit is at least one UTF-8 byte, so a long one is
// refused without measuring it; its size is then a lower bound).
function readFrame(data: unknown, limit: number): number {
  current._frame = current._payload = current._seq = current._user = undefined;
  if (typeof data !== "string") return BINARY;
  const size = (data.length > limit ? data.length : utf8Length(data)) * 8;
  if (size > limit * 8) return size + TOO_LARGE;
  let frame: Record<string, unknown>;
  try {
    frame = JSON.parse(data);
  } catch {
    return size + NOT_JSON;
  }
  current._frame = frame;
  if (frame === null || typeof frame !== "object" || Array.isArray(frame)) return size + NOT_OBJECT;
  const kind = frame[KIND];
  current._payload = frame[PAYLOAD];
  if (kind === RES) {
    // A successful reply: its id and payload. Anything else, errors included, goes through
    // the shared codec.
    const id = (current._seq = frame[ID]);
    return size + (frame[ERROR] == null && Number.isSafeInteger(id) && (id as number) >= 0 ? REPLY : ENVELOPE);
  }
  if (kind !== MSG) return size + ENVELOPE;
  const name = frame[ROOM];
  if (name === undefined) return size + MESSAGE;
  const seq = (current._seq = frame[SEQ]);
  const user = (current._user = frame[USER] ?? undefined);
  if (typeof name !== "string" || !Number.isSafeInteger(seq) || (seq as number) < 0 || (user !== undefined && typeof user !== "string"))
    return size + ENVELOPE;
  current._room = name;
  return size + ROOM_MESSAGE;
}

// Raw mode: reads a received frame into `current._frame` (text parsed as JSON unless `receive:
// "text"` or not JSON, when it stays the string; binary as the ArrayBuffer). Returns size * 4 +
// pong, size in bytes, pong the verdict of `heartbeat.pong` on the value (0: no predicate, 1: no,
// 2: yes; a predicate that throws says no). A frame over `limit` bytes is neither parsed nor
// judged (its size may then be a lower bound, as in readFrame).
function readRaw(data: string | ArrayBuffer, limit: number, [, , asText, pong]: RawOptions): number {
  let frame: unknown = data;
  const size = typeof data != "string" ? data.byteLength : data.length > limit ? data.length : utf8Length(data);
  current._frame = frame;
  if (size > limit) return size * 4;
  if (!asText && typeof data == "string") {
    try {
      frame = current._frame = JSON.parse(data);
    } catch {}
  }
  let verdict = 0;
  if (pong) {
    try {
      verdict = pong(frame) ? 2 : 1;
    } catch {
      verdict = 1;
    }
  }
  return size * 4 + verdict;
}

// Any UTF-16 unit that takes more than one UTF-8 byte.
const NON_ASCII = /[^\0-\x7f]/;

/** Size of `text` in UTF-8 bytes (what the socket sends and servers limit), without encoding it.
 * ASCII text, the usual JSON frame, is its length: the native regex scan costs a third less than
 * counting unit by unit (each received frame is measured). */
export function utf8Length(text: string): number {
  if (!NON_ASCII.test(text)) return text.length;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      bytes += 2; // a surrogate pair: 2 units, 4 bytes
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Bytes a frame takes on the wire. */
export const frameSize = (frame: unknown): number =>
  typeof frame == "string" ? utf8Length(frame) : ((frame as ArrayBuffer).byteLength ?? (frame as Blob).size);

/** Encodes a user message (msg, broadcast) in one call; undefined fields are left out. Throws
 * what `JSON.stringify` throws (a BigInt, a cycle). */
export function encodeFrame(kind: string, payload: unknown): string {
  const frame: Record<string, unknown> = { [KIND]: kind };
  if (payload !== undefined) frame[PAYLOAD] = payload;
  return JSON.stringify(frame);
}

/** Raw mode: `data` as the frame `send` puts on the wire: a string as it is, an ArrayBuffer,
 * typed array, DataView or Blob as a binary frame, anything else JSON-stringified. Throws when
 * that has no JSON form (undefined, a function, a BigInt, a cycle). Binary data is copied, as
 * `WebSocket.send` does: a frame that waits in the queue must not change with the app's buffer. */
export function rawFrame(data: unknown): unknown {
  if (typeof data == "string") return data;
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data)) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  if (typeof Blob != "undefined" && data instanceof Blob) return data;
  const text = JSON.stringify(data);
  if (text === undefined) throw new TypeError("cannot send " + typeof data);
  return text;
}
