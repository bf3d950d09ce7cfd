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
// The concerns live in modules under src/edge/js/: runtime (rules, recovery, logging),
// upstream, cookies, edge_facts, tracking, pixel_ids (+ html_block), page_events, delivery, queue,
// stats and stats_routes.
import * as wasm from "./index.js";
import { badGateway, ensureRules, errorText, internalError, logLine, rules, trackingFailed } from "./js/runtime.js";
import { applyHeaderChanges, fetchUpstream, originOf, publicHeaderChanges, refetchOrigin } from "./js/upstream.js";
import { cookieAfter, firstPartyCookies, isPage, maybeNeedsCookies } from "./js/cookies.js";
import { track } from "./js/tracking.js";
import { consumeQueue } from "./js/queue.js";
import { countPageView, flushScheduled, prepared, scheduledFlush, statsFailed } from "./js/stats.js";
import { isStatsPath, serveStats } from "./js/stats_routes.js";
import { withPixelEventIds } from "./js/pixel_ids.js";
import { pageRule, readPageEvent, readerFacts } from "./js/page_events.js";

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
    // PAGE_EVENTS: an untracked page whose path a rule names is read for its own event.
    const rule = value === null && rules.pageEvents !== null && method === "GET" ? pageRule(url) : -1;
    const page = (rules.analytics.counting || (value === null && rules.firstParty) || rule >= 0) && isPage(method, response.status, source);
    if (page && rules.analytics.counting) {
      try {
        countPageView(request, requestHeaders, url, env, ctx);
      } catch (error) {
        statsFailed(error);
      }
    }
    const cookies = page && value === null && rules.firstParty && maybeNeedsCookies(url, requestHeaders);
    const debug = rules.debug && value === null ? requestHeaders.get("tagrelay-debug") : null;
    let reader; // the visitor's facts, when the page is read for its own event
    if (rule >= 0 && page) {
      try {
        reader = readerFacts(request, requestHeaders, env);
      } catch (error) {
        trackingFailed(error);
      }
    }
    if (value === null && changes === undefined && !cookies && debug === null && reader === undefined) return response;

    let rebuilt;
    if (reader !== undefined) {
      // The reader's transform makes the response anew: its headers are changed below.
      try {
        rebuilt = readPageEvent(response, rule, request, requestHeaders, reader, env, ctx, url, response.status, source);
      } catch (error) {
        trackingFailed(error);
      }
    }
    try {
      // A Response as the init copies status, statusText and headers natively: measured at
      // half the CPU of copying the headers into a `new Headers` and passing that.
      rebuilt ??= new Response(response.body, response);
      if (value !== null) rebuilt.headers.delete(name);
      if (changes !== undefined) applyHeaderChanges(rebuilt.headers, changes);
    } catch (error) {
      // Fail closed: without the rebuild, the header (or the origin's host) would reach the
      // client. Rust logs why and answers a short 502.
      (rebuilt ?? response).body?.cancel().catch(() => {});
      try {
        return wasm.strip_failed(request, response.status, error);
      } catch (inner) {
        return badGateway(inner);
      }
    }
    if (value === null) {
      try {
        if (cookies) {
          firstPartyCookies(request, requestHeaders, env, response, rebuilt.headers);
          // The page's own event names the ids this page gives the browser.
          if (reader !== undefined) reader.cookie = cookieAfter(requestHeaders.get("cookie"), rebuilt.headers);
        }
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
      if (rules.pixelEventIds) rebuilt = withPixelEventIds(rebuilt);
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
