// Events from the page itself (issue 31, PAGE_EVENTS) in workerd: pages shaped as shop
// software renders them (WooCommerce's structured-data class, Shopify Dawn's
// `product | structured_data`, a Shopify ProductGroup, Google's Order markup, a server-rendered
// GA4 dataLayer purchase) give exactly the expected event at the Meta mock, their bytes reach
// the client untouched, and what cannot be read is logged, never guessed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { startServer, startGraph, startWorker, readBody, waitFor, BROWSER_UA, TOKEN, PIXEL } from "./harness.mjs";

const WOO = fs.readFileSync(new URL("./pages/woocommerce-product.html", import.meta.url), "utf8");
const DAWN = fs.readFileSync(new URL("./pages/shopify-dawn-product.html", import.meta.url), "utf8");
const PRESTASHOP = fs.readFileSync(new URL("./pages/prestashop-classic-product.html", import.meta.url), "utf8");
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/** A small full page holding `scripts` (HTML) in its body. */
const shell = (scripts, title = "Shop") => `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>\n<p>€ 12,50 — “buono”</p>\n${scripts}\n</body></html>\n`;
const ld = (value) => `<script type="application/ld+json">${typeof value === "string" ? value : JSON.stringify(value)}</script>`;

// A Shopify product with variants: `product | structured_data` gives a ProductGroup whose
// variants' offers carry `?variant=<id>`.
const GROUP = shell(ld({
  "@context": "http://schema.org/", "@id": "/products/tee#product", "@type": "ProductGroup", name: "Tee", productGroupID: "8743220150",
  variesBy: ["https://schema.org/size"],
  hasVariant: [
    { "@id": "/products/tee?variant=111#variant", "@type": "Product", name: "Tee - S", sku: "TEE-S", offers: { "@id": "/products/tee?variant=111#offer", "@type": "Offer", price: "20.00", priceCurrency: "USD", url: "https://tee.example/products/tee?variant=111" } },
    { "@id": "/products/tee?variant=222#variant", "@type": "Product", name: "Tee - M", sku: "TEE-M", offers: { "@id": "/products/tee?variant=222#offer", "@type": "Offer", price: "22.00", priceCurrency: "USD", url: "https://tee.example/products/tee?variant=222" } },
  ],
}), "Tee");

// Google's Order markup (Gmail's order example).
const ORDER = shell(ld({
  "@context": "http://schema.org", "@type": "Order", merchant: { "@type": "Organization", name: "Amazon.com" }, orderNumber: "123-4567890-1234567",
  priceCurrency: "USD", price: "29.99",
  acceptedOffer: { "@type": "Offer", itemOffered: { "@type": "Product", name: "Google Chromecast", sku: "GCC-1" }, price: "29.99", priceCurrency: "USD", eligibleQuantity: { "@type": "QuantitativeValue", value: "1" } },
  url: "https://www.amazon.com/gp/css/summary/edit.html?orderID=123-4567890-1234567", orderStatus: "http://schema.org/OrderProcessing",
}), "Thank you");

// Google's GA4 purchase (its ecommerce guide's fields and values), as a server renders it with a
// JSON encoder, after the `{ ecommerce: null }` push the guide puts first.
const PURCHASE = { event: "purchase", ecommerce: { transaction_id: "T_12345", value: 72.05, tax: 3.6, shipping: 5.99, currency: "USD", coupon: "SUMMER_SALE",
  items: [{ item_id: "SKU_12345", item_name: "Stan and Friends Tee", affiliation: "Google Merchandise Store", coupon: "SUMMER_FUN", discount: 2.22, index: 0, item_brand: "Google", item_category: "Apparel", item_variant: "green", location_id: "ChIJIQBpAG2ahYAR_6128GcTUEo", price: 10.01, quantity: 3 },
    { item_id: "SKU_12346", item_name: "Google Grey Women's Tee", affiliation: "Google Merchandise Store", coupon: "SUMMER_FUN", discount: 3.33, index: 1, item_brand: "Google", item_category: "Apparel", item_variant: "gray", price: 21.01, promotion_id: "P_12345", quantity: 2 }] } };
