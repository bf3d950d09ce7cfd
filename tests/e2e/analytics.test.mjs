// Page-view analytics (issue 13) in workerd with a real local D1: what counts, what the API,
// the CSV and the dashboard (in headless Chromium) say, auth, a D1 outage, the cron, and
// that nothing personal lands in the database file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, startWorker, request, waitFor, dumpDom } from "./harness.mjs";

const STATS_TOKEN = "stats-token-for-tests-0123456789";
const BEARER = { authorization: `Bearer ${STATS_TOKEN}` };
const basic = (user, password) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

const SAFARI_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const IPAD = "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

const DAY_MS = 86_400_000;
const today = () => new Date().toISOString().slice(0, 10);

let origin;

/** The demo-like origin: pages, a 404, an image, JSON, a redirect, one tracked page. */
function shop(req, res) {
  origin.seen.push(req.url);
  const path = req.url.split("?")[0];
  if (path === "/missing") return res.writeHead(404, { "content-type": "text/html" }).end("<p>not here</p>");
  if (path === "/img.png") return res.writeHead(200, { "content-type": "image/png" }).end(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  if (path === "/api.json") return res.writeHead(200, { "content-type": "application/json" }).end("{}");
  if (path === "/redirect") return res.writeHead(302, { location: "/page/a" }).end();
  const headers = { "content-type": "text/html; charset=utf-8" };
  if (path === "/page/d") headers["worker-tracking"] = JSON.stringify({ event_name: "ViewContent", event_id: "an-d-1" });
  res.writeHead(200, headers).end(`<p>${path}</p>`);
}

before(async () => {
  origin = await startServer(shop);
  origin.seen = [];
});

after(() => origin?.close());

const vars = (extra = {}) => ({ ORIGIN_URL: origin.url, STATS_TOKEN, STATS_FLUSH_MS: "100", ...extra });

/** Sum of page views in the worker's `stats_flushed` lines. */
const flushed = (w) => w.lines().filter((l) => l.decision === "stats_flushed").reduce((n, l) => n + l.page_views, 0);

async function stats(w, query = `from=${today()}&to=${today()}`, headers = BEARER) {
  const res = await request(w.url, `/_tagrelay/api/stats?${query}`, { headers });
  assert.equal(res.status, 200, res.body.toString());
  return JSON.parse(res.body);
}

const byKey = (rows, key) => Object.fromEntries(rows.map((r) => [r[key], [r.pageviews, r.visitors]]));

/** Every file under `dir`, concatenated (the local D1's SQLite files and journals). */
function allBytes(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(fs.readFileSync(path.join(entry.parentPath ?? entry.path, entry.name)));
  }
  return Buffer.concat(out);
}

