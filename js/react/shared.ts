// Room and document handles: one per hook (the client counts references), released a tick after
// the hook unmounts, so StrictMode's unmount-and-remount never leaves and re-joins.
import { useEffect } from "./react.js";
import type { Client, ResocketError, Room } from "../index.js";
// Documents' types are `resocket/docs`'s; importing them pulls in none of its code.
import type { DocEvents, SyncedDoc } from "../docs/index.js";
import type { Connection } from "./connection.js";
import { safely, Store } from "./store.js";

/** What the hooks of one room or document share while any of them holds it; for a document,
 * the last of each of its events (`rejected` and `reset` show in the views). */
export interface Held extends Partial<DocEvents> {
  /** @internal Hooks holding it. */ _n: number;
  /** @internal This client's presence metadata in the room (an object, merged shallowly). */ _meta?: unknown;
}

/** One hook's view of a room or document: its snapshot, its handle, and calls made before the
 * handle is open, queued in order. Calls after the hook unmounted throw a `Closed` error.
 * Members named `_x` here and in the other classes of the hooks are internal: left out of the
 * declarations and shortened in the bundle (build-pkg.sh). */
export class HandleView<H extends Room | SyncedDoc, S> extends Store<S> {
  /** @internal */ declare _handle?: H | null;
  /** @internal */ declare _held: Held;
  /** @internal Why the handle could not be opened (`join` or `doc` threw): the hook's next render throws it. */
  declare _failure?: unknown;
  /** @internal Runs while the handle is still open, when the hook unmounts. */
  declare _beforeDetach?: () => void;
  /** @internal */ _queued: ((handle: H) => void)[] | null = [];
  /** @internal */
  _with(call: (handle: H) => void): void {
    if (this._handle) call(this._handle);
    else if (this._queued) this._queued.push(call);
    else throw Object.assign(new Error("unmounted"), { name: "ResocketError", code: "Closed" } as const) satisfies ResocketError;
  }
}

/** While mounted: opens a handle with the client (`open`'s `first` is true when no other hook
 * of the connection holds `key`) and gives `view` the calls queued for it. */
export function useHandle<H extends Room | SyncedDoc>(
  connection: Connection,
  key: string,
  view: HandleView<H, unknown>,
  open: (client: Client, held: Held, first: boolean) => H,
) {
  // Thrown in render, where the app's error boundary sees it: opening may run in a microtask
  // (the client created after the effect), where a throw would only reach the console.
  if (view._failure) throw view._failure;
  useEffect(() => {
    let handle: H | undefined;
    let held: Held;
    const shared = connection._held;
    const off = connection.use((client) => {
      held = shared.get(key) ?? { _n: 0 };
      try {
        handle = open(client, held, !held._n);
      } catch (error) {
        view._failure = error;
        return view.touch();
      }
      held._n++;
      shared.set(key, (view._held = held));
      view._handle = handle;
      // The queue is emptied when the hook unmounts (the only way to attach again).
      view._queued?.forEach((call) => safely(() => call(handle!)));
      view.touch();
    });
    return () => {
      off();
      view._beforeDetach?.();
      // Unmounted, the hook reads the handle no more; calls queue for one more tick:
      // StrictMode and <Activity> reattach, running children's effects (which may call this
      // hook's functions) before this hook's own.
      view._handle = null;
      view._queued = [];
      setTimeout(() => {
        if (handle) {
          handle.free();
          --held._n || shared.delete(key);
        }
        view._handle || (view._queued = null);
      });
    };
  }, [view]);
}
