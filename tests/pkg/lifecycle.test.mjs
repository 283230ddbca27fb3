// Page lifecycle in headless Chromium, the real WASM client against the real server: the network
// goes offline through the DevTools protocol (Playwright's setOffline: navigator.onLine and the
// `offline`/`online` events), the page is hidden and shown (visibilityState overridden and
// `visibilitychange` dispatched), frozen and resumed, and stored in and restored from the
// back-forward cache (persisted pagehide/pageshow dispatched, and once for real: a navigation
// away and back in a browser that keeps the cache on). A frozen page is emulated by
// blocking the main thread between `freeze` and `resume`, so timers and received frames queue
// up as they do in a frozen page: CDP's Page.setWebLifecycleState is a no-op in headless
// Chromium here (the page stays visible and its timers keep running). A `WebSocket` subclass
// (the client's `WebSocket` option) counts the sockets opened and the pings sent, and can stop
// delivering received frames, as a socket whose peer went away silently would. The page is a
// plain document (no client of its own).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, baseUrl } from "./browser.mjs";

const controlSecret = process.env.RESOCKET_CONTROL_SECRET ?? "";
let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function control(path, init = {}) {
  const response = await fetch(`${baseUrl}/control/${path}`, {
    ...init,
    headers: { "x-resocket-control-secret": controlSecret },
  });
  assert.ok(response.ok, `control/${path}: ${response.status}`);
  return response.json();
}

/** Opens the demo page and starts a client recorded in `window.life`. */
async function start(options) {
  const { page, errors } = await openPage(browser, "/pkg/package.json");
  await page.evaluate(async (options) => {
    const { load, Client } = await import("/pkg/index.js");
    await load();
    const life = { sockets: 0, pings: [], states: [], muted: false };
    class Watched extends WebSocket {
      constructor(url) {
        super(url);
        life.sockets++;
      }
      send(data) {
        const ping = typeof data == "string" && data.includes('"kind":"ping"');
        if (ping) life.pings.push(performance.now());
        super.send(data);
        if (ping) life.onPing?.();
      }
      // While muted, received frames are dropped: the socket looks alive but hears nothing.
      // While `held` is an array, they wait there until the test delivers them.
      set onmessage(listener) {
        super.onmessage =
          listener && ((event) => life.muted || (life.held ? life.held.push(() => listener(event)) : listener(event)));
      }
      get onmessage() {
        return super.onmessage;
      }
    }
    const client = new Client("/ws", { ...options, WebSocket: Watched });
    client.on("state", (state) => life.states.push({ ...state, at: performance.now() }));
    life.client = client;
    window.life = life;
  }, options);
  await waitFor(page, () => window.life.client.state.status == "open");
  return { page, errors };
}

function waitFor(page, predicate, timeout = 10_000) {
  return page.waitForFunction(predicate, null, { timeout, polling: 20 });
}

