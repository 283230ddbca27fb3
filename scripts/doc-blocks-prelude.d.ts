// What the documentation's TypeScript blocks take from the app around them, for
// scripts/check-doc-blocks.mjs: the app's own functions, the objects an earlier block made, and
// the few Node typings an app gets from @types/node and @types/ws. A script (no import), so its
// names are global; a block declaring the same name shadows it (each block is a module).

/** App functions the examples call. */
declare function render(...args: unknown[]): void;
declare function update(...args: unknown[]): void;
declare function toast(...args: unknown[]): void;
declare function resync(...args: unknown[]): void;
declare function reload(...args: unknown[]): void;
/** An app component. */
declare function App(): null;
/** Made by an earlier block. */
declare const client: import("resocket").Client;
declare const room: import("resocket").Room;
declare const board: import("resocket/docs").SyncedDoc;
declare const user: string;
/** From @types/node. */
declare const process: { env: Record<string, string | undefined> };

/** From @types/ws: the `ws` package's WebSocket class. */
declare module "ws" {
  export class WebSocket {
    constructor(url: string | URL, protocols?: string | string[]);
  }
}
