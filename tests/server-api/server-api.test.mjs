// resocket/server (pkg/server.js) against the real server binary: API calls from the helper,
// their effect seen by raw WebSocket clients (Node's WebSocket, --experimental-websocket on
// Node 20). Run by scripts/test-server-api.sh, which starts the server with an API key.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { ResocketServer, ResocketApiError } from "../../pkg/server.js";

const base = process.env.RESOCKET_TEST_URL ?? "http://127.0.0.1:9433";
const apiKey = process.env.RESOCKET_API_KEY;
assert.ok(apiKey, "RESOCKET_API_KEY must be set");
const wsUrl = base.replace(/^http/, "ws") + "/ws";
const server = new ResocketServer({ url: base, apiKey });
const sockets = [];

after(() => {
  for (const ws of sockets) ws.close();
});

/** A raw protocol client: hello as `user`, frames collected in order. */
async function client(user) {
  const ws = new WebSocket(wsUrl);
  sockets.push(ws);
  const frames = [];
  const waiters = [];
  let closed = null;
  ws.addEventListener("message", (event) => {
    frames.push(JSON.parse(event.data));
    for (const wake of waiters.splice(0)) wake();
  });
  ws.addEventListener("close", (event) => {
    closed = { code: event.code, reason: event.reason };
    for (const wake of waiters.splice(0)) wake();
  });
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", reject, { once: true });
  });
  const c = {
    ws,
    frames,
    send: (frame) => ws.send(JSON.stringify(frame)),
    /** The next frame of `kind` (frames of other kinds before it are skipped). */
    async next(kind, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = frames.findIndex((f) => f.kind === kind);
        if (index >= 0) return frames.splice(0, index + 1)[index];
        if (Date.now() > deadline) throw new Error(`no ${kind} frame; got ${JSON.stringify(frames)}`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
    async closed(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!closed) {
        if (Date.now() > deadline) throw new Error("not closed");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return closed;
    },
    /** Round trip: everything sent before has been handled. */
    async settle() {
      const id = Math.floor(Math.random() * 1e9);
      c.send({ kind: "ping", id });
      await c.next("pong");
    },
  };
  c.send({ kind: "hello", payload: { version: 1, user } });
  const welcome = await c.next("welcome");
  c.session = welcome.payload.session;
  return c;
}

test("publish reaches a member with the returned seq, and history keeps it", async () => {
  const alice = await client("alice-pub");
  alice.send({ kind: "join", id: 1, room: "ts:chat" });
  await alice.next("joined");
  const { seq, members } = await server.publish("ts:chat", { text: "from the backend" });
  assert.equal(members, 1);
  const msg = await alice.next("msg");
  assert.deepEqual(msg, { kind: "msg", room: "ts:chat", seq, payload: { text: "from the backend" } });
  const history = await server.history("ts:chat", { limit: 5 });
  assert.deepEqual(history.at(-1), { seq, payload: { text: "from the backend" } });
});

test("notify reaches only that user's connections; notifyAll reaches everyone", async () => {
  const a1 = await client("alice-n");
  const a2 = await client("alice-n");
  const bob = await client("bob-n");
  assert.deepEqual(await server.notify("alice-n", { type: "fill" }), { delivered: 2 });
  for (const c of [a1, a2]) assert.deepEqual(await c.next("notify"), { kind: "notify", payload: { type: "fill" } });
  await bob.settle();
  assert.equal(bob.frames.filter((f) => f.kind === "notify").length, 0);

  const { delivered } = await server.notifyAll({ type: "maintenance" });
  assert.ok(delivered >= 3, `delivered ${delivered}`);
  for (const c of [a1, a2, bob]) assert.deepEqual((await c.next("notify")).payload, { type: "maintenance" });
});

test("disconnect closes that user's sockets with 4410", async () => {
  const m1 = await client("mallory");
  const m2 = await client("mallory");
  const bob = await client("bob-d");
  assert.deepEqual(await server.disconnect("mallory"), { disconnected: 2 });
  for (const c of [m1, m2]) assert.deepEqual(await c.closed(), { code: 4410, reason: "disconnected by the server" });
  await bob.settle();
});

test("presence lists the members", async () => {
  const carol = await client("carol");
  carol.send({ kind: "join", id: 1, room: "ts:presence", payload: { meta: { name: "Carol" } } });
  await carol.next("joined");
  const members = await server.presence("ts:presence");
  assert.deepEqual(members, [{ id: carol.session, user: "carol", meta: { name: "Carol" } }]);
  assert.deepEqual(await server.presence("ts:empty"), []);
});

test("setKey and deleteKey are seen by a synced document; doc reads it", async () => {
  const dave = await client("dave");
  dave.send({ kind: "sync", id: 1, room: "ts:board" });
  await dave.next("snapshot");
  const { rev } = await server.setKey("ts:board", "card/1", { x: 1 });
  const op = await dave.next("op");
  assert.equal(op.seq, rev);
  assert.deepEqual(
    { origin: op.payload.origin, key: op.payload.key, op: op.payload.op, value: op.payload.value },
    { origin: "server", key: "card/1", op: "set", value: { x: 1 } },
  );
  const doc = await server.doc("ts:board");
  assert.deepEqual(doc, { doc: "ts:board", rev, entries: { "card/1": { value: { x: 1 }, rev } } });

  await assert.rejects(server.setKey("ts:board", "card/1", 2, { ifRev: rev + 5 }), (err) => {
    assert.ok(err instanceof ResocketApiError);
    assert.equal(err.code, "conflict");
    assert.equal(err.status, 409);
    return true;
  });
  const deleted = await server.deleteKey("ts:board", "card/1", { ifRev: rev });
  assert.equal(deleted.rev, rev + 1);
  const del = await dave.next("op");
  assert.equal(del.payload.op, "delete");
  assert.deepEqual((await server.doc("ts:board")).entries, {});
});

test("a wrong or missing API key is 401", async () => {
  const wrong = new ResocketServer({ url: base, apiKey: "not-the-key-not-the-key" });
  await assert.rejects(wrong.notifyAll(1), (err) => {
    assert.ok(err instanceof ResocketApiError);
    assert.equal(err.code, "unauthorized");
    assert.equal(err.status, 401);
    return true;
  });
  const response = await fetch(`${base}/api/v1/notify`, { method: "POST", body: '{"payload":1}' });
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error.code, "unauthorized");
});

test("an oversized body is 413", async () => {
  // The server runs with --api-max-body-bytes 16384.
  await assert.rejects(server.publish("ts:chat", { blob: "x".repeat(40_000) }), (err) => {
    assert.ok(err instanceof ResocketApiError);
    assert.equal(err.code, "too_large");
    assert.equal(err.status, 413);
    return true;
  });
});

test("bad input and unreachable servers are typed errors", async () => {
  await assert.rejects(server.history("ts:chat", { limit: 0 }), { code: "bad_request", status: 400 });
  const nowhere = new ResocketServer({ url: "http://127.0.0.1:9", apiKey });
  await assert.rejects(nowhere.notifyAll(1), { code: "network", status: 0 });
  assert.throws(() => new ResocketServer({ url: base, apiKey: "" }), TypeError);
});
