// The trust boundary end to end: the built package in headless Chromium against a server that
// verifies JWTs, accepts one origin, has the server API on and forwards requests to a backend
// this file starts. Run by scripts/test-auth.sh, which starts the server and sets the secrets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import http from "node:http";
import { launch, baseUrl } from "../pkg/browser.mjs";
import { ResocketServer } from "../../pkg/server.js";

const jwtSecret = process.env.RESOCKET_TEST_JWT_SECRET;
const apiKey = process.env.RESOCKET_API_KEY;
const rpcSecret = process.env.RESOCKET_RPC_SECRET;
const controlSecret = process.env.RESOCKET_CONTROL_SECRET;
const backendAddr = process.env.RESOCKET_TEST_BACKEND ?? "127.0.0.1:9438";
assert.ok(jwtSecret && apiKey && rpcSecret, "run through scripts/test-auth.sh");

const api = new ResocketServer({ url: baseUrl, apiKey });
/** A page on the server's origin with no script of its own (the demo's landing page), so
 * nothing connects by itself. (A page made up by Playwright would not do: Chromium's local
 * network access checks block its sockets to loopback.) */
const blankPath = "/";
/** An origin the server does not allow: localhost, where the server allows only 127.0.0.1. */
const foreignPort = 9437;

let browser;
let backend;
let foreign;
/** The backend's calls, in order: `{ method, params, user, session, id, key }`. */
const backendCalls = [];
/** Checks run at each backend call; each removes itself once it holds. */
const onBackendCall = new Set();

/** Resolves once the backend has had more than `count` calls; rejects after `timeoutMs`. */
function backendCallsPast(count, timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (backendCalls.length <= count) return;
      onBackendCall.delete(check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      onBackendCall.delete(check);
      reject(new Error(`the backend had no call past ${count} within ${timeoutMs} ms`));
    }, timeoutMs);
    onBackendCall.add(check);
    check();
  });
}

// ---- helpers ----

const base64url = (value) => Buffer.from(value).toString("base64url");

