// One header, three platforms (issue 14): the built Worker in workerd in front of a real origin,
// with a mock server per platform (Meta's Graph API, GA4's Measurement Protocol, TikTok's Events
// API) recording every request, so each field each platform receives is checked.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startServer, startGraph, startWorker, readBody, waitFor, freePort, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

const GA4_ID = "G-TEST123";
const GA4_SECRET = "ga4-secret-do-not-log";
const TIKTOK_CODE = "CTEST0PIXEL1";
const TIKTOK_TOKEN = "tiktok-token-do-not-log";
const IP = "203.0.113.7";
const DEBUG_TOKEN = "debug-token-do-not-log-0123";

let origin, graph, ga4, tiktok, worker;
let event = { event_name: "PageView" };

const hash = (s) => createHash("sha256").update(s).digest("hex");

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    origin.lastHeaders = req.headers;
    const headers = { "content-type": "text/html; charset=utf-8" };
    if (event) headers["worker-tracking"] = JSON.stringify(event);
    res.writeHead(200, headers);
    res.end("<p>page</p>");
  });
  graph = await startGraph();
  ga4 = await startGraph();
  ga4.defaultReply = (record) => (record.url.startsWith("/debug/") ? { status: 200, body: { validationMessages: [] } } : { status: 204, body: "" });
  tiktok = await startGraph();
  tiktok.defaultReply = () => ({ status: 200, body: { code: 0, message: "OK", request_id: `tt-req-${tiktok.requests.length}`, data: {} } });
  worker = await start();
});
after(async () => { await worker?.close(); origin?.close(); graph?.close(); ga4?.close(); tiktok?.close(); });

function start(extra = {}) {
  const vars = {
    ORIGIN_URL: origin.url,
    META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url,
    GA4_MEASUREMENT_ID: GA4_ID, GA4_API_SECRET: GA4_SECRET, GA4_API_BASE: ga4.url,
    TIKTOK_PIXEL_CODE: TIKTOK_CODE, TIKTOK_ACCESS_TOKEN: TIKTOK_TOKEN, TIKTOK_API_BASE: tiktok.url,
    BATCH_WINDOW_MS: "0",
    DEBUG_TOKEN,
    ...extra,
  };
  for (const k of Object.keys(vars)) if (vars[k] === undefined) delete vars[k];
  return startWorker(vars);
}

let n = 0;
/** One page view of `https://www.spesati.it/p/<n><query>` carrying `header`. */
async function view(header, { w = worker, query = "", cookie, country = "US", headers = {} } = {}) {
  event = header;
  const path = `/p/${++n}`;
  const h = { "user-agent": BROWSER_UA, "cf-connecting-ip": IP, referer: "https://www.tiktok.com/", ...headers };
  if (cookie !== undefined) h.cookie = cookie;
  const res = await w.mf.dispatchFetch(`https://www.spesati.it${path}${query}`, { headers: h, cf: { country } });
  const body = await res.text();
  return { res, body, path, setCookies: res.headers.getSetCookie() };
}

const pathOf = (url) => new URL(url).pathname;
const metaEvents = (path) => graph.requests.flatMap((r) => r.json?.data ?? []).filter((e) => pathOf(e.event_source_url) === path);
const ga4Requests = (path) => ga4.requests.filter((r) => r.json?.events?.some((e) => pathOf(e.params.page_location) === path));
const tiktokEvents = (path) => tiktok.requests.flatMap((r) => r.json?.data ?? []).filter((e) => pathOf(e.page.url) === path);
const linesOf = (path, w = worker) => w.lines().filter((l) => l.path === path);

/** Waits until each of `platforms` has received the page view's events. */
async function delivered(path, platforms = ["meta", "ga4", "tiktok"]) {
  const got = { meta: () => metaEvents(path).length, ga4: () => ga4Requests(path).length, tiktok: () => tiktokEvents(path).length };
  await waitFor(() => platforms.every((p) => got[p]() > 0), 6000, `events at ${platforms.join(", ")}`);
}

