// The event pipeline: tracked pages become exactly one correct Conversions API request,
// sent from waitUntil to a mock Graph API; bots, HEAD and prefetches send nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startGraph, startWorker, request, waitFor, sha256, headerNames, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let origin, graph, worker;

before(async () => {
  origin = await startServer();
  graph = await startGraph();
  worker = await startWorker({
    ORIGIN_URL: origin.url,
    META_PIXEL_ID: PIXEL,
    META_ACCESS_TOKEN: TOKEN,
    META_API_BASE: graph.url,
    META_TEST_EVENT_CODE: "TEST4242",
  });
});
after(async () => { await worker?.close(); origin?.close(); graph?.close(); });

/** The origin answers every request with `headers` and a small page. */
function originSends(headers, status = 200) {
  origin.handler = (req, res) => {
    res.writeHead(status, { "content-type": "text/html", ...headers });
    res.end(req.method === "HEAD" ? undefined : "<h1>page</h1>");
  };
}

/** Requests `path`, then waits for its tagrelay log line. */
async function visit(path, opts = {}) {
  graph.reset();
  const res = await request(worker.url, path, opts);
  const p = path.split("?")[0];
  const line = await worker.line((l) => l.path === p);
  return { res, line };
}

const b64url = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");

test("a tracked page sends exactly one complete event", async () => {
  const header = {
    event_name: "ViewContent",
    event_id: "view-42",
    custom_data: { value: "14.90", currency: "eur", content_ids: [42], content_type: "product" },
    contents: [{ id: "42", quantity: 1 }],
    user_data: { em: " Maria.Rossi@Example.com ", ph: "+39 070 123 4567", country: "IT", client_ip_address: "6.6.6.6" },
  };
  originSends({ "worker-tracking": JSON.stringify(header), "cf-cache-status": "MISS" });
  const t0 = Math.floor(Date.now() / 1000);
  const { res, line } = await visit("/p/one?fbclid=IwAR-Ab_9&utm_source=fb", {
    headers: {
      cookie: "sess=1; _fbp=fb.1.1700000000000.1234567890",
      referer: "https://www.facebook.com/",
      "x-forwarded-for": "6.6.6.6",
      "x-real-ip": "7.7.7.7",
    },
  });
  const t1 = Math.ceil(Date.now() / 1000);
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "<h1>page</h1>");
  assert.ok(!headerNames(res).includes("worker-tracking"));

  assert.equal(line.decision, "sent", JSON.stringify(line));
  assert.equal(line.attempts, 1);
  assert.equal(line.events_received, 1);
  assert.equal(line.fbtrace_id, "trace-1");
  assert.deepEqual(line.event_ids, ["view-42"]);
  assert.equal(graph.requests.length, 1);

  const sent = graph.requests[0];
  assert.equal(sent.method, "POST");
  assert.equal(sent.url, `/v27.0/${PIXEL}/events`);
  assert.equal(sent.headers.authorization, `Bearer ${TOKEN}`);
  assert.match(sent.headers["content-type"], /^application\/json/);
  assert.equal(sent.json.test_event_code, "TEST4242");
  assert.equal(sent.json.data.length, 1);
  const e = sent.json.data[0];
  assert.equal(e.event_name, "ViewContent");
  assert.equal(e.event_id, "view-42");
  assert.ok(e.event_time >= t0 && e.event_time <= t1, `event_time ${e.event_time} not in [${t0}, ${t1}]`);
  assert.equal(e.event_source_url, `${worker.url}/p/one?fbclid=IwAR-Ab_9&utm_source=fb`);
  assert.equal(e.action_source, "website");
  assert.equal(e.referrer_url, "https://www.facebook.com/");
  assert.deepEqual(e.custom_data, { value: 14.9, currency: "EUR", content_ids: ["42"], content_type: "product", contents: [{ id: "42", quantity: 1 }] });
  const u = e.user_data;
  assert.equal(u.client_ip_address, "203.0.113.50", "IP must come from CF-Connecting-IP only");
  assert.equal(u.client_user_agent, BROWSER_UA);
  assert.equal(u.fbp, "fb.1.1700000000000.1234567890");
  // Built from the fbclid and set first-party (src/visitor/first_party.rs): this request's host
  // is an IP address, so the subdomain index is 0, as Meta's Parameter Builder writes it.
  assert.match(u.fbc, /^fb\.0\.\d{13}\.IwAR-Ab_9$/);
  const fbcMs = Number(u.fbc.split(".")[2]);
  assert.ok(fbcMs >= t0 * 1000 && fbcMs <= t1 * 1000);
  assert.deepEqual(u.em, [sha256("maria.rossi@example.com")]);
  assert.deepEqual(u.ph, [sha256("390701234567")]);
  assert.deepEqual(u.country, [sha256("it")]);
  assert.deepEqual(Object.keys(u).sort(), ["client_ip_address", "client_user_agent", "country", "em", "fbc", "fbp", "ph"]);
});

