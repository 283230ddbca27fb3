// The client in a browser: the real WASM client of the built package, imported by name, once as
// "resocket" and once as "resocket/docs", in headless Chromium against the real test server. Connecting, echoes, reconnection with backoff
// and the offline queue, close, malformed frames, listeners, the heartbeat, free(), option
// errors, the queue's overflow, sizes, token functions and the inbound size limit.
import { useBrowser, onEveryEntry } from "./support.mjs";

useBrowser();
/** The tests, run below once with each entry of the package ("resocket", "resocket/docs"). */
const tests = [];
/** Test `name`: `body({ entry, ...arg })` in a test page of its own, `entry` the package entry. */
const define = (name, body, arg = {}) => tests.push([name, body, arg]);

/** Reconnection fast enough for tests. */
const FAST_RECONNECT = { reconnect: { initialDelayMs: 100, maxDelayMs: 400, jitter: 0.5 } };

define("connects_sends_and_receives_payloads_as_js_values", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = new Client(kit.url, {});
  const states = kit.recorder(client, "state");
  const messages = kit.recorder(client, "message");
  await kit.waitOpen(client);
  kit.eq(states.values().map((s) => s.status), ["connecting", "open"]);

  const payload = JSON.parse('{"text":"héllo","n":[1,2.5,null],"nested":{"ok":true}}');
  client.send(payload);
  await kit.waitFor("echo", 5_000, () => messages.len === 1);
  kit.eq(messages.texts(), [kit.text(payload)]);
  const metrics = client.metrics();
  kit.eq(metrics.messagesSent, 1);
  kit.eq(metrics.messagesReceived, 1);
  client.close();
});

define("reconnects_with_backoff_and_delivers_messages_sent_meanwhile_once_in_order", async ({ entry, FAST_RECONNECT }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, FAST_RECONNECT);
  const states = kit.recorder(client, "state");
  const messages = kit.recorder(client, "message");

  // The server drops every socket and refuses new ones for 600 ms: several attempts fail.
  await kit.control("/control/drop?outage_ms=600", "");
  await kit.waitFor("reconnecting", 5_000, () => kit.status(client) === "reconnecting", [client, "state"]);
  for (let n = 0; n < 20; n++) client.send(n);
  kit.eq(client.metrics().queueDepth, 20);
  await kit.waitFor("all 20 echoes", 10_000, () => messages.len >= 20);
  await kit.barrier(client); // a duplicate would have arrived before this reply
  const expected = Array.from({ length: 20 }, (_, n) => String(n));
  kit.eq(messages.texts(), expected, "exactly once and in order");

  const reconnecting = states
    .values()
    .filter((s) => s.status === "reconnecting")
    .map((s) => [s.attempt ?? 0, s.delayMs ?? -1]);
  kit.ok(reconnecting.length >= 2, `the outage makes attempts fail: ${kit.text(reconnecting)}`);
  reconnecting.forEach(([attempt, delay], i) => {
    kit.eq(attempt, i + 2, `attempts count up: ${kit.text(reconnecting)}`);
    kit.ok(delay >= 0 && delay <= 400, `delay within [0, max]: ${kit.text(reconnecting)}`);
  });
  kit.ok(reconnecting[0][1] <= 100, `first delay is the initial one: ${kit.text(reconnecting)}`);
  kit.eq(kit.status(client), "open");
  kit.eq(client.metrics().reconnects, 1);
  client.close();
}, { FAST_RECONNECT });

define("close_stops_reconnecting", async ({ entry, FAST_RECONNECT }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, FAST_RECONNECT);
  const states = kit.recorder(client, "state");
  client.close();
  kit.eq(kit.status(client), "closed");
  kit.eq(kit.text(client.state.reason), '{"kind":"client"}');
  await kit.control("/control/drop", "");
  await kit.sleep(700); // longer than the largest backoff delay
  kit.eq(states.len, 1, `no transition after close: ${kit.text(states.texts())}`);
  const error = kit.throws(() => client.send(1), "sending after close fails");
  kit.eq(error.code, "Closed");
}, { FAST_RECONNECT });

