// The trading dashboard as a user sees it: live prices, a dropped connection that recovers with
// no gap, the reconnect button, and orders whose fills land in the notification center.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, screenshot, textOf, waitForStatus } from "./support.mjs";

const SYMBOLS = ["BTC", "ETH", "AAPL", "MSFT", "EUR/USD"];

let browser;
let page;
let errors;

before(async () => {
  browser = await launch();
  // The exchange feed scripts/with-demo.sh started (by default on the page's port + 20).
  const exchange = process.env.EXCHANGE_ADDR;
  ({ page, errors } = await openPage(browser, exchange ? `/trading/?exchange=ws://${exchange}/ws` : "/trading/"));
});

after(async () => {
  await browser?.close();
});

const number = async (id) => Number(await textOf(page, id));

/** Waits until the page has received `more` ticks beyond what it shows now. */
async function waitForMoreTicks(more, timeout = 10_000) {
  const now = await number("tick-count");
  await page.waitForFunction(
    (target) => Number(document.querySelector('[data-testid="tick-count"]').textContent) >= target,
    now + more,
    { timeout },
  );
}

test("the dashboard goes live and shows a price for every symbol", async () => {
  await waitForStatus(page, "open");
  await page.waitForFunction(
    (symbols) =>
      symbols.every((symbol) => /\d/.test(document.querySelector(`[data-symbol="${symbol}"] [data-testid="change-pct"]`)?.textContent ?? "")),
    SYMBOLS,
    { timeout: 10_000 },
  );
  for (const symbol of SYMBOLS) {
    const row = page.locator(`[data-symbol="${symbol}"]`);
    assert.match(await textOf(row, "price"), /^[▲▼]?\s*[\d,]+\.\d+$/, symbol);
    assert.match(await textOf(row, "change-pct"), /^[+-]?\d+\.\d\d%$/, symbol);
    assert.match(await textOf(row, "updated"), /\d/, symbol);
  }
  assert.equal(await textOf(page, "room-status"), "joined");
});

test("prices keep updating, with consecutive sequence numbers", async () => {
  const seq = await number("last-seq");
  await waitForMoreTicks(10);
  assert.ok((await number("last-seq")) >= seq + 10);
  assert.equal(await textOf(page, "gaps"), "0");
});

test("the round trip and quality show once heartbeats flow", async () => {
  await page.waitForFunction(() => /rtt \d+ ms/.test(document.querySelector('[data-testid="rtt"]').textContent), null, {
    timeout: 10_000,
  });
  const quality = await page.getByTestId("quality").getAttribute("data-quality");
  assert.ok(["good", "fair", "poor"].includes(quality), quality);
});

test("after a dropped connection the page recovers with no gap and ticks continue", async () => {
  const seqBefore = await number("last-seq");
  await page.getByTestId("drop").click();
  await waitForStatus(page, "open", { not: true, timeout: 5_000 });
  await page.waitForFunction(() => document.querySelector('[data-testid="quality"]').dataset.quality == "offline", null, {
    timeout: 5_000,
  });
  await waitForStatus(page, "open");
  // The rejoin replays what was published during the outage, then live ticks follow.
  await waitForMoreTicks(10);
  assert.ok((await number("last-seq")) > seqBefore);
  assert.equal(await textOf(page, "gaps"), "0");
  assert.equal(await textOf(page, "recovered"), "yes");
  assert.equal(await textOf(page, "reconnects"), "1 reconnect");
});

test("the Reconnect button reconnects at once and the feed goes on", async () => {
  await page.getByTestId("reconnect").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="reconnects"]').textContent == "2 reconnects", null, {
    timeout: 10_000,
  });
  await waitForStatus(page, "open");
  await waitForMoreTicks(5);
  assert.equal(await textOf(page, "gaps"), "0");
});

/** Waits until the notification center lists `count` notifications. */
async function waitForNotifications(count) {
  await page.waitForFunction((count) => document.querySelectorAll('[data-testid="notification"]').length == count, count, {
    timeout: 10_000,
  });
}

