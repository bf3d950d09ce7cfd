// The stats page's Delivery panel (issue 15): what became of the events, counted per
// destination, day and event name in local D1 as the queue consumer (or the page, for skips and
// rejects) decides it, must match what the mock platforms accepted and refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startGraph, startWorker, readBody, request, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

const STATS_TOKEN = "stats-token-for-delivery-tests-0123";
const BEARER = { authorization: `Bearer ${STATS_TOKEN}` };
const GA4_ID = "G-TEST123";
const TIKTOK_CODE = "CTEST0PIXEL1";

let origin, graph, ga4, tiktok;
// What each mock accepted: event name -> count, and every event id.
const accepted = { meta: new Map(), ga4: new Map(), tiktok: new Map() };
const acceptedIds = new Set();
const add = (dest, name, id) => {
  accepted[dest].set(name, (accepted[dest].get(name) ?? 0) + 1);
  acceptedIds.add(id);
};
const reset = () => { Object.values(accepted).forEach((m) => m.clear()); acceptedIds.clear(); };

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    const u = new URL(req.url, "http://x");
    const name = u.searchParams.get("event") ?? "Purchase";
    let header = JSON.stringify({ event_name: name, custom_data: { currency: "EUR", value: "12.5", ...(u.searchParams.get("bad") ? { bad: true } : {}) } });
    if (u.searchParams.get("garbled")) header = "{not json";
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": header });
    res.end("<p>page</p>");
  });
  graph = await startGraph();
  // Meta refuses a request holding the "bad" event as a whole (code 100): tagrelay halves it.
  graph.defaultReply = (record) => {
    const data = record.json?.data ?? [];
    if (data.some((e) => e.custom_data?.bad)) return { status: 400, body: { error: { message: "Invalid parameter", code: 100, fbtrace_id: "bad" } } };
    for (const e of data) add("meta", e.event_name, e.event_id);
    return { status: 200, body: { events_received: data.length, fbtrace_id: "ok" } };
  };
  ga4 = await startGraph();
  ga4.defaultReply = (record) => {
    for (const e of record.json?.events ?? []) add("ga4", e.name);
    return { status: 204, body: "" };
  };
  tiktok = await startGraph();
  tiktok.defaultReply = (record) => {
    for (const e of record.json?.data ?? []) add("tiktok", e.event);
    return { status: 200, body: { code: 0, message: "OK", request_id: "tt", data: {} } };
  };
});
after(() => { origin?.close(); graph?.close(); ga4?.close(); tiktok?.close(); });

const start = (extra = {}, queue = {}) => {
  const vars = {
    ORIGIN_URL: origin.url,
    META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url,
    GA4_MEASUREMENT_ID: GA4_ID, GA4_API_SECRET: "ga4-secret", GA4_API_BASE: ga4.url,
    TIKTOK_PIXEL_CODE: TIKTOK_CODE, TIKTOK_ACCESS_TOKEN: "tiktok-token", TIKTOK_API_BASE: tiktok.url,
    BATCH_WINDOW_MS: "200", STATS_TOKEN, STATS_FLUSH_MS: "300",
    ...extra,
  };
  for (const k of Object.keys(vars)) if (vars[k] === undefined) delete vars[k];
  return startWorker(vars, { d1: true, queue });
};

let n = 0;
async function view(w, { query = "", ua = BROWSER_UA, country = "US" } = {}) {
  const path = `/d/${++n}`;
  const res = await w.mf.dispatchFetch(`https://www.spesati.it${path}${query}`, { headers: { "user-agent": ua, "cf-connecting-ip": "203.0.113.9" }, cf: { country } });
  await res.text();
  assert.equal(res.status, 200);
  return path;
}

const today = () => new Date().toISOString().slice(0, 10);
async function delivery(w) {
  const res = await request(w.url, `/_tagrelay/api/delivery?from=${today()}&to=${today()}`, { headers: BEARER });
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body);
}
/** Calls `read` until `done` holds for its answer (or 20 s pass: the assertions then say what differs). */
async function until(read, done, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await read();
    if (done(got) || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 200));
  }
}
const byName = (d) => Object.fromEntries(d.destinations.map((x) => [x.destination, x]));
const sentPerEvent = (x) => new Map(x.events.filter((e) => e.sent > 0).map((e) => [e.event, e.sent]));

