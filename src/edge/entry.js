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
  return true;
}

let rules = null; // { origin, trackingHeader, dropHeaders, connectionKeep, protectedPrefixes, firstParty, consentCookies } or { error }, per isolate
let connectionKeep = null; // Set of rules.connectionKeep
let consentCookie = null; // RegExp: a Cookie header that holds one of rules.consentCookies

// A Cookie header whose `_fbp` has the shape Meta's ids have (src/click_ids.rs checks it
// exactly): the visitor needs no new one.
const VALID_FBP = /(?:^|;)\s*_fbp=fb\.\d\.\d{1,13}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?\s*(?:;|$)/;
// A page: `text/html`, any parameters.
const HTML = /^\s*text\/html/i;

/**
 * Whether an untracked response may need a first-party `_fbp`/`_fbc` cookie set or expired
 * (src/visitor/first_party.rs decides): a GET answered 2xx `text/html` whose visitor has no
 * valid `_fbp`, arrives from an ad click (`fbclid`), or may have said no (GPC or a consent
 * cookie: existing ids are then expired). Every other response goes back untouched without
 * entering wasm: a returning visitor with `_fbp` and no consent cookie costs a regex test.
 */
function maybeNeedsCookies(request, response) {
  if (request.method !== "GET" || response.status < 200 || response.status > 299) return false;
  const type = response.headers.get("content-type");
  if (type === null || !HTML.test(type)) return false;
  const cookie = request.headers.get("cookie");
  if (cookie === null || !VALID_FBP.test(cookie) || request.url.includes("fbclid=")) return true;
  return request.headers.get("sec-gpc") !== null || consentCookie.test(cookie);
}