const unread = () => page.getByTestId("unread").getAttribute("data-count");

test("orders are accepted and their fills arrive as unread notifications", async () => {
  await page.getByTestId("order-symbol").selectOption("ETH");
  await page.getByTestId("order-qty").fill("2");
  await page.getByTestId("buy").click();
  await page.waitForFunction(() => /accepted/.test(document.querySelector('[data-testid="order-result"]').textContent), null, {
    timeout: 10_000,
  });
  assert.match(await textOf(page, "order-result"), /^Order o-\d+ accepted/);
  await waitForNotifications(1);
  assert.match(await textOf(page, "notification"), /^Bought 2 ETH at [\d,]+\.\d\d \(o-\d+\)/);
  assert.equal(await unread(), "1");

  await page.getByTestId("order-symbol").selectOption("BTC");
  await page.getByTestId("order-qty").fill("0.5");
  await page.getByTestId("sell").click();
  await waitForNotifications(2);
  // Newest first.
  assert.match(await textOf(page, "notification"), /^Sold 0\.5 BTC at /);
  assert.equal(await unread(), "2");
});

test("a bad order is refused by the server and shown", async () => {
  await page.getByTestId("order-qty").fill("0");
  await page.getByTestId("buy").click();
  await page.waitForFunction(() => /refused/.test(document.querySelector('[data-testid="order-result"]').textContent), null, {
    timeout: 10_000,
  });
  assert.match(await textOf(page, "order-result"), /^Order refused: .*qty must be above 0/);
  assert.equal(await page.getByTestId("order-result").locator("[data-code]").getAttribute("data-code"), "BadRequest");
});

test("notifications can be marked read, dismissed and cleared", async () => {
  const notes = page.getByTestId("notification");
  await notes.nth(1).getByTestId("mark-read").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="unread"]').dataset.count == "1", null, { timeout: 5_000 });
  assert.deepEqual(await notes.evaluateAll((items) => items.map((li) => li.dataset.read)), ["false", "true"]);

  await notes.nth(1).getByTestId("dismiss").click();
  await waitForNotifications(1);
  assert.match(await textOf(page, "notification"), /^Sold 0\.5 BTC/);

  await page.getByTestId("mark-all-read").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="unread"]').dataset.count == "0", null, { timeout: 5_000 });
  assert.equal(await page.getByTestId("unread").isVisible(), false);

  await page.getByTestId("clear").click();
  await waitForNotifications(0);
});

test("the exchange feed panel shows trades read in raw mode from the simulated exchange", async () => {
  await page.waitForFunction(() => document.querySelector('[data-testid="exchange-status"]')?.dataset.readyState === "1", null, { timeout: 10_000 });
  const id = (symbol) =>
    page.evaluate((s) => Number(document.querySelector(`[data-exchange-symbol="${s}"] [data-testid="exchange-trade-id"]`)?.textContent), symbol);
  await page.waitForFunction(
    () => ["BTCUSDT", "ETHUSDT"].every((s) => /^\d+\.\d\d$/.test(document.querySelector(`[data-exchange-symbol="${s}"] [data-testid="exchange-price"]`)?.textContent ?? "")),
    null,
    { timeout: 10_000 },
  );
  // Trades keep flowing: the trade id moves on.
  const first = await id("BTCUSDT");
  await page.waitForFunction(
    (before) => Number(document.querySelector('[data-exchange-symbol="BTCUSDT"] [data-testid="exchange-trade-id"]').textContent) > before + 2,
    first,
    { timeout: 10_000 },
  );
  assert.equal(await textOf(page, "exchange-status"), "open");
});

test("screenshot of the trading dashboard, and no page errors", async () => {
  await page.getByTestId("order-qty").fill("1");
  await page.getByTestId("buy").click();
  await waitForNotifications(1);
  await screenshot(page, "trading");
  assert.deepEqual(errors, []);
});
