// Fault injection: a broken origin, a failing Graph API and hostile tracking headers must
// never break a page, never send a bad event, and always leave a log line saying why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startGraph, startWorker, request, headerNames, waitFor, TOKEN, PIXEL, freePort } from "./harness.mjs";
import { RETRY } from "./policy.mjs";

let origin, graph, worker;
before(async () => {
  origin = await startServer();
  graph = await startGraph();
  worker = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url });
});
after(async () => { await worker?.close(); origin?.close(); graph?.close(); });

const tracked = (event = { event_name: "PageView" }) => (req, res) => {
  res.writeHead(200, { "content-type": "text/html", "worker-tracking": JSON.stringify(event) });
  res.end("<p>page</p>");
};

// ---------- origin faults ----------

test("origin slow to first byte: the page arrives when the origin answers, intact", async () => {
  origin.handler = (req, res) => setTimeout(() => tracked()(req, res), 1500);
  const t0 = Date.now();
  const res = await request(worker.url, "/slow");
  const ms = Date.now() - t0;
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "<p>page</p>");
  assert.ok(ms >= 1400 && ms < 5000, `${ms} ms`);
});

test("origin resets the connection mid-body: the client's response ends promptly, truncated", async () => {
  origin.handler = (req, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": "1000000", "worker-tracking": JSON.stringify({ event_name: "PageView" }) });
    res.write("x".repeat(1000));
    setTimeout(() => res.socket.destroy(), 100);
  };
  const t0 = Date.now();
  const outcome = await request(worker.url, "/reset").then((r) => r.body.length, (e) => e.code || e.message);
  assert.ok(Date.now() - t0 < 5000, "the client waited too long");
  assert.notEqual(outcome, 1_000_000, "a truncated body must not look complete");
});

test("origin 5xx pass through with their bodies", async () => {
  for (const status of [500, 502, 503, 504]) {
    origin.handler = (req, res) => { res.writeHead(status, { "retry-after": "5" }); res.end(`origin says ${status}`); };
    const res = await request(worker.url, `/e${status}`);
    assert.equal(res.status, status);
    assert.equal(res.body.toString(), `origin says ${status}`);
    assert.equal(res.headers["retry-after"], "5");
  }
});

