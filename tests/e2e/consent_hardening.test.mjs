// Consent that cannot be tricked (issue 27, items 1-4), in workerd against a real origin and a
// mock server per platform: OneTrust's landing URL, a readable denial in a partly malformed
// cookie, TCF vendor consent per destination, and visitors whose country is unknown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startGraph, startWorker, readBody, waitFor, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

let origin, graph, ga4, tiktok;

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "worker-tracking": JSON.stringify({ event_name: "PageView" }) });
    res.end("<p>page</p>");
  });
  graph = await startGraph();
  ga4 = await startGraph();
  ga4.defaultReply = () => ({ status: 204, body: "" });
  tiktok = await startGraph();
  tiktok.defaultReply = () => ({ status: 200, body: { code: 0, message: "OK", request_id: "r", data: {} } });
});
after(() => { origin?.close(); graph?.close(); ga4?.close(); tiktok?.close(); });

/** A worker with Meta, and with GA4 and TikTok when `all`. */
const start = (extra = {}, all = false) =>
  startWorker({
    ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "0",
    ...(all ? {
      GA4_MEASUREMENT_ID: "G-TEST123", GA4_API_SECRET: "ga4-secret", GA4_API_BASE: ga4.url,
      TIKTOK_PIXEL_CODE: "CTEST0PIXEL1", TIKTOK_ACCESS_TOKEN: "tiktok-token", TIKTOK_API_BASE: tiktok.url,
    } : {}),
    ...extra,
  });

