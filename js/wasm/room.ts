// The `Room` handle `client.join` returns: one reference to a joined room. It does not keep the
// client alive; `leave()` releases it, and so does the garbage collector for a handle nobody
// holds.
import { wasm, output, put, type Ptr } from "./abi.js";
import type { Client } from "./client.js";
import { endAll } from "./emitter.js";
import { resocketError } from "./options.js";
import type { Member, RoomEvents, RoomState, Unsubscribe } from "./types.js";
import { Reader } from "./values.js";

/** A handle on a named thing of a client (a room, a document): its listeners, added through
 * it, and a release that runs once. */
export class Handle {
  /** @internal */ _subscriptions = new Set<() => void>();
  /** @internal */ _released = false;

  /** @internal */
  constructor(
    /** @internal */ public _client: Client,
    readonly name: string,
    /** @internal */ public _separator: string,
  ) {
    handles.register(this, [_client, _separator, name], this);
  }

  /** @internal The client's core, unless this handle was released or the client freed. */
  get _ptr(): Ptr | 0 {
    return this._released ? 0 : this._client._ptr;
  }

  /** @internal Subscribes `listener` to this handle's `event` until it is released. */
  _subscribe(event: string, listener: Function): Unsubscribe {
    return this._client._emitter._on(event + this._separator + this.name, listener, this._subscriptions);
  }

  /** @internal Releases the core's reference once, lets the listeners hear its events, then
   * removes them. */
  _release() {
    const ptr = this._ptr;
    if (this._released) return;
    this._released = true;
    handles.unregister(this);
    if (ptr) release(this._client, this._separator, this.name);
    endAll(this._subscriptions);
  }
}

function release(client: Client, separator: string, name: string) {
  if (!client._ptr) return;
  if (separator == "@") wasm._room_leave(client._ptr, put(name));
  else wasm._doc_close?.(client._ptr, put(name));
  client._pump();
}

// A handle nobody holds any more releases its reference: nobody can leave through it.
const handles = new FinalizationRegistry<[Client, string, string]>(([client, separator, name]) => release(client, separator, name));

export class Room extends Handle {
  /** @internal */
  constructor(client: Client, name: string) {
    super(client, name, "@");
  }

  /** `{ status: "joining" | "joined" | "rejoining" | "left" | "error", recovered?, code?, message? }` */
  get state(): RoomState {
    return this._read()?._roomState() ?? { status: "left" };
  }

  /** The room's members (sessions), this client included once joined. While the room rejoins
   * after a drop, the last known ones (`membersStale`). */
  members(): Member[] {
    const reader = this._read();
    const members: Member[] = [];
    if (reader) {
      reader._roomState();
      reader._flag();
      while (reader._more()) members.push(reader._member());
    }
    return members;
  }

  /** True while `members()` is the list from before a drop, kept while the room rejoins and
   * replaced by the server's at the rejoin (its `state` event `joined`). */
  get membersStale(): boolean {
    const reader = this._read();
    return !!reader && (reader._roomState(), reader._flag());
  }

  /** Publishes `data` to the room (queued while offline). Every member receives it once with the
   * room's next sequence number, this client included. Resolves with that number when the
   * server acknowledges it; re-sent after a reconnect if the acknowledgement was lost (the
   * server applies it once); rejects with the server's error (`Forbidden`, ...), `SessionLost`
   * (sent, and the session that knew the outcome is gone), `QueueFull`, `MessageTooLarge` or
   * `Closed`. */
  publish(data: unknown): Promise<number> {
    return new Promise((resolve, reject) => {
      const ptr = this._ptr;
      if (!ptr) throw resocketError("Closed", "this room handle has left");
      this._client._start(() => wasm._room_publish(ptr, put(this.name), put(data)), {
        resolve: resolve as (value: unknown) => void,
        reject,
      });
    });
  }

  /** Sets this client's presence metadata in the room; other members get an `update`, and so
   * does this client's own `presence` listener (its entry in `members()` changes at once). */
  setPresence(meta: unknown): void {
    const ptr = this._ptr;
    if (!ptr) return;
    let text: string;
    try {
      text = JSON.stringify(meta) ?? "null";
    } catch {
      throw resocketError("InvalidOptions", "meta is not JSON");
    }
    // Our own entry gets a copy, as the other members do: later changes to `meta` stay out.
    wasm._room_presence(ptr, put(this.name), put(text), put(JSON.parse(text)));
    this._client._pump();
  }

  /** Subscribes to the room's `state`, `presence` or `message` events until `leave()`. */
  on<T = unknown>(event: "message", listener: (payload: T, seq: number, user?: string) => void): Unsubscribe;
  on<K extends keyof RoomEvents>(event: K, listener: (value: RoomEvents[K]) => void): Unsubscribe;
  on(event: string, listener: Function): Unsubscribe {
    return this._subscribe(event, listener);
  }

  /** Releases this handle's reference; the last one leaves the room. Idempotent. Listeners added
   * through this handle hear the `left` state, then are removed. */
  leave(): void {
    this._release();
  }

  /** The same as `leave()`. */
  free(): void {
    this._release();
  }

  private _read(): Reader | undefined {
    const ptr = this._ptr;
    let found = 0;
    const list = ptr ? output(() => (found = wasm._room_read(ptr, put(this.name)))) : [];
    return found ? new Reader(list) : undefined;
  }
}