define("close_during_backoff_cancels_the_pending_attempt", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, { reconnect: { initialDelayMs: 300, maxDelayMs: 300, jitter: 0 } });
  const states = kit.recorder(client, "state");
  await kit.control("/control/drop", "");
  await kit.waitFor("reconnecting", 5_000, () => kit.status(client) === "reconnecting", [client, "state"]);
  client.close();
  await kit.sleep(600); // longer than the cancelled attempt's delay
  kit.eq(states.values().map((s) => s.status), ["reconnecting", "closed"]);
});

define("a_malformed_server_frame_raises_an_error_and_the_client_keeps_working", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, {});
  const errors = kit.recorder(client, "error");
  const messages = kit.recorder(client, "message");
  await kit.control("/control/malformed", "");
  await kit.waitFor("error event", 5_000, () => errors.len === 1);
  const error = errors.values()[0];
  kit.eq(error.code, "MalformedFrame");
  kit.eq(error.name, "ResocketError");

  await kit.control("/control/send", '{"kind":"teleport"}');
  await kit.waitFor("second error", 5_000, () => errors.len === 2);
  kit.eq(errors.values()[1].code, "UnknownKind");

  kit.eq(kit.status(client), "open");
  client.send("still here");
  await kit.waitFor("echo", 5_000, () => messages.len === 1);
  kit.eq(messages.texts(), ['"still here"']);
  kit.eq(client.metrics().errors, 2);
  client.close();
});

define("unsubscribed_listeners_hear_nothing_more", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, {});
  const kept = kit.recorder(client, "message");
  const dropped = kit.recorder(client, "message");
  client.send(1);
  await kit.waitFor("first echo", 5_000, () => kept.len === 1);
  dropped.unsubscribe();
  const late = kit.recorder(client, "message");
  client.send(2);
  await kit.waitFor("second echo", 5_000, () => kept.len === 2);
  kit.eq(late.len, 1);
  // Nothing more came to the unsubscribed listener.
  kit.eq(dropped.len, 1, "the unsubscribed listener heard nothing more");
  client.close();
});

define("heartbeat_measures_round_trip_time", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, { heartbeat: { intervalMs: 50, timeoutMs: 2000 } });
  const rtts = kit.recorder(client, "rtt");
  await kit.waitFor("two pongs", 5_000, () => rtts.len >= 2);
  const rtt = client.metrics().rttMs;
  kit.ok(typeof rtt === "number", `rtt measured: ${rtt}`);
  kit.ok(rtt >= 0 && rtt < 2_000, `rtt ${rtt}`);
  kit.ok(typeof rtts.values()[1].smoothedMs === "number", "smoothedMs");
  client.close();
});

define("free_closes_the_socket_on_the_server", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const connections = async () => (await kit.control("/control/stats")).connections;
  // The previous test's page was closed just before: its sockets may still be closing on the
  // server. The count from before is the one that stays put across two reads.
  let before = await connections();
  for (let read = 0; read < 50; read++) {
    await kit.sleep(100);
    const now = await connections();
    if (now === before) break;
    before = now;
  }
  const client = await kit.openClient(Client, {});
  const during = await connections();
  kit.eq(during, before + 1);
  client.free();
  let after;
  for (let i = 0; i < 100; i++) {
    after = await connections();
    if (after === before) break;
    await kit.sleep(20);
  }
  kit.eq(after, before, "the freed client's socket closed");
});

define("bad_options_and_urls_throw_typed_errors", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  for (const [url, options] of [
    ["http://127.0.0.1:1/ws", {}],
    ["ws://127.0.0.1:1/ws", { reconnect: { jitter: 2 } }],
    ["ws://127.0.0.1:1/ws", { queue: { overflow: "sometimes" } }],
    ["ws://127.0.0.1:1/ws", { reconect: {} }],
    ["ws://127.0.0.1:1/ws", { connectTimeoutMs: -5 }],
  ]) {
    const error = kit.throws(() => new Client(url, options), kit.text(options));
    kit.eq(error.code, "InvalidOptions", kit.text(options));
  }
});

