// tagrelay's Worker entry: the per-request hot path, kept in JavaScript on purpose.
//
// A call from JS into wasm (and the promise plumbing of an async Rust handler) costs more CPU
// than the rest of a passthrough, so this file forwards every request and hands back every
// untracked response without entering wasm. The forwarding rules (origin, tracking header,
// headers to drop) come from Rust once per isolate (`configure`); wasm is entered again only
// for a tracked response (`track`: one call that decides, logs and batches; the POST waits
// in waitUntil, after the response), for a response whose headers name the origin's own host
// (with ORIGIN_URL), and on error paths, where Rust decides, logs and answers.
//
// scripts/build.sh bundles this file with the wasm-bindgen glue (`./index.js`, generated for
// `--target module` with a reset function).
import * as wasm from "./index.js";

// Bumped each time the wasm instance is replaced: objects of an older instance (deliveries
// in flight) must not call into the new one.
let generation = 0;

// A panic aborts the wasm instance (a WebAssembly.RuntimeError). Start a fresh one, with
// every view the glue caches of the old memory reset (`__wbg_reset_state`), so the next
// request is served normally. Returns true when it did.
function recover(error) {
  if (!(error instanceof WebAssembly.RuntimeError)) return false;
  wasm.__wbg_reset_state();
  generation++;
  saltedDays.clear();
  requestTemplates.clear();
  return true;
}

let rules = null; // { origin, trackingHeader, dropHeaders, connectionKeep, protectedPrefixes, firstParty, gaCookie, ttclid, consentCookies, analytics, debug, delivery, queueMaxSubrequests } or { error }, per isolate
let connectionKeep = null; // Set of rules.connectionKeep
let consentCookie = null; // RegExp: a Cookie header that holds one of rules.consentCookies

/** Reads the rules from the configuration on an isolate's first request (or queue batch). */
function ensureRules(env) {
  if (rules !== null) return;
  rules = wasm.configure(env);
  if (rules.error === undefined) {
    connectionKeep = new Set(rules.connectionKeep);
    const names = rules.consentCookies.map((n) => n.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&"));
    consentCookie = new RegExp(`(?:^|;)\\s*(?:${names.join("|")})=`);
  }
}

// A Cookie header whose `_fbp` has the shape Meta's ids have (src/click_ids.rs checks it
// exactly): the visitor needs no new one.
const VALID_FBP = /(?:^|;)\s*_fbp=fb\.\d\.\d{1,13}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?\s*(?:;|$)/;
// A page: `text/html`, any parameters.
const HTML = /^\s*text\/html/i;

/** Whether the response (`status`, `headers`) to a `method` request is a page: a GET answered 2xx `text/html`. */
function isPage(method, status, headers) {
  if (method !== "GET" || status < 200 || status > 299) return false;
  const type = headers.get("content-type");
  return type !== null && HTML.test(type);
}

/**
 * Whether an untracked page (see `isPage`) may need a first-party `_fbp`/`_fbc` cookie set or
 * expired (src/visitor/first_party.rs decides): its visitor has no valid `_fbp`, arrives from
 * an ad click (`fbclid`), or may have said no (GPC or a consent cookie: existing ids are then
 * expired), or, with GA4 on, has no `_ga`, or, with TikTok on, arrives from a TikTok ad
 * (`ttclid`). Every other response goes back untouched without entering wasm: a returning
 * visitor with `_fbp` and no consent cookie costs a regex test.
 */
function maybeNeedsCookies(url, headers) {
  const cookie = headers.get("cookie");
  if (cookie === null || !VALID_FBP.test(cookie) || url.includes("fbclid=")) return true;
  if (rules.gaCookie && !cookie.includes("_ga=")) return true;
  if (rules.ttclid && url.includes("ttclid=")) return true;
  return headers.get("sec-gpc") !== null || consentCookie.test(cookie);
}

/** Sets or expires the first-party cookies of an untracked page view on `headers` (`h`: the request's). */
function firstPartyCookies(request, h, env, response, headers) {
  const cf = edgeFacts(request, h);
  const bot = cf?.botManagement;
  wasm.first_party_cookies(
    env, request.method, request.url,
    h.get("user-agent") ?? undefined, h.get("cookie") ?? undefined, purpose(h), h.get("cf-ray") ?? undefined,
    bot?.verifiedBot, bot?.score, cf?.country ?? undefined, h.get("sec-gpc") ?? undefined,
    response.status, response.headers.get("content-type") ?? undefined, headers,
  );
}

/** An RFC 9110 token: what a header name (and so a `Connection` option) must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether a `Connection` token from the client may remove the header it names. */
function droppable(name) {
  if (name === "" || !TOKEN.test(name) || connectionKeep.has(name)) return false;
  for (const prefix of rules.protectedPrefixes) if (name.startsWith(prefix)) return false;
  return true;
}

// Headers that announce a speculative load (prefetch, prerender, preview).
const PURPOSE_HEADERS = ["sec-purpose", "purpose", "x-purpose", "x-moz"];

/** The speculative-load hints of a request, joined, or undefined. */
function purpose(headers) {
  let joined;
  for (const name of PURPOSE_HEADERS) {
    const v = headers.get(name);
    if (v !== null) joined = joined === undefined ? v : `${joined}, ${v}`;
  }
  return joined;
}

// `request.cf` is a getter that parses the request's cf object from JSON on its first read:
// 20–30 µs of CPU with the ~1.3 KB Cloudflare sets (bench/NOTES.md), more than the rest of an
// untracked page costs. tagrelay needs two of its fields: the country, which Cloudflare also
// sends as the `CF-IPCountry` header (IP Geolocation, on by default), and Bot Management's
// verdict, which only zones with Bot Management (Enterprise) get. So an isolate reads
// `request.cf` on one page in CF_PROBE_EVERY, and takes the country from the header in
// between, until it learns that it must read it on every page: a probe found `botManagement`,
// or a country that the header does not carry (no header: IP Geolocation off, or not on
// Cloudflare, as in wrangler dev).
const CF_PROBE_EVERY = 64;
let cfEveryPage = false; // learned: read request.cf on every page
let cfSkips = 0; // pages left before the next probe
// The last probe found no country, in request.cf or the header (not on Cloudflare, as in a
// bare workerd): between probes a page without the header is not read either.
let cfCountryless = false;
// The request whose facts `lastFacts` holds: a page that is counted and tracked (or gets its
// cookies) takes them once, so it is one page, not two, towards the next probe.
let lastFactsOf = null;
let lastFacts;

/**
 * What tagrelay reads of the request's `cf` (`country`, `botManagement`): `request.cf` itself,
 * or, between probes on a zone without Bot Management, `{ country }` from `CF-IPCountry`.
 * Read once per request.
 */
function edgeFacts(request, headers) {
  if (request !== lastFactsOf) {
    lastFactsOf = request;
    lastFacts = readEdgeFacts(request, headers);
  }
  return lastFacts;
}

/** `edgeFacts`, read: one page towards the next probe. */
function readEdgeFacts(request, headers) {
  if (cfSkips > 0) {
    const country = headers.get("cf-ipcountry");
    if (country !== null || cfCountryless) {
      cfSkips--;
      return { country };
    }
  }
  const cf = request.cf;
  if (!cfEveryPage) {
    const country = cf?.country ?? null;
    const header = headers.get("cf-ipcountry");
    cfEveryPage = cf?.botManagement != null || (country !== null && country !== header);
    cfCountryless = country === null && header === null;
    cfSkips = cfEveryPage ? 0 : CF_PROBE_EVERY - 1;
  }
  return cf;
}

/** The URL to fetch upstream: the request's own, or with ORIGIN_URL its path and query there. */
function upstreamUrl(url, publicOrigin) {
  return publicOrigin === null ? url : rules.origin + (url.slice(publicOrigin.length) || "/");
}

/**
 * The init of the request to send upstream: same method, headers (hop-by-hop ones dropped,
 * with ORIGIN_URL `X-Forwarded-Host` and `-Proto` set) and streamed body; redirects returned.
 * `fetch(url, init)` builds the one Request: measured ~3% cheaper on a passthrough than
 * building a Request here and fetching it (bench/NOTES.md).
 */
function upstreamInit(request, requestHeaders, method, url, publicOrigin) {
  const headers = new Headers(requestHeaders);
  const connection = headers.get("connection");
  for (const name of rules.dropHeaders) headers.delete(name);
  if (connection !== null) {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (droppable(name)) headers.delete(name);
    }
  }
  if (publicOrigin !== null) {
    headers.set("x-forwarded-host", publicOrigin.slice(publicOrigin.indexOf("://") + 3));
    headers.set("x-forwarded-proto", url.startsWith("https:") ? "https" : "http");
  }
  return { method, headers, body: request.body, redirect: "manual" };
}

