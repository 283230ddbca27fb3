// Backpressure with a socket whose buffer really fills: the page (the built package in headless
// Chromium) talks to its own release server through a TCP proxy in this process that stops
// reading from the browser, as a stalled network would. The app keeps sending; the driver must
// keep the socket's `bufferedAmount` near `maxBufferedBytes` and hold the rest in its queue, then
// deliver everything, in order, once the proxy reads again (the server echoes each `send`). A
// second test kills the proxied connection while the buffer is full: the metrics count what the
// dead socket held, and what was held back is delivered on the next connection.
// Run by scripts/test-pkg.sh (needs the assembled demo site and the release server binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { launch } from "./browser.mjs";
import { TestServer, waitInPage } from "./server.mjs";

const addr = process.env.RESOCKET_BACKPRESSURE_TEST_SERVER ?? "127.0.0.1:9446";
const [host, port] = addr.split(":");
const base = `http://${addr}`;
const serverArgs = [
  "--demo", "--insecure-trust-client-user", "--config", "server/resocket.demo.toml",
  "--static", process.env.OUT ?? "out/demo",
  "--feed-interval-ms", "0",
  // Only this test's echoes; no pings while the proxy holds the client's frames back.
  "--rate-limits", "off", "--ping-interval-ms", "0", "--idle-timeout-ms", "0",
];

/** The threshold under test, and the size of each message the page sends. */
const MAX_BUFFERED = 256 * 1024;
const MESSAGE_BYTES = 32 * 1024;

let browser;
let server;
let proxy;

/** A TCP proxy to the server whose reading from the browser can be paused, and whose
 * connections can be cut. */
function startProxy() {
  const state = { reading: true, clients: new Set() };
  const listener = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    state.clients.add(client);
    client.on("data", (data) => upstream.write(data));
    upstream.on("data", (data) => client.write(data));
    const end = () => {
      state.clients.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
    if (!state.reading) client.pause();
  });
  return new Promise((resolve) => {
    listener.listen(0, "127.0.0.1", () => {
      resolve({
        port: listener.address().port,
        pause() {
          state.reading = false;
          for (const client of state.clients) client.pause();
        },
        resume() {
          state.reading = true;
          for (const client of state.clients) client.resume();
        },
        /** Cuts every connection at once (a reset, no close frame). */
        cut() {
          for (const client of state.clients) client.resetAndDestroy();
        },
        close: () => new Promise((done) => {
          for (const client of state.clients) client.destroy();
          listener.close(done);
        }),
      });
    });
  });
}

before(async () => {
  server = await TestServer.start(addr, serverArgs);
  proxy = await startProxy();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.stop();
});

/** A page with a client connected through the proxy. Its `WebSocket` class records the
 * largest `bufferedAmount` right after each send, independently of the client's own metrics. */
async function openClient(context) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${base}/`);
  await page.evaluate(async ({ proxyPort, maxBuffered }) => {
    const { load, Client } = await import("/pkg/index.js");
    await load();
    const seen = { maxBuffered: 0, sockets: 0 };
    class MeasuredSocket extends WebSocket {
      constructor(url) {
        super(url);
        seen.sockets += 1;
      }
      send(data) {
        super.send(data);
        seen.maxBuffered = Math.max(seen.maxBuffered, this.bufferedAmount);
      }
    }
    const echoes = [];
    const client = new Client(`ws://127.0.0.1:${proxyPort}/ws`, {
      WebSocket: MeasuredSocket,
      maxBufferedBytes: maxBuffered,
      queue: { maxMessages: 10000, maxBytes: 512 * 1024 * 1024 },
      heartbeat: { intervalMs: 0 },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    client.on("message", (payload) => echoes.push(payload.n));
    window.bp = { client, seen, echoes, sent: 0 };
  }, { proxyPort: proxy.port, maxBuffered: MAX_BUFFERED });
  await waitInPage(page, () => window.bp.client.state.status === "open");
  return { page, errors };
}

/** Sends messages until the client holds at least `held` of them back (or `cap` in all),
 * yielding to the event loop between sends so the browser can flush to the network. */
