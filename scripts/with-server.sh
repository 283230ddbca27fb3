#!/usr/bin/env bash
# Usage: scripts/with-server.sh ADDR COMMAND...
# Starts the release test server on ADDR, waits until it answers, runs COMMAND, then stops the
# server (SIGTERM, the graceful path) whatever COMMAND's outcome. Exits with COMMAND's status.
set -euo pipefail
cd "$(dirname "$0")/.."
addr=$1
shift
server=target/release/resocket-server
cargo build --release -p resocket-server --quiet
log=$(mktemp -t resocket-server.XXXXXX.log)
# The control endpoints are on (--test-controls) with a secret made for this run, exported to
# COMMAND as RESOCKET_CONTROL_SECRET (the wasm browser tests read it at compile time).
export RESOCKET_CONTROL_SECRET=${RESOCKET_CONTROL_SECRET:-$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')}
# The client suites flood on purpose (10,000 publishes as fast as a page can): rate limits are
# off here; server/tests/limits.rs tests them. SERVER_ARGS adds server options, e.g. "--static out/demo". SERVER_MODE_ARGS replaces the
# default mode: the demo methods and the price feed (--demo), with clients identified as the
# user they claim (--insecure-trust-client-user), under the permissive rules of
# server/resocket.demo.toml.
# shellcheck disable=SC2086 # both hold several options
"$server" --addr "$addr" ${SERVER_MODE_ARGS:---demo --insecure-trust-client-user --config server/resocket.demo.toml} \
  --test-controls --rate-limits off ${SERVER_ARGS:-} >"$log" 2>&1 &
pid=$!
stop() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 1 100); do
  if curl -fsS -H "X-Resocket-Control-Secret: $RESOCKET_CONTROL_SECRET" "http://$addr/control/stats" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "test server failed to start"; exit 1; fi
  sleep 0.1
done
set +e
"$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "---- test server log ($log) ----"
  tail -n 50 "$log"
fi
exit "$status"
