// The chat app with two people in two browser contexts: names, presence, typing, messages,
// unread counts, and a message typed while offline that is delivered once after reconnecting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, runId, screenshot, textOf, waitForStatus } from "./support.mjs";

const run = runId();
const ALICE = `alice-${run}`;
const BOB = `bob-${run}`;

let browser;
let alice;
let bob;

before(async () => {
  browser = await launch();
  alice = await openPage(browser, `/chat/?user=${ALICE}`);
  // Bob picks his name in the form instead.
  bob = await openPage(browser, "/chat/");
});

after(async () => {
  await browser?.close();
});

/** The texts of the messages `page` shows in the active room. */
const messages = (page) => page.getByTestId("message").locator(".text").allTextContents();

async function waitForMessage(page, text, timeout = 10_000) {
  await page.waitForFunction(
    (text) => [...document.querySelectorAll('[data-testid="message"] .text')].some((p) => p.textContent == text),
    text,
    { timeout },
  );
}

async function send(page, text) {
  await page.getByTestId("composer").fill(text);
  await page.getByTestId("composer").press("Enter");
}

test("without ?user= the page asks for a name and joins with it", async () => {
  await bob.page.getByTestId("name").fill(BOB);
  await bob.page.getByTestId("name").press("Enter");
  await bob.page.getByTestId("composer").waitFor({ timeout: 10_000 });
  assert.equal(await textOf(bob.page, "me"), BOB);
  assert.equal(new URL(bob.page.url()).searchParams.get("user"), BOB);
  await waitForStatus(bob.page, "open");
  await waitForStatus(alice.page, "open");
});

test("each sees the other in the room's presence list", async () => {
  for (const [{ page }, other] of [
    [alice, BOB],
    [bob, ALICE],
  ]) {
    await page.locator(`[data-testid="member"][data-user="${other}"]`).waitFor({ timeout: 10_000 });
  }
  assert.match(await alice.page.locator(`[data-testid="member"][data-user="${ALICE}"]`).textContent(), /\(you\)/);
});

test("typing shows an indicator on the other page, and Enter sends the message", async () => {
  await bob.page.getByTestId("composer").fill(`hello ${ALICE}`);
  await alice.page.waitForFunction((text) => document.querySelector('[data-testid="typing"]').textContent == text, `${BOB} is typing…`, {
    timeout: 10_000,
  });
  await bob.page.getByTestId("composer").press("Enter");
  await waitForMessage(alice.page, `hello ${ALICE}`);
  // Sending ends the typing state.
  await alice.page.waitForFunction(() => document.querySelector('[data-testid="typing"]').textContent == "", null, { timeout: 10_000 });
  assert.equal(await bob.page.getByTestId("composer").inputValue(), "");

  await send(alice.page, `hi ${BOB}`);
  await waitForMessage(bob.page, `hi ${BOB}`);
  await waitForMessage(alice.page, `hi ${BOB}`);
});

test("messages in another room count as unread until it is opened", async () => {
  await alice.page.getByTestId("room-random").click();
  await alice.page.locator('[data-testid="channel"][data-room="random"]').waitFor({ timeout: 5_000 });
  await send(bob.page, "while you were away 1");
  await send(bob.page, "while you were away 2");
  await alice.page.waitForFunction(() => document.querySelector('[data-testid="unread-general"]')?.textContent == "2", null, {
    timeout: 10_000,
  });
  await alice.page.getByTestId("room-general").click();
  await waitForMessage(alice.page, "while you were away 2");
  await alice.page.getByTestId("unread-general").waitFor({ state: "detached", timeout: 5_000 });
});

test("a message typed while offline shows as pending and is delivered once after reconnecting", async () => {
  const text = `typed offline ${run}`;
  await alice.page.getByTestId("drop").click();
  await waitForStatus(alice.page, "open", { not: true, timeout: 5_000 });
  await send(alice.page, text);
  const pending = alice.page.locator('[data-testid="message"][data-pending="true"]');
  assert.equal(await pending.locator(".text").textContent(), text);

  await waitForStatus(alice.page, "open");
  await waitForStatus(bob.page, "open");
  await waitForMessage(bob.page, text, 15_000);
  await pending.waitFor({ state: "detached", timeout: 10_000 });
  for (const { page } of [alice, bob]) {
    assert.equal((await messages(page)).filter((t) => t == text).length, 1);
  }
  // And the room goes on as before.
  await send(bob.page, "welcome back");
  await waitForMessage(alice.page, "welcome back");
  await alice.page.locator(`[data-testid="member"][data-user="${BOB}"]`).waitFor({ timeout: 10_000 });
});

test("screenshot of the chat, and no page errors", async () => {
  await bob.page.getByTestId("composer").fill("typing something…");
  await alice.page.waitForFunction(() => document.querySelector('[data-testid="typing"]').textContent != "", null, { timeout: 10_000 });
  await screenshot(alice.page, "chat");
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