const DATALAYER = shell(`<script>\nwindow.dataLayer = window.dataLayer || [];\ndataLayer.push({ ecommerce: null });  // Clear the previous ecommerce object.\ndataLayer.push(${JSON.stringify(PURCHASE)});\n</script>`, "Grazie");
// The same push as Google's guide prints it: a JavaScript literal, not JSON.
const LITERAL = shell(`<script>\ndataLayer.push({ ecommerce: null });\ndataLayer.push({\n  event: "purchase",\n  ecommerce: {\n    transaction_id: "T_12345",\n    // Sum of (price * quantity) for all items.\n    value: 72.05,\n    currency: "USD"\n  }\n});\n</script>`, "Grazie");

const RULES = "/it/*=ViewContent:jsonld-product, /prodotto/*=ViewContent:jsonld-product, /products/*=ViewContent:jsonld-product, /orders/*=Purchase:jsonld-order, /grazie*=Purchase:datalayer-purchase";

let origin, graph, w;
let answer = {}; // what the origin serves next: { body, header }
const served = new Map(); // path -> the body the origin sent

before(async () => {
  origin = await startServer(async (req, res) => {
    await readBody(req);
    const headers = { "content-type": "text/html; charset=utf-8", "cache-control": "public, max-age=300" };
    if (answer.header) headers["worker-tracking"] = JSON.stringify(answer.header);
    if (answer.cached) Object.assign(headers, { "cf-cache-status": "HIT", age: "120" });
    served.set(new URL(req.url, "http://o").pathname, answer.body);
    res.writeHead(200, headers).end(answer.body);
  });
  graph = await startGraph();
  w = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, BATCH_WINDOW_MS: "0", PAGE_EVENTS: RULES });
});
after(async () => { await w?.close(); origin?.close(); graph?.close(); });

let n = 0;
/** Serves `body` at `path` (made unique), fetched by a browser; returns the client's bytes and the path. */
async function get(path, body, { header, ua = BROWSER_UA, query = "", cached = false } = {}) {
  answer = { body, header, cached };
  const unique = `${path}${path.endsWith("/") ? "" : "-"}${++n}`;
  const res = await w.mf.dispatchFetch(`https://shop.example${unique}${query}`, { headers: { "user-agent": ua, "cf-connecting-ip": "203.0.113.9" }, cf: { country: "US" } });
  return { res, bytes: Buffer.from(await res.arrayBuffer()), path: unique };
}

const eventsAt = (path) => graph.requests.flatMap((r) => r.json?.data ?? []).filter((e) => new URL(e.event_source_url).pathname === path);
async function eventAt(path) {
  await waitFor(() => eventsAt(path).length > 0, 6000, `an event for ${path}`).catch((e) => { console.log(JSON.stringify(w.lines().filter((l) => l.path === path))); throw e; });
  return eventsAt(path)[0];
}
const rejectedFor = (path) => w.lines().find((l) => l.decision === "rejected" && l.path === path);

test("WooCommerce's product JSON-LD (@graph, offers[].priceSpecification on sale) gives ViewContent with the SKU and the sale price; the page's bytes are the origin's", async () => {
  const { res, bytes, path } = await get("/prodotto/pecorino-sardo/", WOO);
  assert.equal(res.status, 200);
  assert.ok(bytes.equals(Buffer.from(served.get(path))), "byte-identical");
  const e = await eventAt(path);
  assert.equal(e.event_name, "ViewContent");
  assert.deepEqual([e.custom_data.content_ids, e.custom_data.content_name, e.custom_data.value, e.custom_data.currency, e.custom_data.content_type], [["PEC-250"], "Pecorino Sardo", 11.5, "EUR", "product"]);
  assert.deepEqual(e.custom_data.contents, [{ id: "PEC-250", quantity: 1, item_price: 11.5 }]);
  assert.equal(e.user_data.client_user_agent, BROWSER_UA, "the visitor's own facts, as for a header");
  // A first visit: the page gives the browser its `_fbp` (the edge's header changes apply to
  // a page that is read), and the page's event names that same id.
  const fbp = res.headers.getSetCookie().find((c) => c.startsWith("_fbp="))?.split(";")[0].slice("_fbp=".length);
  assert.match(fbp ?? "", /^fb\.1\.\d{13}\.\d+$/, "the read page sets _fbp");
  assert.equal(e.user_data.fbp, fbp, "the event's fbp is the cookie the page set");
});

