// Requests, sessions, rooms, presence and notifications in a browser: the real WASM
// client of the built package, imported by name, once as "resocket" and once as
// "resocket/docs", in headless Chromium against the real test server.
import { useBrowser, onEveryEntry } from "./support.mjs";

useBrowser();
/** The tests, run below once with each entry of the package ("resocket", "resocket/docs"). */
const tests = [];
/** Test `name`: `body({ entry, ...arg })` in a test page of its own, `entry` the package entry. */
const define = (name, body, arg = {}) => tests.push([name, body, arg]);

define("a_request_round_trips_and_server_errors_are_typed", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  kit.eq(await client.request("sum", [1, 2, 3.5]), 6.5);
  const echo = await client.request("echo", { a: [1, "b"] });
  kit.eq(kit.text(echo), '{"a":[1,"b"]}');
  const missing = await kit.rejects(client.request("nope", undefined), "not found");
  kit.eq(missing.code, "NotFound");
  const limited = await kit.rejects(client.request("fail", { code: "rate_limited", message: "slow down" }), "fails");
  kit.eq(limited.code, "RateLimited");
  kit.ok((limited.message ?? "").includes("slow down"), limited.message);
  const bad = await kit.rejects(client.request("sum", "x"), "bad params");
  kit.eq(bad.code, "BadRequest");
  kit.eq(client.metrics().pendingRequests, 0);
  client.close();
});

define("a_request_times_out_and_frees_its_slot", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  const error = await kit.rejects(client.request("sleep", { ms: 2000 }, { timeoutMs: 150 }), "times out");
  kit.eq(error.code, "Timeout");
  kit.eq(client.metrics().pendingRequests, 0);
  client.close();
});

define("an_abort_signal_cancels_a_request", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  const controller = new AbortController();
  const promise = client.request("sleep", { ms: 2000 }, { signal: controller.signal });
  const rejected = kit.rejects(promise, "aborted");
  await kit.barrier(client); // the server has the request and sleeps on it
  controller.abort();
  kit.eq((await rejected).code, "Aborted");

  // Already aborted: rejects at once.
  const error = await kit.rejects(client.request("echo", 1, { signal: controller.signal }), "aborted before sending");
  kit.eq(error.code, "Aborted");
  client.close();
});

define("a_retry_request_survives_a_forced_drop_and_runs_once", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = new Client(kit.url, kit.FAST);
  const sessions = kit.recorder(client, "session");
  await kit.waitOpen(client);
  kit.eq(sessions.len, 1);
  kit.eq(sessions.values()[0].resumed, false);
  const key = kit.unique("count");
  // The server takes 400 ms to answer; the drop comes first, the client re-sends on the new
  // socket with the same id, and the server's de-duplication runs the handler once.
  const first = client.request("count", { key, delay_ms: 400 }, { onDisconnect: "retry" });
  await kit.barrier(client); // the server has the request and is busy with it
  await kit.control("/control/drop", "");
  kit.eq(await first, 1, "retried request answered");
  const again = await client.request("count", { key });
  kit.eq(again, 2, "the first request ran exactly once");
  kit.eq(sessions.values()[1]?.resumed, true, "the session was resumed");
  kit.eq(client.metrics().reconnects, 1);
  client.close();
});

define("a_fail_request_rejects_when_the_connection_drops", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  const promise = client.request("sleep", { ms: 1000 }, { onDisconnect: "fail" });
  // Handled from now on: it may reject before the drop's control call has answered.
  const rejected = kit.rejects(promise, "disconnected");
  await kit.barrier(client); // the server has the request: it is in flight
  await kit.control("/control/drop", "");
  kit.eq((await rejected).code, "Disconnected");
  client.close();
});

