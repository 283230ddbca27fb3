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
  DocEvents,
  Member,
  Metrics,
  OpOptions,
  RequestOptions,
  ResocketError,
  Room,
  RoomState,
  SyncedDoc,
} from "./index.js";

type Cleanup = () => void;
type Attach = (client: Client) => Cleanup | void;

/** An immutable snapshot and its subscribers: the shape `useSyncExternalStore` reads. With
 * `build`, the snapshot is made on first read, then at most once per animation frame after
 * `touch()` however many messages arrive in between: a burst becomes one render. */
class Store<S> {
  #listeners = new Set<() => void>();
  #scheduled = false;
  #build?: () => S;
  value!: S;
  constructor(value?: S, build?: () => S) {
    // Built lazily: `build` may use the object this store is part of.
    if (build) this.#build = build;
    else this.value = value as S;
  }
  subscribe = (listener: () => void): Cleanup => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };
  get = (): S => (this.value ??= this.#build!());
  set(value: S) {
    this.value = value;
    this.#listeners.forEach((listener) => listener());
  }
  bump = () => this.set(this.value);
  #flush = () => {
    if (!this.#scheduled) return;
    this.#scheduled = false;
    this.set(this.#build!());
  };
  touch = () => {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Whichever comes first: hidden tabs get no animation frames, and one requested just before
    // the tab was hidden would wait until it is shown again.
    requestAnimationFrame(this.#flush);
    setTimeout(this.#flush, 100);
  };
}

const useStore = <S,>(store: Store<S>): S =>
  useSyncExternalStore(store.subscribe, store.get, store.get);

/** The latest value, for callbacks that must not re-subscribe when it changes (no stale closures). */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useInsertionEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** Runs `call`; what it throws is reported without stopping the caller's loop. */
const safely = (call: () => void) => {
  try {
    call();
  } catch (error) {
    reportError(error);
  }
};

const closedError = (): ResocketError =>
  Object.assign(new Error("unmounted"), { name: "ResocketError" as const, code: "Closed" as const });

/** Ref-counted room and document entries, freed a tick after their last release so StrictMode's
 * immediate unmount-and-remount reuses them instead of leaving and re-joining. */
class Shared<T extends { handle: { free(): void } }> {
  #entries = new Map<string, { value: T; refs: number; timer?: ReturnType<typeof setTimeout> }>();
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
        entry.value.handle.free();
      });
  }
}

/** A room or document handle shared by the hooks of one provider. It listens to the WASM handle
 * once and fans out in JS, so hooks that come and go leave nothing behind in the handle. */
class Entry<H extends Room | SyncedDoc> {
  readonly changed = new Store(0);
  readonly receivers = new Set<(data: unknown, seq: number) => void>();
  /** Rooms: this client's presence metadata. */
  meta: unknown;
  /** Documents: the last op the server rejected. */
  rejected: DocEvents["rejected"] | null = null;
  constructor(readonly handle: H) {}
  receive = (data: unknown, seq: number) => this.receivers.forEach((receive) => safely(() => receive(data, seq)));
  /** Merges `patch` into this client's presence metadata (an object, merged shallowly). */
  presence(patch: unknown) {
    const meta = { ...(this.meta as object), ...(patch as object) };
    (this.handle as Room).setPresence(meta);
    this.meta = meta;
  }
}

/** One hook's view of a shared room or document: its snapshot, and calls made before the handle
 * is attached, queued in order. Calls after the hook unmounted throw a `Closed` error. */
