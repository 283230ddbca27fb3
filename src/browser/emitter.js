// Listener registry for Client events. Lives in JS so dispatch to many listeners costs one
// WASM -> JS call per event, and unsubscribing needs no Rust closure.
export class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  on(type, listener) {
    let entries = this.listeners.get(type);
    if (!entries) {
      entries = new Set();
      this.listeners.set(type, entries);
    }
    // One entry per subscription, so the same function may subscribe twice and leave once.
    const entry = { listener };
    entries.add(entry);
    return () => {
      entries.delete(entry);
    };
  }

  emit(type, value) {
    const entries = this.listeners.get(type);
    if (!entries) return;
    for (const entry of entries) {
      try {
        entry.listener(value);
      } catch (err) {
        // A throwing listener must not break the client or starve the others: rethrow later.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  clear() {
    this.listeners.clear();
  }
}

// Builds a user frame in one call: the payload stays a JS value until JSON.stringify.
export function encodeFrame(kind, payload) {
  return JSON.stringify({ kind, payload });
}