/** An HS256 JWT for `sub` that expires in `ttlSecs` seconds. */
function sign(sub, ttlSecs, secret = jwtSecret) {
  const now = Math.floor(Date.now() / 1000);
  const head = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = base64url(JSON.stringify({ sub, iat: now, exp: now + ttlSecs }));
  const signature = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${signature}`;
}

async function control(path, init = {}) {
  const headers = controlSecret ? { "x-resocket-control-secret": controlSecret } : {};
  const response = await fetch(`${baseUrl}/control/${path}`, { ...init, headers });
  assert.ok(response.ok, `control/${path}: ${response.status}`);
  return response.json();
}

const stats = () => control("stats");

/** A fresh browser context (its own storage and sockets) on that page, where
 * `signToken(user, ttlSecs)` signs a token with the server's secret. Its clients come from
 * `entry`: "/pkg/index.js" (resocket), or "/pkg/docs/index.js" (resocket/docs) for documents. */
async function openPage(entry = "/pkg/index.js") {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.exposeFunction("signToken", (user, ttlSecs) => sign(user, ttlSecs));
  await page.goto(`${baseUrl}${blankPath}`);
  // In the page: `window.open(user, ttl)` makes a client whose token function signs for `user`,
  // recording every token asked for, every state and every error; it resolves once open.
  await page.evaluate(async (entry) => {
    const { load, Client } = await import(entry);
    await load();
    window.clients = [];
    window.openClient = (user, ttlSecs, options = {}) => {
      const log = { tokens: 0, states: [], errors: [], notifications: [] };
      const client = new Client("/ws", {
        token: async () => {
          log.tokens += 1;
          return window.signToken(user, ttlSecs);
        },
        ...options,
      });
      client.on("state", (state) => log.states.push(state.status));
      client.on("error", (error) => log.errors.push(error.code));
      client.on("notification", (payload) => log.notifications.push(payload));
      window.clients.push({ client, log });
      return new Promise((resolve) => {
        const opened = () => client.state.status === "open" && resolve(window.clients.length - 1);
        client.on("state", opened);
        opened();
      });
    };
  }, entry);
  return { page, context, errors };
}

/** Polls `probe` in the page until it returns a truthy value (at most `timeoutMs`). */
async function waitInPage(page, probe, arg, timeoutMs = 8000) {
  const handle = await page.waitForFunction(probe, arg, { timeout: timeoutMs, polling: 25 });
  return handle.jsonValue();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A backend for forwarded requests: checks the shared secret, records each call, and answers
 * `slow` after 800 ms with who asked and what. */
function startBackend() {
  const [host, port] = backendAddr.split(":");
  const server = http.createServer(async (request, response) => {
    let body = "";
    for await (const chunk of request) body += chunk;
    if (request.headers["x-resocket-secret"] !== rpcSecret) {
      response.writeHead(403).end();
      return;
    }
    const call = { ...JSON.parse(body), key: request.headers["idempotency-key"] };
    backendCalls.push(call);
    for (const check of [...onBackendCall]) check();
    if (call.method === "slow") await sleep(800);
    const known = call.method === "slow" || call.method === "whoami";
    response.writeHead(known ? 200 : 404, { "content-type": "application/json" });
    response.end(JSON.stringify(known ? { user: call.user, params: call.params } : { message: "no such method" }));
  });
  return new Promise((resolve) => server.listen(Number(port), host, () => resolve(server)));
}

/** A plain page on a foreign origin (http://localhost:9437). */
function startForeignSite() {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<!doctype html><title>elsewhere</title>");
  });
  return new Promise((resolve) => server.listen(foreignPort, "127.0.0.1", () => resolve(server)));
}

before(async () => {
  browser = await launch();
  backend = await startBackend();
  foreign = await startForeignSite();
});

after(async () => {
  await browser?.close();
  backend?.close();
  foreign?.close();
});

// ---- tests ----

test("the token function is called before every connection attempt, and presence shows the token's sub", { timeout: 30_000 }, async () => {
  const { page, context, errors } = await openPage();
  await page.evaluate(() => window.openClient("alice", 60));
  await page.evaluate(() => window.clients[0].client.join("lobby:auth"));
  await waitInPage(page, () => window.clients[0].client.state.status === "open");
  await control("drop?outage_ms=0", { method: "POST" });
  // Reconnected: the client went through `reconnecting` and is open again.
  await waitInPage(page, () => {
    const { client, log } = window.clients[0];
    return log.states.includes("reconnecting") && client.state.status === "open";
  });
  const log = await page.evaluate(() => window.clients[0].log);
  assert.equal(log.tokens, 2, "one token per connection attempt");
  // The server knows the connection as the token's `sub`.
  let members = [];
  for (let i = 0; i < 100 && members.length === 0; i++) {
    members = await api.presence("lobby:auth");
    if (members.length === 0) await sleep(50);
  }
  assert.deepEqual(
    members.map((member) => member.user),
    ["alice"],
  );
  assert.deepEqual(errors, []);
  await context.close();
});

test("a 2 s token is refreshed in-band: no reconnect, still authenticated after 5 s", { timeout: 30_000 }, async () => {
  const before = (await stats()).refused_handshakes;
  const { page, context, errors } = await openPage();
  await page.evaluate(() => window.openClient("alice", 2));
  // Three token lifetimes: unrefreshed, the server would have closed it with 4402 after 2 s.
  await sleep(5500);
  const after = await page.evaluate(async () => {
    const { client, log } = window.clients[0];
    const answer = await client.request("whoami", null, { timeoutMs: 5000 });
    return { log, answer, status: client.state.status, reconnects: client.metrics().reconnects };
  });
  assert.equal(after.status, "open");
  assert.deepEqual(after.log.states, ["connecting", "open"], "never reconnected");
  assert.equal(after.reconnects, 0);
  assert.ok(after.log.tokens >= 3, `the token function was asked ${after.log.tokens} times`);
  assert.deepEqual(after.log.errors, []);
  assert.deepEqual(after.answer, { user: "alice", params: null });
  assert.equal((await stats()).refused_handshakes, before);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a static bad token stops the client after one attempt, and the server counts one refusal", { timeout: 30_000 }, async () => {
  const before = (await stats()).refused_handshakes;
  const { page, context, errors } = await openPage();
  const badToken = sign("alice", 60, "not the server's secret");
  const closed = await page.evaluate(async (token) => {
    const { load, Client } = await import("/pkg/index.js");
    await load();
    const states = [];
    const errors = [];
    const client = new Client("/ws", { token });
    client.on("error", (error) => errors.push(error.code));
    await new Promise((resolve) => {
      client.on("state", (state) => {
        states.push(state.status);
        if (state.status === "closed") resolve();
      });
      // Bounded: a client that keeps retrying fails the assertions below instead of hanging.
      setTimeout(resolve, 8000);
    });
    // Nothing more happens: no retry a while later.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return { states, errors, state: client.state };
  }, badToken);
  assert.deepEqual(closed.states, ["connecting", "closed"]);
  assert.deepEqual(closed.state, { status: "closed", reason: { kind: "unauthorized" } });
  assert.ok(closed.errors.includes("Unauthorized"), `errors: ${closed.errors}`);
  assert.equal((await stats()).refused_handshakes, before + 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a notify through the server API reaches every connection of that user, and only them", { timeout: 30_000 }, async () => {
  const tabs = [await openPage(), await openPage(), await openPage()];
  // Users of their own: connections of earlier tests may still be closing.
  const users = ["alice-notify", "alice-notify", "bob-notify"];
  for (const [i, { page }] of tabs.entries()) await page.evaluate((user) => window.openClient(user, 60), users[i]);
  const toAlice = await api.notify("alice-notify", { fill: 1 });
  assert.equal(toAlice.delivered, 2);
  // Sent after Alice's: had Bob's connection been given Alice's, it would have come first.
  await api.notify("bob-notify", { fill: 2 });
  const got = [];
  for (const { page } of tabs) {
    got.push(await waitInPage(page, () => window.clients[0].log.notifications.length > 0 && window.clients[0].log.notifications));
  }
  assert.deepEqual(got, [[{ fill: 1 }], [{ fill: 1 }], [{ fill: 2 }]]);
  for (const { context, errors } of tabs) {
    assert.deepEqual(errors, []);
    await context.close();
  }
});

test("a foreign origin can neither open /ws nor drive /control, and nothing is dropped", { timeout: 30_000 }, async () => {
  const { page, context } = await openPage();
  await page.evaluate(() => window.openClient("alice", 60));
  const before = await stats();
  const foreignPage = await context.newPage();
  await foreignPage.goto(`http://localhost:${foreignPort}/`);
  const attempt = await foreignPage.evaluate(async (target) => {
    const ws = new WebSocket(`${target.replace(/^http/, "ws")}/ws`);
    const upgrade = await new Promise((resolve) => {
      ws.onopen = () => resolve("opened");
      ws.onclose = (event) => resolve(`closed ${event.code}`);
    });
    // A simple cross-site POST: the browser sends it without a preflight.
    let control;
    try {
      await fetch(`${target}/control/drop?outage_ms=5000`, { method: "POST", mode: "no-cors" });
      control = "sent";
    } catch (error) {
      control = `failed: ${error}`;
    }
    return { upgrade, control };
  }, baseUrl);
  assert.equal(attempt.upgrade, "closed 1006", "the upgrade was refused");
  const after = await stats();
  assert.equal(after.outage_remaining_ms, 0, "the cross-site drop did nothing");
  assert.equal(after.connections, before.connections);
  const alice = await page.evaluate(async () => {
    const { client, log } = window.clients[0];
    const answer = await client.request("whoami", null, { timeoutMs: 5000 });
    return { states: log.states, answer };
  });
  assert.deepEqual(alice.states, ["connecting", "open"], "Alice was not dropped");
  assert.deepEqual(alice.answer, { user: "alice", params: null });
  await context.close();
});

