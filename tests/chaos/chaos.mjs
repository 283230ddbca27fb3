// The chaos test: the release server on a loopback port, N browser clients (headless Chromium,
// the built package) on one room and one document, a stream of room messages (published by the
// server and by the clients), requests and document edits, while the runner forces drops
// (`/control/drop`) and kills (SIGKILL, sometimes SIGTERM) and restarts the server, for a bounded
// time. Then it stops the chaos, lets everything settle, and checks what every client saw
// against what was sent, what the app backend ran, and the server's copy of the document.
//
// It prints a table and exits non-zero when a promise of the memory engine is broken: a room
// message lost without a `recovered: false` notice after it was sent, one delivered twice, a
// publish or request never settled (or settled twice), a request whose effect ran twice (or
// that resolved without running), a document op lost without a `reset` after it was confirmed,
// or documents that do not converge. Losses with a notice are allowed (a restarted memory engine
// has forgotten its history) and reported.
//
// With CHAOS_ENGINE=redis it runs two server nodes on the Redis engine, sharing a redis-server
// of its own, and the clients are given both nodes' URLs: the runner kills and restarts one node
// at a time and drops either's sockets. The Redis engine promises more, and the run checks it:
// no message lost at all (with or without a notice), no session lost, no document reset.
//
// Run by scripts/chaos.sh (`make chaos`; a short run in `make test`). Environment:
// CHAOS_SECONDS (default 60), CHAOS_SEED (default random; printed), CHAOS_CLIENTS (3),
// CHAOS_ENGINE (memory or redis), CHAOS_ADDR (127.0.0.1:9440), CHAOS_ADDR2 (the second node
// with redis, 127.0.0.1:9445), CHAOS_REDIS (127.0.0.1:9444), CHAOS_BACKEND (127.0.0.1:9441),
// CHAOS_STATIC (out/chaos: a directory with the built package under pkg/ and an index.html).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { launch } from "../pkg/browser.mjs";
import { createRng } from "./rng.mjs";
import { account, failures, renderReport } from "./accounting.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const settings = {
  seconds: positiveNumber("CHAOS_SECONDS", 60),
  seed: process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) >>> 0 : randomBytes(4).readUInt32LE(0),
  clients: positiveNumber("CHAOS_CLIENTS", 3),
  engine: process.env.CHAOS_ENGINE ?? "memory",
  addr: process.env.CHAOS_ADDR ?? "127.0.0.1:9440",
  addr2: process.env.CHAOS_ADDR2 ?? "127.0.0.1:9445",
  redis: process.env.CHAOS_REDIS ?? "127.0.0.1:9444",
  backend: process.env.CHAOS_BACKEND ?? "127.0.0.1:9441",
  staticDir: process.env.CHAOS_STATIC ?? "out/chaos",
};
if (!["memory", "redis"].includes(settings.engine)) throw new Error("CHAOS_ENGINE must be memory or redis");
const redisMode = settings.engine === "redis";
/** The server nodes: one with the memory engine, two sharing Redis. */
const nodeAddrs = redisMode ? [settings.addr, settings.addr2] : [settings.addr];
const base = `http://${settings.addr}`;
const controlSecret = randomBytes(24).toString("hex");
const rpcSecret = randomBytes(24).toString("hex");
const ROOM = "chaos";
const DOC = "chaos-doc";
/** The method the clients call; the server forwards it to the backend below. */
const EFFECT_METHOD = "chaos.effect";
/** How long the end of the run may wait for everything to settle, per phase. */
const SETTLE_MS = 15_000;