/** Fetches the origin once (see `upstreamUrl`, `upstreamInit`). */
function fetchUpstream(request, requestHeaders, method, url, publicOrigin) {
  return fetch(upstreamUrl(url, publicOrigin), upstreamInit(request, requestHeaders, method, url, publicOrigin));
}

// Methods that are safe to send twice when they carry no body (nginx's proxy_next_upstream
// retries these too).
const RETRYABLE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * After the origin's fetch threw `error`: a bodiless GET, HEAD or OPTIONS whose connection
 * failed before any response is sent once more at once: the usual cause is a pooled
 * keep-alive connection the origin closed just as it was reused ("Network connection lost"),
 * and a second connection serves the page. Anything else fails on its first error. Returns
 * the response, or throws `{ error, attempts }`. (The first fetch is awaited in the handler
 * itself: an async function around it cost a promise per request.)
 */
async function refetchOrigin(request, requestHeaders, method, url, publicOrigin, error) {
  if (request.body !== null || !RETRYABLE_METHODS.has(method)) throw { error, attempts: 1 };
  try {
    return await fetchUpstream(request, requestHeaders, method, url, publicOrigin);
  } catch (error) {
    throw { error, attempts: 2 };
  }
}

/** `scheme://host[:port]` of the URL the browser asked for (workerd's URLs have a path). */
function originOf(url) {
  const pathStart = url.indexOf("/", url.indexOf("://") + 3);
  return pathStart < 0 ? url : url.slice(0, pathStart);
}

// A Set-Cookie that scopes itself to a domain.
const DOMAIN_ATTRIBUTE = /;\s*domain\s*=/i;

/**
 * With ORIGIN_URL: the header changes that keep the origin's own host from reaching the
 * client (src/origin_rewrite.rs), or undefined. Wasm is entered only when a header that can
 * hold such a URL is there at all.
 */
function publicHeaderChanges(headers, publicOrigin) {
  const location = headers.get("location");
  const contentLocation = headers.get("content-location");
  const refresh = headers.get("refresh");
  let cookies;
  if (headers.has("set-cookie")) {
    const all = headers.getSetCookie();
    if (all.some((c) => DOMAIN_ATTRIBUTE.test(c))) cookies = all;
  }
  if (location === null && contentLocation === null && refresh === null && cookies === undefined) return undefined;
  return wasm.public_headers(rules.origin, publicOrigin, location ?? undefined, contentLocation ?? undefined, refresh ?? undefined, cookies);
}

/** Applies `publicHeaderChanges` to the (mutable) headers of a rebuilt response. */
function applyHeaderChanges(headers, changes) {
  if (changes.location !== undefined) headers.set("location", changes.location);
  if (changes.contentLocation !== undefined) headers.set("content-location", changes.contentLocation);
  if (changes.refresh !== undefined) headers.set("refresh", changes.refresh);
  if (changes.setCookie !== undefined) {
    headers.delete("set-cookie");
    for (const cookie of changes.setCookie) headers.append("set-cookie", cookie);
  }
}

