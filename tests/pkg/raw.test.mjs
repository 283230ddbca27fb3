// Raw mode in Chromium against a WebSocket server that is not resocket: the simulated exchange
// feed (examples/backend/exchange.mjs, started here on a free port). Subscriptions sent on every
// open, a drop and the re-subscribe, binary frames, the frame types `send` puts on the wire, the
// app-level keepalive timing out and recovering, the offline queue, and the refused features.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage } from "./browser.mjs";
import { startExchange } from "./exchange.mjs";

let browser;
let exchange;

before(async () => {
  browser = await launch();
  exchange = await startExchange({ tradeMs: 40 });
});

after(async () => {
  await browser?.close();
  exchange?.stop();
});

/** A page with `window.feed`: a raw client to the exchange with `options`, and what it saw.
 * `pong` (functions cannot cross into the page): the heartbeat's pong is the frame equal to it. */
async function feedPage(options, pong) {
  const { page, errors } = await openPage(browser, "/basic/");
  await page.evaluate(
    async ({ url, options, pong }) => {
      const { connect } = await import("/pkg/index.js");
      if (pong !== undefined) options.heartbeat.pong = (data) => data === pong;
      const seen = { states: [], messages: [], errors: [], rtts: 0 };
      const client = await connect(url, {
        mode: "raw",
        reconnect: { initialDelayMs: 100, maxDelayMs: 300 },
        ...options,
      });
      client.on("state", (state) => seen.states.push(state));
      client.on("message", (data) => seen.messages.push(data));
      client.on("error", (error) => seen.errors.push(error.code));
      client.on("rtt", () => seen.rtts++);
      window.feed = { client, seen };
    },
    { url: exchange.url, options, pong },
  );
  return { page, errors };
}

const trades = (page, symbol) =>
  page.evaluate((s) => window.feed.seen.messages.filter((m) => m?.e === "trade" && m.s === s).map((m) => m.t), symbol);

test("sendOnOpen subscribes; after a drop the client reconnects and re-subscribes", async () => {
  const subscribe = { method: "SUBSCRIBE", params: ["btcusdt@trade"], id: 1 };
  const { page, errors } = await feedPage({ sendOnOpen: [subscribe] });
  await page.waitForFunction(() => window.feed.seen.messages.filter((m) => m?.e === "trade").length >= 3);
  const first = await trades(page, "BTCUSDT");
  // Parsed JSON, the subscription's answer first, ids increasing by one.
  assert.deepEqual(await page.evaluate(() => window.feed.seen.messages[0]), { result: null, id: 1 });
  first.slice(1).forEach((id, i) => assert.equal(id, first[i] + 1));

  // Dashboards add symbols: the new list applies from the next open.
  await page.evaluate(() =>
    window.feed.client.setSendOnOpen([
      { method: "SUBSCRIBE", params: ["btcusdt@trade", "ethusdt@trade"], id: 2 },
    ]),
  );
  const dropped = await exchange.control("drop");
  assert.ok(dropped.dropped >= 1);
  await page.waitForFunction(() => {
    const statuses = window.feed.seen.states.map((s) => s.status);
    return statuses.includes("reconnecting") && statuses.at(-1) === "open";
  });
  await page.waitForFunction(() => window.feed.seen.messages.filter((m) => m?.e === "trade" && m.s === "ETHUSDT").length >= 3);
  const result = await page.evaluate(() => ({
    statuses: window.feed.seen.states.map((s) => s.status),
    reconnecting: window.feed.seen.states.find((s) => s.status === "reconnecting"),
    metrics: window.feed.client.metrics(),
    replies: window.feed.seen.messages.filter((m) => m && "result" in m),
  }));
  assert.deepEqual(result.statuses.slice(-3), ["reconnecting", "connecting", "open"]);
  assert.equal(result.reconnecting.code, 1006);
  assert.deepEqual(result.replies, [{ result: null, id: 1 }, { result: null, id: 2 }]);
  assert.equal(result.metrics.reconnects, 1);
  assert.ok(result.metrics.messagesReceived >= 7);
  assert.ok(result.metrics.bytesReceived > 100);
  const after = await trades(page, "BTCUSDT");
  assert.ok(after.length > first.length, "BTC trades flow again");
  await page.evaluate(() => window.feed.client.free());
  assert.deepEqual(errors, []);
});