function positiveNumber(name, fallback) {
  const value = process.env[name] === undefined ? fallback : Number(process.env[name]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rng = createRng(settings.seed);

// ---- The server process ----------------------------------------------------------------------

const serverArgs = [
  "--demo", "--insecure-trust-client-user", "--config", "server/resocket.demo.toml",
  "--test-controls", "--control-secret", controlSecret,
  "--static", settings.staticDir,
  "--feed-interval-ms", "0",
  // Enough history that a drop never outruns it: losses come from restarts only.
  "--history", "1000",
  "--rpc-url", `http://${settings.backend}/rpc`,
  ...(redisMode
    ? ["--redis", `redis://${settings.redis}`, "--redis-prefix", `chaos-${settings.seed}:`, "--redis-lease-ms", "2000"]
    : []),
];
/** The running server process of each node, or null while it is down. */
const servers = nodeAddrs.map(() => null);
/** The last lines the servers wrote (shown when the run fails). */
let serverLog = [];
/** Server incarnations started (1 = the first). */
let incarnations = 0;
/** Servers that exited without being told to (a crash is a finding). */
const unexpectedExits = [];
/** The redis-server of a Redis run, and its directory. */
let redis = null;

/** A control call to node `node` (default: the first node that is up). */
async function control(path, init = {}, node = servers.findIndex((s) => s !== null)) {
  const response = await fetch(`http://${nodeAddrs[Math.max(node, 0)]}/control/${path}`, {
    ...init,
    headers: { "x-resocket-control-secret": controlSecret },
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`control/${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), "resocket-chaos-redis-"));
  const [host, port] = settings.redis.split(":");
  const child = spawn("redis-server", ["--port", port, "--bind", host, "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  redis = { child, dir };
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(Number(port), host, () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`redis-server did not start on ${settings.redis}`);
}

function stopRedis() {
  if (!redis) return;
  redis.child.kill("SIGKILL");
  rmSync(redis.dir, { recursive: true, force: true });
  redis = null;
}

async function startServer(node = 0) {
  const child = spawn("target/release/resocket-server", ["--addr", nodeAddrs[node], ...serverArgs], {
    cwd: root,
    env: { ...process.env, RESOCKET_RPC_SECRET: rpcSecret, RUST_LOG: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    serverLog.push(...chunk.split("\n").filter(Boolean).map((line) => `[node ${node}] ${line}`));
    serverLog = serverLog.slice(-100);
  });
  child.on("exit", (code, signal) => {
    if (!child.stopping) unexpectedExits.push(`node ${node}, incarnation ${incarnation} exited by itself (${signal ?? code})`);
  });
  servers[node] = child;
  incarnations += 1;
  const incarnation = incarnations;
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`node ${node} exited (${child.exitCode})`);
    try {
      await control("stats", {}, node);
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`node ${node} did not answer on ${nodeAddrs[node]}`);
}

async function stopServer(node, signal) {
  const child = servers[node];
  servers[node] = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.stopping = true;
  child.kill(signal);
  // SIGTERM closes every socket first; do not wait forever for it.
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

function killEverything() {
  for (const child of servers) child?.kill("SIGKILL");
  redis?.child.kill("SIGKILL");
}

// ---- The app backend: runs the effect of each request, counted by the app's own id ------------

/** Effect runs per app-level request id (`params.op`). */
const effects = new Map();

function startBackend() {
  const [host, port] = settings.backend.split(":");
  const backendRng = createRng(settings.seed ^ 0x5bd1e995);
  const backend = http.createServer(async (request, response) => {
    let body = "";
    for await (const chunk of request) body += chunk;
    if (request.headers["x-resocket-secret"] !== rpcSecret) {
      response.writeHead(403).end();
      return;
    }
    const call = JSON.parse(body);
    if (call.method !== EFFECT_METHOD || typeof call.params?.op !== "string") {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(JSON.stringify({ message: "no such method" }));
      return;
    }
    // The effect happens at once; the answer comes a little later, so drops and kills find
    // requests in flight at every stage.
    const runs = (effects.get(call.params.op) ?? 0) + 1;
    effects.set(call.params.op, runs);
    await sleep(Math.floor(backendRng() * 150));
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ op: call.params.op, runs }));
  });
  return new Promise((resolve, reject) => {
    backend.once("error", reject);
    backend.listen(Number(port), host, () => resolve(backend));
  });
}

// ---- The browser clients ---------------------------------------------------------------------

/**
 * Runs in each page: a client on the room and the document, logging everything it sees, and an
 * activity loop (seeded) that publishes, requests and edits until stopped or past its deadline.
 */
async function setUpPage({ user, seed, urls, room, doc: docName, method, activityMs }) {
  // The entry with documents: the page also edits a document.
  const { load, Client } = await import("/pkg/docs/index.js");
  await load();
  // The page's own seeded generator (same algorithm as ../chaos/rng.mjs).
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const now = () => Date.now();
  const codeOf = (error) => (error && typeof error === "object" && "code" in error ? error.code : String(error));
  // `events` keeps the order in which this page saw things; times are wall-clock milliseconds.
  const log = { events: [], publishes: [], requests: [], ops: [] };
  const client = new Client(urls, { user, seed, reconnect: { initialDelayMs: 50, maxDelayMs: 400 } });
  client.on("state", (s) => log.events.push({ type: "state", status: s.status, url: s.url, t: now() }));
  client.on("session", (s) => log.events.push({ type: "session", resumed: s.resumed, lost: s.lost, t: now() }));
  const chatRoom = client.join(room, (payload, seq) =>
    log.events.push({ type: "msg", id: payload?.id, seq, t: now() }),
  );
  chatRoom.on("state", (s) => log.events.push({ type: "room", status: s.status, recovered: s.recovered, t: now() }));
  const doc = client.doc(docName);
  doc.on("confirmed", ({ cseq }) => log.events.push({ type: "confirmed", cseq, t: now() }));
  doc.on("rejected", ({ cseq, error }) => log.events.push({ type: "rejected", cseq, code: codeOf(error), t: now() }));
  doc.on("reset", ({ rev }) => log.events.push({ type: "reset", rev, t: now() }));

  let counter = 0;
  let running = false;
  let deadline = 0;
  const settle = (entry, outcome) => {
    entry.settled += 1;
    if (entry.outcome === null) entry.outcome = outcome;
  };
  const actions = {
    publish() {
      const entry = { id: `${user}-p${++counter}`, at: now(), settled: 0, outcome: null, seq: null };
      log.publishes.push(entry);
      try {
        chatRoom.publish({ id: entry.id }).then(
          (seq) => {
            entry.seq = seq;
            settle(entry, "ok");
          },
          (error) => settle(entry, codeOf(error)),
        );
      } catch (error) {
        settle(entry, codeOf(error));
      }
    },
    request() {
      const entry = { op: `${user}-r${++counter}`, at: now(), settled: 0, outcome: null, runs: null };
      log.requests.push(entry);
      try {
        client.request(method, { op: entry.op }, { timeoutMs: null }).then(
          (reply) => {
            entry.runs = reply?.runs ?? null;
            settle(entry, "ok");
          },
          (error) => settle(entry, codeOf(error)),
        );
      } catch (error) {
        settle(entry, codeOf(error));
      }
    },
    edit() {
      const key = `${user}-k${++counter}`;
      const cseq = doc.set(key, counter);
      log.ops.push({ key, value: counter, cseq, at: now() });
    },
  };
  const step = () => {
    if (!running || now() > deadline) {
      running = false;
      return;
    }
    const roll = random();
    if (roll < 0.4) actions.publish();
    else if (roll < 0.7) actions.request();
    else actions.edit();
    setTimeout(step, 60 + Math.floor(random() * 240));
  };
  window.chaos = {
    client,
    room: chatRoom,
    doc,
    log,
    ready: () =>
      client.state.status === "open" &&
      log.events.some((e) => e.type === "room" && e.status === "joined") &&
      doc.synced,
    start() {
      running = true;
      deadline = now() + activityMs;
      step();
    },
    stop() {
      running = false;
    },
    /** Everything this client started has settled and its document is caught up. */
    settled: () =>
      client.state.status === "open" &&
      doc.synced &&
      doc.pending === 0 &&
      log.publishes.every((p) => p.settled > 0) &&
      log.requests.every((r) => r.settled > 0),
    snapshot: () => ({ ...log, doc: { rev: doc.rev, view: doc.toObject(), pending: doc.pending, synced: doc.synced } }),
  };
}

async function openClients(browser) {
  const clients = [];
  for (let index = 0; index < settings.clients; index += 1) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const user = `c${index}`;
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`${base}/`);
    await page.evaluate(setUpPage, {
      user,
      seed: (settings.seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0,
      // Every node, tried in turn; the memory engine's one node by the page's relative URL.
      urls: redisMode ? nodeAddrs.map((addr) => `ws://${addr}/ws`) : "/ws",
      room: ROOM,
      doc: DOC,
      method: EFFECT_METHOD,
      // The page stops by itself shortly after the run, even if the runner never says so.
      activityMs: settings.seconds * 1000 + 5000,
    });
    clients.push({ user, page, context, errors });
  }
  return clients;
}

/** Polls `probe` in every page until it is true (at most `timeoutMs`); false if it never was. */
async function waitInPages(clients, probe, arg, timeoutMs = SETTLE_MS) {
  try {
    await Promise.all(
      clients.map(({ page }) => page.waitForFunction(probe, arg, { timeout: timeoutMs, polling: 50 })),
    );
    return true;
  } catch {
    return false;
  }
}

// ---- The chaos ---------------------------------------------------------------------------------

/** Every message the server published through /control/publish: `{id, at, outcome, seq,
 * incarnation}`. */
const serverPublishes = [];
const chaosEvents = { drops: 0, kills: 0, terms: 0 };
/** What the chaos did when, for the diagnosis of a failed run. */
const timeline = [];

/** Publishes one message as the server; never throws (the outcome is recorded). */
async function serverPublish(id) {
  const entry = { id, at: Date.now(), outcome: null, seq: null, incarnation: null };
  serverPublishes.push(entry);
  const incarnation = incarnations;
  try {
    const up = servers.flatMap((child, node) => (child ? [node] : []));
    const node = up.length > 0 ? up[Math.floor(rng() * up.length)] : 0;
    const published = await control(`publish?room=${ROOM}`, { method: "POST", body: JSON.stringify({ id }) }, node);
    entry.outcome = "ok";
    entry.seq = published.seq;
    // Which server's stream it is in, when no restart happened during the call.
    if (incarnations === incarnation) entry.incarnation = incarnation;
  } catch (error) {
    // Refused connections never reached the server; anything else might have.
    const code = error?.cause?.code;
    entry.outcome = code === "ECONNREFUSED" ? "refused" : "unknown";
  }
}

async function runChaos() {
  const durationMs = settings.seconds * 1000;
  const started = Date.now();
  const at = (fraction) => started + fraction * durationMs;
  // A kill within the first half and a drop early on, whatever the duration; then random gaps.
  let nextKill = at(0.2 + rng() * 0.3);
  let nextDrop = at(0.05 + rng() * 0.2);
  const pending = [];
  let count = 0;
  while (Date.now() - started < durationMs) {
    // Not awaited: kills and drops find publishes in flight.
    pending.push(serverPublish(`s-${++count}`));
    const now = Date.now();
    if (now >= nextKill) {
      const signal = rng() < 0.25 ? "SIGTERM" : "SIGKILL";
      chaosEvents[signal === "SIGTERM" ? "terms" : "kills"] += 1;
      // One node at a time: with two, the other serves meanwhile.
      const node = Math.floor(rng() * nodeAddrs.length);
      timeline.push({ t: Date.now(), what: `${signal} node ${node}` });
      await stopServer(node, signal);
      await sleep(100 + Math.floor(rng() * 1200));
      await startServer(node);
      timeline.push({ t: Date.now(), what: `node ${node} restarted` });
      nextKill = Date.now() + 3000 + rng() * 6000;
    } else if (now >= nextDrop) {
      chaosEvents.drops += 1;
      const outageMs = Math.floor(rng() * 600);
      const node = Math.floor(rng() * nodeAddrs.length);
      timeline.push({ t: Date.now(), what: `drop node ${node} (${outageMs} ms outage)` });
      await control(`drop?outage_ms=${outageMs}`, { method: "POST" }, node).catch(() => {});
      nextDrop = Date.now() + 800 + rng() * 2500;
    }
    await sleep(30 + Math.floor(rng() * 90));
  }
  await Promise.all(pending);
}

// ---- The run -----------------------------------------------------------------------------------

async function main() {
  console.log(
    `chaos: seed ${settings.seed}, ${settings.seconds} s, ${settings.clients} clients, ${settings.engine} engine, node(s) ${nodeAddrs.join(" ")}${redisMode ? `, redis ${settings.redis}` : ""}, backend ${settings.backend} (CHAOS_SEED=${settings.seed} repeats the choices)`,
  );
  const backend = await startBackend();
  let browser;
  try {
    if (redisMode) await startRedis();
    for (let node = 0; node < nodeAddrs.length; node += 1) await startServer(node);
    browser = await launch();
    const clients = await openClients(browser);
    if (!(await waitInPages(clients, () => window.chaos.ready()))) throw new Error("the clients did not get ready");
    await Promise.all(clients.map(({ page }) => page.evaluate(() => window.chaos.start())));

    await runChaos();

    // Calm: no more chaos or activity; everything settles with the server up.
    await Promise.all(clients.map(({ page }) => page.evaluate(() => window.chaos.stop())));
    const settled = await waitInPages(clients, () => window.chaos.settled());
    // A last server message: once every client has it, every earlier message of the final
    // stream has reached it too (the server delivers a room's messages in order).
    const fence = "fence";
    await serverPublish(fence);
    const fenced = await waitInPages(
      clients,
      (id) => window.chaos.log.events.some((e) => e.type === "msg" && e.id === id),
      fence,
    );
    const serverDoc = await control(`doc?name=${DOC}`);
    const converged = await waitInPages(
      clients,
      (rev) => window.chaos.doc.synced && window.chaos.doc.pending === 0 && window.chaos.doc.rev === rev,
      serverDoc.rev,
    );
    const seen = [];
    for (const { user, page, errors } of clients) {
      seen.push({ user, ...(await page.evaluate(() => window.chaos.snapshot())), pageErrors: errors });
    }
    const report = account({
      clients: seen,
      serverPublishes,
      effects,
      serverDoc,
      calm: { settled, fenced, converged },
      unexpectedExits,
    });
    console.log(renderReport(report, { ...chaosEvents, incarnations, seed: settings.seed }));
    const broken = failures(report, { strict: redisMode });
    if (broken.length > 0) {
      console.log(`\nchaos: FAILED (seed ${settings.seed}):`);
      for (const line of broken) console.log(`  - ${line}`);
      // Around each request or publish that never settled: what the chaos and its client did.
      for (const { user, requests, publishes, events } of seen) {
        for (const entry of [...requests, ...publishes].filter((e) => e.settled === 0)) {
          const near = (t) => Math.abs(t - entry.at) < 3000;
          console.log(`---- ${user} ${entry.op ?? entry.id} (never settled), made at ${entry.at} ----`);
          for (const e of timeline.filter((e) => near(e.t))) console.log(`  chaos ${e.t - entry.at} ms: ${e.what}`);
          for (const e of events.filter((e) => near(e.t) && e.type !== "msg")) {
            console.log(`  ${user} ${e.t - entry.at} ms: ${JSON.stringify(e)}`);
          }
        }
      }
      console.log("---- last server log lines ----");
      for (const line of serverLog.slice(-30)) console.log(line);
      return 1;
    }
    console.log(`\nchaos: every ${settings.engine}-engine promise held (seed ${settings.seed})`);
    return 0;
  } finally {
    await browser?.close().catch(() => {});
    for (let node = 0; node < nodeAddrs.length; node += 1) await stopServer(node, "SIGKILL");
    stopRedis();
    backend.close();
  }
}

// Whatever happens, the server process dies with the runner, and the run is bounded.
process.on("exit", killEverything);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    killEverything();
    process.exit(130);
  });
}
const watchdog = setTimeout(
  () => {
    console.log(`chaos: the run did not finish in time (seed ${settings.seed}); stopping`);
    killEverything();
    process.exit(2);
  },
  settings.seconds * 1000 + 120_000,
);
watchdog.unref();

// Exits explicitly: nothing left open (a keep-alive socket, a page timer) may keep it running.
main().then(
  (status) => process.exit(status),
  (error) => {
    console.error(`chaos: ${error?.stack ?? error} (seed ${settings.seed})`);
    for (const line of serverLog.slice(-30)) console.error(line);
    process.exit(1);
  },
);