// `attemptDone` answers: the delivery is over; or the platform refused a batch as a whole, so
// send its two halves instead (src/delivery/batching.rs); or, from the queue, try its
// messages again later.
const DONE = -1;
const SPLIT = -2;
const RETRY_LATER = -3;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The message of what a `fetch` or a D1 call threw. */
const errorText = (e) => String(e?.message ?? e);

// What every request to a destination shares, by its name: { url, headers, readsSuccessBody }.
// Read from the first delivery to it (the settings are the isolate's), not from every one:
// GA4 sends a request per page view. Cleared when the wasm instance is replaced.
const requestTemplates = new Map();

/** What requests to `job`'s destination share. */
function requestTemplate(job) {
  const name = job.destination;
  let template = requestTemplates.get(name);
  if (template === undefined) {
    template = { url: job.url, headers: JSON.parse(job.headers), readsSuccessBody: job.readsSuccessBody };
    requestTemplates.set(name, template);
  }
  return template;
}

// At most this many requests of one invocation are open at a time (Workers' limit on
// simultaneous open connections): more would wait inside fetch() with their timeout running.
const MAX_OPEN_CONNECTIONS = 6;

/**
 * A queue consumer call's limits on its requests to the platforms: at most `left` more (so
 * that the call stays under the subrequests an invocation may make), and at most
 * MAX_OPEN_CONNECTIONS open at once. The page views of a request that did not fit are
 * listed in `untried` (message index, position pairs): they are put back on the queue
 * without it counting as a try.
 */
function requestLimits(max) {
  return { left: max, open: 0, waiting: [], untried: [] };
}

/** Waits for a free connection of `limits`. */
async function openConnection(limits) {
  while (limits.open >= MAX_OPEN_CONNECTIONS) await new Promise((resolve) => limits.waiting.push(resolve));
  limits.open++;
}

/** Frees a connection of `limits`, waking the next request waiting for one. */
function closeConnection(limits) {
  limits.open--;
  limits.waiting.shift()?.();
}

/**
 * Sends a PendingDelivery (src/edge/delivery.rs): the POST is made here, Rust decides after
 * each attempt whether to retry and when, and logs the outcome. A delivery whose wasm
 * instance was replaced meanwhile (a trap elsewhere) is dropped, logged here: its object
 * belongs to the old instance's memory and must not touch the new one. From the queue
 * consumer, `later` collects the page views to try again later and `limits` bounds the
 * requests (`requestLimits`); each attempt's timeout starts when its request does.
 */
async function deliver(job, born = generation, later, limits) {
  const current = () => born === generation;
  let parts = [];
  try {
    if (!current()) return droppedAfterRestart(0);
    const { url, headers, readsSuccessBody } = requestTemplate(job);
    const body = job.body();
    for (let attempt = 1; ; attempt++) {
      if (limits !== undefined) {
        if (limits.left <= 0) {
          limits.untried.push(...job.messageGroups());
          return;
        }
        limits.left--;
        await openConnection(limits);
        if (!current()) {
          closeConnection(limits);
          return droppedAfterRestart(attempt - 1);
        }
      }
      let status = 0, text = "", error, timedOut = false;
      try {
        const response = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(job.timeoutMs) });
        status = response.status;
        // A 2xx whose body the destination ignores (GA4's 204) is not read.
        if (readsSuccessBody || status < 200 || status > 299) text = await response.text();
        else response.body?.cancel().catch(() => {});
      } catch (e) {
        timedOut = e?.name === "TimeoutError";
        error = errorText(e);
      } finally {
        if (limits !== undefined) closeConnection(limits);
      }
      if (!current()) return droppedAfterRestart(attempt);
      const next = job.attemptDone(attempt, status, text, error, timedOut);
      if (next === SPLIT) parts = job.split();
      if (next === RETRY_LATER) later(job.messageGroups(), job.retryDelayS);
      if (next === DONE || next === SPLIT || next === RETRY_LATER) break;
      await sleep(next);
      if (!current()) return droppedAfterRestart(attempt);
    }
  } finally {
    if (current()) job.free();
  }
  await Promise.all(parts.map((part) => deliver(part, born, later, limits)));
}

// Delivery through a Cloudflare Queue (src/delivery/queue.rs): with DELIVERY=queue, or by
// default when the TAGRELAY_QUEUE binding exists. `sendBatch` takes at most 100 messages and
// 256 KB in one call.
const QUEUE_SEND_MESSAGES = 100;
const QUEUE_SEND_BYTES = 250_000;
const utf8 = new TextEncoder();
/** A message body's size as the queue counts it: UTF-8 bytes, not UTF-16 code units. */
const bodyBytes = (body) => utf8.encode(body).byteLength;
// Thrown to stop sending when the wasm instance was replaced meanwhile.
const RESTARTED = Symbol("wasm restarted");
// A dead-letter queue's name ends so (wrangler.toml: tagrelay-events-dlq).
const DLQ_SUFFIX = "-dlq";

/** The queue to deliver through, or null for direct delivery. */
function queueOf(env) {
  if (rules.delivery === "direct") return null;
  return env.TAGRELAY_QUEUE ?? null;
}

/**
 * Puts `units` on `queue` in as few `sendBatch` calls as its limits allow; a unit's `messages`
 * ({ body, contentType, delaySeconds? }) always go in the same call. After each call,
 * `settle(units, error)` is told which units it carried and what it threw (undefined when it
 * succeeded); a `settle` that throws stops the sending. At most `maxCalls` calls are made:
 * the units past them are not sent (nor settled). Returns how many calls were made.
 */
