// The demo's simulated app backend: a small job next to the resocket server, as a real app would
// run one. It answers the trading app's `order` requests, which the server forwards to it
// (--rpc-url, checked with the shared secret), and later sends each fill to the user as a
// notification through the server API (resocket/server, with the API key), at the price of the
// latest `prices` tick, read from the room's history.
//
// Environment (scripts/with-demo.sh sets it):
//   RESOCKET_URL         the server, e.g. http://127.0.0.1:8080
//   RESOCKET_API_KEY     the server API key
//   RESOCKET_RPC_SECRET  the secret the server sends with forwarded requests
//   BACKEND_ADDR         where this job listens, e.g. 127.0.0.1:8090
// It prints "backend listening on HOST:PORT" once ready and stops on SIGINT/SIGTERM.
import { createServer } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { ResocketServer } from "../../pkg/server.js";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`orders backend: ${name} is not set`);
  return value;
};
const api = new ResocketServer({ url: env("RESOCKET_URL"), apiKey: env("RESOCKET_API_KEY") });
const rpcSecret = Buffer.from(env("RESOCKET_RPC_SECRET"));
const [host, port] = env("BACKEND_ADDR").split(/:(?=\d+$)/);

/** The feed's symbols (server/src/app/feed.rs). */
const SYMBOLS = new Set(["BTC", "ETH", "AAPL", "MSFT", "EUR/USD"]);
const MAX_QTY = 1_000_000;
/** How long after accepting an order its fill is sent. */
const FILL_DELAY_MS = 300;
/** Accepted orders by Idempotency-Key (session:id), so a repeated call places nothing new. */
const accepted = new Map();
let lastOrder = 0;

class BadRequest extends Error {}

/** `{symbol, side: "buy"|"sell", qty: 0 < n <= 1e6}`, or a BadRequest saying what is wrong. */
function validate(params) {
  const { symbol, side, qty } = params ?? {};
  if (typeof symbol !== "string" || typeof side !== "string" || typeof qty !== "number") {
    throw new BadRequest('params must be {"symbol":<string>,"side":"buy"|"sell","qty":<number>}');
  }
  if (!SYMBOLS.has(symbol)) throw new BadRequest(`unknown symbol ${JSON.stringify(symbol.slice(0, 64))}`);
  if (side !== "buy" && side !== "sell") throw new BadRequest('side must be "buy" or "sell"');
  if (!(qty > 0 && qty <= MAX_QTY)) throw new BadRequest(`qty must be above 0 and at most ${MAX_QTY}`);
  return { symbol, side, qty };
}

/** The latest price of `symbol` in the `prices` room's history. */
async function latestPrice(symbol) {
  const ticks = await api.history("prices", { limit: 50 });
  for (let i = ticks.length - 1; i >= 0; i--) {
    if (ticks[i].payload?.symbol === symbol) return ticks[i].payload.price;
  }
  return undefined;
}

/** Sends the fill to every connection of `user` (nothing is queued for an offline user). */
async function fill(user, order) {
  const price = await latestPrice(order.symbol);
  if (price === undefined) {
    console.error(`orders backend: no ${order.symbol} price yet; ${order.orderId} not filled`);
    return;
  }
  const { delivered } = await api.notify(user, { type: "fill", ...order, price });
  console.error(`orders backend: ${order.orderId} filled at ${price} (${delivered} connection(s))`);
}

/** Places an order: `{orderId, status: "accepted"}`; its fill follows. */
function placeOrder(user, params, key) {
  if (accepted.has(key)) return accepted.get(key);
  const { symbol, side, qty } = validate(params);
  const orderId = `o-${++lastOrder}`;
  const reply = { orderId, status: "accepted" };
  accepted.set(key, reply);
  // Bounded: the server itself runs each request once per session and id; this only guards
  // against a forward repeated after a timeout.
  if (accepted.size > 10_000) accepted.delete(accepted.keys().next().value);
  setTimeout(() => {
    fill(user, { orderId, symbol, side, qty }).catch((error) =>
      console.error(`orders backend: ${orderId} fill failed: ${error.message}`),
    );
  }, FILL_DELAY_MS);
  return reply;
}

function answer(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function fromServer(req) {
  const given = Buffer.from(String(req.headers["x-resocket-secret"] ?? ""));
  return given.length === rpcSecret.length && timingSafeEqual(given, rpcSecret);
}

const server = createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/rpc") return answer(res, 404, { error: { message: "not found" } });
  if (!fromServer(req)) return answer(res, 403, { error: { message: "not the resocket server" } });
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) return answer(res, 413, { error: { message: "too large" } });
  }
  try {
    const { method, params, user } = JSON.parse(body);
    if (method !== "order") return answer(res, 404, { error: { message: `no method ${JSON.stringify(method)}` } });
    // Fills go to the user: the demo apps always connect with a dev token naming one.
    if (typeof user !== "string") return answer(res, 403, { error: { message: "orders need a signed-in user" } });
    answer(res, 200, placeOrder(user, params, String(req.headers["idempotency-key"] ?? "")));
  } catch (error) {
    if (error instanceof BadRequest || error instanceof SyntaxError) return answer(res, 400, { error: { message: error.message } });
    console.error(`orders backend: ${error.stack ?? error}`);
    answer(res, 500, { error: { message: "internal error" } });
  }
});

server.listen(Number(port), host, () => {
  const address = server.address();
  console.log(`backend listening on ${address.address}:${address.port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
