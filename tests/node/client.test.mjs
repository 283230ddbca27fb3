// The packed client in Node against the real server: `load()` reads the `.wasm` from disk, a
// client without a WebSocket class fails at once with `NoWebSocket`, and one given the `ws`
// package's class sends, requests and joins rooms. Node 20 has no global WebSocket (run without
// --experimental-websocket); on Node 22+ the test hides the global one for the NoWebSocket case.
// The documents entry (resocket/docs) loads its own module; `resocket` has no documents.
// Run by scripts/test-pkg.sh next to the browser tests, against the same server.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket as WsWebSocket, WebSocketServer } from "ws";
import { Client, connect, isResocketError, load } from "../../pkg/index.js";
import * as docs from "../../pkg/docs/index.js";

const base = process.env.RESOCKET_TEST_URL ?? "http://127.0.0.1:9432";
const wsUrl = base.replace(/^http/, "ws") + "/ws";
const clients = [];

after(() => {
  for (const client of clients) client.free();
});

/** Resolves with the first value `subscribe(listener)` delivers that `accept`s, within 5 s. */
function next(subscribe, accept = () => true, what = "event") {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${what} within 5 s`));
    }, 5000);
    const off = subscribe((value) => {
      if (!accept(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

const opened = (client) =>
  client.state.status === "open"
    ? Promise.resolve()
    : next((l) => client.on("state", l), (s) => s.status === "open", "open state");

/** Runs `body` with no global WebSocket, as on Node 20 (Node 22+ has one). */
async function withoutGlobalWebSocket(body) {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "WebSocket");
  delete globalThis.WebSocket;
  try {
    await body();
  } finally {
    if (descriptor) Object.defineProperty(globalThis, "WebSocket", descriptor);
  }
}

test("load() reads the .wasm from disk in Node", async () => {
  await load();
});

test("without a WebSocket class, new Client and connect fail at once with NoWebSocket", async () => {
  await withoutGlobalWebSocket(async () => {
    assert.equal(typeof globalThis.WebSocket, "undefined");
    assert.throws(
      () => new Client(wsUrl),
      (error) => isResocketError(error, "NoWebSocket") && /options\.WebSocket/.test(error.message),
    );
    await assert.rejects(connect(wsUrl, { autoConnect: false }), (error) => isResocketError(error, "NoWebSocket"));
  });
});

test("options that cannot work are InvalidOptions: a relative url in Node, a WebSocket that is no class", () => {
  assert.throws(
    () => new Client("/ws", { WebSocket: WsWebSocket }),
    (error) => isResocketError(error, "InvalidOptions") && error.message.includes("/ws"),
  );
  assert.throws(
    () => new Client(wsUrl, { WebSocket: "ws" }),
    (error) => isResocketError(error, "InvalidOptions") && /options\.WebSocket/.test(error.message),
  );
});

test("with the ws package's WebSocket: connects, sends and receives, requests, joins a room", async () => {
  await withoutGlobalWebSocket(async () => {
    const client = await connect(wsUrl, { WebSocket: WsWebSocket, user: "node" });
    clients.push(client);
    await opened(client);
    assert.ok(client.session, "the server welcomed the session");

    // A plain message comes back as an echo.
    const echoed = next((l) => client.on("message", l), (m) => m?.from === "node", "echo");
    client.send({ from: "node", text: "hello" });
    assert.deepEqual(await echoed, { from: "node", text: "hello" });

    // A request gets its reply.
    assert.deepEqual(await client.request("echo", { n: 1 }), { n: 1 });
    assert.equal(await client.request("sum", [1, 2, 3]), 6);

    // A room: a second Node client's publish reaches the first, with presence.
    const other = await connect(wsUrl, { WebSocket: WsWebSocket, user: "other" });
    clients.push(other);
    await opened(other);
    const received = [];
    const room = client.join("node-room", (payload) => received.push(payload));
    await next((l) => room.on("state", l), (s) => s.status === "joined", "joined");
    const otherRoom = other.join("node-room");
    await next((l) => otherRoom.on("state", l), (s) => s.status === "joined", "joined");
    const published = next((l) => room.on("message", l), () => true, "room message");
    assert.equal(typeof (await otherRoom.publish({ text: "to the room" })), "number", "resolves with the seq");
    assert.deepEqual(await published, { text: "to the room" });
    assert.deepEqual(received, [{ text: "to the room" }]);
    assert.ok(room.members().some((m) => m.user === "other"), "the other member is present");
    otherRoom.leave();
    room.leave();

    // Closing works as in the browser.
    const closed = next((l) => client.on("state", l), (s) => s.status === "closed", "closed state");
    client.close();
    assert.deepEqual(await closed, { status: "closed", reason: { kind: "client" } });
  });
});

test("resocket has no documents: doc throws NotSupported naming resocket/docs", async () => {
  await load();
  const client = new Client(wsUrl, { WebSocket: WsWebSocket, autoConnect: false });
  clients.push(client);
  assert.throws(
    () => client.doc("board"),
    (error) => isResocketError(error, "NotSupported") && error.message.includes('"resocket/docs"'),
  );
});

test("resocket/docs loads its own module from disk, and its client syncs a document", async () => {
  await docs.load();
  assert.notEqual(docs.Client, Client, "another module, another class");
  const client = await docs.connect(wsUrl, { WebSocket: WsWebSocket });
  clients.push(client);
  const doc = client.doc(`node-doc-${Date.now()}`);
  const synced = doc.synced ? Promise.resolve() : next((l) => doc.on("synced", l), () => true, "synced");
  await synced;
  const confirmed = next((l) => doc.on("confirmed", l), () => true, "confirmed");
  doc.set("title", "from Node");
  assert.equal((await confirmed).rev, 1);
  assert.deepEqual(doc.toObject(), { title: "from Node" });
  doc.close();
});

test("resocket, given document frames it never asked for, reports UnknownKind and carries on", async () => {
  // A server of the test's own: welcomes, then sends one frame of each document kind and a message.
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => server.once("listening", resolve));
  server.on("connection", (socket) => {
    socket.once("message", () => {
      const frames = [
        { kind: "welcome", payload: { version: 1, session: "s1", token: "t1", resumed: false } },
        { kind: "synced", room: "d", seq: 1, payload: {} },
        { kind: "snapshot", room: "d", seq: 1, payload: { entries: {} } },
        { kind: "op", room: "d", seq: 2, payload: { origin: "x", cseq: 1, key: "k", op: "set", value: 1 } },
        { kind: "reject", room: "d", payload: { origin: "x", cseq: 2, error: { code: "conflict", message: "no" } } },
        { kind: "msg", payload: { after: "documents" } },
      ];
      for (const frame of frames) socket.send(JSON.stringify(frame));
    });
  });
  try {
    await load();
    const client = new Client(`ws://127.0.0.1:${server.address().port}`, { WebSocket: WsWebSocket });
    clients.push(client);
    const errors = [];
    client.on("error", (error) => errors.push(error));
    await next((l) => client.on("message", l), (m) => m?.after === "documents", "the message after them");
    assert.deepEqual(errors.map((e) => e.code), ["UnknownKind", "UnknownKind", "UnknownKind", "UnknownKind"]);
    assert.equal(client.state.status, "open");
    client.close();
  } finally {
    server.close();
  }
});
