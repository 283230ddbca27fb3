// `resocket/react`: React bindings. Deliberately thin: reconnection, queues, requests, rooms,
// presence and documents live in the WASM client; these hooks subscribe React to it through
// `useSyncExternalStore`, coalesce bursts into one render per animation frame, and release every
// WASM object when the last component using it unmounts.
import {
  createContext,
  createElement,
  useContext,
  useEffect,
  useInsertionEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import { Client, load } from "./index.js";
import type {
  ClientOptions,
  ConnectionState,
  Member,
  OpOptions,
  RequestOptions,
  Metrics,
  ResocketError,
  Room,
  RoomState,
  SyncedDoc,
} from "./index.js";

type Cleanup = () => void;
type Attach = (client: Client) => Cleanup | void;

/** An immutable snapshot and its subscribers: the shape `useSyncExternalStore` reads. */
class Store<S> {
  #listeners = new Set<() => void>();
  constructor(public value: S) {}
  subscribe = (listener: () => void): Cleanup => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };
  get = (): S => this.value;
  set(value: S) {
    this.value = value;
    this.#listeners.forEach((listener) => listener());
  }
}

/** A store whose snapshot is rebuilt by `build` at most once per animation frame after
 * `touch()`, however many messages arrive in between: a burst becomes one render. */