test("a product view reaches all three platforms, each in its own shape, with one event id", async () => {
  const header = {
    event_name: "ViewContent",
    custom_data: { currency: "eur", value: 12.5, content_name: "Pecorino Sardo", content_type: "product" },
    contents: [{ id: "SKU-42", quantity: 1, item_price: 12.5 }],
  };
  const { res, body, path, setCookies } = await view(header, { query: "?fbclid=IwAR-click_1&ttclid=E.C.P.tt-click_9" });
  assert.equal(res.status, 200);
  assert.equal(body, "<p>page</p>");
  assert.equal(res.headers.get("worker-tracking"), null);
  await delivered(path);

  const ga = setCookies.find((c) => c.startsWith("_ga="));
  assert.match(ga, /^_ga=GA1\.1\.\d+\.\d+; Max-Age=63072000; Path=\/; Domain=spesati\.it; SameSite=Lax; Secure$/);
  assert.match(setCookies.find((c) => c.startsWith("ttclid=")), /^ttclid=E\.C\.P\.tt-click_9; Max-Age=2592000; Path=\/; Domain=spesati\.it/);
  const clientId = ga.split(";")[0].slice("_ga=GA1.1.".length);

  const [meta] = metaEvents(path);
  assert.equal(meta.event_name, "ViewContent");
  assert.equal(meta.custom_data.currency, "EUR");
  assert.deepEqual(meta.custom_data.contents, [{ id: "SKU-42", quantity: 1, item_price: 12.5 }]);
  const id = meta.event_id;
  assert.match(id, /^[0-9a-f-]{36}$/);

  const [gaRequest] = ga4Requests(path);
  const url = new URL(gaRequest.url, ga4.url);
  assert.equal(url.pathname, "/mp/collect");
  assert.equal(url.searchParams.get("measurement_id"), GA4_ID);
  assert.equal(url.searchParams.get("api_secret"), GA4_SECRET);
  const g = gaRequest.json;
  assert.equal(g.client_id, clientId, "the client id of the _ga set on this very response");
  assert.equal(g.ip_override, IP);
  assert.equal(g.user_agent, BROWSER_UA);
  assert.deepEqual(g.consent, { ad_user_data: "GRANTED", ad_personalization: "GRANTED" });
  assert.equal(typeof g.timestamp_micros, "number");
  assert.equal(g.user_data, undefined, "no user data in the header");
  assert.deepEqual(g.events, [{
    name: "view_item",
    params: {
      page_location: `https://www.spesati.it${path}?fbclid=IwAR-click_1&ttclid=E.C.P.tt-click_9`,
      page_referrer: "https://www.tiktok.com/",
      engagement_time_msec: 100,
      currency: "EUR",
      value: 12.5,
      items: [{ item_id: "SKU-42", quantity: 1, price: 12.5, item_name: "Pecorino Sardo" }],
    },
  }]);

  const ttRequest = tiktok.requests.find((r) => r.json.data.some((e) => pathOf(e.page.url) === path));
  assert.equal(ttRequest.url, "/open_api/v1.3/event/track/");
  assert.equal(ttRequest.headers["access-token"], TIKTOK_TOKEN);
  assert.equal(ttRequest.json.event_source, "web");
  assert.equal(ttRequest.json.event_source_id, TIKTOK_CODE);
  const [t] = tiktokEvents(path);
  assert.equal(t.event, "ViewContent");
  assert.equal(t.event_id, id, "TikTok gets Meta's id, for dedup with its pixel");
  assert.equal(typeof t.event_time, "number");
  assert.deepEqual(t.user, { ip: IP, user_agent: BROWSER_UA, ttclid: "E.C.P.tt-click_9" });
  assert.deepEqual(t.page, { url: `https://www.spesati.it${path}?fbclid=IwAR-click_1&ttclid=E.C.P.tt-click_9`, referrer: "https://www.tiktok.com/" });
  assert.deepEqual(t.properties, {
    currency: "EUR", value: 12.5, content_type: "product",
    contents: [{ content_id: "SKU-42", content_name: "Pecorino Sardo", price: 12.5, quantity: 1 }],
  });

  for (const destination of ["meta", "ga4", "tiktok"]) {
    const line = await worker.line((l) => l.path === path && l.destination === destination && l.decision === "sent");
    assert.deepEqual(line.event_ids, [id], destination);
  }
  const ttLine = linesOf(path).find((l) => l.destination === "tiktok");
  assert.match(ttLine.request_id, /^tt-req-/);
  const all = JSON.stringify(worker.lines());
  for (const secret of [GA4_SECRET, TIKTOK_TOKEN, TOKEN, "tt-click_9", IP]) assert.ok(!all.includes(secret), `${secret} in the logs`);
});