test("the Delivery API and panel match what each platform accepted, refused, and what was skipped or rejected", { timeout: 90_000 }, async () => {
  reset();
  const w = await start();
  try {
    const paths = [];
    for (const event of ["Purchase", "Purchase", "AddToCart", "Search"]) paths.push(await view(w, { query: `?event=${event}` }));
    const bad = await view(w, { query: "?bad=1" });
    await view(w, { ua: "Googlebot/2.1 (+http://www.google.com/bot.html)" });
    await view(w, { country: "IT" });
    await view(w, { query: "?garbled=1" });
    // Every delivery settled: sent or failed, per destination, from the queue consumer.
    for (const p of [...paths, bad]) {
      for (const dest of ["meta", "ga4", "tiktok"]) {
        await w.line((l) => l.path === p && l.destination === dest && (l.decision === "sent" || l.decision === "failed"), 30_000);
      }
    }
    const failed = await w.line((l) => l.path === bad && l.destination === "meta" && (l.decision === "sent" || l.decision === "failed"));
    assert.equal(failed.decision, "failed", "only the bad page view fails, only at Meta");

    // The counts reach D1 with the next flush.
    const report = await until(() => delivery(w), (r) => {
      const d = byName(r);
      return d.meta?.sent + d.meta?.failed === 5 && d.ga4?.sent === 5 && d.tiktok?.sent === 5;
    });
    const d = byName(report);
    assert.deepEqual(Object.keys(d), ["meta", "ga4", "tiktok"], "known destinations, in order");
    for (const dest of ["meta", "ga4", "tiktok"]) {
      const got = sentPerEvent(d[dest]);
      assert.deepEqual(got, accepted[dest], `${dest}: sent per event name = what its mock accepted`);
      assert.equal(d[dest].sent, [...accepted[dest].values()].reduce((a, b) => a + b, 0));
      assert.equal(d[dest].skipped, 2, `${dest}: the bot and the visitor without consent`);
      assert.deepEqual(d[dest].skipped_rules.map((r) => r.rule).sort(), ["crawler_user_agent", "no_consent"]);
      assert.deepEqual(d[dest].rejected_codes, [{ code: "bad_json", events: 1 }]);
      assert.equal(d[dest].days.length, 1);
      assert.equal(d[dest].days[0].sent, d[dest].sent);
    }
    assert.equal(d.meta.failed, 1);
    assert.equal(d.ga4.failed + d.tiktok.failed, 0);
    assert.equal(d.meta.last_failure.outcome, "failed");
    assert.equal(d.meta.last_failure.event, "Purchase");
    assert.match(d.meta.last_failure.reason, /Invalid parameter/);
    assert.equal(d.ga4.last_failure, null);

    // The stats page shows the same numbers.
    const page = await request(w.url, "/_tagrelay/?range=today", { headers: BEARER });
    assert.equal(page.status, 200);
    for (const dest of ["meta", "ga4", "tiktok"]) {
      for (const outcome of ["sent", "failed", "skipped", "rejected"]) {
        assert.ok(page.body.includes(`data-delivery="${dest}" data-outcome="${outcome}" data-value="${d[dest][outcome]}"`), `${dest} ${outcome} on the page`);
      }
    }
    assert.ok(page.body.includes("Invalid parameter"), "the last failure's reason");
    // Nothing personal in the table.
    const rows = await w.db.prepare("SELECT * FROM stats_delivery").all();
    assert.ok(!JSON.stringify(rows.results).includes("203.0.113.9"));
  } finally {
    await w.close();
  }
});