test("bots, HEAD and prefetches send nothing and log the rule", async () => {
  originSends({ "worker-tracking": JSON.stringify({ event_name: "PageView" }) });
  const cases = [
    ["crawler_user_agent", { headers: { "user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" } }],
    ["crawler_user_agent", { headers: { "user-agent": "curl/8.4.0" } }],
    ["missing_user_agent", { headers: { "user-agent": undefined } }],
    ["head_request", { method: "HEAD" }],
    ["prefetch", { headers: { "sec-purpose": "prefetch" } }],
    ["prefetch", { headers: { purpose: "prefetch" } }],
    ["prefetch", { headers: { "sec-purpose": "prefetch;prerender" } }],
    ["verified_bot", { cf: { botManagement: { verifiedBot: true, score: 99 } } }],
    ["bot_score", { cf: { botManagement: { verifiedBot: false, score: 2 } } }],
  ];
  for (const [i, [rule, opts]] of cases.entries()) {
    const { res, line } = await visit(`/bot/${i}`, opts);
    assert.equal(res.status, 200);
    assert.equal(line.decision, "skipped", `${rule}: ${JSON.stringify(line)}`);
    assert.equal(line.rule, rule);
  }
  const { line } = await visit("/bot/human", { cf: { botManagement: { verifiedBot: false, score: 90 } } });
  assert.equal(line.decision, "sent");
  assert.equal(graph.requests.length, 1);
  graph.reset();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(graph.requests.length, 0, "a skipped request reached the Graph API");
});

// request.cf costs 20–30 µs to read on Cloudflare, so with CF-IPCountry present an isolate
// reads it once in 64 pages (the probe) until one shows Bot Management, or a country the
// header does not carry; from then on, on every page (src/edge/js/edge_facts.js, edgeFacts).
test("request.cf is read once in 64 pages while the zone shows no Bot Management, then on every page", async () => {
  const tracking = { ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url };
  // The decision (a skip's rule, else the decision) on each of `pages`' tracked page views
  // (`[path, init]`, one after another) from a fresh worker.
  const decisions = async (pages, options) => {
    const w = await startWorker(tracking, options);
    try {
      originSends({ "worker-tracking": JSON.stringify({ event_name: "PageView" }) });
      const out = [];
      for (const [path, init] of pages) {
        await request(w.url, path, init);
        const line = await w.line((l) => l.path === path);
        out.push(line.rule ?? line.decision);
      }
      return out;
    } finally {
      await w.close();
    }
  };
  const bot = { botManagement: { verifiedBot: false, score: 2 } };
  // The first probe finds no botManagement; between probes request.cf is not read; the next
  // probe (page 64) finds it, and it is read from then on. With the stats on (D1 bound), each
  // page is both counted and tracked: still one page.
  const us = { "cf-ipcountry": "US" };
  const probed = Array.from({ length: 68 }, (_, i) => [`/probe/${i}`, { headers: us, cf: { country: "US", ...(i === 0 ? {} : bot) } }]);
  assert.deepEqual(await decisions(probed, { d1: true }), [...Array(64).fill("sent"), ...Array(4).fill("bot_score")]);
  // Neither request.cf nor the header carries a country (a Worker not on Cloudflare): pages
  // without the header are not read between probes either.
  const bare = Array.from({ length: 66 }, (_, i) => [`/bare/${i}`, { cf: i === 0 ? {} : bot }]);
  assert.deepEqual(await decisions(bare), [...Array(64).fill("sent"), "bot_score", "bot_score"]);
  // A country the header does not carry (a forged or stale CF-IPCountry, or none): every page.
  const ca = { "cf-ipcountry": "CA" };
  const forged = [["/forged/0", { headers: ca, cf: { country: "US" } }], ["/forged/1", { headers: ca, cf: { country: "US", ...bot } }]];
  assert.deepEqual(await decisions(forged), ["sent", "bot_score"]);
});

test("a cached page gets a fresh event_id per request and no header user_data", async () => {
  const header = JSON.stringify({ event_name: "ViewContent", event_id: "cached-id", user_data: { em: "someone@else.example" } });
  const ids = [];
  for (const [i, extra] of [{ "cf-cache-status": "HIT" }, { age: "120" }, { "cf-cache-status": "STALE" }].entries()) {
    originSends({ "worker-tracking": header, ...extra });
    const { line } = await visit(`/cached/${i}`);
    assert.equal(line.decision, "sent");
    assert.equal(line.cache_replay, true);
    const e = graph.requests[0].json.data[0];
    assert.match(e.event_id, UUID);
    assert.equal(e.user_data.em, undefined);
    assert.equal(e.user_data.client_ip_address, "203.0.113.50");
    ids.push(e.event_id);
  }
  assert.equal(new Set(ids).size, ids.length);
});

