// Load: many tracked requests at once must give exactly one event each, with distinct ids,
// none lost and none duplicated: batched (the default) and one request per page view, also
// when the Graph API fails first attempts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer, startGraph, startWorker, waitFor, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

const TOTAL = 1000;
const CONCURRENCY = 50;
let origin, graph, worker, unbatched;

before(async () => {
  origin = await startServer((req, res) => {
    // No event_id: tagrelay must give every request its own.
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": JSON.stringify({ event_name: "ViewContent", custom_data: { path: req.url } }) });
    res.end("<p>product</p>");
  });
  graph = await startGraph();
  const vars = { ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url };
  worker = await startWorker(vars);
  unbatched = await startWorker({ ...vars, BATCH_WINDOW_MS: "0" });
});
after(async () => { await worker?.close(); await unbatched?.close(); origin?.close(); graph?.close(); });

async function hammer(prefix, target = worker) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0, ok = 0;
  const one = () => new Promise((resolve, reject) => {
    const i = next++;
    http.get(`${target.url}/${prefix}/${i}`, { agent, headers: { "user-agent": BROWSER_UA, "cf-connecting-ip": "198.51.100.1" } }, (res) => {
      res.resume();
      res.on("end", () => { if (res.statusCode === 200) ok++; resolve(); });
    }).on("error", reject);
  });
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (next < TOTAL) await one(); }));
  agent.destroy();
  return ok;
}

/** Every event the mock accepted (answered 2xx); with `prefix`, only those of its page views
 * (a late request of an earlier test must not count toward this one). */
function accepted(prefix) {
  const all = graph.requests.filter((r) => r.accepted).flatMap((r) => r.json.data);
  return prefix === undefined ? all : all.filter((e) => e.custom_data.path.startsWith(`/${prefix}/`));
}

/** The Graph requests that carried page views of `prefix`. */
const requestsOf = (prefix) => graph.requests.filter((r) => r.json.data.some((e) => e.custom_data.path.startsWith(`/${prefix}/`)));

function checkExactlyOnce(prefix) {
  const events = accepted(prefix);
  const paths = new Set(events.map((e) => e.custom_data.path));
  const ids = new Set(events.map((e) => e.event_id));
  assert.equal(events.length, TOTAL, "events accepted");
  assert.equal(paths.size, TOTAL, "one event per page view");
  assert.equal(ids.size, TOTAL, "distinct event ids");
}

const ok = (r) => { r.accepted = true; return { status: 200, body: { events_received: r.json.data.length, fbtrace_id: "t" } }; };

test(`${TOTAL} tracked requests at concurrency ${CONCURRENCY}, batched: exactly ${TOTAL} events in far fewer requests`, { timeout: 120_000 }, async () => {
  graph.reset();
  graph.defaultReply = ok;
  assert.equal(await hammer("load"), TOTAL);
  await waitFor(() => accepted("load").length >= TOTAL, 60_000, `${TOTAL} events`);
  await new Promise((r) => setTimeout(r, 500));
  checkExactlyOnce("load");
  assert.ok(requestsOf("load").length < TOTAL / 5, `${requestsOf("load").length} requests for ${TOTAL} events`);
  assert.ok(requestsOf("load").every((r) => r.json.data.length <= 1000), "Meta's limit per request");
  const sent = worker.lines().filter((l) => l.path?.startsWith("/load/") && l.decision === "sent");
  assert.equal(sent.length, TOTAL, "one line per page view");
  assert.ok(sent.some((l) => l.batch_page_views > 1), "lines say when their events went in a batch");
});

test(`the same when the first attempt of every third batch fails: retried, none lost`, { timeout: 120_000 }, async () => {
  graph.reset();
  let batches = 0;
  const failed = new Set();
  graph.defaultReply = (r) => {
    const first = r.json.data[0].event_id;
    if (!failed.has(first) && batches++ % 3 === 0) {
      failed.add(first);
      return { status: 500, body: { error: { message: "try again", code: 2, is_transient: true } } };
    }
    return ok(r);
  };
  assert.equal(await hammer("flaky"), TOTAL);
  await waitFor(() => accepted("flaky").length >= TOTAL, 60_000, `${TOTAL} events`);
  await new Promise((r) => setTimeout(r, 500));
  checkExactlyOnce("flaky");
  assert.ok(failed.size > 0);
  assert.equal(requestsOf("flaky").filter((r) => !r.accepted).length, failed.size, "one retry per failed attempt, nothing else");
  const retried = worker.lines().filter((l) => l.path?.startsWith("/flaky/") && l.decision === "sent" && l.attempts === 2);
  assert.ok(retried.length >= failed.size, "the retried batches' page views say so");
});

test(`BATCH_WINDOW_MS=0: one request per page view, with a 500 on the first attempt of every tenth`, { timeout: 120_000 }, async () => {
  graph.reset();
  const failedOnce = new Set();
  graph.defaultReply = (r) => {
    const path = r.json.data[0].custom_data.path;
    const n = Number(path.split("/").pop());
    if (n % 10 === 0 && !failedOnce.has(path)) {
      failedOnce.add(path);
      return { status: 500, body: { error: { message: "try again", code: 2, is_transient: true } } };
    }
    return ok(r);
  };
  assert.equal(await hammer("single", unbatched), TOTAL);
  await waitFor(() => accepted("single").length >= TOTAL, 60_000, `${TOTAL} events`);
  await new Promise((r) => setTimeout(r, 500));
  checkExactlyOnce("single");
  assert.equal(failedOnce.size, TOTAL / 10);
  assert.ok(requestsOf("single").every((r) => r.json.data.length === 1), "one page view per request");
  assert.equal(requestsOf("single").length, TOTAL + TOTAL / 10, "one retry per failed first attempt, nothing else");
  const retried = unbatched.lines().filter((l) => l.path?.startsWith("/single/") && l.decision === "sent" && l.attempts === 2);
  assert.equal(retried.length, TOTAL / 10);
});