test("dead letters are counted and kept; after the cause is fixed a replay delivers the same event ids", { timeout: 120_000 }, async () => {
  reset();
  const saved = graph.defaultReply;
  const w = await start({ GA4_MEASUREMENT_ID: undefined, TIKTOK_PIXEL_CODE: undefined, BATCH_WINDOW_MS: "0" }, { maxRetries: 1 });
  try {
    // The platform is down past every try the queue allows.
    graph.defaultReply = () => ({ status: 503, body: { error: { message: "down for good" } } });
    const paths = [await view(w), await view(w)];
    const dead = [];
    for (const p of paths) dead.push(await w.line((l) => l.path === p && l.decision === "dead_lettered", 40_000));
    for (const line of dead) {
      assert.equal(line.kept, true);
      assert.match(line.replay, /api\/dead-letters\/replay/);
    }
    const deadIds = dead.flatMap((l) => l.event_ids).sort();
    const d = byName(await until(() => delivery(w), (r) => byName(r).meta?.dead_lettered === 2)).meta;
    assert.equal(d.dead_lettered, 2);
    assert.equal(d.sent, 0);
    assert.equal(d.last_failure.outcome, "dead_lettered");
    assert.match(d.last_failure.reason, /max_retries/);
    assert.deepEqual(d.dead_letters_kept, { messages: 2, events: 2 });

    // The list: ids and times, no event data.
    const list = await request(w.url, "/_tagrelay/api/dead-letters", { headers: BEARER });
    assert.equal(list.status, 200);
    const listed = JSON.parse(list.body);
    assert.deepEqual(listed.dead_letters.flatMap((x) => x.event_ids).sort(), deadIds);
    assert.ok(!list.body.includes("203.0.113.9") && !list.body.includes("client_ip"), "no event data in the list");
    const page = await request(w.url, "/_tagrelay/?range=today", { headers: BEARER });
    assert.ok(page.body.includes('data-dead-letters="meta" data-value="2"'), "the panel offers the replay");

    // Replays are POSTs from the page itself or a script, with the token.
    assert.equal((await request(w.url, "/_tagrelay/api/dead-letters/replay", { headers: BEARER })).status, 405);
    assert.equal((await request(w.url, "/_tagrelay/api/dead-letters/replay", { method: "POST" })).status, 401);
    assert.equal((await request(w.url, "/_tagrelay/api/dead-letters/replay", { method: "POST", headers: { ...BEARER, "sec-fetch-site": "cross-site" } })).status, 403);

    // Fixed: the replay puts them back on the queue, and the same ids reach the platform.
    graph.defaultReply = saved;
    const replay = await request(w.url, "/_tagrelay/api/dead-letters/replay?then=page", { method: "POST", headers: { ...BEARER, "sec-fetch-site": "same-origin" } });
    assert.equal(replay.status, 303, replay.body);
    assert.equal(replay.headers.location, "/_tagrelay/?replayed=2");
    const replayed = await w.line((l) => l.decision === "replayed");
    assert.equal(replayed.messages, 2);
    for (const p of paths) await w.line((l) => l.path === p && l.decision === "sent", 30_000);
    assert.deepEqual([...accepted.meta.values()], [2]);
    assert.deepEqual([...acceptedIds].sort(), deadIds, "the same event ids, delivered");
    const after = JSON.parse((await request(w.url, "/_tagrelay/api/dead-letters", { headers: BEARER })).body);
    assert.deepEqual(after.dead_letters, [], "forgotten once back on the queue");
    const again = await request(w.url, "/_tagrelay/api/dead-letters/replay", { method: "POST", headers: BEARER });
    assert.deepEqual(JSON.parse(again.body), { replayed: 0, left: [] });
    const meta = byName(await until(() => delivery(w), (r) => byName(r).meta?.sent === 2)).meta;
    assert.equal(meta.sent, 2);
  } finally {
    graph.defaultReply = saved;
    await w.close();
  }
});