test("a header value seen before (decoded once per isolate) still gives each page view its own event", async () => {
  const pageHeader = (id) => JSON.stringify({ event_name: "ViewContent", custom_data: { content_ids: [id], currency: "eur", value: "1.50" } });
  const personal = (email) => JSON.stringify({ event_name: "Purchase", event_id: `order-${email}`, user_data: { em: email } });
  origin.handler = (req, res) => {
    const [, kind, id] = req.url.split("/");
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": kind === "buy" ? personal(`${id}@shop.example`) : pageHeader(id) });
    res.end("<h1>page</h1>");
  };
  const ids = new Set();
  for (const [i, page] of ["/p/1", "/p/2", "/p/1", "/buy/ann", "/p/2", "/buy/bob", "/p/1", "/buy/ann"].entries()) {
    const path = `${page}/${i}`; // a path of its own, so its log line is found
    const fbp = `fb.1.1700000000000.${1000 + i}`;
    const { line } = await visit(path, { headers: { cookie: `_fbp=${fbp}` } });
    assert.equal(line.decision, "sent", `${path}: ${JSON.stringify(line)}`);
    const e = graph.requests[0].json.data[0];
    assert.equal(e.event_source_url, `${worker.url}${path}`);
    assert.equal(e.user_data.fbp, fbp, `${path}: this visitor's _fbp`);
    const [, kind, id] = path.split("/");
    if (kind === "p") {
      assert.deepEqual(e.custom_data, { content_ids: [id], currency: "EUR", value: 1.5 }, path);
      assert.equal(e.user_data.em, undefined);
      assert.match(e.event_id, UUID);
      ids.add(e.event_id);
    } else {
      assert.equal(e.event_id, `order-${id}@shop.example`);
      assert.deepEqual(e.user_data.em, [sha256(`${id}@shop.example`)], `${path}: this buyer's e-mail`);
    }
  }
  assert.equal(ids.size, 5, "fresh event ids on every page view");
});

test("more distinct header values than the decode cache holds, at once: every event has its own page's data", async () => {
  // 100 products (the cache has 64 slots, so values collide and replace each other), 150 page views.
  origin.handler = (req, res) => {
    const id = req.url.split("/")[2];
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": JSON.stringify({ event_name: "ViewContent", custom_data: { content_ids: [id] } }) });
    res.end("<h1>page</h1>");
  };
  graph.reset();
  const paths = Array.from({ length: 150 }, (_, i) => `/many/${i % 100}/${i}`);
  const responses = await Promise.all(paths.map((p) => request(worker.url, p)));
  assert.ok(responses.every((r) => r.status === 200));
  await waitFor(() => graph.requests.flatMap((r) => r.json.data).length >= paths.length, 8000, "every event");
  const events = graph.requests.flatMap((r) => r.json.data);
  assert.equal(events.length, paths.length);
  for (const e of events) {
    const id = new URL(e.event_source_url).pathname.split("/")[2];
    assert.deepEqual(e.custom_data, { content_ids: [id] }, e.event_source_url);
  }
  assert.deepEqual(events.map((e) => new URL(e.event_source_url).pathname).sort(), [...paths].sort());
});

test("no event_id in the header: a fresh one per request", async () => {
  originSends({ "worker-tracking": JSON.stringify({ event_name: "PageView" }) });
  const a = (await visit("/fresh/a"), graph.requests[0].json.data[0].event_id);
  const b = (await visit("/fresh/b"), graph.requests[0].json.data[0].event_id);
  assert.match(a, UUID);
  assert.match(b, UUID);
  assert.notEqual(a, b);
});

test("a base64url header with non-ASCII product names", async () => {
  const event = { event_name: "ViewContent", custom_data: { content_name: "Pecorino Sardo – stagionato ★ Caffè" } };
  originSends({ "worker-tracking": b64url(event) });
  const { line } = await visit("/unicode");
  assert.equal(line.decision, "sent");
  assert.equal(graph.requests[0].json.data[0].custom_data.content_name, "Pecorino Sardo – stagionato ★ Caffè");
});

