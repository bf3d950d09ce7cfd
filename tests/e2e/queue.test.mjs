// Durable delivery through Cloudflare Queues (issue 15), with Miniflare's local queues: the
// built Worker produces to tagrelay-events and consumes it (and its dead-letter queue), in
// front of a real origin and a mock Graph API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startGraph, startWorker, readBody, waitFor, request, TOKEN, PIXEL } from "./harness.mjs";

let origin, graph;
let header = JSON.stringify({ event_name: "ViewContent" });
// A page view whose events take ~2 KB: a few hundred of them pass one queue send's 256 KB.
const BIG_HEADER = JSON.stringify({ event_name: "ViewContent", custom_data: { content_ids: Array.from({ length: 150 }, (_, i) => `SKU-${String(i).padStart(6, "0")}`) } });
// Names of 3-byte UTF-8 characters, as JSON escapes in the (ASCII) header: the queue counts a
// message's bytes, which are then ~3 times its length in JavaScript.
const CJK_HEADER = JSON.stringify({ event_name: "ViewContent", custom_data: { content_name: "\u4e2d".repeat(700) } }).replace(/\u4e2d/g, "\\u4e2d");

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    const u = new URL(req.url, "http://x");
    const h = { "content-type": "text/html" };
    h["worker-tracking"] = u.searchParams.get("bad") ? JSON.stringify({ event_name: "ViewContent", custom_data: { bad: true } }) : u.searchParams.get("big") ? BIG_HEADER : u.searchParams.get("cjk") ? CJK_HEADER : header;
    res.writeHead(200, h);
    res.end("<p>page</p>");
  });
  graph = await startGraph();
});
after(() => { origin?.close(); graph?.close(); });

const start = (extra = {}, queue = {}) =>
  startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "0", ...extra }, { queue });

let n = 0;
const page = () => `/q/${++n}`;
const eventsFor = (path) => graph.requests.flatMap((r) => (r.json?.data ?? []).map((e) => ({ e, body: r.body }))).filter(({ e }) => new URL(e.event_source_url).pathname === path);

test("events go through the queue: queued, then sent by the consumer", async () => {
  const w = await start();
  try {
    const path = page();
    const res = await request(w.url, path);
    assert.equal(res.status, 200);
    const queued = await w.line((l) => l.path === path && l.decision === "queued");
    assert.equal(queued.destination, "meta");
    const sent = await w.line((l) => l.path === path && l.decision === "sent", 10000);
    assert.equal(sent.attempts, 1);
    assert.deepEqual(sent.event_ids, queued.event_ids);
    assert.equal(eventsFor(path).length, 1);
    assert.equal(eventsFor(path)[0].e.event_id, queued.event_ids[0]);
  } finally {
    await w.close();
  }
});

for (const [kind, query] of [["~2 KB", "big=1"], ["~2 KB of 3-byte characters (bytes, not length, count)", "cjk=1"]]) test(`a batch bigger than one queue send (256 KB) goes onto the queue message by message, none falls back: page views of ${kind}`, { timeout: 120_000 }, async () => {
  const w = await start({ BATCH_WINDOW_MS: "3000" });
  try {
    const paths = Array.from({ length: 300 }, () => page());
    for (let i = 0; i < paths.length; i += 50) await Promise.all(paths.slice(i, i + 50).map((p) => request(w.url, `${p}?${query}`)));
    for (const p of paths) await w.line((l) => l.path === p && l.decision === "sent", 60_000);
    assert.deepEqual(w.lines().filter((l) => l.decision === "queue_failed").map((l) => l.reason), [], "no send passed the queue's limits");
    const queued = w.lines().filter((l) => l.decision === "queued");
    assert.equal(new Set(queued.map((l) => l.path)).size, 300, "every page view queued, once");
    assert.equal(queued.length, 300);
    assert.ok(queued.every((l) => (l.batch_page_views ?? 1) <= 60), "a message holds at most ~120 KB of page views");
    for (const p of paths) assert.equal(eventsFor(p).length, 1, p);
  } finally {
    await w.close();
  }
});

test("a platform failing for now: the message is retried later with the same body and ids, and pages do not wait", async () => {
  const w = await start();
  try {
    graph.replies.push({ status: 503, body: { error: { message: "down" } } });
    const path = page();
    const started = Date.now();
    const res = await request(w.url, path);
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started < 2000, "the page does not wait for the platform");
    const retrying = await w.line((l) => l.path === path && l.decision === "retrying", 10000);
    assert.equal(retrying.retry_in_s, 10);
    assert.match(retrying.reason, /HTTP 503/);
    const sent = await w.line((l) => l.path === path && l.decision === "sent", 30000);
    assert.equal(sent.attempts, 2);
    const arrivals = eventsFor(path);
    assert.equal(arrivals.length, 2, "tried twice");
    assert.equal(arrivals[0].body, arrivals[1].body, "the same body, so the same event id, on every try");
  } finally {
    await w.close();
  }
});