test("binary frames arrive as ArrayBuffers with the server's bytes; receive: text keeps strings", async () => {
  const { page, errors } = await feedPage({
    sendOnOpen: [{ method: "SUBSCRIBE", params: ["btcusdt@binary", "ethusdt@trade"], id: 7 }],
    receive: "text",
  });
  await page.waitForFunction(() => window.feed.seen.messages.filter((m) => m instanceof ArrayBuffer).length >= 3);
  const result = await page.evaluate(() => {
    const messages = window.feed.seen.messages;
    const binary = messages.filter((m) => m instanceof ArrayBuffer);
    return {
      sizes: binary.map((b) => b.byteLength),
      ids: binary.map((b) => new DataView(b).getFloat64(0)),
      prices: binary.map((b) => new DataView(b).getFloat64(8)),
      texts: messages.filter((m) => !(m instanceof ArrayBuffer)).map((m) => typeof m),
      first: messages[0],
    };
  });
  assert.ok(result.sizes.every((size) => size === 16));
  result.ids.slice(1).forEach((id, i) => assert.equal(id, result.ids[i] + 1));
  assert.ok(result.prices.every((p) => p > 1000));
  assert.ok(result.texts.every((t) => t === "string"));
  assert.equal(result.first, '{"result":null,"id":7}');
  await page.evaluate(() => window.feed.client.free());
  assert.deepEqual(errors, []);
});

