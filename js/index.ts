// The `resocket` package entry: the client without shared documents (those are in
// `resocket/docs`). All connection logic lives in the WASM module next to this file, which
// `load` instantiates once; the classes in js/wasm/ drive it.
import { instantiate } from "./wasm/abi.js";
import { Client } from "./wasm/client.js";
import { resocketError } from "./wasm/options.js";
import type { ClientOptions, ResocketError, ResocketErrorCode } from "./wasm/types.js";

export { Client };
export type { Room } from "./wasm/room.js";
export type * from "./wasm/types.js";

// Calling `doc` here says where documents are rather than failing as a missing function (its
// type has no `doc`, so TypeScript reports it first).
Object.assign(Client.prototype, {
  doc() {
    throw resocketError("NotSupported", 'documents are in "resocket/docs" (React: <ResocketProvider module={docs}>)');
  },
});

/** Where to load the `.wasm` from; by default next to this module (bundlers rewrite it). */
export type WasmSource = string | URL | Request | Response | BufferSource | WebAssembly.Module;

let loading: Promise<void> | undefined;

/** Loads the WASM module. Called by `connect`; every call shares the first load. In Node (and
 * test runners on it, such as Vitest) the package's `.wasm` is read from disk. */
export function load(source?: WasmSource): Promise<void> {
  // A failed load is not kept: the next call (e.g. an error boundary's retry) tries again.
  loading ??= instantiate(wasmSource(source)).then(undefined, (error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/** What `instantiate` takes for `source`. In Node (Deno, Bun), whose `fetch` cannot read `file:`
 * URLs, the package's `.wasm` is read from disk through `process.getBuiltinModule` (Node
 * 20.16+): an `import("node:fs/promises")` would break browser bundlers, which try to resolve it. */
function wasmSource(source?: WasmSource) {
  if (typeof source == "string" || source instanceof URL || source instanceof Request) return fetch(source);
  if (source !== undefined) return source;
  type Fs = { readFile(path: URL): Promise<Uint8Array<ArrayBuffer>> };
  const fs = (globalThis as { process?: { getBuiltinModule?(id: string): Fs } }).process?.getBuiltinModule?.("fs/promises");
  // A variable base for Node's path: bundlers take a `new URL("…", import.meta.url)` for an
  // asset to emit (and rewrite it), which only the browser's fetch below should be.
  const base = import.meta.url;
  if (fs) return fs.readFile(new URL("resocket_bg.wasm", base));
  return fetch(new URL("resocket_bg.wasm", import.meta.url));
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
