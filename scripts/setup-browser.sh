#!/usr/bin/env bash
# Installs Debian's chromium for the e2e test that opens the stats page in a real browser
# (tests/e2e/analytics.test.mjs). Idempotent: returns at once when chromium is there.
set -euo pipefail
if command -v chromium > /dev/null; then exit 0; fi
echo "setup: installing Debian's chromium for the browser test (one-time)" >&2
SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then SUDO="sudo"; fi
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >&2
