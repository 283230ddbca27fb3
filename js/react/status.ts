// Connection hooks: the state and controls, and the quality score.
import { useResocket, type Quality } from "./connection.js";
import { useStore } from "./store.js";

/** Connection state and controls. `client` is null until the WASM module has loaded. */
export function useConnection() {
  const connection = useResocket();
  const state = useStore(connection.state);
  return {
    state,
    send: connection.send,
    reconnect: connection.reconnect,
    close: connection.close,
    client: connection.client,
  };
}

export const useWebSocket = useConnection;

/** Round-trip time, quality score and reconnect count; updates on heartbeats and state changes. */
export const useConnectionQuality = (): Quality => useStore(useResocket().quality);
