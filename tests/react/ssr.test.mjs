// Server rendering: the hooks render their initial state in Node without loading the WASM
// module or opening a socket (an app rendered by Next.js or Remix renders the same tree first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createElement as h } from "react";
import { renderToString } from "react-dom/server";
import * as hooks from "../../pkg/react.js";
import * as docs from "../../pkg/docs/index.js";

function App() {
  const { state } = hooks.useConnection();
  const room = hooks.useRoom("lobby");
  const chat = hooks.useChat("lobby");
  const presence = hooks.usePresence("lobby");
  const doc = hooks.useSyncedDoc("board");
  const quality = hooks.useConnectionQuality();
  const notes = hooks.useNotifications();
  const request = hooks.useRequest();
  hooks.useMessage("tick", () => {});
  return h(
    "p",
    null,
    [state.status, room.status.status, chat.messages.length, presence.members.length, doc.synced, quality.quality, notes.unread, request.loading].join(" "),
  );
}

test("every hook renders its initial state on the server", () => {
  const html = renderToString(h(hooks.ResocketProvider, { url: "ws://127.0.0.1:9/ws", module: docs }, h(App)));
  assert.equal(html, "<p>idle joining 0 0 false offline 0 false</p>");
});

test("hooks outside a provider say so", () => {
  assert.throws(() => renderToString(h(App)), /ResocketProvider/);
});

test("exported components have display names, although the shipped JS is minified", () => {
  const components = Object.entries(hooks).filter(
    ([name, value]) => /^[A-Z]/.test(name) && typeof value === "function" && !/^class\b/.test(value.toString()),
  );
  assert.deepEqual(components.map(([name]) => name), ["ResocketProvider"]);
  for (const [name, component] of components) assert.equal(component.displayName, name);
});
