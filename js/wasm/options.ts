// Reading and checking what the app passes in (`new Client`'s arguments, request, join and
// document options), with every rule of `Config::validate` and its message. Bad options throw
// the `InvalidOptions` error; only their compact form reaches WASM.
import type { ClientOptions, JoinOptions, RequestOptions, ResocketError, ResocketErrorCode, WebSocketClass } from "./types.js";
import { rawFrame, type RawOptions } from "./wire.js";

/** A `ResocketError`. */
export const resocketError = (code: ResocketErrorCode | string, message: string) =>
  Object.assign(new Error(message), { name: "ResocketError", code }) as ResocketError;

// The numeric options by object, each with its default (`Config::default()`; -1: none), in the
// order `client_new` reads them (checked natively against both).
const NUMBERS = {
  options: { connectTimeoutMs: 10000, maxMessageBytes: 1048576, maxInboundBytes: 4194304, maxBufferedBytes: 1048576, seed: -1 },
  reconnect: { initialDelayMs: 500, maxDelayMs: 30000, factor: 2, jitter: 0.5, stableAfterMs: 5000, maxAttempts: -1 },
  queue: { maxMessages: 1000, maxBytes: 1048576 },
  heartbeat: { intervalMs: 15000, timeoutMs: 10000 },
};
type Group = keyof typeof NUMBERS;
// The other keys each object takes.
const OTHER_KEYS: Record<Group, string[]> = {
  options: ["reconnect", "queue", "heartbeat", "user", "origin", "autoConnect", "token", "WebSocket", "mode", "receive", "sendOnOpen", "protocols", "pageLifecycle"],
  reconnect: [],
  queue: ["overflow"],
  heartbeat: ["ping", "pong"],
};

type Options = Record<string, unknown>;

// Runs `read`, turning a thrown message into the InvalidOptions error.
function invalidOptions<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw typeof error == "string" ? resocketError("InvalidOptions", error) : error;
  }
}

// An options object (`path` names it in messages); undefined and null stand for {}. Throws the
// InvalidOptions message for anything else that is not an object, or a key not in `known`.
function checked(path: string, object: unknown, known: readonly string[]): Options {
  if (object == null) return {};
  if (typeof object != "object") throw path + " must be an object";
  const unknown = Object.keys(object).find((key) => !known.includes(key));
  if (unknown !== undefined) throw "unknown option " + path + "." + unknown;
  return object as Options;
}

// `object[key]`, undefined when absent or null, else a finite number and, if `whole`, an
// integer in [0, 2^53); throws the InvalidOptions message.
function number(path: string, object: Options, key: string, whole = true): number | undefined {
  const value = object[key] ?? undefined;
  if (value !== undefined && !Number.isFinite(value)) throw path + "." + key + " must be a finite number";
  if (value !== undefined && whole && !((value as number) >= 0 && Number.isSafeInteger(value)))
    throw path + "." + key + " must be a non-negative integer";
  return value as number | undefined;
}

/** `client.request`'s options: [timeout (-2: the default, -1: none), onDisconnect is "fail",
 * signal]. Throws the InvalidOptions error. */
export const requestOptions = (options: RequestOptions | undefined) =>
  invalidOptions((): [number, boolean, AbortSignal | undefined] => {
    const object = checked("request options", options, ["timeoutMs", "signal", "onDisconnect"]);
    const timeout = object.timeoutMs === null ? -1 : number("request options", object, "timeoutMs") ?? -2;
    const policy = object.onDisconnect ?? "retry";
    if (policy !== "retry" && policy !== "fail") throw 'onDisconnect must be "retry" or "fail"';
    const signal = (object.signal ?? undefined) as AbortSignal | undefined;
    if (signal !== undefined && typeof signal.addEventListener != "function") throw "signal must be an AbortSignal";
    return [timeout, policy == "fail", signal];
  });

// The keys of `JoinOptions` (checked natively against types.ts).
const JOIN_KEYS = ["meta", "history"];

/** `client.join`'s options: [meta as JSON text (the core keeps it for rejoins), history (-1:
 * none)]. Throws the InvalidOptions error. */
