// Events that match and never double-count (issue 29): the event ids written into the page for
// the browser pixel (PIXEL_EVENT_IDS), order-stable ids, and contents items without an id.
// The built Worker in workerd in front of a real origin, with Meta and TikTok mocks recording
// every request, so the ids in the page are compared with the ids the platforms received.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startGraph, startWorker, readBody, waitFor, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

const TIKTOK_CODE = "CTEST0PIXEL1";
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
  worker = await startWorker({ ...vars, PIXEL_EVENT_IDS: "on" });
  plain = await startWorker(vars);
});
after(async () => { await worker?.close(); await plain?.close(); origin?.close(); graph?.close(); tiktok?.close(); });

let n = 0;
/** One request for `/p/<n>`, the origin answering `answer`. */
async function view(answer, { w = worker, method = "GET", ua = BROWSER_UA } = {}) {
  page = answer;
  const path = `/p/${++n}`;
  const res = await w.mf.dispatchFetch(`https://www.spesati.it${path}`, { method, headers: { "user-agent": ua, "cf-connecting-ip": "203.0.113.7" }, cf: { country: "US" } });
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
