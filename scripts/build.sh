#!/usr/bin/env bash
# Builds the Worker into build/worker/: shim.mjs (src/edge/entry.js and its modules in src/edge/js/ bundled with the
# wasm-bindgen glue) and index.wasm. Run by `make build` after scripts/setup.sh.
#
# The glue is generated for `--target module` with `--experimental-reset-state-function`, so
# that after a wasm trap the entry can start a fresh instance with `__wbg_reset_state()`: it
# resets every cached memory view and marks objects of the old instance stale (see
# `recover` in src/edge/js/runtime.js). worker-build cannot do both with a custom entry, so this
# script runs the same tools it would (cargo, wasm-bindgen, wasm-opt, esbuild) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${WASM_BINDGEN_BIN:?run through make (scripts/setup.sh exports it)}"
: "${WASM_OPT_BIN:?run through make (scripts/setup.sh exports it)}"
: "${ESBUILD_BIN:?run through make (scripts/setup.sh exports it)}"

OUT=build/worker
GLUE=build/glue
rm -rf build
mkdir -p "$OUT" "$GLUE"

cargo build --locked --release --target wasm32-unknown-unknown --lib >&2
"$WASM_BINDGEN_BIN" target/wasm32-unknown-unknown/release/tagrelay.wasm \
  --out-dir "$GLUE" --out-name index --target module --no-typescript \
  --experimental-reset-state-function
"$WASM_OPT_BIN" -O "$GLUE/index_bg.wasm" -o "$OUT/index.wasm"

# workerd imports a .wasm module as a WebAssembly.Module: no source-phase import needed.
sed -i 's|^import source wasmModule from "./index_bg.wasm";|import wasmModule from "./index.wasm";|' "$GLUE/index.js"
grep -q '^import wasmModule from "./index.wasm";' "$GLUE/index.js" || {
  echo "build: the wasm-bindgen glue no longer imports its module as expected" >&2
  exit 1
}
cp src/edge/entry.js "$GLUE/entry.js"
rm -rf "$GLUE/js" && cp -r src/edge/js "$GLUE/js"
"$ESBUILD_BIN" "$GLUE/entry.js" --bundle --format=esm --log-level=warning \
  --external:./index.wasm --external:'cloudflare:*' --outfile="$OUT/shim.mjs"
