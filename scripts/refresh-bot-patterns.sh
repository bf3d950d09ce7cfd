#!/usr/bin/env bash
# Refreshes src/bots/patterns.json from the isbot npm package (Unlicense) pinned in
# package.json. Bump isbot there (npm install isbot@latest --save-dev --save-exact),
# run this, then `make test`: a native test checks that every pattern compiles, and an
# end-to-end test checks that the vendored copy equals the installed package's list.
set -euo pipefail
cd "$(dirname "$0")/.."
node -e 'const { list } = require("isbot"); process.stdout.write(JSON.stringify(list, null, 1) + "\n")' > src/bots/patterns.json
echo "src/bots/patterns.json: $(node -e 'console.log(require("./src/bots/patterns.json").length)') patterns from isbot $(node -p 'require("isbot/package.json").version')"
