#!/usr/bin/env bash
# Package tests in headless Chromium against the real server: the client, rooms and documents
# through the package's public API (tests/browser), the demo site and example apps
# (tests/pkg, tests/examples), the React hooks (tests/react) and bundler resolution; the trust
# boundary (tests/auth: JWT, origins, the server API and a backend); and the
# package in Node (tests/node: no global WebSocket on Node 20, the ws package's instead), hook
# components under Vitest + jsdom (tests/vitest); the docs' TypeScript blocks; and a
# short chaos run (tests/chaos: drops, kills and restarts under traffic).
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-out/demo}
scripts/assemble-demo.sh
scripts/build-hook-tests.sh
# Strict type check of the hook harness against the package (build-examples.sh checks the apps).
node_modules/.bin/tsc -p tests/react/tsconfig.json
node_modules/.bin/tsc -p tests/vitest/tsconfig.json
# Every ```ts/```tsx block of the READMEs and docs/, each a module, under tsc --strict against pkg/.
node scripts/check-doc-blocks.mjs
# Bundlers must resolve the package's exports and the .wasm URL: esbuild, and Vite building a
# small app that imports "resocket" (served under /vite/ and loaded by the tests below). Neither
# browser bundle may pull in Node's modules (the Node-only .wasm read goes through `process`).
node_modules/.bin/esbuild pkg/index.js --bundle --format=esm --log-level=warning --outfile=out/bundle-check.js
node_modules/.bin/esbuild pkg/docs/index.js --bundle --format=esm --log-level=warning --outfile=out/bundle-check-docs.js
node_modules/.bin/vite build --config tests/pkg/vite-app/vite.config.js --outDir "$PWD/$OUT/vite"
if find out/bundle-check.js out/bundle-check-docs.js "$OUT" -name '*.js' ! -path "$OUT/pkg/*" -print0 |
  xargs -0 grep -lE "(import|from) ?\(?[\"']node:"; then
  echo "a browser bundle above imports a node: module"
  exit 1
fi
addr=${RESOCKET_PKG_TEST_SERVER:-127.0.0.1:9432}
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--static $OUT" \
  scripts/with-server.sh "$addr" node --test --test-concurrency=1 tests/browser/ tests/pkg/ tests/react/ tests/node/
# Components using the hooks under Vitest in jsdom, against the real server, as the README's
# "Testing components with Vitest" shows (jsdom's own WebSocket, the page URL the server's).
RESOCKET_TEST_URL="http://$addr" scripts/with-server.sh "$addr" node_modules/.bin/vitest run --config tests/vitest/vitest.config.mjs
# The example apps as the demo runs them: dev tokens, and the app backend job filling orders.
demo=${RESOCKET_DEMO_TEST_SERVER:-127.0.0.1:9436}
RESOCKET_TEST_URL="http://$demo" scripts/with-demo.sh "$demo" node --test --test-concurrency=1 tests/examples/
# The server API helper against the real server (its own server, with an API key).
scripts/test-server-api.sh
# The trust boundary in Chromium: tokens, refresh, refusals, origins, the API and the backend.
scripts/test-auth.sh
# Drops, kills and restarts under traffic, short (its own server and backend; `make chaos` runs
# it longer).
CHAOS_SECONDS=${CHAOS_SMOKE_SECONDS:-15} scripts/chaos.sh
# The same with two nodes on the Redis engine (and a redis-server of its own): nothing lost.
CHAOS_ENGINE=redis CHAOS_SECONDS=${CHAOS_SMOKE_SECONDS:-15} scripts/chaos.sh