define("two_clients_join_publish_and_see_each_others_presence", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const room = kit.unique("room");
  const joined = (r) => r.state.status === "joined";
  const alice = await kit.openClient(Client, { user: "alice", heartbeat: { intervalMs: 0 } });
  const bob = await kit.openClient(Client, { user: "bob", heartbeat: { intervalMs: 0 } });
  const [aliceMessages, aliceHandler] = kit.handler();
  const aliceRoom = alice.join(room, aliceHandler, { meta: { name: "Alice" } });
  const alicePresence = kit.recorder(aliceRoom, "presence");
  await kit.waitFor("alice joined", 3_000, () => joined(aliceRoom), [aliceRoom, "state"]);

  const [bobMessages, bobHandler] = kit.handler();
  const bobRoom = bob.join(room, bobHandler);
  await kit.waitFor("bob joined", 3_000, () => joined(bobRoom), [bobRoom, "state"]);
  kit.eq(bobRoom.members().length, 2);
  await kit.waitFor("alice sees bob join", 3_000, () => alicePresence.len === 1);
  const join = alicePresence.values()[0];
  kit.eq(join.event, "join");
  kit.eq(join.member.user, "bob");
  kit.eq(aliceRoom.members().length, 2);

  kit.eq(await aliceRoom.publish({ text: "hi" }), 1, "resolves with the message's seq");
  kit.eq(await bobRoom.publish({ text: "hello" }), 2);
  await kit.waitFor("both messages at both", 3_000, () => aliceMessages.len === 2 && bobMessages.len === 2);
  kit.eq(aliceMessages.texts(), bobMessages.texts());
  kit.eq(aliceMessages.seqs(), [1, 2]);
  kit.eq(bobMessages.seqs(), [1, 2]);

  bobRoom.setPresence({ typing: true });
  // Bob's own entry shows his new metadata at once; the server tells only Alice.
  const typing = (r) => r.members().filter((m) => m.meta?.typing === true).length;
  kit.eq(typing(bobRoom), 1);
  await kit.waitFor("update", 3_000, () => alicePresence.len === 2);
  kit.eq(typing(aliceRoom), 1);
  kit.eq(alicePresence.values()[1].event, "update");
  bobRoom.leave();
  await kit.waitFor("leave", 3_000, () => alicePresence.len === 3);
  kit.eq(alicePresence.values()[2].event, "leave");
  kit.eq(aliceRoom.members().length, 1);
  kit.eq(bobRoom.state.status, "left");
  alice.close();
  bob.close();
});

define("a_message_listener_that_calls_into_the_client_sees_its_events_after_the_message", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const room = kit.unique("reentrant");
  const publishOverHttp = (n) => kit.control(`/control/publish?room=${room}`, `{"n":${n}}`);
  const client = await kit.openClient(Client, { heartbeat: { intervalMs: 0 } });
  const handle = client.join(room);
  await kit.waitFor("joined", 3_000, () => handle.state.status === "joined", [handle, "state"]);
  const seen = [];
  // The first listener changes this client's presence: its own presence listener hears the
  // `update` at once, after every message listener had the message, not in between.
  handle.on("message", ({ n }) => {
    seen.push(`first ${n}`);
    if (n === 1) handle.setPresence({ typing: true });
  });
  handle.on("message", ({ n }) => seen.push(`second ${n}`));
  handle.on("presence", ({ event }) => seen.push(`presence ${event}`));
  await publishOverHttp(1);
  // Delivered in the same task: nothing else would hand the event out.
  await kit.waitFor("the update", 3_000, () => seen.length === 3, [handle, "presence"]);
  kit.eq(seen, ["first 1", "second 1", "presence update"]);
  await publishOverHttp(2);
  await kit.waitFor("the second message", 3_000, () => seen.length === 5, [handle, "message"]);
  kit.eq(seen.slice(3), ["first 2", "second 2"]);
  client.close();
});

