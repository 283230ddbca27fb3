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
# SERVER_ARGS adds server options, e.g. "--static out/demo".
# The tests use the demo methods and the price feed (--demo), and identify as the user they
# claim (--insecure-trust-client-user), with the permissive rules of server/resocket.demo.toml.
"$server" --addr "$addr" --demo --insecure-trust-client-user \
  --config server/resocket.demo.toml ${SERVER_ARGS:-} >"$log" 2>&1 &
pid=$!
stop() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://$addr/control/stats" >/dev/null 2>&1; then break; fi
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
