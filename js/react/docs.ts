// Shared documents: an optimistic view, ops queued until the document is open. The provider's
// client must come from `resocket/docs` (its `module`); `resocket`'s `doc` throws `NotSupported`.
import { useEffect, useMemo } from "./react.js";
import type { Client, DocEvents, OpOptions, SyncedDoc } from "../docs/index.js";
import { useResocket } from "./connection.js";
import { HandleView, useHandle } from "./shared.js";
import { useLatest, useStore } from "./store.js";

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
  /** The last `reset` in this provider, if any: the server's document started another history
   * (a restart) and replaced the confirmed state; pending ops were kept and re-sent. */
  reset: DocEvents["reset"] | null;
}

/** A shared document (optimistic ops, confirmed or rolled back by the server); opens while
 * mounted. Ops made before it is open wait for it; `persist` is read when it opens. Needs a
 * provider whose `module` is `resocket/docs`. */
export function useSyncedDoc<T extends Record<string, unknown> = Record<string, unknown>>(name: string, options: { persist?: boolean | string } = {}) {
  const connection = useResocket();
  const latest = useLatest(options);
  const view = useMemo(() => {
    const view: HandleView<SyncedDoc, SyncedDocView<T>> = new HandleView(() => {
      const { rejected = null, reset = null } = view._held ?? {};
      const handle = view._handle;
      const { rev = 0, pending = 0, synced = false } = handle ?? {};
      return { view: (handle?.toObject() ?? {}) as Partial<T>, rev, pending, synced, rejected, reset };
    });
    return view;
  }, [connection, name]);
  const ops = useMemo(() => {
    const op = (run: (doc: SyncedDoc) => unknown) => view._with((doc) => void run(doc));
    return {
      set: <K extends keyof T & string>(key: K, value: T[K], options?: OpOptions) => op((doc) => doc.set(key, value, options)),
      merge: <K extends keyof T & string>(key: K, patch: Partial<T[K]>, options?: OpOptions) => op((doc) => doc.merge(key, patch, options)),
      remove: (key: keyof T & string, options?: OpOptions) => op((doc) => doc.delete(key, options)),
    };
  }, [view]);
  useHandle(
    connection,
    "#" + name,
    view,
    (client, held, first) => {
      // `persist` is the first opener's (`doc` would take a later one's storage key).
      const doc = (client as Client).doc(name, first ? latest.current : {});
      // Every event re-renders; `held` keeps the last of each.
      (["change", "confirmed", "synced", "rejected", "reset"] as const).forEach((event) =>
        doc.on(event, (value) => {
          held[event] = value as never;
          view.touch();
        }),
      );
      return doc;
    },
  );
  // The document stops being synced when the connection drops, without an event of its own.
  useEffect(() => connection.state.subscribe(view.touch), [view]);
  return { ...useStore(view), ...ops };
}
