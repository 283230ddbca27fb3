#!/usr/bin/env bash
# Runs the server's integration tests again with every server on the Redis engine, against a
# real redis-server of this run's own on a free loopback port (no persistence files), so the
# same suite holds for both engines. server/tests/nodes.rs starts its own Redis in any case.
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
  sleep 0.05
done
redis-cli -p "$port" ping >/dev/null

echo "server integration tests on the Redis engine (redis-server on 127.0.0.1:$port)"
RESOCKET_TEST_ENGINE=redis RESOCKET_TEST_REDIS="redis://127.0.0.1:$port" \
  cargo test -p resocket-server --test '*'
