// Requests with their loading, data and error state.
import { useEffect, useState } from "./react.js";
import type { Client, RequestOptions, ResocketError } from "../index.js";
import { useResocket } from "./connection.js";
import { useLatest } from "./store.js";

export interface RequestState<T> {
  data?: T;
  error?: ResocketError;
  loading: boolean;
}

/** Imperative requests with their state. A new call supersedes (aborts) the previous one, and
 * unmounting aborts the one in flight. `call` resolves to the data, or undefined on failure
 * (the error is in `error`). `call` and `abort` keep their identity across renders. */
export function useRequest<T = unknown>() {
  const connection = useLatest(useResocket());
  const [state, setState] = useState<RequestState<T>>({ loading: false });
  const [actions] = useState(() => {
    let current: AbortController | null = null;
    const abort = () => current?.abort();
    const call = async (method: string, params?: unknown, options: RequestOptions = {}): Promise<T | undefined> => {
      abort();
      const controller = (current = new AbortController());
      const live = () => current == controller;
      setState((s) => ({ data: s.data, loading: true }));
      try {
        const client = await new Promise<Client>((resolve) => connection.current.use(resolve));
        const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
        const data = (await client.request(method, params, { ...options, signal })) as T;
        if (live()) setState({ data, loading: false });
        return data;
      } catch (error) {
        if (live()) setState((s) => ({ data: s.data, error: error as ResocketError, loading: false }));
        return undefined;
      }
    };
    return { call, abort };
  });
  useEffect(() => actions.abort, []);
  return { ...state, ...actions };
}
