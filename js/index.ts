// The `resocket` package entry, and the `resocket/docs` one: all connection logic lives in the
// WASM module next to this file (pkg/, or pkg/docs/ with documents; see build-pkg.sh), which it
// loads once. Its types, events included, come with the module (`src/browser/contract.d.ts`).
import init, { Client as WasmClient } from "./resocket.js";
import type { ClientOptions, ResocketError, ResocketErrorCode } from "./resocket.js";

/** A resilient WebSocket connection; `new Client(url, options)` once the module is loaded (see
 * `load`), or `connect` for both. */
export type Client = WasmClient;
// Bound here rather than re-exported: app bundles with the React layer come out smaller.
export const Client = WasmClient;

// The module without documents has no `doc`: calling it says where documents are rather than
// failing as a missing function (its type has no `doc`, so TypeScript reports it first).
if (!("doc" in Client.prototype))
  Object.assign(Client.prototype, {
    doc() {
      const message = 'documents are in "resocket/docs" (React: <ResocketProvider module={docs}>)';
      throw Object.assign(new Error(message), { name: "ResocketError", code: "NotSupported" });
    },
  });
export type {
  ClientEvents,
  ClientOptions,
  CloseReason,
  ConnectionState,
  DocEvents,
  DocOptions,
  HeartbeatOptions,
  JoinOptions,
  Member,
  Metrics,
  OpOptions,
  PresenceEvent,
  QueueOptions,
  ReconnectOptions,
  RequestOptions,
  ResocketError,
  ResocketErrorCode,
  Room,
  RoomEvents,
  RoomState,
  SessionEvent,
  SyncedDoc,
  Unsubscribe,
  WebSocketClass,
} from "./resocket.js";

/** Where to load the `.wasm` from; by default next to this module (bundlers rewrite it). */
export type WasmSource = string | URL | Request | Response | BufferSource | WebAssembly.Module;

let loading: Promise<void> | undefined;

/** Loads the WASM module. Called by `connect`; every call shares the first load. In Node (and
 * test runners on it, such as Vitest) the package's `.wasm` is read from disk. */
export function load(source?: WasmSource): Promise<void> {
  // A failed load is not kept: the next call (e.g. an error boundary's retry) tries again.
  loading ??= init(wasmSource(source)).then(
    () => undefined,
    (error) => {
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

/** `init`'s argument. In Node (Deno, Bun), whose `fetch` cannot read `file:` URLs, the package's
 * `.wasm` is read from disk through `process.getBuiltinModule` (Node 20.16+): an
 * `import("node:fs/promises")` would break browser bundlers, which try to resolve it. */
function wasmSource(source?: WasmSource) {
  type Fs = { readFile(path: URL): Promise<Uint8Array<ArrayBuffer>> };
  const fs = (globalThis as { process?: { getBuiltinModule?(id: string): Fs } }).process?.getBuiltinModule?.("fs/promises");
  // A variable base: bundlers take `new URL("…", import.meta.url)` for an asset to emit.
  const base = import.meta.url;
  const module_or_path = source ?? fs?.readFile(new URL("resocket_bg.wasm", base));
  return module_or_path && { module_or_path };
}

/** Loads the WASM module if needed and opens a client to `url`, or to a list of URLs tried in
 * turn (see `Client`). */
export async function connect(url: string | readonly string[], options?: ClientOptions): Promise<Client> {
  await load();
  return new Client(url, options);
}

/** Narrows an unknown thrown value to a `ResocketError`, optionally of one code. */
export function isResocketError(error: unknown, code?: ResocketErrorCode): error is ResocketError {
  return (
    error instanceof Error &&
    error.name === "ResocketError" &&
    (code === undefined || (error as ResocketError).code === code)
  );
}
