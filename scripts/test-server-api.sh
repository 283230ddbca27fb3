#!/usr/bin/env bash
# The server API helper (resocket/server, pkg/server.js) against the real server binary, with
# raw WebSocket clients in Node (tests/server-api). Needs the package built (scripts/build-pkg.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg/server.js ] || scripts/build-pkg.sh
addr=${RESOCKET_API_TEST_SERVER:-127.0.0.1:9433}
RESOCKET_API_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export RESOCKET_API_KEY
RESOCKET_TEST_URL="http://$addr" SERVER_ARGS="--api-max-body-bytes 16384" \
  scripts/with-server.sh "$addr" node --experimental-websocket --no-warnings --test --test-concurrency=1 tests/server-api/
