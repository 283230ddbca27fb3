#!/usr/bin/env bash
# The chaos test (tests/chaos): the release server on a loopback port, browser clients on a room
# and a document, drops, kills and restarts, then a table of what was sent, delivered, lost and
# settled. Bounded by CHAOS_SECONDS (default 60); CHAOS_SEED repeats a run's choices. Needs the
# built package (pkg/, built here if missing). `make chaos`; `make test` runs a short one.
set -euo pipefail
cd "$(dirname "$0")/.."
# The bookkeeping first: it must call broken promises broken.
node --test tests/chaos/accounting.test.mjs >/dev/null
[ -f pkg/index.js ] || scripts/build-pkg.sh
cargo build --release -p resocket-server --quiet
# The pages load the package from the test server: a page to open and pkg/ next to it.
static=${CHAOS_STATIC:-out/chaos}
rm -rf "$static"
mkdir -p "$static"
cp -r pkg "$static"/pkg
printf '<!doctype html><meta charset="utf-8"><title>resocket chaos</title>\n' >"$static/index.html"
CHAOS_STATIC=$static exec node tests/chaos/chaos.mjs