test("a batch refused for one bad event: only that page view fails", async () => {
  const w = await start({ BATCH_WINDOW_MS: "500" });
  const before = graph.requests.length;
  graph.defaultReply = (record) =>
    record.json?.data?.some((e) => e.custom_data?.bad)
      ? { status: 400, body: { error: { message: "Invalid parameter", code: 100, fbtrace_id: "bad" } } }
      : { status: 200, body: { events_received: record.json?.data?.length ?? 0, fbtrace_id: "ok" } };
  try {
    const paths = [page(), page(), page(), page()];
    await Promise.all(paths.map((p, i) => request(w.url, i === 2 ? `${p}?bad=1` : p)));
    for (const [i, p] of paths.entries()) {
      const line = await w.line((l) => l.path === p && (l.decision === "sent" || l.decision === "failed"), 15000);
      assert.equal(line.decision, i === 2 ? "failed" : "sent", p);
    }
    assert.ok(graph.requests.length - before >= 3, "the batch was halved");
  } finally {
    graph.defaultReply = (record) => ({ status: 200, body: { events_received: record.json?.data?.length ?? 0, messages: [], fbtrace_id: `trace-${graph.requests.length}` } });
    await w.close();
  }
});

test("a platform that never recovers: after max_retries every event id is logged by the dead-letter consumer", async () => {
  const w = await start({}, { maxRetries: 1 });
  const saved = graph.defaultReply;
  graph.defaultReply = () => ({ status: 503, body: { error: { message: "down for good" } } });
  try {
    const paths = [page(), page()];
    for (const p of paths) await request(w.url, p);
    for (const p of paths) {
      const queued = await w.line((l) => l.path === p && l.decision === "queued");
      const dead = await w.line((l) => l.path === p && l.decision === "dead_lettered", 30000);
      assert.deepEqual(dead.event_ids, queued.event_ids);
      assert.equal(dead.destination, "meta");
      assert.equal(dead.level, "error");
    }
  } finally {
    graph.defaultReply = saved;
    await w.close();
  }
});

test("a queue send that fails: the events are delivered directly, and the log says so", async () => {
  // A binding that is no queue: every send throws.
  const w = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "0", DELIVERY: "queue", TAGRELAY_QUEUE: "not-a-queue" });
  try {
    const path = page();
    await request(w.url, path);
    const failed = await w.line((l) => l.path === path && l.decision === "queue_failed");
    assert.equal(failed.fallback, "direct");
    const sent = await w.line((l) => l.path === path && l.decision === "sent");
    assert.equal(sent.attempts, 1);
    assert.equal(eventsFor(path).length, 1);
  } finally {
    await w.close();
  }
});

test("DELIVERY=direct ignores the queue", async () => {
  const w = await start({ DELIVERY: "direct" });
  try {
    const path = page();
    await request(w.url, path);
    await w.line((l) => l.path === path && l.decision === "sent");
    assert.ok(!w.lines().some((l) => l.path === path && l.decision === "queued"));
  } finally {
    await w.close();
  }
});

test("several destinations through the queue: merged per destination, one GA4 request per page view, also when the send falls back", async () => {
  const ga4 = await startGraph();
  ga4.defaultReply = () => ({ status: 204, body: "" });
  const ga4Vars = { GA4_MEASUREMENT_ID: "G-Q1", GA4_API_SECRET: "q-secret", GA4_API_BASE: ga4.url, BATCH_WINDOW_MS: "400" };
  const ga4Paths = (paths) => ga4.requests.map((r) => new URL(r.json.events[0].params.page_location).pathname).filter((p) => paths.includes(p));
  const w = await start(ga4Vars);
  try {
    const metaBefore = graph.requests.length;
    const paths = [page(), page(), page()];
    await Promise.all(paths.map((p) => request(w.url, p, { headers: { cookie: "_ga=GA1.1.1.2" } })));
    for (const p of paths) await w.line((l) => l.path === p && l.destination === "ga4" && l.decision === "sent", 10000);
    for (const p of paths) await w.line((l) => l.path === p && l.destination === "meta" && l.decision === "sent", 10000);
    assert.deepEqual(ga4Paths(paths).sort(), [...paths].sort(), "one GA4 request per page view");
    assert.equal(graph.requests.length - metaBefore, 1, "Meta's page views merged into one request");
  } finally {
    await w.close();
  }
  const broken = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, DELIVERY: "queue", TAGRELAY_QUEUE: "not-a-queue", ...ga4Vars });
  try {
    const paths = [page(), page(), page()];
    await Promise.all(paths.map((p) => request(broken.url, p, { headers: { cookie: "_ga=GA1.1.1.2" } })));
    for (const p of paths) await broken.line((l) => l.path === p && l.destination === "ga4" && l.decision === "sent", 10000);
    assert.deepEqual(ga4Paths(paths).sort(), [...paths].sort(), "directly too, every page view reaches GA4");
  } finally {
    await broken.close();
    ga4.close();
  }
});

