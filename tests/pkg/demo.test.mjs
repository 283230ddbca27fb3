// End-to-end test of the plain demo page (/basic/) and the npm package it loads, as a person
// would use it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { launch, openPage } from "./browser.mjs";

let browser;
let page;
let pageErrors;

before(async () => {
  browser = await launch();
  ({ page, errors: pageErrors } = await openPage(browser, "/basic/"));
});

after(async () => {
  await browser?.close();
});

const status = () => page.locator("#status");
const log = () => page.locator("#log li");

async function sendText(text) {
  await page.fill("#text", text);
  await page.click("#composer button");
}

test("the page connects and shows the open state", async () => {
  await page.waitForFunction(() => document.querySelector("#status").dataset.status === "open", null, { timeout: 10_000 });
  assert.equal(await status().textContent(), "open");
});

test("a typed message is echoed back", async () => {
  await sendText("hello from the demo");
  await page.waitForFunction(
    () => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes('← {"text":"hello from the demo"')),
    null,
    { timeout: 5_000 },
  );
});

test("dropping the connection queues what is typed and delivers it once after recovery", async () => {
  await page.click("#drop");
  await page.waitForFunction(() => document.querySelector("#status").dataset.status !== "open", null, { timeout: 5_000 });
  await sendText("typed while offline");
  assert.ok((await log().allTextContents()).some((t) => t.includes("typed while offline (queued)")));
  await page.waitForFunction(() => document.querySelector("#status").dataset.status === "open", null, { timeout: 15_000 });
  await page.waitForFunction(
    () => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes('"typed while offline"')),
    null,
    { timeout: 5_000 },
  );
  const echoes = (await log().allTextContents()).filter((t) => t.startsWith("←") && t.includes('"typed while offline"'));
  assert.equal(echoes.length, 1);
  const reconnects = await page.evaluate(() => window.resocketDemo.metrics().reconnects);
  assert.equal(reconnects, 1);
});

test("a malformed server frame shows an error and the page keeps working", async () => {
  await page.click("#malformed");
  await page.waitForFunction(
    () => [...document.querySelectorAll("#log li.error")].some((li) => li.textContent.startsWith("error MalformedFrame")),
    null,
    { timeout: 5_000 },
  );
  await sendText("after the bad frame");
  await page.waitForFunction(
    () => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes('← {"text":"after the bad frame"')),
    null,
    { timeout: 5_000 },
  );
  assert.equal(await status().textContent(), "open");
});

test("the package's exports work from a module import", async () => {
  const result = await page.evaluate(async () => {
    const mod = await import("/pkg/index.js");
    const names = Object.keys(mod).sort();
    let code = null;
    try {
      new mod.Client("http://not-a-websocket");
    } catch (error) {
      code = mod.isResocketError(error, "InvalidOptions") ? error.code : `unexpected ${error}`;
    }
    // resocket/docs: the same API on the module with documents.
    const docs = await import("/pkg/docs/index.js");
    return { names, code, docsNames: Object.keys(docs).sort(), sameClass: docs.Client === mod.Client };
  });
  assert.deepEqual(result.names, ["Client", "connect", "isResocketError", "load"]);
  assert.deepEqual(result.docsNames, result.names);
  assert.equal(result.sameClass, false);
  assert.equal(result.code, "InvalidOptions");
});

test("screenshot of the demo", async () => {
  mkdirSync("out/test", { recursive: true });
  await page.screenshot({ path: "out/test/demo.png", fullPage: true });
  assert.deepEqual(pageErrors, []);
});
