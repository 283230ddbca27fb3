// Raw mode in Node with the `ws` package's WebSocket against the simulated exchange feed
// (examples/backend/exchange.mjs, started here): subscribe on open, trades as parsed JSON,
// binary frames as ArrayBuffers, and the re-subscribe after the server drops the connection.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { connect } from "../../pkg/index.js";
import { startExchange } from "../pkg/exchange.mjs";

let exchange;
before(async () => {
  exchange = await startExchange({ tradeMs: 30 });
});
after(() => exchange?.stop());

/** Resolves once `check()` holds, checked again at each of `client`'s messages and state
 * changes (what can make it hold); fails after 5 s. */
function until(client, check, what) {
  return new Promise((resolve, reject) => {
    const finish = (error) => {
      clearTimeout(timer);
      offs.forEach((off) => off());
      if (error) reject(error);
      else resolve();
    };
    const recheck = () => check() && finish();
    const offs = [client.on("message", recheck), client.on("state", recheck)];
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}`)), 5000);
    recheck();
  });
}

test("raw mode in Node: subscribe on open, JSON and binary frames, re-subscribe after a drop", async () => {
  const client = await connect(exchange.url, {
    WebSocket,
    mode: "raw",
    sendOnOpen: [{ method: "SUBSCRIBE", params: ["btcusdt@trade", "ethusdt@binary"], id: 1 }],
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  try {
    const trades = [];
    const binary = [];
    client.on("message", (data) => (data instanceof ArrayBuffer ? binary.push(data) : data?.e === "trade" && trades.push(data.t)));
    await until(client, () => trades.length >= 3 && binary.length >= 3, "trades");
    assert.ok(binary.every((b) => b.byteLength === 16));
    await exchange.control("drop");
    await until(client, () => client.metrics().reconnects === 1 && client.state.status === "open", "the reconnect");
    const count = trades.length;
    await until(client, () => trades.length >= count + 3, "trades after the reconnect");
    trades.slice(1).forEach((id, i) => assert.ok(id > trades[i]));
  } finally {
    client.free();
  }
});
