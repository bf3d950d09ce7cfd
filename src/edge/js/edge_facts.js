// The edge's facts about a request that Rust reads: its speculative-load hints, and what
// Cloudflare's request.cf says (country, Bot Management), read as rarely as they allow.

// Headers that announce a speculative load (prefetch, prerender, preview).
const PURPOSE_HEADERS = ["sec-purpose", "purpose", "x-purpose", "x-moz"];

/** The speculative-load hints of a request, joined, or undefined. */
export function purpose(headers) {
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
export function edgeFacts(request, headers) {
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

/**
 * What the skip rules read of a request besides its method: its user agent, speculative-load
 * hints and edge facts (`cf`), read once for a caller that needs them twice.
 */
export function visitorFacts(request, headers) {
  return { userAgent: headers.get("user-agent"), purpose: purpose(headers), cf: edgeFacts(request, headers) };
}
