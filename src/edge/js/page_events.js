// Events from the page itself (PAGE_EVENTS, src/edge/page_events.rs): an untracked HTML page
// whose path a rule names is read as it streams, with HTMLRewriter handlers that only look at
// script text (the bytes go out as the origin sent them, nothing is buffered); when the page
// has gone out, wasm turns what the scripts say into a tracking-header value, which goes
// through `track` like the origin's own header. A page read again (a cached product page) is
// looked up in `made` instead of being parsed again.
import * as wasm from "../index.js";
import { onRestart, rules, trackingFailed } from "./runtime.js";
import { visitorFacts } from "./edge_facts.js";
import { track } from "./tracking.js";
import { scheduledFlush } from "./stats.js";

// Most characters of script text kept per page (src/page_events/extract.rs, MAX_TEXT_BYTES):
// past it, reading stops and the rule gives up (logged).
const MAX_TEXT = 64 * 1024;
// What an inline script must hold for the dataLayer rule to keep it (others are let go as
// soon as they end).
const DATALAYER_PUSH = "dataLayer.push(";

let compiled = null; // [{ re, jsonLd }] of rules.pageEvents, per rules object
let compiledFor = null;
// The header values made from pages read, by rule, variant and script texts: a cached product
// page is parsed once per isolate, and its texts are not copied into wasm again (bench (v)).
// Only what a page said is remembered: an unreadable page is logged each time.
const made = new Map();
const MADE_MAX = 256;
onRestart(() => made.clear());

/** Keeps `value` under `key` in `memory`, which starts afresh once it holds `max` entries. */
function remember(memory, max, key, value) {
  if (memory.size >= max) memory.clear();
  memory.set(key, value);
}

/** The tracking-header value the page's `texts` declare under rule `rule`, or undefined (logged). */
function pageHeader(env, rule, url, texts, truncated) {
  if (truncated) return wasm.page_event(env, rule, url, texts, truncated);
  // The only part of the URL the event may depend on (a ProductGroup's variant, extract.rs).
  const variant = url.includes("variant=") ? /[?&](variant=[^&#]*)/.exec(url)?.[1] ?? "" : "";
  const key = `${rule}\u0000${variant}\u0000${texts.length === 1 ? texts[0] : texts.join("\u0000")}`;
  let header = made.get(key);
  if (header === undefined) {
    header = wasm.page_event(env, rule, url, texts, truncated);
    if (header === undefined) return undefined;
    remember(made, MADE_MAX, key, header);
  }
  return header;
}

/** The index of the first page rule whose pattern matches `url`'s path, or -1. */
export function pageRule(url) {
  if (compiledFor !== rules) {
    compiled = rules.pageEvents.map((r) => ({ re: new RegExp(r.pattern), jsonLd: r.jsonLd }));
    compiledFor = rules;
  }
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return -1;
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (end < 0 || (hash >= 0 && hash < end)) end = hash;
  const path = end < 0 ? url.slice(start) : url.slice(start, end);
  for (let i = 0; i < compiled.length; i++) if (compiled[i].re.test(path)) return i;
  return -1;
}

// Whether a visitor is human (`page_reader_wanted`), by what the skip rules read: a page is
// read for most visitors with a user agent seen before, without a call into wasm.
const humans = new Map();
const HUMANS_MAX = 256;
onRestart(() => humans.clear());

/**
 * The request's `visitorFacts` when it is a human's (the same rules as events), so that its
 * page is read; else undefined.
 */
export function readerFacts(request, h, env) {
  const facts = visitorFacts(request, h);
  const bot = facts.cf?.botManagement;
  const key = `${facts.userAgent}\u0000${facts.purpose}\u0000${bot?.verifiedBot}\u0000${bot?.score}`;
  let human = humans.get(key);
  if (human === undefined) {
    human = wasm.page_reader_wanted(env, request.method, facts.userAgent ?? undefined, facts.purpose, bot?.verifiedBot, bot?.score);
    remember(humans, HUMANS_MAX, key, human);
  }
  return human ? facts : undefined;
}

/**
 * `response` (the origin's, untouched) with rule `rule`'s reader: script texts are collected
 * as they pass; when the document ends, the event they declare is tracked in
 * `ctx.waitUntil`. `facts`: the request's, from `readerFacts`; `status` and `source`: the
 * response's status and headers. The caller makes its header changes on the returned response.
 */
export function readPageEvent(response, rule, request, h, facts, env, ctx, url, status, source) {
  const jsonLd = compiled[rule].jsonLd;
  const texts = [];
  let kept = 0;
  let truncated = false;
  let current = "";
  let finished;
  const ended = new Promise((resolve) => { finished = resolve; });
  const text = (chunk) => {
    if (truncated) return;
    current += chunk.text;
    if (kept + current.length > MAX_TEXT) {
      truncated = true;
      current = "";
      return;
    }
    if (!chunk.lastInTextNode) return;
    if (jsonLd || current.includes(DATALAYER_PUSH)) {
      texts.push(current);
      kept += current.length;
    }
    current = "";
  };
  const selector = jsonLd ? 'script[type="application/ld+json"]' : "script:not([src])";
  const read = new HTMLRewriter().on(selector, { text }).onDocument({ end: () => finished() }).transform(response);
  ctx.waitUntil(ended.then(() => {
    const header = pageHeader(env, rule, url, texts, truncated);
    if (header === undefined) return undefined;
    // The page has gone out: no headers to write into.
    const send = track(request, h, env, header, status, source, undefined, facts);
    return send === undefined ? scheduledFlush(env) : send.then(() => scheduledFlush(env));
  }).catch(trackingFailed));
  return read;
}
