#!/usr/bin/env bash
# Assembles the demo site into $OUT (default out/demo): the plain demo (examples/basic) under
# /basic/, the built pkg/ under /pkg/, and the React example apps with their landing page at /.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/demo}
[ -f pkg/index.js ] || scripts/build-pkg.sh
rm -rf "$out"
mkdir -p "$out/basic"
cp -r examples/basic/. "$out"/basic/
cp -r pkg "$out"/pkg
OUT=$out scripts/build-examples.sh
