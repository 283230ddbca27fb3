#!/usr/bin/env bash
# The trust boundary end to end: the built package in headless Chromium (tests/auth) against a
# server that verifies JWTs (HS256, no leeway), accepts one explicit origin, forwards unhandled
# requests to a backend the tests start, and has the server API on. Needs the demo site
# assembled (scripts/assemble-demo.sh, run by scripts/test-pkg.sh before this).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/demo}
[ -d "$out/pkg" ] || OUT=$out scripts/assemble-demo.sh
addr=${RESOCKET_AUTH_TEST_SERVER:-127.0.0.1:9434}
backend=${RESOCKET_AUTH_TEST_BACKEND:-127.0.0.1:9438}
random_hex() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
RESOCKET_TEST_JWT_SECRET=$(random_hex)
RESOCKET_API_KEY=$(random_hex)
RESOCKET_RPC_SECRET=$(random_hex)
export RESOCKET_TEST_JWT_SECRET RESOCKET_API_KEY RESOCKET_RPC_SECRET
export RESOCKET_TEST_URL="http://$addr" RESOCKET_TEST_BACKEND="$backend"
SERVER_MODE_ARGS="--jwt-secret-env RESOCKET_TEST_JWT_SECRET --jwt-leeway-secs 0 \
--allowed-origin http://$addr --rpc-url http://$backend/rpc --rpc-timeout-ms 3000" \
  SERVER_ARGS="--static $out" \
  scripts/with-server.sh "$addr" node --test --test-concurrency=1 tests/auth/
