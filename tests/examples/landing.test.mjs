// The landing page links every example, and the plain demo is reachable at /basic/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, waitForStatus } from "./support.mjs";

let browser;
let page;
let errors;

before(async () => {
  browser = await launch();
  ({ page, errors } = await openPage(browser, "/"));
});

after(async () => {
  await browser?.close();
});

test("the landing page links the three apps and the plain demo", async () => {
  const links = await page.locator(".apps a").evaluateAll((as) => as.map((a) => new URL(a.href).pathname));
  assert.deepEqual(links, ["/trading/", "/chat/", "/board/", "/basic/"]);
});

test("following a link opens a working app", async () => {
  await page.getByTestId("link-trading").click();
  await page.waitForURL(/\/trading\/$/, { timeout: 5_000 });
  await waitForStatus(page, "open");
  assert.deepEqual(errors, []);
});
