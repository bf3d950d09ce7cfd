// Conversions and revenue on the stats page (issue 30) in workerd with a real local D1: three
// visitors from three sources, two purchases in two currencies, a reloaded and a replayed
// order page, a bot's purchase, events with no page view, the previous period, the CSV,
// auth and bad parameters, and the dashboard in headless Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, startWorker, request, waitFor, dumpDom } from "./harness.mjs";

const STATS_TOKEN = "stats-token-for-conversions-0123456789";
const BEARER = { authorization: `Bearer ${STATS_TOKEN}` };
const SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const DAY_MS = 86_400_000;
const today = () => new Date().toISOString().slice(0, 10);
const dayNumber = () => Math.floor(Date.now() / DAY_MS);

// The orders the thank-you pages declare: an order id, a value and a currency.
const ORDERS = { "A-1": [59.98, "EUR"], "B-2": [100, "USD"], "C-3": [5, "EUR"] };

let origin;

/** A shop: pages, a product page (ViewContent), thank-you pages (Purchase), a lead form. */
function shop(req, res) {
  const url = new URL(req.url, "http://shop");
  const headers = { "content-type": "text/html; charset=utf-8" };
  let event;
  if (url.pathname === "/product") event = { event_name: "ViewContent", custom_data: { content_ids: ["p1"], value: 12.5, currency: "EUR" } };
  const order = url.pathname.match(/^\/thanks\/(.+)$/)?.[1];
  if (order) {
    const [value, currency] = ORDERS[order];
    event = { event_name: "Purchase", custom_data: { order_id: order, value, currency } };
  }
  // A shared cache's copy of the order page (what a CDN replays).
  if (url.searchParams.has("cached")) headers.age = "120";
  if (url.pathname === "/lead") {
    headers["content-type"] = "application/json";
    event = { event_name: "Lead" };
  }
  if (event) headers["worker-tracking"] = JSON.stringify(event);
  res.writeHead(200, headers).end(url.pathname === "/lead" ? "{}" : `<!doctype html><title>${url.pathname}</title><p>${url.pathname}</p>`);
}

before(async () => {
  origin = await startServer(shop);
});

after(() => origin?.close());

const vars = (extra = {}) => ({ ORIGIN_URL: origin.url, STATS_TOKEN, STATS_FLUSH_MS: "100", DRY_RUN: "true", ...extra });

async function get(w, p, headers = BEARER) {
  const res = await request(w.url, `/_tagrelay${p}`, { headers });
  return { status: res.status, type: res.headers["content-type"], body: res.body.toString() };
}

async function conversions(w, query = `from=${today()}&to=${today()}`) {
  const res = await get(w, `/api/conversions?${query}`);
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body);
}

/** Three visitors from three sources, their events, a bot and a visitor with no page view. */
async function shopping(w) {
  const visit = (ip, ua, p, referer, extra = {}) => request(w.url, p, { method: extra.method, body: extra.body, headers: { "cf-connecting-ip": ip, "user-agent": ua, referer }, cf: { country: "IT" } });
  const self = (p) => `${w.url}${p}`;
  // From Google: a product, an order in euros, the order page reloaded and replayed from a cache.
  await visit("203.0.113.21", SAFARI, "/product", "https://www.google.com/");
  await visit("203.0.113.21", SAFARI, "/thanks/A-1", self("/product"));
  await visit("203.0.113.21", SAFARI, "/thanks/A-1", self("/product"));
  await visit("203.0.113.21", SAFARI, "/thanks/A-1?cached=1", self("/product"));
  // From a Facebook ad of the xmas campaign: an order in dollars.
  await visit("203.0.113.22", IPHONE, "/?utm_source=facebook&utm_campaign=xmas", "https://l.facebook.com/");
  await visit("203.0.113.22", IPHONE, "/thanks/B-2", self("/"));
  // Direct: a product, then a lead form posted (no page view).
  await visit("203.0.113.23", CHROME, "/");
  await visit("203.0.113.23", CHROME, "/product", self("/"));
  await visit("203.0.113.23", CHROME, "/lead", self("/product"), { method: "POST", body: "email=x" });
  // A lead from a visitor whose page views were never counted: source unknown.
  await visit("203.0.113.24", CHROME, "/lead", undefined, { method: "POST", body: "email=y" });
  // A crawler's order page: never counted.
  await visit("66.249.66.1", GOOGLEBOT, "/thanks/C-3");
}

