// Consent at the edge and first-party _fbp/_fbc (issue 12), in workerd against a real origin
// and a mock Graph API. Requests go through Miniflare's dispatchFetch so that each can carry its
// own URL (host, https) and request.cf (country).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, startGraph, startWorker, readBody, waitFor, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

let origin, graph, worker;
let page = { status: 200, type: "text/html; charset=utf-8", event: { event_name: "PageView" }, extra: {} };

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    const headers = { "content-type": page.type, ...page.extra };
    if (page.event) headers["worker-tracking"] = JSON.stringify(page.event);
    res.writeHead(page.status, headers);
    res.end("<p>page</p>");
  });
  graph = await startGraph();
  worker = await live();
});
after(async () => { await worker?.close(); origin?.close(); graph?.close(); });

const live = (extra = {}) =>
  startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "0", ...extra });

let n = 0;
/** One page view at `https://www.spesati.it/<unique path><query>`; returns the response and its path. */
async function view({ w = worker, query = "", cookie, country = "IT", headers = {}, ua = BROWSER_UA, host = "https://www.spesati.it" } = {}) {
  const path = `/p/${++n}`;
  const h = { "user-agent": ua, "cf-connecting-ip": "203.0.113.7", ...headers };
  if (cookie !== undefined) h.cookie = cookie;
  const res = await w.mf.dispatchFetch(`${host}${path}${query}`, { headers: h, cf: country ? { country } : {} });
  await res.arrayBuffer();
  return { res, path, setCookies: res.headers.getSetCookie() };
}

/** The log line of `path` (tracked pages log one). */
const lineOf = (path, w = worker) => w.line((l) => l.path === path && l.decision !== "consent_unreadable");

/** The events Graph received for `path`. */
const eventsOf = (path) => graph.requests.flatMap((r) => r.json?.data ?? []).filter((e) => new URL(e.event_source_url).pathname === path);

/** Waits until the line is written and, for `sent`, the request has reached Graph. */
async function outcome(path, w = worker) {
  const line = await lineOf(path, w);
  if (line.decision === "sent") await waitFor(() => eventsOf(path).length > 0, 4000, "event at Graph");
  return line;
}

// Real cookie values, as each banner's documentation shows them.
const BANNERS = {
  cookiebot: {
    granted: "CookieConsent={stamp:%27abc%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27explicit%27%2Cver:1}",
    denied: "CookieConsent={stamp:%27abc%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1}",
  },
  onetrust: {
    granted: "OptanonConsent=isGpcEnabled=0&datestamp=Tue+Nov+25+2025&version=202409.1.0&groups=C0001%3A1%2CC0002%3A1%2CC0004%3A1&geolocation=IT%3B25",
    denied: "OptanonConsent=isGpcEnabled=0&datestamp=Tue+Nov+25+2025&version=202409.1.0&groups=C0001%3A1%2CC0002%3A1%2CC0004%3A0&geolocation=IT%3B25",
  },
  cookieyes: {
    granted: "cookieyes-consent=consentid:abc,consent:yes,action:yes,necessary:yes,analytics:yes,advertisement:yes",
    denied: "cookieyes-consent=consentid:abc,consent:no,action:yes,necessary:yes,analytics:yes,advertisement:no",
  },
  complianz: { granted: "cmplz_marketing=allow; cmplz_statistics=allow", denied: "cmplz_marketing=deny" },
  zaraz: { granted: "cf_consent=%7B%22mkt1%22%3Atrue%7D", denied: "cf_consent=%7B%22mkt1%22%3Afalse%7D" },
  // TCF v2 core segments built bit by bit: purposes 1-10 consented, and 2-10 (purpose 1 refused).
  tcf: { granted: `euconsent-v2=${tcString([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])}.YAAAAAAAAAAA`, denied: `euconsent-v2=${tcString([2, 3, 4, 5, 6, 7, 8, 9, 10])}` },
  cookie: { granted: "shop_consent=all", denied: "shop_consent=essential" },
};

