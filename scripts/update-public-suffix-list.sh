#!/usr/bin/env bash
# Refreshes the vendored Public Suffix List (src/visitor/public_suffix_list.dat) from
# publicsuffix.org, on a machine with internet access: its rules, one a line, without the
# comments. build.rs compiles it into the Worker; commit the file with the tests passing.
set -euo pipefail
cd "$(dirname "$0")/.."
curl -fsSL https://publicsuffix.org/list/public_suffix_list.dat \
  | sed -e 's#//.*##' -e 's/[[:space:]]*$//' | grep -v '^$' > src/visitor/public_suffix_list.dat
echo "public suffix list: $(wc -l < src/visitor/public_suffix_list.dat) rules"