/** Sets or expires the first-party cookies of an untracked page view on `headers`. */
function firstPartyCookies(request, env, response, headers) {
  const h = request.headers;
  const bot = request.cf?.botManagement;
  wasm.first_party_cookies(
    env, request.method, request.url,
    h.get("user-agent") ?? undefined, h.get("cookie") ?? undefined, purpose(h), h.get("cf-ray") ?? undefined,
    bot?.verifiedBot, bot?.score, request.cf?.country ?? undefined, h.get("sec-gpc") ?? undefined,
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

/** The request to send upstream: same method, headers and streamed body; redirects returned. */
function upstreamRequest(request, publicOrigin) {
  const url = request.url;
  const target = publicOrigin === null ? url : rules.origin + (url.slice(publicOrigin.length) || "/");
  const upstream = new Request(target, { method: request.method, headers: request.headers, body: request.body, redirect: "manual" });
  const headers = upstream.headers;
  for (const name of rules.dropHeaders) headers.delete(name);
  const connection = request.headers.get("connection");
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
  return upstream;
}

// Methods that are safe to send twice when they carry no body (nginx's proxy_next_upstream
// retries these too).
const RETRYABLE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Fetches the origin. A bodiless GET, HEAD or OPTIONS whose connection failed before any
 * response is sent once more at once: the usual cause is a pooled keep-alive connection the
 * origin closed just as it was reused ("Network connection lost"), and a second connection
 * serves the page. Anything else fails on its first error. Returns the response, or throws
 * `{ error, attempts }`.
 */
async function fetchOrigin(request, publicOrigin) {
  try {
    return await fetch(upstreamRequest(request, publicOrigin));
  } catch (error) {
    if (request.body !== null || !RETRYABLE_METHODS.has(request.method)) throw { error, attempts: 1 };
  }
  try {
    return await fetch(upstreamRequest(request, publicOrigin));
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

// `attemptDone` answers: the delivery is over; or Meta refused a batch as a whole, so send
// its two halves instead (src/batching.rs).
const DONE = -1;
const SPLIT = -2;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends a PendingDelivery (src/edge/delivery.rs): the POST is made here, Rust decides after
 * each attempt whether to retry and when, and logs the outcome. A delivery whose wasm
 * instance was replaced meanwhile (a trap elsewhere) is dropped, logged here: its object
 * belongs to the old instance's memory and must not touch the new one.
 */
async function deliver(job, born = generation) {
  const current = () => born === generation;
  let parts = [];
  try {
    if (!current()) return droppedAfterRestart(0);
    const body = job.body();
    if (body === undefined) return;
    const init = { method: "POST", headers: { "content-type": "application/json", authorization: job.authorization }, body };
    for (let attempt = 1; ; attempt++) {
      let status = 0, text = "", error, timedOut = false;
      try {
        const response = await fetch(job.url, { ...init, signal: AbortSignal.timeout(job.timeoutMs) });
        status = response.status;
        text = await response.text();
      } catch (e) {
        timedOut = e?.name === "TimeoutError";
        error = String(e?.message ?? e);
      }
      if (!current()) return droppedAfterRestart(attempt);
      const next = job.attemptDone(attempt, status, text, error, timedOut);
      if (next === SPLIT) parts = job.split();
      if (next === DONE || next === SPLIT) break;
      await sleep(next);
      if (!current()) return droppedAfterRestart(attempt);
    }
  } finally {
    if (current()) job.free();
  }
  await Promise.all(parts.map((part) => deliver(part, born)));
}

/** A delivery of a replaced wasm instance stops here (see `deliver`). */
function droppedAfterRestart(attempts) {
  logLine("error", "failed", { attempts, reason: "dropped: tagrelay's wasm restarted after an internal error while this delivery was in flight" });
}

/**
 * Tracking for a response that carried the header: Rust decides, logs and batches the events
 * (src/batching.rs) in one call. Returns the batch's send, for waitUntil, when this page view
 * opened the batch's window (it waits for the window to close) or filled the batch; else
 * undefined: most page views just join the batch.
 */
function track(request, env, value, status, source, headers) {
  const h = request.headers;
  const bot = request.cf?.botManagement;
  const wait = wasm.track(
    env, value, request.method, request.url,
    h.get("user-agent") ?? undefined, h.get("cf-connecting-ip") ?? undefined,
    h.get("cookie") ?? undefined, h.get("referer") ?? undefined, purpose(h),
    h.get("cf-ray") ?? undefined, bot?.verifiedBot, bot?.score,
    request.cf?.country ?? undefined, h.get("sec-gpc") ?? undefined,
    status, source.get("content-type") ?? undefined,
    source.get("cf-cache-status") ?? undefined, source.get("age") ?? undefined, headers,
  );
  if (wait < 0) return undefined;
  if (wait > 0) return sendBatch(env, wait);
  // Send now (the batch is full, or BATCH_WINDOW_MS=0): take these page views' events at
  // once, so no later page view joins them. A full batch (up to 1,000 events) is serialized
  // and POSTed after a timer, so that work does not delay this page's response; this page
  // view's own events alone (BATCH_WINDOW_MS=0) take ~2 µs to serialize, less than the timer
  // (~9 µs, bench/NOTES.md), so they go at once.
  const job = wasm.take_batch(env);
  if (job === undefined) return undefined;
  const born = generation;
  return job.pageViews > 1 ? sleep(0).then(() => deliver(job, born)) : deliver(job, born);
}

/** Waits `wait` ms for the batch's window to close, then sends the batch. */
async function sendBatch(env, wait) {
  await sleep(wait);
  const job = wasm.take_batch(env);
  if (job !== undefined) await deliver(job);
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
    let response, publicOrigin;
    try {
      if (rules === null) {
        rules = wasm.configure(env);
        if (rules.error === undefined) {
          connectionKeep = new Set(rules.connectionKeep);
          const names = rules.consentCookies.map((n) => n.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&"));
          consentCookie = new RegExp(`(?:^|;)\\s*(?:${names.join("|")})=`);
        }
      }
      if (rules.error !== undefined) return wasm.config_error(rules.error, request);
      publicOrigin = rules.origin === null ? null : originOf(request.url);
      response = await fetchOrigin(request, publicOrigin);
    } catch (thrown) {
      const { error, attempts } = thrown?.attempts === undefined ? { error: thrown, attempts: 1 } : thrown;
      try {
        return wasm.origin_error(request, error, attempts);
      } catch (inner) {
        return badGateway(inner);
      }
    }

    let changes;
    if (publicOrigin !== null) {
      try {
        changes = publicHeaderChanges(response.headers, publicOrigin);
      } catch (error) {
        internalError(error, "failed", { method: request.method });
      }
    }
    const name = rules.trackingHeader;
    const value = response.headers.get(name);
    const cookies = value === null && rules.firstParty && maybeNeedsCookies(request, response);
    if (value === null && changes === undefined && !cookies) return response;

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
      if (cookies) {
        try {
          firstPartyCookies(request, env, response, rebuilt.headers);
        } catch (error) {
          trackingFailed(error);
        }
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
      send = track(request, env, value, response.status, response.headers, rebuilt.headers);
    } catch (error) {
      trackingFailed(error);
    }
    if (send !== undefined) ctx.waitUntil(send.catch(trackingFailed));
    return rebuilt;
  },
};
