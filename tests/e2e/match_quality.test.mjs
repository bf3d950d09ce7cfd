// Events that match and never double-count (issue 29): the event ids written into the page for
// the browser pixel (PIXEL_EVENT_IDS), order-stable ids, and contents items without an id.
// The built Worker in workerd in front of a real origin, with Meta and TikTok mocks recording
// every request, so the ids in the page are compared with the ids the platforms received.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, startGraph, startWorker, readBody, request, waitFor, dumpDom, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

const TIKTOK_CODE = "CTEST0PIXEL1";
const UD_SECRET = "user-data-secret-0123456789abcdef-do-not-log";
const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const BLOCK = /<script type="application\/json" id="tagrelay-events">(.*?)<\/script>/;
const HEAD_PAGE = '<!doctype html>\n<html lang="it"><head><meta charset="utf-8"><title>Pecorino</title></head><body><h1>Pecorino Sardo</h1>\n<p>€ 12,50 — “buono”</p></body></html>\n';
const BODY_ONLY = "<!doctype html><body class=x><p>no head here</p></body>";

let origin, graph, tiktok, worker, plain;
// What the origin answers next: { header, body, type, status, headers }.
let page = {};

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    const headers = { "content-type": page.type ?? "text/html; charset=utf-8", "cache-control": "public, max-age=300", etag: '"v1"', ...page.headers };
    if (page.header) headers["worker-tracking"] = JSON.stringify(page.header);
    res.writeHead(page.status ?? 200, headers);
    res.end(req.method === "HEAD" ? undefined : page.body ?? HEAD_PAGE);
  });
  graph = await startGraph();
  tiktok = await startGraph();
  tiktok.defaultReply = () => ({ status: 200, body: { code: 0, message: "OK", request_id: "tt", data: {} } });
  const vars = {
    ORIGIN_URL: origin.url,
    META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url,
    TIKTOK_PIXEL_CODE: TIKTOK_CODE, TIKTOK_ACCESS_TOKEN: "tiktok-token", TIKTOK_API_BASE: tiktok.url,
    BATCH_WINDOW_MS: "0",
  };
  worker = await startWorker({ ...vars, PIXEL_EVENT_IDS: "on", USER_DATA_COOKIE: "on", USER_DATA_COOKIE_SECRET: UD_SECRET });
  plain = await startWorker(vars);
});
after(async () => { await worker?.close(); await plain?.close(); origin?.close(); graph?.close(); tiktok?.close(); });

let n = 0;
/** One request for `/p/<n>`, the origin answering `answer`. */
async function view(answer, { w = worker, method = "GET", ua = BROWSER_UA, cookie, country = "US" } = {}) {
  page = answer;
  const path = `/p/${++n}`;
  const headers = { "user-agent": ua, "cf-connecting-ip": "203.0.113.7" };
  if (cookie !== undefined) headers.cookie = cookie;
  const res = await w.mf.dispatchFetch(`https://www.spesati.it${path}`, { method, headers, cf: { country } });
  return { res, body: await res.text(), path };
}

const pathOf = (url) => new URL(url).pathname;
const metaIds = (path) => graph.requests.flatMap((r) => r.json?.data ?? []).filter((e) => pathOf(e.event_source_url) === path).map((e) => e.event_id);
const tiktokIds = (path) => tiktok.requests.flatMap((r) => r.json?.data ?? []).filter((e) => pathOf(e.page.url) === path).map((e) => e.event_id);
const blockOf = (body) => JSON.parse(body.match(BLOCK)[1]);

test("the page tells the pixel exactly the ids Meta and TikTok received, at the start of <head>", async () => {
  const header = [{ event_name: "ViewContent", custom_data: { content_ids: ["p1"] } }, { event_name: "AddToCart", event_id: "cart-1" }];
  const { res, body, path } = await view({ header });
  assert.equal(res.status, 200);
  const block = body.match(BLOCK);
  assert.ok(block, body);
  assert.ok(body.startsWith('<!doctype html>\n<html lang="it"><head><script type="application/json" id="tagrelay-events">'), body);
  assert.equal(body.replace(block[0], ""), HEAD_PAGE, "minus the block, the origin's bytes");
  const events = blockOf(body);
  assert.deepEqual(events.map((e) => e.event_name), ["ViewContent", "AddToCart"]);
  assert.equal(events[1].event_id, "cart-1");
  await waitFor(() => metaIds(path).length === 2 && tiktokIds(path).length === 2, 6000, "Meta and TikTok events");
  assert.deepEqual(metaIds(path), events.map((e) => e.event_id));
  assert.deepEqual(tiktokIds(path), events.map((e) => e.event_id));
  assert.equal(res.headers.get("cache-control"), "private, max-age=300", "the page holds this visitor's ids");
  assert.equal(res.headers.get("etag"), 'W/"v1"');
  assert.equal(res.headers.get("worker-tracking"), null);
});

