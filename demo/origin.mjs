// A tiny shop that plays the origin for `make dev`: its pages set the Worker-Tracking
// header the way a real origin would (plain JSON, base64url for non-ASCII, several events).
// Usage: node demo/origin.mjs [--port 8788]
import http from "node:http";

const port = Number(process.argv[process.argv.indexOf("--port") + 1]) || 8788;

const products = {
  pecorino: { name: "Pecorino Sardo – stagionato", price: 14.9 },
  fregola: { name: "Fregola sarda", price: 3.4 },
  mirto: { name: "Mirto di Sardegna", price: 19.5 },
};

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title} · Spesati demo</title></head>
<body><h1>${title}</h1>${body}
<p><a href="/">Home</a> · <a href="/products/pecorino">Pecorino</a> · <a href="/products/fregola">Fregola</a> ·
<a href="/products/mirto">Mirto</a> · <a href="/gifts/cannonau">Cannonau (no header: its JSON-LD)</a> ·
<a href="/checkout/thank-you">Thank you page</a></p></body></html>`;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://demo");
  const send = (status, headers, html) => {
    res.writeHead(status, { "content-type": "text/html; charset=utf-8", ...headers });
    res.end(req.method === "HEAD" ? undefined : html);
  };
  const product = url.pathname.match(/^\/products\/([a-z]+)$/);
  if (url.pathname === "/") {
    send(200, { "worker-tracking": JSON.stringify({ event_name: "PageView" }) }, page("Spesati demo shop", "<p>Browse the products.</p>"));
  } else if (product && products[product[1]]) {
    const p = products[product[1]];
    const event = {
      event_name: "ViewContent",
      custom_data: { content_name: p.name, content_ids: [product[1]], content_type: "product", value: p.price, currency: "EUR" },
      contents: [{ id: product[1], quantity: 1, item_price: p.price }],
    };
    // Non-ASCII product names travel base64url-encoded.
    send(200, { "worker-tracking": b64url(event), "cache-control": "public, max-age=300" }, page(p.name, `<p>€${p.price}</p>`));
  } else if (url.pathname === "/gifts/cannonau") {
    // No header: the page describes itself in schema.org JSON-LD, and PAGE_EVENTS (set by
    // `make dev`) turns that into a ViewContent.
    const jsonLd = { "@context": "https://schema.org/", "@type": "Product", name: "Cannonau di Sardegna", sku: "CAN-75",
      offers: { "@type": "Offer", price: "13.90", priceCurrency: "EUR", availability: "https://schema.org/InStock" } };
    send(200, { "cache-control": "public, max-age=300" },
      page("Cannonau di Sardegna", `<p>€13.90</p><script type="application/ld+json">${JSON.stringify(jsonLd)}</script>`));
  } else if (url.pathname === "/checkout/thank-you") {
    const order = "order-1001";
    const events = [
      { event_name: "Purchase", event_id: order, custom_data: { value: 34.3, currency: "EUR", order_id: order, num_items: 2 },
        user_data: { em: "Maria.Rossi@example.com", ph: "+39 070 123 4567", fn: "Maria", ln: "Rossi", ct: "Cagliari", country: "IT" } },
    ];
    send(200, { "worker-tracking": JSON.stringify(events), "cache-control": "private, no-store" }, page("Thank you!", "<p>Order order-1001 confirmed.</p>"));
  } else {
    send(404, {}, page("Not found", ""));
  }
  console.log(`demo origin: ${req.method} ${req.url} -> ${res.statusCode}`);
});

server.listen(port, "127.0.0.1", () => console.log(`demo origin listening on http://127.0.0.1:${port}`));
