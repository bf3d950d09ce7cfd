#!/usr/bin/env bash
# Idempotent set-up: installs everything tagrelay needs from the package registries only.
# A second run finds everything in place and returns in a second or two.
#
# Prints nothing on stdout but `export` lines (use `eval "$(scripts/setup.sh)"`); progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_ROOT="${TAGRELAY_TOOLS:-$HOME/.cache/tagrelay/tools}"
BIN="$TOOLS_ROOT/bin"
mkdir -p "$BIN"

log() { echo "setup: $*" >&2; }

# The version of a package as pinned in Cargo.lock (the first match).
lock_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# cargo install NAME at exactly VERSION into $TOOLS_ROOT unless that version is already there.
cargo_tool() {
  local crate="$1" version="$2" binary="$3"
  local stamp="$TOOLS_ROOT/.$crate-$version"
  if [[ -x "$BIN/$binary" && -f "$stamp" ]]; then return; fi
  log "installing $crate $version (one-time, a few minutes)"
  cargo install --quiet --root "$TOOLS_ROOT" --version "=$version" --force "$crate" >&2
  touch "$stamp"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown >&2
fi

cargo_tool wasm-bindgen-cli "$(lock_version wasm-bindgen)" wasm-bindgen

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm packages (wrangler, esbuild, binaryen)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

echo "export PATH=\"$BIN:\$PATH\""
echo "export WASM_BINDGEN_BIN=\"$BIN/wasm-bindgen\""
echo "export ESBUILD_BIN=\"$PWD/node_modules/.bin/esbuild\""
echo "export WASM_OPT_BIN=\"$PWD/node_modules/.bin/wasm-opt\""