export const joinOptions = (options: JoinOptions | undefined) =>
  invalidOptions((): [string | undefined, number] => {
    const object = checked("join options", options, JOIN_KEYS);
    let meta: string | undefined;
    if (object.meta != null) {
      try {
        meta = JSON.stringify(object.meta);
      } catch {}
      if (meta === undefined) throw "join options.meta must be JSON-serialisable";
    }
    return [meta, number("join options", object, "history") ?? -1];
  });

/** `client.doc(name, options)`'s storage key: `persist: true` saves under
 * "resocket:doc:<name>", a string is the key; undefined: not saved. */
export const docStorageKey = (name: string, options: unknown) =>
  invalidOptions(() => {
    const { persist } = checked("doc options", options, ["persist"]);
    if (persist == null || persist === false) return;
    if (persist === true) return "resocket:doc:" + name;
    if (typeof persist != "string") throw "persist must be a boolean or a storage key";
    return persist;
  });

/** `new Client(url, options)`'s arguments, read and checked. */
export interface Parsed {
  /** In `client_new`'s order (see `NUMBERS`; queue.overflow as 1 for dropOldest). */
  _numbers: number[];
  _urls: string[];
  _socketClass: new (url: string, protocols?: string | string[]) => WebSocket;
  _protocols: string | string[] | undefined;
  _raw: RawOptions | undefined;
  _tokenFunction: (() => string | Promise<string>) | undefined;
  _staticToken: string | undefined;
  _user: string | undefined;
  _origin: string | undefined;
  _autoConnect: boolean;
  _pageLifecycle: boolean;
}

/** Reads `new Client(url, options)`'s arguments. Throws a ResocketError: InvalidOptions, or
 * NoWebSocket without any WebSocket class. */
export function clientOptions(url: string | readonly string[], options: ClientOptions | undefined): Parsed {
  const n: number[] = [];
  const object = (name: Group, given: unknown) => checked(name, given, [...Object.keys(NUMBERS[name]), ...OTHER_KEYS[name]]);
  const numbers = (name: Group, given: Options) => {
    for (const [key, fallback] of Object.entries(NUMBERS[name])) n.push(number(name, given, key, key != "factor" && key != "jitter") ?? fallback);
  };
  return invalidOptions(() => {
    const urls = socketUrls(url);
    const top = object("options", options);
    const optional = (key: string, type: string, what = "a " + type) => {
      const value = top[key];
      if (value != null && typeof value != type) throw "options." + key + " must be " + what;
      return value ?? undefined;
    };
    const raw = rawOptions(top);
    const token = top.token;
    if (token != null && typeof token != "function") optional("token", "string", "a string or a function");
    const origin = optional("origin", "string") as string | undefined;
    const user = optional("user", "string") as string | undefined;
    numbers("options", top);
    // Without the `seed` option, a random one: jitter needs spread, not secrecy.
    if (n[4]! < 0) n[4] = Math.floor(Math.random() * 2 ** 53);
    const autoConnect = (optional("autoConnect", "boolean") ?? true) as boolean;
    const pageLifecycle = (optional("pageLifecycle", "boolean") ?? true) as boolean;
    numbers("reconnect", object("reconnect", top.reconnect));
    const queue = object("queue", top.queue);
    numbers("queue", queue);
    const overflow = queue.overflow ?? "reject";
    if (overflow !== "reject" && overflow !== "dropOldest") throw 'queue.overflow must be "reject" or "dropOldest"';
    n.push(overflow == "dropOldest" ? 1 : 0);
    numbers("heartbeat", object("heartbeat", top.heartbeat));
    const Socket = (top.WebSocket ?? globalThis.WebSocket) as WebSocketClass | undefined;
    if (typeof Socket != "function") {
      if (top.WebSocket != null) throw "options.WebSocket must be a class";
      throw resocketError("NoWebSocket", "no WebSocket: pass options.WebSocket");
    }
    // `Config::validate`'s rules, in its order.
    const [timeout, messageBytes, inboundBytes, bufferedBytes, , initial, maxDelay, factor, jitter, , , queued, queueBytes, , interval, pongTimeout] = n;
    if (factor! < 1) throw "reconnect.factor must be a finite number >= 1";
    if (!(jitter! >= 0 && jitter! <= 1)) throw "reconnect.jitter must be within [0, 1]";
    if (maxDelay! < initial!) throw `reconnect.maxDelayMs (${maxDelay}) must be >= reconnect.initialDelayMs (${initial})`;
    const zero = { "queue.maxMessages": queued, "queue.maxBytes": queueBytes, maxMessageBytes: messageBytes, maxInboundBytes: inboundBytes, maxBufferedBytes: bufferedBytes, connectTimeoutMs: timeout };
    for (const [name, value] of Object.entries(zero)) if (value == 0) throw name + " must be greater than 0";
    if (!urls.length) throw "the url list is empty";
    if (interval! > 0 && pongTimeout == 0) throw "heartbeat.timeoutMs must be greater than 0";
    if (raw && token != null) throw "token is not available in raw mode";
    const fetch = typeof token == "function";
    return {
      _numbers: n,
      _urls: urls,
      _socketClass: Socket as Parsed["_socketClass"],
      _protocols: (top.protocols ?? undefined) as Parsed["_protocols"],
      _raw: raw,
      _tokenFunction: fetch ? (token as Parsed["_tokenFunction"]) : undefined,
      _staticToken: fetch ? undefined : ((token ?? undefined) as string | undefined),
      _user: user,
      _origin: origin,
      _autoConnect: autoConnect,
      _pageLifecycle: pageLifecycle,
    };
  });
}