/** Waits until the flushes have written `events` events of today. */
async function settled(w, events) {
  await waitFor(async () => (await conversions(w)).events.reduce((n, e) => n + e.events, 0) >= events, 20_000);
  // One more flush period: nothing more may arrive.
  await new Promise((r) => setTimeout(r, 400));
}

test("conversions: exact events, visitors, rates and revenue per event and per source of the day; a reloaded or replayed order counts once; bots and no-page-view visitors as documented", { timeout: 60_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  try {
    await shopping(w);
    await settled(w, 6);
    const r = await conversions(w);
    assert.equal(r.from, today());
    assert.equal(r.visitors, 3, "visitors with a page view: the Google, Facebook and direct ones");
    const event = (name) => r.events.find((e) => e.event_name === name);
    assert.deepEqual(event("Purchase"), { event_name: "Purchase", events: 2, visitors: 2, conversion_rate: 0.6667, revenue: [{ currency: "EUR", value: 59.98 }, { currency: "USD", value: 100 }] });
    assert.deepEqual(event("ViewContent"), { event_name: "ViewContent", events: 2, visitors: 2, conversion_rate: 0.6667, revenue: [{ currency: "EUR", value: 25 }] });
    assert.deepEqual(event("Lead"), { event_name: "Lead", events: 2, visitors: 2, conversion_rate: 0.6667, revenue: [] });
    assert.equal(r.events.length, 3, "the crawler's order is not counted");
    const source = (name, ev) => r.sources.find((s) => s.source === name && s.event_name === ev);
    assert.deepEqual(source("google.com", "Purchase"), {
      source: "google.com", medium: null, campaign: null, event_name: "Purchase", events: 1, visitors: 1,
      revenue: [{ currency: "EUR", value: 59.98 }], source_visitors: 1, conversion_rate: 1,
    });
    assert.deepEqual([source("facebook", "Purchase").campaign, source("facebook", "Purchase").revenue], ["xmas", [{ currency: "USD", value: 100 }]]);
    assert.equal(source("(direct)", "Lead").events, 1, "the direct visitor's lead, from a POST with no page view of its own");
    assert.deepEqual([source("(unknown)", "Lead").events, source("(unknown)", "Lead").conversion_rate], [1, null], "a visitor with no page view counted");
    assert.equal(source("google.com", "ViewContent").events, 1);
    assert.deepEqual(r.days, [
      { date: today(), event_name: "Lead", events: 2, revenue: [] },
      { date: today(), event_name: "Purchase", events: 2, revenue: [{ currency: "EUR", value: 59.98 }, { currency: "USD", value: 100 }] },
      { date: today(), event_name: "ViewContent", events: 2, revenue: [{ currency: "EUR", value: 25 }] },
    ]);
    assert.deepEqual([r.orders, r.revenue], [2, [{ currency: "EUR", value: 59.98 }, { currency: "USD", value: 100 }]]);

    // The same order page reloaded much later (a new flush): still one order.
    await request(w.url, "/thanks/A-1", { headers: { "cf-connecting-ip": "203.0.113.21", "user-agent": SAFARI } });
    await waitFor(() => w.lines().filter((l) => l.decision === "stats_flushed").length >= 2, 10_000);
    await new Promise((res) => setTimeout(res, 500));
    assert.equal((await conversions(w)).events.find((e) => e.event_name === "Purchase").events, 2, "a late reload of the order page counts once");

    // Nothing personal in the rows: no IP, no User-Agent.
    const rows = JSON.stringify((await w.db.prepare("SELECT * FROM stats_conversions").all()).results);
    assert.ok(!rows.includes("203.0.113") && !rows.includes("Safari"), rows);
  } finally {
    await w.close();
  }
});