define("joins_are_reference_counted", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const room = kit.unique("refs");
  const observer = await kit.openClient(Client, { heartbeat: { intervalMs: 0 } });
  const watch = observer.join(room);
  const presence = kit.recorder(watch, "presence");
  const client = await kit.openClient(Client, { heartbeat: { intervalMs: 0 } });
  // StrictMode mounts twice: two handles, one server join.
  const first = client.join(room);
  const second = client.join(room);
  await kit.waitFor("joined", 3_000, () => second.state.status === "joined", [second, "state"]);
  await kit.waitFor("one presence join", 3_000, () => presence.len >= 1);
  // A second join would have reached the observer before both round trips end.
  await kit.barrier(client);
  await kit.barrier(observer);
  kit.eq(presence.len, 1, `one server join: ${kit.text(presence.texts())}`);
  first.leave();
  first.leave(); // idempotent
  await kit.barrier(client); // likewise a leave
  await kit.barrier(observer);
  kit.eq(presence.len, 1, "still joined through the second handle");
  second.leave();
  await kit.waitFor("presence leave", 3_000, () => presence.len === 2);
  observer.close();
  client.close();
});

define("a_subscriber_gets_every_message_once_in_order_across_a_drop", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const publishOverHttp = (room, n) => kit.control(`/control/publish?room=${room}`, `{"n":${n}}`);
  const room = kit.unique("feed");
  const client = await kit.openClient(Client, kit.FAST);
  const [messages, handler] = kit.handler();
  const handle = client.join(room, handler);
  const states = kit.recorder(handle, "state");
  await kit.waitFor("joined", 3_000, () => handle.state.status === "joined", [handle, "state"]);
  for (let n = 1; n <= 40; n++) {
    await publishOverHttp(room, n);
    if (n === 15) await kit.control("/control/drop?outage_ms=300", "");
  }
  await kit.waitFor("all 40", 10_000, () => messages.len >= 40);
  await kit.barrier(client); // a duplicate would have arrived before this reply
  const expected = Array.from({ length: 40 }, (_, i) => `{"n":${i + 1}}`);
  kit.eq(messages.texts(), expected, "every message once, in order");
  kit.eq(messages.seqs(), Array.from({ length: 40 }, (_, i) => i + 1));
  const statuses = states.texts();
  kit.ok(statuses.includes('{"status":"rejoining"}'), kit.text(statuses));
  kit.eq(statuses.at(-1), '{"status":"joined","recovered":true}');
  client.close();
});

define("history_overflow_reports_recovered_false", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const publishOverHttp = (room, n) => kit.control(`/control/publish?room=${room}`, `{"n":${n}}`);
  const room = kit.unique("overflow");
  const client = await kit.openClient(Client, kit.FAST);
  const [messages, handler] = kit.handler();
  const handle = client.join(room, handler);
  const joined = () => handle.state.status === "joined";
  await kit.waitFor("joined", 3_000, joined, [handle, "state"]);
  await publishOverHttp(room, 0);
  await kit.waitFor("first", 3_000, () => messages.len === 1);
  await kit.control("/control/drop?outage_ms=4000", "");
  // More than the server's history (100) while the client cannot reconnect.
  for (let n = 1; n <= 120; n++) await publishOverHttp(room, n);
  await kit.waitFor("rejoined", 15_000, joined, [handle, "state"]);
  kit.eq(kit.text(handle.state), '{"status":"joined","recovered":false}');
  await publishOverHttp(room, 121);
  await kit.waitFor("the next live message", 3_000, () => messages.len === 2);
  kit.eq(messages.seqs(), [1, 122]);
  client.close();
});

define("publishes_in_flight_across_a_forced_drop_resolve_once_and_reach_members_once", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const room = kit.unique("acked");
  const alice = await kit.openClient(Client, { user: "alice", ...kit.FAST });
  const bob = await kit.openClient(Client, { user: "bob", ...kit.FAST });
  const aliceRoom = alice.join(room);
  const [bobMessages, bobHandler] = kit.handler();
  const bobRoom = bob.join(room, bobHandler);
  const joined = (r) => r.state.status === "joined";
  await kit.waitFor("both joined", 3_000, () => joined(aliceRoom) && joined(bobRoom), [aliceRoom, "state"], [bobRoom, "state"]);

  // One publish goes out just before the drop (its acknowledgement may be lost with the
  // socket), one right after (it may be lost on the dying socket, or queued): each is re-sent
  // after the reconnect as needed and takes effect once.
  const beforePublish = aliceRoom.publish({ text: "before" });
  await kit.control("/control/drop?outage_ms=200", "");
  const afterPublish = aliceRoom.publish({ text: "after" });
  const before = await beforePublish;
  const after = await afterPublish;
  kit.eq([before, after], [1, 2], "one seq each, in order");
  await kit.waitFor("bob got both", 5_000, () => bobMessages.len === 2);
  kit.eq(bobMessages.texts(), ['{"text":"before"}', '{"text":"after"}']);
  // Nothing else was appended: the room's next message is the third.
  kit.eq(await aliceRoom.publish({ text: "third" }), 3);
  await kit.waitFor("bob got the third", 3_000, () => bobMessages.len === 3);
  kit.eq(bobMessages.len, 3, "each message once");
  kit.eq(alice.metrics().pendingRequests, 0);
  alice.close();
  bob.close();
});

