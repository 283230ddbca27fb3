// A relative url ("/ws") from a page served by the test server: the client resolves it against
// the page's location (http -> ws), connects and gets its echo. The `WebSocket` option (a
// subclass of the browser's) records the url the socket was opened with.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, baseUrl } from "./browser.mjs";

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('"/ws" resolves against the page (http -> ws), connects and gets its echo', async () => {
  const { page, errors } = await openPage(browser, "/basic/");
  const result = await page.evaluate(async () => {
    const { connect, isResocketError, Client } = await import("/pkg/index.js");
    const urls = [];
    class Recording extends WebSocket {
      constructor(url) {
        super(url);
        urls.push(url);
      }
    }
    const client = await connect("/ws", { WebSocket: Recording });
    await new Promise((resolve) => {
      if (client.state.status === "open") resolve();
      client.on("state", (state) => state.status === "open" && resolve());
    });
    const echo = new Promise((resolve) => client.on("message", resolve));
    client.send({ relative: true });
    const echoed = await echo;
    client.free();
    // A scheme other than ws(s) or http(s) is refused at once.
    let refused = null;
    try {
      new Client("ftp://example.com/ws", { autoConnect: false });
    } catch (error) {
      refused = isResocketError(error, "InvalidOptions");
    }
    // A ws:// url is used as given.
    const absolute = `ws://${location.host}/ws`;
    const direct = new Client(absolute, { WebSocket: Recording });
    direct.free();
    return { urls, echoed, refused, absolute };
  });
  const host = new URL(baseUrl).host;
  assert.deepEqual(result.urls, [`ws://${host}/ws`, result.absolute]);
  assert.deepEqual(result.echoed, { relative: true });
  assert.equal(result.refused, true);
  assert.deepEqual(errors, []);
});

test("a url list: each URL is checked and resolved like one; a bad entry or an empty list throws", async () => {
  const { page, errors } = await openPage(browser, "/basic/");
  const result = await page.evaluate(async () => {
    const { load, isResocketError, Client } = await import("/pkg/index.js");
    await load();
    const urls = [];
    class Recording extends WebSocket {
      constructor(url) {
        super(url);
        urls.push(url);
      }
    }
    const refusal = (url) => {
      try {
        new Client(url, { autoConnect: false }).free();
        return "accepted";
      } catch (error) {
        return isResocketError(error, "InvalidOptions") ? error.message : String(error);
      }
    };
    const client = new Client(["/ws", `ws://${location.host}/other`], { WebSocket: Recording });
    const state = client.state;
    client.free();
    return {
      urls,
      state,
      empty: refusal([]),
      badEntry: refusal(["/ws", "ftp://example.com/ws"]),
      notString: refusal(["/ws", 42]),
      notList: refusal({ url: "/ws" }),
    };
  });
  const host = new URL(baseUrl).host;
  assert.deepEqual(result.urls, [`ws://${host}/ws`], "the first URL first");
  assert.deepEqual(result.state, { status: "connecting", attempt: 1, url: 0 });
  assert.equal(result.empty, "the url list is empty");
  assert.match(result.badEntry, /got ftp:\/\/example\.com\/ws$/);
  assert.match(result.notString, /got 42$/);
  assert.match(result.notList, /got \[object Object\]$/);
  assert.deepEqual(errors, []);
});
