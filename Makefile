# tagrelay: `make dev` runs the Worker in front of the demo origin; `make test` runs every test.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

# Exports WASM_BINDGEN_BIN, ESBUILD_BIN, WASM_OPT_BIN and PATH for scripts/build.sh.
SETUP = eval "$$(scripts/setup.sh)"

DEV_PORT ?= 8787
DEMO_ORIGIN_PORT ?= 8788
# The stats page's token in `make dev` only; a deployment sets its own secret.
DEV_STATS_TOKEN ?= dev-stats-token-0123456789
# The Tagrelay-Debug header's token in `make dev` only.
DEV_DEBUG_TOKEN ?= dev-debug-token

.PHONY: setup build dev test test-native test-e2e bench clean

## setup: install the toolchain from the registries (idempotent, cached)
setup:
	scripts/setup.sh > /dev/null

WORKER_SOURCES := $(shell find src -type f) build.rs Cargo.toml Cargo.lock

## build: build the Worker into build/ (wasm + JS shim); a no-op when nothing changed
build: build/worker/shim.mjs

# cargo, wasm-bindgen (module target, with a reset function), wasm-opt, then esbuild bundles
# our JS entry (src/edge/entry.js and src/edge/js/) with the glue: see scripts/build.sh.
build/worker/shim.mjs: $(WORKER_SOURCES) scripts/build.sh
	$(SETUP)
	scripts/build.sh

## dev: the Worker on http://127.0.0.1:$(DEV_PORT) in front of the demo origin, dry run
dev: build
	node demo/origin.mjs --port $(DEMO_ORIGIN_PORT) &
	trap 'kill %1 2>/dev/null' EXIT
	npx wrangler d1 migrations apply TAGRELAY_DB --local > /dev/null
	echo "tagrelay: open http://127.0.0.1:$(DEV_PORT)/ (demo origin on :$(DEMO_ORIGIN_PORT)); events for Meta, GA4 and TikTok are logged, not sent"
	echo "tagrelay: add the header 'Tagrelay-Debug: $(DEV_DEBUG_TOKEN)' to a request to see each destination's decision"
	echo "tagrelay: stats on http://127.0.0.1:$(DEV_PORT)/_tagrelay/ (user: anything, password: $(DEV_STATS_TOKEN))"
	npx wrangler dev --port $(DEV_PORT) --ip 127.0.0.1 \
	  --var ORIGIN_URL:http://127.0.0.1:$(DEMO_ORIGIN_PORT) --var DRY_RUN:true --var META_PIXEL_ID:1234567890 \
	  --var GA4_MEASUREMENT_ID:G-DEMO0000 --var TIKTOK_PIXEL_CODE:CDEMO0PIXEL0000 --var DEBUG_TOKEN:$(DEV_DEBUG_TOKEN) \
	  --var STATS_TOKEN:$(DEV_STATS_TOKEN) --var STATS_FLUSH_MS:2000 --var 'PAGE_EVENTS:/gifts/*=ViewContent:jsonld-product'

## test: every test, native unit tests then end-to-end tests in workerd
test: test-native test-e2e

test-native:
	cargo test --locked

test-e2e: build
	scripts/setup-browser.sh
	node --test --test-concurrency=1 tests/e2e/

## bench: measure tagrelay against a bare passthrough and the seed worker; writes BENCHMARKS.md
bench: build
	scripts/setup-bench.sh
	$(SETUP)
	cd bench/matcher
	cargo bench --locked --bench bot_matcher -- --noplot >&2
	cargo build --locked --release --target wasm32-unknown-unknown --lib >&2
	wasm-bindgen --target nodejs --out-dir pkg target/wasm32-unknown-unknown/release/tagrelay_matcher_bench.wasm
	cd ../..
	node bench/run.mjs

clean:
	rm -rf build target .wrangler bench/matcher/target bench/matcher/pkg
