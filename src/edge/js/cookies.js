// First-party cookie gating: whether an untracked page view may need `_fbp`/`_fbc` (and
// `_ga`, `ttclid`) set or expired, decided in JS so that most responses never enter wasm.
import * as wasm from "../index.js";
import { consentCookie, rules } from "./runtime.js";
import { edgeFacts, purpose } from "./edge_facts.js";

// A Cookie header whose `_fbp` has the shape Meta's ids have (src/visitor/click_ids.rs checks it
// exactly): the visitor needs no new one.
const VALID_FBP = /(?:^|;)\s*_fbp=fb\.\d\.\d{1,13}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?\s*(?:;|$)/;
// A page: `text/html`, any parameters.
const HTML = /^\s*text\/html/i;

/** Whether the response (`status`, `headers`) to a `method` request is a page: a GET answered 2xx `text/html`. */
export function isPage(method, status, headers) {
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
export function maybeNeedsCookies(url, headers) {
  const cookie = headers.get("cookie");
  if (cookie === null || !VALID_FBP.test(cookie) || url.includes("fbclid=")) return true;
  if (rules.gaCookie && !cookie.includes("_ga=")) return true;
  if (rules.ttclid && url.includes("ttclid=")) return true;
  return headers.get("sec-gpc") !== null || consentCookie.test(cookie);
}

/** Sets or expires the first-party cookies of an untracked page view on `headers` (`h`: the request's). */
export function firstPartyCookies(request, h, env, response, headers) {
  const cf = edgeFacts(request, h);
  const bot = cf?.botManagement;
  wasm.first_party_cookies(
    env, request.method, request.url,
    h.get("user-agent") ?? undefined, h.get("cookie") ?? undefined, purpose(h), h.get("cf-ray") ?? undefined,
    bot?.verifiedBot, bot?.score, cf?.country ?? undefined, h.get("sec-gpc") ?? undefined,
    response.status, response.headers.get("content-type") ?? undefined, headers,
  );
}

// A Set-Cookie that removes its cookie (src/visitor/first_party.rs expires with Max-Age=0).
const EXPIRES_NOW = /;\s*max-age=0\s*(?:;|$)/i;

/**
 * The Cookie header the visitor's next request will carry: `cookie` (the request's, or null)
 * with each cookie that `headers` (the response's) sets put in, and those it expires taken
 * out. An event tracked after its page (PAGE_EVENTS) reads it, so that it names the `_fbp`
 * the page just gave the browser, not a second one.
 */
export function cookieAfter(cookie, headers) {
  const set = headers.getSetCookie();
  if (set.length === 0) return cookie;
  const pairs = new Map();
  for (const part of cookie?.split(";") ?? []) {
    const eq = part.indexOf("=");
    if (eq > 0) pairs.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  for (const line of set) {
    const end = line.indexOf(";");
    const pair = end < 0 ? line : line.slice(0, end);
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (EXPIRES_NOW.test(line)) pairs.delete(name);
    else pairs.set(name, pair.slice(eq + 1).trim());
  }
  return pairs.size === 0 ? null : [...pairs].map(([n, v]) => `${n}=${v}`).join("; ");
}