async function sendInBatches(queue, units, settle, maxCalls = Infinity) {
  let chunk = [], count = 0, bytes = 0, calls = 0;
  const flush = async () => {
    if (chunk.length === 0 || calls >= maxCalls) return;
    calls++;
    const carried = chunk;
    chunk = []; count = 0; bytes = 0;
    let error;
    try {
      await queue.sendBatch(carried.flatMap((u) => u.messages));
    } catch (e) {
      error = e;
    }
    await settle(carried, error);
  };
  for (const unit of units) {
    const size = unit.messages.reduce((n, m) => n + bodyBytes(m.body), 0);
    if (count + unit.messages.length > QUEUE_SEND_MESSAGES || bytes + size > QUEUE_SEND_BYTES) await flush();
    if (calls >= maxCalls) break;
    chunk.push(unit);
    count += unit.messages.length;
    bytes += size;
  }
  await flush();
  return calls;
}

/** Sends taken deliveries: onto `queue`, or directly when it is null. */
function dispatch(queue, jobs, born) {
  if (queue === null) return Promise.all(jobs.map((job) => deliver(job, born)));
  return enqueue(queue, jobs, born);
}

/**
 * Puts the deliveries' messages on the queue, in as few `sendBatch` calls as the limits
 * allow, each message settled on its own (`queueParts`): those of a send that fails are
 * logged `queue_failed` and delivered directly.
 */
async function enqueue(queue, jobs, born) {
  const current = () => born === generation;
  if (!current()) return droppedAfterRestart(0);
  const fallback = [];
  // Every message is made now, while its wasm instance is certainly current.
  const units = [];
  for (const job of jobs) {
    for (const part of job.queueParts()) units.push({ job: part, messages: [{ body: part.message, contentType: "text" }] });
    job.free();
  }
  try {
    await sendInBatches(queue, units, (carried, error) => {
      // The jobs belong to a replaced wasm instance: stop, as `deliver` does.
      if (!current()) throw RESTARTED;
      settleQueued(carried, error, fallback);
    });
  } catch (e) {
    if (e !== RESTARTED) throw e;
    return droppedAfterRestart(0);
  }
  await Promise.all(fallback.map((job) => deliver(job, born)));
}

/**
 * The jobs of one `sendBatch` (`carried`), settled: logged `queued`, or, when the send threw
 * `error`, logged `queue_failed` and their direct deliveries added to `fallback`.
 */
function settleQueued(carried, error, fallback) {
  for (const { job } of carried) {
    if (error === undefined) {
      job.queued();
    } else {
      job.queueFailed(errorText(error));
      fallback.push(...job.directParts());
    }
    job.free();
  }
}

// Queue sends a consumer call keeps for itself out of QUEUE_MAX_SUBREQUESTS: the re-sends of
// page views failed for now or not tried (each send carries up to 100 messages or 256 KB).
const RESEND_CALLS = 4;

/**
 * The queue consumer: merges the messages of each destination into requests, tries each once,
 * and acknowledges every message whose page views were all delivered (or refused for good).
 * A message whose page views all failed for now is retried as it is, with a growing delay: the
 * queue counts its tries and dead-letters it after max_retries. One with only some of them
 * failed (GA4 sends each page view on its own) is acknowledged and those page views alone are
 * re-sent, their tries counted on, so that no delivered one is sent twice (GA4 does not
 * deduplicate). The call makes at most QUEUE_MAX_SUBREQUESTS requests and queue sends, at most
 * six at a time: page views whose requests did not fit are re-sent the same way, at once and
 * without it counting as a try. A wasm restart meanwhile retries them all: at least once,
 * never lost.
 */
async function consumeQueue(batch, env) {
  const bodies = batch.messages.map((m) => (typeof m.body === "string" ? m.body : JSON.stringify(m.body)));
  const attempts = Uint32Array.from(batch.messages, (m) => m.attempts);
  if (batch.queue.endsWith(DLQ_SUFFIX)) {
    await keepDeadLetters(env, batch, bodies, attempts);
    batch.ackAll();
    return;
  }
  const born = generation;
  const pending = new Map(); // message index -> { positions: Set of page views failed for now, seconds }
  const later = (pairs, seconds) => {
    for (let k = 0; k < pairs.length; k += 2) {
      const entry = pending.get(pairs[k]) ?? { positions: new Set(), seconds: 0 };
      entry.positions.add(pairs[k + 1]);
      entry.seconds = Math.max(entry.seconds, seconds);
      pending.set(pairs[k], entry);
    }
  };
  const max = rules.queueMaxSubrequests;
  const limits = requestLimits(Math.max(1, max - RESEND_CALLS));
  await Promise.all(wasm.consume(env, bodies, attempts).map((job) => deliver(job, born, later, limits)));
  if (born !== generation) return batch.retryAll();
  const untried = new Map(); // message index -> Set of page views not tried
  for (let k = 0; k < limits.untried.length; k += 2) {
    const positions = untried.get(limits.untried[k]) ?? new Set();
    positions.add(limits.untried[k + 1]);
    untried.set(limits.untried[k], positions);
  }
  const resent = await resendRemainders(env, batch, bodies, pending, untried, Math.max(1, limits.left + RESEND_CALLS));
  batch.messages.forEach((m, i) => {
    const entry = pending.get(i);
    if ((entry === undefined && !untried.has(i)) || resent.has(i)) m.ack();
    else m.retry({ delaySeconds: entry?.seconds ?? 0 });
  });
}

/**
 * The dead-letter queue's consumer: keeps each message in D1 for replay (when the database is
 * bound), then logs `dead_lettered` for every page view, saying whether it was kept. Keeping
 * that fails is logged too: the messages are acknowledged either way, never retried into
 * oblivion, and their event ids are in the log.
 */
async function keepDeadLetters(env, batch, bodies, attempts) {
  const ids = batch.messages.map((m) => String(m.id));
  const keep = wasm.dead_letter_statements(env, ids, bodies, Date.now());
  let kept = false, error;
  if (keep !== undefined) {
    try {
      const db = env.TAGRELAY_DB;
      await db.batch(prepared(db, JSON.parse(keep)));
      kept = true;
    } catch (e) {
      error = errorText(e);
    }
  }
  wasm.dead_letters(bodies, attempts, kept, error);
}

