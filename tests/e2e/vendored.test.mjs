// The crawler list in src/bots/patterns.json is isbot's, as pinned in package.json; refresh it
// with scripts/refresh-bot-patterns.sh after bumping isbot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

test("src/bots/patterns.json equals the pinned isbot package's pattern list", () => {
  const { list } = createRequire(import.meta.url)("isbot");
  const vendored = JSON.parse(readFileSync(new URL("../../src/bots/patterns.json", import.meta.url), "utf8"));
  assert.deepEqual(vendored, list);
});
