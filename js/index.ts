// The `resocket` package entry: a typed wrapper over the WASM `Client`. All connection logic
// lives in the WASM module; this file only loads it once and adds generic event typing.
import init, { Client as WasmClient } from "./resocket.js";
import type {
  ClientEvents,
  ClientOptions,
  ConnectionState,
  Metrics,
  ResocketError,
  ResocketErrorCode,
} from "./resocket.js";

export type {
  ClientEvents,
  ClientOptions,
  CloseReason,
  ConnectionState,
  HeartbeatOptions,
  Metrics,
  QueueOptions,
  ReconnectOptions,
  ResocketError,
  ResocketErrorCode,
} from "./resocket.js";

/** Where to load the `.wasm` from; by default next to this module (bundlers rewrite it). */
export type WasmSource = string | URL | Request | Response | BufferSource | WebAssembly.Module;

let loading: Promise<void> | undefined;

/** Loads the WASM module. Called by `connect`; every call shares the first load. */
export function load(source?: WasmSource): Promise<void> {
  loading ??= init(source === undefined ? undefined : { module_or_path: source }).then(() => undefined);
  return loading;
}

/** A resilient WebSocket connection. Create it with `connect`. */
export class Client {
  readonly #inner: WasmClient;

  /** Wraps a WASM client; the module must be loaded (see `load`). */
  constructor(url: string, options?: ClientOptions) {
    this.#inner = new WasmClient(url, options);
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.#inner.on(event, listener);
  }

  /** Sends now if open, otherwise queues; throws a `ResocketError` (QueueFull, MessageTooLarge, Closed). */
  send(data: unknown): void {
    this.#inner.send(data);
  }

  /** Sends to every client connected to the server. */
  broadcast(data: unknown): void {
    this.#inner.broadcast(data);
  }

  get state(): ConnectionState {
    return this.#inner.state;
  }

  metrics(): Metrics {
    return this.#inner.metrics();
  }

  /** Starts connecting; only needed with `autoConnect: false` or after `close()`. */
  connect(): void {
    this.#inner.connect();
  }

  /** Reconnects now, skipping any backoff wait. */
  reconnect(): void {
    this.#inner.reconnect();
  }

  /** Closes and stops reconnecting; queued messages stay queued. */
  close(): void {
    this.#inner.close();
  }

  /** Closes the socket, detaches every handler and releases the WASM memory. */
  free(): void {
    this.#inner.free();
  }
}

/** Loads the WASM module if needed and opens a client to `url`. */
export async function connect(url: string, options?: ClientOptions): Promise<Client> {
  await load();
  return new Client(url, options);
}

/** Narrows an unknown thrown value to a `ResocketError`, optionally of one code. */
export function isResocketError(error: unknown, code?: ResocketErrorCode): error is ResocketError {
  return (
    error instanceof Error &&
    error.name === "ResocketError" &&
    (code === undefined || (error as ResocketError).code === code)
  );
}