/** Eight counted page views by four visitors, and a dozen requests that must not count. */
async function browse(w) {
  const visit = (ip, ua, country, p, referer, extra = {}) =>
    request(w.url, p, { ...extra, headers: { "cf-connecting-ip": ip, "user-agent": ua, referer, ...extra.headers }, cf: country ? { country } : {} });
  const self = (p) => `${w.url}${p}`;
  // v1: Safari on a Mac in Italy; the second /page/a within 10 s is a reload.
  await visit("203.0.113.11", SAFARI_MAC, "IT", "/page/a");
  await visit("203.0.113.11", SAFARI_MAC, "IT", "/page/b", self("/page/a"));
  await visit("203.0.113.11", SAFARI_MAC, "IT", "/page/a", self("/page/b"));
  // v2: an iPhone in Germany, from Google, then a newsletter link.
  await visit("203.0.113.12", IPHONE, "DE", "/page/a", "https://www.google.com/");
  await visit("203.0.113.12", IPHONE, "DE", "/page/c?utm_source=Newsletter&utm_medium=email&utm_campaign=Spring", self("/page/a"));
  // v3: an iPad of unknown country, from the newsletter; a path with a comma.
  await visit("203.0.113.13", IPAD, undefined, "/page/b?utm_source=newsletter&utm_campaign=spring");
  await visit("203.0.113.13", IPAD, undefined, "/p,1", self("/page/b"));
  // v4: the same IP as v1 with another browser (another visitor), from DuckDuckGo; a tracked page.
  await visit("203.0.113.11", CHROME_WIN, "IT", "/page/c", "https://duckduckgo.com/");
  await visit("203.0.113.11", CHROME_WIN, "IT", "/page/d", self("/page/c"));
  // Not page views.
  const other = "198.51.100.7";
  await visit(other, GOOGLEBOT, "US", "/page/a");
  await visit(other, undefined, "US", "/page/a");
  await visit(other, CHROME_WIN, "US", "/page/a", undefined, { method: "HEAD" });
  await visit(other, CHROME_WIN, "US", "/page/a", undefined, { headers: { "sec-purpose": "prefetch" } });
  await request(w.url, "/page/a", { headers: { "cf-connecting-ip": other, "user-agent": CHROME_WIN }, cf: { country: "US", botManagement: { score: 2, verifiedBot: false } } });
  await request(w.url, "/page/a", { headers: { "cf-connecting-ip": other, "user-agent": CHROME_WIN }, cf: { country: "US", botManagement: { score: 90, verifiedBot: true } } });
  await visit(other, CHROME_WIN, "US", "/missing");
  await visit(other, CHROME_WIN, "US", "/img.png");
  await visit(other, CHROME_WIN, "US", "/api.json");
  await visit(other, CHROME_WIN, "US", "/redirect");
  await visit(other, CHROME_WIN, "US", "/page/a", undefined, { method: "POST", body: "q=1" });
}
const COUNTED = 8;

