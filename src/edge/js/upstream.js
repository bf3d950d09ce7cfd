// The upstream request (fetched once, and once more for a bodiless idempotent request whose
// connection dropped) and, with ORIGIN_URL, the response headers rewritten to the public host.
import * as wasm from "../index.js";
import { connectionKeep, rules } from "./runtime.js";

/** An RFC 9110 token: what a header name (and so a `Connection` option) must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether a `Connection` token from the client may remove the header it names. */
function droppable(name) {
  if (name === "" || !TOKEN.test(name) || connectionKeep.has(name)) return false;
  for (const prefix of rules.protectedPrefixes) if (name.startsWith(prefix)) return false;
  return true;
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
export function fetchUpstream(request, requestHeaders, method, url, publicOrigin) {
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
export async function refetchOrigin(request, requestHeaders, method, url, publicOrigin, error) {
  if (request.body !== null || !RETRYABLE_METHODS.has(method)) throw { error, attempts: 1 };
  try {
    return await fetchUpstream(request, requestHeaders, method, url, publicOrigin);
  } catch (error) {
    throw { error, attempts: 2 };
  }
}

/** `scheme://host[:port]` of the URL the browser asked for (workerd's URLs have a path). */
export function originOf(url) {
  const pathStart = url.indexOf("/", url.indexOf("://") + 3);
  return pathStart < 0 ? url : url.slice(0, pathStart);
}

// A Set-Cookie that scopes itself to a domain.
const DOMAIN_ATTRIBUTE = /;\s*domain\s*=/i;

/**
 * With ORIGIN_URL: the header changes that keep the origin's own host from reaching the
 * client (src/proxy/origin_rewrite.rs), or undefined. Wasm is entered only when a header that can
 * hold such a URL is there at all.
 */
export function publicHeaderChanges(headers, publicOrigin) {
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
export function applyHeaderChanges(headers, changes) {
  if (changes.location !== undefined) headers.set("location", changes.location);
  if (changes.contentLocation !== undefined) headers.set("content-location", changes.contentLocation);
  if (changes.refresh !== undefined) headers.set("refresh", changes.refresh);
  if (changes.setCookie !== undefined) {
    headers.delete("set-cookie");
    for (const cookie of changes.setCookie) headers.append("set-cookie", cookie);
  }
}