test("an expired Meta token is never acked as failed: retried with the fix, dead-lettered and kept, then replayed", { timeout: 120_000 }, async () => {
  reset();
  const saved = graph.defaultReply;
  const w = await start({ GA4_MEASUREMENT_ID: undefined, TIKTOK_PIXEL_CODE: undefined, BATCH_WINDOW_MS: "0" }, { maxRetries: 1 });
  const expired = { error: { message: "Error validating access token: Session has expired on Friday.", type: "OAuthException", code: 190, error_subcode: 463, fbtrace_id: "tok" } };
  try {
    graph.defaultReply = () => ({ status: 400, body: expired });
    const path = await view(w);
    const retrying = await w.line((l) => l.path === path && l.decision === "retrying", 20_000);
    assert.match(retrying.reason, /^the Meta token was refused: set META_ACCESS_TOKEN again \(HTTP 400, code 190, subcode 463/);
    const dead = await w.line((l) => l.path === path && l.decision === "dead_lettered", 40_000);
    assert.equal(dead.kept, true);
    assert.ok(!w.lines().some((l) => l.path === path && l.decision === "failed"), "never acked as failed");
    assert.ok(!w.lines().some((l) => JSON.stringify(l).includes(TOKEN)), "the token never reaches the log");
    graph.defaultReply = saved;
    const replay = await request(w.url, "/_tagrelay/api/dead-letters/replay", { method: "POST", headers: BEARER });
    assert.equal(JSON.parse(replay.body).replayed, 1);
    const sent = await w.line((l) => l.path === path && l.decision === "sent", 30_000);
    assert.deepEqual(sent.event_ids, dead.event_ids);
  } finally {
    graph.defaultReply = saved;
    await w.close();
  }
});

test("directly, a refused token or secret is failed with the fix in its reason, for each platform", { timeout: 60_000 }, async () => {
  reset();
  const saved = [graph.defaultReply, ga4.defaultReply, tiktok.defaultReply];
  const w = await start({ DELIVERY: "direct", BATCH_WINDOW_MS: "0" });
  try {
    graph.defaultReply = () => ({ status: 403, body: { error: { message: "Permissions error", type: "OAuthException", code: 200, fbtrace_id: "p" } } });
    ga4.defaultReply = () => ({ status: 401, body: "Unauthorized" });
    tiktok.defaultReply = () => ({ status: 200, body: { code: 40105, message: "The access token is incorrect or has been revoked.", request_id: "t" } });
    const path = await view(w, { query: "?x=1" });
    const failed = async (destination) => w.line((l) => l.path === path && l.destination === destination && l.decision === "failed", 15_000);
    assert.match((await failed("meta")).reason, /^the Meta token has no permission for this pixel: .*META_ACCESS_TOKEN/);
    assert.match((await failed("tiktok")).reason, /^the TikTok token was refused: set TIKTOK_ACCESS_TOKEN again/);
    assert.match((await failed("ga4")).reason, /^GA4 refused the API secret: set GA4_API_SECRET again/);
    for (const d of ["meta", "ga4", "tiktok"]) assert.equal((await failed(d)).attempts, 1, `${d}: retrying could not help`);
  } finally {
    [graph.defaultReply, ga4.defaultReply, tiktok.defaultReply] = saved;
    await w.close();
  }
});

test("direct delivery is counted too, flushed after the send", { timeout: 60_000 }, async () => {
  reset();
  const start = (extra) => startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "300", STATS_TOKEN, STATS_FLUSH_MS: "200", ...extra }, { d1: true });
  const w = await start();
  try {
    const paths = [await view(w, { query: "?event=ViewContent" }), await view(w, { query: "?event=Purchase" })];
    for (const p of paths) await w.line((l) => l.path === p && l.decision === "sent");
    assert.ok(!w.lines().some((l) => l.decision === "queued"), "no queue: direct");
    const meta = byName(await until(() => delivery(w), (r) => byName(r).meta?.sent === 2)).meta;
    assert.deepEqual(sentPerEvent(meta), accepted.meta);
    assert.equal(meta.sent, 2);
  } finally {
    await w.close();
  }
});

test("without analytics storage nothing is counted and the Delivery API is not served", async () => {
  const w = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "0", STATS_TOKEN, ANALYTICS: "off" });
  try {
    const p = await view(w);
    await w.line((l) => l.path === p && l.decision === "sent").catch((e) => { console.log(w.lines()); throw e; });
    const res = await request(w.url, "/_tagrelay/api/delivery", { headers: BEARER });
    assert.equal(res.status, 503);
    assert.ok(!w.lines().some((l) => l.decision === "stats_flushed"));
  } finally {
    await w.close();
  }
});
