#!/usr/bin/env bash
# Usage: scripts/with-demo.sh ADDR [COMMAND...]
# Runs the demo as it is meant to run: the release server on ADDR in demo mode, authenticated
# (dev tokens from /demo/token, signed with a secret generated at start), serving $OUT (default
# out/demo), with the test controls for the pages' drop buttons; and the simulated app backend
# (examples/backend/orders.mjs), which answers `order` requests forwarded by the server
# (--rpc-url) and sends the fills through the server API; and the simulated exchange feed
# (examples/backend/exchange.mjs, a plain WebSocket server) the trading app reads in raw mode. The API key and the RPC and control
# secrets are generated for this run and shared through the environment only.
# With COMMAND: runs it, stops both, exits with its status. Without: serves until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
addr=$1
shift
out=${OUT:-out/demo}
server=target/release/resocket-server
cargo build --release -p resocket-server --quiet
[ -f pkg/server.js ] || scripts/build-pkg.sh
random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
export RESOCKET_API_KEY=${RESOCKET_API_KEY:-$(random)}
export RESOCKET_RPC_SECRET=${RESOCKET_RPC_SECRET:-$(random)}
export RESOCKET_CONTROL_SECRET=${RESOCKET_CONTROL_SECRET:-$(random)}
export RESOCKET_URL="http://$addr"
# The backend listens on loopback, on the demo's port + 10 unless BACKEND_ADDR says otherwise.
export BACKEND_ADDR=${BACKEND_ADDR:-127.0.0.1:$((${addr##*:} + 10))}
# The exchange feed on the demo's port + 20, where the trading app looks for it unless the page
# says `?exchange=ws://…` (exchangeUrl in examples/common/connection.ts); exported for the tests.
export EXCHANGE_ADDR=${EXCHANGE_ADDR:-127.0.0.1:$((${addr##*:} + 20))}

log=$(mktemp -t resocket-demo.XXXXXX.log)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 130' INT TERM

# --allow-anonymous: the plain page (/basic/) connects without a user. The demo rules
# (server/resocket.demo.toml) let every user join, publish and write, except `prices`.
"$server" --addr "$addr" --demo --allow-anonymous --test-controls --static "$out" \
  --config server/resocket.demo.toml \
  --rpc-url "http://$BACKEND_ADDR/rpc" ${SERVER_ARGS:-} >>"$log" 2>&1 &
pids+=($!)
node examples/backend/orders.mjs >>"$log" 2>&1 &
pids+=($!)
node examples/backend/exchange.mjs "$EXCHANGE_ADDR" >>"$log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if curl -fsS -H "X-Resocket-Control-Secret: $RESOCKET_CONTROL_SECRET" "$RESOCKET_URL/control/stats" >/dev/null 2>&1 &&
    grep -q "^backend listening" "$log" && grep -q "^exchange listening" "$log"; then
    break
  fi
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; echo "the demo failed to start"; exit 1; fi
  done
  sleep 0.1
done

if [ $# -eq 0 ]; then
  echo "demo: open http://$addr/ (Ctrl-C stops it; log: $log)"
  tail -f "$log" &
  pids+=($!)
  wait "${pids[0]}"
  exit 0
fi
set +e
"$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "---- demo log ($log) ----"
  tail -n 50 "$log"
fi
exit "$status"
