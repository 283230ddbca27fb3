// The shared board in two browser contexts: edits in one appear in the other, deletes, and a
// compare-and-set claim that loses a race and is shown as rejected.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, runId, screenshot, textOf, waitForStatus } from "./support.mjs";

const run = runId();
const ANN = `ann-${run}`;
const BEN = `ben-${run}`;
const TITLE = `Plan the sprint ${run}`;
const RENAMED = `Plan the next sprint ${run}`;

let browser;
let ann;
let ben;

before(async () => {
  browser = await launch();
  ann = await openPage(browser, `/board/?user=${ANN}`);
  ben = await openPage(browser, `/board/?user=${BEN}`);
});

after(async () => {
  await browser?.close();
});

const card = (page, title) => page.locator(`[data-testid="card"][data-title="${title}"]`);

/** Waits until `page` has no pending ops. */
async function waitConfirmed(page, timeout = 15_000) {
  await page.waitForFunction(() => document.querySelector('[data-testid="doc-pending"]').dataset.pending == "0", null, { timeout });
}

test("both pages connect and sync the document", async () => {
  for (const { page } of [ann, ben]) {
    await waitForStatus(page, "open");
    await page.waitForFunction(() => document.querySelector('[data-testid="doc-pending"]').textContent == "all confirmed", null, {
      timeout: 10_000,
    });
  }
});

test("a card added in one page appears in the other, and both reach the same revision", async () => {
  await ann.page.getByTestId("new-card").fill(TITLE);
  await ann.page.getByTestId("add-card").click();
  await card(ann.page, TITLE).waitFor({ timeout: 5_000 });
  await card(ben.page, TITLE).waitFor({ timeout: 10_000 });
  assert.match(await card(ben.page, TITLE).textContent(), new RegExp(`added by ${ANN}`));
  await waitConfirmed(ann.page);
  const rev = await textOf(ann.page, "doc-rev");
  await ben.page.waitForFunction((rev) => document.querySelector('[data-testid="doc-rev"]').textContent == rev, rev, { timeout: 10_000 });
});

test("an edit (merge) in the other page shows in the first", async () => {
  await card(ben.page, TITLE).getByTestId("edit").click();
  await card(ben.page, TITLE).getByTestId("edit-title").fill(RENAMED);
  await card(ben.page, TITLE).getByTestId("save").click();
  await card(ben.page, RENAMED).waitFor({ timeout: 5_000 });
  await card(ann.page, RENAMED).waitFor({ timeout: 10_000 });
  assert.equal(await card(ann.page, TITLE).count(), 0);
  // The merge kept the fields it did not touch.
  assert.match(await card(ann.page, RENAMED).textContent(), new RegExp(`added by ${ANN}`));
});

test("a claim raced from both pages while offline: one wins, the other is rejected and rolled back", async () => {
  await ann.page.getByTestId("drop").click();
  await waitForStatus(ann.page, "open", { not: true, timeout: 5_000 });
  await waitForStatus(ben.page, "open", { not: true, timeout: 5_000 });
  // The board's drop button makes a 5 s outage. Neither page can see the other's claim, so
  // both offer the button and both claim (optimistically shown at once).
  for (const { page } of [ann, ben]) {
    await card(page, RENAMED).getByTestId("claim-button").click();
    await card(page, RENAMED).getByTestId("claim").filter({ hasText: "Claimed by you" }).waitFor({ timeout: 5_000 });
    assert.notEqual(await page.getByTestId("doc-pending").getAttribute("data-pending"), "0");
  }
  for (const { page } of [ann, ben]) {
    await waitForStatus(page, "open");
    await waitConfirmed(page);
  }
  // Whichever claim reached the server first holds; both pages agree on it.
  const winners = await Promise.all([ann, ben].map(({ page }) => card(page, RENAMED).getByTestId("claim").getAttribute("data-claimed-by")));
  assert.equal(winners[0], winners[1]);
  assert.ok([ANN, BEN].includes(winners[0]), winners[0]);
  const [winner, loser] = winners[0] == ANN ? [ann, ben] : [ben, ann];
  await loser.page.getByTestId("rejected").waitFor({ timeout: 10_000 });
  assert.equal(await loser.page.getByTestId("rejected").getAttribute("data-code"), "Conflict");
  assert.match(await textOf(loser.page, "rejected"), new RegExp(`Your claim of “${RENAMED}” was rejected`));
  assert.equal(await textOf(card(loser.page, RENAMED), "claim"), `Claimed by ${winners[0]}`);
  assert.equal(await winner.page.getByTestId("rejected").count(), 0);
  assert.equal(await textOf(card(winner.page, RENAMED), "claim"), "Claimed by you");
  await screenshot(loser.page, "board");
});

test("a card deleted in one page disappears from the other", async () => {
  await ann.page.getByTestId("new-card").fill(`Keep me ${run}`);
  await ann.page.getByTestId("add-card").click();
  await card(ben.page, `Keep me ${run}`).waitFor({ timeout: 10_000 });

  await card(ben.page, RENAMED).getByTestId("delete").click();
  await card(ben.page, RENAMED).waitFor({ state: "detached", timeout: 5_000 });
  await card(ann.page, RENAMED).waitFor({ state: "detached", timeout: 10_000 });
  await waitConfirmed(ben.page);
  assert.equal(await card(ann.page, `Keep me ${run}`).count(), 1);
});

test("no page errors", () => {
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(ben.errors, []);
});
