// The `resocket/docs` package entry: the client with shared documents (`client.doc`), from its
// own WASM module next to this file. Everything else is the `resocket` entry's.
import { Client as CoreClient } from "../wasm/client.js";
import { installDocs, SyncedDoc } from "../wasm/doc.js";
import { connect as coreConnect } from "../index.js";
import type { ClientOptions, DocOptions } from "../wasm/types.js";

export * from "../index.js";
export type { SyncedDoc };

installDocs();

/** A resilient WebSocket connection with shared documents (see the `resocket` entry's). */
export type Client = CoreClient & {
  /** Opens the shared document `name` (reference-counted): an optimistic view kept in sync with
   * the server, rebased on the server's order and resynced after reconnects. With `persist`
   * (true, or a storage key) the confirmed state and pending ops are saved in localStorage and
   * restored here, so a reload keeps unsent edits. */
  doc(name: string, options?: DocOptions): SyncedDoc;
};
export const Client = CoreClient as unknown as { new (...args: ConstructorParameters<typeof CoreClient>): Client; prototype: Client };

/** Loads the WASM module if needed and opens a client to `url` (see the `resocket` entry's). */
export const connect = coreConnect as (url: string | readonly string[], options?: ClientOptions) => Promise<Client>;
