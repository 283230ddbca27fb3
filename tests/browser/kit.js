// The in-page helpers of the browser suites (tests/browser/*.test.mjs): loaded as a classic
// script into the test page (see support.mjs) as `window.kit`, before the test body runs there.
// They know nothing of resocket: the bodies import the package themselves ("resocket",
// "resocket/docs", through the page's import map) and use only its public API. Waits are driven
// by events (the emitters' own, or a recorder's pokes), never by polling the client; a wait
// fails the test after its timeout.
"use strict";
(() => {
  const secret = window.RESOCKET_CONTROL_SECRET ?? "";
  /** Checks of the pending waits, run again whenever something they may depend on happened. */
  const waiters = new Set();

  /** Whether `a` and `b` are the same JSON-like value (plain objects compared key by key,
   * regardless of key order; arrays element by element). */
  function same(a, b) {
    if (Object.is(a, b)) return true;
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && same(a[key], b[key]));
  }

  /** A readable form of `value` for failure messages. */
  function show(value) {
    if (value === undefined) return "undefined";
    if (typeof value === "bigint") return `${value}n`;
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }

  const kit = {
    /** The test server's WebSocket endpoint (the page is served by the test server). */
    url: `ws://${location.host}/ws`,
    /** Reconnects fast and sends no heartbeats, so tests stay short (browser_support FAST). */
    FAST: { reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, heartbeat: { intervalMs: 0 } },

    /** Calls a control endpoint of the test server: `POST` with `body` (a string), or `GET`
     * when it is undefined. Resolves with its JSON answer. */
    async control(path, body) {
      const init = { method: body === undefined ? "GET" : "POST", headers: { "X-Resocket-Control-Secret": secret } };
      if (body !== undefined && body !== null) init.body = body;
      const response = await fetch(path, init);
      if (!response.ok) throw new Error(`control ${path} answered ${response.status}`);
      return response.json();
    },

    /** Waits for a round trip on `client`'s connection: the server reads a connection's frames in
     * order and writes to it in order, so by then it has read every frame sent before, and
     * everything it sent before reading the request has arrived (a duplicate, an announcement). */
    barrier(client) {
      return client.request("echo", null);
    },

    /** A fixed pause: only where the test asserts that nothing (more) happens meanwhile, or
     * where the scenario itself times an action (e.g. a drop while the server is busy). */
    sleep(ms) {
      return new Promise((resolve) => setTimeout(resolve, ms));
    },

    /** Tells pending waits to look again (recorders and test-made callbacks call it). */
    poke() {
      for (const check of [...waiters]) queueMicrotask(check);
    },

    /** Resolves once `condition()` holds; it is checked now, on every `poke`, and after every
     * event of `sources` (`[emitter, event]` or `[emitter, [event, ...]]` pairs: anything with
     * `on(event, listener)` returning its unsubscriber). Rejects after `timeoutMs`. */
    waitFor(what, timeoutMs, condition, ...sources) {
      return new Promise((resolve, reject) => {
        const unsubscribe = [];
        let done = false;
        const finish = (error) => {
          if (done) return;
          done = true;
          waiters.delete(check);
          clearTimeout(timer);
          unsubscribe.forEach((off) => off());
          if (error) reject(error);
          else resolve();
        };
        function check() {
          if (done) return;
          let holds;
          try {
            holds = condition();
          } catch (error) {
            finish(error);
            return;
          }
          if (holds) finish();
        }
        const timer = setTimeout(
          () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
          timeoutMs,
        );
        waiters.add(check);
        for (const [emitter, events] of sources)
          for (const event of [events].flat()) unsubscribe.push(emitter.on(event, () => queueMicrotask(check)));
        check();
      });
    },

    /** Records every value `subscribe(listener)` delivers, with the listener's second argument
     * (a room message's sequence number); `subscribe` returns the unsubscriber. */
    record(subscribe) {
      const seen = [];
      const listener = (value, extra) => {
        seen.push([value, extra]);
        kit.poke();
      };
      const off = subscribe(listener);
      return {
        seen,
        listener,
        get len() {
          return seen.length;
        },
        values: () => seen.map(([value]) => value),
        texts: () => seen.map(([value]) => JSON.stringify(value)),
        /** The second arguments that are numbers (room sequence numbers). */
        seqs: () => seen.map(([, extra]) => extra).filter((n) => typeof n === "number"),
        unsubscribe: () => off?.(),
      };
    },

    /** Records event `event` of `emitter` (a client, room or document). */
    recorder(emitter, event) {
      return kit.record((listener) => emitter.on(event, listener));
    },

    /** A recorder whose listener is passed on by the test (e.g. as a join handler). */
    handler() {
      const recorder = kit.record(() => undefined);
      return [recorder, recorder.listener];
    },

    status(client) {
      return client.state.status;
    },

    /** Waits (at most `timeoutMs`) for `client` to be open. */
    waitOpen(client, timeoutMs = 5_000) {
      return kit.waitFor("open", timeoutMs, () => client.state.status === "open", [client, "state"]);
    },

    /** A client of `Client` (the class of the entry under test) to the test server, open. */
    async openClient(Client, options) {
      const client = new Client(kit.url, options);
      await kit.waitOpen(client);
      return client;
    },

    /** A name no other test (or earlier run against the same server) uses. */
    unique(prefix) {
      return `${prefix}-${Math.floor(Math.random() * 1e12)}`;
    },

    /** A token function (`options.token`) that counts its calls in `state.calls` (poking the
     * waits) and answers with a promise of `"token-<n>"` 10 ms later (kept in `state.pending`),
     * after throwing on call `state.failOn` if set. */
    tokenFunction(state) {
      return () => {
        state.calls++;
        kit.poke();
        if (state.calls === state.failOn) throw new Error("auth server down");
        state.pending = new Promise((resolve) => setTimeout(() => resolve(`token-${state.calls}`), 10));
        return state.pending;
      };
    },

    text: (value) => JSON.stringify(value),

    eq(actual, expected, message = "") {
      if (!same(actual, expected))
        throw new Error(`${message ? `${message}: ` : ""}expected ${show(expected)}, got ${show(actual)}`);
    },

    ok(condition, message = "assertion failed") {
      if (!condition) throw new Error(message);
    },

    /** Calls `fn`; it must throw. Returns what it threw. */
    throws(fn, message = "expected a throw") {
      try {
        fn();
      } catch (error) {
        return error;
      }
      throw new Error(`${message}: nothing was thrown`);
    },

    /** Awaits `promise`; it must reject. Resolves with the reason. */
    async rejects(promise, message = "expected a rejection") {
      let value;
      try {
        value = await promise;
      } catch (error) {
        return error;
      }
      throw new Error(`${message}: resolved with ${show(value)}`);
    },
  };
  window.kit = kit;
})();
