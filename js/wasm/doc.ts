// Shared documents, in the `resocket/docs` entry only: `client.doc(name)` and the `SyncedDoc`
// handle, an optimistic view of a shared document. Local ops show at once; the server confirms
// them, or rejects them and the view rolls back; ops from others are rebased under pending ones.
// The logic is the core's (src/core/docs.rs); this converts values and events, and keeps the
// saved copy of a persisted document in localStorage.
import { wasm, output, put, take, thrown } from "./abi.js";
import { Client, docEvents } from "./client.js";
import { docStorageKey, resocketError } from "./options.js";
import { Handle } from "./room.js";
import type { DocEvents, DocOptions, OpOptions, Unsubscribe } from "./types.js";
import { Reader } from "./values.js";

// The document events' codes (`EventCode` in src/ffi/out.rs, from `DocChanged` on).
const DOC_EVENTS = ["change", "confirmed", "rejected", "synced", "reset", "error"] as const;
const FIRST_DOC_EVENT = 11;

/** Storage keys of the persisted documents, by client and name. */
const persisted = new WeakMap<Client, Map<string, string>>();

export class SyncedDoc extends Handle {
  /** @internal */
  constructor(client: Client, name: string) {
    super(client, name, "#");
  }

  /** The value of `key` in the view (confirmed state with pending ops on top). */
  get(key: string): unknown {
    return this._key(key)?._next();
  }

  keys(): string[] {
    return [...this._entries().keys()];
  }

  toObject(): Record<string, unknown> {
    const object: Record<string, unknown> = {};
    // Defined, not assigned: a key `__proto__` stays a key.
    for (const [key, [value]] of this._entries())
      Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
    return object;
  }

  /** The revision of the op that last wrote `key` (0 for an absent key): for `ifRev`. */
  keyRev(key: string): number {
    const reader = this._key(key);
    return reader ? (reader._next(), reader._number()) : 0;
  }

  /** The confirmed revision. */
  get rev(): number {
    return (this._read()?._number() as number | undefined) ?? 0;
  }

  /** Ops applied locally and not confirmed yet. */
  get pending(): number {
    const reader = this._read();
    return reader ? (reader._number(), reader._number()) : 0;
  }

  /** Caught up with the server since the last connection. */
  get synced(): boolean {
    const reader = this._read();
    return !!reader && (reader._number(), reader._number(), reader._flag());
  }

  set(key: string, value: unknown, options?: OpOptions): number {
    return this._op(0, key, value, options);
  }

  delete(key: string, options?: OpOptions): number {
    return this._op(2, key, undefined, options);
  }

  merge(key: string, patch: unknown, options?: OpOptions): number {
    return this._op(1, key, patch, options);
  }

  on<K extends keyof DocEvents>(event: K, listener: (value: DocEvents[K]) => void): Unsubscribe {
    return this._subscribe(event, listener);
  }

  /** Releases this handle's reference; the last one closes the document. Idempotent. */
  close(): void {
    this._release();
  }

  /** The same as `close()`. */
  free(): void {
    this._release();
  }

  private _read(): Reader | undefined {
    const ptr = this._ptr;
    let found = 0;
    const list = ptr ? output(() => (found = wasm._doc_read!(ptr, put(this.name)))) : [];
    return found ? new Reader(list) : undefined;
  }

  /** The value of `key` and its revision, as `doc_get` pushes them. */
  private _key(key: string): Reader | undefined {
    const ptr = this._ptr;
    let found = 0;
    const list = ptr ? output(() => (found = wasm._doc_get!(ptr, put(this.name), put(String(key))))) : [];
    return found ? new Reader(list) : undefined;
  }

  private _entries(): Map<string, [unknown, number]> {
    const entries = new Map<string, [unknown, number]>();
    const reader = this._read();
    if (reader) {
      reader._number();
      reader._number();
      reader._flag();
      while (reader._more()) entries.set(reader._text(), [reader._next(), reader._number()]);
    }
    return entries;
  }

  private _op(op: number, key: string, value: unknown, options?: OpOptions): number {
    const ptr = this._ptr;
    if (!ptr) throw resocketError("DocNotOpen", `document "${this.name}" is not open`);
    const given = (options as { ifRev?: unknown } | undefined)?.ifRev ?? undefined;
    if (given !== undefined && !(Number.isSafeInteger(given) && (given as number) >= 0))
      throw resocketError("InvalidOptions", "ifRev must be a non-negative integer");
    // A private copy: the app may change its object after handing it over.
    const copy = op == 2 ? undefined : value === undefined ? null : JSON.parse(JSON.stringify(value));
    let cseq = 0;
    const refusal = output(() => (cseq = wasm._doc_op!(ptr, put(this.name), op, put(String(key)), put(copy), (given as number | undefined) ?? -1)));
    this._client._pump();
    if (cseq == -1) throw thrown;
    if (cseq == -2) throw new Reader(refusal)._error();
    if (cseq == -3) throw resocketError("InvalidOptions", "merge patch nested deeper than 128 levels");
    return cseq;
  }
}

/** Opens the shared document `name` (reference-counted): an optimistic view kept in sync with
 * the server, rebased on the server's order and resynced after reconnects. With `persist`
 * (true, or a storage key) the confirmed state and pending ops are saved in localStorage and
 * restored here, so a reload keeps unsent edits. */
function doc(this: Client, name: string, options?: DocOptions): SyncedDoc {
  if (this._raw) throw resocketError("NotSupported", "doc is not available in raw mode");
  if (typeof name != "string" || !name) throw resocketError("InvalidOptions", "document name is empty");
  const key = docStorageKey(name, options);
  const ptr = this._ptr;
  if (!ptr) throw resocketError("Closed", "the client is closed; call reconnect() first");
  let saved: unknown;
  if (key !== undefined) {
    let keys = persisted.get(this);
    if (!keys) persisted.set(this, (keys = new Map()));
    keys.set(name, key);
    try {
      const text = globalThis.localStorage?.getItem(key);
      saved = text ? JSON.parse(text) : undefined;
    } catch {}
  }
  wasm._doc_open!(ptr, put(name), put(saved));
  this._pump();
  return new SyncedDoc(this, name);
}

/** Delivers a document event; saves the document first if it is persisted. */
function read(client: Client, code: number, r: Reader) {
  const event = DOC_EVENTS[code - FIRST_DOC_EVENT];
  const name = r._text();
  const key = persisted.get(client)?.get(name);
  if (key !== undefined && client._ptr) {
    const state = take(wasm._doc_save!(client._ptr, put(name)));
    // Storage can be missing, full or blocked: persistence is then skipped, best effort.
    try {
      if (state !== undefined) globalThis.localStorage?.setItem(key, JSON.stringify(state));
    } catch {}
  }
  let value: unknown;
  switch (event) {
    case "change": {
      const keys: string[] = [];
      while (r._more()) keys.push(r._text());
      value = { keys };
      break;
    }
    case "confirmed":
      value = { cseq: r._number(), rev: r._number() };
      break;
    case "rejected":
      // The op travels with the event, so the app can re-apply it on the new state.
      value = { cseq: r._number(), key: r._text(), op: r._text(), value: r._next(), error: r._error() };
      break;
    case "error":
      value = r._error();
      break;
    default:
      value = { rev: r._number() };
  }
  client._emitter._emit(event + "#" + name, value);
}

/** Gives `Client` its `doc` method and the document events. */
export function installDocs() {
  Object.assign(Client.prototype, { doc });
  docEvents.read = read;
}
