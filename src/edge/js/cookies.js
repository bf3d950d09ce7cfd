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