/** Overrides document.visibilityState and dispatches visibilitychange. */
function setVisibility(page, state) {
  return page.evaluate((state) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

test("offline pauses reconnects without burning attempts; online reconnects at once", async () => {
  const { page, errors } = await start({
    reconnect: { initialDelayMs: 200, maxDelayMs: 400, maxAttempts: 3 },
    heartbeat: { intervalMs: 1_000, timeoutMs: 3_000 },
  });
  const context = page.context();
  await context.setOffline(true);
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  // The socket is kept (offline is a hint) but probed with a ping at once.
  await waitFor(page, () => window.life.pings.length >= 1);
  // The server drops it: the client waits offline, far longer than three attempts' backoff.
  await control("drop", { method: "POST" });
  await waitFor(page, () => window.life.client.state.status == "offline");
  await page.waitForTimeout(3_000);
  const offline = await page.evaluate(() => ({
    state: window.life.client.state,
    sockets: window.life.sockets,
    statuses: window.life.states.map((s) => s.status),
  }));
  assert.equal(offline.state.status, "offline");
  assert.equal(offline.sockets, 1, "no socket opened while offline");
  assert.deepEqual(offline.statuses.slice(-1), ["offline"]);
  assert.ok(!offline.statuses.includes("closed"), "maxAttempts not reached while offline");
  // Online: a retry within min(initialDelayMs, 1 s), then open again on the same session.
  const onlineAt = await page.evaluate(() => performance.now());
  await context.setOffline(false);
  await waitFor(page, () => window.life.client.state.status == "open");
  const back = await page.evaluate(() => ({
    sockets: window.life.sockets,
    reconnecting: window.life.states.findLast((s) => s.status == "reconnecting"),
    openAt: window.life.states.findLast((s) => s.status == "open").at,
  }));
  assert.equal(back.sockets, 2);
  assert.equal(back.reconnecting.attempt, 1, "no attempt was burnt offline");
  assert.ok(back.reconnecting.delayMs <= 200, `jitter ${back.reconnecting.delayMs} ms`);
  assert.ok(back.openAt - onlineAt < 2_000, `open ${back.openAt - onlineAt} ms after online`);
  await page.evaluate(() => window.life.client.free());
  assert.deepEqual(errors, []);
});

test("visible after a long hidden spell pings at once; a silent socket is replaced within the probe window", async () => {
  const { page, errors } = await start({ heartbeat: { intervalMs: 1_000, timeoutMs: 10_000 } });
  await setVisibility(page, "hidden");
  await page.waitForTimeout(1_500);
  // A short spell away does nothing; this one was longer than the heartbeat interval.
  const before = await page.evaluate(() => {
    window.life.muted = true;
    return { pings: window.life.pings.length, at: performance.now() };
  });
  await setVisibility(page, "visible");
  const probe = await page.evaluate(() => ({ pings: window.life.pings.length, at: window.life.pings.at(-1) }));
  assert.equal(probe.pings, before.pings + 1, "a ping at once on return");
  // No pong comes: the socket is closed after the probe window (2 s floor), not the 10 s timeout.
  await waitFor(page, () => window.life.states.some((s) => s.status == "reconnecting" && s.code == 4003));
  const dead = await page.evaluate(() => window.life.states.find((s) => s.status == "reconnecting").at);
  assert.ok(dead - probe.at < 3_000, `closed ${dead - probe.at} ms after the probe`);
  await page.evaluate(() => (window.life.muted = false));
  await waitFor(page, () => window.life.client.state.status == "open");
  await page.evaluate(() => window.life.client.free());
  assert.deepEqual(errors, []);
});

test("a page frozen with a ping out: late timers do not kill the live socket nor burst pings", async () => {
  const { page, errors } = await start({ heartbeat: { intervalMs: 1_000, timeoutMs: 800 } });
  // Without lifecycle events (a throttled tab: the late timer's second look), then with them.
  for (const events of [false, true]) {
    const result = await page.evaluate(
      (events) =>
        new Promise((resolve) => {
          const life = window.life;
          life.onPing = () => {
            life.onPing = null;
            // Right after a ping went out: frozen for 3 s, past its 800 ms pong deadline, and
            // the frames received meanwhile (the pong) are handled only after the overdue
            // heartbeat timer has run, as a frozen page's queued events may be.
            queueMicrotask(() => {
              if (events) document.dispatchEvent(new Event("freeze"));
              life.held = [];
              const until = performance.now() + 3_000;
              while (performance.now() < until);
              if (events) document.dispatchEvent(new Event("resume"));
              const resumedAt = performance.now();
              setTimeout(() => {
                const held = life.held;
                life.heldCount = held.length;
                life.held = null;
                held.forEach((deliver) => deliver());
              }, 100);
              setTimeout(
                () =>
                  resolve({
                    held: life.heldCount > 0,
                    pings: life.pings.filter((at) => at >= resumedAt).length,
                    sockets: life.sockets,
                    state: life.client.state.status,
                  }),
                1_500,
              );
            });
          };
        }),
      events,
    );
    assert.equal(result.held, true, "the pong was held back");
    assert.equal(result.sockets, 1, `the live socket was kept (events: ${events})`);
    assert.equal(result.state, "open");
    assert.ok(result.pings <= 2, `${result.pings} pings in the 1.5 s after resume: no burst`);
  }
  await page.evaluate(() => window.life.client.free());
  assert.deepEqual(errors, []);
});

test("the back-forward cache: pagehide(persisted) closes the socket, pageshow(persisted) reconnects at once and resumes", async () => {
  const { page, errors } = await start({
    reconnect: { initialDelayMs: 200, maxDelayMs: 30_000 },
    heartbeat: { intervalMs: 0 },
  });
  const session = await page.evaluate(() => window.life.client.session);
  await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })));
  const stored = await page.evaluate(() => window.life.client.state);
  assert.equal(stored.status, "reconnecting");
  assert.equal(stored.code, 4005);
  await page.waitForTimeout(1_000);
  assert.equal(await page.evaluate(() => window.life.sockets), 1, "no socket while stored");
  const shownAt = await page.evaluate(() => {
    window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
    return performance.now();
  });
  await waitFor(page, () => window.life.client.state.status == "open");
  const restored = await page.evaluate(() => ({
    sockets: window.life.sockets,
    session: window.life.client.session,
    openAt: window.life.states.findLast((s) => s.status == "open").at,
  }));
  assert.equal(restored.sockets, 2);
  assert.equal(restored.session, session, "the session is resumed");
  assert.ok(restored.openAt - shownAt < 1_000, `open ${restored.openAt - shownAt} ms after pageshow`);
  // Plain (not persisted) events and a freed client: nothing more happens.
  await page.evaluate(() => {
    window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: false }));
    window.life.client.free();
    window.dispatchEvent(new Event("offline"));
    window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
  });
  assert.equal(await page.evaluate(() => window.life.sockets), 2);
  assert.deepEqual(errors, []);
});

