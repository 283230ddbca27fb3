// Shared Playwright setup: Debian's Chromium, never a downloaded browser.
import { chromium } from "playwright-core";

export const baseUrl = process.env.RESOCKET_TEST_URL ?? "http://127.0.0.1:9432";

/** Launches Chromium; `extraArgs` adds command-line switches (e.g. `--js-flags=--expose-gc`).
 * Playwright turns the back-forward cache off; `backForwardCache: true` keeps it on. */
export async function launch(extraArgs = [], { backForwardCache = false } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    ignoreDefaultArgs: backForwardCache ? ["--disable-back-forward-cache"] : undefined,
    args: [
      ...extraArgs,
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Run in a page (`page.evaluate(catchWasmMemory)`) before the package loads: keeps the module's
 * memory in `window.wasmMemory` as the package instantiates it. */
export function catchWasmMemory() {
  for (const name of ["instantiate", "instantiateStreaming"]) {
    const original = WebAssembly[name];
    WebAssembly[name] = async (...args) => {
      const result = await original(...args);
      const exports = Object.values((result.instance ?? result).exports ?? {});
      window.wasmMemory ??= exports.find((value) => value instanceof WebAssembly.Memory);
      return result;
    };
  }
}

/** Opens `path` in a fresh context (its own storage and connection); `errors` collects uncaught
 * page errors. */
export async function openPage(browser, path) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${baseUrl}${path}`);
  return { page, errors };
}
