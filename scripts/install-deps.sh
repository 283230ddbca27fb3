#!/usr/bin/env bash
# Installs everything `make test` and `make demo` need on a fresh Debian machine. Idempotent:
# each step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# A pinned nightly, for fuzzing (cargo-fuzz) and the package's smaller build-std WASM
# (scripts/build-wasm.sh). Without it fuzzing falls back to proptest and the package to stable.
nightly=$(cat fuzz/NIGHTLY)
if ! rustup run "$nightly" rustc --version >/dev/null 2>&1 ||
  ! rustup component list --toolchain "$nightly" --installed | grep -q '^rust-src' ||
  ! rustup target list --toolchain "$nightly" --installed | grep -qx wasm32-unknown-unknown; then
  say "installing the $nightly toolchain with rust-src and the wasm32 target"
  rustup toolchain install "$nightly" --profile minimal --component rust-src --target wasm32-unknown-unknown ||
    say "no $nightly: fuzzing falls back to proptest, the package is built on stable"
fi
if ! command -v cargo-fuzz >/dev/null; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz || say "no cargo-fuzz: fuzzing falls back to proptest"
fi

# redis-server: the Redis engine's tests start their own on a loopback port (no files kept).
if ! command -v redis-server >/dev/null; then
  say "installing redis-server from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

if ! command -v chromium >/dev/null || ! command -v curl >/dev/null; then
  say "installing Chromium from Debian (the package's tests drive it with playwright-core)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium curl >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "installing Node.js and npm from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dev tools (TypeScript, binaryen's wasm-opt, esbuild, Vite, playwright-core)"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "dependencies ready"
