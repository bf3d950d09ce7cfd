// A visitor's own cookie and shared caches, the Public Suffix List, and the bound on queued page
// views (issue 27, items 8, 9 and 12), in workerd in front of a real origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startWorker, request, readBody, BROWSER_UA } from "./harness.mjs";

const STATS_TOKEN = "stats-token-for-cache-tests-0123";
let origin;
let cacheControl = "public, max-age=60, s-maxage=3600";

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    const headers = { "content-type": "text/html; charset=utf-8", "cdn-cache-control": "max-age=3600" };
    if (cacheControl !== null) headers["cache-control"] = cacheControl;
    if (req.url.startsWith("/tracked")) headers["worker-tracking"] = JSON.stringify({ event_name: "PageView" });
    res.writeHead(200, headers);
    res.end("<p>page</p>");
  });
});
after(() => origin?.close());

const start = (extra = {}, options) => startWorker({ ORIGIN_URL: origin.url, DRY_RUN: "true", META_PIXEL_ID: "1", ...extra }, options);

/** One page view of `host` + `path`, from the US. */
async function view(w, path, { host = "https://www.spesati.it", cookie } = {}) {
  const headers = { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.7" };
  if (cookie) headers.cookie = cookie;
  const res = await w.mf.dispatchFetch(`${host}${path}`, { headers, cf: { country: "US" } });
  await res.arrayBuffer();
  return res;
}

test("a response that sets the visitor's cookie is private; one that sets none keeps the origin's caching", async () => {
  const w = await start();
  try {
    for (const path of ["/untracked", "/tracked"]) {
      cacheControl = "public, max-age=60, s-maxage=3600";
      const fresh = await view(w, path);
      assert.ok(fresh.headers.getSetCookie().some((c) => c.startsWith("_fbp=")), path);
      assert.equal(fresh.headers.get("cache-control"), "private, max-age=60", path);
      assert.equal(fresh.headers.get("cdn-cache-control"), null, `${path}: no CDN may keep it either`);
      cacheControl = "no-store";
      assert.equal((await view(w, path)).headers.get("cache-control"), "private, no-store", `${path}: no-store kept`);
      cacheControl = null;
      assert.equal((await view(w, path)).headers.get("cache-control"), "private", `${path}: none from the origin`);
      cacheControl = "public, max-age=60, s-maxage=3600";
      const back = await view(w, path, { cookie: "_fbp=fb.1.1700000000000.1" });
      assert.deepEqual(back.headers.getSetCookie(), [], path);
      assert.equal(back.headers.get("cache-control"), "public, max-age=60, s-maxage=3600", `${path}: no cookie, untouched`);
      assert.equal(back.headers.get("cdn-cache-control"), "max-age=3600");
    }
  } finally {
    cacheControl = "public, max-age=60, s-maxage=3600";
    await w.close();
  }
});

test("the cookie domain is the registrable domain by the Public Suffix List; a public suffix gets a host-only cookie", async () => {
  const w = await start();
  try {
    const domainOf = async (host) => {
      const fbp = (await view(w, "/untracked", { host })).headers.getSetCookie().find((c) => c.startsWith("_fbp="));
      return [/Domain=([^;]+)/.exec(fbp)?.[1] ?? null, /^_fbp=fb\.(\d)\./.exec(fbp)[1]];
    };
    assert.deepEqual(await domainOf("https://www.shop.qc.ca"), ["shop.qc.ca", "2"]);
    assert.deepEqual(await domainOf("https://shop.example.co.uk"), ["example.co.uk", "2"]);
    assert.deepEqual(await domainOf("https://myshop.pages.dev"), ["myshop.pages.dev", "2"]);
    assert.deepEqual(await domainOf("https://preview.myshop.pages.dev"), ["myshop.pages.dev", "2"]);
    assert.deepEqual(await domainOf("https://www.spesati.it"), ["spesati.it", "1"]);
    assert.deepEqual(await domainOf("https://pages.dev"), [null, "1"], "a public suffix: host-only");
  } finally {
    await w.close();
  }
});

test("queued page views keep at most 1 KB of URL and 512 bytes of Referer and User-Agent", async () => {
  const w = await start({ STATS_TOKEN, STATS_FLUSH_MS: "100" }, { d1: true });
  try {
    // A campaign named past the first KB of the URL is not read; one within it is.
    await request(w.url, `/long?pad=${"a".repeat(1100)}&utm_source=late`, { headers: { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.8" } });
    await request(w.url, `/long?utm_source=early&pad=${"a".repeat(1100)}`, { headers: { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.9" } });
    // A Referer of 8 KB is counted under its first 512 bytes' host.
    await request(w.url, "/long", { headers: { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.10", referer: `https://news.example/${"r".repeat(8000)}` } });
    const day = new Date().toISOString().slice(0, 10);
    let s;
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const res = await request(w.url, `/_tagrelay/api/stats?from=${day}&to=${day}`, { headers: { authorization: `Bearer ${STATS_TOKEN}` } });
      s = JSON.parse(res.body);
      if (s.totals?.pageviews === 3 || s.pageviews === 3) break;
    }
    const sources = Object.fromEntries(s.referrers.map((r) => [r.source, r.pageviews]));
    assert.deepEqual(sources, { "(direct)": 1, early: 1, "news.example": 1 });
  } finally {
    await w.close();
  }
});

test("a flush past D1's 2 MB per value (a scanner's thousands of long URLs) is written whole, in chunks of one batch", { timeout: 120_000 }, async () => {
  const w = await start({ STATS_TOKEN, STATS_FLUSH_MS: "3000" }, { d1: true });
  try {
    // 2,400 distinct paths of ~480 bytes from 40 visitors: ~1.3 MB of rows in one flush.
    const VIEWS = 2400, VISITORS = 40;
    for (let i = 0; i < VIEWS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => {
        const n = i + k;
        return request(w.url, `/scan/${n}/${"x".repeat(470)}`, { headers: { "user-agent": BROWSER_UA, "cf-connecting-ip": `203.0.113.${n % VISITORS}` }, cf: { country: "FR" } });
      }));
    }
    const flushed = () => w.lines().filter((l) => l.decision === "stats_flushed").reduce((n, l) => n + l.page_views, 0);
    for (let i = 0; i < 100 && flushed() < VIEWS; i++) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(w.lines().filter((l) => ["stats_flush_failed", "stats_lost"].includes(l.decision)).map((l) => l.reason), []);
    assert.equal(flushed(), VIEWS);
    const day = new Date().toISOString().slice(0, 10);
    const res = await request(w.url, `/_tagrelay/api/stats?from=${day}&to=${day}&limit=10`, { headers: { authorization: `Bearer ${STATS_TOKEN}` } });
    const s = JSON.parse(res.body);
    const fr = s.countries.find((c) => c.country === "FR");
    assert.deepEqual([fr.pageviews, fr.visitors], [VIEWS, VISITORS], "each visitor once, though the rows span chunks");
    const rows = await w.db.prepare("SELECT COUNT(*) AS n, SUM(pageviews) AS views FROM stats_daily WHERE dim = 'page'").first();
    assert.deepEqual([rows.n, rows.views], [VIEWS, VIEWS]);
  } finally {
    await w.close();
  }
});
