#!/usr/bin/env bash
# Builds the WASM client for the package and prints the path of the module it wrote. Extra
# arguments go to cargo (a `--features` list).
#
# Toolchain: the nightly pinned in fuzz/NIGHTLY when it is installed with `rust-src` and the
# wasm32 target (`make deps` installs them). `-Zbuild-std` then rebuilds `core` and `alloc` with
# the release profile (opt-level "z") instead of linking the prebuilt ones (opt-level 3), and
# `-Cpanic=immediate-abort` turns their panics into a bare trap, as the package's own panic
# handler already does: 1.7 KB less gzipped for the client (2.4 KB with documents), the same behaviour.
# `-Zlocation-detail=none -Zfmt-debug=none` leave out panic locations and `Debug` code nothing
# prints: 160 bytes less gzipped.
# Fallback: stable, the same code and behaviour, bigger. It is used when the nightly is missing or
# RESOCKET_STABLE_WASM=1 is set; the build says which one it used.
set -euo pipefail
cd "$(dirname "$0")/.."

nightly=$(cat fuzz/NIGHTLY)
common=(build --release --target wasm32-unknown-unknown -p resocket --no-default-features "$@")
if [ "${RESOCKET_STABLE_WASM:-0}" != 1 ] &&
  rustup run "$nightly" rustc --print sysroot >/dev/null 2>&1 &&
  [ -d "$(rustup run "$nightly" rustc --print sysroot)/lib/rustlib/src/rust/library/core" ] &&
  rustup target list --toolchain "$nightly" --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "build-wasm: $nightly with build-std (set RESOCKET_STABLE_WASM=1 for stable)" >&2
  dir=target/pkg-nightly
  RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
    cargo "+$nightly" "${common[@]}" --target-dir "$dir" -Zbuild-std=core,alloc >&2
else
  echo "build-wasm: stable ($nightly with rust-src and the wasm32 target not installed)" >&2
  dir=target/pkg-stable
  cargo "${common[@]}" --target-dir "$dir" >&2
fi
echo "$dir/wasm32-unknown-unknown/release/resocket.wasm"
