#!/usr/bin/env bash
# Installs what `make bench` needs beyond scripts/setup.sh: wrk (load generator) and
# nginx-light (origin and mock Graph API), from Debian's packages. Idempotent.
set -euo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
if ((${#missing[@]})); then
  echo "setup-bench: installing ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