/**
 * Re-sends, for each message with page views failed for now (`pending`) or not tried
 * (`untried`), a message of those page views alone: after their delay, their tries counted on
 * (this try is not counted for a message none of whose page views was tried). A message whose
 * page views all failed for now is left out: it is retried whole. Makes at most `maxCalls`
 * queue sends; returns the indexes of the messages so replaced (the others, and those whose
 * re-send failed, are retried whole).
 */
async function resendRemainders(env, batch, bodies, pending, untried, maxCalls) {
  const resent = new Set();
  const queue = env.TAGRELAY_QUEUE;
  if (!queue) return resent;
  const units = [];
  for (const i of new Set([...pending.keys(), ...untried.keys()])) {
    const failed = pending.get(i);
    const skipped = untried.get(i);
    if (skipped === undefined && failed.positions.size >= wasm.message_page_views(bodies[i])) continue;
    const positions = new Set([...(failed?.positions ?? []), ...(skipped ?? [])]);
    const tries = batch.messages[i].attempts - (failed === undefined ? 1 : 0);
    const body = wasm.message_remainder(bodies[i], Uint32Array.from(positions), tries);
    if (body === undefined) continue;
    const message = { body, contentType: "text" };
    if (failed !== undefined) message.delaySeconds = failed.seconds;
    units.push({ i, messages: [message] });
  }
  await sendInBatches(queue, units, (carried, error) => {
    // A send that failed leaves its messages to be retried whole instead: at least once.
    if (error === undefined) for (const { i } of carried) resent.add(i);
  }, maxCalls);
  return resent;
}

/** A delivery of a replaced wasm instance stops here (see `deliver`). */
function droppedAfterRestart(attempts) {
  logLine("error", "failed", { attempts, reason: "dropped: tagrelay's wasm restarted after an internal error while this delivery was in flight" });
}

/**
 * Tracking for a response that carried the header: Rust decides, logs and batches the events
 * (src/batching.rs) in one call. Returns the batch's send, for waitUntil, when this page view
 * opened the batch's window (it waits for the window to close) or filled the batch; else
 * undefined: most page views just join the batch. `h`: the request's headers.
 */
function track(request, h, env, value, status, source, headers) {
  const cf = edgeFacts(request, h);
  const bot = cf?.botManagement;
  const code = wasm.track(
    env, value, request.method, request.url,
    h.get("user-agent") ?? undefined, h.get("cf-connecting-ip") ?? undefined,
    h.get("cookie") ?? undefined, h.get("referer") ?? undefined, purpose(h),
    h.get("cf-ray") ?? undefined, bot?.verifiedBot, bot?.score,
    cf?.country ?? undefined, h.get("sec-gpc") ?? undefined,
    status, source.get("content-type") ?? undefined,
    source.get("cf-cache-status") ?? undefined, source.get("age") ?? undefined,
    rules.debug ? h.get("tagrelay-debug") ?? undefined : undefined, headers,
  );
  if (code < 0) return undefined;
  const window = code & NO_WINDOW;
  const windows = code >>> WINDOWS_SHIFT;
  if ((code & SEND_FULL) === 0) return sendBatch(env, window, windows);
  const now = sendFull(env);
  return window === NO_WINDOW ? now : Promise.all([now, sendBatch(env, window, windows)]);
}

// `track`'s answer (src/edge/mod.rs): the low 16 bits the window to wait for (NO_WINDOW:
// none), SEND_FULL set when a batch is full, and from WINDOWS_SHIFT up the windows this page
// view opened (a bit per destination), whose batches its timer sends.
const NO_WINDOW = 0xffff;
const SEND_FULL = 1 << 16;
const WINDOWS_SHIFT = 17;

/**
 * Sends the full batches now (a batch reached its destination's limits, or
 * BATCH_WINDOW_MS=0): take them at once, so no later page view joins them. A batch of
 * several page views (up to 1,000 events) is serialized and POSTed after a timer, so that
 * work does not delay this page's response; this page view's own events alone
 * (BATCH_WINDOW_MS=0) take ~2 µs to serialize, less than the timer (~9 µs, bench/NOTES.md),
 * so they go at once. Every destination's request is sent on its own.
 */
function sendFull(env) {
  const queue = queueOf(env);
  const jobs = wasm.take_batch(env, 0, queue !== null);
  if (jobs.length === 0) return undefined;
  const born = generation;
  const sendAll = () => dispatch(queue, jobs, born);
  return jobs.length > 1 || jobs[0].pageViews > 1 ? sleep(0).then(sendAll) : sendAll();
}

/**
 * Waits `wait` ms for the windows this page view opened to close, then sends those
 * destinations' batches (`windows`, from `track`), each on its own: one platform's retries
 * never hold up another's. A batch whose window another page view opened is left to that
 * one's timer, so a destination that sends often (GA4, a request per page view) does not cut
 * the others' batches short.
 */
async function sendBatch(env, wait, windows) {
  await sleep(wait);
  const born = generation;
  const queue = queueOf(env);
  await dispatch(queue, wasm.take_batch(env, windows, queue !== null), born);
}

// Page-view analytics (src/edge/analytics.rs). The hot path only queues each page view's
// facts here, with no call into wasm and no D1 call; a flush after `rules.analytics.flushMs`
// (in waitUntil, after the response) counts them in wasm and writes the isolate's counts to
// D1 in one batch. A flush that fails keeps its counts (in wasm) for the next one.

