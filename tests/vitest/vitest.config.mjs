// Vitest for tests/vitest: component tests in jsdom against the real test server, as the README
// ("Testing components with Vitest") shows an app doing it. RESOCKET_TEST_URL is the server
// scripts/with-server.sh started; "resocket" is the built pkg/ (an app has it installed).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const pkg = (file) => fileURLToPath(new URL(`../../pkg/${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^resocket$/, replacement: pkg("index.js") },
      { find: /^resocket\/react$/, replacement: pkg("react.js") },
    ],
  },
  test: {
    root: fileURLToPath(new URL(".", import.meta.url)),
    include: ["*.test.tsx"],
    environment: "jsdom",
    // The page's address: relative URLs ("/ws") resolve against it, and jsdom's WebSocket sends
    // it as the Origin the server checks.
    environmentOptions: { jsdom: { url: process.env.RESOCKET_TEST_URL ?? "http://127.0.0.1:8080" } },
    testTimeout: 15_000,
  },
});
