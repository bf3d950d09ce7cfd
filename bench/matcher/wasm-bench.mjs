// Times the release-built bot matcher wasm on V8: build once (cold, fresh module instance),
// then per-UA cost warm, checked many times inside wasm so one JS↔wasm call is amortized.
// Prints JSON: { patterns, buildMs, browserNs, crawlerNs }.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const UAS = {
  browser: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
  crawler: "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
};
const wasm = require("./pkg/tagrelay_matcher_bench.js");
const t0 = process.hrtime.bigint();
const patterns = wasm.build();
const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
if (wasm.check_many(UAS.browser, 1) !== 0 || wasm.check_many(UAS.crawler, 1) !== 1) throw new Error("matcher gives wrong answers");
const perUa = (ua) => {
  wasm.check_many(ua, 20000); // warm the lazy DFA and the JIT
  const samples = [];
  for (let i = 0; i < 7; i++) {
    const n = 20000;
    const s = process.hrtime.bigint();
    wasm.check_many(ua, n);
    samples.push(Number(process.hrtime.bigint() - s) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[3];
};
console.log(JSON.stringify({ patterns, buildMs, browserNs: perUa(UAS.browser), crawlerNs: perUa(UAS.crawler) }));