// Page views queued at most; beyond that (D1 failing for long under heavy traffic) they are
// counted as lost and logged.
const MAX_PENDING_VIEWS = 5000;
// Page views queued that start a flush before the timer, to keep memory small.
const EARLY_FLUSH_VIEWS = 1000;
// Once the isolate's wasm holds the day's salt, queued page views are handed to wasm in
// groups of this many, after the response (a timer), instead of all at the flush: fewer of
// them are kept alive between flushes. Measured in bench scenario (l) (bench/NOTES.md): 250
// is a few percent cheaper than counting everything at the flush; 32 was 12% dearer (each
// group's timer, JSON and wasm call, and its per-call User-Agent memo, cost more than keeping
// the page views did).
const INGEST_GROUP = 250;
const DAY_MS = 86_400_000;
/** The UTC day (days since the epoch) of a time in ms. */
const dayOf = (ms) => Math.floor(ms / DAY_MS);
// The facts queued per page view, one after another in `pendingViews`: time (ms), URL,
// Referer, User-Agent, CF-Connecting-IP, country, speculative-load hints, verifiedBot, score.
// They reach wasm as one text, joined by "\n" (src/analytics/page_view.rs, `parse_views`):
// no URL or header value holds a line break, and a flat array costs no allocation per view.
const VIEW_FIELDS = 9;
const VIEW_SEPARATOR = "\n";
// Longest URL, Referer and User-Agent kept per queued page view: 5,000 of them then hold at
// most ~10 MB, however large the requests' headers (the counted path is 512 bytes at most,
// and a source, campaign or device is read from the start of each).
const MAX_VIEW_URL = 1024;
const MAX_VIEW_REFERER = 512;
const MAX_VIEW_USER_AGENT = 512;
/** `text` cut to `max` characters (null stays null). */
const clip = (text, max) => (text !== null && text.length > max ? text.slice(0, max) : text);

let pendingViews = []; // VIEW_FIELDS facts per page view
let droppedViews = 0; // not queued: the queue was full
let flushScheduled = false; // a timer will flush
let flushing = false; // a flush is running
let flushAgain = false; // more to flush when it ends
// UTC days (ms / DAY_MS) whose salt this isolate's wasm holds: page views of those days can be
// counted without a D1 read. Cleared when the wasm instance is replaced.
const saltedDays = new Set();
let ingestScheduled = false; // a timer will hand the queued page views to wasm

/** Queues a page view for counting; the first one of a period schedules the flush. */
function countPageView(request, h, url, env, ctx) {
  if (pendingViews.length >= MAX_PENDING_VIEWS * VIEW_FIELDS) {
    droppedViews++;
    return;
  }
  const cf = edgeFacts(request, h);
  const bot = cf?.botManagement;
  // null and undefined are joined as "": absent.
  pendingViews.push(
    Date.now(), clip(url, MAX_VIEW_URL), clip(h.get("referer"), MAX_VIEW_REFERER), clip(h.get("user-agent"), MAX_VIEW_USER_AGENT), h.get("cf-connecting-ip"),
    cf?.country, purpose(h), bot?.verifiedBot, bot?.score,
  );
  if (!flushScheduled) {
    ctx.waitUntil(scheduledFlush(env));
  } else if (pendingViews.length === EARLY_FLUSH_VIEWS * VIEW_FIELDS) {
    ctx.waitUntil(flushStats(env).catch(statsFailed));
  }
  if (pendingViews.length >= INGEST_GROUP * VIEW_FIELDS && !ingestScheduled && !flushing && saltedDays.size > 0) {
    ingestScheduled = true;
    ctx.waitUntil(sleep(0).then(() => ingestGroup(env, ctx)).catch(statsFailed));
  }
}

/**
 * The isolate's next flush, `rules.analytics.flushMs` from now, unless one is already due:
 * for the page views queued, and for the delivery outcomes wasm counted (what became of the
 * events, for the stats page's Delivery panel). Returns a promise to wait for (waitUntil), or
 * undefined when a flush is already due or nothing is counted.
 */
function scheduledFlush(env) {
  if (flushScheduled || !rules.analytics.counting) return undefined;
  flushScheduled = true;
  return sleep(rules.analytics.flushMs).then(() => flushStats(env)).catch(statsFailed);
}

/**
 * Counts the queued page views in wasm now, between flushes, when the salts of all their
 * days are held (else they wait for the flush, which reads the salts). When wasm's counters
 * are many enough, it starts the flush before the timer.
 */
function ingestGroup(env, ctx) {
  ingestScheduled = false;
  if (flushing || pendingViews.length === 0) return;
  for (let i = 0, salted = -1; i < pendingViews.length; i += VIEW_FIELDS) {
    const day = dayOf(pendingViews[i]);
    if (day !== salted && !saltedDays.has(day)) return;
    salted = day;
  }
  const { views, dropped } = takeQueued();
  if (wasm.stats_ingest(env, views.join(VIEW_SEPARATOR), dropped)) ctx.waitUntil(flushStats(env).catch(statsFailed));
}

/** Empties the queue: its page views, and the count of those that found it full. */
function takeQueued() {
  const queued = { views: pendingViews, dropped: droppedViews };
  pendingViews = [];
  droppedViews = 0;
  return queued;
}

/** Flushing threw (a bug): log it; the counts of this isolate may be lost. */
function statsFailed(error) {
  internalError(error, "stats_error");
}

/**
 * D1 statements (`{sql, params}`, src/analytics/sql.rs) bound for `db.batch`; with `texts`, a
 * parameter `{text: i}` is bound to `texts[i]` (`with_side_texts`: long texts travel beside the
 * JSON, not escaped inside it).
 */
function prepared(db, statements, texts) {
  const bound = texts === undefined ? (p) => p : (p) => (p !== null && typeof p === "object" ? texts[p.text] : p);
  return statements.map((s) => db.prepare(s.sql).bind(...s.params.map(bound)));
}

/** Flushes until nothing is left; one flush at a time per isolate. */
async function flushStats(env) {
  if (flushing) {
    flushAgain = true;
    return;
  }
  flushing = true;
  try {
    do {
      flushAgain = false;
      await flushOnce(env);
    } while (flushAgain);
  } finally {
    flushing = false;
  }
}

/**
 * One flush: reads the salts of the queued page views' days if this isolate lacks them,
 * counts the page views in wasm, then writes the counts in one D1 batch (and, if that
 * settles a retried flush, the next). Wasm decides and logs every outcome.
 */
