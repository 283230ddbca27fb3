// JS-side helpers of the browser driver: the listener registry and frame encoders. They live in
// JS so one WASM -> JS call does the work (dispatching to many listeners, or building and
// stringifying a frame whose payload is already a JS value).

/** Ends every subscription still held by `owner` (see `Emitter.on`). */
export function endAll(owner) {
  for (const off of owner) off();
}

export class Emitter {
  constructor() {
    this.listeners = new Map();
    // Subscriptions to message types ("type:<t>"); payload types are only read when there are any.
    this.typed = 0;
  }

  // `owner` (a Set, optional) holds the subscription while it lasts, so a handle can end what is
  // left in one go (`endAll`) without keeping ended subscriptions alive.
  on(key, listener, owner) {
    let entries = this.listeners.get(key);
    if (!entries) {
      entries = new Set();
      this.listeners.set(key, entries);
    }
    // One entry per subscription, so the same function may subscribe twice and leave once.
    const entry = { listener };
    entries.add(entry);
    const typed = key.startsWith("type:");
    if (typed) this.typed++;
    let active = true;
    const off = () => {
      if (!active) return;
      active = false;
      entries.delete(entry);
      if (typed) this.typed--;
      owner?.delete(off);
    };
    owner?.add(off);
    return off;
  }

