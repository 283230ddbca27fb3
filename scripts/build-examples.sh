#!/usr/bin/env bash
# Builds the React example apps (examples/: landing page, trading, chat, board) with Vite into
# $OUT (default out/demo), next to the plain demo ($OUT/basic) and the package ($OUT/pkg) that
# scripts/assemble-demo.sh put there first. The apps import "resocket" and "resocket/react",
# which the Vite config resolves to the built pkg/.
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-out/demo}
[ -f pkg/react.js ] || scripts/build-pkg.sh
node_modules/.bin/tsc -p examples/tsconfig.json
node_modules/.bin/vite build --config examples/vite.config.js
