// The browser suites' Node side: each test runs in a page of its own (a fresh context: its own
// storage and sockets), a document of the test server's origin, where the package is imported the
// way an app does, by name: an import map sends "resocket" and "resocket/docs" to the built
// package the server serves under /pkg/, as its package.json `exports` say. The page gets
// `window.kit` (kit.js) and the control secret; the test body then runs in the page: the real
// WASM in headless Chromium against the real server (scripts/test-pkg.sh starts it).
import { before, after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { launch, baseUrl } from "../pkg/browser.mjs";

const kitSource = readFileSync(new URL("./kit.js", import.meta.url), "utf8");
const controlSecret = process.env.RESOCKET_CONTROL_SECRET ?? "";

let browser;
let html;

/** The import map of the package served under `/pkg/`, from its own `exports`. */
async function importMap() {
  const response = await fetch(`${baseUrl}/pkg/package.json`);
  assert.ok(response.ok, `/pkg/package.json: ${response.status} (is the demo site assembled?)`);
  const { exports } = await response.json();
  const target = (entry) => {
    const file = exports[entry]?.import;
    assert.ok(file, `package.json exports ${entry}`);
    return new URL(file, `${baseUrl}/pkg/`).pathname;
  };
  return { imports: { resocket: target("."), "resocket/docs": target("./docs") } };
}

/** Launches Chromium (with `extraArgs`, see `launch`) before the file's tests and closes it after
 * them. */
export function useBrowser(extraArgs = []) {
  before(async () => {
    browser = await launch(extraArgs);
    html = [
      "<!doctype html>",
      '<meta charset="utf-8">',
      "<title>resocket browser tests</title>",
      `<script type="importmap">${JSON.stringify(await importMap())}</script>`,
      `<script>window.RESOCKET_CONTROL_SECRET = ${JSON.stringify(controlSecret)};</script>`,
      `<script>${kitSource}</script>`,
    ].join("\n");
  });
  after(async () => {
    await browser?.close();
  });
}

/** Runs `body(arg)` in a fresh test page (after `setup()` there, if given: helpers of a file's
 * own) and resolves with what it returns. The page must raise
 * no uncaught error (nor unhandled rejection); its context is closed afterwards, so its sockets
 * are gone before the next test. A failure carries the page's console output. */
export async function inPage(body, arg, { setup } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  const logs = [];
  page.on("pageerror", (error) => errors.push(error));
  page.on("console", (message) => logs.push(`${message.type()}: ${message.text()}`));
  try {
    // A document the server served (a page fulfilled by Playwright would not be in the loopback
    // address space, and Chromium's local network access checks would block its sockets),
    // rewritten into the test page.
    await page.goto(`${baseUrl}/pkg/package.json`);
    await page.setContent(html);
    if (setup) await page.evaluate(setup);
    const result = await page.evaluate(body, arg);
    assert.deepEqual(errors, [], "uncaught errors in the page");
    return result;
  } catch (error) {
    if (logs.length > 0) error.message += `\n---- page console ----\n${logs.join("\n")}`;
    throw error;
  } finally {
    await context.close();
  }
}

/** The package's two entries: the client without documents, and with them. */
export const entries = ["resocket", "resocket/docs"];

/** Runs every `[name, body, arg]` of `tests` in its own test page once per entry, under
 * `describe(entry)`: `body({ ...arg, entry })`, where the body imports `entry`. */
export function onEveryEntry(tests, timeout = 60_000) {
  for (const entry of entries)
    describe(entry, () => {
      for (const [name, body, arg] of tests) test(name, { timeout }, () => inPage(body, { ...arg, entry }));
    });
}
