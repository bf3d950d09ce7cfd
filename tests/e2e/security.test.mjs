// Security properties: what a client can and cannot make tagrelay do or reveal.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startServer, startGraph, startWorker, request, readBody, headerNames, TOKEN, PIXEL, freePort } from "./harness.mjs";

let origin, graph, worker, seen = [];
before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    seen.push({ url: req.url, headers: req.headers });
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": JSON.stringify({ event_name: "PageView" }) });
    res.end("origin");
  });
  graph = await startGraph();
  worker = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url });
});
after(async () => { await worker?.close(); origin?.close(); graph?.close(); });

/** Sends raw bytes to the Worker's socket; returns the raw answer. */
function raw(text) {
  const { hostname, port } = new URL(worker.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname, () => s.end(text));
    let out = "";
    s.on("data", (d) => { out += d; });
    s.on("end", () => resolve(out));
    s.on("error", reject);
    setTimeout(() => { s.destroy(); resolve(out); }, 5000);
  });
}

test("a request URL on another host cannot choose the upstream host", async () => {
  // workerd answers an absolute-form target (`GET http://evil.example/ HTTP/1.1`) itself,
  // before any Worker code runs; the Miniflare API hands tagrelay such a URL directly.
  seen = [];
  const res = await worker.mf.dispatchFetch("http://evil.example/steal?x=1", { headers: { "user-agent": "x", host: "evil.example" } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "origin");
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, "/steal?x=1");
  assert.equal(seen[0].headers.host, new URL(origin.url).host);
  assert.equal(seen[0].headers["x-forwarded-host"], "evil.example", "the public host is passed on, not used");
  assert.ok(!res.headers.has("worker-tracking"));
  // The origin-form equivalent with a forged Host goes to the origin, path intact.
  seen = [];
  const ok = await raw("GET //evil.example/steal HTTP/1.1\r\nHost: evil.example\r\nUser-Agent: x\r\nConnection: close\r\n\r\n");
  assert.match(ok, /^HTTP\/1\.1 200/);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, "//evil.example/steal");
  assert.equal(seen[0].headers.host, new URL(origin.url).host);
});

test("the client IP comes only from CF-Connecting-IP", async () => {
  // (Miniflare fills in CF-Connecting-IP when a request lacks it, as Cloudflare does.)
  graph.reset();
  await request(worker.url, "/ip-invalid", { headers: { "cf-connecting-ip": "not-an-ip", "x-forwarded-for": "6.6.6.6", "x-real-ip": "7.7.7.7", "true-client-ip": "8.8.8.8" } });
  await worker.line((l) => l.path === "/ip-invalid" && l.decision === "sent");
  assert.equal(graph.requests[0].json.data[0].user_data.client_ip_address, undefined);
  graph.reset();
  await request(worker.url, "/ip-pseudo", { headers: { "cf-connecting-ip": "240.10.0.1", "x-forwarded-for": "6.6.6.6" } });
  await worker.line((l) => l.path === "/ip-pseudo" && l.decision === "sent");
  assert.equal(graph.requests[0].json.data[0].user_data.client_ip_address, undefined);
});

test("the token travels only in the Authorization header, never in a URL", async () => {
  graph.reset();
  await request(worker.url, "/token-check");
  await worker.line((l) => l.path === "/token-check" && l.decision === "sent");
  assert.equal(graph.requests[0].headers.authorization, `Bearer ${TOKEN}`);
  assert.ok(!graph.requests[0].url.includes(TOKEN));
  assert.ok(!graph.requests[0].body.includes(TOKEN));
});

test("error responses are short and reveal no configuration", async () => {
  const port = await freePort();
  const down = await startWorker({ ORIGIN_URL: `http://127.0.0.1:${port}`, META_ACCESS_TOKEN: TOKEN, META_PIXEL_ID: PIXEL });
  const bad = await startWorker({ ORIGIN_URL: "https://user:pass@origin.internal.example/secret-path", META_ACCESS_TOKEN: TOKEN });
  try {
    for (const w of [down, bad]) {
      const res = await request(w.url, "/x");
      assert.equal(res.status, 502);
      const body = res.body.toString();
      assert.ok(body.length < 80, body);
      for (const secret of [TOKEN, String(port), "127.0.0.1", "origin.internal", "secret-path", "pass", "ORIGIN_URL"]) {
        assert.ok(!body.includes(secret), `${body} reveals ${secret}`);
        assert.ok(!Object.values(res.headers).join(" ").includes(secret), `headers reveal ${secret}`);
      }
      assert.ok(!headerNames(res).includes("worker-tracking"));
    }
    const all = [...down.logs, ...bad.logs].map((l) => l.message).join("\n");
    assert.ok(all.length > 0);
    assert.ok(!all.includes(TOKEN));
  } finally {
    await down.close();
    await bad.close();
  }
});

test("no log line of this suite contains the token", () => {
  assert.ok(worker.logs.length > 0);
  for (const { message } of worker.logs) assert.ok(!message.includes(TOKEN), message);
});