// The messages of `Config::validate`, written out as `ConfigError::message()` builds them
// (src/core/config.rs): the JS checks (js/wasm/options.ts) must say the same.
define("every_option_error_keeps_its_message", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const url = "ws://127.0.0.1:1/ws";
  const cases = [
    // Config::validate's (ConfigError::message()).
    [url, { reconnect: { factor: 0.5 } }, "reconnect.factor must be a finite number >= 1"],
    [url, { reconnect: { jitter: 2 } }, "reconnect.jitter must be within [0, 1]"],
    [url, { reconnect: { maxDelayMs: 10 } }, "reconnect.maxDelayMs (10) must be >= reconnect.initialDelayMs (500)"],
    [url, { queue: { maxMessages: 0 } }, "queue.maxMessages must be greater than 0"],
    [url, { queue: { maxBytes: 0 } }, "queue.maxBytes must be greater than 0"],
    [url, { maxMessageBytes: 0 }, "maxMessageBytes must be greater than 0"],
    [url, { maxInboundBytes: 0 }, "maxInboundBytes must be greater than 0"],
    [url, { maxBufferedBytes: 0 }, "maxBufferedBytes must be greater than 0"],
    [url, { connectTimeoutMs: 0 }, "connectTimeoutMs must be greater than 0"],
    [url, { heartbeat: { timeoutMs: 0 } }, "heartbeat.timeoutMs must be greater than 0"],
    [url, { mode: "raw", token: "t" }, "token is not available in raw mode"],
    [[], {}, "the url list is empty"],
    // The options reader's.
    [url, { connectTimeoutMs: -5 }, "options.connectTimeoutMs must be a non-negative integer"],
    [url, { seed: "x" }, "options.seed must be a finite number"],
    [url, { reconnect: { maxAttempts: 1.5 } }, "reconnect.maxAttempts must be a non-negative integer"],
    [url, { reconnect: { factor: "2" } }, "reconnect.factor must be a finite number"],
    [url, { reconect: {} }, "unknown option options.reconect"],
    [url, { queue: { max: 1 } }, "unknown option queue.max"],
    [url, { reconnect: 5 }, "reconnect must be an object"],
    [url, { queue: { overflow: "sometimes" } }, 'queue.overflow must be "reject" or "dropOldest"'],
    [url, { autoConnect: "yes" }, "options.autoConnect must be a boolean"],
    [url, { pageLifecycle: 1 }, "options.pageLifecycle must be a boolean"],
    [url, { user: 5 }, "options.user must be a string"],
    [url, { origin: false }, "options.origin must be a string"],
    [url, { token: 5 }, "options.token must be a string or a function"],
    [url, { WebSocket: "ws" }, "options.WebSocket must be a class"],
    [url, { mode: "plain" }, 'options.mode must be "resocket" or "raw"'],
  ];
  for (const [caseUrl, options, message] of cases) {
    const what = kit.text(options);
    const error = kit.throws(() => new Client(caseUrl, options), what);
    kit.eq(error.code, "InvalidOptions", what);
    kit.eq(error.name, "ResocketError", what);
    kit.eq(error.message, message, what);
  }
  // Absent, null and in-range values are accepted; null `maxAttempts` retries forever.
  const accepted = {
    autoConnect: false,
    seed: 0,
    user: null,
    token: null,
    reconnect: { maxAttempts: null, factor: 1, jitter: 0, initialDelayMs: 0, maxDelayMs: 0 },
    queue: { overflow: "dropOldest" },
    heartbeat: { intervalMs: 0, timeoutMs: 0 },
  };
  const client = new Client(url, accepted);
  new Client(url).free(); // no options
  // The options of `join` and `doc` are read too.
  const message = (error) => {
    kit.eq(error.code, "InvalidOptions");
    return error.message;
  };
  for (const [options, expected] of [
    [{ history: -1 }, "join options.history must be a non-negative integer"],
    [{ metta: {} }, "unknown option join options.metta"],
  ]) {
    const error = kit.throws(() => client.join("r", undefined, options), kit.text(options));
    kit.eq(message(error), expected, kit.text(options));
  }
  client.free();
  // Documents are in "resocket/docs": its client reads `doc`'s options.
  const docs = await import("resocket/docs");
  await docs.load();
  const withDocs = new docs.Client(url, { autoConnect: false });
  const error = kit.throws(() => withDocs.doc("d", { persist: 5 }), "persist: 5");
  kit.eq(message(error), "persist must be a boolean or a storage key");
  withDocs.free();
});