test("previous period: /api/stats and /api/conversions give the totals of the period of equal length before", { timeout: 60_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  try {
    const yesterday = dayNumber() - 1;
    const insert = (sql, ...params) => w.db.prepare(sql).bind(...params).run();
    await insert("INSERT INTO stats_daily (dim, day, value, pageviews, visitors) VALUES ('total', ?1, '', 7, 5)", yesterday);
    await insert("INSERT INTO stats_daily (dim, day, value, pageviews, visitors) VALUES ('total', ?1, '', 100, 90)", yesterday - 1);
    await insert("INSERT INTO stats_conversions (day, event, source, medium, campaign, currency, events, visitors, revenue) VALUES (?1, 'Purchase', 'google.com', '', '', '', 1, 1, 0)", yesterday);
    await insert("INSERT INTO stats_conversions (day, event, source, medium, campaign, currency, events, visitors, revenue) VALUES (?1, 'Purchase', 'google.com', '', '', 'EUR', 1, 0, 5000)", yesterday);
    await shopping(w);
    await settled(w, 6);
    const stats = JSON.parse((await get(w, `/api/stats?from=${today()}&to=${today()}`)).body);
    const yesterdayDate = new Date(yesterday * DAY_MS).toISOString().slice(0, 10);
    assert.deepEqual(stats.previous, { from: yesterdayDate, to: yesterdayDate, pageviews: 7, visitors: 5, views_per_visit: 1.4 });
    assert.equal(stats.visitors, 3);
    const conv = await conversions(w);
    assert.deepEqual(conv.previous, { from: yesterdayDate, to: yesterdayDate, orders: 1, revenue: [{ currency: "EUR", value: 5 }] });
    const two = JSON.parse((await get(w, `/api/stats?from=${yesterdayDate}&to=${today()}`)).body);
    assert.deepEqual([two.previous.pageviews, two.previous.visitors], [100, 90], "two days against the two before");
  } finally {
    await w.close();
  }
});

test("the conversions CSV: one RFC 4180 record per day, event, source of the day and currency", { timeout: 60_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  try {
    await shopping(w);
    await settled(w, 6);
    const res = await get(w, `/export-conversions.csv?from=${today()}&to=${today()}`);
    assert.equal(res.status, 200);
    assert.equal(res.type, "text/csv; charset=utf-8");
    const d = today();
    assert.equal(res.body, [
      "date,event_name,source,medium,campaign,events,visitors,currency,revenue",
      `${d},Lead,(direct),,,1,1,,`,
      `${d},Lead,(unknown),,,1,1,,`,
      `${d},Purchase,facebook,,xmas,1,1,USD,100.00`,
      `${d},Purchase,google.com,,,1,1,EUR,59.98`,
      `${d},ViewContent,(direct),,,1,1,EUR,12.50`,
      `${d},ViewContent,google.com,,,1,1,EUR,12.50`,
      "",
    ].join("\r\n"));
  } finally {
    await w.close();
  }
});

test("conversions endpoints: no token 401 with no detail; bad dates and reversed or over-long ranges 400 with a reason", { timeout: 30_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  try {
    for (const p of ["/api/conversions", "/export-conversions.csv"]) {
      const none = await get(w, p, {});
      assert.deepEqual([none.status, none.body], [401, "Unauthorized\n"]);
      assert.equal((await get(w, p, { authorization: "Bearer wrong" })).status, 401);
      const bad = await get(w, `${p}?from=2025-02-30`);
      assert.deepEqual([bad.status, bad.body], [400, "Bad Request: from must be a date written YYYY-MM-DD\n"]);
      assert.equal((await get(w, `${p}?from=2025-12-02&to=2025-12-01`)).status, 400);
      assert.match((await get(w, `${p}?from=2020-01-01&to=2025-12-01`)).body, /^Bad Request: the range is \d+ days/);
    }
    const empty = await conversions(w);
    assert.deepEqual([empty.events, empty.sources, empty.days, empty.orders], [[], [], [], 0]);
  } finally {
    await w.close();
  }
});

test("the dashboard in headless Chromium shows the conversions, the sources that sell and revenue per day", { timeout: 90_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tagrelay-chromium-"));
  try {
    await shopping(w);
    await settled(w, 6);
    const port = new URL(w.url).port;
    const dom = await dumpDom(`http://owner:${STATS_TOKEN}@127.0.0.1:${port}/_tagrelay/?range=today`, profile);
    assert.match(dom, /data-event="Purchase" data-value="2">2</);
    assert.match(dom, /data-rate="Purchase">66\.7%</);
    assert.match(dom, /data-revenue="Purchase">59\.98 EUR · 100\.00 USD</);
    assert.match(dom, /data-orders="facebook \/ xmas" data-value="1">1</);
    assert.match(dom, /data-orders="google\.com" data-value="1">1</);
    assert.match(dom, /data-stat="orders" data-value="2">2</);
    assert.match(dom, new RegExp(`data-day-orders="${today()}">2<`));
    assert.match(dom, /data-delta="pageviews"[^>]*>new</, "nothing the day before");
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
    await w.close();
  }
});