test("a minute-long outage loses nothing: 1,000 page views, every event id delivered once with one body", { timeout: 300_000 }, async () => {
  const outage = await startGraph();
  const OUTAGE_MS = 60_000;
  let recoverAt = Infinity;
  outage.defaultReply = (record) =>
    Date.now() < recoverAt ? { status: 503, body: { error: { message: "Service temporarily unavailable" } } } : { status: 200, body: { events_received: record.json?.data?.length ?? 0, fbtrace_id: "ok" } };
  const w = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: outage.url }, { queue: {} });
  try {
    const time = async (path) => { const t = Date.now(); const res = await request(w.url, path); assert.equal(res.status, 200); return Date.now() - t; };
    // The platform answers 503 for the next minute; 1,000 page views at concurrency 50 meanwhile.
    recoverAt = Date.now() + OUTAGE_MS;
    const paths = Array.from({ length: 1000 }, () => page());
    const latencies = [];
    for (let i = 0; i < paths.length; i += 50) latencies.push(...(await Promise.all(paths.slice(i, i + 50).map(time))));
    assert.ok(Date.now() < recoverAt, "every page view was served during the outage");
    const ids = new Map(); // event id -> its JSON as first received
    const sentPaths = () => new Set(w.lines().filter((l) => l.decision === "sent").map((l) => l.path)).size;
    // The last tries of the outage are at most 60 s apart (retry delays 10, 30, 60 s), so
    // everything is sent about two minutes in; the wait allows for a loaded machine, and says
    // where things stood if it runs out.
    await waitFor(() => sentPaths() >= 1000, 230_000, "every page view's sent line, after the recovery").catch((e) => {
      const count = (d) => w.lines().filter((l) => l.decision === d).length;
      const delays = w.lines().filter((l) => l.decision === "retrying").map((l) => l.retry_in_s);
      throw new Error(`${e.message}: ${sentPaths()} of 1000 page views sent, ${count("retrying")} retrying lines (delays ${[...new Set(delays)].join(", ")} s), ${count("failed")} failed, ${count("dead_lettered")} dead-lettered, ${outage.requests.length} requests at the platform, the last ${Math.round((Date.now() - outage.requests.at(-1).at) / 1000)} s ago`);
    });
    for (const r of outage.requests) {
      for (const e of r.json.data) {
        const text = JSON.stringify(e);
        if (!ids.has(e.event_id)) ids.set(e.event_id, text);
        else assert.equal(text, ids.get(e.event_id), `event ${e.event_id} arrived with a different body`);
      }
    }
    const ours = [...ids.keys()];
    assert.equal(ours.length, 1000, "exactly 1,000 distinct event ids");
    const pathsSeen = new Set(outage.requests.flatMap((r) => r.json.data.map((e) => new URL(e.event_source_url).pathname)));
    for (const p of paths) assert.ok(pathsSeen.has(p), p);
    const delivered = outage.requests.filter((r) => r.at >= recoverAt);
    assert.equal(new Set(delivered.flatMap((r) => r.json.data.map((e) => e.event_id))).size, 1000, "all delivered after the recovery");
    const sent = w.lines().filter((l) => l.decision === "sent");
    assert.equal(sent.length, 1000, "every page view logs sent, once");
    assert.ok(sent.every((l) => l.attempts >= 2), "each was retried through the outage");
    assert.equal(w.lines().filter((l) => l.decision === "dead_lettered").length, 0);
    // The pages never waited for the platform: no page took as long as a platform timeout.
    latencies.sort((a, b) => a - b);
    assert.ok(latencies[latencies.length - 1] < 2500, `slowest page ${latencies[latencies.length - 1]} ms`);
  } finally {
    await w.close();
    outage.close();
  }
});

test("GA4 page views of one message: only the one that failed for now is sent again", { timeout: 60_000 }, async () => {
  const ga4 = await startGraph();
  const paths = [page(), page(), page()];
  let failedOnce = false;
  ga4.defaultReply = (record) => {
    const path = new URL(record.json.events[0].params.page_location).pathname;
    if (path === paths[1] && !failedOnce) {
      failedOnce = true;
      return { status: 503, body: "unavailable" };
    }
    return { status: 204, body: "" };
  };
  const w = await start({ GA4_MEASUREMENT_ID: "G-Q2", GA4_API_SECRET: "q-secret", GA4_API_BASE: ga4.url, BATCH_WINDOW_MS: "400", DELIVERY: "queue" });
  try {
    await Promise.all(paths.map((p) => request(w.url, p, { headers: { cookie: "_ga=GA1.1.1.2" } })));
    const sent = await w.line((l) => l.path === paths[1] && l.destination === "ga4" && l.decision === "sent", 30_000);
    assert.equal(sent.attempts, 2, "its tries counted on in the re-sent message");
    const hits = (p) => ga4.requests.filter((r) => new URL(r.json.events[0].params.page_location).pathname === p).length;
    assert.deepEqual(paths.map(hits), [1, 2, 1], "the delivered page views are not sent twice");
    assert.equal(w.lines().filter((l) => l.destination === "ga4" && l.decision === "retrying").length, 1);
  } finally {
    await w.close();
    ga4.close();
  }
});

