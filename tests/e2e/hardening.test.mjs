// Hardening: defects a review of the core found (issue 11). Each case failed before its fix.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startServer, startGraph, startWorker, request, readBody, headerNames, waitFor, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";
import { RETRY } from "./policy.mjs";

let origin, graph, seen, startGraphDefault;
before(async () => {
  origin = await startServer();
  graph = await startGraph();
  startGraphDefault = graph.defaultReply;
});
after(() => { origin?.close(); graph?.close(); });

/** Origin handler: records the request, answers a tracked page (or `respond`). */
function serve(event = { event_name: "PageView" }, respond) {
  origin.handler = async (req, res) => {
    await readBody(req);
    seen = { url: req.url, headers: req.headers };
    if (respond) return respond(req, res);
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": JSON.stringify(event) });
    res.end("<p>page</p>");
  };
}

const live = (extra = {}) => startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, ...extra });

// ---------- 1. vars of every type wrangler produces ----------

test("DRY_RUN = true (a TOML boolean) is a dry run: nothing is sent", async () => {
  const w = await live({ DRY_RUN: true, META_PIXEL_ID: 998877 });
  try {
    graph.reset();
    serve();
    await request(w.url, "/dry-bool");
    const line = await w.line((l) => l.path === "/dry-bool");
    assert.equal(line.decision, "dry_run");
    assert.equal(line.reason, "DRY_RUN is true");
    assert.match(line.events_url, /\/998877\/events$/, "an unquoted pixel id is its digits");
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(graph.requests.length, 0);
  } finally {
    await w.close();
  }
});

test("BATCH_WINDOW_MS = 0 and BOT_SCORE_THRESHOLD = 0 (TOML numbers) take effect", async () => {
  const w = await live({ BATCH_WINDOW_MS: 0, BOT_SCORE_THRESHOLD: 0 });
  try {
    graph.reset();
    serve();
    await Promise.all([1, 2, 3].map((i) => request(w.url, `/num/${i}`, { cf: { botManagement: { score: 2 } } })));
    const lines = await waitFor(() => { const l = w.lines().filter((x) => x.path?.startsWith("/num/")); return l.length === 3 && l; });
    assert.ok(lines.every((l) => l.decision === "sent"), "a score of 2 is no bot with the rule off");
    assert.equal(graph.requests.length, 3, "one request per page view");
  } finally {
    await w.close();
  }
});

test("an array or object var is refused with its name; an array ORIGIN_URL cannot proxy", async () => {
  const w = await live({ DRY_RUN: ["true"] });
  const bad = await startWorker({ ORIGIN_URL: { url: origin.url } });
  try {
    graph.reset();
    serve();
    const res = await request(w.url, "/dry-array");
    assert.equal(res.status, 200);
    const line = await w.line((l) => l.path === "/dry-array");
    assert.equal(line.decision, "disabled");
    assert.match(line.reason, /^DRY_RUN is an array: .*quotes/);
    assert.equal(graph.requests.length, 0, "a dry run that cannot be read sends nothing");
    assert.equal((await request(bad.url, "/")).status, 502);
    assert.match((await bad.line((l) => l.decision === "config_error")).reason, /^ORIGIN_URL is an object/);
  } finally {
    await w.close();
    await bad.close();
  }
});

// ---------- 2. a wasm trap, then correct tracking ----------