async function sendUntilHeldBack(page, held, cap) {
  return page.evaluate(async ({ held, cap, messageBytes }) => {
    const { client } = window.bp;
    const padding = "x".repeat(messageBytes);
    while (window.bp.sent < cap && client.metrics().queueDepth < held) {
      client.send({ n: window.bp.sent, padding });
      window.bp.sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return { sent: window.bp.sent, metrics: client.metrics(), maxBuffered: window.bp.seen.maxBuffered };
  }, { held, cap, messageBytes: MESSAGE_BYTES });
}

test("a socket whose buffer is full holds frames back near the threshold and delivers them all once it drains", async () => {
  const context = await browser.newContext();
  const { page, errors } = await openClient(context);
  proxy.pause();
  // Loopback's kernel buffers take some megabytes before the browser's buffer grows.
  const paused = await sendUntilHeldBack(page, 40, 2048);
  assert.ok(paused.metrics.queueDepth >= 40, `frames held back: ${JSON.stringify(paused)}`);
  assert.ok(paused.metrics.writePauses >= 1);
  assert.ok(
    paused.maxBuffered <= MAX_BUFFERED + 2 * MESSAGE_BYTES,
    `bufferedAmount stays near the threshold: ${paused.maxBuffered}`,
  );
  assert.ok(paused.metrics.bufferedBytes >= MAX_BUFFERED - MESSAGE_BYTES, "the buffer is full");
  // Held back, not sent: the queue keeps growing while the app keeps sending.
  const more = await sendUntilHeldBack(page, paused.metrics.queueDepth + 20, paused.sent + 20);
  assert.ok(more.metrics.queueDepth >= paused.metrics.queueDepth + 20);
  assert.ok(more.maxBuffered <= MAX_BUFFERED + 2 * MESSAGE_BYTES, `${more.maxBuffered}`);

  console.log(`held back: ${more.metrics.queueDepth} of ${more.sent} sent; largest bufferedAmount after a send: ${more.maxBuffered} (threshold ${MAX_BUFFERED})`);
  proxy.resume();
  await waitInPage(page, (count) => window.bp.echoes.length >= count, more.sent, 60000);
  const result = await page.evaluate(() => ({
    echoes: window.bp.echoes,
    metrics: window.bp.client.metrics(),
    seen: window.bp.seen,
  }));
  assert.deepEqual(result.echoes, Array.from({ length: more.sent }, (_, n) => n), "all, once, in order");
  assert.equal(result.metrics.queueDepth, 0);
  assert.equal(result.metrics.messagesSent, more.sent);
  assert.equal(result.metrics.unsentFrames, 0);
  assert.equal(result.seen.sockets, 1, "no reconnect was needed");
  assert.ok(result.seen.maxBuffered <= MAX_BUFFERED + 2 * MESSAGE_BYTES, `${result.seen.maxBuffered}`);
  await page.evaluate(() => window.bp.client.free());
  await context.close();
  assert.deepEqual(errors, []);
});

test("a socket that dies with a full buffer is counted in the metrics, and what was held back is delivered after the reconnect", async () => {
  const context = await browser.newContext();
  const { page, errors } = await openClient(context);
  proxy.pause();
  const paused = await sendUntilHeldBack(page, 40, 2048);
  assert.ok(paused.metrics.queueDepth >= 40, `frames held back: ${JSON.stringify(paused)}`);
  const held = paused.metrics.queueDepth;

  proxy.cut();
  proxy.resume();
  await waitInPage(page, () => window.bp.seen.sockets === 2 && window.bp.client.state.status === "open");
  await waitInPage(page, () => window.bp.client.metrics().queueDepth === 0, undefined, 60000);
  const metrics = await page.evaluate(() => window.bp.client.metrics());
  console.log(`the dead socket held ${metrics.unsentFrames} frames, ${metrics.unsentBytes} bytes; ${held} held back in the queue`);
  assert.ok(metrics.unsentBytes > 0, `the dead socket held bytes: ${JSON.stringify(metrics)}`);
  assert.ok(metrics.unsentFrames > 0 && metrics.unsentFrames * MESSAGE_BYTES >= metrics.unsentBytes - MESSAGE_BYTES);
  assert.ok(metrics.unsentBytes <= MAX_BUFFERED + 2 * MESSAGE_BYTES, "it held no more than the threshold allows");
  // Everything held back reaches the server on the new connection: the last `held` sends are
  // echoed, in order (what the dead socket had accepted may be lost; nothing queued is).
  const last = paused.sent;
  await waitInPage(page, (last) => window.bp.echoes.includes(last - 1), last, 60000);
  const echoes = await page.evaluate(() => window.bp.echoes);
  const tail = Array.from({ length: held }, (_, i) => last - held + i);
  assert.deepEqual(echoes.slice(-held), tail);
  await page.evaluate(() => window.bp.client.free());
  await context.close();
  assert.deepEqual(errors, []);
});