test("a huge response header set passes through, tracked or not", async () => {
  for (const track of [false, true]) {
    origin.handler = (req, res) => {
      const h = [];
      for (let i = 0; i < 150; i++) h.push(`X-Big-${i}`, "v".repeat(200));
      for (let i = 0; i < 20; i++) h.push("Set-Cookie", `c${i}=${"z".repeat(100)}`);
      if (track) h.push("Worker-Tracking", JSON.stringify({ event_name: "PageView" }));
      res.writeHead(200, h);
      res.end("ok");
    };
    const res = await request(worker.url, `/huge-${track}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-big-149"], "v".repeat(200));
    assert.equal(res.headers["set-cookie"].length, 20);
    assert.ok(!headerNames(res).includes("worker-tracking"));
  }
});

// ---------- Graph API faults ----------

/** Sends one tracked page with `replies` queued at the mock; returns its log line and the mock's requests. */
async function deliverWith(path, replies) {
  graph.reset();
  graph.replies.push(...replies);
  origin.handler = tracked({ event_name: "Purchase", event_id: `id${path}` });
  const t0 = Date.now();
  const res = await request(worker.url, path);
  const pageMs = Date.now() - t0;
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "<p>page</p>");
  const line = await worker.line((l) => l.path === path, 20_000);
  return { line, requests: [...graph.requests], pageMs };
}

for (const [name, reply] of [
  ["500", { status: 500, body: "oops" }],
  ["503", { status: 503, body: { error: { message: "Service unavailable", code: 2, is_transient: true } } }],
  ["429", { status: 429, body: { error: { message: "Rate limited", code: 4 } } }],
  ["malformed JSON with a 502", { status: 502, body: "{not json" }],
]) {
  test(`Graph ${name} on every attempt: ${RETRY.attempts} attempts, same body, then failed`, { timeout: 30_000 }, async () => {
    const { line, requests, pageMs } = await deliverWith(`/g-${name.replace(/\W/g, "")}`, Array(RETRY.attempts).fill(reply));
    assert.equal(line.decision, "failed", JSON.stringify(line));
    assert.equal(line.attempts, RETRY.attempts);
    assert.equal(requests.length, RETRY.attempts);
    assert.ok(requests.every((r) => r.body === requests[0].body), "every attempt must send the same events");
    assert.ok(pageMs < 1000, `page took ${pageMs} ms`);
    assert.ok(line.ms < RETRY.worstCaseMs, `${line.ms} ms`);
    const gaps = requests.slice(1).map((r, i) => r.at - requests[i].at);
    gaps.forEach((g, i) => assert.ok(g >= RETRY.minBackoffMs[i] - 20, `gap ${i}: ${g} ms`));
  });
}

test("Graph 429 then 200: delivered on attempt 2", async () => {
  const { line, requests } = await deliverWith("/g-429-ok", [{ status: 429, body: "" }]);
  assert.equal(line.decision, "sent");
  assert.equal(line.attempts, 2);
  assert.equal(requests.length, 2);
});

test("Graph never answers: each attempt times out, 3 attempts, well inside waitUntil", { timeout: 40_000 }, async () => {
  const { line, requests, pageMs } = await deliverWith("/g-hang", ["hang", "hang", "hang"]);
  assert.equal(line.decision, "failed");
  assert.equal(requests.length, RETRY.attempts);
  assert.match(line.reason, /no answer within/);
  assert.ok(pageMs < 1000);
  assert.ok(line.ms >= RETRY.attempts * RETRY.timeoutMs && line.ms < RETRY.worstCaseMs + 2000, `${line.ms} ms`);
});

test("Graph 200 with a malformed body counts as delivered: no resend, no duplicate", async () => {
  const { line, requests } = await deliverWith("/g-200-garbage", [{ status: 200, body: "<html>ok</html>" }]);
  assert.equal(line.decision, "sent");
  assert.equal(line.events_received, null);
  assert.equal(requests.length, 1);
});

test("Graph 401 / code 190 (invalid token): no retry, logged without the token", async () => {
  const { line, requests } = await deliverWith("/g-190", [{ status: 401, body: { error: { message: "Error validating access token", type: "OAuthException", code: 190, fbtrace_id: "T190" } } }]);
  assert.equal(line.decision, "failed");
  assert.equal(line.code, 190);
  assert.equal(line.http_status, 401);
  assert.equal(requests.length, 1);
  assert.ok(!JSON.stringify(line).includes(TOKEN));
});

test("Graph API unreachable (connection refused): retried, then failed with a network reason", { timeout: 30_000 }, async () => {
  const port = await freePort();
  const w = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: `http://127.0.0.1:${port}` });
  try {
    origin.handler = tracked();
    const res = await request(w.url, "/g-down");
    assert.equal(res.status, 200);
    const line = await w.line((l) => l.path === "/g-down", 20_000);
    assert.equal(line.decision, "failed");
    assert.equal(line.attempts, RETRY.attempts);
    assert.match(line.reason, /^network error/);
  } finally {
    await w.close();
  }
});

// ---------- hostile tracking headers ----------

test("hostile tracking headers send nothing, keep the page, and log the reason", { timeout: 60_000 }, async () => {
  const nested = "[".repeat(5000) + "]".repeat(5000);
  const thousands = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ event_name: "E", event_id: String(i) })));
  const cases = [
    ["invalid JSON", '{"event_name":', "bad_json"],
    ["bad base64", "eyJldmVudF9uYW1lIjoiQSJ9!!", "bad_base64"],
    // Node writes header strings as Latin-1: these are the raw bytes 0xFF 0xFE, invalid UTF-8.
    ["non-UTF-8 bytes", '{"event_name":"\xff\xfe"}', "not_utf8"],
    ["oversized", JSON.stringify({ event_name: "A", custom_data: { blob: "x".repeat(20000) } }), "too_large"],
    ["deeply nested", nested, "bad_json"],
    ["deeply nested, small", "[".repeat(1000) + "]".repeat(1000), "bad_json"],
    ["wrong types", JSON.stringify({ event_name: ["A"] }), "missing_event_name"],
    ["wrong user_data", JSON.stringify({ event_name: "A", user_data: "me@x.example" }), "invalid_field"],
    ["thousands of events", thousands, "too_large"],
    ["too many small events", JSON.stringify(Array.from({ length: 150 }, () => ({ event_name: "E" }))), "too_many_events"],
  ];
  graph.reset();
  for (const [i, [name, value, code]] of cases.entries()) {
    origin.handler = (req, res) => {
      res.writeHead(200, [["content-type", "text/html"], ["worker-tracking", value]].flat());
      res.end("<p>intact</p>");
    };
    const res = await request(worker.url, `/hostile/${i}`);
    assert.equal(res.status, 200, `${name}: ${res.body}`);
    assert.equal(res.body.toString(), "<p>intact</p>", name);
    assert.ok(!headerNames(res).includes("worker-tracking"), name);
    const line = await worker.line((l) => l.path === `/hostile/${i}`);
    assert.equal(line.decision, "rejected", `${name}: ${JSON.stringify(line)}`);
    assert.equal(line.code, code, name);
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(graph.requests.length, 0);
});