define("a_refused_publish_rejects_with_the_typed_error", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  const prices = client.join("prices");
  await kit.waitFor("joined", 3_000, () => prices.state.status === "joined", [prices, "state"]);
  const error = await kit.rejects(prices.publish({ fake: "tick" }), "refused");
  kit.eq(error.code, "Forbidden");
  kit.eq(client.metrics().pendingRequests, 0);
  client.close();
});

define("a_private_room_refuses_other_users", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, { user: "mallory", heartbeat: { intervalMs: 0 } });
  const handle = client.join("private:alice");
  await kit.waitFor("refused", 3_000, () => handle.state.status === "error", [handle, "state"]);
  kit.eq(handle.state.code, "forbidden");
  client.close();
});

define("notifications_reach_the_addressed_user_only_and_broadcasts_everyone", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const carol = await kit.openClient(Client, { user: "carol", heartbeat: { intervalMs: 0 } });
  const dave = await kit.openClient(Client, { user: "dave", heartbeat: { intervalMs: 0 } });
  const carolNotes = kit.recorder(carol, "notification");
  const daveNotes = kit.recorder(dave, "notification");
  await kit.control("/control/notify?user=carol", '{"title":"order filled"}');
  await kit.waitFor("carol notified", 3_000, () => carolNotes.len === 1);
  await kit.control("/control/notify", '{"title":"maintenance"}');
  await kit.waitFor("everyone notified", 3_000, () => carolNotes.len === 2 && daveNotes.len === 1);
  kit.eq(daveNotes.texts(), ['{"title":"maintenance"}']);
  carol.close();
  dave.close();
});

define("message_type_handlers_see_plain_and_room_messages", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  const ticks = kit.record((listener) => client.onMessage("tick", listener));
  const room = kit.unique("typed");
  const handle = client.join(room);
  await kit.waitFor("joined", 3_000, () => handle.state.status === "joined", [handle, "state"]);
  client.send({ type: "tick", n: 1 });
  client.send({ type: "other", n: 2 });
  await handle.publish({ type: "tick", n: 3 });
  await kit.waitFor("two ticks", 3_000, () => ticks.len === 2);
  kit.eq(ticks.texts(), ['{"type":"tick","n":1}', '{"type":"tick","n":3}']);
  client.close();
});

define("freeing_the_client_rejects_pending_requests", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  const promise = client.request("sleep", { ms: 2000 });
  client.free();
  kit.eq((await kit.rejects(promise, "rejected")).code, "Closed");
});

define("unserialisable_params_and_bad_signals_reject_and_the_client_keeps_working", async ({ entry }) => {
  const { load, Client } = await import(entry);
  await load();
  const client = await kit.openClient(Client, kit.FAST);
  const bigint = 1n;
  const error = await kit.rejects(client.request("echo", bigint), "BigInt");
  kit.eq(error.name, "TypeError");
  kit.throws(() => client.send(bigint), "send throws the TypeError too");
  const notASignal = await kit.rejects(client.request("echo", 1, { signal: {} }), "not an AbortSignal");
  kit.eq(notASignal.code, "InvalidOptions");
  kit.eq(await client.request("echo", 7), 7, "still works");
  kit.eq(client.metrics().pendingRequests, 0);
  client.close();
});

onEveryEntry(tests);
