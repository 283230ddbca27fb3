// The `Client` class: a thin driver around the WASM core (src/ffi). It owns the socket, the one
// timer, the listeners and the request promises; every decision is the core's. Each input feeds
// the core, then `_pump` executes the core's actions, re-arms the timer and dispatches events.
import { wasm, output, put, setHost, thrown, writeOptions, type Ptr } from "./abi.js";
import { Emitter } from "./emitter.js";
import { checkedRawFrames, clientOptions, joinOptions, requestOptions, resocketError, type Parsed } from "./options.js";
import { Room } from "./room.js";
import type { ClientEvents, ClientOptions, ConnectionState, JoinOptions, Metrics, RequestOptions, Unsubscribe } from "./types.js";
import { Reader } from "./values.js";
import { closeSocket, current, encodeFrame, openSocket, rawFrame } from "./wire.js";

interface Call {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  detach?: () => void;
}

// The codes `client_event` returns (`EventCode` in src/ffi/out.rs), and the client events they
// are, by position.
const CLIENT_EVENTS = ["state", "message", "error", "dropped", "rtt", "session"] as const;
// In `EventCode`'s order; the client events first, named by `CLIENT_EVENTS`.
const REPLY = 6,
  ROOM = 7,
  ROOM_MESSAGE = 8,
  PRESENCE = 9,
  NOTIFICATION = 10;

/** A freed client's calls fail with this. */
const closed = () => resocketError("Closed", "the client is closed; call reconnect() first");

/** Documents, when the entry has them (`resocket/docs` installs its event reader here). */
export const docEvents: { read?: (client: Client, code: number, reader: Reader) => void } = {};

// Frees the core of a client nobody can reach any more (it has no socket or timer then).
const finalizer = new FinalizationRegistry<Ptr>((ptr) => {
  setHost(undefined);
  wasm._client_free(ptr);
});

/** A resilient WebSocket client speaking the resocket protocol (or raw frames, `mode: "raw"`). */
export class Client {
  /** @internal */ _ptr: Ptr | 0;
  /** @internal */ _emitter = new Emitter();
  /** @internal */ _raw: boolean;
  private _options: Parsed;
  private _socket?: WebSocket;
  private _timer?: ReturnType<typeof setTimeout>;
  private _timerAt = 0;
  /** True while the outermost `_pump` hands out events; nested pumps (from listeners calling
   * back into the client) leave event delivery to it, so events keep their order. */
  private _dispatching = false;
  /** Whether the core may have events to hand out: false only while a directly delivered
   * message goes to its listeners and none of them called into the client. */
  declare private _stirred?: boolean;
  /** @internal */ _calls = new Map<number, Call>();
  private _roomKey = "";
  private _room?: string;
  private _offPage?: () => void;

  /** Creates a client for `url` and, unless `autoConnect` is false, starts connecting. Listeners
   * added right after construction still see every event. `url` is `ws://` or `wss://`, or
   * relative to the page (`"/ws"`: http becomes ws, https wss); anything else throws
   * `InvalidOptions`. A list of URLs (server nodes) is tried in turn: the client stays on the
   * one that works, and after a failed attempt or a drop the next attempt (after the backoff
   * delay) goes to the next URL. An empty list throws `InvalidOptions`. Without a `WebSocket`
   * class (the option, else the global one) it throws `NoWebSocket`. */
  constructor(url: string | readonly string[], options?: ClientOptions) {
    const parsed = (this._options = clientOptions(url, options));
    writeOptions(parsed._numbers);
    this._raw = !!parsed._raw;
    const fetch = +!!parsed._tokenFunction;
    const ptr = (this._ptr = wasm._client_new(parsed._urls.length, +this._raw, fetch, put(parsed._staticToken), put(parsed._user), put(parsed._origin)));
    finalizer.register(this, ptr, this);
    if (parsed._raw) wasm._client_raw_frames(ptr, put(parsed._raw[0]), put(parsed._raw[1]));
    if (parsed._pageLifecycle) this._offPage = watchPage((code) => this._ptr && (wasm._client_page(this._ptr, code), this._pump()));
    if (parsed._autoConnect) {
      // The socket opens asynchronously; the `connecting` event waits in the core until the
      // socket's first callback pumps it, so listeners added right after `new` see it.
      wasm._client_connect(ptr);
      this._arm(this._execute());
    }
  }

