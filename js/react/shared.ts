// Room and document handles shared by the hooks of one provider: listened to once, released a
// tick after their last view.
import { useEffect } from "./react.js";
import type { Client, ResocketError, Room } from "../index.js";
// Documents' types are `resocket/docs`'s; importing them pulls in none of its code.
import type { DocEvents, SyncedDoc } from "../docs/index.js";
import type { Connection } from "./connection.js";
import { safely, Store, type Cleanup } from "./store.js";

const closedError = (): ResocketError =>
  Object.assign(new Error("unmounted"), { name: "ResocketError" as const, code: "Closed" as const });

/** What an entry needs of the views attached to it. */
interface View {
  touch(): void;
  /** A room's message (room views only). */
  _receive?(data: unknown, seq: number, user?: string): void;
}

/** What room and document entries share: the WASM handle, listened to once, and the views of the
 * hooks using it, re-rendered on its events. Hooks fan out from it in JS, so hooks that come and
 * go leave nothing in the handle. Members named `_x` here and in the other classes of the hooks
 * are internal: left out of the declarations and shortened in the bundle (build-pkg.sh). */
export class Entry<H extends Room | SyncedDoc> {
  /** @internal */ readonly _views = new Set<View>();
  /** @internal */ declare readonly _handle: H;
  constructor(handle: H) {
    this._handle = handle;
  }
  /** @internal The handle changed: every view renders again (at most once per frame). */
  _changed = () => this._views.forEach((view) => view.touch());
}

/** Room and document entries of one connection, by name. Each is freed a tick after its last
 * view detached, so StrictMode's immediate unmount-and-remount reuses it instead of leaving and
 * re-joining. */
export class Shared<E extends Entry<Room | SyncedDoc>> {
  #entries = new Map<string, E>();
  /** @internal */
  _acquire(key: string, create: () => E): E {
    let entry = this.#entries.get(key);
    if (!entry) this.#entries.set(key, (entry = create()));
    return entry;
  }
  /** @internal */
  _release(key: string, entry: E, view: View) {
    entry._views.delete(view);
    setTimeout(() => {
      if (entry._views.size || this.#entries.get(key) != entry) return;
      this.#entries.delete(key);
      entry._handle.free();
    });
  }
}

/** A joined room: its messages go to every view; `_meta` is this client's presence. */
export class RoomEntry extends Entry<Room> {
  /** @internal */ declare _meta: unknown;
  /** @internal */
  _receive = (data: unknown, seq: number, user?: string) => this._views.forEach((view) => safely(() => view._receive?.(data, seq, user)));
  /** @internal Merges `patch` into this client's presence metadata (an object, merged shallowly). */
  _presence(patch: unknown) {
    const meta = { ...(this._meta as object), ...(patch as object) };
    this._handle.setPresence(meta);
    this._meta = meta;
  }
}

/** An open document, with the last op the server rejected and its last reset. */
export interface DocEntry extends Entry<SyncedDoc> {
  /** @internal */ _rejected?: DocEvents["rejected"];
  /** @internal */ _reset?: DocEvents["reset"];
}

/** One hook's view of a shared room or document: its snapshot, and calls made before the handle
 * is attached, queued in order. Calls after the hook unmounted throw a `Closed` error. */
export class HandleView<E extends Entry<Room | SyncedDoc>, S> extends Store<S> {
  /** @internal */ _entry: E | null = null;
  /** @internal Why the handle could not be opened (`join` or `doc` threw): the hook's next render throws it. */
  declare _failure?: unknown;
  /** @internal Runs while the handle is still attached, when the hook unmounts. */
  declare _beforeDetach?: () => void;
  #queued: ((entry: E) => void)[] | null = [];
  constructor(build: () => S) {
    super(undefined, build);
  }
  /** @internal */
  _with(call: (entry: E) => void): void {
    if (this._entry) call(this._entry);
    else if (this.#queued) this.#queued.push(call);
    else throw closedError();
  }
  /** @internal */
  _attach(entry: E) {
    this._entry = entry;
    entry._views.add(this);
    this.#queued ??= [];
    this.#queued.splice(0).forEach((call) => safely(() => call(entry)));
    this.touch();
  }
  /** @internal */
  _detach() {
    this._beforeDetach?.();
    // Queue for one more tick: StrictMode and <Activity> reattach, running children's effects
    // (which may call this hook's functions) before this hook's own.
    this._entry = null;
    this.#queued = [];
    setTimeout(() => this._entry || (this.#queued = null));
  }
}

/** While mounted: acquires `key` from `shared` (opened with the client on first use), attaches
 * `view` to it and runs `listen`. */
export function useHandle<E extends Entry<Room | SyncedDoc>>(
  connection: Connection,
  shared: Shared<E>,
  key: string,
  view: HandleView<E, unknown>,
  open: (client: Client) => E,
  listen: (entry: E) => Cleanup | void,
) {
  // Thrown in render, where the app's error boundary sees it: opening may run in a microtask
  // (the client created after the effect), where a throw would only reach the console.
  if (view._failure) throw view._failure;
  useEffect(() => {
    const off = connection.use((client) => {
      let entry: E;
      try {
        entry = shared._acquire(key, () => open(client));
      } catch (error) {
        view._failure = error;
        return view.touch();
      }
      const off = listen(entry);
      view._attach(entry);
      return () => {
        off?.();
        shared._release(key, entry, view);
      };
    });
    return () => {
      off();
      // Unmounted (attached or not), the hook reads the handle no more: it may be freed before a
      // pending frame. The release above frees it a tick later, so `_beforeDetach` still reaches it.
      view._detach();
    };
  }, [view]);
}