async function flushOnce(env) {
  flushScheduled = false;
  const born = generation;
  const db = env.TAGRELAY_DB;
  const { views, dropped } = takeQueued();
  if (views.length > 0 || dropped > 0) {
    const days = new Set();
    for (let i = 0; i < views.length; i += VIEW_FIELDS) days.add(dayOf(views[i]));
    const salts = wasm.stats_salt_statements(Uint32Array.from(days));
    if (salts !== undefined) {
      let rows, error;
      try {
        const results = await db.batch(prepared(db, JSON.parse(salts)));
        rows = JSON.stringify(results[1].results);
      } catch (e) {
        error = errorText(e);
      }
      if (born !== generation) return;
      wasm.stats_salts_read(rows, error, Date.now());
      if (error !== undefined) {
        // The page views wait for the next flush, within the queue's bound.
        const kept = views.concat(pendingViews);
        pendingViews = kept.slice(0, MAX_PENDING_VIEWS * VIEW_FIELDS);
        droppedViews += dropped + (kept.length - pendingViews.length) / VIEW_FIELDS;
        return;
      }
    }
    for (const day of days) saltedDays.add(day);
    wasm.stats_ingest(env, views.join(VIEW_SEPARATOR), dropped);
  }
  for (;;) {
    const [id, statements, ...texts] = wasm.stats_take(Date.now());
    if (id === undefined) return;
    let error, rowsWritten;
    try {
      const all = await db.batch(prepared(db, JSON.parse(statements), texts));
      rowsWritten = all.reduce((n, r) => n + (r.meta?.rows_written ?? 0), 0);
    } catch (e) {
      error = errorText(e);
    }
    if (born !== generation) return;
    if (!wasm.stats_finished(id, error, rowsWritten)) return;
  }
}

/** Whether `url` is under the stats path `statsPath` (the path itself, or below it). */
function isStatsPath(url, statsPath) {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0 || !url.startsWith(statsPath, start)) return false;
  const next = url.charAt(start + statsPath.length);
  return next === "" || next === "/" || next === "?" || next === "#";
}