  emit(key, value, extra, extra2) {
    const entries = this.listeners.get(key);
    if (!entries) return;
    for (const entry of entries) {
      try {
        entry.listener(value, extra, extra2);
      } catch (err) {
        // A throwing listener must not break the client or starve the others: rethrow later.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  // Delivers a message to `key`'s listeners, then to listeners of its payload's `type`. Room
  // messages come with their `seq` and their author `user` as the server stamped it.
  emitMessage(key, payload, seq, user) {
    this.emit(key, payload, seq, user);
    if (this.typed > 0 && payload !== null && typeof payload === "object" && typeof payload.type === "string") {
      this.emit("type:" + payload.type, payload, seq, user);
    }
  }

  clear() {
    this.listeners.clear();
    this.typed = 0;
  }
}

// The hot path of the wire codec (the rest is `src/protocol/codec.rs`). Field names and class
// codes here must equal `protocol::codec::field` and `FrameClass`: a native test checks them.
const KIND = "kind", ROOM = "room", PAYLOAD = "payload", SEQ = "seq", USER = "user", ID = "id", ERROR = "error";
const MSG = "msg", RES = "res";
const CLASS = { TooLarge: -4, Binary: -3, NotObject: -2, NotJson: -1, Envelope: 0, Message: 1, RoomMessage: 2, Reply: 3 };

// The frame `readFrame` parsed last: the follow-up reads of the same message use it. For a
// room message, also its `seq`, `user` (undefined when absent or null) and room, and whether that
// room differs from the caller's `lastRoom` (the room of its previous room message, kept by each
// socket's handler), so a room name is copied into WASM only when it changes.
let frame, seq, user, room, roomChanged;

// Attaches `ws`'s handlers, which all call the driver's one `handler(a, b)` with numbers: (-1, 0)
// on open, (-2, code) on close (the reason then in `frame`, read with `currentFrame`), and for
// a received frame what the reader returned (never negative) and, after readFrame, the room
// message's seq or the reply's id, or -1 - seq when the room is not the socket's last one (then
// read with `currentRoom`). Each frame is read here (`readFrame`, or `readRaw` with `raw`, raw
// mode's options): its text never crosses into WASM, its value is read later with
// `currentPayload` etc.
export function listen(ws, limit, raw, handler) {
  let lastRoom;
  ws.onopen = () => handler(-1, 0);
  ws.onclose = (event) => {
    frame = event.reason;
    handler(-2, event.code);
  };
  ws.onmessage = ({ data }) => {
    if (raw) return handler(readRaw(data, limit, raw), 0);
    const read = readFrame(data, limit, lastRoom);
    if (roomChanged) lastRoom = room;
    handler(read, roomChanged ? -1 - seq : seq);
  };
}

// Reads one received frame in one call on the hot path: checks it is text, measures it and
// parses it once. Returns size * 8 + class + 4, where size is in UTF-8 bytes and class is one of
// `CLASS`: plain and room messages are told apart here so their few fields are read directly.
// A room message is checked here as the shared codec would (a string room, an integer seq in
// 0..2^53, a string or no user); one that fails is classed Envelope, so the shared codec reads
// it and reports the field. A frame over `limit` bytes is never parsed (a UTF-16 unit is at
// least one UTF-8 byte, so a long one is refused without measuring it; its size is then a lower
// bound).
function readFrame(data, limit, lastRoom) {
  frame = seq = user = undefined;
  roomChanged = false;
  if (typeof data !== "string") return CLASS.Binary + 4;
  const size = (data.length > limit ? data.length : utf8Length(data)) * 8;
  if (size > limit * 8) return size + CLASS.TooLarge + 4;
  try {
    frame = JSON.parse(data);
  } catch {
    return size + CLASS.NotJson + 4;
  }
  if (frame === null || typeof frame !== "object" || Array.isArray(frame)) return size + CLASS.NotObject + 4;
  const kind = frame[KIND];
  if (kind === RES) {
    // A successful reply: its id (in `seq`, handed to the driver by `listen`) and payload.
    // Anything else, errors included, goes through the shared codec.
    seq = frame[ID];
    return size + 4 + (frame[ERROR] == null && Number.isSafeInteger(seq) && seq >= 0 ? CLASS.Reply : CLASS.Envelope);
  }
  if (kind !== MSG) return size + CLASS.Envelope + 4;
  const name = frame[ROOM];
  if (name === undefined) return size + 4 + CLASS.Message;
  seq = frame[SEQ];
  user = frame[USER] ?? undefined;
  if (typeof name !== "string" || !Number.isSafeInteger(seq) || seq < 0 || (user !== undefined && typeof user !== "string"))
    return size + CLASS.Envelope + 4;
  roomChanged = name !== lastRoom;
  room = name;
  return size + 4 + CLASS.RoomMessage;
}

export const currentRoom = () => room;
export const currentUser = () => user;

// Delivers the message readFrame read last to `key`'s listeners (see `emitMessage`).
export const emitCurrent = (emitter, key) => emitter.emitMessage(key, frame[PAYLOAD], seq, user);

export const currentFrame = () => frame;

// Raw mode: reads a received frame into `frame` (text parsed as JSON unless `receive: "text"`
// or not JSON, when it stays the string; binary as the ArrayBuffer). Returns size * 4 + pong,
// size in bytes, pong the verdict of `heartbeat.pong` on the value (0: no predicate, 1: no, 2:
// yes; a predicate that throws says no). A frame over `limit` bytes is neither parsed nor judged
// (its size may then be a lower bound, as in readFrame). `raw` is what `rawOptions` returned.
function readRaw(data, limit, [, , asText, pong]) {
  frame = data;
  const size = typeof data != "string" ? data.byteLength : data.length > limit ? data.length : utf8Length(data);
  if (size > limit) return size * 4;
  if (!asText && typeof data == "string") {
    try {
      frame = JSON.parse(data);
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

// The numeric options of `ClientOptions` by object, each with its default (`Config::default()`;
// -1: none), in the order `clientOptions` writes them (checked natively against both).
const NUMBERS = {
  options: { connectTimeoutMs: 10000, maxMessageBytes: 1048576, maxInboundBytes: 4194304, maxBufferedBytes: 1048576, seed: -1 },
  reconnect: { initialDelayMs: 500, maxDelayMs: 30000, factor: 2, jitter: 0.5, stableAfterMs: 5000, maxAttempts: -1 },
  queue: { maxMessages: 1000, maxBytes: 1048576 },
  heartbeat: { intervalMs: 15000, timeoutMs: 10000 },
};
// The other keys each object takes.
const OTHER_KEYS = {
  options: ["reconnect", "queue", "heartbeat", "user", "origin", "autoConnect", "token", "WebSocket", "mode", "receive", "sendOnOpen", "protocols", "pageLifecycle"],
  reconnect: [],
  queue: ["overflow"],
  heartbeat: ["ping", "pong"],
};

// A ResocketError, as `to_js::named_error` makes it.
const resocketError = (code, message) => Object.assign(new Error(message), { name: "ResocketError", code });

// Runs `read`, turning a thrown message into the InvalidOptions error.
function invalidOptions(read) {
  try {
    return read();
  } catch (error) {
    throw typeof error == "string" ? resocketError("InvalidOptions", error) : error;
  }
}

// An options object (`path` names it in messages); undefined and null stand for {}. Throws the
// InvalidOptions message for anything else that is not an object, or a key not in `known`.
function checked(path, object, known) {
  if (object == null) return {};
  if (typeof object != "object") throw path + " must be an object";
  const unknown = Object.keys(object).find((key) => !known.includes(key));
  if (unknown !== undefined) throw "unknown option " + path + "." + unknown;
  return object;
}

// `object[key]`, undefined when absent or null, else a finite number and, if `whole`, an
// integer in [0, 2^53); throws the InvalidOptions message.
function number(path, object, key, whole = true) {
  const value = object[key] ?? undefined;
  if (value !== undefined && !Number.isFinite(value)) throw path + "." + key + " must be a finite number";
  if (value !== undefined && whole && !(value >= 0 && Number.isSafeInteger(value))) throw path + "." + key + " must be a non-negative integer";
  return value;
}

// `client.request`'s options: [timeoutMs (undefined: the default, null: none), onDisconnect is
// "fail", signal]. Throws the InvalidOptions error.
export const requestOptions = (options) =>
  invalidOptions(() => {
    const object = checked("request options", options, ["timeoutMs", "signal", "onDisconnect"]);
    const timeout = object.timeoutMs === null ? null : number("request options", object, "timeoutMs");
    const policy = object.onDisconnect ?? "retry";
    if (policy !== "retry" && policy !== "fail") throw 'onDisconnect must be "retry" or "fail"';
    return [timeout, policy == "fail", object.signal ?? undefined];
  });

// The keys of `JoinOptions` (checked natively against contract.d.ts).
const JOIN_KEYS = ["meta", "history"];

// `client.join`'s options: [meta as JSON text (the core keeps it for rejoins), history], each
// undefined when not given. Throws the InvalidOptions error.
export const joinOptions = (options) =>
  invalidOptions(() => {
    const object = checked("join options", options, JOIN_KEYS);
    let meta;
    if (object.meta != null) {
      try {
        meta = JSON.stringify(object.meta);
      } catch {}
      if (meta === undefined) throw "join options.meta must be JSON-serialisable";
    }
    return [meta, number("join options", object, "history")];
  });

// `client.doc(name, options)`'s storage key: `persist: true` saves under "resocket:doc:<name>",
// a string is the key; undefined: not saved. Throws the InvalidOptions error.
export const docStorageKey = (name, options) =>
  invalidOptions(() => {
    const { persist } = checked("doc options", options, ["persist"]);
    if (persist == null || persist === false) return;
    if (persist === true) return "resocket:doc:" + name;
    if (typeof persist != "string") throw "persist must be a boolean or a storage key";
    return persist;
  });

// `new Client(url, options)`'s arguments, read and checked here rather than in WASM (smaller):
// every rule of `Config::validate` too, with its message. Fills `out` (Float64Array(18)) with
// connectTimeoutMs, maxMessageBytes, maxInboundBytes, maxBufferedBytes, seed (random if not
// given), autoConnect,
// pageLifecycle, the six `reconnect` numbers, queue.maxMessages, queue.maxBytes, queue.overflow
// (1: dropOldest), heartbeat.intervalMs and timeoutMs, as `js_values::client_options` reads them
// (absent: the default; -1: none), and returns [urls (see `socketUrls`), WebSocket class,
// protocols, raw options (see `rawOptions`), token function, static token, user, origin].
// Throws a ResocketError: InvalidOptions, or NoWebSocket without any WebSocket class.
export function clientOptions(url, options, out) {
  let n = 0;
  const object = (name, given) => checked(name, given, [...Object.keys(NUMBERS[name]), ...OTHER_KEYS[name]]);
  const numbers = (name, given) => {
    for (const [key, fallback] of Object.entries(NUMBERS[name]))
      out[n++] = number(name, given, key, key != "factor" && key != "jitter") ?? fallback;
  };
  const optional = (key, type, what = "a " + type) => {
    const value = top[key];
    if (value != null && typeof value != type) throw "options." + key + " must be " + what;
    return value ?? undefined;
  };
  let top;
  return invalidOptions(() => {
    const urls = socketUrls(url);
    top = object("options", options);
    const raw = rawOptions(top);
    const token = top.token;
    if (token != null && typeof token != "function") optional("token", "string", "a string or a function");
    const [origin, user] = [optional("origin", "string"), optional("user", "string")];
    numbers("options", top);
    // Without the `seed` option, a random one: jitter needs spread, not secrecy.
    if (out[4] < 0) out[4] = Math.floor(Math.random() * 2 ** 53);
    for (const key of ["autoConnect", "pageLifecycle"]) out[n++] = optional(key, "boolean") ?? true;
    numbers("reconnect", object("reconnect", top.reconnect));
    const queue = object("queue", top.queue);
    numbers("queue", queue);
    const overflow = queue.overflow ?? "reject";
    if (overflow !== "reject" && overflow !== "dropOldest") throw 'queue.overflow must be "reject" or "dropOldest"';
    out[n++] = overflow == "dropOldest";
    numbers("heartbeat", object("heartbeat", top.heartbeat));
    const Socket = top.WebSocket ?? globalThis.WebSocket;
    if (typeof Socket != "function") {
      if (top.WebSocket != null) throw "options.WebSocket must be a class";
      throw resocketError("NoWebSocket", "no WebSocket: pass options.WebSocket");
    }
    // `Config::validate`'s rules, in its order.
    const [timeout, messageBytes, inboundBytes, bufferedBytes, , , , initial, maxDelay, factor, jitter, , , queued, queueBytes, , interval, pongTimeout] = out;
    if (factor < 1) throw "reconnect.factor must be a finite number >= 1";
    if (!(jitter >= 0 && jitter <= 1)) throw "reconnect.jitter must be within [0, 1]";
    if (maxDelay < initial) throw `reconnect.maxDelayMs (${maxDelay}) must be >= reconnect.initialDelayMs (${initial})`;
    const zero = { "queue.maxMessages": queued, "queue.maxBytes": queueBytes, maxMessageBytes: messageBytes, maxInboundBytes: inboundBytes, maxBufferedBytes: bufferedBytes, connectTimeoutMs: timeout };
    for (const name in zero) if (zero[name] == 0) throw name + " must be greater than 0";
    if (!urls.length) throw "the url list is empty";
    if (interval > 0 && pongTimeout == 0) throw "heartbeat.timeoutMs must be greater than 0";
    if (raw && token != null) throw "token is not available in raw mode";
    const fetch = typeof token == "function";
    return [urls, Socket, top.protocols ?? undefined, raw, fetch ? token : undefined, fetch ? undefined : token ?? undefined, user, origin];
  });
}

// Raw mode's options (part of `clientOptions`): undefined in resocket mode, else [sendOnOpen
// frames, ping frame, receive is "text", pong predicate]. Throws the InvalidOptions message.
// `protocols` is checked in both modes.
function rawOptions({ mode, receive, sendOnOpen, protocols, heartbeat }) {
  const { ping, pong } = heartbeat ?? {};
  const list = typeof protocols == "string" ? [protocols] : protocols ?? [];
  if (!Array.isArray(list) || list.some((p) => typeof p != "string")) throw "options.protocols must be a string or an array of strings";
  if ((mode ?? "resocket") == "resocket") {
    if ((receive ?? sendOnOpen ?? ping ?? pong) != null) throw 'receive, sendOnOpen, heartbeat.ping and heartbeat.pong need mode: "raw"';
    return;
  }
  if (mode != "raw") throw 'options.mode must be "resocket" or "raw"';
  if (receive != null && receive != "json" && receive != "text") throw 'options.receive must be "json" or "text"';
  if (pong != null && (typeof pong != "function" || ping == null)) throw "heartbeat.pong must be a function, with heartbeat.ping";
  return [rawFrames(sendOnOpen ?? []), ping == null ? undefined : rawFrames([ping])[0], receive == "text", pong];
}

// Frames to send on every open, each as `send` would put it on the wire; throws the
// InvalidOptions message.
export function rawFrames(frames) {
  try {
    return frames.map(rawFrame);
  } catch {
    throw "sendOnOpen (and heartbeat.ping) must be an array of frames that can be sent";
  }
}

// Raw mode: `data` as the frame `send` puts on the wire: a string as it is, an ArrayBuffer,
// typed array, DataView or Blob as a binary frame, anything else JSON-stringified. Throws when
// that has no JSON form (undefined, a function, a BigInt, a cycle). Binary data is copied, as
// `WebSocket.send` does: a frame that waits in the queue must not change with the app's buffer.
export function rawFrame(data) {
  if (typeof data == "string") return data;
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data)) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  if (typeof Blob != "undefined" && data instanceof Blob) return data;
  const text = JSON.stringify(data);
  if (text === undefined) throw new TypeError("cannot send " + typeof data);
  return text;
}

// Bytes a frame takes on the wire.
export const frameSize = (frame) => (typeof frame == "string" ? utf8Length(frame) : frame.byteLength ?? frame.size);
export const currentPayload = () => frame[PAYLOAD];

// Any UTF-16 unit that takes more than one UTF-8 byte.
const NON_ASCII = /[^\0-\x7f]/;

// Size of `text` in UTF-8 bytes (what the socket sends and servers limit), without encoding it.
// ASCII text, the usual JSON frame, is its length: the native regex scan costs a third less than
// counting unit by unit (each received frame is measured).
export function utf8Length(text) {
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

// Encodes a user message (msg, broadcast, publish) in one call; undefined fields are left out.
// The payload stays a JS value until here. Other frames go through the shared codec.
export function encodeFrame(kind, room, payload) {
  const frame = { [KIND]: kind };
  if (room !== undefined) frame[ROOM] = room;
  if (payload !== undefined) frame[PAYLOAD] = payload;
  return JSON.stringify(frame);
}

// Sets `key` as an own enumerable property even when it is "__proto__" (an assignment would
// replace the prototype instead) or shadows an inherited setter: keys from data go through here.
export function setKey(object, key, value) {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

// `object[key]` if it is an own property: an inherited one (`__proto__`, `toString`) is not data.
export const ownValue = (object, key) => (Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined);

// A deep copy of a JSON value, so a document never shares objects the app may change later.
export function copyJson(value) {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

// Document persistence in localStorage. Storage can be missing, full or blocked: persistence is
// then skipped rather than breaking the document.
export function saveState(key, state) {
  try {
    globalThis.localStorage?.setItem(key, JSON.stringify(state));
  } catch {
    // best effort
  }
}

export function loadState(key) {
  try {
    const text = globalThis.localStorage?.getItem(key);
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

// Calls the app's token function for the driver. It runs on a microtask, never inside a client
// call, and its outcome goes to `done(id, ok, value)` (value: the token, or the failure's
// message) unless the client was freed meanwhile (`detach`), so a late promise never calls into
// a freed client.
export class TokenFetcher {
  constructor(fn, done) {
    this.fn = fn;
    this.done = done;
  }

  fetch(id) {
    Promise.resolve()
      .then(() => this.fn())
      .then(
        (token) => this.done?.(id, true, token),
        (error) => this.done?.(id, false, String(error?.message ?? error)),
      );
  }

  detach() {
    this.done = null;
  }
}

// Settles nothing itself: calls `listener(id)` when `signal` aborts; returns the detacher.
export function watchAbort(signal, listener, id) {
  const onAbort = () => listener(id);
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}

// `url` as a WebSocket URL: ws:// and wss:// URLs as they are; a relative one (e.g. "/ws")
// resolved against the page's location, http -> ws, https -> wss. Undefined for any other
// scheme, or without a location (Node).
function socketUrl(url) {
  if (/^wss?:\/\//i.test(url)) return url;
  if (/^[a-z][a-z\d+.-]*:/i.test(url)) return;
  try {
    const resolved = new URL(url, globalThis.location?.href);
    resolved.protocol = resolved.protocol.replace(/^http/, "ws");
    return /^wss?:$/.test(resolved.protocol) ? resolved.href : undefined;
  } catch {}
}

// The client's `url` argument, one URL or a list of them, as an array of WebSocket URLs (see
// `socketUrl`; an empty list stays empty, for the core to refuse). Throws the message of the
// `InvalidOptions` error for an entry that cannot be one.
function socketUrls(url) {
  return (Array.isArray(url) ? url : [url]).map((given) => {
    const resolved = typeof given == "string" ? socketUrl(given) : undefined;
    if (resolved === undefined) throw "url must be ws(s):// or relative to the page, got " + String(given);
    return resolved;
  });
}

// Opens a socket with the client's WebSocket class and the `protocols` option (undefined: none).
// The `error` listener matters in Node: the `ws` package throws an `error` event nobody listens
// to; a `close` event follows it anyway.
export function openSocket(Socket, url, protocols) {
  const ws = protocols === undefined ? new Socket(url) : new Socket(url, protocols);
  ws.binaryType = "arraybuffer";
  ws.onerror = () => {};
  return ws;
}

// The page events the core follows, reported as `report(-1 - code)` (the driver's callback
// also takes request ids, which are >= 0) with the codes of `PageEvent::from_code`: 0 online,
// 1 offline, 2 hidden, 3 visible, 4 freeze, 5 resume, 6 pagehide with `persisted` (entering the
// back-forward cache), 7 pageshow with `persisted` (restored from it). Listens only where
// `window`/`document` exist (not in Node), and reports at once what already holds (offline,
// hidden). `detach()` removes every listener, so none calls a freed client.
export class PageWatch {
  constructor(report) {
    const win = globalThis.window, doc = globalThis.document;
    const tell = (code) => report(-1 - code);
    const hidden = () => doc.visibilityState == "hidden";
    this.offs = [];
    const on = (target, type, listener) => {
      if (!target?.addEventListener) return;
      target.addEventListener(type, listener);
      this.offs.push(() => target.removeEventListener(type, listener));
    };
    on(win, "online", () => tell(0));
    on(win, "offline", () => tell(1));
    on(doc, "visibilitychange", () => tell(hidden() ? 2 : 3));
    on(doc, "freeze", () => tell(4));
    on(doc, "resume", () => tell(5));
    on(win, "pagehide", (event) => event.persisted && tell(6));
    on(win, "pageshow", (event) => event.persisted && tell(7));
    if (globalThis.navigator?.onLine === false) tell(1);
    if (doc && hidden()) tell(2);
  }

  detach() {
    this.offs.splice(0).forEach((off) => off());
  }
}