test("after a wasm trap the isolate tracks pages correctly, and a delivery in flight is dropped cleanly", { timeout: 30_000 }, async () => {
  const w = await live({ BATCH_WINDOW_MS: "0", TAGRELAY_TEST_TRAP: "true" });
  try {
    graph.reset();
    // The first page's POST is answered late, after the trap: its delivery belongs to the
    // old instance.
    graph.replies.push((r) => ({ delayMs: 1000, status: 200, body: { events_received: r.json.data.length, fbtrace_id: "late" } }));
    serve({ event_name: "ViewContent", custom_data: { sku: "before" } });
    await request(w.url, "/before-trap");
    await waitFor(() => graph.requests.length === 1);
    origin.handler = (req, res) => { res.writeHead(200, { "worker-tracking": "tagrelay-test-trap" }); res.end("trap page"); };
    const trapped = await request(w.url, "/trap");
    assert.equal(trapped.status, 200, "the page is served whatever tracking does");
    assert.equal(trapped.body.toString(), "trap page");
    assert.ok(!headerNames(trapped).includes("worker-tracking"));
    const restart = await w.line((l) => /wasm restarted/.test(l.reason ?? ""));
    assert.equal(restart.level, "error");
    const dropped = await w.line((l) => /dropped: tagrelay's wasm restarted/.test(l.reason ?? ""), 5000);
    assert.equal(dropped.decision, "failed");
    for (const i of [1, 2, 3]) {
      serve({ event_name: "AddToCart", event_id: `after-${i}`, custom_data: { sku: `sku-${i}`, value: i, currency: "eur" } });
      await request(w.url, `/after/${i}?q=${i}`);
      const line = await w.line((l) => l.path === `/after/${i}`);
      assert.equal(line.decision, "sent", JSON.stringify(line));
      assert.deepEqual(line.event_ids, [`after-${i}`]);
      const sent = graph.requests.find((r) => r.json.data[0].event_id === `after-${i}`);
      assert.deepEqual(sent.json.data[0].custom_data, { sku: `sku-${i}`, value: i, currency: "EUR" });
      assert.equal(sent.json.data[0].event_source_url, `${w.url}/after/${i}?q=${i}`);
    }
    assert.ok(!w.lines().some((l) => l.path === "/before-trap" && l.decision === "sent"), "the dropped delivery logged nothing on the new instance");
  } finally {
    await w.close();
  }
});

// ---------- 3. rate limits are retried whole, not split ----------

test("400 {code 17, is_transient} to a batch of 4 page views: 3 requests, no split", { timeout: 20_000 }, async () => {
  const w = await live();
  try {
    graph.reset();
    graph.defaultReply = () => ({ status: 400, body: { error: { message: "User request limit reached", code: 17, is_transient: true, fbtrace_id: "rl" } } });
    serve();
    await Promise.all([1, 2, 3, 4].map((i) => request(w.url, `/rl/${i}`)));
    const lines = await waitFor(() => { const l = w.lines().filter((x) => x.path?.startsWith("/rl/")); return l.length === 4 && l; }, 10_000);
    assert.equal(graph.requests.length, RETRY.attempts, "one request per attempt, never a split");
    assert.ok(lines.every((l) => l.decision === "failed" && l.attempts === RETRY.attempts && l.code === 17), JSON.stringify(lines));
  } finally {
    graph.defaultReply = startGraphDefault;
    await w.close();
  }
});

// ---------- 4. the origin's host never reaches the client ----------

test("with ORIGIN_URL, Location, Content-Location, Refresh and Set-Cookie Domain point at the public host", async () => {
  const w = await startWorker({ ORIGIN_URL: origin.url, DRY_RUN: "true" });
  try {
    const originHost = new URL(origin.url).hostname;
    for (const tracked of [false, true]) {
      serve(undefined, (req, res) => {
        const h = [
          "Location", `${origin.url}/login?next=%2Fcart`,
          "Content-Location", `${origin.url}/cart.html`,
          "Refresh", `5; url=${origin.url}/later`,
          "Set-Cookie", `sid=1; Path=/; Domain=${originHost}; HttpOnly`,
          "Set-Cookie", "keep=2; Domain=shop.example",
          "Set-Cookie", "plain=3",
        ];
        if (tracked) h.push("Worker-Tracking", JSON.stringify({ event_name: "PageView" }));
        res.writeHead(302, h);
        res.end();
      });
      const res = await request(w.url, "/account");
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, `${w.url}/login?next=%2Fcart`, `tracked=${tracked}`);
      assert.equal(res.headers["content-location"], `${w.url}/cart.html`);
      assert.equal(res.headers.refresh, `5; url=${w.url}/later`);
      assert.deepEqual(res.headers["set-cookie"], ["sid=1; Path=/; HttpOnly", "keep=2; Domain=shop.example", "plain=3"]);
      assert.ok(!headerNames(res).includes("worker-tracking"));
      assert.ok(!JSON.stringify(res.headers).includes(new URL(origin.url).host), JSON.stringify(res.headers));
    }
    // Other hosts and relative URLs are the origin's business.
    serve(undefined, (req, res) => { res.writeHead(301, { location: "https://elsewhere.example/x", "set-cookie": "a=1; Domain=elsewhere.example" }); res.end(); });
    const other = await request(w.url, "/other");
    assert.equal(other.headers.location, "https://elsewhere.example/x");
    assert.deepEqual(other.headers["set-cookie"], ["a=1; Domain=elsewhere.example"]);
  } finally {
    await w.close();
  }
});

