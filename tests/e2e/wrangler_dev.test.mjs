// `npx wrangler dev --var NAME:VALUE ...` from the repo root runs the built Worker with
// those vars and secrets, offline. This is how `make dev` runs and how operators debug.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { startServer, startGraph, request, waitFor, headerNames, freePort, TOKEN, PIXEL } from "./harness.mjs";

let origin, graph, dev, output = "";

before(async () => {
  origin = await startServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": JSON.stringify({ event_name: "ViewContent", event_id: "wd-1" }) });
    res.end("<p>via wrangler dev</p>");
  });
  graph = await startGraph();
  const port = await freePort();
  dev = spawn("npx", [
    "wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1",
    "--var", `ORIGIN_URL:${origin.url}`, "--var", `META_PIXEL_ID:${PIXEL}`,
    "--var", `META_ACCESS_TOKEN:${TOKEN}`, "--var", `META_API_BASE:${graph.url}`,
  ], { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" } });
  dev.stdout.on("data", (d) => { output += d; });
  dev.stderr.on("data", (d) => { output += d; });
  dev.url = `http://127.0.0.1:${port}`;
  await waitFor(() => output.includes("Ready on"), 90_000, `wrangler dev to start:\n${output}`);
});

after(() => {
  if (dev?.pid) try { process.kill(-dev.pid, "SIGTERM"); } catch {}
  origin?.close();
  graph?.close();
});

test("wrangler dev serves the built Worker with --var values, secrets included", { timeout: 60_000 }, async () => {
  const res = await request(dev.url, "/wd/page");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "<p>via wrangler dev</p>");
  assert.ok(!headerNames(res).includes("worker-tracking"));
  await waitFor(() => graph.requests.length === 1, 10_000, "the event at the mock Graph API");
  const sent = graph.requests[0];
  assert.equal(sent.url, `/v25.0/${PIXEL}/events`);
  assert.equal(sent.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(sent.json.data[0].event_id, "wd-1");
  await waitFor(() => output.includes('"decision":"sent"'), 10_000, "the sent log line in wrangler's output");
  assert.ok(!output.includes(TOKEN), "wrangler dev output shows the token");
});
