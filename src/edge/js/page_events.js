// Events from the page itself (PAGE_EVENTS, src/edge/page_events.rs): an untracked HTML page
// whose path a rule names is read as it streams, with HTMLRewriter handlers that only look at
// script text (the bytes go out as the origin sent them, nothing is buffered); when the page
// has gone out, wasm turns what the scripts say into a tracking-header value, which goes
// through `track` like the origin's own header. A page read again (a cached product page) is
// looked up in `made` instead of being parsed again.
import * as wasm from "../index.js";
import { onRestart, rules, trackingFailed } from "./runtime.js";
import { edgeFacts, purpose } from "./edge_facts.js";
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

/** The tracking-header value the page's `texts` declare under rule `rule`, or undefined (logged). */
function pageHeader(env, rule, url, texts, truncated) {
  if (truncated) return wasm.page_event(env, rule, url, texts, truncated);
  const variant = /[?&](variant=[^&#]*)/.exec(url)?.[1] ?? "";
  const key = `${rule}\u0000${variant}\u0000${texts.join("\u0000")}`;
  let header = made.get(key);
  if (header === undefined) {
    header = wasm.page_event(env, rule, url, texts, truncated);
    if (header === undefined) return undefined;
    if (made.size >= MADE_MAX) made.clear();
    made.set(key, header);
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

/** Whether the request is a human's (the same rules as events), so that its page is read. */
export function wantsReading(request, h, env) {
  const bot = edgeFacts(request, h)?.botManagement;
  return wasm.page_reader_wanted(env, request.method, h.get("user-agent") ?? undefined, purpose(h), bot?.verifiedBot, bot?.score);
}

/**
 * `response` (rebuilt, untracked) with rule `rule`'s reader: script texts are collected as
 * they pass; when the document ends, the event they declare is tracked in `ctx.waitUntil`.
 */
export function readPageEvent(response, rule, request, h, env, ctx, url, status, source) {
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
  const rewriter = new HTMLRewriter().on(selector, { text }).onDocument({ end: () => finished() });
  ctx.waitUntil(ended.then(() => {
    const header = pageHeader(env, rule, url, texts, truncated);
    if (header === undefined) return undefined;
    // The page has gone out: whatever `track` would write into its headers goes nowhere.
    const send = track(request, h, env, header, status, source, new Headers());
    return send === undefined ? scheduledFlush(env) : send.then(() => scheduledFlush(env));
  }).catch(trackingFailed));
  return rewriter.transform(response);
}