// ---------- 5. no query strings, IPs or browser ids in logs; STRIP_QUERY_PARAMS ----------

test("the dry-run line shows no query string, IP, user agent, fbp or fbc", async () => {
  const w = await startWorker({ ORIGIN_URL: origin.url, DRY_RUN: "true" });
  try {
    serve();
    await request(w.url, "/thanks?email=alice%40example.com&fbclid=IwAR-click", {
      headers: { referer: "https://mail.example/open?tel=5551234", cookie: "_fbp=fb.1.1700000000000.424242; _fbc=fb.1.1700000000000.IwAR-old" },
    });
    const line = await w.line((l) => l.path === "/thanks");
    assert.equal(line.decision, "dry_run");
    const text = JSON.stringify(line);
    for (const secret of ["alice", "IwAR", "5551234", "424242", "203.0.113.50", "Safari", "?"]) {
      assert.ok(!text.includes(secret), `${secret} in ${text}`);
    }
    const event = line.payload.data[0];
    assert.equal(event.event_source_url, `${w.url}/thanks`);
    assert.equal(event.user_data.client_ip_address, "[redacted]");
  } finally {
    await w.close();
  }
});

test("STRIP_QUERY_PARAMS: personal parameters never reach Meta; click ids and utm_* do", async () => {
  const w = await live({ BATCH_WINDOW_MS: "0" });
  const custom = await live({ BATCH_WINDOW_MS: "0", STRIP_QUERY_PARAMS: "customer" });
  try {
    graph.reset();
    serve();
    await request(w.url, "/p?Email=alice%40example.com&fbclid=IwAR1&utm_source=nl&token=t0k&q=cheese", { headers: { referer: "https://mail.example/?phone=555&ref=x" } });
    await w.line((l) => l.path === "/p" && l.decision === "sent");
    const event = graph.requests[0].json.data[0];
    assert.equal(event.event_source_url, `${w.url}/p?fbclid=IwAR1&utm_source=nl&q=cheese`);
    assert.equal(event.referrer_url, "https://mail.example/?ref=x");
    graph.reset();
    await request(custom.url, "/c?customer=9&email=a");
    await custom.line((l) => l.path === "/c" && l.decision === "sent");
    assert.equal(graph.requests[0].json.data[0].event_source_url, `${custom.url}/c?email=a`);
  } finally {
    await w.close();
    await custom.close();
  }
});

// ---------- 6. Connection tokens from the client ----------

test("Connection tokens: invalid names are ignored, protected headers stay, nothing logs an error", async () => {
  const w = await startWorker({ ORIGIN_URL: origin.url, DRY_RUN: "true" });
  try {
    serve(undefined, (req, res) => { res.end("ok"); });
    const res = await request(w.url, "/conn", { headers: { connection: "keep-alive, foo bar, x\u00e9" } });
    assert.equal(res.status, 200, "not a 502");
    assert.equal(res.body.toString(), "ok");
    await request(w.url, "/conn2", {
      headers: {
        connection: "X-Forwarded-For, cookie, Authorization, x-forwarded-host, cf-ipcountry, x-hop",
        "x-forwarded-for": "198.51.100.7", cookie: "sid=1", authorization: "Basic eDp5", "cf-ipcountry": "IT", "x-hop": "gone",
      },
    });
    assert.equal(seen.headers["x-forwarded-for"], "198.51.100.7");
    assert.equal(seen.headers.cookie, "sid=1");
    assert.equal(seen.headers.authorization, "Basic eDp5");
    assert.equal(seen.headers["x-forwarded-host"], new URL(w.url).host);
    assert.equal(seen.headers["cf-ipcountry"], "IT");
    assert.equal(seen.headers["x-hop"], undefined, "a real hop-by-hop header named in Connection still goes");
    assert.ok(!w.logs.some((l) => l.level === "error"), JSON.stringify(w.logs));
  } finally {
    await w.close();
  }
});

// ---------- 7. ORIGIN_URL credentials are never logged ----------

