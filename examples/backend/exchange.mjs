// A simulated exchange feed: a plain WebSocket server (the `ws` package, no resocket protocol)
// shaped like a public exchange's market-data stream, for raw mode's tests and the trading demo's
// "Exchange feed" panel. It only listens; it never contacts anything.
//
// Protocol (Binance-style, on any path, e.g. /ws):
//   {"method":"SUBSCRIBE","params":["btcusdt@trade",...],"id":N}   -> {"result":null,"id":N}
//   {"method":"UNSUBSCRIBE","params":[...],"id":N}                 -> {"result":null,"id":N}
//   {"method":"LIST_SUBSCRIPTIONS","id":N}                         -> {"result":[...],"id":N}
//   then, every TRADE_MS, per subscribed stream "<symbol>@trade":
//   {"e":"trade","E":ms,"s":"BTCUSDT","t":tradeId,"p":"price","q":"qty"}
//   with trade ids increasing by 1 per stream. A stream "<symbol>@binary" sends the same trades
//   as 16-byte binary frames: the trade id and the price, float64 big-endian.
//   Keepalive: the text "ping" -> "pong", and {"op":"ping"} -> {"op":"pong"}.
//
// Test controls (HTTP on the same port, tests only):
//   POST /control/drop          terminates every connection (the client sees 1006)
//   POST /control/silence?ms=N  stops answering pings for N ms (trades go on)
//   POST /control/mute?ms=N     sends nothing at all for N ms (no pongs, no trades)
//   GET  /control/received      every frame received: [{binary, text} | {binary, bytes: [..]}]
//   GET  /control/stats         {connections, streams}
//
// Usage: node examples/backend/exchange.mjs [HOST:PORT] (or EXCHANGE_ADDR; default
// 127.0.0.1:9470; port 0 picks a free one). EXCHANGE_TRADE_MS sets the trade interval (default
// 100). Prints "exchange listening on HOST:PORT" once ready; stops on SIGINT/SIGTERM.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const [host, port] = (process.argv[2] ?? process.env.EXCHANGE_ADDR ?? "127.0.0.1:9470").split(/:(?=\d+$)/);
const TRADE_MS = Number(process.env.EXCHANGE_TRADE_MS ?? 100);
const MAX_RECEIVED = 1000;

/** Price and last trade id per stream, shared by every connection (ids only grow). */
const streams = new Map();
/** Frames received from clients, oldest first (for tests). */
const received = [];
let silentUntil = 0;
let mutedUntil = 0;

function stream(name) {
  let s = streams.get(name);
  if (!s) {
    const symbol = name.split("@")[0].toUpperCase();
    s = { symbol, lastId: 0, price: symbol.startsWith("BTC") ? 97000 : symbol.startsWith("ETH") ? 3600 : 100 };
    streams.set(name, s);
  }
  return s;
}

const http = createServer((req, res) => {
  const url = new URL(req.url, "http://exchange");
  const ms = Number(url.searchParams.get("ms") ?? 0);
  const reply = (body) => {
    res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
    res.end(JSON.stringify(body));
  };
  switch (`${req.method} ${url.pathname}`) {
    case "POST /control/drop": {
      const count = wss.clients.size;
      for (const ws of wss.clients) ws.terminate();
      return reply({ dropped: count });
    }
    case "POST /control/silence":
      silentUntil = Date.now() + ms;
      return reply({ silentUntil });
    case "POST /control/mute":
      mutedUntil = Date.now() + ms;
      return reply({ mutedUntil });
    case "GET /control/received":
      return reply(received);
    case "GET /control/stats":
      return reply({ connections: wss.clients.size, streams: [...streams.keys()] });
    default:
      res.writeHead(404).end();
  }
});

const wss = new WebSocketServer({ server: http });

wss.on("connection", (ws) => {
  ws.subscriptions = new Set();
  ws.on("error", () => {});
  ws.on("message", (data, binary) => {
    const text = binary ? undefined : data.toString();
    received.push(binary ? { binary, bytes: [...new Uint8Array(data)] } : { binary, text });
    if (received.length > MAX_RECEIVED) received.shift();
    const now = Date.now();
    const answer = (frame) => now >= mutedUntil && ws.send(frame);
    if (binary) return;
    if (text === "ping") return now >= silentUntil && answer("pong");
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return answer(JSON.stringify({ error: { code: 2, msg: "Invalid JSON" }, id: null }));
    }
    if (frame?.op === "ping") return now >= silentUntil && answer(JSON.stringify({ op: "pong" }));
    const { method, params, id } = frame ?? {};
    const names = Array.isArray(params) ? params.filter((p) => typeof p == "string") : [];
    if (method === "SUBSCRIBE") names.forEach((name) => ws.subscriptions.add(name));
    else if (method === "UNSUBSCRIBE") names.forEach((name) => ws.subscriptions.delete(name));
    else if (method === "LIST_SUBSCRIPTIONS") return answer(JSON.stringify({ result: [...ws.subscriptions], id }));
    else return answer(JSON.stringify({ error: { code: 2, msg: "Unknown method" }, id: id ?? null }));
    answer(JSON.stringify({ result: null, id }));
  });
});

// One tick for every stream anyone subscribes to: each gets its next trade, sent to its subscribers.
const ticker = setInterval(() => {
  if (Date.now() < mutedUntil) return;
  const subscribed = new Set();
  for (const ws of wss.clients) ws.subscriptions.forEach((name) => subscribed.add(name));
  for (const name of subscribed) {
    const s = stream(name);
    s.lastId++;
    s.price = Math.max(1, s.price * (1 + (Math.random() - 0.5) / 500));
    const qty = (Math.random() * 2).toFixed(4);
    let frame;
    if (name.endsWith("@binary")) {
      const view = new DataView(new ArrayBuffer(16));
      view.setFloat64(0, s.lastId);
      view.setFloat64(8, s.price);
      frame = Buffer.from(view.buffer);
    } else {
      frame = JSON.stringify({ e: "trade", E: Date.now(), s: s.symbol, t: s.lastId, p: s.price.toFixed(2), q: qty });
    }
    for (const ws of wss.clients) {
      if (ws.readyState === ws.OPEN && ws.subscriptions.has(name)) ws.send(frame, { binary: name.endsWith("@binary") });
    }
  }
}, TRADE_MS);

http.listen(Number(port), host, () => {
  const address = http.address();
  console.log(`exchange listening on ${address.address}:${address.port}`);
});

const stop = () => {
  clearInterval(ticker);
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