// Raw mode's options (part of `clientOptions`): undefined in resocket mode. Throws the
// InvalidOptions message. `protocols` is checked in both modes.
function rawOptions({ mode, receive, sendOnOpen, protocols, heartbeat }: Options): RawOptions | undefined {
  const { ping, pong } = (heartbeat ?? {}) as Options;
  const list = typeof protocols == "string" ? [protocols] : protocols ?? [];
  if (!Array.isArray(list) || list.some((p) => typeof p != "string")) throw "options.protocols must be a string or an array of strings";
  if ((mode ?? "resocket") == "resocket") {
    if ((receive ?? sendOnOpen ?? ping ?? pong) != null) throw 'receive, sendOnOpen, heartbeat.ping and heartbeat.pong need mode: "raw"';
    return;
  }
  if (mode != "raw") throw 'options.mode must be "resocket" or "raw"';
  if (receive != null && receive != "json" && receive != "text") throw 'options.receive must be "json" or "text"';
  if (pong != null && (typeof pong != "function" || ping == null)) throw "heartbeat.pong must be a function, with heartbeat.ping";
  return [rawFrames(sendOnOpen ?? []), ping == null ? undefined : rawFrames([ping])[0], receive == "text", pong as RawOptions[3]];
}

/** Frames to send on every open, each as `send` would put it on the wire; throws the
 * InvalidOptions message. */
export function rawFrames(frames: unknown): unknown[] {
  try {
    return (frames as unknown[]).map(rawFrame);
  } catch {
    throw "sendOnOpen (and heartbeat.ping) must be an array of frames that can be sent";
  }
}

/** `rawFrames` for `setSendOnOpen`, throwing the InvalidOptions error. */
export const checkedRawFrames = (frames: unknown) => invalidOptions(() => rawFrames(frames));

// `url` as a WebSocket URL: ws:// and wss:// URLs as they are; a relative one (e.g. "/ws")
// resolved against the page's location, http -> ws, https -> wss. Undefined for any other
// scheme, or without a location (Node).
function socketUrl(url: string): string | undefined {
  if (/^wss?:\/\//i.test(url)) return url;
  if (/^[a-z][a-z\d+.-]*:/i.test(url)) return;
  try {
    const resolved = new URL(url, globalThis.location?.href);
    resolved.protocol = resolved.protocol.replace(/^http/, "ws");
    return /^wss?:$/.test(resolved.protocol) ? resolved.href : undefined;
  } catch {}
}

// The client's `url` argument, one URL or a list of them, as an array of WebSocket URLs (an
// empty list stays empty, for the caller to refuse). Throws the InvalidOptions message for an
// entry that cannot be one.
function socketUrls(url: unknown): string[] {
  return (Array.isArray(url) ? url : [url]).map((given) => {
    const resolved = typeof given == "string" ? socketUrl(given) : undefined;
    if (resolved === undefined) throw "url must be ws(s):// or relative to the page, got " + String(given);
    return resolved;
  });
}
