// `npx wrangler dev --var NAME:VALUE ...` from the repo root runs the built Worker with
// those vars and secrets, offline. This is how `make dev` runs and how operators debug.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, startGraph, request, waitFor, headerNames, freePort, TOKEN, PIXEL } from "./harness.mjs";

let origin, graph, dev, output = "", state;
const STATS_TOKEN = "wrangler-dev-stats-token-42";

before(async () => {
  origin = await startServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": JSON.stringify({ event_name: "ViewContent", event_id: "wd-1" }) });
    res.end("<p>via wrangler dev</p>");
  });
  graph = await startGraph();
  const port = await freePort();
  // As `make dev` does: the schema applied to the local D1 first (here in a fresh directory).
  state = fs.mkdtempSync(path.join(os.tmpdir(), "tagrelay-wrangler-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
  execFileSync("npx", ["wrangler", "d1", "migrations", "apply", "TAGRELAY_DB", "--local", "--persist-to", state], { env, stdio: "pipe" });
  dev = spawn("npx", [
    "wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state,
    "--var", `ORIGIN_URL:${origin.url}`, "--var", `META_PIXEL_ID:${PIXEL}`,
    "--var", `META_ACCESS_TOKEN:${TOKEN}`, "--var", `META_API_BASE:${graph.url}`,
    "--var", `STATS_TOKEN:${STATS_TOKEN}`, "--var", "STATS_FLUSH_MS:100",
  ], { stdio: ["ignore", "pipe", "pipe"], detached: true, env });
  dev.stdout.on("data", (d) => { output += d; });
  dev.stderr.on("data", (d) => { output += d; });
  dev.url = `http://127.0.0.1:${port}`;
  await waitFor(() => output.includes("Ready on"), 90_000, `wrangler dev to start:\n${output}`);
});

after(() => {
  if (dev?.pid) try { process.kill(-dev.pid, "SIGTERM"); } catch {}
  origin?.close();
  graph?.close();
  if (state) fs.rmSync(state, { recursive: true, force: true });
});

test("wrangler dev serves the built Worker with --var values, secrets included", { timeout: 60_000 }, async () => {
  const res = await request(dev.url, "/wd/page");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "<p>via wrangler dev</p>");
  assert.ok(!headerNames(res).includes("worker-tracking"));
  await waitFor(() => graph.requests.length === 1, 10_000, "the event at the mock Graph API");
  const sent = graph.requests[0];
  assert.equal(sent.url, `/v27.0/${PIXEL}/events`);
  assert.equal(sent.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(sent.json.data[0].event_id, "wd-1");
  await waitFor(() => output.includes('"decision":"sent"'), 10_000, "the sent log line in wrangler's output");
  // wrangler.toml's queues run locally too: the event went through tagrelay-events.
  assert.ok(output.includes('"decision":"queued"'), "delivered through the local queue");
  assert.ok(!output.includes(TOKEN), "wrangler dev output shows the token");
});

test("wrangler dev counts page views in its local D1 and serves the stats page, as make dev does", { timeout: 60_000 }, async () => {
  const before = await request(dev.url, "/_tagrelay/api/stats?range=today", { headers: { authorization: `Bearer ${STATS_TOKEN}` } });
  assert.equal(before.status, 200, before.body.toString());
  const start = JSON.parse(before.body).pageviews;
  const res = await request(dev.url, "/wd/other", { headers: { "cf-connecting-ip": "203.0.113.77" } });
  assert.equal(res.status, 200);
  const read = async () => JSON.parse((await request(dev.url, "/_tagrelay/api/stats?range=today", { headers: { authorization: `Bearer ${STATS_TOKEN}` } })).body);
  let now = await read();
  for (let i = 0; i < 50 && now.pageviews === start; i++) {
    await new Promise((r) => setTimeout(r, 100));
    now = await read();
  }
  assert.equal(now.pageviews, start + 1);
  assert.ok(now.pages.some((p) => p.path === "/wd/other"));
  assert.ok(output.includes('"decision":"stats_flushed"'));
  assert.equal((await request(dev.url, "/_tagrelay/")).status, 401);
});
