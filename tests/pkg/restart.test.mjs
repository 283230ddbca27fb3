// A real restart mid-stream: this file runs its own release server on a loopback port, a page in
// headless Chromium joins a room and opens a document with the built package, the server is
// killed (SIGKILL: no close frame, nothing saved) and started again on the same port with empty
// state. Every message published after the restart must reach the page (the room says
// `recovered: false`), and the document raises `reset` and converges with the edit made while
// the server was down. Run by scripts/test-pkg.sh (needs the assembled demo site and the
// release server binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { TestServer, waitInPage } from "./server.mjs";

const addr = process.env.RESOCKET_RESTART_TEST_SERVER ?? "127.0.0.1:9439";
const base = `http://${addr}`;
const serverArgs = [
  "--demo", "--insecure-trust-client-user", "--config", "server/resocket.demo.toml",
  "--static", process.env.OUT ?? "out/demo",
  // No price feed: only this test publishes.
  "--feed-interval-ms", "0",
];

let browser;
/** The running server. */
let server;

/** Publishes `payload` to room `room` as the server (the way a backend job would). */
const publish = (room, payload) =>
  server.control(`publish?room=${room}`, { method: "POST", body: JSON.stringify(payload) });

before(async () => {
  server = await TestServer.start(addr, serverArgs);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("after a server restart no message is lost, the room is not recovered, the doc resets and converges", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  // The demo's landing page: served by the test server, with no client of its own.
  await page.goto(`${base}/`);
  await page.evaluate(async () => {
    const { load, Client } = await import("/pkg/docs/index.js");
    await load();
    const log = { messages: [], roomStates: [], resets: [] };
    const client = new Client("/ws", { reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const room = client.join("news", (payload, seq) => log.messages.push({ seq, payload }));
    room.on("state", (state) => log.roomStates.push(state));
    const doc = client.doc("board");
    doc.on("reset", (value) => log.resets.push(value));
    window.restart = { client, room, doc, log };
  });
  await waitInPage(page, () => window.restart.log.roomStates.some((s) => s.status === "joined") && window.restart.doc.synced);

  // Before the restart: three messages and a confirmed edit.
  for (let n = 1; n <= 3; n += 1) await publish("news", { n });
  await waitInPage(page, () => window.restart.log.messages.length === 3);
  await page.evaluate(() => window.restart.doc.set("before", 1));
  await waitInPage(page, () => window.restart.doc.pending === 0);
  assert.equal(await page.evaluate(() => window.restart.doc.rev), 1);

  // The server dies without a word; an edit made meanwhile waits in the page.
  await server.stop("SIGKILL");
  await waitInPage(page, () => window.restart.client.state.status === "reconnecting");
  await page.evaluate(() => window.restart.doc.set("mine", "made while the server was down"));
  server = await TestServer.start(addr, serverArgs);
  // Published after the restart, likely before the page is back (replayed), then live ones.
  for (let n = 101; n <= 102; n += 1) await publish("news", { n });
  await waitInPage(page, () => window.restart.log.roomStates.filter((s) => s.status === "joined").length === 2);
  for (let n = 103; n <= 105; n += 1) await publish("news", { n });
  await waitInPage(page, () => window.restart.log.messages.length >= 8);

  const log = await page.evaluate(() => window.restart.log);
  assert.deepEqual(
    log.messages.slice(3),
    [101, 102, 103, 104, 105].map((n, i) => ({ seq: i + 1, payload: { n } })),
    "every message published after the restart, once, in order",
  );
  const joined = log.roomStates.filter((s) => s.status === "joined");
  assert.deepEqual(joined, [
    { status: "joined", recovered: true },
    { status: "joined", recovered: false },
  ]);

  // The document: reset onto the new (empty) history, the pending edit re-sent and applied.
  await waitInPage(page, () => window.restart.log.resets.length > 0 && window.restart.doc.synced && window.restart.doc.pending === 0);
  const view = await page.evaluate(() => ({
    resets: window.restart.log.resets,
    object: window.restart.doc.toObject(),
    rev: window.restart.doc.rev,
  }));
  assert.deepEqual(view.resets, [{ rev: 0 }]);
  assert.deepEqual(view.object, { mine: "made while the server was down" }, "the old history is gone");
  const onServer = await server.control("doc?name=board");
  assert.deepEqual(onServer, {
    rev: 1,
    entries: { mine: { value: "made while the server was down", rev: 1 } },
  });
  assert.equal(view.rev, 1, "converged with the server");
  await context.close();
  assert.deepEqual(errors, []);
});
