// The connection behind a `ResocketProvider`: one WASM `Client` per provider, and the context
// every hook reads it from.
import { createContext, createElement, useContext, useEffect, useMemo, type ReactNode } from "./react.js";
import { Client, load } from "../index.js";
import type { ClientOptions, ConnectionState, Metrics } from "../index.js";
import type { Held } from "./shared.js";
import { Store, useStore, type Cleanup } from "./store.js";

type Attach = (client: Client) => Cleanup | void;

/** The package entry a provider's client comes from: `resocket` by default, or `resocket/docs`
 * (`import * as docs from "resocket/docs"`) for shared documents (`useSyncedDoc`). */
export interface ClientModule {
  load(): Promise<void>;
  Client: new (url: string | readonly string[], options?: ClientOptions) => Client;
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
  readonly state = new Store<ConnectionState>(() => ({ status: "idle" }));
  readonly quality = new Store<Quality>(() => ({ quality: "offline", qualityScore: 0, rttMs: null, smoothedRttMs: null, reconnects: 0 }));
  /** @internal What the hooks of a room ("@" name) or a document ("#" name) share. */
  readonly _held = new Map<string, Held>();
  #notes: Notification[] = [];
  #lastNote = 0;
  readonly notifications = new Store(() => this.#notes.slice());
  #last: unknown = null;
  /** The latest message (`useWebSocket().lastMessage`), rebuilt at most once per frame. */
  readonly lastMessage = new Store(() => this.#last);
  #waiting = new Set<(client: Client) => void>();
  #users = 0;
  #stopTimer?: ReturnType<typeof setTimeout>;

  declare readonly url: string | readonly string[];
  declare readonly options: ClientOptions;
  declare readonly module: ClientModule;
  constructor(url: string | readonly string[], options: ClientOptions = {}, module: ClientModule = { load, Client }) {
    Object.assign(this, { url, options, module });
  }

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
    // Until the client exists; every call shares the module's one load.
    if (!this.client) {
      this.module
        .load()
        .then(() => this.#users && !this.client && this.#start())
        .catch((error) => {
          // The provider rethrows it while rendering, for an error boundary to show.
          this.failure = error;
          this.state.set({ ...this.state.get() });
        });
    }
    return () => {
      if (--this.#users == 0) this.#stopTimer = setTimeout(() => this.#users || this.#stop());
    };
  }

  #start() {
    const client = new this.module.Client(this.url, this.options);
    this.client = client;
    // Heartbeats are seconds apart: re-reading the metrics on each costs next to nothing.
    const refresh = () => this.quality.set(client.metrics());
    client.on("state", (state) => {
      this.state.set(state);
      refresh();
    });
    client.on("rtt", refresh);
    client.on("message", (data) => {
      this.#last = data;
      this.lastMessage.touch();
    });
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

export const Context = createContext<Connection | null>(null);
// Display names survive minification, so React DevTools and error messages name them.
Context.displayName = "Resocket";

export interface ResocketProviderProps {
  /** A ws:// or wss:// URL, or one relative to the page ("/ws"); or a list of them, tried in turn
   * (failover between server nodes). A different `url` replaces the connection; a new array with
   * the same URLs does not. */
  url: string | readonly string[];
  /** Read when the connection is created; change the provider's `key` to apply new options. */
  options?: ClientOptions;
  /** The entry the client comes from, read like `options`: `resocket` by default; pass
   * `resocket/docs` (`import * as docs from "resocket/docs"`) to use `useSyncedDoc`. */
  module?: ClientModule;
  children?: ReactNode;
}

/** Owns one connection for its subtree: created on mount, freed on unmount (StrictMode-safe).
 * A client that cannot be created (bad url or options) is thrown while rendering. */
export function ResocketProvider({ url, options, module, children }: ResocketProviderProps) {
  const connection = useConnectionOf(url, options, module);
  useStore(connection.state);
  if (connection.failure) throw connection.failure;
  return createElement(Context.Provider, { value: connection }, children);
}

ResocketProvider.displayName = "ResocketProvider";

/** The provider's connection object (for hooks of your own). */
export function useResocket(): Connection {
  return needProvider(useContext(Context));
}

export const needProvider = (connection: Connection | null) => {
  if (!connection) throw new Error("no <ResocketProvider>");
  return connection;
};


/** With `url`, a connection of the calling component's own (created on mount, freed a tick
 * after unmount, so StrictMode's remount keeps it); else the provider's. */
export function useConnectionOf(url?: string | readonly string[], options?: ClientOptions, module?: ClientModule): Connection {
  // By content: an array literal is a new object on every render.
  const own = useMemo(() => (url === undefined ? null : new Connection(url, options, module)), [JSON.stringify(url)]);
  useEffect(() => own?.acquire(), [own]);
  const outer = useContext(Context);
  return own || needProvider(outer);
}