test("an ORIGIN_URL with credentials is refused without logging them", async () => {
  const w = await startWorker({ ORIGIN_URL: "https://deploy:s3cret-pw@origin.internal.example/" });
  try {
    assert.equal((await request(w.url, "/")).status, 502);
    const line = await w.line((l) => l.decision === "config_error");
    assert.match(line.reason, /credentials do not belong in ORIGIN_URL/);
    const all = w.logs.map((l) => l.message).join("\n");
    assert.ok(!all.includes("s3cret-pw") && !all.includes("deploy:"), all);
  } finally {
    await w.close();
  }
});

// ---------- 9. one deadline for the whole delivery ----------

test("timeouts then a 400, at every halving: the delivery stops at its deadline, every page view logged", { timeout: 60_000 }, async () => {
  const w = await live();
  try {
    graph.reset();
    // Each distinct body: two hangs (timeouts), then a refusal that invites a halving.
    const tries = new Map();
    graph.defaultReply = (r) => {
      const n = (tries.get(r.body) ?? 0) + 1;
      tries.set(r.body, n);
      return n < 3 ? "hang" : { status: 400, body: { error: { message: "Invalid parameter", code: 100 } } };
    };
    serve();
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => request(w.url, `/dl/${i}`)));
    const lines = await waitFor(() => { const l = w.lines().filter((x) => x.path?.startsWith("/dl/")); return l.length === 8 && l; }, 40_000);
    const ms = Date.now() - t0;
    assert.ok(ms < RETRY.deadlineMs + 2000, `${ms} ms: past the deadline`);
    assert.ok(lines.every((l) => l.decision === "failed" && l.reason === "deadline"), JSON.stringify(lines));
    assert.ok(lines.every((l) => l.last_error), "the last error is kept");
    assert.deepEqual(w.lines().filter((l) => l.path === undefined && !l.decision.startsWith("stats_")), [], "every line but the background stats lines names its page view");
  } finally {
    graph.defaultReply = startGraphDefault;
    await w.close();
  }
});

// ---------- 10. a response that cannot be rebuilt fails closed ----------

test("a response that cannot be rebuilt without the header is a short 502, never the header", async () => {
  // A 101 to a request that asked for no upgrade: no Response can carry it.
  const raw = net.createServer((s) => s.once("data", () => {
    s.end("HTTP/1.1 101 Switching Protocols\r\nWorker-Tracking: {\"event_name\":\"PageView\"}\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n");
  }));
  await new Promise((r) => raw.listen(0, "127.0.0.1", r));
  const w = await startWorker({ ORIGIN_URL: `http://127.0.0.1:${raw.address().port}`, DRY_RUN: "true" });
  try {
    const res = await request(w.url, "/odd");
    assert.equal(res.status, 502);
    assert.equal(res.body.toString(), "Bad Gateway: the origin's response could not be passed on.\n");
    assert.ok(!headerNames(res).includes("worker-tracking"));
    const line = await w.line((l) => l.path === "/odd");
    assert.equal(line.decision, "origin_error");
    assert.equal(line.origin_status, 101);
  } finally {
    await w.close();
    raw.close();
  }
});

// ---------- 12. what counts as a page view ----------

test("OPTIONS and 206 are not page views; 304 is", async () => {
  const w = await live({ BATCH_WINDOW_MS: "0" });
  try {
    graph.reset();
    serve();
    await request(w.url, "/preflight", { method: "OPTIONS" });
    serve(undefined, (req, res) => { res.writeHead(206, { "content-range": "bytes 0-1/10", "worker-tracking": '{"event_name":"PageView"}' }); res.end("ab"); });
    await request(w.url, "/range", { headers: { range: "bytes=0-1" } });
    serve(undefined, (req, res) => { res.writeHead(304, { etag: '"e"', "worker-tracking": '{"event_name":"PageView"}' }); res.end(); });
    await request(w.url, "/not-modified", { headers: { "if-none-match": '"e"' } });
    for (const path of ["/preflight", "/range"]) {
      const line = await w.line((l) => l.path === path);
      assert.equal(line.decision, "skipped", path);
      assert.equal(line.rule, "not_a_page_view", path);
    }
    assert.equal((await w.line((l) => l.path === "/not-modified")).decision, "sent");
    assert.equal(graph.requests.length, 1);
  } finally {
    await w.close();
  }
});
