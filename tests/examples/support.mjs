// Shared by the example app tests: pages that record their errors, connection-state waits and
// screenshots. Every wait is bounded.
import { mkdirSync } from "node:fs";

export { baseUrl, launch, openPage } from "../pkg/browser.mjs";

/** A short id, so each run's names and texts are its own on a shared server. */
export const runId = () => Math.random().toString(36).slice(2, 8);

/** Waits until the connection badge's status is (or, with `not`, is no longer) `status`. */
export async function waitForStatus(page, status, { not = false, timeout = 15_000 } = {}) {
  await page.waitForFunction(
    ([status, not]) => (document.querySelector('[data-testid="connection"]')?.dataset.status === status) !== not,
    [status, not],
    { timeout },
  );
}

/** The trimmed text of the first element with `data-testid=id` (within `scope`). */
export async function textOf(scope, id) {
  return (await scope.getByTestId(id).first().textContent()).trim();
}

export async function screenshot(page, name) {
  mkdirSync("out/test", { recursive: true });
  await page.screenshot({ path: `out/test/${name}.png`, fullPage: true });
}
