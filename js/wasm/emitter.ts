// The listener registry of a client: `on` for every event key, `emit` to every listener of one.

type Listener = (value: unknown, extra?: unknown, extra2?: unknown) => void;

/** Ends every subscription still held by `owner` (see `Emitter.on`). */
export function endAll(owner: Set<() => void>) {
  for (const off of owner) off();
}

export class Emitter {
  private _listeners = new Map<string, Set<{ _listener: Listener }>>();
  // Subscriptions to message types ("type:<t>"); payload types are only read when there are any.
  private _typed = 0;

  /** Subscribes `listener` to `key`; returns the function that ends it. `owner` (optional)
   * holds the subscription while it lasts, so a handle can end what is left in one go. */
  _on(key: string, listener: Function, owner?: Set<() => void>): () => void {
    let entries = this._listeners.get(key);
    if (!entries) this._listeners.set(key, (entries = new Set()));
    // One entry per subscription, so the same function may subscribe twice and leave once.
    const entry = { _listener: listener as Listener };
    entries.add(entry);
    const typed = key.startsWith("type:");
    if (typed) this._typed++;
    let active = true;
    const off = () => {
      if (!active) return;
      active = false;
      entries.delete(entry);
      if (typed) this._typed--;
      owner?.delete(off);
    };
    owner?.add(off);
    return off;
  }

  _emit(key: string, value: unknown, extra?: unknown, extra2?: unknown) {
    const entries = this._listeners.get(key);
    if (!entries) return;
    for (const entry of entries) {
      try {
        entry._listener(value, extra, extra2);
      } catch (error) {
        // A throwing listener must not break the client or starve the others: rethrow later.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Delivers a message to `key`'s listeners, then to listeners of its payload's `type`. Room
   * messages come with their `seq` and their author `user` as the server stamped it. */
  _emitMessage(key: string, payload: unknown, seq?: unknown, user?: unknown) {
    this._emit(key, payload, seq, user);
    if (this._typed > 0 && payload !== null && typeof payload === "object") {
      const type = (payload as { type?: unknown }).type;
      if (typeof type === "string") this._emit("type:" + type, payload, seq, user);
    }
  }

  _clear() {
    this._listeners.clear();
    this._typed = 0;
  }
}