  /** @internal Host: opens the socket to URL `index`. */
  _open(index: number) {
    const options = this._options;
    const ws = openSocket(options._socketClass, options._urls[index]!, options._protocols, options._numbers[2]!, options._raw, (read, seq, reason) => {
      if (this._socket === ws) this._onSocket(read, seq, reason);
    });
    this._socket = ws;
  }

  /** @internal Host: sends a frame; 0 sent, 1 not open, 2 refused. */
  _send(frame: unknown): number {
    const ws = this._socket;
    if (ws?.readyState !== 1) return 1;
    try {
      ws.send(frame as string);
      return 0;
    } catch {
      return 2;
    }
  }

  /** @internal Host: detaches the socket and closes it. */
  _close(code: number, reason: string) {
    const ws = this._socket;
    this._socket = undefined;
    if (ws) closeSocket(ws, code, reason);
  }

  /** @internal Host: the socket's `bufferedAmount`. */
  _buffered(): number {
    return this._socket?.bufferedAmount ?? 0;
  }

  /** @internal Host: calls the token function on a microtask, never inside a client call; its
   * outcome goes to the core unless the client was freed meanwhile. */
  _token(id: number) {
    const fetch = this._options._tokenFunction!;
    const done = (ok: number, value: unknown) => {
      if (!this._ptr) return;
      wasm._client_token(this._ptr, id, ok, put(value));
      this._pump();
    };
    Promise.resolve()
      .then(() => fetch())
      .then(
        (token) => done(1, token),
        (error) => done(0, String(error?.message ?? error)),
      );
  }

  /** The core, or the `Closed` error once freed. */
  private get _live(): Ptr {
    if (!this._ptr) throw closed();
    return this._ptr;
  }

  /** Starts connecting (only needed with `autoConnect: false`, or after `close()`). */
  connect(): void {
    wasm._client_connect(this._live);
    this._pump();
  }

  /** Sends `data` (any JSON-serialisable value) now if open, otherwise queues it. Throws a
   * `ResocketError` with code `QueueFull`, `MessageTooLarge` or `Closed`. In raw mode a string is
   * sent as it is, an `ArrayBuffer`, typed array, `DataView` or `Blob` as a binary frame,
   * anything else as JSON. */
  send(data: unknown): void {
    this._submit(this._raw ? rawFrame(data) : encodeFrame("msg", data));
  }

  /** Like `send`, but the server delivers the message to every connected client. */
  broadcast(data: unknown): void {
    this._supported("broadcast");
    this._submit(encodeFrame("broadcast", data));
  }

  /** Raw mode: replaces the frames sent on every open (`sendOnOpen`), from the next open on;
   * send the new subscription itself with `send` if the connection is open now. Throws
   * `NotSupported` in resocket mode, `InvalidOptions` for a frame that cannot be sent. */
  setSendOnOpen(frames: readonly unknown[]): void {
    if (!this._raw) throw notSupported("setSendOnOpen");
    wasm._client_raw_frames(this._live, put(checkedRawFrames(frames)), 0);
  }

