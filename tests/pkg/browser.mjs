// Shared Playwright setup: Debian's Chromium, never a downloaded browser.
import { chromium } from "playwright-core";

export const baseUrl = process.env.RESOCKET_TEST_URL ?? "http://127.0.0.1:9432";

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
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
