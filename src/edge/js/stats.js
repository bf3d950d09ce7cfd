// Page views queued for counting, and the isolate's flushes to D1.
import * as wasm from "../index.js";
import { errorText, generation, internalError, onRestart, rules, sleep } from "./runtime.js";
import { edgeFacts, purpose } from "./edge_facts.js";

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
export let flushScheduled = false; // a timer will flush
let flushing = false; // a flush is running
let flushAgain = false; // more to flush when it ends
// UTC days (ms / DAY_MS) whose salt this isolate's wasm holds: page views of those days can be
// counted without a D1 read. Cleared when the wasm instance is replaced.
const saltedDays = new Set();
onRestart(() => saltedDays.clear());
let ingestScheduled = false; // a timer will hand the queued page views to wasm

/** Queues a page view for counting; the first one of a period schedules the flush. */
export function countPageView(request, h, url, env, ctx) {
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
export function scheduledFlush(env) {
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
export function statsFailed(error) {
  internalError(error, "stats_error");
}

/**
 * D1 statements (`{sql, params}`, src/analytics/sql.rs) bound for `db.batch`; with `texts`, a
 * parameter `{text: i}` is bound to `texts[i]` (`with_side_texts`: long texts travel beside the
 * JSON, not escaped inside it).
 */
export function prepared(db, statements, texts) {
  const bound = texts === undefined ? (p) => p : (p) => (p !== null && typeof p === "object" ? texts[p.text] : p);
  return statements.map((s) => db.prepare(s.sql).bind(...s.params.map(bound)));
}

/** Flushes until nothing is left; one flush at a time per isolate. */
export async function flushStats(env) {
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
  const days = new Set();
  for (let i = 0; i < views.length; i += VIEW_FIELDS) days.add(dayOf(views[i]));
  // Asked even with no page view queued: wasm adds the days of the tracked events waiting
  // for their salt (a conversion from a POST has no page view).
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
  if (views.length > 0 || dropped > 0) wasm.stats_ingest(env, views.join(VIEW_SEPARATOR), dropped);
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