test("a cache replay gets fresh ids in the page, the same the platforms got", async () => {
  const header = { event_name: "ViewContent", event_id: "filled-by-someone-else" };
  const { body, path } = await view({ header, headers: { "cf-cache-status": "HIT", age: "30" } });
  const [event] = blockOf(body);
  assert.notEqual(event.event_id, "filled-by-someone-else");
  await waitFor(() => metaIds(path).length === 1 && tiktokIds(path).length === 1, 6000, "events");
  assert.deepEqual([metaIds(path)[0], tiktokIds(path)[0]], [event.event_id, event.event_id]);
});

test("a page without <head> gets the block at the start of <body>", async () => {
  const { body } = await view({ header: { event_name: "PageView" }, body: BODY_ONLY });
  assert.ok(body.startsWith('<!doctype html><body class=x><script type="application/json" id="tagrelay-events">[{"event_id":'), body);
  assert.equal(body.replace(body.match(BLOCK)[0], ""), BODY_ONLY);
});

test("untracked pages, bots, HEAD, JSON and errors are untouched byte for byte, and so is every page when it is off", async () => {
  const untracked = await view({});
  assert.equal(untracked.body, HEAD_PAGE);
  assert.equal(untracked.res.headers.get("etag"), '"v1"');
  const bot = await view({ header: { event_name: "PageView" } }, { ua: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" });
  assert.equal(bot.body, HEAD_PAGE);
  const json = await view({ header: { event_name: "PageView" }, type: "application/json", body: '{"html":"<head></head>"}' });
  assert.equal(json.body, '{"html":"<head></head>"}');
  const head = await view({ header: { event_name: "PageView" } }, { method: "HEAD" });
  assert.equal(head.body, "");
  const notFound = await view({ header: { event_name: "PageView" }, status: 404 });
  assert.equal(notFound.body, HEAD_PAGE);
  const off = await view({ header: { event_name: "PageView" } }, { w: plain });
  assert.equal(off.body, HEAD_PAGE, "PIXEL_EVENT_IDS is off by default");
  assert.equal(off.res.headers.get("etag"), '"v1"');
});

test("a reloaded order page sends the same event id every time, and the page says it", async () => {
  const header = { event_name: "Purchase", custom_data: { order_id: "A-1001", value: 24, currency: "EUR" } };
  const first = await view({ header });
  const again = await view({ header });
  const replayed = await view({ header, headers: { "cf-cache-status": "HIT" } });
  await waitFor(() => [first, again, replayed].every((v) => metaIds(v.path).length === 1 && tiktokIds(v.path).length === 1), 6000, "three purchases");
  const ids = [first, again, replayed].flatMap((v) => [...metaIds(v.path), ...tiktokIds(v.path), blockOf(v.body)[0].event_id]);
  assert.equal(new Set(ids).size, 1, `one id: ${ids}`);
  assert.match(ids[0], /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("a contents item without an id is never sent", async () => {
  const header = [
    { event_name: "AddToCart", event_id: "trim-1", contents: [{ id: "p1", quantity: 1 }, { quantity: 2, item_price: 3 }] },
    { event_name: "Purchase", event_id: "none-left-1", contents: [{ quantity: 1 }] },
  ];
  const { path, body } = await view({ header });
  await waitFor(() => metaIds(path).length === 1 && tiktokIds(path).length === 1, 6000, "the AddToCart");
  const meta = graph.requests.flatMap((r) => r.json?.data ?? []).find((e) => e.event_id === "trim-1");
  assert.deepEqual(meta.custom_data.contents, [{ id: "p1", quantity: 1 }]);
  const tt = tiktok.requests.flatMap((r) => r.json?.data ?? []).find((e) => e.event_id === "trim-1");
  assert.deepEqual(tt.properties.contents.map((c) => c.content_id), ["p1"]);
  assert.deepEqual(blockOf(body).map((e) => e.event_id), ["trim-1"], "the unsent Purchase is not in the page either");
  const trimmed = await worker.line((l) => l.decision === "trimmed" && l.path === path);
  assert.equal(trimmed.level, "warn");
  assert.deepEqual([trimmed.field, trimmed.event_ids, trimmed.left_out], ["custom_data.contents", ["trim-1"], 1]);
  const rejected = worker.lines().filter((l) => l.decision === "rejected" && l.path === path);
  assert.deepEqual(rejected.map((l) => l.destination).sort(), ["meta", "tiktok"]);
  assert.ok(rejected.every((l) => l.event_ids[0] === "none-left-1" && l.reason.startsWith("custom_data.contents: none of its 1 items has an id")));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!graph.requests.some((r) => JSON.stringify(r.json).includes("none-left-1")), "the Purchase never left");
});

const metaEvent = (path) => graph.requests.flatMap((r) => r.json?.data ?? []).find((e) => pathOf(e.event_source_url) === path);
const tiktokEvent = (path) => tiktok.requests.flatMap((r) => r.json?.data ?? []).find((e) => pathOf(e.page.url) === path);
const keptCookie = (res) => res.headers.getSetCookie().find((c) => c.startsWith("_tr_ud="));

test("match keys are kept in a signed HttpOnly cookie and carried by the next event", async () => {
  const purchase = { event_name: "Purchase", event_id: "ud-order-1", user_data: { em: " Ann.Rossi@Example.COM ", ph: "+39 333 123 4567", external_id: "u-42" } };
  const bought = await view({ header: purchase });
  const set = keptCookie(bought.res);
  assert.ok(set, bought.res.headers.getSetCookie().join("\n"));
  assert.match(set, /^_tr_ud=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Max-Age=2592000; Path=\/; Domain=spesati\.it; SameSite=Lax; Secure; HttpOnly$/);
  assert.ok(!set.includes("Ann") && !set.includes("333"), "only hashes");
  assert.equal(bought.res.headers.get("cache-control"), "private, max-age=300");
  const cookie = set.split(";")[0];
  const later = await view({ header: { event_name: "ViewContent", event_id: "ud-view-1" } }, { cookie });
  assert.equal(keptCookie(later.res), undefined, "nothing new to keep");
  await waitFor(() => metaEvent(later.path) && tiktokEvent(later.path), 6000, "the later events");
  // Meta's SDK hashes: trimmed, lowercase e-mail; the phone's digits with the country code.
  const meta = metaEvent(later.path).user_data;
  assert.deepEqual([meta.em, meta.ph, meta.external_id], [[sha256("ann.rossi@example.com")], [sha256("393331234567")], [sha256("u-42")]]);
  const tt = tiktokEvent(later.path).user;
  assert.deepEqual([tt.email, tt.phone, tt.external_id], [sha256("ann.rossi@example.com"), sha256("+393331234567"), sha256("u-42")]);
  const replay = await view({ header: purchase, headers: { "cf-cache-status": "HIT" } });
  assert.equal(keptCookie(replay.res), undefined, "a cache replay never sets it");
  const bot = await view({ header: purchase }, { ua: "Googlebot/2.1 (+http://www.google.com/bot.html)" });
  assert.equal(keptCookie(bot.res), undefined, "bots never get it");

  const [payload, signature] = cookie.slice("_tr_ud=".length).split(".");
  const forged = `_tr_ud=${payload.slice(0, -2)}${payload.slice(-2) === "fQ" ? "fA" : "fQ"}.${signature}`;
  const tampered = await view({ header: { event_name: "ViewContent" } }, { cookie: forged });
  await waitFor(() => metaEvent(tampered.path), 6000, "the tampered visitor's event");
  assert.equal(metaEvent(tampered.path).user_data.em, undefined, "a tampered cookie is ignored");
  const ignored = await worker.line((l) => l.decision === "user_data_ignored");
  assert.equal(ignored.level, "warn");
  assert.ok(!JSON.stringify(ignored).includes(payload) && !JSON.stringify(worker.lines()).includes(UD_SECRET), "never its value, never the secret");

  const denied = await view({ header: { event_name: "ViewContent" } }, { cookie: `${cookie}; cmplz_marketing=deny`, country: "IT" });
  assert.equal(keptCookie(denied.res), "_tr_ud=; Max-Age=0; Path=/; Domain=spesati.it; SameSite=Lax; Secure; HttpOnly", "an explicit denial expires it");
});

test("USER_DATA_COOKIE=on without its secret is a configuration error naming it; pages are served", async () => {
  const w = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "0", USER_DATA_COOKIE: "on" });
  try {
    const { res, body } = await view({ header: { event_name: "Purchase", user_data: { em: "a@b.co" } } }, { w });
    assert.equal(res.status, 200);
    assert.equal(body, HEAD_PAGE);
    assert.equal(keptCookie(res), undefined);
    const line = await w.line((l) => l.decision === "disabled" && l.feature === "user_data_cookie");
    assert.match(line.reason, /^USER_DATA_COOKIE_SECRET is not set, and USER_DATA_COOKIE=on needs it/);
  } finally {
    await w.close();
  }
});

test("the match API counts exactly the keys the platforms received, and the stats page shows their shares", { timeout: 90_000 }, async () => {
  const STATS_TOKEN = "stats-token-for-match-tests-0123456";
  const ga4 = await startGraph();
  ga4.defaultReply = () => ({ status: 204, body: "" });
  const w = await startWorker({
    ORIGIN_URL: origin.url,
    META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url,
    TIKTOK_PIXEL_CODE: TIKTOK_CODE, TIKTOK_ACCESS_TOKEN: "tiktok-token", TIKTOK_API_BASE: tiktok.url,
    GA4_MEASUREMENT_ID: "G-MATCH1", GA4_API_SECRET: "ga4-secret", GA4_API_BASE: ga4.url,
    BATCH_WINDOW_MS: "0", STATS_TOKEN, STATS_FLUSH_MS: "300",
  }, { d1: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tagrelay-chromium-"));
  try {
    graph.reset();
    tiktok.reset();
    const views = [
      // A returning buyer: _fbp and _ga, an e-mail in the header.
      [{ event_name: "Purchase", event_id: "m-1", user_data: { em: "ann@example.com", external_id: "u-1" } }, { cookie: "_fbp=fb.1.1700000000000.42; _ga=GA1.1.111.222; _ga_MATCH1=GS2.1.s1700000000$o1" }],
      // A new visitor from a Meta ad: _fbp and _ga minted at the edge, fbc from the fbclid.
      [{ event_name: "ViewContent", event_id: "m-2" }, { query: "?fbclid=IwAR-match" }],
      // A TikTok ad click, no cookies.
      [{ event_name: "ViewContent", event_id: "m-3" }, { query: "?ttclid=E.C.P.match" }],
    ];
    for (const [header, { cookie, query = "" }] of views) {
      page = { header };
      const headers = { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.7" };
      if (cookie) headers.cookie = cookie;
      const res = await w.mf.dispatchFetch(`https://www.spesati.it/m/${++n}${query}`, { headers, cf: { country: "US" } });
      await res.text();
    }
    const sentTo = (mock, list) => mock.requests.flatMap(list).filter((e) => ["m-1", "m-2", "m-3"].includes(e.event_id));
    await waitFor(() => sentTo(graph, (r) => r.json?.data ?? []).length === 3 && sentTo(tiktok, (r) => r.json?.data ?? []).length === 3 && ga4.requests.length === 3, 8000, "every event at every mock");
    const today = new Date().toISOString().slice(0, 10);
    const api = async () => JSON.parse((await request(w.url, `/_tagrelay/api/match?from=${today}&to=${today}`, { headers: { authorization: `Bearer ${STATS_TOKEN}` } })).body);
    const report = await waitFor(async () => { const r = await api(); return r.destinations.length === 3 && r; }, 10_000, "the match counts flushed");
    const of = (name) => report.destinations.find((d) => d.destination === name);
    // What the mocks received, key by key.
    const metaEvents = sentTo(graph, (r) => r.json?.data ?? []);
    const metaKeys = ["em", "ph", "external_id", "fn", "ln", "ct", "st", "zp", "country", "fbp", "fbc", "client_ip_address", "client_user_agent"];
    assert.equal(of("meta").events, 3);
    for (const key of metaKeys) assert.equal(of("meta").keys[key], metaEvents.filter((e) => e.user_data[key] !== undefined).length, `meta ${key}`);
    assert.deepEqual([of("meta").keys.em, of("meta").keys.fbp, of("meta").keys.fbc], [1, 3, 1]);
    const ttEvents = sentTo(tiktok, (r) => r.json?.data ?? []);
    for (const key of ["email", "phone", "external_id", "ttp", "ttclid", "ip", "user_agent"]) {
      assert.equal(of("tiktok").keys[key], ttEvents.filter((e) => e.user[key] !== undefined).length, `tiktok ${key}`);
    }
    assert.equal(of("tiktok").keys.ttclid, 1);
    const ga = of("ga4");
    assert.equal(ga.events, 3);
    assert.deepEqual([ga.keys.client_id, ga.keys.client_id_minted, ga.keys.session_id, ga.keys.user_data], [1, 2, 1, 1]);
    assert.equal(ga4.requests.filter((r) => r.json.user_data).length, 1);
    assert.equal(of("meta").by_event.find((e) => e.event === "Purchase").keys.em, 1);

    const port = new URL(w.url).port;
    const dom = await dumpDom(`http://owner:${STATS_TOKEN}@127.0.0.1:${port}/_tagrelay/?range=today`, profile);
    const share = (dest, key) => dom.match(new RegExp(`data-match="${dest}" data-key="${key}" data-value="(\\d+)">(\\d+)%<`))?.slice(1).map(Number);
    assert.deepEqual(share("meta", "em"), [33, 33]);
    assert.deepEqual(share("meta", "fbp"), [100, 100]);
    assert.deepEqual(share("tiktok", "ttclid"), [33, 33]);
    assert.ok(dom.includes("em ★") && dom.includes("fbc ★") && !dom.includes("email ★"), "Meta's weighted keys are marked");
    assert.ok(dom.includes('data-match-events="ga4" data-value="3"'));
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
    ga4.close();
    await w.close();
  }
});
