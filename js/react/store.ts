// Snapshots React reads through `useSyncExternalStore`, and the small helpers every hook uses.
import { useInsertionEffect, useRef, useSyncExternalStore } from "./react.js";

export type Cleanup = () => void;

/** An immutable snapshot and its subscribers: the shape `useSyncExternalStore` reads. `build`
 * makes the snapshot on first read (so it may use the object this store is part of), then at
 * most once per animation frame after `touch()` however many messages arrive in between: a
 * burst becomes one render. */
export class Store<S> {
  #listeners = new Set<() => void>();
  /** @internal */ declare _scheduled?: boolean;
  declare value: S;
  /** @internal */ declare _build: () => S;
  constructor(build: () => S) {
    this._build = build;
  }
  subscribe = (listener: () => void): Cleanup => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };
  get = (): S => (this.value ??= this._build());
  set(value: S) {
    this.value = value;
    this.#listeners.forEach((listener) => listener());
  }
  #flush = () => {
    if (!this._scheduled) return;
    this._scheduled = false;
    this.set(this._build());
  };
  touch = () => {
    if (this._scheduled) return;
    this._scheduled = true;
    // Whichever comes first: hidden tabs get no animation frames, and one requested just before
    // the tab was hidden would wait until it is shown again.
    requestAnimationFrame(this.#flush);
    setTimeout(this.#flush, 100);
  };
}

export const useStore = <S,>(store: Store<S>): S => useSyncExternalStore(store.subscribe, store.get, store.get);

/** The latest value, for callbacks that must not re-subscribe when it changes (no stale closures). */
export function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useInsertionEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** Runs `call`; what it throws is reported without stopping the caller's loop. */
export const safely = (call: () => void) => {
  try {
    call();
  } catch (error) {
    reportError(error);
  }
};