test("Shopify Dawn: the Organization block is passed over, the product's structured_data gives its @id, price and currency", async () => {
  const { bytes, path } = await get("/products/crocodile-tears", DAWN);
  assert.ok(bytes.equals(Buffer.from(served.get(path))));
  const e = await eventAt(path);
  assert.deepEqual([e.custom_data.content_ids, e.custom_data.value, e.custom_data.currency, e.custom_data.content_name], [["/products/crocodile-tears#product"], 56, "CAD", "Crocodile tears"]);
});

test("PrestaShop's classic theme (Organization and WebPage first, a combination's name broken over lines) gives the product's reference and price", async () => {
  const { bytes, path } = await get("/it/home-accessories/7-19-mug-the-best-is-yet-to-come.html", PRESTASHOP);
  assert.ok(bytes.equals(Buffer.from(served.get(path))));
  const e = await eventAt(path);
  assert.deepEqual([e.custom_data.content_ids, e.custom_data.value, e.custom_data.currency, e.custom_data.content_name], [["demo_12"], 11.9, "EUR", "Tazza Best is yet to come"]);
});

test("a Shopify ProductGroup gives the variant the URL names, else the first", async () => {
  const m = await get("/products/tee", GROUP, { query: "?variant=222" });
  const e = await eventAt(m.path);
  assert.deepEqual([e.custom_data.content_ids, e.custom_data.value, e.custom_data.content_name], [["TEE-M"], 22, "Tee - M"]);
  const first = await eventAt((await get("/products/tee", GROUP)).path);
  assert.deepEqual(first.custom_data.content_ids, ["TEE-S"]);
});

test("Google's Order markup gives a Purchase whose id the order fixes: a reload sends the same id", async () => {
  const a = await get("/orders/", ORDER);
  const e = await eventAt(a.path);
  assert.deepEqual([e.event_name, e.custom_data.order_id, e.custom_data.value, e.custom_data.currency, e.custom_data.content_ids], ["Purchase", "123-4567890-1234567", 29.99, "USD", ["GCC-1"]]);
  const b = await get("/orders/", ORDER);
  assert.equal((await eventAt(b.path)).event_id, e.event_id, "the same order, the same event id");
});

test("a GA4 purchase pushed as JSON gives a Purchase; Google's literal push is not guessed: one rejected line", async () => {
  const ok = await get("/grazie", DATALAYER);
  assert.ok(ok.bytes.equals(Buffer.from(served.get(ok.path))));
  const e = await eventAt(ok.path);
  assert.deepEqual([e.custom_data.order_id, e.custom_data.value, e.custom_data.currency, e.custom_data.num_items], ["T_12345", 72.05, "USD", 5]);
  assert.deepEqual(e.custom_data.contents, [{ id: "SKU_12345", quantity: 3, item_price: 10.01 }, { id: "SKU_12346", quantity: 2, item_price: 21.01 }]);
  const literal = await get("/grazie", LITERAL);
  assert.ok(literal.bytes.equals(Buffer.from(served.get(literal.path))));
  const line = await w.line((l) => l.decision === "rejected" && l.path === literal.path);
  assert.equal(line.code, "page_event_unreadable");
  assert.match(line.reason, /strict-JSON dataLayer\.push/);
  assert.equal(eventsAt(literal.path).length, 0);
});

