// The hook tests, run against one harness build (React 19 or 18): real hooks in real React roots
// in headless Chromium, the real WASM package, the real test server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { launch, baseUrl, openPage } from "../pkg/browser.mjs";
import { startExchange } from "../pkg/exchange.mjs";

const wsUrl = `${baseUrl.replace(/^http/, "ws")}/ws`;
const WAIT = { timeout: 15_000, polling: 20 };
/** Fast reconnects and heartbeats, so drops recover in well under a second. */
const FAST = {
  reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
  heartbeat: { intervalMs: 200, timeoutMs: 2_000 },
};

let serial = 0;
/** A name no other test (or earlier run against the same server) uses. */
const unique = (prefix) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++serial}`;

/** The control secret scripts/with-server.sh made for this run. */
const CONTROL_HEADERS = { "X-Resocket-Control-Secret": process.env.RESOCKET_CONTROL_SECRET ?? "" };

async function control(path, body) {
  const response = await fetch(`${baseUrl}/control/${path}`, {
    method: body === undefined && (path.startsWith("stats") || path.startsWith("doc")) ? "GET" : "POST",
    headers: CONTROL_HEADERS,
    ...(body === undefined ? {} : { body: typeof body == "string" ? body : JSON.stringify(body) }),
  });
  assert.ok(response.ok, `control/${path}: ${response.status}`);
  return response.json();
}

/** A loopback ws:// URL nothing listens on: its port bound by the OS, then released. */
async function closedUrl() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return `ws://127.0.0.1:${port}/ws`;
}