define("a_full_queue_rejects_or_drops_oldest_with_an_event", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const rejecting = new Client(kit.url, { autoConnect: false, queue: { maxMessages: 2 } });
  rejecting.send(1);
  rejecting.send(2);
  const error = kit.throws(() => rejecting.send(3), "full");
  kit.eq(error.code, "QueueFull");

  const dropping = new Client(kit.url, { autoConnect: false, queue: { maxMessages: 2, overflow: "dropOldest" } });
  const dropped = kit.recorder(dropping, "dropped");
  const messages = kit.recorder(dropping, "message");
  for (let n = 1; n <= 3; n++) dropping.send(n);
  kit.eq(dropped.texts(), ['{"count":1,"bytes":26}']);
  dropping.connect();
  await kit.waitFor("two echoes", 5_000, () => messages.len === 2);
  kit.eq(messages.texts(), ["2", "3"]);
  dropping.close();
  rejecting.free();
});

define("message_sizes_are_counted_in_utf8_bytes", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  // `{"kind":"msg","payload":"€€€€€€"}` is 33 UTF-16 units but 45 UTF-8 bytes.
  const client = new Client(kit.url, { autoConnect: false, maxMessageBytes: 40 });
  const error = kit.throws(() => client.send("€€€€€€"), "over the byte limit");
  kit.eq(error.code, "MessageTooLarge");
  client.send("€€€"); // 36 bytes fit
  kit.eq(client.metrics().queueBytes, 36);
  client.free();
});

define("the_token_function_is_called_before_every_connection_attempt", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const state = { calls: 0 };
  const client = new Client(kit.url, { ...kit.FAST, token: kit.tokenFunction(state) });
  await kit.waitOpen(client);
  kit.eq(state.calls, 1, "once before the first attempt");
  // The server ignores hello.token for now; a forced drop makes the client reconnect.
  await kit.control("/control/drop", "");
  await kit.waitFor("asked again", 5_000, () => state.calls === 2);
  await kit.waitOpen(client);
  kit.eq(client.metrics().reconnects, 1);
  kit.eq(state.calls, 2, "once per attempt");
  client.close();
});

define("a_failing_token_function_raises_token_unavailable_and_the_attempt_is_retried", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const state = { calls: 0, failOn: 1 };
  const client = new Client(kit.url, { ...kit.FAST, token: kit.tokenFunction(state) });
  const errors = kit.recorder(client, "error");
  await kit.waitOpen(client);
  kit.eq(errors.values().map((e) => e.code), ["TokenUnavailable"]);
  const message = errors.values()[0].message ?? "";
  kit.ok(message.endsWith("auth server down"), message);
  kit.eq(state.calls, 2, "asked again for the retry");
  client.close();
});

define("a_static_token_connects_and_a_token_of_another_type_is_refused", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = new Client(kit.url, { ...kit.FAST, token: "static-token" });
  await kit.waitOpen(client);
  client.close();
  const refused = kit.throws(() => new Client(kit.url, { ...kit.FAST, token: 5 }), "token: 5");
  kit.eq(refused.code, "InvalidOptions");
});

define("a_token_promise_settling_after_free_does_not_reach_the_freed_client", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const state = { calls: 0 };
  const client = new Client(kit.url, { ...kit.FAST, token: kit.tokenFunction(state) });
  // The token promise settles 10 ms later; the client is gone by then.
  client.free();
  await state.pending;
  await new Promise((resolve) => setTimeout(resolve)); // the client's handlers of it ran
  kit.eq(state.calls, 1);
  // (and the page saw no uncaught error: inPage checks it)
});

define("a_frame_over_max_inbound_bytes_is_dropped_unread_and_the_connection_carries_on", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  // Room for the `welcome` (about 200 bytes with its token and request window).
  const client = await kit.openClient(Client, { maxInboundBytes: 400 });
  const messages = kit.recorder(client, "message");
  const errors = kit.recorder(client, "error");
  // The server echoes it back as a frame of more than 400 bytes.
  client.send("x".repeat(500));
  await kit.waitFor("the error", 5_000, () => errors.len === 1);
  const error = errors.values()[0];
  kit.eq(error.code, "MalformedFrame");
  kit.ok((error.message ?? "").includes("exceeds maxInboundBytes (400)"), error.message);
  kit.eq(client.metrics().oversizedFrames, 1);
  client.send("small");
  await kit.waitFor("the small echo", 5_000, () => messages.len === 1);
  kit.eq(messages.texts(), ['"small"']);
  kit.eq(kit.status(client), "open");
  kit.eq(client.metrics().messagesReceived, 1);
  client.close();
});

onEveryEntry(tests);