/** A mock GA4 that answers after `delayMs` and records how many of its requests were open at once. */
async function busyGa4(delayMs) {
  const ga4 = await startGraph();
  ga4.open = 0;
  ga4.maxOpen = 0;
  const server = ga4;
  server.on("request", () => {
    ga4.open++;
    ga4.maxOpen = Math.max(ga4.maxOpen, ga4.open);
  });
  ga4.defaultReply = () => ({ status: 204, body: "", delayMs });
  server.on("request", (_req, res) => res.on("finish", () => ga4.open--));
  return ga4;
}

const ga4Path = (r) => new URL(r.json.events[0].params.page_location).pathname;

test("a busy consumer opens at most six requests at a time, each timed from its own start", { timeout: 60_000 }, async () => {
  // 20 GA4 page views in one message; each answer takes 1.5 s. All at once, the later ones
  // would wait for a connection with their 2.5 s timeout running.
  const ga4 = await busyGa4(1500);
  const w = await startWorker({ ORIGIN_URL: origin.url, GA4_MEASUREMENT_ID: "G-Q3", GA4_API_SECRET: "q-secret", GA4_API_BASE: ga4.url, BATCH_WINDOW_MS: "1000", DELIVERY: "queue" }, { queue: {} });
  try {
    const paths = Array.from({ length: 20 }, () => page());
    await Promise.all(paths.map((p) => request(w.url, p, { headers: { cookie: "_ga=GA1.1.1.2" } })));
    for (const p of paths) await w.line((l) => l.path === p && l.destination === "ga4" && l.decision === "sent", 40_000);
    assert.ok(ga4.maxOpen <= 6, `${ga4.maxOpen} requests open at once`);
    assert.ok(ga4.maxOpen >= 2, "still in parallel");
    assert.deepEqual(w.lines().filter((l) => l.destination === "ga4" && l.decision !== "sent" && l.decision !== "queued").map((l) => l.reason), [], "no timeout, no retry");
    assert.equal(ga4.requests.length, 20, "each page view once");
  } finally {
    await w.close();
    ga4.close();
  }
});

test("QUEUE_MAX_SUBREQUESTS caps a consumer call; what did not fit is sent by the next without counting a try", { timeout: 90_000 }, async () => {
  const ga4 = await busyGa4(0);
  // 8 subrequests: 4 requests to the platforms per call, 4 queue sends kept for the re-sends.
  const w = await startWorker(
    { ORIGIN_URL: origin.url, GA4_MEASUREMENT_ID: "G-Q4", GA4_API_SECRET: "q-secret", GA4_API_BASE: ga4.url, BATCH_WINDOW_MS: "1000", DELIVERY: "queue", QUEUE_MAX_SUBREQUESTS: "8" },
    { queue: { maxRetries: 1 } },
  );
  try {
    const paths = Array.from({ length: 12 }, () => page());
    await Promise.all(paths.map((p) => request(w.url, p, { headers: { cookie: "_ga=GA1.1.1.2" } })));
    const sent = [];
    for (const p of paths) sent.push(await w.line((l) => l.path === p && l.destination === "ga4" && l.decision === "sent", 60_000));
    assert.ok(sent.every((l) => l.attempts === 1), `attempts ${sent.map((l) => l.attempts)}: a page view not tried is not counted`);
    assert.deepEqual(w.lines().filter((l) => ["retrying", "dead_lettered", "failed"].includes(l.decision)), [], "with max_retries 1, nothing dead-lettered");
    assert.deepEqual(ga4.requests.map(ga4Path).sort(), [...paths].sort(), "each page view once");
    // The consumer calls are a queue batch timeout apart: requests less than 400 ms apart are one call's.
    const bursts = [];
    for (const r of ga4.requests) {
      if (bursts.length === 0 || r.at - bursts.at(-1).at > 400) bursts.push({ at: r.at, n: 0 });
      bursts.at(-1).at = r.at;
      bursts.at(-1).n++;
    }
    assert.ok(bursts.length >= 3 && bursts.every((b) => b.n <= 4), `requests per call: ${bursts.map((b) => b.n)}`);
  } finally {
    await w.close();
    ga4.close();
  }
});