export function hookSuite(path) {
  let browser;
  let page;
  let pageErrors;

  before(async () => {
    browser = await launch();
    ({ page, errors: pageErrors } = await openPage(browser, path));
    await page.waitForFunction(() => window.harness, null, WAIT);
  });

  after(async () => {
    await browser?.close();
    assert.deepEqual(pageErrors.map(String), []);
  });

  // `expr` is evaluated in the page with `v(id)` = a probe's latest hook value, `h(id)` = its
  // record ({value, history, commits}) and `o(id)` = an observer client.
  const scope = (expr) =>
    `(() => { const v = (id) => harness.observed[id]?.value, h = (id) => harness.observed[id], o = (id) => harness.observers[id]; return (${expr}); })()`;
  const read = (expr) => page.evaluate(scope(expr));
  /** Waits for `expr` to hold; on timeout the error shows `show` (evaluated in the page). */
  const until = async (expr, show = "null") => {
    try {
      await page.waitForFunction(scope(expr), null, WAIT);
    } catch (error) {
      const seen = await read(`JSON.stringify(${show})`).catch((e) => String(e));
      throw new Error(`timed out waiting for ${expr}; saw ${seen}`, { cause: error });
    }
  };
  const render = (root, spec) => page.evaluate(([r, s]) => window.harness.render(r, s), [root, { url: wsUrl, ...spec }]);
  const unmount = (root) => page.evaluate((r) => window.harness.unmount(r), root);
  const observe = (id, room) => page.evaluate(([i, r, u]) => window.harness.observe(i, u, r), [id, room, wsUrl]);
  const joinedAndReady = async (room) => until(`o("${room}")?.room.state.status === "joined"`);

  test("StrictMode: one connection, one join per room for components sharing it, freed on unmount", async () => {
    const room = unique("strict");
    await observe(room, room);
    await joinedAndReady(room);
    const base = await control("stats");

    await render("strict", {
      strict: true,
      probes: [
        { id: "strict.conn", hook: "connection" },
        { id: "strict.resocket", hook: "resocket" },
      ],
    });
    await until(`v("strict.conn")?.state.status === "open"`);
    // Components mounted once the client exists get StrictMode's mount-unmount-mount of effects.
    await render("strict", {
      strict: true,
      probes: [
        { id: "strict.conn", hook: "connection" },
        { id: "strict.resocket", hook: "resocket" },
        { id: "strict.a", hook: "room", args: [room] },
        { id: "strict.b", hook: "presence", args: [room] },
      ],
    });
    await until(`v("strict.a")?.status.status === "joined" && v("strict.b")?.members.length === 2`);
    // A marker published after the joins: the observer sees it after any join or leave the
    // mounted client sent before it (one connection, frames handled in order).
    await page.evaluate(() => window.harness.observed["strict.a"].value.publish({ marker: true }));
    await until(`o("${room}").messages.some((m) => m.marker)`);

    const stats = await control("stats");
    assert.equal(stats.accepted - base.accepted, 1, "one connection accepted");
    const events = await read(`o("${room}").presence.map((p) => p.event)`);
    assert.deepEqual(events, ["join"], "exactly one join and no leave");

    await unmount("strict");
    await until(`o("${room}").presence.length === 2`);
    assert.deepEqual(await read(`o("${room}").presence.map((p) => p.event)`), ["join", "leave"]);
    await until(`v("strict.resocket").client === null`);
  });

  test("10,000 messages in a burst: the latest state renders, in far fewer renders than messages", async () => {
    const room = unique("burst");
    const count = 10_000;
    await observe(room, room);
    await joinedAndReady(room);
    await render("burst", {
      probes: [
        { id: "burst.room", hook: "room", args: [room, { limit: 20, reduce: "last" }] },
        { id: "burst.resocket", hook: "resocket" },
      ],
    });
    await until(`v("burst.room")?.status.status === "joined"`);
    // As fast as the page takes them: the server drops a connection that falls 1024 frames
    // behind, so the publisher keeps at most a few hundred of its own echoes outstanding.
    await page.evaluate(
      async ([r, n]) => {
        const observer = window.harness.observers[r];
        // Bounded: if the echoes stop coming (a refused publish, a dead server), fail, not hang.
        const deadline = Date.now() + 60_000;
        for (let i = 1; i <= n; i++) {
          observer.room.publish({ n: i });
          while (i % 100 === 0 && observer.messages.length < i - 300) {
            if (Date.now() > deadline) throw new Error(`echoes stopped at ${observer.messages.length} of ${i}`);
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        }
      },
      [room, count],
    );
    await until(
      `v("burst.room").state?.n === ${count}`,
      `{ state: v("burst.room").state, status: v("burst.room").status, commits: h("burst.room").commits, metrics: v("burst.resocket").client.metrics(), sent: o("${room}").client.metrics() }`,
    );
    const { messages, commits } = await read(`({ messages: v("burst.room").messages, commits: h("burst.room").commits })`);
    assert.deepEqual(
      messages.map((m) => m.data.n),
      Array.from({ length: 20 }, (_, i) => count - 19 + i),
      "the buffer keeps the newest 20, in order",
    );
    assert.ok(messages.every((m, i) => i === 0 || m.seq === messages[i - 1].seq + 1), "contiguous seqs");
    assert.ok(commits < count / 10, `bursts coalesce into frames: ${commits} commits for ${count} messages`);
    await unmount("burst");
  });

  test("unmounting while messages stream in frees the room without errors", async () => {
    const room = unique("stream");
    await observe(room, room);
    await joinedAndReady(room);
    await render("stream", { probes: [{ id: "stream.room", hook: "room", args: [room, { limit: 5 }] }] });
    await until(`v("stream.room")?.status.status === "joined"`);
    await page.evaluate(async (r) => {
      const observer = window.harness.observers[r];
      const publishing = (async () => {
        for (let i = 1; i <= 2_000; i++) {
          observer.room.publish({ n: i });
          if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })();
      // Unmount mid-stream: frames are pending while the room is released and freed.
      while (observer.messages.length < 200) await new Promise((resolve) => setTimeout(resolve, 1));
      window.harness.unmount("stream");
      await publishing;
      while (observer.messages.length < 2_000) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 50)));
    }, room);
    assert.deepEqual(pageErrors.map(String), []);
    await until(`o("${room}").presence.at(-1)?.event === "leave"`);
  });

  test("a forced server drop while mounted: reconnecting, then open, the room resumes with no gap", async () => {
    const room = unique("drop");
    await render("drop", {
      options: FAST,
      probes: [
        { id: "drop.conn", hook: "connection" },
        { id: "drop.quality", hook: "quality" },
        { id: "drop.room", hook: "room", args: [room, { limit: 100 }] },
      ],
    });
    await until(`v("drop.room")?.status.status === "joined" && v("drop.quality").rttMs !== null`);
    assert.equal(await read(`v("drop.quality").quality`), "good");
    for (let i = 1; i <= 3; i++) await control(`publish?room=${room}`, { n: i });
    await until(`v("drop.room").messages.length === 3`);

    await control("drop?outage_ms=600");
    // Published while the client is away: the rejoin replays them.
    for (let i = 4; i <= 8; i++) await control(`publish?room=${room}`, { n: i });
    await until(`v("drop.room").messages.length === 8 && v("drop.conn").state.status === "open"`);

    const { messages, statuses, roomStatuses, quality } = await read(`({
      messages: v("drop.room").messages,
      statuses: h("drop.conn").history.map((x) => x.state.status),
      roomStatuses: h("drop.room").history.map((x) => x.status.status),
      quality: v("drop.quality"),
    })`);
    assert.deepEqual(messages.map((m) => m.data.n), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(messages.every((m, i) => i === 0 || m.seq === messages[i - 1].seq + 1), "no gap, no duplicate");
    assert.ok(statuses.includes("reconnecting"), `went through reconnecting: ${statuses}`);
    assert.equal(statuses.at(-1), "open");
    assert.ok(roomStatuses.includes("rejoining"), `room went through rejoining: ${roomStatuses}`);
    assert.equal(await read(`v("drop.room").recovered`), true);
    assert.equal(quality.reconnects, 1);
    assert.ok((await read(`h("drop.quality").history.some((q) => q.quality === "offline" && q.qualityScore === 0)`)), "offline while down");
    await unmount("drop");
  });

  test("presence through a forced drop: the last members stay, stale, until the rejoin replaces them", async () => {
    const room = unique("stale");
    await observe("stale.bo", room);
    await observe("stale.cy", room);
    await until(`o("stale.bo").room.state.status === "joined" && o("stale.cy").room.state.status === "joined"`);
    await render("stale", {
      options: { ...FAST, user: "ann" },
      probes: [
        { id: "stale.presence", hook: "presence", args: [room] },
        { id: "stale.chat", hook: "chat", args: [room] },
        { id: "stale.conn", hook: "connection" },
      ],
    });
    await until(`v("stale.presence")?.members.length === 3 && v("stale.chat").members.length === 3`, `v("stale.presence")`);
    assert.equal(await read(`v("stale.presence").stale || v("stale.chat").stale`), false);
    // useChat shows only {type: "chat", ...} messages, and counts the others.
    await control(`publish?room=${room}`, { type: "tick", n: 1 });
    await until(`v("stale.chat").ignored === 1`, `v("stale.chat")`);
    assert.equal(await read(`v("stale.chat").messages.length`), 0);
    const cy = await read(`o("stale.cy").client.session`);
    const before = await read(`h("stale.presence").history.length`);

    await control("drop?outage_ms=1500");
    await until(`v("stale.conn").state.status !== "open" && v("stale.presence").stale`, `v("stale.presence")`);
    // Cy leaves while everyone is away: it must be gone after the rejoin.
    await page.evaluate(() => window.harness.observers["stale.cy"].room.leave());
    const during = await read(`v("stale.presence")`);
    assert.equal(during.status.status, "rejoining");
    assert.equal(during.members.length, 3, "the last known members stay");
    assert.ok(during.self?.user === "ann" && during.others.length === 2, "self and others too");
    assert.equal(await read(`v("stale.chat").stale`), true, "useChat says so too");

    await until(`v("stale.presence").status.status === "joined" && !v("stale.presence").stale`, `v("stale.presence")`);
    // Bo rejoins on its own backoff: the list reaches ann and bo, never cy again.
    await until(`v("stale.presence").members.length === 2 && o("stale.bo").room.state.status === "joined"`, `v("stale.presence")`);
    const history = await read(`h("stale.presence").history.slice(${before})`);
    const stale = history.filter((p) => p.stale);
    assert.ok(stale.length > 0, "seen stale");
    assert.ok(stale.every((p) => p.members.length === 3 && p.status.status === "rejoining"), "never emptied while rejoining");
    const rejoined = history.slice(history.lastIndexOf(stale.at(-1)) + 1);
    assert.ok(rejoined.length > 0 && rejoined.every((p) => !p.stale && !p.members.some((m) => m.id === cy)), "cy gone from the rejoin on");
    assert.deepEqual((await read(`v("stale.presence").members.map((m) => m.user)`)).sort(), ["ann", "observer"]);
    assert.equal(await read(`v("stale.chat").stale`), false);
    await unmount("stale");
    // Observers left connected would reconnect after later tests' drops, into their counts.
    await read(`[o("stale.bo").client.free(), o("stale.cy").client.free()]`);
  });

  test("useRequest: data, typed errors, and unmount aborts the request in flight", async () => {
    await render("req", {
      probes: [
        { id: "req.resocket", hook: "resocket" },
        { id: "req.call", hook: "request" },
      ],
    });
    await until(`v("req.call")`);
    const data = await page.evaluate(() => window.harness.observed["req.call"].value.call("sum", [1, 2, 3]));
    assert.equal(data, 6);
    await until(`v("req.call").data === 6 && v("req.call").loading === false`);

    const failed = await page.evaluate(() =>
      window.harness.observed["req.call"].value.call("fail", { code: "not_found", message: "no such thing" }),
    );
    assert.equal(failed, undefined);
    await until(`v("req.call").error?.code === "NotFound" && !v("req.call").loading`);
    assert.equal(await read(`v("req.call").data`), 6, "the last data is kept next to the error");

    // A slow call, then the component unmounts: the request is aborted and settles.
    const settled = page.evaluate(() => window.harness.observed["req.call"].value.call("sleep", { ms: 5_000 }));
    await until(`v("req.call").loading === true && v("req.resocket").client.metrics().pendingRequests === 1`);
    await render("req", { probes: [{ id: "req.resocket", hook: "resocket" }] });
    assert.equal(await settled, undefined);
    assert.equal(await read(`v("req.resocket").client.metrics().pendingRequests`), 0);
    await unmount("req");
  });

  test("useChat and usePresence: two users, typing, unread, presence, and a message sent offline", async () => {
    const room = unique("chat");
    const chat = { maxMessages: 50, typingTimeout: 300 };
    await render("ann", {
      options: { ...FAST, user: "ann" },
      probes: [
        { id: "ann.chat", hook: "chat", args: [room, chat] },
        { id: "ann.presence", hook: "presence", args: [room] },
        { id: "ann.conn", hook: "connection" },
      ],
    });
    await render("bob", { options: { ...FAST, user: "bob" }, probes: [{ id: "bob.chat", hook: "chat", args: [room, chat] }] });
    await until(`v("ann.presence")?.members.length === 2 && v("bob.chat")?.members.length === 2`);
    assert.deepEqual(await read(`v("ann.presence").others.map((m) => m.user)`), ["bob"]);
    assert.equal(await read(`v("ann.presence").self.user`), "ann");

    await page.evaluate(() => window.harness.observed["ann.chat"].value.send("hello bob"));
    await until(`v("bob.chat").messages.some((m) => m.text === "hello bob")`);
    await until(`v("ann.chat").messages.length === 1 && !v("ann.chat").messages[0].pending`);
    const received = await read(`v("bob.chat").messages[0]`);
    assert.equal(received.user, "ann");
    assert.equal(typeof received.seq, "number");
    assert.equal(await read(`v("bob.chat").unread`), 1);
    assert.equal(await read(`v("ann.chat").unread`), 0, "own messages are not unread");
    await page.evaluate(() => window.harness.observed["bob.chat"].value.markRead());
    await until(`v("bob.chat").unread === 0`);

    await page.evaluate(() => window.harness.observed["bob.chat"].value.typed());
    await until(`v("ann.chat").typing.map((m) => m.user).join() === "bob"`);
    assert.deepEqual(await read(`v("bob.chat").typing`), [], "one's own typing is not listed");
    await until(`v("ann.chat").typing.length === 0`);

    await page.evaluate(() => window.harness.observed["ann.presence"].value.setPresence({ status: "away" }));
    await until(`v("bob.chat").members.find((m) => m.user === "ann")?.meta?.status === "away"`);
    await until(`v("ann.presence").self.meta?.status === "away"`);

    // Offline: the message shows as pending at once and is delivered once after recovery.
    await control("drop?outage_ms=3000");
    await until(`v("ann.conn").state.status !== "open"`);
    await page.evaluate(() => window.harness.observed["ann.chat"].value.send("sent while offline"));
    await until(`v("ann.chat").messages.at(-1).text === "sent while offline"`);
    assert.equal(await read(`v("ann.chat").messages.at(-1).pending`), true);
    assert.equal(await read(`v("ann.conn").state.status === "open"`), false, "shown while still offline");
    await until(`v("bob.chat").messages.some((m) => m.text === "sent while offline")`);
    await until(`v("ann.chat").messages.every((m) => !m.pending) && v("ann.chat").messages.length === 2`);
    assert.equal(await read(`v("bob.chat").messages.filter((m) => m.text === "sent while offline").length`), 1);

    // Bob types, then his chat unmounts while he stays in the room (presence): not typing any more.
    // A new chat hook whose indicator would last a minute: only the unmount can clear it.
    await render("bob", {
      options: { ...FAST, user: "bob" },
      probes: [
        { id: "bob.chat2", hook: "chat", args: [room, { ...chat, typingTimeout: 60_000 }] },
        { id: "bob.presence", hook: "presence", args: [room] },
      ],
    });
    await until(`v("bob.chat2")?.status.status === "joined" && v("bob.presence")?.members.length === 2`);
    await page.evaluate(() => window.harness.observed["bob.chat2"].value.typed());
    await until(`v("ann.chat").typing.length === 1`);
    await render("bob", { options: { ...FAST, user: "bob" }, probes: [{ id: "bob.presence", hook: "presence", args: [room] }] });
    await until(`v("ann.chat").typing.length === 0`);
    assert.equal(await read(`v("ann.presence").others.length`), 1, "bob is still in the room");

    // The author is the one the server stamped, never a payload's `user`: a server-fed message
    // that claims to be Bob's shows no author.
    await control(`publish?room=${encodeURIComponent(room)}`, { type: "chat", id: "spoof", user: "bob", text: "spoofed", at: 0 });
    await until(`v("ann.chat").messages.some((m) => m.text === "spoofed")`);
    assert.equal(await read(`v("ann.chat").messages.find((m) => m.text === "spoofed").user`), null);

    // Another room starts afresh: no messages, nothing pending, nothing unread.
    const other = unique("chat-other");
    await render("ann", {
      options: { ...FAST, user: "ann" },
      probes: [
        { id: "ann.chat", hook: "chat", args: [other, chat] },
        { id: "ann.conn", hook: "connection" },
      ],
    });
    await until(`v("ann.chat").status.status === "joined" && v("ann.chat").members.length === 1`);
    assert.deepEqual(await read(`[v("ann.chat").messages.length, v("ann.chat").unread]`), [0, 0]);
    await unmount("ann");
    await unmount("bob");
  });

  test("useChat: a chat opened after messages were sent shows them, then live ones, once each", async () => {
    const room = unique("chat-late");
    await render("ann", { options: { ...FAST, user: "ann" }, probes: [{ id: "ann.chat", hook: "chat", args: [room] }] });
    await until(`v("ann.chat")?.status.status === "joined"`);
    for (const text of ["one", "two", "three"]) await page.evaluate((text) => window.harness.observed["ann.chat"].value.send(text), text);
    await until(`v("ann.chat").messages.length === 3 && v("ann.chat").messages.every((m) => !m.pending)`);

    // Bob opens the chat later: the last two the server holds (history: 2), with their seq and author.
    await render("bob", { options: { ...FAST, user: "bob" }, probes: [{ id: "bob.chat", hook: "chat", args: [room, { history: 2 }] }] });
    await until(`v("bob.chat")?.messages.length === 2`, `v("bob.chat")`);
    const shown = await read(`v("bob.chat").messages.map((m) => [m.text, m.seq, m.user])`);
    assert.deepEqual(shown, [["two", 2, "ann"], ["three", 3, "ann"]]);
    await page.evaluate(() => window.harness.observed["ann.chat"].value.send("four"));
    await until(`v("bob.chat").messages.length === 3`, `v("bob.chat")`);
    assert.deepEqual(await read(`v("bob.chat").messages.map((m) => m.seq)`), [2, 3, 4]);

    // The default (50) shows all of them to a third reader.
    await render("cat", { options: { ...FAST, user: "cat" }, probes: [{ id: "cat.chat", hook: "chat", args: [room] }] });
    await until(`v("cat.chat")?.messages.length === 4`, `v("cat.chat")`);
    assert.deepEqual(await read(`v("cat.chat").messages.map((m) => m.text)`), ["one", "two", "three", "four"]);
    await unmount("cat");
    await unmount("bob");
    await unmount("ann");
  });

  test("useChat: own messages are placed by their acknowledgement or echo, and a refused one shows its error", async () => {
    const room = unique("chat-ack");
    await render("ann", { options: { ...FAST, user: "ann" }, probes: [{ id: "ann.chat", hook: "chat", args: [room] }, { id: "ann.prices", hook: "chat", args: ["prices", { history: 0 }] }] });
    await until(`v("ann.chat")?.status.status === "joined" && v("ann.prices")?.status.status === "joined"`);
    await page.evaluate(() => window.harness.observed["ann.chat"].value.send("acked"));
    await until(`v("ann.chat").messages.length === 1 && !v("ann.chat").messages[0].pending`, `v("ann.chat")`);
    assert.deepEqual(await read(`[v("ann.chat").messages[0].seq, v("ann.chat").messages[0].error, v("ann.chat").unread]`), [1, undefined, 0]);
    // Clients may not publish to the server-fed prices room: the message stays, marked failed.
    await page.evaluate(() => window.harness.observed["ann.prices"].value.send("fake tick"));
    await until(`v("ann.prices").messages.some((m) => m.error === "Forbidden")`, `v("ann.prices").messages`);
    const failed = await read(`v("ann.prices").messages.find((m) => m.text === "fake tick")`);
    assert.equal(failed.pending, false);
    assert.equal(failed.seq, undefined);
    await unmount("ann");
  });

  test("useNotifications: the user's notifications, unread count, mark read, dismiss, clear", async () => {
    const user = unique("nora");
    await render("notes", { options: { user }, probes: [{ id: "notes", hook: "notifications" }, { id: "notes.conn", hook: "connection" }] });
    await until(`v("notes.conn")?.state.status === "open"`);
    await control(`notify?user=${user}`, { title: "first" });
    await control(`notify?user=someone-else-${user}`, { title: "not for nora" });
    await control(`notify?user=${user}`, { title: "second" });
    await until(`v("notes").items.length === 2`);
    const { items, unread } = await read(`v("notes")`);
    assert.deepEqual(items.map((n) => n.data.title), ["first", "second"]);
    assert.equal(unread, 2);

    await page.evaluate((id) => window.harness.observed["notes"].value.markRead(id), items[0].id);
    await until(`v("notes").unread === 1`);
    await page.evaluate((id) => window.harness.observed["notes"].value.dismiss(id), items[1].id);
    await until(`v("notes").items.length === 1`);
    assert.equal(await read(`v("notes").items[0].read`), true);
    await control(`notify?user=${user}`, { title: "third" });
    await until(`v("notes").unread === 1`);
    const third = await read(`v("notes").items.at(-1)`);
    await page.evaluate((id) => window.harness.observed["notes"].value.dismiss(id), third.id);
    await control(`notify?user=${user}`, { title: "fourth" });
    await until(`v("notes").items.at(-1)?.data.title === "fourth"`);
    assert.ok((await read(`v("notes").items.at(-1).id`)) > third.id, "ids are never reused");
    await page.evaluate(() => window.harness.observed["notes"].value.markRead());
    await until(`v("notes").unread === 0`);
    await page.evaluate(() => window.harness.observed["notes"].value.clear());
    await until(`v("notes").items.length === 0`);
    await unmount("notes");
  });

  test("useSyncedDoc: optimistic ops, confirmation, convergence, and a rejected compare-and-set", async () => {
    const doc = unique("doc");
    await render("docA", { options: FAST, docs: true, probes: [{ id: "docA", hook: "doc", args: [doc] }, { id: "docA.conn", hook: "connection" }] });
    await render("docB", { options: FAST, docs: true, probes: [{ id: "docB", hook: "doc", args: [doc] }] });
    await until(`v("docA")?.synced && v("docB")?.synced`);

    // Offline, the op shows at once as pending; after the reconnect the server confirms it.
    await control("drop?outage_ms=3000");
    await until(`v("docA.conn").state.status !== "open" && v("docA").synced === false`);
    await page.evaluate(() => window.harness.observed["docA"].value.set("title", "hello"));
    await until(`v("docA").view.title === "hello" && v("docA").pending === 1`);
    assert.equal(await read(`v("docA.conn").state.status === "open"`), false, "still offline");
    await until(`v("docB").view.title === "hello" && v("docA").pending === 0 && v("docA").rev === 1 && v("docA").synced`);

    await page.evaluate(() => {
      window.harness.observed["docA"].value.set("owner", "ann", { ifRev: 0 });
      window.harness.observed["docB"].value.set("owner", "bob", { ifRev: 0 });
    });
    await until(`(v("docA").rejected || v("docB").rejected) && v("docA").pending === 0 && v("docB").pending === 0`);
    const [a, b] = await read(`[v("docA"), v("docB")]`);
    assert.deepEqual(a.view, b.view, "both replicas converge");
    assert.equal(a.rev, b.rev);
    // Error objects do not survive serialisation out of the page: read their codes in it.
    const verdicts = await read(`[v("docA"), v("docB")].map((x) => x.rejected && [x.rejected.key, x.rejected.error.code])`);
    assert.deepEqual(verdicts.filter(Boolean), [["owner", "Conflict"]], "exactly one side lost, with a conflict");

    await page.evaluate(() => window.harness.observed["docA"].value.remove("owner"));
    await until(`!("owner" in v("docB").view) && v("docA").pending === 0`);
    await unmount("docA");
    await unmount("docB");
  });

  test("the functions hooks return keep their identity across renders", async () => {
    const room = unique("stable");
    const user = unique("sam");
    await render("stable", {
      options: { user },
      docs: true,
      probes: [
        { id: "stable.conn", hook: "connection" },
        { id: "stable.room", hook: "room", args: [room] },
        { id: "stable.presence", hook: "presence", args: [room] },
        { id: "stable.chat", hook: "chat", args: [room] },
        { id: "stable.request", hook: "request" },
        { id: "stable.doc", hook: "doc", args: [room] },
        { id: "stable.notes", hook: "notifications" },
      ],
    });
    await until(`v("stable.doc")?.synced && v("stable.room").status.status === "joined"`);
    // Renders caused by messages, presence, requests, doc ops and notifications.
    await page.evaluate(async () => {
      const o = window.harness.observed;
      o["stable.chat"].value.send("hi");
      o["stable.presence"].value.setPresence({ mood: "fine" });
      await o["stable.request"].value.call("echo", 1);
      o["stable.doc"].value.set("k", 1);
    });
    await control(`notify?user=${user}`, { n: 1 });
    await until(`v("stable.notes").items.length === 1`);
    await until(`v("stable.chat").messages.length === 1 && !v("stable.chat").messages[0].pending && v("stable.doc").pending === 0 && v("stable.request").data === 1`);
    const unstable = await read(`Object.entries({
      "stable.conn": ["send", "reconnect", "close"],
      "stable.room": ["publish", "setPresence"],
      "stable.presence": ["setPresence"],
      "stable.chat": ["send", "typed", "markRead"],
      "stable.request": ["call", "abort"],
      "stable.doc": ["set", "merge", "remove"],
      "stable.notes": ["markRead", "dismiss", "clear"],
    }).flatMap(([id, names]) => {
      const { history } = h(id);
      if (history.length < 2) return [id + " rendered once"];
      return names.filter((name) => history.some((value) => value[name] !== history[0][name])).map((name) => id + "." + name);
    })`);
    assert.deepEqual(unstable, []);
    await unmount("stable");
  });

  test("calls made before the room or document is open wait for it, in order", async () => {
    const name = unique("early");
    await observe(name, name);
    await joinedAndReady(name);
    await render("early", {
      docs: true,
      probes: [
        { id: "early.doc", hook: "docWrite", args: [name, "first", 1] },
        { id: "early.room", hook: "roomWrite", args: [name, { early: true }] },
      ],
    });
    await until(`v("early.doc")?.view.first === 1 && v("early.doc").pending === 0`);
    await until(`o("${name}").messages.some((m) => m.early)`);
    const server = await control(`doc?name=${name}`);
    assert.equal(server.entries.first.value, 1);
    await unmount("early");
  });

  test("StrictMode: a child's mount effect calls its parent's document, which is already open", async () => {
    const doc = unique("child");
    await render("kids", { strict: true, docs: true, probes: [{ id: "kids.conn", hook: "connection" }] });
    await until(`v("kids.conn")?.state.status === "open"`);
    await render("kids", {
      strict: true,
      docs: true,
      probes: [
        { id: "kids.conn", hook: "connection" },
        { id: "kids.doc", hook: "docWithEditor", args: [doc, "title", "from the child"] },
      ],
    });
    await until(`v("kids.doc")?.view.title === "from the child" && v("kids.doc").pending === 0`);
    assert.equal(await read(`v("kids.error")`), undefined);
    await unmount("kids");
  });

  test("metadata from a hook that joins after another reaches the other members", async () => {
    const room = unique("meta");
    await observe(room, room);
    await joinedAndReady(room);
    await render("meta", { options: { user: "mia" }, probes: [{ id: "meta.conn", hook: "connection" }] });
    await until(`v("meta.conn")?.state.status === "open"`);
    // The chat joins first; the presence hook's metadata follows while that join is in flight.
    await render("meta", {
      options: { user: "mia" },
      probes: [
        { id: "meta.conn", hook: "connection" },
        { id: "meta.chat", hook: "chat", args: [room] },
        { id: "meta.presence", hook: "presence", args: [room, { meta: { status: "here" } }] },
      ],
    });
    await until(`o("${room}").room.members().find((m) => m.user === "mia")?.meta?.status === "here"`);
    await until(`v("meta.presence").self?.meta?.status === "here"`);
    await unmount("meta");
  });

  test("useSyncedDoc under a provider on resocket, which has no documents, throws NotSupported naming resocket/docs", async () => {
    await render("nodocs", { probes: [{ id: "nodocs.conn", hook: "connection" }] });
    await until(`v("nodocs.conn")?.state.status === "open"`);
    // The client exists, so the hook's effect opens the document at once and the error reaches
    // the boundary.
    await render("nodocs", {
      probes: [
        { id: "nodocs.conn", hook: "connection" },
        { id: "nodocs.doc", hook: "doc", args: [unique("nodocs")] },
      ],
    });
    await until(`v("nodocs.error")`);
    const error = await read(`v("nodocs.error")`);
    assert.equal(error.name, "ResocketError");
    assert.equal(error.code, "NotSupported");
    assert.match(error.message, /"resocket\/docs"/);
    await unmount("nodocs");
    // Rendered before the client exists: the document opens in a microtask once it does, and the
    // error still reaches the boundary rather than only the console.
    await render("nodocs-early", { probes: [{ id: "nodocs-early.doc", hook: "doc", args: [unique("nodocs")] }] });
    await until(`v("nodocs-early.error")`);
    assert.equal((await read(`v("nodocs-early.error")`)).code, "NotSupported");
    await unmount("nodocs-early");
    const expected = (e) => String(e).includes("resocket/docs");
    pageErrors.splice(0, pageErrors.length, ...pageErrors.filter((e) => !expected(e)));
  });

  test("a client that cannot be created is thrown to the error boundary", async () => {
    await render("bad", { options: { queue: { maxMessages: -1 } }, probes: [{ id: "bad.conn", hook: "connection" }] });
    await until(`v("bad.error")`);
    const error = await read(`v("bad.error")`);
    assert.equal(error.name, "ResocketError");
    assert.equal(error.code, "InvalidOptions");
    await unmount("bad");
    // React 18's development build also reports errors caught by a boundary as page errors.
    const expected = (e) => String(e).includes("queue.maxMessages");
    pageErrors.splice(0, pageErrors.length, ...pageErrors.filter((e) => !expected(e)));
  });

  test("useRequest: a new call supersedes the one in flight", async () => {
    await render("sup", { probes: [{ id: "sup", hook: "request" }] });
    await until(`v("sup")`);
    const [first, second] = await page.evaluate(async () => {
      const { call } = window.harness.observed["sup"].value;
      const slow = call("sleep", { ms: 5_000 });
      const fast = call("sum", [2, 3]);
      return Promise.all([slow, fast]);
    });
    assert.equal(first, undefined, "the superseded call settles without data");
    assert.equal(second, 5);
    await until(`v("sup").data === 5 && !v("sup").loading && v("sup").error === undefined`);
    await unmount("sup");
  });

  test("a new url replaces the connection: the old client is freed, hooks move over", async () => {
    const room = unique("move");
    await render("move", { probes: [{ id: "move.res", hook: "resocket" }, { id: "move.room", hook: "room", args: [room] }] });
    await until(`v("move.room")?.status.status === "joined"`);
    await page.evaluate(() => (window.oldConnection = window.harness.observed["move.res"].value));
    await page.evaluate(([r, u]) => window.harness.render("move", { url: `${u}?moved=1`, probes: [{ id: "move.res", hook: "resocket" }, { id: "move.room", hook: "room", args: [r] }] }), [room, wsUrl]);
    await until(`v("move.res") !== window.oldConnection && v("move.res").client && window.oldConnection.client === null`);
    await until(`v("move.room").status.status === "joined" && v("move.room").members.length === 1`);
    await unmount("move");
  });

  test("a url list: the provider fails over to the next URL, and an equal new array keeps the connection", async () => {
    const urls = [await closedUrl(), wsUrl];
    const spec = { url: urls, options: FAST, probes: [{ id: "list.res", hook: "resocket" }, { id: "list.conn", hook: "connection" }] };
    await render("list", spec);
    await until(`v("list.conn")?.state.status === "open"`, `v("list.conn")?.state`);
    assert.deepEqual(await read(`v("list.conn").state`), { status: "open", url: 1 });
    const commits = await read(`h("list.res").commits`);
    // Each render passes a new array (a fresh copy from Node), as an inline literal would.
    await render("list", spec);
    await render("list", spec);
    await until(`h("list.res").commits >= ${commits + 2}`);
    assert.ok(await read(`h("list.res").history.every((c) => c === v("list.res"))`), "one connection");
    assert.deepEqual(await read(`v("list.conn").state`), { status: "open", url: 1 });
    // This client's own count: the server's `accepted` also counts other pages' reconnects.
    assert.equal(await read(`v("list.res").client.metrics().reconnects`), 0, "connected once");
    await unmount("list");
    await until(`v("list.res").client === null`);
  });

  test("an empty url list is thrown to the error boundary", async () => {
    await render("nourl", { url: [], probes: [{ id: "nourl.conn", hook: "connection" }] });
    await until(`v("nourl.error")`);
    const error = await read(`v("nourl.error")`);
    assert.equal(error.code, "InvalidOptions");
    assert.match(error.message, /url list is empty/);
    await unmount("nourl");
    const expected = (e) => String(e).includes("url list is empty");
    pageErrors.splice(0, pageErrors.length, ...pageErrors.filter((e) => !expected(e)));
  });

  test("useConnection: close() stops the client, reconnect() opens it again", async () => {
    await render("ctl", { options: FAST, probes: [{ id: "ctl", hook: "connection" }] });
    await until(`v("ctl")?.state.status === "open"`);
    await page.evaluate(() => window.harness.observed["ctl"].value.close());
    await until(`v("ctl").state.status === "closed" && v("ctl").state.reason.kind === "client"`);
    await page.evaluate(() => window.harness.observed["ctl"].value.reconnect());
    await until(`v("ctl").state.status === "open"`);
    await unmount("ctl");
  });

  test("useMessage calls the latest handler; useWebSocket sends", async () => {
    const type = unique("note");
    await render("msg", { probes: [{ id: "msg", hook: "message", args: [type] }, { id: "msg.ws", hook: "websocket" }] });
    await until(`v("msg.ws")?.state.status === "open"`);
    // The test server echoes a connection's own messages back to it.
    await page.evaluate((t) => window.harness.observed["msg.ws"].value.send({ type: t, n: 1 }), type);
    await until(`v("msg").log.length === 1`);
    await page.evaluate(() => window.harness.observed["msg"].value.setTag(1));
    await until(`v("msg").tag === 1`);
    await page.evaluate((t) => window.harness.observed["msg.ws"].value.send({ type: t, n: 2 }), type);
    await until(`v("msg").log.length === 2`);
    assert.deepEqual(await read(`v("msg").log`), [
      { tag: 0, data: { type, n: 1 } },
      { tag: 1, data: { type, n: 2 } },
    ]);
    await unmount("msg");
  });

  test("raw mode: useWebSocket(url, {mode: raw}) with useMessage(selector, client), and a raw provider", async () => {
    const exchange = await startExchange({ tradeMs: 30 });
    const connections = async (count) => {
      for (let i = 0; i < 100 && (await exchange.control("stats")).connections !== count; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal((await exchange.control("stats")).connections, count);
    };
    try {
      const subscribe = (symbol) => ({ method: "SUBSCRIBE", params: [`${symbol}@trade`], id: 1 });
      const options = { mode: "raw", sendOnOpen: [subscribe("btcusdt")], reconnect: { initialDelayMs: 50, maxDelayMs: 200 } };
      await render("raw", { strict: true, probes: [{ id: "raw", hook: "rawTicker", args: [exchange.url, options] }] });
      await until(`v("raw")?.readyState === 1 && v("raw").lastId > 3`, `v("raw")`);
      assert.equal(await read(`v("raw").lastMessage.e`), "trade");
      assert.match(await read(`v("raw").price`), /^\d+\.\d\d$/);
      // StrictMode's double mount opens one socket.
      await connections(1);
      // send() from the hook reaches the exchange as JSON text.
      await page.evaluate(() => window.harness.observed["raw"].value.send({ method: "LIST_SUBSCRIPTIONS", id: 9 }));
      // A drop: CONNECTING, then OPEN again and trades flow (re-subscribed by sendOnOpen).
      const before = await read(`v("raw").lastId`);
      await exchange.control("drop");
      await until(`h("raw").history.some((x) => x.readyState === 0 && x.lastId >= ${before})`, `v("raw").state`);
      await until(`v("raw").readyState === 1 && v("raw").lastId > ${before} + 3`, `v("raw").state`);
      const sent = (await exchange.control("received")).map((f) => f.text);
      assert.ok(sent.includes(JSON.stringify({ method: "LIST_SUBSCRIPTIONS", id: 9 })));
      await unmount("raw");
      await connections(0);

      // A provider in raw mode: useMessage(selector) re-renders only when the selected value
      // changes, however many frames arrive; useWebSocket() reads the provider's client.
      await render("rawp", {
        url: exchange.url,
        options: { mode: "raw", sendOnOpen: [subscribe("ethusdt")] },
        probes: [
          { id: "rawp", hook: "select", args: ["s"] },
          { id: "rawp.ws", hook: "websocket" },
        ],
      });
      await until(`v("rawp") === "ETHUSDT" && v("rawp.ws").readyState === 1`, `v("rawp.ws")`);
      const received = await read(`v("rawp.ws").client.metrics().messagesReceived`);
      await until(`v("rawp.ws").client.metrics().messagesReceived > ${received} + 10`);
      assert.ok((await read(`h("rawp").commits`)) <= 3, "one render per selected change");
      await unmount("rawp");
      await connections(0);
    } finally {
      exchange.stop();
    }
  });
}