class FrameStore<S> extends Store<S> {
  #scheduled = false;
  #build: () => S;
  constructor(build: () => S) {
    super(build());
    this.#build = build;
  }
  #flush = () => {
    this.#scheduled = false;
    this.set(this.#build());
  };
  touch = () => {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Hidden tabs get no animation frames; a short timer keeps their state current.
    if (!document.hidden) requestAnimationFrame(this.#flush);
    else setTimeout(this.#flush, 16);
  };
}

const useStore = <S,>(store: Store<S>): S => useSyncExternalStore(store.subscribe, store.get, store.get);

/** The latest value, for callbacks that must not re-subscribe when it changes (no stale closures). */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useInsertionEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** Ref-counted values, disposed a tick after their last release so StrictMode's immediate
 * unmount-and-remount reuses them instead of leaving and re-joining. */
class Shared<T> {
  #entries = new Map<string, { value: T; refs: number; timer?: ReturnType<typeof setTimeout> }>();
  #dispose: (value: T) => void;
  constructor(dispose: (value: T) => void) {
    this.#dispose = dispose;
  }
  get(key: string): T | undefined {
    return this.#entries.get(key)?.value;
  }
  acquire(key: string, create: () => T): T {
    let entry = this.#entries.get(key);
    if (!entry) this.#entries.set(key, (entry = { value: create(), refs: 0 }));
    clearTimeout(entry.timer);
    entry.refs++;
    return entry.value;
  }
  release(key: string) {
    const entry = this.#entries.get(key);
    if (entry && --entry.refs == 0)
      entry.timer = setTimeout(() => {
        if (entry.refs) return;
        this.#entries.delete(key);
        this.#dispose(entry.value);
      });
  }
}

/** Connection quality, as the WASM client scores it (see `Metrics`). */
export type Quality = Pick<Metrics, "quality" | "qualityScore" | "rttMs" | "smoothedRttMs" | "reconnects">;

/** A notification pushed by the server (`notify`), as kept by `useNotifications`. */
export interface Notification<T = unknown> {
  id: number;
  data: T;
  /** `Date.now()` on arrival. */
  at: number;
  read: boolean;
}

/** One joined room shared by every hook of a provider: presence metadata and member list. */
class RoomEntry {
  meta: unknown;
  readonly changed = new Store(0);
  constructor(readonly room: Room, meta: unknown) {
    this.meta = meta;
    const bump = () => this.changed.set(this.changed.value + 1);
    room.on("state", bump);
    room.on("presence", bump);
  }
  /** Merges `patch` into this client's presence metadata (objects shallowly, else replaces). */
  presence(patch: unknown) {
    const { meta } = this;
    this.meta = isObject(meta) && isObject(patch) ? { ...meta, ...patch } : patch;
    this.room.setPresence(this.meta);
  }
}

/** Notifications kept by `useNotifications` (the oldest go first). */
const MAX_NOTIFICATIONS = 100;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value == "object" && value !== null && !Array.isArray(value);

/** The connection behind a `ResocketProvider`: one WASM `Client`, created once the module has
 * loaded and freed a tick after the provider unmounts. */
export class Connection {
  client: Client | null = null;
  readonly state = new Store<ConnectionState>({ status: "idle" });
  readonly quality = new Store<Quality>({ quality: "offline", qualityScore: 0, rttMs: null, smoothedRttMs: null, reconnects: 0 });
  readonly rooms = new Shared<RoomEntry>((entry) => entry.room.free());
  readonly docs = new Shared<SyncedDoc>((doc) => doc.free());
  #notes: Notification[] = [];
  readonly notifications = new FrameStore(() => this.#notes.slice());
  #waiting = new Set<(client: Client) => void>();
  #users = 0;
  #started = false;
  #stopTimer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly url: string,
    readonly options: ClientOptions = {},
  ) {}

  /** Runs `attach` with the client now, or once it exists; the result detaches (idempotent). */
  use(attach: Attach): Cleanup {
    let detach: Cleanup | void;
    let live = true;
    const run = (client: Client) => {
      if (live) detach = attach(client);
    };
    if (this.client) run(this.client);
    else this.#waiting.add(run);
    return () => {
      live = false;
      this.#waiting.delete(run);
      detach?.();
      detach = undefined;
    };
  }

  /** The client, once the WASM module has loaded. */
  ready(): Promise<Client> {
    return new Promise((resolve) => this.use(resolve));
  }

  /** Called by the provider's effect: starts the client on first use. */
  acquire(): Cleanup {
    this.#users++;
    clearTimeout(this.#stopTimer);
    if (!this.#started) {
      this.#started = true;
      load().then(() => this.#users && !this.client && this.#start());
    }
    return () => {
      if (--this.#users == 0) this.#stopTimer = setTimeout(() => this.#users || this.#stop());
    };
  }

  #start() {
    const client = new Client(this.url, this.options);
    this.client = client;
    // Heartbeats are seconds apart: re-reading the metrics on each costs next to nothing.
    const refresh = () => this.quality.set(client.metrics());
    client.on("state", (state) => {
      this.state.set(state);
      refresh();
    });
    client.on("rtt", refresh);
    client.on("notification", (data) => {
      this.#notes.push({ id: (this.#notes.at(-1)?.id ?? 0) + 1, data, at: Date.now(), read: false });
      if (this.#notes.length > MAX_NOTIFICATIONS) this.#notes.shift();
      this.notifications.touch();
    });
    this.state.set(client.state);
    refresh();
    // Each waiting call runs as its own task, so one that throws does not stop the rest.
    this.#waiting.forEach((run) => queueMicrotask(() => run(client)));
    this.#waiting.clear();
  }

  #stop() {
    this.#started = false;
    // Every component using the client has unmounted by now (their releases ran first).
    this.client?.free();
    this.client = null;
    this.state.set({ status: "closed", reason: { kind: "client" } });
  }

  /** Sends `data` (queued by the client while offline; before the module loads, here). */
  send = (data: unknown): void => void this.use((client) => void client.send(data));
  reconnect = (): void => void this.use((client) => client.reconnect());
  close = (): void => void this.use((client) => client.close());

  /** Marks one notification read, or all of them without `id`. */
  markRead = (id?: number): void => this.#editNotes((n) => (id === undefined || n.id == id ? { ...n, read: true } : n));
  dismiss = (id: number): void => this.#editNotes((n) => (n.id == id ? null : n));
  clearNotifications = (): void => this.#editNotes(() => null);
  #editNotes(edit: (n: Notification) => Notification | null) {
    this.#notes = this.#notes.map(edit).filter((n): n is Notification => n !== null);
    this.notifications.touch();
  }
}

/** While mounted: acquires `key` from `shared` (opened with the client on first use),
 * subscribes with `listen` and refreshes `store`; unsubscribes and releases on unmount. */
function useHandle<T>(
  connection: Connection,
  shared: Shared<T>,
  key: string,
  store: FrameStore<unknown>,
  open: (client: Client) => T,
  listen: (handle: T) => Cleanup[],
) {
  useEffect(
    () =>
      connection.use((client) => {
        const off = listen(shared.acquire(key, () => open(client)));
        store.touch();
        return () => {
          off.forEach((f) => f());
          shared.release(key);
        };
      }),
    [store],
  );
}

const Context = createContext<Connection | null>(null);

export interface ResocketProviderProps {
  url: string;
  /** Read when the connection is created; change the provider's `key` to apply new options. */
  options?: ClientOptions;
  children?: ReactNode;
}

/** Owns one connection for its subtree: created on mount, freed on unmount (StrictMode-safe). */
export function ResocketProvider({ url, options, children }: ResocketProviderProps) {
  const connection = useMemo(() => new Connection(url, options), [url]);
  useEffect(() => connection.acquire(), [connection]);
  return createElement(Context.Provider, { value: connection }, children);
}

/** The provider's connection object (for hooks of your own). */
export function useResocket(): Connection {
  const connection = useContext(Context);
  if (!connection) throw new Error("no <ResocketProvider>");
  return connection;
}

/** Connection state and controls. `client` is null until the WASM module has loaded. */
export function useConnection() {
  const connection = useResocket();
  const state = useStore(connection.state);
  return {
    state,
    send: connection.send,
    reconnect: connection.reconnect,
    close: connection.close,
    client: connection.client,
  };
}

export const useWebSocket = useConnection;

/** Round-trip time, quality score and reconnect count; updates on heartbeats and state changes. */
export const useConnectionQuality = (): Quality => useStore(useResocket().quality);

/** Calls `handler(data, seq)` for each message whose `type` field is `type` (latest handler). */
export function useMessage<T = unknown>(type: string, handler: (data: T, seq?: number) => void): void {
  const connection = useResocket();
  const latest = useLatest(handler);
  useEffect(() => connection.use((client) => client.onMessage(type, (data, seq) => latest.current(data as T, seq))), [connection, type]);
}

export interface RoomMessage<T = unknown> {
  seq: number;
  data: T;
}

export interface RoomOptions<T = unknown, S = undefined> {
  /** Messages kept in `messages`, newest last. Default 100; 0 keeps none. */
  limit?: number;
  /** Folds every message into `state` (e.g. the latest price per symbol). */
  reduce?: (state: S, data: T, seq: number) => S;
  /** The initial `state` for `reduce`. */
  initial?: S;
  /** This client's presence metadata when it joins. */
  meta?: unknown;
}

export interface RoomView<T, S> {
  messages: RoomMessage<T>[];
  state: S;
  status: RoomState;
  /** False after a rejoin that could not replay every missed message: resync your state. */
  recovered: boolean;
  members: Member[];
}

/** Joins `name` while mounted (shared and ref-counted per provider); bursts render once per frame. */
export function useRoom<T = unknown, S = undefined>(name: string, options: RoomOptions<T, S> = {}) {
  const connection = useResocket();
  const latest = useLatest(options);
  const store = useMemo(() => {
    const { limit = 100, initial } = latest.current;
    const view = { messages: [] as RoomMessage<T>[], state: initial as S, entry: null as RoomEntry | null };
    const store = new FrameStore<RoomView<T, S>>(() => {
      const status = view.entry?.room.state ?? { status: "joining" };
      return {
        messages: view.messages.slice(),
        state: view.state,
        status,
        recovered: status.status != "joined" || status.recovered,
        members: view.entry?.room.members() ?? [],
      };
    });
    return Object.assign(store, {
      view,
      receive(data: T, seq: number) {
        const { reduce } = latest.current;
        if (limit) view.messages.push({ seq, data }) > limit && view.messages.shift();
        if (reduce) view.state = reduce(view.state, data, seq);
        store.touch();
      },
    });
  }, [connection, name]);
  useHandle(connection, connection.rooms, name, store, (client) => {
    const { meta } = latest.current;
    return new RoomEntry(client.join(name, undefined, meta === undefined ? {} : { meta }), meta);
  }, (entry) => {
    store.view.entry = entry;
    // Unmounted, this hook reads the room no more: it may be freed before a pending frame.
    return [() => (store.view.entry = null), entry.room.on("message", (data, seq) => store.receive(data as T, seq!)), entry.changed.subscribe(store.touch)];
  });
  const room = () => connection.rooms.get(name);
  return {
    ...useStore(store),
    /** Publishes to the room: every member, this client included, receives it with a `seq`. */
    publish: (data: T): void => void connection.use(() => room()?.room.publish(data)),
    /** Merges `patch` into this client's presence metadata (other members get an update). */
    setPresence: (patch: unknown): void => void connection.use(() => room()?.presence(patch)),
  };
}

/** The room's members (sessions) and this client's own entry; joins while mounted. */
export function usePresence(room: string, options: { meta?: unknown } = {}) {
  const { members, setPresence, status } = useRoom(room, { ...options, limit: 0 });
  const self = useConnection().client?.session;
  return {
    members,
    self: members.find((m) => m.id == self) ?? null,
    others: members.filter((m) => m.id != self),
    status,
    setPresence,
  };
}

export interface ChatMessage {
  id: string;
  user: string | null;
  text: string;
  at: number;
  /** The room sequence number; absent while the message waits to be delivered. */
  seq?: number;
  /** Sent by this client and not yet echoed by the server (e.g. typed while offline). */
  pending?: boolean;
}

export interface ChatOptions {
  /** Messages kept. Default 200. */
  maxMessages?: number;
  /** A typing indicator clears this long after the last keystroke. Default 3000. */
  typingTimeout?: number;
  /** This client's presence metadata when it joins. */
  meta?: unknown;
}

/** A chat room: messages (own ones shown at once as pending), typing indicators, unread count. */
export function useChat(room: string, { maxMessages = 200, typingTimeout = 3000, meta }: ChatOptions = {}) {
  const connection = useResocket();
  const [pending, setPending] = useState<ChatMessage[]>([]);
  const [read, setRead] = useState(0);
  const [own] = useState(() => ({ sent: new Set<string>(), typing: false, timer: undefined as ReturnType<typeof setTimeout> | undefined }));
  const chat = useRoom<ChatMessage & { type?: string }, { list: ChatMessage[]; fromOthers: number }>(room, {
    limit: 0,
    meta,
    initial: { list: [], fromOthers: 0 },
    reduce: ({ list, fromOthers }, { type, ...message }, seq) => {
      if (type != "chat") return { list, fromOthers };
      const mine = own.sent.delete(message.id);
      if (mine) setPending((p) => p.filter((m) => m.id != message.id));
      return { list: [...list, { ...message, seq }].slice(-maxMessages), fromOthers: fromOthers + (mine ? 0 : 1) };
    },
  });
  const stopTyping = () => {
    clearTimeout(own.timer);
    if (own.typing) chat.setPresence({ typing: (own.typing = false) });
  };
  useEffect(() => () => clearTimeout(own.timer), []);
  const self = connection.client?.session;
  return {
    messages: [...chat.state.list, ...pending],
    status: chat.status,
    members: chat.members,
    /** Other members typing now. */
    typing: chat.members.filter((m) => m.id != self && (m.meta as { typing?: boolean } | null)?.typing),
    /** Messages from others since the last `markRead()`. */
    unread: chat.state.fromOthers - read,
    markRead: () => setRead(chat.state.fromOthers),
    /** Publishes a message (queued while offline), shown at once with `pending: true`. */
    send(text: string) {
      const message = { id: Math.random().toString(36).slice(2), user: connection.options.user ?? null, text, at: Date.now() };
      own.sent.add(message.id);
      setPending((p) => [...p, { ...message, pending: true }]);
      chat.publish({ type: "chat", ...message });
      stopTyping();
    },
    /** Call on each keystroke: shows this user as typing until `typingTimeout` after the last. */
    typed() {
      if (!own.typing) chat.setPresence({ typing: (own.typing = true) });
      clearTimeout(own.timer);
      own.timer = setTimeout(stopTyping, typingTimeout);
    },
  };
}

/** Server-pushed notifications with read state, shared by every user of the provider. */
export function useNotifications<T = unknown>() {
  const connection = useResocket();
  const items = useStore(connection.notifications) as Notification<T>[];
  return {
    items,
    unread: items.filter((n) => !n.read).length,
    markRead: connection.markRead,
    dismiss: connection.dismiss,
    clear: connection.clearNotifications,
  };
}

export interface RequestState<T> {
  data?: T;
  error?: ResocketError;
  loading: boolean;
}

/** Imperative requests with their state. A new call supersedes (aborts) the previous one, and
 * unmounting aborts the one in flight. `call` resolves to the data, or undefined on failure
 * (the error is in `error`). */
export function useRequest<T = unknown>() {
  const connection = useResocket();
  const [state, setState] = useState<RequestState<T>>({ loading: false });
  const [control] = useState(() => ({ current: null as AbortController | null }));
  const abort = () => control.current?.abort();
  useEffect(() => abort, []);
  const call = async (method: string, params?: unknown, options: RequestOptions = {}): Promise<T | undefined> => {
    abort();
    const controller = (control.current = new AbortController());
    options.signal?.addEventListener("abort", () => controller.abort());
    setState((s) => ({ data: s.data, loading: true }));
    const live = () => control.current == controller;
    try {
      const client = await connection.ready();
      const data = (await client.request(method, params, { ...options, signal: controller.signal })) as T;
      if (live()) setState({ data, loading: false });
      return data;
    } catch (error) {
      if (live()) setState((s) => ({ data: s.data, error: error as ResocketError, loading: false }));
      return undefined;
    }
  };
  return { ...state, call, abort };
}

export interface SyncedDocView<T extends Record<string, unknown>> {
  /** Confirmed state with this client's pending ops applied. */
  view: Partial<T>;
  rev: number;
  /** Ops sent and not yet confirmed. */
  pending: number;
  synced: boolean;
  /** The last op the server rejected (rolled back), if any. */
  rejected: { key: string; op: string; value: unknown; error: ResocketError } | null;
}

/** A shared document (optimistic ops, confirmed or rolled back by the server); opens while mounted. */
export function useSyncedDoc<T extends Record<string, unknown> = Record<string, unknown>>(name: string, options: { persist?: boolean | string } = {}) {
  const connection = useResocket();
  const latest = useLatest(options);
  const store = useMemo(() => {
    const holder = { doc: null as SyncedDoc | null, rejected: null as SyncedDocView<T>["rejected"] };
    return Object.assign(
      new FrameStore<SyncedDocView<T>>(() => {
        const { doc, rejected } = holder;
        return { view: (doc?.toObject() ?? {}) as Partial<T>, rev: doc?.rev ?? 0, pending: doc?.pending ?? 0, synced: doc?.synced ?? false, rejected };
      }),
      { holder },
    );
  }, [connection, name]);
  useHandle(connection, connection.docs, name, store, (client) => client.doc(name, latest.current), (doc) => {
    store.holder.doc = doc;
    return [
      () => (store.holder.doc = null),
      ...(["change", "confirmed", "synced"] as const).map((event) => doc.on(event, store.touch)),
      doc.on("rejected", (rejected) => {
        store.holder.rejected = rejected;
        store.touch();
      }),
    ];
  });
  // Ops made before the module loads wait for it; errors (e.g. too large) throw from the call.
  const op = (run: (doc: SyncedDoc) => unknown): void => void connection.use(() => void run(connection.docs.get(name)!));
  return {
    ...useStore(store),
    set: <K extends keyof T & string>(key: K, value: T[K], options?: OpOptions) => op((doc) => doc.set(key, value, options)),
    merge: <K extends keyof T & string>(key: K, patch: Partial<T[K]>, options?: OpOptions) => op((doc) => doc.merge(key, patch, options)),
    remove: (key: keyof T & string, options?: OpOptions) => op((doc) => doc.delete(key, options)),
  };
}