test("the back-forward cache, for real: navigating away stores the page with its socket closed, going back restores it and resumes the session", async () => {
  // Playwright turns the cache off; this browser keeps it on. Chromium stores a page with an
  // open WebSocket too, closing the socket under it: without the client's page handling
  // (`pageLifecycle: false`) the app hears of the drop only once back (`pageshow true`, then
  // `reconnecting 1006`, then the backoff delay). The client closes it itself on pagehide
  // (4005) and reconnects at once on pageshow.
  const cachingBrowser = await launch([], { backForwardCache: true });
  try {
    const { page, errors } = await openPage(cachingBrowser, "/index.html");
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Page.enable");
    const notCached = [];
    cdp.on("Page.backForwardCacheNotUsed", (event) => notCached.push(event.notRestoredExplanations));
    const before = await page.evaluate(async () => {
      const { load, Client } = await import("/pkg/index.js");
      await load();
      const life = (window.life = { events: [], marker: Math.random() });
      for (const type of ["pagehide", "pageshow"]) addEventListener(type, (e) => life.events.push(`${type} ${e.persisted}`));
      life.client = new Client(`ws://${location.host}/ws`, { heartbeat: { intervalMs: 0 }, reconnect: { initialDelayMs: 200, maxDelayMs: 30_000 } });
      life.client.on("state", (s) => life.events.push(`${s.status}${s.code ? " " + s.code : ""}`));
      await new Promise((resolve) => {
        const off = life.client.on("state", (s) => s.status == "open" && (off(), resolve()));
      });
      return { marker: life.marker, session: life.client.session };
    });
    await page.goto(`${baseUrl}/pkg/package.json`);
    // A page restored from the cache fires no load event.
    await page.goBack({ waitUntil: "commit" });
    assert.deepEqual(notCached, [], "the page was not restored from the cache");
    await waitFor(page, () => window.life.events.at(-1) == "open" && window.life.events.includes("pageshow true"));
    const after = await page.evaluate(() => ({ marker: window.life.marker, session: window.life.client.session, events: window.life.events }));
    assert.equal(after.marker, before.marker, "the same page, not a reload");
    assert.deepEqual(after.events, ["connecting", "open", "pagehide true", "reconnecting 4005", "pageshow true", "connecting", "open"]);
    assert.equal(after.session, before.session, "the session is resumed");
    await page.evaluate(() => window.life.client.free());
    assert.deepEqual(errors, []);
  } finally {
    await cachingBrowser.close();
  }
});

test("pageLifecycle: false ignores the page", async () => {
  const { page, errors } = await start({ pageLifecycle: false, heartbeat: { intervalMs: 0 } });
  await page.evaluate(() => window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })));
  await page.context().setOffline(true);
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => window.life.client.state.status), "open");
  await page.context().setOffline(false);
  await page.evaluate(() => window.life.client.free());
  assert.deepEqual(errors, []);
});
