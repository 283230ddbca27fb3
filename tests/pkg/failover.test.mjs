// Failover between server nodes with no load balancer in front: the client is given a list of
// URLs. This file runs two release servers of its own on loopback ports (nodes A and B, each
// with its own memory state), and a page in headless Chromium uses the built package:
// - the first URL's port is closed: the client ends up open on the second URL;
// - the client is on node A mid-stream, A is killed (SIGKILL: no close frame), and the client
//   reconnects to node B, rejoins its room there and receives what B publishes; then B is
//   killed with A back up, and the client goes round the list to A.
// Run by scripts/test-pkg.sh (needs the assembled demo site and the release server binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { launch } from "./browser.mjs";
import { TestServer, waitInPage } from "./server.mjs";

const nodeA = process.env.RESOCKET_FAILOVER_NODE_A ?? "127.0.0.1:9442";
const nodeB = process.env.RESOCKET_FAILOVER_NODE_B ?? "127.0.0.1:9443";
/** Reconnects within a fraction of a second, so the test does not wait on the defaults. */
const FAST = { reconnect: { initialDelayMs: 100, maxDelayMs: 400 } };
const serverArgs = [
  "--demo", "--insecure-trust-client-user", "--config", "server/resocket.demo.toml",
  "--static", process.env.OUT ?? "out/demo",
  // No price feed: only this test publishes.
  "--feed-interval-ms", "0",
];

let browser;
/** The running server of each node, by address. */
const servers = new Map();

const startServer = async (addr) => servers.set(addr, await TestServer.start(addr, serverArgs));
const control = (addr, path, init) => servers.get(addr).control(path, init);

async function killServer(addr, signal) {
  await servers.get(addr)?.stop(signal);
  servers.delete(addr);
}

/** A loopback port nothing listens on: bound by the OS, then released. */
async function closedPort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}


/** A page served by `addr` with the package loaded. */
async function openPage(addr) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`http://${addr}/`);
  await page.evaluate(async () => {
    const { load } = await import("/pkg/index.js");
    await load();
  });
  return { context, page, errors };
}

before(async () => {
  await startServer(nodeA);
  await startServer(nodeB);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const addr of [...servers.keys()]) await killServer(addr, "SIGTERM");
});

test("the first URL's port is closed: the client waits its backoff and opens on the second", async () => {
  const { context, page, errors } = await openPage(nodeB);
  const closed = `ws://127.0.0.1:${await closedPort()}/ws`;
  const before = await control(nodeB, "stats");
  await page.evaluate(
    async ([urls, options]) => {
      const { Client } = await import("/pkg/index.js");
      const states = [];
      const client = new Client(urls, options);
      client.on("state", (state) => states.push(state));
      window.failover = { client, states };
    },
    [[closed, `ws://${nodeB}/ws`], FAST],
  );
  await waitInPage(page, () => window.failover.client.state.status === "open");
  const log = await page.evaluate(() => window.failover.states);
  const [first, failed, second, open] = log;
  assert.deepEqual(first, { status: "connecting", attempt: 1, url: 0 });
  assert.equal(failed.status, "reconnecting");
  assert.ok(failed.delayMs >= 50 && failed.delayMs <= 100, `waited the first backoff delay: ${failed.delayMs}`);
  assert.deepEqual(second, { status: "connecting", attempt: 2, url: 1 });
  assert.deepEqual(open, { status: "open", url: 1 });
  assert.equal(log.length, 4, JSON.stringify(log));
  const after = await control(nodeB, "stats");
  assert.equal(after.accepted - before.accepted, 1, "one connection to the second URL");
  await page.evaluate(() => window.failover.client.free());
  await context.close();
  assert.deepEqual(errors, []);
});

test("node A is killed mid-stream: the client reconnects to node B, then round the list to A", async () => {
  const { context, page, errors } = await openPage(nodeB);
  await page.evaluate(
    async ([urls, options]) => {
      const { Client } = await import("/pkg/index.js");
      const log = { messages: [], roomStates: [], sessions: [], states: [] };
      const client = new Client(urls, options);
      client.on("state", (state) => log.states.push(state));
      const room = client.join("ticks", (payload, seq) => log.messages.push({ seq, payload }));
      room.on("state", (state) => log.roomStates.push(state));
      client.on("session", (session) => log.sessions.push(session));
      window.failover = { client, room, log };
    },
    [[`ws://${nodeA}/ws`, `ws://${nodeB}/ws`], FAST],
  );
  /** In the page: whether the room was joined `n` times (once per node it connected to). */
  const joined = (n) => window.failover.log.roomStates.filter((s) => s.status === "joined").length === n;
  await waitInPage(page, joined, 1);
  assert.deepEqual(await page.evaluate(() => window.failover.client.state), { status: "open", url: 0 });
  for (let n = 1; n <= 3; n += 1) await control(nodeA, "publish?room=ticks", { method: "POST", body: JSON.stringify({ n }) });
  await waitInPage(page, () => window.failover.log.messages.length === 3);

  // Node A dies without a word; the client moves to B and rejoins the room there.
  const onB = await control(nodeB, "stats");
  const seen = await page.evaluate(() => window.failover.log.states.length);
  await killServer(nodeA, "SIGKILL");
  await waitInPage(page, joined, 2);
  // One attempt, after the backoff delay, straight to B (the states are read afterwards: a
  // reconnecting state lasts 50-100 ms, too short to poll for reliably on a loaded machine).
  const states = (await page.evaluate(() => window.failover.log.states)).slice(seen);
  assert.deepEqual(
    states.map(({ status, url }) => ({ status, url })),
    [
      { status: "reconnecting", url: undefined },
      { status: "connecting", url: 1 },
      { status: "open", url: 1 },
    ],
  );
  for (let n = 4; n <= 6; n += 1) await control(nodeB, "publish?room=ticks", { method: "POST", body: JSON.stringify({ n }) });
  await waitInPage(page, () => window.failover.log.messages.length === 6);
  const log = await page.evaluate(() => window.failover.log);
  assert.deepEqual(
    log.messages.map((m) => m.payload.n),
    [1, 2, 3, 4, 5, 6],
    "what each node published, once, in order",
  );
  // B never knew A's session or room stream: the client is told, rather than told it recovered.
  assert.deepEqual(
    log.roomStates.filter((s) => s.status === "joined"),
    [
      { status: "joined", recovered: true },
      { status: "joined", recovered: false },
    ],
  );
  assert.deepEqual(
    log.sessions.map(({ resumed, lost }) => ({ resumed, lost })),
    [
      { resumed: false, lost: false },
      { resumed: false, lost: true },
    ],
  );
  assert.equal((await control(nodeB, "stats")).accepted - onB.accepted, 1, "one connection to B");
  assert.equal(await page.evaluate(() => window.failover.client.metrics().reconnects), 1);

  // A comes back, B dies: the next attempt wraps round the list to A.
  await startServer(nodeA);
  await killServer(nodeB, "SIGKILL");
  await waitInPage(page, joined, 3);
  assert.deepEqual(await page.evaluate(() => window.failover.client.state), { status: "open", url: 0 });
  await control(nodeA, "publish?room=ticks", { method: "POST", body: JSON.stringify({ n: 7 }) });
  await waitInPage(page, () => window.failover.log.messages.length === 7);
  await page.evaluate(() => window.failover.client.free());
  await context.close();
  assert.deepEqual(errors, []);
});