class HandleView<H extends Room | SyncedDoc, S> extends Store<S> {
  entry: Entry<H> | null = null;
  /** Runs while the handle is still attached, when the hook unmounts. */
  beforeDetach?: () => void;
  #queued: ((entry: Entry<H>) => void)[] | null = [];
  constructor(build: () => S) {
    super(undefined, build);
  }
  with(call: (entry: Entry<H>) => void): void {
    if (this.entry) call(this.entry);
    else if (this.#queued) this.#queued.push(call);
    else throw closedError();
  }
  attach(entry: Entry<H>) {
    this.entry = entry;
    this.#queued ??= [];
    this.#queued.splice(0).forEach((call) => safely(() => call(entry)));
    this.touch();
  }
  detach() {
    this.beforeDetach?.();
    // Queue for one more tick: StrictMode and <Activity> reattach, running children's effects
    // (which may call this hook's functions) before this hook's own.
    this.entry = null;
    this.#queued = [];
    setTimeout(() => this.entry || (this.#queued = null));
  }
}

/** Connection quality, as the WASM client scores it (see `Metrics`). */
export type Quality = Pick<Metrics, "quality" | "qualityScore" | "rttMs" | "smoothedRttMs" | "reconnects">;

/** A notification pushed by the server (`notify`), as kept by `useNotifications`. */
export interface Notification<T = unknown> {
  /** Unique for the provider's lifetime. */
  id: number;
  data: T;
  /** `Date.now()` on arrival. */
  at: number;
  read: boolean;
}

/** Notifications kept by `useNotifications` (the oldest go first). */
const MAX_NOTIFICATIONS = 100;

/** The connection behind a `ResocketProvider`: one WASM `Client`, created once the module has
 * loaded and freed a tick after the provider unmounts. */
export class Connection {
  client: Client | null = null;
  /** Why the client could not be created (bad url or options, module failed to load). */
  failure: unknown = null;
  readonly state = new Store<ConnectionState>({ status: "idle" });
  readonly quality = new Store<Quality>({ quality: "offline", qualityScore: 0, rttMs: null, smoothedRttMs: null, reconnects: 0 });
  readonly rooms = new Shared<Entry<Room>>();
  readonly docs = new Shared<Entry<SyncedDoc>>();
  #notes: Notification[] = [];
  #lastNote = 0;
  readonly notifications = new Store(undefined, () => this.#notes.slice());
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
    };
  }

  /** Called by the provider's effect: starts the client on first use. */
  acquire(): Cleanup {
    this.#users++;
    clearTimeout(this.#stopTimer);
    if (!this.#started) {
      this.#started = true;
      load()
        .then(() => this.#users && !this.client && this.#start())
        .catch((error) => {
          // The provider rethrows it while rendering, for an error boundary to show.
          this.failure = error;
          this.state.set({ ...this.state.value });
        });
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
      this.#notes.push({ id: ++this.#lastNote, data, at: Date.now(), read: false });
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

/** While mounted: acquires `key` from `shared` (opened with the client on first use), attaches
 * `view` and subscribes it with `listen`. */
function useHandle<H extends Room | SyncedDoc>(
  connection: Connection,
  shared: Shared<Entry<H>>,
  key: string,
  view: HandleView<H, unknown>,
  open: (client: Client) => Entry<H>,
  listen: (entry: Entry<H>) => Cleanup,
) {
  useEffect(() => {
    const off = connection.use((client) => {
      const entry = shared.acquire(key, () => open(client));
      const off = [entry.changed.subscribe(view.touch), listen(entry)];
      view.attach(entry);
      return () => {
        off.forEach((f) => f());
        shared.release(key);
      };
    });
    return () => {
      off();
      // Unmounted (attached or not), the hook reads the handle no more: it may be freed before a
      // pending frame. The release above frees it a tick later, so `beforeDetach` still reaches it.
      view.detach();
    };
  }, [view]);
}

const Context = createContext<Connection | null>(null);

export interface ResocketProviderProps {
  /** An absolute ws:// or wss:// URL. A new `url` replaces the connection. */
  url: string;
  /** Read when the connection is created; change the provider's `key` to apply new options. */
  options?: ClientOptions;
  children?: ReactNode;
}

/** Owns one connection for its subtree: created on mount, freed on unmount (StrictMode-safe).
 * A client that cannot be created (bad url or options) is thrown while rendering. */
export function ResocketProvider({ url, options, children }: ResocketProviderProps) {
  const connection = useMemo(() => new Connection(url, options), [url]);
  useEffect(() => connection.acquire(), [connection]);
  useStore(connection.state);
  if (connection.failure) throw connection.failure;
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
  /** This client's presence metadata (an object), merged with what other hooks of the room set. */
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

/** The view behind `useRoom`, with the room-keyed state `useChat` builds on. `limit`,
 * `initial` and `reduce` are read when the room (or provider) changes. */
function useRoomView<T, S>(name: string, options: RoomOptions<T, S>) {
  const connection = useResocket();
  const latest = useLatest(options);
  const view = useMemo(() => {
    const { limit = 100, initial, reduce } = options;
    let messages: RoomMessage<T>[] = [];
    let state = initial as S;
    const view: HandleView<Room, RoomView<T, S>> & {
      receive(data: unknown, seq: number): void;
      update(change: (state: S) => S): void;
      publish(data: T): void;
      setPresence(patch: unknown): void;
    } = Object.assign(
      new HandleView<Room, RoomView<T, S>>(() => {
        const room = view.entry?.handle;
        const status = room?.state ?? { status: "joining" };
        return { messages: messages.slice(), state, status, recovered: status.status != "joined" || status.recovered, members: room?.members() ?? [] };
      }),
      {
        receive(data: unknown, seq: number) {
          if (limit) messages.push({ seq, data: data as T }) > limit && messages.shift();
          if (reduce) state = reduce(state, data as T, seq);
          // Presence-only views do not re-render for messages.
          if (limit || reduce) view.touch();
        },
        update(change: (state: S) => S) {
          state = change(state);
          view.touch();
        },
        /** Publishes to the room: every member, this client included, receives it with a `seq`. */
        publish: (data: T) => view.with((entry) => entry.handle.publish(data)),
        /** Merges `patch` into this client's presence metadata (other members get an update). */
        setPresence: (patch: unknown) => view.with((entry) => entry.presence(patch)),
      },
    );
    return view;
  }, [connection, name]);
  useHandle(
    connection,
    connection.rooms,
    name,
    view,
    (client) => {
      const { meta } = latest.current;
      const entry: Entry<Room> = new Entry(client.join(name, (data, seq) => entry.receive(data, seq), meta === undefined ? {} : { meta }));
      entry.meta = meta;
      entry.handle.on("state", entry.changed.bump);
      entry.handle.on("presence", entry.changed.bump);
      return entry;
    },
    (entry) => {
      // A room another hook joined first: add this hook's metadata to it.
      const { meta } = latest.current;
      if (meta !== undefined && meta !== entry.meta) entry.presence(meta);
      entry.receivers.add(view.receive);
      return () => entry.receivers.delete(view.receive);
    },
  );
  return [useStore(view), view] as const;
}

/** Joins `name` while mounted (shared and ref-counted per provider); bursts render once per frame. */
export function useRoom<T = unknown, S = undefined>(name: string, options: RoomOptions<T, S> = {}) {
  const [snapshot, { publish, setPresence }] = useRoomView(name, options);
  return { ...snapshot, publish, setPresence };
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
  /** This client's presence metadata. */
  meta?: unknown;
}

interface ChatState {
  list: ChatMessage[];
  /** Own messages not echoed yet. */
  pending: ChatMessage[];
  fromOthers: number;
  read: number;
}

type ChatView = ReturnType<typeof useRoomView<ChatMessage & { type?: string }, ChatState>>[1] & {
  chat?: ReturnType<typeof chatActions>;
};

function chatActions(view: ChatView, user: string | null, typingTimeout: number) {
  let typing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stopTyping = (view.beforeDetach = () => {
    clearTimeout(timer);
    if (typing) view.setPresence({ typing: (typing = false) });
  });
  return {
    /** Publishes a message (queued while offline), shown at once with `pending: true`. */
    send(text: string) {
      const message = { id: Math.random().toString(36).slice(2), user, text, at: Date.now() };
      view.publish({ type: "chat", ...message });
      view.update((s) => ({ ...s, pending: [...s.pending, { ...message, pending: true }] }));
      stopTyping();
    },
    /** Call on each keystroke: shows this user as typing until `typingTimeout` after the last. */
    typed() {
      if (!typing) view.setPresence({ typing: (typing = true) });
      clearTimeout(timer);
      timer = setTimeout(stopTyping, typingTimeout);
    },
    /** Counts every message received so far as read. */
    markRead: () => view.update((s) => ({ ...s, read: s.fromOthers })),
  };
}

/** A chat room: messages (own ones shown at once as pending), typing indicators, unread count.
 * Its state belongs to the room: switching rooms starts afresh (and options are read then). */
export function useChat(room: string, { maxMessages = 200, typingTimeout = 3000, meta }: ChatOptions = {}) {
  const connection = useResocket();
  const [chat, view] = useRoomView<ChatMessage & { type?: string }, ChatState>(room, {
    limit: 0,
    meta,
    initial: { list: [], pending: [], fromOthers: 0, read: 0 },
    reduce: (s, data, seq) => {
      if (data?.type != "chat") return s;
      const { type: _, ...message } = data;
      const pending = s.pending.filter((m) => m.id != message.id);
      // One update, so an echoed message never shows twice or not at all.
      return {
        ...s,
        list: [...s.list, { ...message, seq }].slice(-maxMessages),
        pending,
        fromOthers: s.fromOthers + +(pending.length == s.pending.length),
      };
    },
  });
  // Made once per room view (React may call a memo function twice and keep the first result).
  const actions = useMemo(() => ((view as ChatView).chat ??= chatActions(view, connection.options.user ?? null, typingTimeout)), [view]);
  const self = connection.client?.session;
  const { list, pending, fromOthers, read } = chat.state;
  return {
    messages: [...list, ...pending],
    status: chat.status,
    members: chat.members,
    /** Other members typing now. */
    typing: chat.members.filter((m) => m.id != self && (m.meta as { typing?: boolean } | null)?.typing),
    /** Messages from others since the last `markRead()`. */
    unread: fromOthers - read,
    ...actions,
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
 * (the error is in `error`). `call` and `abort` keep their identity across renders. */
export function useRequest<T = unknown>() {
  const connection = useLatest(useResocket());
  const [state, setState] = useState<RequestState<T>>({ loading: false });
  const [actions] = useState(() => {
    let current: AbortController | null = null;
    const abort = () => current?.abort();
    const call = async (method: string, params?: unknown, options: RequestOptions = {}): Promise<T | undefined> => {
      abort();
      const controller = (current = new AbortController());
      const live = () => current == controller;
      setState((s) => ({ data: s.data, loading: true }));
      try {
        const client = await new Promise<Client>((resolve) => connection.current.use(resolve));
        const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
        const data = (await client.request(method, params, { ...options, signal })) as T;
        if (live()) setState({ data, loading: false });
        return data;
      } catch (error) {
        if (live()) setState((s) => ({ data: s.data, error: error as ResocketError, loading: false }));
        return undefined;
      }
    };
    return { call, abort };
  });
  useEffect(() => actions.abort, []);
  return { ...state, ...actions };
}

export interface SyncedDocView<T extends Record<string, unknown>> {
  /** Confirmed state with this client's pending ops applied. */
  view: Partial<T>;
  rev: number;
  /** Ops sent and not yet confirmed. */
  pending: number;
  /** Caught up with the server (false while offline or resyncing). */
  synced: boolean;
  /** The last op the server rejected (rolled back) in this provider, if any. */
  rejected: DocEvents["rejected"] | null;
}

/** A shared document (optimistic ops, confirmed or rolled back by the server); opens while
 * mounted. Ops made before it is open wait for it; `persist` is read when it opens. */
export function useSyncedDoc<T extends Record<string, unknown> = Record<string, unknown>>(name: string, options: { persist?: boolean | string } = {}) {
  const connection = useResocket();
  const latest = useLatest(options);
  const view = useMemo(() => {
    const view: HandleView<SyncedDoc, SyncedDocView<T>> = new HandleView(() => {
      const { handle, rejected = null } = view.entry ?? {};
      const { rev = 0, pending = 0, synced = false } = handle ?? {};
      return { view: (handle?.toObject() ?? {}) as Partial<T>, rev, pending, synced, rejected };
    });
    return view;
  }, [connection, name]);
  const ops = useMemo(() => {
    const op = (run: (doc: SyncedDoc) => unknown) => view.with((entry) => void run(entry.handle));
    return {
      set: <K extends keyof T & string>(key: K, value: T[K], options?: OpOptions) => op((doc) => doc.set(key, value, options)),
      merge: <K extends keyof T & string>(key: K, patch: Partial<T[K]>, options?: OpOptions) => op((doc) => doc.merge(key, patch, options)),
      remove: (key: keyof T & string, options?: OpOptions) => op((doc) => doc.delete(key, options)),
    };
  }, [view]);
  useHandle(
    connection,
    connection.docs,
    name,
    view,
    (client) => {
      const entry = new Entry(client.doc(name, latest.current));
      (["change", "confirmed", "synced"] as const).forEach((event) => entry.handle.on(event, entry.changed.bump));
      entry.handle.on("rejected", (rejected) => {
        entry.rejected = rejected;
        entry.changed.bump();
      });
      return entry;
    },
    // The document stops being synced when the connection drops, without an event of its own.
    () => connection.state.subscribe(view.touch),
  );
  return { ...useStore(view), ...ops };
}