test("raw UTF-8 JSON in the header works too", async () => {
  const json = JSON.stringify({ event_name: "ViewContent", custom_data: { content_name: "Caffè ★" } });
  // Node writes header strings as Latin-1 bytes: this sends the UTF-8 bytes of `json` as they are.
  originSends({ "worker-tracking": Buffer.from(json).toString("latin1") });
  const { line } = await visit("/raw-utf8");
  assert.equal(line.decision, "sent");
  assert.equal(graph.requests[0].json.data[0].custom_data.content_name, "Caffè ★");
});

test("an array of events goes in one request", async () => {
  originSends({ "worker-tracking": JSON.stringify([{ event_name: "AddToCart", event_id: "c1" }, { event_name: "InitiateCheckout", event_id: "c2" }]) });
  const { line } = await visit("/multi");
  assert.equal(line.decision, "sent");
  assert.equal(graph.requests.length, 1);
  assert.deepEqual(graph.requests[0].json.data.map((e) => [e.event_name, e.event_id]), [["AddToCart", "c1"], ["InitiateCheckout", "c2"]]);
  assert.equal(line.events_received, 2);
});

test("malformed headers send nothing, keep the page intact and log why", async () => {
  const cases = [
    ["{not json", "bad_json"],
    ["@@@not-base64@@@", "bad_base64"],
    [JSON.stringify({ custom_data: {} }), "missing_event_name"],
    [JSON.stringify({ event_name: "A", custom_data: { value: "lots" } }), "invalid_field"],
    [JSON.stringify({ event_name: "x".repeat(17000) }), "too_large"],
  ];
  for (const [i, [value, code]] of cases.entries()) {
    originSends({ "worker-tracking": value, "x-page": "intact" });
    const { res, line } = await visit(`/bad/${i}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "<h1>page</h1>");
    assert.equal(res.headers["x-page"], "intact");
    assert.ok(!headerNames(res).includes("worker-tracking"));
    assert.equal(line.decision, "rejected", JSON.stringify(line));
    assert.equal(line.code, code);
    assert.ok(line.reason.length > 10);
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(graph.requests.length, 0);
});

test("Graph 500 then 200: delivered once, on the second attempt, with the same event_id", async () => {
  originSends({ "worker-tracking": JSON.stringify({ event_name: "Purchase", event_id: "order-7" }) });
  graph.reset();
  graph.replies.push({ status: 500, body: { error: { message: "Service temporarily unavailable", code: 2, is_transient: true } } });
  const res = await request(worker.url, "/retry");
  assert.equal(res.status, 200);
  const line = await worker.line((l) => l.path === "/retry");
  assert.equal(line.decision, "sent");
  assert.equal(line.attempts, 2);
  assert.equal(graph.requests.length, 2);
  assert.equal(graph.requests[0].body, graph.requests[1].body);
  assert.equal(graph.requests[1].json.data[0].event_id, "order-7");
});

test("Graph 400: no retry, the error is logged with code, subcode and fbtrace_id", async () => {
  originSends({ "worker-tracking": JSON.stringify({ event_name: "Purchase" }) });
  graph.reset();
  graph.replies.push({ status: 400, body: { error: { message: "Invalid parameter", type: "OAuthException", code: 100, error_subcode: 2804019, is_transient: false, fbtrace_id: "AbCdE" } } });
  await request(worker.url, "/no-retry");
  const line = await worker.line((l) => l.path === "/no-retry");
  assert.equal(line.decision, "failed");
  assert.equal(line.attempts, 1);
  assert.equal(line.code, 100);
  assert.equal(line.subcode, 2804019);
  assert.equal(line.fbtrace_id, "AbCdE");
  assert.match(line.reason, /Invalid parameter/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(graph.requests.length, 1);
});

test("dry run without a token logs the exact payload and sends nothing", async () => {
  const dry = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_API_BASE: graph.url });
  try {
    originSends({ "worker-tracking": JSON.stringify({ event_name: "Lead", event_id: "l1", user_data: { em: "a@b.example" } }) });
    graph.reset();
    await request(dry.url, "/dry");
    const line = await dry.line((l) => l.path === "/dry");
    assert.equal(line.decision, "dry_run");
    assert.equal(line.reason, "META_ACCESS_TOKEN is not set");
    assert.equal(line.events_url, `${graph.url}/v27.0/${PIXEL}/events`);
    assert.equal(line.payload.data[0].event_id, "l1");
    assert.deepEqual(line.payload.data[0].user_data.em, [sha256("a@b.example")]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(graph.requests.length, 0);
  } finally {
    await dry.close();
  }
});

test("the access token never appears in any log line", () => {
  assert.ok(worker.logs.length > 10, "expected log output to check");
  for (const { message } of worker.logs) assert.ok(!message.includes(TOKEN), `token leaked: ${message}`);
});
