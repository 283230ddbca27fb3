// Connection hooks: the state and controls, and the quality score.
import { useConnectionOf, useResocket, type Connection, type Quality } from "./connection.js";
import { useStore } from "./store.js";
import type { ClientOptions } from "../index.js";

/** Connection state and controls. `client` is null until the WASM module has loaded. */
export const useConnection = () => controls(useResocket());

/** What `useConnection` returns, `useWebSocket` too. */
function controls(connection: Connection) {
  return {
    state: useStore(connection.state),
    send: connection.send,
    reconnect: connection.reconnect,
    close: connection.close,
    client: connection.client,
  };
}

/** `WebSocket.readyState` numbers: CONNECTING 0 (also while waiting to reconnect), OPEN 1,
 * CLOSED 3 (closed, or idle with `autoConnect: false`). */
export type ReadyState = 0 | 1 | 2 | 3;

/** react-use-websocket's familiar shape. With `url`, a client of this component's own (e.g.
 * `useWebSocket(url, { mode: "raw" })`, created on mount, freed on unmount; `options` are read
 * once); without, the provider's connection. `lastMessage` is the latest message's value (null
 * before the first), rendered at most once per animation frame: `useMessage` sees every one. */
export function useWebSocket(url?: string | readonly string[], options?: ClientOptions) {
  const connection = useConnectionOf(url, options);
  const own = controls(connection);
  const lastMessage = useStore(connection.lastMessage);
  if (connection.failure) throw connection.failure;
  const status = own.state.status;
  return {
    ...own,
    lastMessage,
    // react-use-websocket's names, for a drop-in switch (`lastMessage` there is the MessageEvent).
    sendMessage: connection.send,
    lastJsonMessage: lastMessage,
    readyState: (status == "open" ? 1 : status == "closed" || status == "idle" ? 3 : 0) as ReadyState,
  };
}

/** Round-trip time, quality score and reconnect count; updates on heartbeats and state changes. */
export const useConnectionQuality = (): Quality => useStore(useResocket().quality);