test("_ga is minted once and reused on the next request, with the session from _ga_<stream>", async () => {
  const first = await view({ event_name: "PageView" });
  await delivered(first.path, ["ga4"]);
  const ga = first.setCookies.find((c) => c.startsWith("_ga=")).split(";")[0];
  const clientId = ga.slice("_ga=GA1.1.".length);
  const cookie = `${ga}; _ga_TEST123=GS2.1.s1764600000$o3$g1$t1764600100$j0$l0$h0; _fbp=fb.1.1764600000000.5`;
  const second = await view({ event_name: "PageView" }, { cookie });
  await delivered(second.path, ["ga4"]);
  assert.equal(second.setCookies.filter((c) => c.startsWith("_ga=")).length, 0, "no second _ga");
  const g = ga4Requests(second.path)[0].json;
  assert.equal(g.client_id, clientId);
  assert.equal(g.events[0].name, "page_view");
  assert.equal(g.events[0].params.session_id, "1764600000");
  // An untracked page sets _ga too, so GA4 sees the same visitor when an event comes later.
  const untracked = await view(null);
  assert.equal(untracked.setCookies.filter((c) => c.startsWith("_ga=")).length, 1);
});

test("add to cart and a purchase with PII: each platform's own normalization", async () => {
  const cart = await view({ event_name: "AddToCart", custom_data: { currency: "EUR", value: 25, content_ids: ["SKU-1", 7] } });
  await delivered(cart.path);
  assert.equal(metaEvents(cart.path)[0].event_name, "AddToCart");
  assert.deepEqual(ga4Requests(cart.path)[0].json.events[0].params.items, [{ item_id: "SKU-1" }, { item_id: "7" }]);
  assert.equal(ga4Requests(cart.path)[0].json.events[0].name, "add_to_cart");
  assert.deepEqual(tiktokEvents(cart.path)[0].properties.contents, [{ content_id: "SKU-1" }, { content_id: "7" }]);

  const purchase = {
    event_name: "Purchase",
    event_id: "order-1001",
    custom_data: { currency: "EUR", value: 49.9, order_id: "1001" },
    contents: [{ id: "SKU-1", quantity: 2, item_price: 24.95 }],
    user_data: { em: " John.Doe@Gmail.com ", ph: "+39 333 123 4567", fn: "Maria", ln: "Rossi", ct: "Cagliari", zp: "09100", country: "it", external_id: "cust-77" },
  };
  const { path } = await view(purchase);
  await delivered(path);
  const meta = metaEvents(path)[0];
  assert.equal(meta.event_id, "order-1001");
  assert.deepEqual(meta.user_data.em, [hash("john.doe@gmail.com")], "Meta keeps the dots");
  assert.deepEqual(meta.user_data.ph, [hash("393331234567")], "Meta: digits only");

  const g = ga4Requests(path)[0].json;
  assert.equal(g.events[0].name, "purchase");
  assert.equal(g.events[0].params.transaction_id, "1001");
  assert.deepEqual(g.events[0].params.items, [{ item_id: "SKU-1", quantity: 2, price: 24.95 }]);
  assert.deepEqual(g.user_data, {
    sha256_email_address: [hash("johndoe@gmail.com")],
    sha256_phone_number: [hash("+393331234567")],
    address: [{ sha256_first_name: hash("maria"), sha256_last_name: hash("rossi"), city: "cagliari", postal_code: "09100", country: "IT" }],
  });

  const t = tiktokEvents(path)[0];
  assert.equal(t.event, "Purchase");
  assert.equal(t.event_id, "order-1001");
  assert.equal(t.user.email, hash("john.doe@gmail.com"));
  assert.equal(t.user.phone, hash("+393331234567"));
  assert.equal(t.user.external_id, hash("cust-77"));
  assert.equal(t.properties.order_id, "1001");
  assert.deepEqual(t.properties.contents, [{ content_id: "SKU-1", price: 24.95, quantity: 2 }]);
  assert.ok(!JSON.stringify(worker.lines()).includes("Gmail"), "no raw PII in the logs");
});

