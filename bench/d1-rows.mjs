// D1 rows written per page view, untracked and tracked, measured in workerd with a local D1
// (docs/stats.md, "What it costs in D1 rows written"): `node bench/d1-rows.mjs none|viewcontent|purchase
// [STATS_FLUSH_MS] [quiet]` after `make build`. 900 page views by 300 visitors over 50 pages in
// one busy flush, or (quiet) 60 by 20, each in a flush of its own.
import { startServer, startWorker, request, waitFor } from "../tests/e2e/harness.mjs";
const UA = (i) => `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_${i}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15`;
const mode = process.argv[2];
const origin = await startServer((req, res) => {
  const h = { "content-type": "text/html" };
  const p = req.url.split("?")[0];
  if (mode === "viewcontent") h["worker-tracking"] = JSON.stringify({ event_name: "ViewContent", custom_data: { content_ids: [p], value: 10, currency: "EUR" } });
  if (mode === "purchase") h["worker-tracking"] = JSON.stringify({ event_name: "Purchase", custom_data: { order_id: req.url.split("?o=")[1], value: 10, currency: "EUR" } });
  res.writeHead(200, h).end("<p>x</p>");
});
const w = await startWorker({ ORIGIN_URL: origin.url, STATS_TOKEN: "t".repeat(20), STATS_FLUSH_MS: process.argv[3] ?? "2000", DRY_RUN: "true" }, { d1: true });
const quiet = process.argv[4] === 'quiet';
const N = quiet ? 60 : 900, V = quiet ? 20 : 300, P = 50;
for (let i = 0; i < N; i++) {
  const v = i % V;
  if (quiet) await new Promise((r) => setTimeout(r, 250));
  await request(w.url, `/p/${(i * 7 + Math.floor(i / V)) % P}?o=${i}`, { headers: { "cf-connecting-ip": `10.0.${v >> 8}.${v & 255}`, "user-agent": UA(v) } });
}
await new Promise((r) => setTimeout(r, 4000));
const lines = w.lines().filter((l) => l.decision === "stats_flushed");
const rows = lines.reduce((n, l) => n + (l.rows_written ?? 0), 0);
console.log(mode, "flushes", lines.length, "page views", lines.reduce((n, l) => n + l.page_views, 0), "rows", rows, "per 1000", Math.round(rows / N * 1000));
await w.close(); origin.close();