// Headers of every stats response: never cached, never indexed, nothing loaded from
// elsewhere, no script, not framed.
const STATS_HEADERS = {
  "cache-control": "no-store",
  "x-robots-tag": "noindex, nofollow",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

/**
 * A request under the stats path (when STATS_TOKEN is set): wasm checks the token and
 * routes it, D1 is read in one batch, wasm renders the answer. Never proxied to the origin.
 */
async function serveStats(request, env) {
  let answer;
  try {
    const now = Date.now();
    const auth = request.headers.get("authorization") ?? undefined;
    const site = request.headers.get("sec-fetch-site") ?? undefined;
    const plan = JSON.parse(wasm.stats_plan(env, request.method, request.url, auth, site, now));
    answer = plan.response;
    if (plan.replay !== undefined) {
      answer = await replayDeadLetters(request, env, plan.replay.statements);
    } else if (answer === undefined) {
      let results, error;
      try {
        const db = env.TAGRELAY_DB;
        const all = await db.batch(prepared(db, plan.statements));
        results = JSON.stringify(all.map((r) => r.results));
      } catch (e) {
        error = errorText(e);
      }
      answer = JSON.parse(wasm.stats_render(env, request.method, request.url, auth, now, results, error));
    }
  } catch (error) {
    internalError(error, "stats_error");
    answer = { status: 500, contentType: "text/plain; charset=utf-8", headers: {}, body: "Internal Server Error\n" };
  }
  const headers = new Headers(answer.headers);
  headers.set("content-type", answer.contentType);
  for (const [name, value] of Object.entries(STATS_HEADERS)) headers.set(name, value);
  return new Response(request.method === "HEAD" ? null : answer.body, { status: answer.status, headers });
}

// D1 calls of a replay: reading the dead letters, and forgetting those sent.
const REPLAY_D1_CALLS = 2;

/**
 * Puts dead letters kept in D1 back on the delivery queue (`POST {STATS_PATH}/api/dead-letters/replay`):
 * reads them (`statements`), sends their messages (tries counted from zero) in as few
 * `sendBatch` calls as the limits allow, forgets those sent, and lets wasm log and answer.
 */
async function replayDeadLetters(request, env, statements) {
  const db = env.TAGRELAY_DB;
  const queue = env.TAGRELAY_QUEUE ?? null;
  const sent = [];
  let taken = 0, sendError, forgetError, left;
  try {
    if (queue === null) throw new Error("no TAGRELAY_QUEUE binding: dead letters are replayed through the delivery queue");
    const rows = (await db.batch(prepared(db, statements)))[0].results;
    taken = rows.length;
    const units = JSON.parse(wasm.replay_messages(JSON.stringify(rows))).map((m) => ({ id: m.id, messages: [{ body: m.body, contentType: "text" }] }));
    // The first send that fails ends the replay: what was not sent stays kept. The sends and
    // the two D1 calls stay within QUEUE_MAX_SUBREQUESTS: what does not fit stays kept too.
    await sendInBatches(queue, units, (carried, error) => {
      if (error !== undefined) throw error;
      sent.push(...carried.map((u) => u.id));
    }, Math.max(1, rules.queueMaxSubrequests - REPLAY_D1_CALLS));
  } catch (e) {
    sendError = errorText(e);
  }
  try {
    const all = await db.batch(prepared(db, JSON.parse(wasm.replay_forget(sent))));
    left = JSON.stringify(all[1].results);
  } catch (e) {
    forgetError = errorText(e);
  }
  return JSON.parse(wasm.replay_done(request.url, taken, sent.length, sendError, forgetError, left));
}

/** A log line written by this file, in the shape of src/log_line.rs. */
function logLine(level, decision, fields) {
  const text = JSON.stringify({ at: "tagrelay", level, decision, ...fields });
  if (level === "error") console.error(text);
  else console.log(text);
}

/**
 * Wasm threw where Rust would have logged (a bug): recover, and write the line Rust would
 * have written, in the same shape (src/log_line.rs).
 */
function internalError(error, decision, fields = {}) {
  const restarted = recover(error);
  const reason = restarted
    ? `internal error: ${error}; wasm restarted (events batched in this isolate and not yet sent are lost)`
    : `internal error: ${error}`;
  logLine("error", decision, { ...fields, reason });
}

/** Tracking threw (a bug): the page is already answered; log it and carry on. */
function trackingFailed(error) {
  internalError(error, "failed");
}

/** A 502 for when even the error path fails: short, no detail. */
function badGateway(error) {
  internalError(error, "origin_error", { status: 502 });
  return new Response("Bad Gateway\n", { status: 502, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}

export default {
  async fetch(request, env, ctx) {
    // Getters that copy out of the runtime on every read: read once.
    const url = request.url;
    const method = request.method;
    const requestHeaders = request.headers;
    let response, publicOrigin;
    try {
      ensureRules(env);
      if (rules.error !== undefined) return wasm.config_error(rules.error, request);
      if (rules.analytics.statsPath !== null && isStatsPath(url, rules.analytics.statsPath)) return serveStats(request, env);
      publicOrigin = rules.origin === null ? null : originOf(url);
      try {
        response = await fetchUpstream(request, requestHeaders, method, url, publicOrigin);
      } catch (error) {
        response = await refetchOrigin(request, requestHeaders, method, url, publicOrigin, error);
      }
    } catch (thrown) {
      const { error, attempts } = thrown?.attempts === undefined ? { error: thrown, attempts: 1 } : thrown;
      try {
        return wasm.origin_error(request, error, attempts);
      } catch (inner) {
        return badGateway(inner);
      }
    }

    // A getter that makes a JS object: read once.
    const source = response.headers;
    let changes;
    if (publicOrigin !== null) {
      try {
        changes = publicHeaderChanges(source, publicOrigin);
      } catch (error) {
        internalError(error, "failed", { method });
      }
    }
    const name = rules.trackingHeader;
    const value = source.get(name);
    const page = (rules.analytics.counting || (value === null && rules.firstParty)) && isPage(method, response.status, source);
    if (page && rules.analytics.counting) {
      try {
        countPageView(request, requestHeaders, url, env, ctx);
      } catch (error) {
        statsFailed(error);
      }
    }
    const cookies = page && value === null && rules.firstParty && maybeNeedsCookies(url, requestHeaders);
    const debug = rules.debug && value === null ? requestHeaders.get("tagrelay-debug") : null;
    if (value === null && changes === undefined && !cookies && debug === null) return response;

    let rebuilt;
    try {
      // A Response as the init copies status, statusText and headers natively: measured at
      // half the CPU of copying the headers into a `new Headers` and passing that.
      rebuilt = new Response(response.body, response);
      if (value !== null) rebuilt.headers.delete(name);
      if (changes !== undefined) applyHeaderChanges(rebuilt.headers, changes);
    } catch (error) {
      // Fail closed: without the rebuild, the header (or the origin's host) would reach the
      // client. Rust logs why and answers a short 502.
      response.body?.cancel().catch(() => {});
      try {
        return wasm.strip_failed(request, response.status, error);
      } catch (inner) {
        return badGateway(inner);
      }
    }
    if (value === null) {
      try {
        if (cookies) firstPartyCookies(request, requestHeaders, env, response, rebuilt.headers);
        if (debug !== null) wasm.debug_untracked(env, debug, rebuilt.headers);
      } catch (error) {
        trackingFailed(error);
      }
      return rebuilt;
    }
    // The decision runs now, before workerd sends the response: tens of microseconds of CPU.
    // (A microtask would not defer it: workerd drains microtasks before it sends, and a timer
    // per page view measured more CPU than the decision itself; see bench/NOTES.md.) Only
    // the POST, and the body of a batch of several page views, wait for after the response,
    // in waitUntil (see `track`).
    let send;
    try {
      send = track(request, requestHeaders, env, value, response.status, source, rebuilt.headers);
    } catch (error) {
      trackingFailed(error);
    }
    // Its outcome (skipped, sent, failed, ...) is counted for the Delivery panel: a flush
    // follows once the send is over.
    if (send !== undefined) ctx.waitUntil(send.catch(trackingFailed).then(() => scheduledFlush(env)));
    else if (rules.analytics.counting && !flushScheduled) ctx.waitUntil(scheduledFlush(env));
    return rebuilt;
  },

  /** The queue consumers: delivery (tagrelay-events) and dead letters (tagrelay-events-dlq). */
  async queue(batch, env, ctx) {
    try {
      ensureRules(env);
      if (rules.error !== undefined) {
        // Misconfigured: keep the messages for when it is fixed.
        logLine("error", "config_error", { reason: rules.error, queue: batch.queue });
        return batch.retryAll();
      }
      await consumeQueue(batch, env);
      // What became of the events is counted for the stats page: flushed after this batch.
      const flush = scheduledFlush(env);
      if (flush !== undefined) ctx.waitUntil(flush);
    } catch (error) {
      // A bug: nothing is lost, the queue tries the batch again.
      internalError(error, "failed", { queue: batch.queue });
      batch.retryAll();
    }
  },

  /** The daily Cron Trigger: deletes the stats rows older than STATS_RETENTION_DAYS and expired salts. */
  async scheduled(controller, env, ctx) {
    try {
      const statements = wasm.stats_retention(env, Date.now());
      if (statements === undefined) return;
      let deleted, error;
      try {
        const db = env.TAGRELAY_DB;
        const all = await db.batch(prepared(db, JSON.parse(statements)));
        deleted = JSON.stringify(all.map((r) => r.meta?.changes ?? 0));
      } catch (e) {
        error = errorText(e);
      }
      wasm.stats_cleaned(deleted, error);
    } catch (error) {
      internalError(error, "stats_error");
    }
  },
};