test("a search", async () => {
  const { path } = await view({ event_name: "Search", custom_data: { search_string: "pecorino" } });
  await delivered(path);
  assert.equal(metaEvents(path)[0].custom_data.search_string, "pecorino");
  const ga = ga4Requests(path)[0].json.events[0];
  assert.equal(ga.name, "search");
  assert.equal(ga.params.search_term, "pecorino");
  const t = tiktokEvents(path)[0];
  assert.equal(t.event, "Search");
  assert.deepEqual(t.properties, { query: "pecorino" });
});

test("statistics-only consent: GA4 only, with ad consent denied and no user data", async () => {
  const cookie = "cmplz_statistics=allow; cmplz_marketing=deny";
  const { path, setCookies } = await view({ event_name: "Purchase", user_data: { em: "a@b.example" } }, { country: "IT", cookie });
  await delivered(path, ["ga4"]);
  const g = ga4Requests(path)[0].json;
  assert.deepEqual(g.consent, { ad_user_data: "DENIED", ad_personalization: "DENIED" });
  assert.equal(g.user_data, undefined);
  assert.ok(setCookies.some((c) => c.startsWith("_ga=GA1.1.")), "statistics agreed: _ga is set");
  assert.ok(!setCookies.some((c) => c.startsWith("_fbp=")), "marketing refused: no _fbp");
  for (const destination of ["meta", "tiktok"]) {
    const line = await worker.line((l) => l.path === path && l.destination === destination);
    assert.equal(line.decision, "skipped");
    assert.equal(line.rule, "consent_denied");
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(metaEvents(path).length, 0);
  assert.equal(tiktokEvents(path).length, 0);
});

test("an event may name its destinations", async () => {
  const { path } = await view([
    { event_name: "ViewContent", destinations: ["ga4"] },
    { event_name: "Lead", destinations: ["meta", "tiktok"] },
  ]);
  await delivered(path);
  assert.deepEqual(metaEvents(path).map((e) => e.event_name), ["Lead"]);
  assert.deepEqual(tiktokEvents(path).map((e) => e.event), ["Lead"]);
  assert.deepEqual(ga4Requests(path)[0].json.events.map((e) => e.name), ["view_item"]);
});

test("one platform down: the others are delivered and the page is unaffected", async () => {
  const down = await start({ TIKTOK_API_BASE: `http://127.0.0.1:${await freePort()}` });
  try {
    const started = Date.now();
    const { res, body, path } = await view({ event_name: "ViewContent" }, { w: down });
    assert.equal(res.status, 200);
    assert.equal(body, "<p>page</p>");
    assert.ok(Date.now() - started < 2000, "the page does not wait for any platform");
    await delivered(path, ["meta", "ga4"]);
    const failed = await down.line((l) => l.path === path && l.destination === "tiktok" && l.decision === "failed", 15000);
    assert.match(failed.reason, /network error/);
    assert.equal(failed.attempts, 3);
    assert.ok(down.lines().some((l) => l.path === path && l.destination === "meta" && l.decision === "sent"));
  } finally {
    await down.close();
  }
});

test("TikTok code other than 0: a rate limit is retried, a bad token is not", async () => {
  tiktok.replies.push({ status: 200, body: { code: 40100, message: "Too many requests", request_id: "tt-limited" } });
  const limited = await view({ event_name: "AddToCart" });
  const sent = await worker.line((l) => l.path === limited.path && l.destination === "tiktok" && l.decision === "sent", 8000);
  assert.equal(sent.attempts, 2);

  tiktok.replies.push({ status: 200, body: { code: 40105, message: "Access token invalid", request_id: "tt-bad-token" } });
  const refused = await view({ event_name: "AddToCart" });
  const failed = await worker.line((l) => l.path === refused.path && l.destination === "tiktok" && l.decision === "failed", 8000);
  assert.equal(failed.attempts, 1);
  assert.equal(failed.code, 40105);
  assert.equal(failed.request_id, "tt-bad-token");
  assert.match(failed.reason, /Access token invalid/);
  assert.equal(tiktok.requests.filter((r) => r.json.data.some((e) => pathOf(e.page.url) === refused.path)).length, 1, "not retried");
});

test("GA4 validate mode sends to the validation server and logs its messages", async () => {
  const validating = await start({ GA4_VALIDATE: "true" });
  try {
    ga4.replies.push({ status: 200, body: { validationMessages: [{ fieldPath: "events", description: "Event at index: [0] has invalid name.", validationCode: "NAME_INVALID" }] } });
    const { path } = await view({ event_name: "PageView" }, { w: validating });
    const failed = await validating.line((l) => l.path === path && l.destination === "ga4" && l.decision === "failed");
    assert.match(failed.reason, /GA4 validation: Event at index: \[0\] has invalid name/);
    assert.equal(failed.validation_messages[0].validationCode, "NAME_INVALID");
    assert.equal(new URL(ga4Requests(path)[0].url, ga4.url).pathname, "/debug/mp/collect");
    const ok = await view({ event_name: "PageView" }, { w: validating });
    const sent = await validating.line((l) => l.path === ok.path && l.destination === "ga4" && l.decision === "sent");
    assert.deepEqual(sent.validation_messages, []);
  } finally {
    await validating.close();
  }
});

test("the debug header: each destination's decision for the right token, nothing otherwise", async () => {
  const cookie = "cmplz_statistics=allow; cmplz_marketing=deny; _ga=GA1.1.5.6";
  const header = [{ event_name: "ViewContent", event_id: "dbg-1" }, { event_name: "42 bad name", event_id: "dbg-2" }];
  const { res, path } = await view(header, { country: "IT", cookie, headers: { "tagrelay-debug": DEBUG_TOKEN } });
  assert.equal(origin.lastHeaders["tagrelay-debug"], undefined, "the token never reaches the origin");
  const report = JSON.parse(res.headers.get("tagrelay-debug"));
  assert.equal(report.decision, "tracked");
  const of = (d) => report.destinations.filter((e) => e.destination === d);
  assert.deepEqual(of("meta"), [{ destination: "meta", decision: "skipped", rule: "consent_denied", consent_source: "complianz" }]);
  assert.deepEqual(of("tiktok"), [{ destination: "tiktok", decision: "skipped", rule: "consent_denied", consent_source: "complianz" }]);
  const [rejected, sending] = of("ga4");
  assert.equal(rejected.decision, "rejected");
  assert.deepEqual(rejected.event_ids, ["dbg-2"]);
  assert.match(rejected.reason, /cannot be a GA4 event name/);
  assert.deepEqual(sending, { destination: "ga4", decision: "sending", event_names: ["view_item"], event_ids: ["dbg-1"] });
  const text = res.headers.get("tagrelay-debug");
  for (const secret of [IP, "GA1.1.5.6", "5.6", BROWSER_UA, "cmplz"]) assert.ok(!text.includes(secret), `${secret} in the report`);
  await delivered(path, ["ga4"]);

  const wrong = await view(header, { headers: { "tagrelay-debug": "not-the-token" } });
  assert.equal(wrong.res.headers.get("tagrelay-debug"), null);
  const untracked = await view(null, { headers: { "tagrelay-debug": DEBUG_TOKEN } });
  assert.deepEqual(JSON.parse(untracked.res.headers.get("tagrelay-debug")), { decision: "untracked", reason: "the response has no Worker-Tracking header" });
  const bot = await view(header, { headers: { "tagrelay-debug": DEBUG_TOKEN, "user-agent": "Googlebot/2.1" } });
  assert.equal(JSON.parse(bot.res.headers.get("tagrelay-debug")).decision, "skipped");

  const noSecret = await start({ DEBUG_TOKEN: undefined });
  try {
    const none = await view(header, { w: noSecret, headers: { "tagrelay-debug": DEBUG_TOKEN } });
    assert.equal(none.res.headers.get("tagrelay-debug"), null, "without the secret nothing is echoed");
    assert.equal(origin.lastHeaders["tagrelay-debug"], undefined);
  } finally {
    await noSecret.close();
  }
});

test("batched: Meta and TikTok get one request per window, GA4 one per page view, a full GA4 batch holds up no other", async () => {
  const batched = await start({ BATCH_WINDOW_MS: "400" });
  try {
    const metaBefore = graph.requests.length;
    const ttBefore = tiktok.requests.length;
    const views = await Promise.all(Array.from({ length: 10 }, () => view({ event_name: "ViewContent" }, { w: batched, cookie: "_ga=GA1.1.11.22; _fbp=fb.1.1764600000000.5" })));
    for (const { path } of views) await delivered(path);
    const metaRequests = graph.requests.slice(metaBefore);
    const ttRequests = tiktok.requests.slice(ttBefore);
    assert.equal(metaRequests.flatMap((r) => r.json.data).length, 10);
    assert.equal(metaRequests.length, 1, "GA4's sends (every 8 page views) did not take Meta's batch early");
    assert.equal(ttRequests.length, 1);
    for (const { path } of views) assert.equal(ga4Requests(path).length, 1, "one GA4 request per page view");
    const sent = batched.lines().filter((l) => l.decision === "sent" && l.destination === "meta");
    assert.ok(sent.every((l) => l.batch_page_views === 10), "each page view's line names the shared request");
  } finally {
    await batched.close();
  }
});

test("batched over time: the window GA4 opens after each of its sends does not cut Meta's and TikTok's batches short", async () => {
  // A page view every 50 ms for ~2.2 s, windows of 1 s: Meta's and TikTok's batches close when
  // their own windows do (3 requests each). GA4 fills every 8 page views, and the page view
  // after each fill opens a GA4 window whose timer must send GA4's batch alone.
  const WINDOW_MS = 1000;
  const batched = await start({ BATCH_WINDOW_MS: String(WINDOW_MS) });
  try {
    const metaBefore = graph.requests.length;
    const ttBefore = tiktok.requests.length;
    const started = Date.now();
    const views = [];
    for (let i = 0; i < 44; i++) {
      views.push(await view({ event_name: "ViewContent" }, { w: batched, cookie: "_ga=GA1.1.11.22; _fbp=fb.1.1764600000000.5" }));
      await new Promise((r) => setTimeout(r, Math.max(0, started + (i + 1) * 50 - Date.now())));
    }
    const spanMs = Date.now() - started;
    for (const { path } of views) await delivered(path);
    const metaRequests = graph.requests.slice(metaBefore);
    const ttRequests = tiktok.requests.slice(ttBefore);
    assert.equal(metaRequests.flatMap((r) => r.json.data).length, 44);
    assert.equal(ttRequests.flatMap((r) => r.json.data).length, 44);
    // Each window lasts WINDOW_MS and the next opens with the first page view after it closed,
    // so at most this many open within the span: one request each.
    const most = Math.floor(spanMs / WINDOW_MS) + 1;
    assert.ok(metaRequests.length <= most, `Meta got ${metaRequests.length} requests in ${spanMs} ms of 1 s windows (at most ${most}): GA4's windows sent its batch early`);
    assert.ok(ttRequests.length <= most, `TikTok got ${ttRequests.length} requests in ${spanMs} ms (at most ${most})`);
    for (const { path } of views) assert.equal(ga4Requests(path).length, 1, "one GA4 request per page view");
  } finally {
    await batched.close();
  }
});