  /** Calls `method` on the server. Resolves with the result; rejects with a `ResocketError`
   * (`Timeout`, `Aborted`, `Disconnected`, `NotFound`, `BadRequest`, ...). Made offline, the
   * request waits in the queue; in flight when the connection drops, it is re-sent after the
   * reconnect (`onDisconnect: "retry"`, the default; the server runs it once) or rejected
   * (`"fail"`). */
  request(method: string, params?: unknown, options?: RequestOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const [timeout, fail, signal] = requestOptions(options);
      if (signal?.aborted) throw resocketError("Aborted", "the request was aborted");
      const ptr = this._live;
      const started = this._start(() => wasm._client_request(ptr, put(String(method)), put(params), timeout, +fail), { resolve, reject });
      if (started >= 0 && signal) {
        const abort = () => this._ptr && (wasm._client_cancel(this._ptr, started), this._pump());
        signal.addEventListener("abort", abort, { once: true });
        this._calls.get(started)!.detach = () => signal.removeEventListener("abort", abort);
      }
    });
  }

  /** @internal Starts a request or publish with `start` (its id, or -1 / -2 as
   * `client_request` answers) and tracks `call`; returns the id, or -1 when it was refused. */
  _start(start: () => number, call: Call): number {
    let id = -1;
    const refusal = output(() => (id = start()));
    if (id == -1) call.reject(thrown);
    else if (id == -2) call.reject(new Reader(refusal)._error());
    else this._calls.set(id, call);
    this._pump();
    return id < 0 ? -1 : id;
  }

  /** Joins `room` (reference-counted: each handle's `leave()` releases one reference, the last
   * one leaves). `handler(payload, seq, user)` receives the room's messages, each once, in order
   * (with `history: N`, first up to the N newest the server holds); after a reconnect the room
   * is rejoined and missed messages are replayed. */
  join<T = unknown>(room: string, handler?: (payload: T, seq: number, user?: string) => void, options?: JoinOptions): Room {
    this._supported("join");
    if (typeof room != "string" || !room) throw resocketError("InvalidOptions", "room name is empty");
    const [meta, history] = joinOptions(options);
    const handle = new Room(this, room);
    if (handler) handle._subscribe("message", handler);
    wasm._room_join(this._live, put(room), put(meta), history);
    this._pump();
    return handle;
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): Unsubscribe {
    return this._emitter._on(event, listener);
  }

  /** Subscribes to messages (plain and room) whose payload has `type: messageType`. */
  onMessage<T = unknown>(messageType: string, listener: (payload: T, seq?: number, user?: string) => void): Unsubscribe {
    return this._emitter._on("type:" + messageType, listener);
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return new Reader(output(() => wasm._client_state(this._live)))._state();
  }

  /** The current session id, once the server welcomed a connection. */
  get session(): string | undefined {
    return output(() => wasm._client_session(this._live))[0] as string | undefined;
  }

  /** A snapshot of the counters. */
  metrics(): Metrics {
    return new Reader(output(() => wasm._client_metrics(this._live)))._metrics();
  }

  /** Reconnects now, skipping any backoff wait; also restarts a closed client. */
  reconnect(): void {
    wasm._client_reconnect(this._live);
    this._pump();
  }

  /** Closes the connection and stops reconnecting. Queued messages stay queued. */
  close(): void {
    wasm._client_close(this._live);
    this._pump();
  }

  /** Ends the client for good: its socket closes, its timer stops, pending requests reject with
   * `Closed`, and its listeners are removed. Idempotent. */
  free(): void {
    const ptr = this._ptr;
    if (!ptr) return;
    this._ptr = 0;
    finalizer.unregister(this);
    clearTimeout(this._timer);
    this._offPage?.();
    setHost(this);
    wasm._client_free(ptr);
    for (const call of this._calls.values()) settle(call, false, closed());
    this._calls.clear();
    this._emitter._clear();
  }

  [Symbol.dispose](): void {
    this.free();
  }

  private _supported(what: string) {
    if (this._raw) throw notSupported(what);
  }

  private _submit(frame: unknown) {
    let refused = 0;
    const error = output(() => (refused = wasm._client_send(this._live, put(frame))));
    this._pump();
    if (refused) throw new Reader(error)._error();
  }

  /** A socket event, as `openSocket` reports it. */
  private _onSocket(read: number, seq: number, reason?: string) {
    const ptr = this._ptr as Ptr;
    let key: string | undefined;
    if (read == -1) wasm._client_socket_open(ptr);
    else if (read == -2) {
      setHost(this);
      wasm._client_socket_closed(ptr, seq, put(reason));
    } else if (wasm._client_message(ptr, read, seq, +!this._dispatching)) {
      // The hot path: the core let the message just read through now; it goes from `current`
      // to the listeners, never through WASM.
      key = "message";
      const room = current._seq === undefined ? undefined : current._room;
      if (room !== undefined) {
        if (room !== this._room) this._roomKey = "message@" + (this._room = room);
        key = this._roomKey;
      }
    }
    this._pump(key);
  }

  /** Executes the core's actions; returns its next deadline (-1: none). */
  private _execute(): number {
    setHost(this);
    return wasm._client_pump(this._ptr as Ptr);
  }

  /** Keeps exactly one timer armed, due no later than the core's next deadline. One armed
   * earlier stays (it fires early and re-arms), so a request's deadline does not cost a
   * `setTimeout` and a `clearTimeout` while the heartbeat's timer is due first. */
  private _arm(deadline: number) {
    if (deadline >= 0 && this._timer !== undefined && this._timerAt <= deadline) return;
    clearTimeout(this._timer);
    this._timer = undefined;
    if (deadline < 0) return;
    this._timerAt = deadline;
    // Browsers treat delays above 2^31-1 ms as 0; a shorter timer just re-arms on firing. One
    // already due runs at once (a negative delay is 0).
    const delay = Math.min(deadline - Math.floor(performance.now()), 2 ** 31 - 1);
    this._timer = setTimeout(() => {
      this._timer = undefined;
      if (!this._ptr) return;
      wasm._client_timeout(this._ptr);
      this._pump();
    }, delay);
  }

  /** @internal Executes the core's actions, re-arms the timer and dispatches events until all
   * are drained, delivering first the message just read to `key`'s listeners. */
  _pump(key?: string) {
    if (!this._ptr) return;
    // After a direct delivery (`key`) the core is quiet: it has no action and no event, and its
    // next deadline can only be later. Only a listener's call into the client gives it work.
    if (key === undefined) this._arm(this._execute());
    if (this._dispatching) return (this._stirred = true);
    this._dispatching = true;
    this._stirred = key === undefined;
    try {
      if (key !== undefined) this._emitter._emitMessage(key, current._payload, current._seq, current._user);
      let code = 0;
      while (this._stirred && this._ptr) {
        const list = output(() => (code = wasm._client_event(this._ptr as Ptr)));
        if (code < 0) break;
        this._dispatch(code, new Reader(list));
      }
    } finally {
      this._dispatching = false;
    }
  }

  private _dispatch(code: number, r: Reader) {
    const emitter = this._emitter;
    const emit = (value: unknown) => emitter._emit(CLIENT_EVENTS[code]!, value);
    switch (code) {
      case 0:
        return emit(r._state());
      case 1:
        return emitter._emitMessage("message", r._next());
      case 2:
        return emit(r._error());
      case 3:
        return emit({ count: r._number(), bytes: r._number() });
      case 4:
        return emit({ rttMs: r._number(), smoothedMs: r._number() });
      case 5:
        return emit({ id: r._text(), resumed: r._flag(), lost: r._flag() });
      case REPLY: {
        const id = r._number();
        const call = this._calls.get(id);
        const ok = r._flag();
        if (!call) return;
        this._calls.delete(id);
        return settle(call, ok, ok ? r._next() : r._error());
      }
      case ROOM: {
        const room = r._text();
        return emitter._emit("state@" + room, r._roomState());
      }
      case ROOM_MESSAGE: {
        const room = r._text();
        const seq = r._number();
        const payload = r._next();
        return emitter._emitMessage("message@" + room, payload, seq, r._next());
      }
      case PRESENCE: {
        const room = r._text();
        return emitter._emit("presence@" + room, { event: r._text(), member: r._member() });
      }
      case NOTIFICATION:
        return emitter._emit("notification", r._next());
      default:
        docEvents.read?.(this, code, r);
    }
  }
}