test("a request answered by the backend reaches it once across a forced drop", { timeout: 30_000 }, async () => {
  const { page, context, errors } = await openPage();
  await page.evaluate(() => window.openClient("alice", 60));
  const calls = backendCalls.length;
  const reply = page.evaluate(() => window.clients[0].client.request("slow", { n: 7 }, { timeoutMs: 10000 }));
  await backendCallsPast(calls);
  assert.equal(backendCalls.length, calls + 1, "the backend got the request");
  // In flight at the backend: drop every socket; the client resumes and re-sends.
  await control("drop?outage_ms=200", { method: "POST" });
  assert.deepEqual(await reply, { user: "alice", params: { n: 7 } });
  const log = await page.evaluate(() => window.clients[0].log);
  assert.ok(log.states.includes("reconnecting"), "the connection was dropped");
  const slow = backendCalls.slice(calls);
  assert.equal(slow.length, 1, `backend calls: ${JSON.stringify(slow)}`);
  assert.equal(slow[0].user, "alice");
  assert.match(slow[0].key, /^.+:\d+$/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("Bob can neither join private:alice nor publish to prices; Alice can join hers", { timeout: 30_000 }, async () => {
  const alice = await openPage();
  const bob = await openPage();
  await alice.page.evaluate(() => window.openClient("alice-rooms", 60));
  await bob.page.evaluate(() => window.openClient("bob-rooms", 60));
  // Each page: `window.rooms[name]` records the room's states and messages.
  const joinIn = (page, name) =>
    page.evaluate((name) => {
      window.rooms ??= {};
      const record = { states: [], messages: [] };
      const room = window.clients[0].client.join(name, (payload) => record.messages.push(payload));
      room.on("state", (state) => record.states.push(state));
      window.rooms[name] = { room, record };
    }, name);
  await joinIn(alice.page, "private:alice-rooms");
  await joinIn(bob.page, "private:alice-rooms");
  await joinIn(alice.page, "prices");
  await joinIn(bob.page, "prices");
  const stateOf = (page, name) =>
    waitInPage(
      page,
      (name) => {
        const last = window.rooms[name].record.states.at(-1);
        return last && (last.status === "joined" || last.status === "error") && last;
      },
      name,
    );
  assert.equal((await stateOf(alice.page, "private:alice-rooms")).status, "joined");
  const refused = await stateOf(bob.page, "private:alice-rooms");
  assert.equal(refused.status, "error");
  assert.match(refused.code, /forbidden/i);
  assert.equal((await stateOf(alice.page, "prices")).status, "joined");
  assert.equal((await stateOf(bob.page, "prices")).status, "joined");
  // Bob's fake price is refused: his publish rejects with the typed error; the backend's price
  // reaches both.
  const bobPublish = await bob.page.evaluate(() =>
    window.rooms.prices.room.publish({ symbol: "BTC", price: 1 }).then((seq) => `published as ${seq}`, (error) => error.code),
  );
  assert.equal(bobPublish, "Forbidden");
  await api.publish("prices", { symbol: "BTC", price: 64000 });
  for (const { page } of [alice, bob]) {
    const messages = await waitInPage(page, () => window.rooms.prices.record.messages.length > 0 && window.rooms.prices.record.messages);
    // Had Bob's publish gone through, it would have come before the backend's.
    assert.deepEqual(messages, [{ symbol: "BTC", price: 64000 }]);
  }
  // Bob is still served: his connection was never closed.
  const bobStates = await bob.page.evaluate(() => window.clients[0].log.states);
  assert.deepEqual(bobStates, ["connecting", "open"]);
  for (const { context, errors } of [alice, bob]) {
    assert.deepEqual(errors, []);
    await context.close();
  }
});

test("an op under a stolen origin is rejected forbidden and not applied", { timeout: 30_000 }, async () => {
  const alice = await openPage("/pkg/docs/index.js");
  const bob = await openPage();
  // Bob speaks the protocol directly, as an attacker would, with his own valid token.
  await bob.page.evaluate(async (url) => {
    const frames = [];
    const ws = new WebSocket(url);
    ws.onmessage = (event) => frames.push(JSON.parse(event.data));
    await new Promise((resolve) => (ws.onopen = resolve));
    ws.send(JSON.stringify({ kind: "hello", payload: { version: 1, token: await window.signToken("bob-ops", 60) } }));
    window.attacker = { ws, frames };
  }, `${baseUrl.replace(/^http/, "ws")}/ws`);
  const welcome = await waitInPage(bob.page, () => window.attacker.frames.find((f) => f.kind === "welcome"));
  await bob.page.evaluate(() => window.attacker.ws.send(JSON.stringify({ kind: "sync", id: 1, room: "board:ops" })));
  await waitInPage(bob.page, () => window.attacker.frames.some((f) => f.kind === "snapshot" || f.kind === "synced"));
  // Alice writes; Bob, subscribed, sees her op and its origin.
  await alice.page.evaluate(() => window.openClient("alice-ops", 60));
  await alice.page.evaluate(() => {
    window.board = window.clients[0].client.doc("board:ops");
    window.board.set("card", "alice's");
  });
  const seen = await waitInPage(bob.page, () => window.attacker.frames.find((f) => f.kind === "op"));
  assert.notEqual(seen.payload.origin, welcome.payload.origin, "Alice and Bob have different origins");
  // Bob forges Alice's next op.
  await bob.page.evaluate(
    (forged) => window.attacker.ws.send(JSON.stringify(forged)),
    // A client's op carries its cseq in `seq` (docs/PROTOCOL.md).
    {
      kind: "op",
      room: "board:ops",
      seq: seen.payload.cseq + 1,
      payload: { origin: seen.payload.origin, key: "card", op: "set", value: "stolen" },
    },
  );
  const reject = await waitInPage(bob.page, () => window.attacker.frames.find((f) => f.kind === "reject")).catch(
    async (error) => {
      throw new Error(`no reject: ${JSON.stringify(await bob.page.evaluate(() => window.attacker.frames))}`, { cause: error });
    },
  );
  assert.equal(reject.payload.origin, seen.payload.origin);
  assert.equal(reject.payload.cseq, seen.payload.cseq + 1);
  assert.equal(reject.payload.error.code, "forbidden");
  // Not applied, and Alice's own next op (the cseq Bob tried) still applies.
  assert.deepEqual((await api.doc("board:ops")).entries.card.value, "alice's");
  await alice.page.evaluate(() => window.board.set("card", "alice's again"));
  let entries;
  for (let i = 0; i < 100; i++) {
    entries = (await api.doc("board:ops")).entries;
    if (entries.card.value === "alice's again") break;
    await sleep(20);
  }
  assert.equal(entries.card.value, "alice's again");
  const bobOpen = await bob.page.evaluate(() => window.attacker.ws.readyState === WebSocket.OPEN);
  assert.equal(bobOpen, true, "the forger's connection is still served");
  for (const { context, errors } of [alice, bob]) {
    assert.deepEqual(errors, []);
    await context.close();
  }
});