test("bad JSON-LD, a script past 64 KB, no JSON-LD: the page goes out untouched and one rejected line says why", async () => {
  const bad = await get("/products/bad", shell(ld('{"@type":"Product","name":"x",}')));
  assert.ok(bad.bytes.equals(Buffer.from(served.get(bad.path))));
  const line = await w.line((l) => l.decision === "rejected" && l.path === bad.path);
  assert.equal(line.code, "page_event_unreadable");
  assert.match(line.reason, /does not parse/);
  const huge = await get("/products/huge", shell(ld({ "@type": "WebSite", padding: "x".repeat(70_000) }) + ld({ "@type": "Product", sku: "LATE" })));
  assert.ok(huge.bytes.equals(Buffer.from(served.get(huge.path))), "a large page streams whole");
  assert.match((await w.line((l) => l.decision === "rejected" && l.path === huge.path)).reason, /64 KB/);
  const none = await get("/products/none", shell("<p>no data</p>"));
  assert.match((await w.line((l) => l.decision === "rejected" && l.path === none.path)).reason, /no <script type="application\/ld\+json">/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(eventsAt(bad.path).length + eventsAt(huge.path).length + eventsAt(none.path).length, 0);
});

test("a product page viewed again, or replayed from the cache, is a new view with a new id: the isolate remembers the page's event, never its id", async () => {
  const a = await get("/products/crocodile-tears", DAWN);
  const b = await get("/products/crocodile-tears", DAWN);
  const c = await get("/products/crocodile-tears", DAWN, { cached: true });
  assert.ok(c.bytes.equals(Buffer.from(served.get(c.path))));
  const [ea, eb, ec] = [await eventAt(a.path), await eventAt(b.path), await eventAt(c.path)];
  assert.deepEqual([ea.event_name, ea.custom_data.content_ids], ["ViewContent", ["/products/crocodile-tears#product"]]);
  assert.deepEqual([eb.custom_data, ec.custom_data], [ea.custom_data, ea.custom_data], "the same page, the same event");
  assert.equal(new Set([ea.event_id, eb.event_id, ec.event_id]).size, 3, "each view its own id");
});

test("two products: the first wins; a missing price gives an event without a value", async () => {
  const two = await get("/products/two", shell(ld({ "@type": "Product", sku: "FIRST" }) + ld({ "@type": "Product", sku: "SECOND", offers: { price: 1, priceCurrency: "EUR" } })));
  const e = await eventAt(two.path);
  assert.deepEqual(e.custom_data.content_ids, ["FIRST"]);
  assert.equal(e.custom_data.value, undefined);
});

test("a page with the tracking header uses the header; a bot's page and an unmatched path are not read", async () => {
  const header = { event_name: "AddToCart", custom_data: { content_ids: ["HDR"] } };
  const h = await get("/products/header", WOO.replace("/prodotto/", "/products/"), { header });
  const e = await eventAt(h.path);
  assert.deepEqual([e.event_name, e.custom_data.content_ids], ["AddToCart", ["HDR"]]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(eventsAt(h.path).length, 1, "the JSON-LD adds nothing");
  const bot = await get("/products/crocodile-tears", DAWN, { ua: GOOGLEBOT });
  assert.ok(bot.bytes.equals(Buffer.from(served.get(bot.path))));
  const other = await get("/about", DAWN);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(eventsAt(bot.path).length + eventsAt(other.path).length, 0);
  assert.equal(rejectedFor(bot.path), undefined, "a bot's page is not read at all");
});

test("a bad PAGE_EVENTS is named once in a disabled line; pages are served", async () => {
  const bad = await startWorker({ ORIGIN_URL: origin.url, META_PIXEL_ID: PIXEL, META_ACCESS_TOKEN: TOKEN, META_API_BASE: graph.url, PAGE_EVENTS: "/products/*=ViewContent:microdata" });
  try {
    answer = { body: DAWN };
    const res = await bad.mf.dispatchFetch("https://shop.example/products/x", { headers: { "user-agent": BROWSER_UA } });
    assert.equal(await res.text(), DAWN);
    const line = await bad.line((l) => l.decision === "disabled" && l.feature === "page_events");
    assert.match(line.reason, /PAGE_EVENTS/);
  } finally {
    await bad.close();
  }
});