/** Settles a request's promise, detaching its abort listener. */
function settle(call: Call, ok: boolean, value: unknown) {
  call.detach?.();
  (ok ? call.resolve : call.reject)(value);
}

const notSupported = (what: string) => resocketError("NotSupported", what + " is not available in raw mode");

/** Follows the page's lifecycle and network events, reported with the codes of
 * `PageEvent::from_code`: 0 online, 1 offline, 2 hidden, 3 visible, 4 freeze, 5 resume, 6
 * pagehide with `persisted` (entering the back-forward cache), 7 pageshow with `persisted`
 * (restored from it). Listens only where `window`/`document` exist (not in Node), and reports at
 * once what already holds (offline, hidden). Returns what removes every listener. */
function watchPage(report: (code: number) => unknown): () => void {
  const win = globalThis.window as Window | undefined;
  const doc = globalThis.document as Document | undefined;
  const hidden = () => doc!.visibilityState == "hidden";
  const offs: (() => void)[] = [];
  const on = (target: EventTarget | undefined, type: string, listener: (event: Event) => unknown) => {
    if (!target?.addEventListener) return;
    target.addEventListener(type, listener);
    offs.push(() => target.removeEventListener(type, listener));
  };
  on(win, "online", () => report(0));
  on(win, "offline", () => report(1));
  on(doc, "visibilitychange", () => report(hidden() ? 2 : 3));
  on(doc, "freeze", () => report(4));
  on(doc, "resume", () => report(5));
  on(win, "pagehide", (event) => (event as PageTransitionEvent).persisted && report(6));
  on(win, "pageshow", (event) => (event as PageTransitionEvent).persisted && report(7));
  if (globalThis.navigator?.onLine === false) report(1);
  if (doc && hidden()) report(2);
  return () => offs.splice(0).forEach((off) => off());
}
