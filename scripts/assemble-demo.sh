#!/usr/bin/env bash
# Assembles the demo site into out/demo from examples/basic and the built pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg/index.js ] || scripts/build-pkg.sh
rm -rf out/demo
mkdir -p out/demo
cp -r examples/basic/. out/demo/
cp -r pkg out/demo/pkg