/** A TCF v2 core segment with `purposes` consented (bits written as a CMP writes them). */
function tcString(purposes) {
  const bits = [];
  const put = (v, w) => { for (let i = w - 1; i >= 0; i--) bits.push(Number((BigInt(v) >> BigInt(i)) & 1n)); };
  put(2, 6); put(16500000000, 36); put(16500000000, 36); put(7, 12); put(1, 12); put(1, 6); put(4, 6); put(13, 6);
  put(150, 12); put(4, 6); put(0, 1); put(0, 1); put(0, 12);
  for (let p = 1; p <= 24; p++) bits.push(purposes.includes(p) ? 1 : 0);
  put(0, 24); put(0, 1); put(8, 6); put(19, 6); put(0, 16); put(0, 1); put(0, 16); put(0, 1); put(0, 12);
  while (bits.length % 8) bits.push(0);
  const bytes = Buffer.from(Array.from({ length: bits.length / 8 }, (_, i) => bits.slice(i * 8, i * 8 + 8).reduce((b, x) => (b << 1) | x, 0)));
  return bytes.toString("base64url");
}

test("each banner: granted sends the event, denied sends nothing and says which signal decided", async () => {
  const w = await live({ CONSENT_ZARAZ_MARKETING: "mkt1", CONSENT_COOKIE: "shop_consent=all" });
  try {
    const deniedPaths = [];
    for (const [source, { granted, denied }] of Object.entries(BANNERS)) {
      const yes = await view({ w, cookie: granted });
      const sent = await outcome(yes.path, w);
      assert.equal(sent.decision, "sent", `${source} granted: ${JSON.stringify(sent)}`);
      assert.equal(eventsOf(yes.path).length, 1);
      const no = await view({ w, cookie: denied });
      deniedPaths.push(no.path);
      const skipped = await outcome(no.path, w);
      assert.deepEqual([skipped.decision, skipped.rule, skipped.consent_source], ["skipped", "consent_denied", source], `${source} denied`);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(deniedPaths.flatMap(eventsOf), [], "no event of a denied visitor reached Graph");
  } finally {
    await w.close();
  }
});

test("no signal: denied where consent is required (IT), granted elsewhere (US); CONSENT_REQUIRED_IN changes it", async () => {
  const it = await view({ country: "IT" });
  const line = await outcome(it.path);
  assert.deepEqual([line.decision, line.rule, line.consent_source], ["skipped", "no_consent", "region"]);
  assert.deepEqual(it.setCookies, [], "no consent yet: no cookie either");
  const us = await view({ country: "US" });
  assert.equal((await outcome(us.path)).decision, "sent");
  const w = await live({ CONSENT_REQUIRED_IN: "*" });
  try {
    const anywhere = await view({ w, country: "US" });
    assert.equal((await outcome(anywhere.path, w)).rule, "no_consent");
  } finally {
    await w.close();
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(eventsOf(it.path).length, 0);
});

test("Global Privacy Control: skip (the default) sends nothing; ldu sends with Limited Data Use", async () => {
  const granted = BANNERS.complianz.granted;
  const skip = await view({ cookie: granted, headers: { "sec-gpc": "1" }, country: "US" });
  const line = await outcome(skip.path);
  assert.deepEqual([line.decision, line.rule, line.consent_source], ["skipped", "gpc", "gpc"]);
  const w = await live({ GPC_MODE: "ldu" });
  try {
    const ldu = await view({ w, cookie: granted, headers: { "sec-gpc": "1" }, country: "US" });
    assert.equal((await outcome(ldu.path, w)).decision, "sent");
    const [event] = eventsOf(ldu.path);
    assert.deepEqual(event.data_processing_options, ["LDU"]);
    assert.equal(event.data_processing_options_country, 0);
    assert.equal(event.data_processing_options_state, 0);
  } finally {
    await w.close();
  }
});

test("two signals that disagree: the denial wins", async () => {
  const both = await view({ cookie: `${BANNERS.cookiebot.granted}; ${BANNERS.tcf.denied}`, country: "US" });
  const line = await outcome(both.path);
  assert.deepEqual([line.decision, line.rule, line.consent_source], ["skipped", "consent_denied", "tcf"]);
});

test("an unreadable consent cookie is no signal, logged at warn by name without its value", async () => {
  const secret = "CookieConsent=broken-SECRETVALUE";
  const v = await view({ cookie: secret, country: "IT" });
  const warn = await worker.line((l) => l.path === v.path && l.decision === "consent_unreadable");
  assert.equal(warn.level, "warn");
  assert.equal(warn.consent_source, "cookiebot");
  assert.equal(warn.cookie, "CookieConsent");
  assert.equal((await outcome(v.path)).rule, "no_consent");
  assert.ok(!worker.lines().some((l) => JSON.stringify(l).includes("SECRETVALUE")));
});

test("a new visitor gets _fbp on the registrable domain, with every attribute, and the event carries it", async () => {
  const v = await view({ country: "US", query: "?fbclid=IwAR2F4-dbP0_l7Z" });
  assert.equal(v.res.status, 200);
  const fbp = v.setCookies.find((c) => c.startsWith("_fbp="));
  const fbc = v.setCookies.find((c) => c.startsWith("_fbc="));
  assert.match(fbp, /^_fbp=fb\.1\.\d{13}\.\d+; Max-Age=7776000; Path=\/; Domain=spesati\.it; SameSite=Lax; Secure$/);
  assert.match(fbc, /^_fbc=fb\.1\.\d{13}\.IwAR2F4-dbP0_l7Z; Max-Age=7776000; Path=\/; Domain=spesati\.it; SameSite=Lax; Secure$/);
  assert.ok(!v.setCookies.some((c) => /httponly/i.test(c)), "the pixel must read them");
  assert.equal((await outcome(v.path)).decision, "sent");
  const [event] = eventsOf(v.path);
  assert.equal(event.user_data.fbp, fbp.slice(5, fbp.indexOf(";")));
  assert.equal(event.user_data.fbc, fbc.slice(5, fbc.indexOf(";")));
  assert.ok(!worker.lines().some((l) => JSON.stringify(l).includes(event.user_data.fbp)), "cookie values never reach the log");
});

test("a valid _fbp is kept; an invalid one is replaced; COOKIE_DOMAIN and plain http are honoured", async () => {
  const kept = await view({ country: "US", cookie: "_fbp=fb.1.1700000000000.123456" });
  assert.deepEqual(kept.setCookies, []);
  await outcome(kept.path);
  assert.equal(eventsOf(kept.path)[0].user_data.fbp, "fb.1.1700000000000.123456");
  const bad = await view({ country: "US", cookie: "_fbp=fb.1.x.<script>" });
  assert.equal(bad.setCookies.length, 1);
  assert.match(bad.setCookies[0], /^_fbp=fb\.1\.\d{13}\.\d+;/);
  const w = await live({ COOKIE_DOMAIN: "shop.example.co.uk" });
  try {
    const v = await view({ w, country: "US", host: "http://www.shop.example.co.uk" });
    assert.match(v.setCookies[0], /^_fbp=fb\.3\.\d{13}\.\d+; Max-Age=7776000; Path=\/; Domain=shop\.example\.co\.uk; SameSite=Lax$/);
  } finally {
    await w.close();
  }
});

test("an ad click landing on an untracked page sets _fbc (and _fbp); a returning visitor's untracked page is untouched", async () => {
  page = { ...page, event: null };
  try {
    const click = await view({ country: "US", query: "?utm_source=fb&fbclid=AbC-123_x" });
    assert.equal(click.setCookies.length, 2);
    assert.ok(click.setCookies.some((c) => /^_fbc=fb\.1\.\d{13}\.AbC-123_x;/.test(c)));
    const same = await view({ country: "US", query: "?fbclid=AbC-123_x", cookie: "_fbp=fb.1.1700000000000.1; _fbc=fb.1.1700000000000.AbC-123_x" });
    assert.deepEqual(same.setCookies, [], "the same click again: nothing to set");
    const back = await view({ country: "US", cookie: "_fbp=fb.1.1700000000000.1" });
    assert.deepEqual(back.setCookies, []);
    assert.equal(back.res.headers.get("worker-tracking"), null);
  } finally {
    page = { ...page, event: { event_name: "PageView" } };
  }
});

test("no cookie for bots, HEAD, non-HTML, 404 or visitors without consent; expiry on an explicit denial", async () => {
  const none = async (opts, why) => assert.deepEqual((await view({ country: "US", ...opts })).setCookies, [], why);
  await none({ ua: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" }, "crawler");
  await none({ country: "IT" }, "no consent yet");
  const head = await worker.mf.dispatchFetch("https://www.spesati.it/head", { method: "HEAD", headers: { "user-agent": BROWSER_UA } });
  assert.deepEqual(head.headers.getSetCookie(), [], "HEAD");
  for (const [status, type, why] of [[404, "text/html", "404"], [200, "application/json", "JSON"], [200, "image/png", "image"]]) {
    const saved = page;
    page = { ...page, status, type, event: null };
    try {
      await none({}, why);
    } finally {
      page = saved;
    }
  }
  const denied = await view({ country: "IT", cookie: `_fbp=fb.1.1700000000000.1; _fbc=fb.1.1700000000000.x; ${BANNERS.cookiebot.denied}` });
  assert.deepEqual(denied.setCookies, [
    "_fbp=; Max-Age=0; Path=/; Domain=spesati.it; SameSite=Lax; Secure",
    "_fbc=; Max-Age=0; Path=/; Domain=spesati.it; SameSite=Lax; Secure",
  ]);
  page = { ...page, event: null };
  try {
    const untracked = await view({ country: "US", headers: { "sec-gpc": "1" }, cookie: "_fbp=fb.1.1700000000000.1" });
    assert.deepEqual(untracked.setCookies, ["_fbp=; Max-Age=0; Path=/; Domain=spesati.it; SameSite=Lax; Secure"], "GPC on an untracked page");
  } finally {
    page = { ...page, event: { event_name: "PageView" } };
  }
});

test("FIRST_PARTY_COOKIES=off sets no cookie and still sends the cookie's ids", async () => {
  const w = await live({ FIRST_PARTY_COOKIES: "off" });
  try {
    const v = await view({ w, country: "US" });
    assert.deepEqual(v.setCookies, []);
    assert.equal((await outcome(v.path, w)).decision, "sent");
  } finally {
    await w.close();
  }
});

test("a cache-replayed page decides for each visitor on its own", async () => {
  page = { ...page, extra: { "cf-cache-status": "HIT", age: "120" } };
  try {
    const yes = await view({ cookie: BANNERS.complianz.granted });
    const no = await view({ cookie: BANNERS.complianz.denied });
    const silent = await view({});
    assert.equal((await outcome(yes.path)).decision, "sent");
    assert.equal((await outcome(no.path)).rule, "consent_denied");
    assert.equal((await outcome(silent.path)).rule, "no_consent");
    assert.equal(eventsOf(no.path).length + eventsOf(silent.path).length, 0);
  } finally {
    page = { ...page, extra: {} };
  }
});

test("an invalid consent setting fails closed: nothing sent, no cookie, the page served, the reason logged", async () => {
  const w = await live({ GPC_MODE: "sometimes" });
  try {
    const v = await view({ w, country: "US" });
    assert.equal(v.res.status, 200);
    assert.deepEqual(v.setCookies, []);
    const line = await lineOf(v.path, w);
    assert.equal(line.decision, "disabled");
    assert.match(line.reason, /^GPC_MODE is invalid/);
  } finally {
    await w.close();
  }
});
