// The package bundled by Vite into an app loads its WASM and talks to the real server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, baseUrl } from "./browser.mjs";

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test("a Vite-built app imports resocket, connects and gets its echo", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${baseUrl}/vite/`);
  await page.waitForFunction(() => document.getElementById("status").textContent === "open", null, { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById("echo").textContent !== "", null, { timeout: 5_000 });
  assert.equal(await page.textContent("#echo"), '{"via":"vite"}');
  assert.deepEqual(errors, []);
});
