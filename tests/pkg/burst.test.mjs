// Exactly-once requests, whatever the burst (issue 12): a page in headless Chromium sends 2,000
// `count` requests with the built package, the server drops every socket (no close frame) right
// after the burst went out, and the client resumes its session. Every request settles once, and
// the server's counter ends at exactly 2,000: the client never had more requests in flight than
// the window the server advertised, so every re-sent id found its reply still cached. This file
// runs its own release server on a loopback port, without rate limits (2,000 requests at once
// are far beyond a connection's request bucket). Run by scripts/test-pkg.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { TestServer, waitInPage } from "./server.mjs";

const addr = process.env.RESOCKET_BURST_TEST_SERVER ?? "127.0.0.1:9447";
const base = `http://${addr}`;
const serverArgs = [
  "--demo", "--insecure-trust-client-user",
  "--static", process.env.OUT ?? "out/demo",
  "--feed-interval-ms", "0",
  "--rate-limits", "off",
];
const BURST = 2000;

let browser;
let server;

before(async () => {
  server = await TestServer.start(addr, serverArgs);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Sends the burst from a fresh page and drops the connection with `drop`: "client" closes the
 * socket in the same task as the burst (so before any reply is read, whatever the server ran);
 * "server" has the server drop every socket without a close frame right after. Returns the
 * page's log once every request settled.
 */
async function burstAcrossADrop(drop) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${base}/`);
  const key = `burst-${drop}`;
  await page.evaluate(async () => {
    const { load, Client } = await import("/pkg/index.js");
    await load();
    const client = new Client("/ws", {
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      // The whole burst fits the queue: what exceeds the window waits there.
      queue: { maxMessages: 4000, maxBytes: 4 * 1024 * 1024 },
    });
    const log = { sessions: [], settled: 0, values: [], failures: [] };
    client.on("session", (session) => log.sessions.push(session));
    window.burst = { client, log };
  });
  await waitInPage(page, () => window.burst.client.state.status === "open");

  // The burst, all in one task: only the window goes out, the rest waits in the queue.
  const sent = await page.evaluate(({ burst, key, drop }) => {
    const { client, log } = window.burst;
    for (let n = 0; n < burst; n += 1) {
      client
        .request("count", { key }, { timeoutMs: null })
        .then((value) => log.values.push(value), (error) => log.failures.push(String(error.code)))
        .finally(() => (log.settled += 1));
    }
    const metrics = client.metrics();
    // Closes the socket (and reconnects at once) before this task ends: replies are read in
    // later tasks, so none of the first connection's is.
    if (drop === "client") client.reconnect();
    return { queued: metrics.queueDepth, pending: metrics.pendingRequests };
  }, { burst: BURST, key, drop });
  let settledAtDrop = 0;
  if (drop === "server") {
    await server.control("drop?outage_ms=200", { method: "POST" });
    settledAtDrop = await page.evaluate(() => window.burst.log.settled);
  }

  await waitInPage(page, (burst) => window.burst.log.settled === burst, BURST, 60000);
  const log = await page.evaluate(() => window.burst.log);
  console.log(
    `burst, ${drop} drop: ${sent.pending} pending, ${sent.queued} queued behind the window; ` +
      `${settledAtDrop} settled before the drop`,
  );
  assert.equal(sent.pending, BURST);
  assert.ok(sent.queued > 0 && sent.queued < BURST, `some wait behind the window: ${sent.queued}`);
  assert.deepEqual(log.failures, []);
  assert.ok(log.sessions.length >= 2, "the connection dropped and came back");
  assert.ok(log.sessions.slice(1).every((s) => s.resumed), "the session was resumed");
  const values = [...log.values].sort((a, b) => a - b);
  assert.deepEqual(
    values,
    Array.from({ length: BURST }, (_, i) => i + 1),
    "each count ran once: the counter went 1..2000 with no value twice",
  );
  // One more count proves the counter stood at exactly 2,000.
  const next = await page.evaluate((key) => window.burst.client.request("count", { key }), key);
  assert.equal(next, BURST + 1);
  await context.close();
  assert.deepEqual(errors, []);
}

test("2,000 count requests, the socket closed before any reply, then resumed: each ran once", () =>
  burstAcrossADrop("client"));

test("2,000 count requests across a server drop mid-burst: each ran once", () =>
  burstAcrossADrop("server"));