test("page views are counted exactly: the API and the CSV after the flush, no IP or UA in the database", { timeout: 60_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  try {
    await browse(w);
    await waitFor(() => flushed(w) === COUNTED, 10_000, `${COUNTED} page views flushed`);
    const s = await stats(w);
    assert.equal(s.from, today());
    assert.equal(s.to, today());
    assert.equal(s.pageviews, COUNTED);
    assert.equal(s.visitors, 4);
    assert.deepEqual(s.days, [{ date: today(), pageviews: COUNTED, visitors: 4 }]);
    assert.deepEqual(byKey(s.pages, "path"), { "/page/a": [2, 2], "/page/b": [2, 2], "/page/c": [2, 2], "/page/d": [1, 1], "/p,1": [1, 1] });
    assert.deepEqual(byKey(s.referrers, "source"), { "(direct)": [1, 1], "google.com": [1, 1], newsletter: [2, 2], "duckduckgo.com": [1, 1] });
    assert.deepEqual(byKey(s.countries, "country"), { IT: [4, 2], DE: [2, 1], XX: [2, 1] });
    assert.deepEqual(byKey(s.devices, "device"), { desktop: [4, 2], mobile: [2, 1], tablet: [2, 1] });
    assert.deepEqual(byKey(s.campaigns, "campaign"), { spring: [2, 2] });
    assert.equal(s.now, 4);
    assert.equal(s.hours.reduce((n, h) => n + h.pageviews, 0), COUNTED);
    // limit: the top page only (ties broken by path).
    const top = await stats(w, `from=${today()}&to=${today()}&limit=1`);
    assert.equal(top.pages.length, 1);

    const csv = await request(w.url, `/_tagrelay/export.csv?from=${today()}&to=${today()}`, { headers: BEARER });
    assert.equal(csv.status, 200);
    assert.match(csv.headers["content-type"], /^text\/csv/);
    assert.match(csv.headers["content-disposition"], /attachment; filename="pageviews-/);
    const lines = csv.body.toString().trimEnd().split("\r\n").length > 1 ? csv.body.toString().trimEnd().split("\r\n") : csv.body.toString().trimEnd().split("\n");
    assert.equal(lines[0], "date,path,pageviews,visitors");
    assert.deepEqual(lines.slice(1).sort(), [
      `${today()},"/p,1",1,1`, `${today()},/page/a,2,2`, `${today()},/page/b,2,2`, `${today()},/page/c,2,2`, `${today()},/page/d,1,1`,
    ]);

    // The origin never saw a stats request; the tracked page's header never reached the client.
    assert.ok(!origin.seen.some((u) => u.startsWith("/_tagrelay")));

    // Nothing personal in the database file: no IP, no User-Agent.
    await w.mf.dispose();
    const bytes = allBytes(w.d1Dir);
    assert.ok(bytes.length > 0, "the local D1 files were found");
    assert.ok(bytes.includes("/page/a"), "the scan reads the database's text");
    for (const secret of ["203.0.113.11", "203.0.113.12", "203.0.113.13", "198.51.100.7", "Macintosh", "iPhone", "iPad", "Windows NT", "Googlebot"]) {
      assert.ok(!bytes.includes(secret), `the database holds ${secret}`);
    }
  } finally {
    await w.close().catch(() => {});
  }
});

test("between flushes, once the day's salt is held, page views are counted in groups after the response: each counted once, bots left out", { timeout: 60_000 }, async () => {
  const w = await startWorker(vars({ STATS_FLUSH_MS: "6000" }), { d1: true });
  try {
    // The first page view's flush reads the day's salt.
    await request(w.url, "/page/a", { headers: { "cf-connecting-ip": "203.0.113.1", "user-agent": CHROME_WIN } });
    await waitFor(() => flushed(w) === 1, 10_000, "the first flush");
    // 300 page views by 150 visitors (two pages each) and 50 crawler requests, 10 at a time,
    // well within the flush period: a group (250) is handed to wasm before the next flush
    // writes them all.
    const sends = [];
    for (let v = 0; v < 150; v++) {
      for (const p of ["/page/a", "/page/b"]) sends.push([`198.51.100.${v + 2}`, SAFARI_MAC, p]);
      if (v % 3 === 0) sends.push(["198.51.100.250", GOOGLEBOT, "/page/c"]);
    }
    for (let i = 0; i < sends.length; i += 10) {
      await Promise.all(sends.slice(i, i + 10).map(([ip, ua, p]) => request(w.url, p, { headers: { "cf-connecting-ip": ip, "user-agent": ua } })));
    }
    await waitFor(() => flushed(w) === 301, 20_000, "301 page views flushed");
    const s = await stats(w);
    assert.equal(s.pageviews, 301);
    assert.equal(s.visitors, 151);
    assert.deepEqual(byKey(s.pages, "path"), { "/page/a": [151, 151], "/page/b": [150, 150] });
    assert.equal(w.lines().filter((l) => l.decision === "stats_lost").length, 0);
  } finally {
    await w.close();
  }
});

test("stats auth: none or a wrong token gets 401 with no detail and never reaches the origin; Bearer and Basic work", { timeout: 30_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  try {
    const before = origin.seen.length;
    for (const headers of [{}, { authorization: "Bearer wrong-token-wrong-token-00" }, basic("owner", "wrong"), { authorization: `Bearer ${STATS_TOKEN}x` }, { authorization: "Basic !!!" }]) {
      for (const p of ["/_tagrelay/", "/_tagrelay/api/stats", "/_tagrelay/export.csv", "/_tagrelay/anything"]) {
        const res = await request(w.url, p, { headers });
        assert.equal(res.status, 401, `${p} ${JSON.stringify(headers)}`);
        assert.equal(res.body.toString(), "Unauthorized\n");
        assert.match(res.headers["www-authenticate"], /^Basic realm="tagrelay stats"/);
        assert.equal(res.headers["cache-control"], "no-store");
      }
    }
    assert.equal(origin.seen.length, before, "a stats request reached the origin");
    const dash = await request(w.url, "/_tagrelay/", { headers: basic("owner", STATS_TOKEN) });
    assert.equal(dash.status, 200);
    assert.match(dash.headers["content-type"], /^text\/html/);
    assert.match(dash.headers["content-security-policy"], /default-src 'none'/);
    assert.equal(dash.headers["x-robots-tag"], "noindex, nofollow");
    assert.match(dash.body.toString(), /data-stat="pageviews" data-value="0"/);
    assert.equal((await request(w.url, "/_tagrelay/api/stats", { headers: BEARER })).status, 200);
    // Without the trailing slash, and HEAD: answered, HEAD without a body.
    assert.equal((await request(w.url, "/_tagrelay", { headers: BEARER })).status, 200);
    const head = await request(w.url, "/_tagrelay/", { method: "HEAD", headers: BEARER });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    // A path that only starts like the stats path is the shop's.
    assert.equal((await request(w.url, "/_tagrelayx")).status, 200);
    assert.equal(origin.seen.at(-1), "/_tagrelayx");
    // The token never appears in the log.
    assert.ok(!JSON.stringify(w.logs).includes(STATS_TOKEN));
  } finally {
    await w.close();
  }
});

test("stats parameters: a bad date, range or limit, a reversed or over-400-day range get 400 with a one-line reason; other methods 405, unknown paths 404", { timeout: 30_000 }, async () => {
  const w = await startWorker(vars(), { d1: true });
  try {
    for (const q of ["from=2026-13-01", "to=yesterday", "range=year", "limit=0", "limit=1001", "from=2026-02-01&to=2026-01-01", "from=2024-01-01&to=2026-01-01"]) {
      const res = await request(w.url, `/_tagrelay/api/stats?${q}`, { headers: BEARER });
      assert.equal(res.status, 400, q);
      const body = res.body.toString();
      assert.match(body, /^Bad Request: \S.*\n$/, q);
      assert.equal(body.split("\n").length, 2, q);
    }
    assert.equal((await request(w.url, "/_tagrelay/export.csv?from=2020-01-01&to=2026-01-01", { headers: BEARER })).status, 400);
    // Exactly 400 days is allowed.
    assert.equal((await request(w.url, "/_tagrelay/api/stats?from=2025-01-01&to=2026-02-04", { headers: BEARER })).status, 200);
    const post = await request(w.url, "/_tagrelay/api/stats", { method: "POST", headers: BEARER, body: "" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
    assert.equal((await request(w.url, "/_tagrelay/nope", { headers: BEARER })).status, 404);
  } finally {
    await w.close();
  }
});

test("D1 down: pages are still served, the salt read and the failed flush keep their counts, and the next flush writes them once", { timeout: 60_000 }, async () => {
  // No schema at all: the day's salt cannot be read, so the page views wait in the queue.
  const w = await startWorker(vars(), { d1: true, migrate: false });
  try {
    const ua = { "user-agent": CHROME_WIN };
    for (let i = 0; i < 3; i++) {
      const res = await request(w.url, `/page/down-${i}`, { headers: { ...ua, "cf-connecting-ip": `192.0.2.${i}` } });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), `<p>/page/down-${i}</p>`);
    }
    const saltFailed = await w.line((l) => l.decision === "stats_flush_failed");
    assert.match(saltFailed.reason, /salt could not be read from D1/);
    // The stats page says it cannot read, and why is logged.
    const unreadable = await request(w.url, "/_tagrelay/api/stats", { headers: BEARER });
    assert.equal(unreadable.status, 503);
    await w.line((l) => l.decision === "stats_error" && /D1 read failed/.test(l.reason));

    // D1 back: the next page view's flush counts the waiting ones too.
    const { applyMigrations } = await import("./harness.mjs");
    await applyMigrations(w.db);
    await request(w.url, "/page/down-3", { headers: { ...ua, "cf-connecting-ip": "192.0.2.3" } });
    await waitFor(() => flushed(w) === 4, 10_000, "the 4 page views flushed");
    assert.equal((await stats(w)).pageviews, 4);

    // Now the write fails (its table is gone): the counts are kept, nothing is lost.
    await w.db.exec("DROP TABLE stats_daily");
    await request(w.url, "/page/down-4", { headers: { ...ua, "cf-connecting-ip": "192.0.2.4" } });
    const writeFailed = await w.line((l) => l.decision === "stats_flush_failed" && l.page_views === 1);
    assert.match(writeFailed.reason, /stats_daily/);
    assert.equal(writeFailed.held, 1);
    await request(w.url, "/page/down-5", { headers: { ...ua, "cf-connecting-ip": "192.0.2.5" } });
    await waitFor(() => w.lines().filter((l) => l.decision === "stats_flush_failed").length >= 3, 10_000, "a second failed flush");
    // Restore the table: the retried flush (same id) and the newer counts are written once each.
    await w.db.exec("CREATE TABLE stats_daily (dim TEXT NOT NULL, day INTEGER NOT NULL, value TEXT NOT NULL, pageviews INTEGER NOT NULL DEFAULT 0, visitors INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (dim, day, value)) WITHOUT ROWID");
    await request(w.url, "/page/down-6", { headers: { ...ua, "cf-connecting-ip": "192.0.2.6" } });
    await waitFor(() => flushed(w) === 7, 10_000, `7 page views flushed`);
    const s = await stats(w);
    // The 4 written before the table was dropped went with it; the 3 since are all there, once.
    assert.equal(s.pageviews, 3);
    assert.deepEqual(byKey(s.pages, "path"), { "/page/down-4": [1, 1], "/page/down-5": [1, 1], "/page/down-6": [1, 1] });
    assert.ok(!w.lines().some((l) => l.decision === "stats_lost"));
  } finally {
    await w.close();
  }
});

test("the daily cron deletes rows past STATS_RETENTION_DAYS, salts, seen visitors and flush marks past 48 h, and keeps the rest", { timeout: 30_000 }, async () => {
  const w = await startWorker(vars({ STATS_RETENTION_DAYS: "30" }), { d1: true });
  try {
    const day = Math.floor(Date.now() / DAY_MS);
    const now = Date.now();
    const insert = (sql, ...params) => w.db.prepare(sql).bind(...params).run();
    for (const d of [day - 31, day - 30, day - 29, day]) {
      await insert("INSERT INTO stats_daily (dim, day, value, pageviews, visitors) VALUES ('total', ?1, '', 5, 2)", d);
      await insert("INSERT INTO stats_daily (dim, day, value, pageviews, visitors) VALUES ('hour', ?1, '10', 5, 2)", d);
    }
    for (const d of [day - 3, day - 2, day - 1, day]) {
      await insert("INSERT INTO stats_salts (day, salt) VALUES (?1, randomblob(32))", d);
      await insert("INSERT INTO stats_seen (day, key, visitor) VALUES (?1, '', 42)", d);
    }
    await insert("INSERT INTO stats_flushes (id, at) VALUES ('old', ?1)", now - 3 * DAY_MS);
    await insert("INSERT INTO stats_flushes (id, at) VALUES ('new', ?1)", now - 1000);

    const worker = await w.mf.getWorker();
    await worker.scheduled({ cron: "5 0 * * *", scheduledTime: new Date() });
    const cleaned = await w.line((l) => l.decision === "stats_cleaned");
    assert.ok(cleaned.rows_deleted > 0);

    const days = (sql) => w.db.prepare(sql).all().then((r) => r.results.map((x) => x.day).sort((a, b) => a - b));
    // 30 days kept: today and the 29 before it.
    assert.deepEqual(await days("SELECT day FROM stats_daily WHERE dim = 'total'"), [day - 29, day]);
    // Hours only for the last 48 h.
    assert.deepEqual(await days("SELECT day FROM stats_daily WHERE dim = 'hour'"), [day]);
    assert.deepEqual(await days("SELECT day FROM stats_salts"), [day - 1, day]);
    assert.deepEqual(await days("SELECT day FROM stats_seen"), [day - 1, day]);
    assert.deepEqual((await w.db.prepare("SELECT id FROM stats_flushes").all()).results.map((r) => r.id), ["new"]);
  } finally {
    await w.close();
  }
});

test("off switches: without STATS_TOKEN the stats path is the shop's; ANALYTICS=off or no D1 binding counts nothing, with one line saying why", { timeout: 30_000 }, async () => {
  const open = await startWorker({ ORIGIN_URL: origin.url, STATS_FLUSH_MS: "100" }, { d1: true });
  try {
    const res = await request(open.url, "/_tagrelay/api/stats", { headers: BEARER });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "<p>/_tagrelay/api/stats</p>");
    assert.equal(origin.seen.at(-1), "/_tagrelay/api/stats");
  } finally {
    await open.close();
  }

  const off = await startWorker(vars({ ANALYTICS: "off" }), { d1: true });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await request(off.url, "/page/a", { headers: { "cf-connecting-ip": `192.0.2.${i}` } })).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    const lines = off.lines().filter((l) => l.decision === "stats_off");
    assert.equal(lines.length, 1);
    assert.equal(lines[0].reason, "ANALYTICS is off");
    assert.equal(flushed(off), 0);
    assert.equal((await stats(off)).pageviews, 0);
  } finally {
    await off.close();
  }

  const unbound = await startWorker(vars(), { d1: false });
  try {
    assert.equal((await request(unbound.url, "/page/a")).status, 200);
    assert.equal((await request(unbound.url, "/page/b")).status, 200);
    const lines = unbound.lines().filter((l) => l.decision === "stats_off");
    assert.equal(lines.length, 1);
    assert.match(lines[0].reason, /no D1 binding TAGRELAY_DB/);
    const res = await request(unbound.url, "/_tagrelay/", { headers: BEARER });
    assert.equal(res.status, 503);
    assert.match(res.body.toString(), /no D1 binding TAGRELAY_DB/);
  } finally {
    await unbound.close();
  }
});