let n = 0;
/** One page view from `country`. */
async function view(w, { cookie, country = "US" } = {}) {
  const path = `/c/${++n}`;
  const headers = { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.7" };
  if (cookie !== undefined) headers.cookie = cookie;
  const res = await w.mf.dispatchFetch(`https://www.spesati.it${path}`, { headers, cf: { country } });
  await res.arrayBuffer();
  return path;
}

/** The decision line of `destination` for `path`. */
const decision = (w, path, destination = "meta") =>
  w.line((l) => l.path === path && l.destination === destination && ["sent", "skipped"].includes(l.decision));
const summary = (l) => [l.decision, l.rule, l.consent_source];

/** A TCF v2 core segment: purposes 1-10 consented, policy version `policy`, a vendor bit field up to `max` with `vendors` on. */
function tcString({ vendors = [], max = 800, policy = 4, purposes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } = {}) {
  const bits = [];
  const put = (v, w) => { for (let i = w - 1; i >= 0; i--) bits.push(Number((BigInt(v) >> BigInt(i)) & 1n)); };
  put(2, 6); put(16500000000, 36); put(16500000000, 36); put(7, 12); put(1, 12); put(1, 6); put(4, 6); put(13, 6);
  put(150, 12); put(policy, 6); put(0, 1); put(0, 1); put(0, 12);
  for (let p = 1; p <= 24; p++) bits.push(purposes.includes(p) ? 1 : 0);
  put(0, 24); put(0, 1); put(8, 6); put(19, 6);
  put(max, 16); put(0, 1);
  for (let v = 1; v <= max; v++) bits.push(vendors.includes(v) ? 1 : 0);
  put(0, 16); put(0, 1); put(0, 12);
  while (bits.length % 8) bits.push(0);
  const bytes = Buffer.from(Array.from({ length: bits.length / 8 }, (_, i) => bits.slice(i * 8, i * 8 + 8).reduce((b, x) => (b << 1) | x, 0)));
  return `euconsent-v2=${bytes.toString("base64url")}`;
}

test("OneTrust: a groups= in the landing URL is never read, and cannot hide a US opt-out", async () => {
  const w = await start();
  try {
    const onetrust = (landing, groups) =>
      `OptanonConsent=isGpcEnabled=0&datestamp=Tue+Nov+25+2025&version=202409.1.0&consentId=3d3f&interactionCount=1&landingPath=${landing}&groups=${groups}&geolocation=US%3BCA`;
    // Landed on /?x=1&groups=C0004:1, then said no to targeting (C0004).
    const forged = await view(w, { cookie: onetrust("https%3A%2F%2Fwww.spesati.it%2F%3Fx%3D1%26groups%3DC0004%3A1", "C0001%3A1%2CC0004%3A0") });
    assert.deepEqual(summary(await decision(w, forged)), ["skipped", "consent_denied", "onetrust"]);
    // Landed on a search for "shoes", then opted out: an explicit no, not the region's default.
    const shoes = await view(w, { cookie: onetrust("https%3A%2F%2Fwww.spesati.it%2Fsearch%3Fgroups%3Dshoes", "C0001%3A1%2CC0004%3A0") });
    assert.deepEqual(summary(await decision(w, shoes)), ["skipped", "consent_denied", "onetrust"]);
    const yes = await view(w, { cookie: onetrust("https%3A%2F%2Fwww.spesati.it%2F%3Fgroups%3DC0004%3A0", "C0001%3A1%2CC0004%3A1") });
    assert.equal((await decision(w, yes)).decision, "sent", "nor can the landing URL deny");
  } finally {
    await w.close();
  }
});

test("a readable denial wins in a partly malformed cookie; the cookie is still reported unreadable", async () => {
  const w = await start();
  try {
    const cases = [
      ["cookiebot", "CookieConsent={stamp:%27abc%27%2Cnecessary:true%2Cjunk%2Cstatistics:true%2Cmarketing:false}"],
      ["onetrust", "OptanonConsent=groups=C0001%3A1%2Codd%2CC0004%3A0"],
      ["cookieyes", "cookieyes-consent=consentid:abc,action:yes,junk,analytics:yes,advertisement:no"],
      ["complianz", "cmplz_marketing=deny; cmplz_statistics=perhaps"],
    ];
    for (const [source, cookie] of cases) {
      const path = await view(w, { cookie });
      assert.deepEqual(summary(await decision(w, path)), ["skipped", "consent_denied", source], source);
      const warn = await w.line((l) => l.path === path && l.decision === "consent_unreadable");
      assert.equal(warn.consent_source, source);
    }
    // A grant in a malformed cookie is no signal: in Italy, nothing goes out.
    const grant = await view(w, { cookie: "CookieConsent={stamp:%27abc%27%2Cjunk%2Cmarketing:true}", country: "IT" });
    assert.deepEqual(summary(await decision(w, grant)), ["skipped", "no_consent", "region"]);
  } finally {
    await w.close();
  }
});

test("TCF: a vendor without consent is skipped though every purpose is granted; an outdated string is logged once", async () => {
  const w = await start({ CONSENT_TCF_VENDOR_TIKTOK: "1234" }, true);
  try {
    const google = await view(w, { cookie: tcString({ vendors: [755], max: 1300 }) });
    assert.deepEqual(summary(await decision(w, google, "meta")), ["sent", undefined, undefined], "Meta: the purposes alone");
    assert.equal((await decision(w, google, "ga4")).decision, "sent");
    assert.deepEqual(summary(await decision(w, google, "tiktok")), ["skipped", "consent_denied", "tcf"], "TikTok's vendor 1234 has no consent");
    const notGoogle = await view(w, { cookie: tcString({ vendors: [1, 754, 756, 1234], max: 1300 }) });
    assert.deepEqual(summary(await decision(w, notGoogle, "ga4")), ["skipped", "consent_denied", "tcf"]);
    assert.equal((await decision(w, notGoogle, "tiktok")).decision, "sent");
    assert.equal((await decision(w, notGoogle, "meta")).decision, "sent");
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!ga4.requests.some((r) => r.json?.events?.some((e) => e.params?.page_location?.endsWith(notGoogle))), "nothing reached GA4");
    assert.ok(!w.lines().some((l) => l.decision === "consent_outdated"), "v2.2 strings are not outdated");
    const old1 = await view(w, { cookie: tcString({ vendors: [755, 1234], policy: 2 }) });
    const old2 = await view(w, { cookie: tcString({ vendors: [755, 1234], policy: 2 }) });
    assert.equal((await decision(w, old2, "ga4")).decision, "sent", "an older string is still honoured");
    const warned = w.lines().filter((l) => l.decision === "consent_outdated");
    assert.equal(warned.length, 1, "once per isolate");
    assert.deepEqual([warned[0].level, warned[0].path, warned[0].tcf_policy_version], ["warn", old1, 2]);
  } finally {
    await w.close();
  }
});

test("CONSENT_TCF_VENDOR_GA4=none: the purposes alone decide for GA4", async () => {
  const w = await start({ CONSENT_TCF_VENDOR_GA4: "none" }, true);
  try {
    const path = await view(w, { cookie: tcString({ vendors: [] }) });
    assert.equal((await decision(w, path, "ga4")).decision, "sent");
  } finally {
    await w.close();
  }
});

// (Miniflare fills in a country when request.cf has none; a missing country is unit-tested in
// src/visitor/consent/settings.rs.)
test("an unknown country (XX, T1) is granted by default, and required with CONSENT_UNKNOWN_COUNTRY=required", async () => {
  const granted = await start();
  const required = await start({ CONSENT_UNKNOWN_COUNTRY: "required" });
  try {
    for (const country of ["XX", "T1"]) {
      assert.equal((await decision(granted, await view(granted, { country }))).decision, "sent", `${country} by default`);
      assert.deepEqual(summary(await decision(required, await view(required, { country }))), ["skipped", "no_consent", "region"], `${country} when required`);
    }
    assert.equal((await decision(required, await view(required, { country: "US" }))).decision, "sent", "a known country keeps its rule");
    const agreed = await view(required, { country: "XX", cookie: "cmplz_marketing=allow" });
    assert.equal((await decision(required, agreed)).decision, "sent", "a signal still speaks");
  } finally {
    await granted.close();
    await required.close();
  }
});