test("several tracking headers at once: all their events, in one request", async () => {
  graph.reset();
  origin.handler = (req, res) => {
    res.writeHead(200, [
      "Worker-Tracking", JSON.stringify({ event_name: "A", event_id: "a" }),
      "WORKER-TRACKING", Buffer.from(JSON.stringify([{ event_name: "B", event_id: "b" }])).toString("base64url"),
    ]);
    res.end("ok");
  };
  const res = await request(worker.url, "/several");
  assert.ok(!headerNames(res).includes("worker-tracking"));
  const line = await worker.line((l) => l.path === "/several");
  assert.equal(line.decision, "sent");
  assert.deepEqual(graph.requests[0].json.data.map((e) => e.event_id), ["a", "b"]);
});

test("several tracking headers with one bad: nothing sent, reason logged", async () => {
  graph.reset();
  origin.handler = (req, res) => {
    res.writeHead(200, ["Worker-Tracking", JSON.stringify({ event_name: "A" }), "Worker-Tracking", "{broken"]);
    res.end("ok");
  };
  await request(worker.url, "/several-bad");
  const line = await worker.line((l) => l.path === "/several-bad");
  assert.equal(line.decision, "rejected");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(graph.requests.length, 0);
});

// ---------- batching ----------

/** Requests `paths` at once, the origin tracking each with `eventFor(path)`; returns their sent/failed lines. */
async function pageViewsAtOnce(paths, eventFor) {
  graph.reset();
  origin.handler = (req, res) => tracked(eventFor(req.url))(req, res);
  const t0 = Date.now();
  const pages = await Promise.all(paths.map((p) => request(worker.url, p)));
  assert.ok(pages.every((r) => r.status === 200 && r.body.toString() === "<p>page</p>"));
  const lines = await waitFor(() => {
    const ls = worker.lines().filter((l) => paths.includes(l.path));
    return ls.length === paths.length && ls;
  }, 20_000, "a line per page view");
  return { lines, t0 };
}

test("page views within the batch window share one request; each keeps its own line", async () => {
  const paths = ["/b-1", "/b-2", "/b-3", "/b-4"];
  const { lines, t0 } = await pageViewsAtOnce(paths, (p) => ({ event_name: "ViewContent", event_id: `id${p}` }));
  assert.equal(graph.requests.length, 1, "one request for the batch");
  assert.deepEqual(graph.requests[0].json.data.map((e) => e.event_id).sort(), paths.map((p) => `id${p}`));
  assert.ok(graph.requests[0].at - t0 >= 200, `sent ${graph.requests[0].at - t0} ms after the first page: the window is 250 ms`);
  for (const l of lines) {
    assert.equal(l.decision, "sent");
    assert.equal(l.batch_page_views, 4);
    assert.deepEqual(l.event_ids, [`id${l.path}`], "each line names its own page view's events");
  }
});

test("Meta refuses a batch for one bad event: the batch is halved until only the bad page view fails", async () => {
  const previous = graph.defaultReply;
  graph.defaultReply = (r) => r.json.data.some((e) => e.event_name === "Broken")
    ? { status: 400, body: { error: { message: "Invalid parameter", type: "OAuthException", code: 100, fbtrace_id: "T100" } } }
    : { status: 200, body: { events_received: r.json.data.length, fbtrace_id: "ok" } };
  try {
    const paths = ["/s-good-1", "/s-bad", "/s-good-2"];
    const { lines } = await pageViewsAtOnce(paths, (p) => ({ event_name: p === "/s-bad" ? "Broken" : "ViewContent", event_id: `id${p}` }));
    const sizes = graph.requests.map((r) => r.json.data.length);
    assert.equal(sizes[0], 3, "the batch first");
    assert.ok(sizes.length <= 5 && sizes.slice(1).every((n) => n < 3), `then halves: ${sizes}`);
    const accepted = graph.requests.filter((r) => !r.json.data.some((e) => e.event_name === "Broken")).flatMap((r) => r.json.data.map((e) => e.event_id));
    assert.deepEqual(accepted.sort(), ["id/s-good-1", "id/s-good-2"], "each good event accepted exactly once");
    const by = Object.fromEntries(lines.map((l) => [l.path, l]));
    assert.equal(by["/s-good-1"].decision, "sent");
    assert.equal(by["/s-good-2"].decision, "sent");
    assert.equal(by["/s-bad"].decision, "failed");
    assert.equal(by["/s-bad"].code, 100);
    assert.equal(by["/s-bad"].batch_page_views, undefined, "the bad page view ended alone");
  } finally {
    graph.defaultReply = previous;
  }
});