test("a bad stats setting is named in the log and counts nothing; the pages are served", { timeout: 30_000 }, async () => {
  const w = await startWorker(vars({ STATS_FLUSH_MS: "5" }), { d1: true });
  try {
    assert.equal((await request(w.url, "/page/a")).status, 200);
    const line = await w.line((l) => l.decision === "stats_off");
    assert.match(line.reason, /STATS_FLUSH_MS/);
    // The stats page was meant (STATS_TOKEN is set): its requests, and the token in them,
    // never reach the origin; the answer says the settings are wrong.
    const seen = origin.seen.length;
    const res = await request(w.url, "/_tagrelay/", { headers: BEARER });
    assert.equal(res.status, 503);
    assert.match(res.body.toString(), /stats setting is invalid/);
    assert.equal(origin.seen.length, seen);
  } finally {
    await w.close();
  }
});

test("the dashboard in headless Chromium shows the same totals as the API", { timeout: 90_000 }, async () => {
  assert.ok(fs.existsSync("/usr/bin/chromium") || process.env.CHROMIUM, "chromium is missing: scripts/setup-browser.sh installs it (make test runs it)");
  const w = await startWorker(vars(), { d1: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tagrelay-chromium-"));
  try {
    await browse(w);
    await waitFor(() => flushed(w) === COUNTED, 10_000, "the page views flushed");
    const api = await stats(w, "range=today");
    const port = new URL(w.url).port;
    // Basic credentials in the URL: the browser answers the 401 challenge with them.
    const url = `http://owner:${STATS_TOKEN}@127.0.0.1:${port}/_tagrelay/?range=today`;
    const dom = await dumpDom(url, profile);
    const shown = (key) => {
      const m = dom.match(new RegExp(`data-stat="${key}" data-value="([^"]*)">([^<]*)<`));
      assert.ok(m, `the rendered page shows ${key}`);
      return [m[1], m[2]];
    };
    assert.deepEqual(shown("pageviews"), [String(api.pageviews), String(api.pageviews)]);
    assert.deepEqual(shown("visitors"), [String(api.visitors), String(api.visitors)]);
    assert.equal(api.pageviews, COUNTED);
    // The top pages and the chart made it into the rendered DOM too.
    assert.ok(dom.includes("/page/a") && dom.includes("<svg"), "top pages and chart rendered");
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
    await w.close();
  }
});