test("send: a string as it is, an object as JSON, typed arrays and buffers as binary frames", async () => {
  const { page, errors } = await feedPage({ protocols: ["feed.v1", "feed.v0"] });
  const marker = `m${Date.now()}`;
  const result = await page.evaluate(async (marker) => {
    const { client } = window.feed;
    await new Promise((resolve) => (client.state.status === "open" ? resolve() : client.on("state", (s) => s.status === "open" && resolve())));
    client.send(`text ${marker}`);
    client.send({ marker });
    client.send(new Uint8Array([1, 2, 3]));
    client.send(new Uint16Array([0x0201]).buffer);
    client.send(new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2));
    let unsendable = null;
    try {
      client.send(undefined);
    } catch (error) {
      unsendable = error instanceof TypeError;
    }
    return { unsendable, sent: client.metrics().messagesSent, bytes: client.metrics().bytesSent };
  }, marker);
  assert.equal(result.unsendable, true);
  assert.equal(result.sent, 5);
  // The typed array and DataView count their bytes, not their JSON.
  assert.equal(result.bytes, `text ${marker}`.length + JSON.stringify({ marker }).length + 3 + 2 + 2);
  let received;
  for (let i = 0; i < 50; i++) {
    received = await exchange.control("received");
    const at = received.findIndex((f) => f.text === `text ${marker}`);
    if (at >= 0 && received.length >= at + 5) {
      received = received.slice(at, at + 5);
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(received, [
    { binary: false, text: `text ${marker}` },
    { binary: false, text: JSON.stringify({ marker }) },
    { binary: true, bytes: [1, 2, 3] },
    { binary: true, bytes: [1, 2] },
    { binary: true, bytes: [8, 7] },
  ]);
  await page.evaluate(() => window.feed.client.free());
  assert.deepEqual(errors, []);
});

test("keepalive: unanswered pings close with HeartbeatTimeout (4003), then it reconnects", async () => {
  const { page, errors } = await feedPage({
    sendOnOpen: [{ method: "SUBSCRIBE", params: ["btcusdt@trade"], id: 1 }],
    heartbeat: { intervalMs: 200, timeoutMs: 300, ping: "ping" },
  }, "pong");
  await page.waitForFunction(() => window.feed.seen.rtts >= 2);
  // Trades keep flowing while pings go unanswered: only the predicate's pong counts.
  await exchange.control("silence", 1200);
  await page.waitForFunction(() => window.feed.seen.errors.includes("HeartbeatTimeout"), null, { timeout: 5000 });
  const closed = await page.evaluate(() => window.feed.seen.states.find((s) => s.status === "reconnecting"));
  assert.equal(closed.code, 4003);
  // Once the server answers again, the connection stays open and pongs are counted again.
  await new Promise((r) => setTimeout(r, 1300));
  const rtts = await page.evaluate(() => window.feed.seen.rtts);
  await page.waitForFunction((before) => window.feed.seen.rtts >= before + 2 && window.feed.client.state.status === "open", rtts, { timeout: 5000 });
  assert.deepEqual(errors, []);
  await page.evaluate(() => window.feed.client.free());
});

test("keepalive without a predicate: any frame counts; a silent server is timed out", async () => {
  const { page, errors } = await feedPage({
    sendOnOpen: [{ method: "SUBSCRIBE", params: ["solusdt@trade"], id: 1 }],
    heartbeat: { intervalMs: 150, timeoutMs: 400, ping: { op: "ping" } },
  });
  await page.waitForFunction(() => window.feed.seen.messages.some((m) => m?.op === "pong"));
  await exchange.control("mute", 800);
  await page.waitForFunction(() => window.feed.seen.errors.includes("HeartbeatTimeout"), null, { timeout: 5000 });
  await page.waitForFunction(() => window.feed.client.state.status === "open" && window.feed.client.metrics().reconnects >= 1, null, { timeout: 5000 });
  assert.deepEqual(errors, []);
  await page.evaluate(() => window.feed.client.free());
});

test("offline queue: sends before connecting and during a drop arrive after the open frames, in order", async () => {
  const marker = `q${Date.now()}`;
  const { page, errors } = await feedPage({
    autoConnect: false,
    sendOnOpen: [{ method: "SUBSCRIBE", params: [`${marker}@trade`], id: 1 }],
    reconnect: { initialDelayMs: 600, maxDelayMs: 600, jitter: 0 },
  });
  await page.evaluate((marker) => {
    const { client } = window.feed;
    client.send(`${marker} 1`);
    client.send({ marker, n: 2 });
    client.connect();
  }, marker);
  await page.waitForFunction(() => window.feed.client.state.status === "open");
  await page.waitForFunction(() => window.feed.seen.messages.some((m) => m?.e === "trade"));
  await exchange.control("drop");
  await page.waitForFunction(() => window.feed.client.state.status === "reconnecting");
  const queued = await page.evaluate((marker) => {
    const { client } = window.feed;
    client.send(`${marker} 3`);
    // Binary data is copied at the call, as WebSocket.send does: changing it later changes
    // nothing that was queued.
    const bytes = new Uint8Array([201, 202, 203]);
    client.send(bytes);
    bytes.fill(0);
    client.send(`${marker} 4`);
    return client.metrics().queueDepth;
  }, marker);
  assert.equal(queued, 3);
  await page.waitForFunction(() => window.feed.client.state.status === "open");
  let mine = [];
  for (let i = 0; i < 50 && mine.length < 6; i++) {
    const received = await exchange.control("received");
    mine = received.map((f) => f.text).filter((t) => t?.includes(marker));
    await new Promise((r) => setTimeout(r, 50));
  }
  const subscribe = JSON.stringify({ method: "SUBSCRIBE", params: [`${marker}@trade`], id: 1 });
  assert.deepEqual(mine, [subscribe, `${marker} 1`, JSON.stringify({ marker, n: 2 }), subscribe, `${marker} 3`, `${marker} 4`]);
  const queuedBinary = (await exchange.control("received")).filter((f) => f.binary && (f.bytes[0] >= 200 || f.bytes.every((b) => b === 0)));
  assert.deepEqual(queuedBinary.map((f) => f.bytes), [[201, 202, 203]], "the bytes as they were at send()");
  assert.deepEqual(errors, []);
  await page.evaluate(() => window.feed.client.free());
});

test("raw mode refuses resocket features (NotSupported) and checks its options (InvalidOptions)", async () => {
  const { page, errors } = await openPage(browser, "/basic/");
  const result = await page.evaluate(async (url) => {
    const { load, Client, isResocketError } = await import("/pkg/index.js");
    await load();
    const code = (fn) => {
      try {
        fn();
        return "ok";
      } catch (error) {
        return isResocketError(error) ? error.code : String(error);
      }
    };
    const protocols = [];
    class Recording extends WebSocket {
      constructor(url, list) {
        super(url, list);
        this.addEventListener("open", () => protocols.push(this.protocol));
      }
    }
    const client = new Client(url, { mode: "raw", protocols: "feed.v2", WebSocket: Recording });
    await new Promise((resolve) => client.on("state", (s) => s.status === "open" && resolve()));
    const request = await client.request("x").then(
      () => "ok",
      (error) => error.code,
    );
    const refused = {
      request,
      join: code(() => client.join("room")),
      doc: code(() => client.doc("doc")),
      broadcast: code(() => client.broadcast({})),
      session: client.session ?? null,
    };
    client.free();
    const invalid = {
      receiveInResocket: code(() => new Client(url, { receive: "text", autoConnect: false }).free()),
      pingInResocket: code(() => new Client(url, { heartbeat: { ping: "p" }, autoConnect: false }).free()),
      badMode: code(() => new Client(url, { mode: "plain", autoConnect: false }).free()),
      badProtocols: code(() => new Client(url, { protocols: [1], autoConnect: false }).free()),
      tokenInRaw: code(() => new Client(url, { mode: "raw", token: "t", autoConnect: false }).free()),
      pongWithoutPing: code(() => new Client(url, { mode: "raw", heartbeat: { pong: () => true }, autoConnect: false }).free()),
      badSendOnOpen: code(() => new Client(url, { mode: "raw", sendOnOpen: "x", autoConnect: false }).free()),
      setInResocket: code(() => {
        const c = new Client(url, { autoConnect: false });
        try {
          c.setSendOnOpen([]);
        } finally {
          c.free();
        }
      }),
    };
    return { refused, invalid, protocols };
  }, exchange.url);
  assert.deepEqual(result.refused, {
    request: "NotSupported",
    join: "NotSupported",
    doc: "NotSupported",
    broadcast: "NotSupported",
    session: null,
  });
  assert.deepEqual(result.invalid, {
    receiveInResocket: "InvalidOptions",
    pingInResocket: "InvalidOptions",
    badMode: "InvalidOptions",
    badProtocols: "InvalidOptions",
    tokenInRaw: "InvalidOptions",
    pongWithoutPing: "InvalidOptions",
    badSendOnOpen: "InvalidOptions",
    setInResocket: "NotSupported",
  });
  // The ws server picks the first offered sub-protocol.
  assert.deepEqual(result.protocols, ["feed.v2"]);
  assert.deepEqual(errors, []);
});
