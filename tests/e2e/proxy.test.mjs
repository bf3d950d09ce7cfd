// The proxy half: tagrelay must be a transparent reverse proxy that only strips the
// tracking header. Every case runs the built Worker in workerd against a real origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { startServer, startWorker, request, readBody, sha256, patternChunks, headerNames, BROWSER_UA, freePort } from "./harness.mjs";

const TRACK = JSON.stringify({ event_name: "PageView" });
let origin, worker, seen;

before(async () => {
  origin = await startServer();
  worker = await startWorker({ ORIGIN_URL: origin.url, DRY_RUN: "true" });
});
after(async () => { await worker?.close(); origin?.close(); });

/** Origin handler that records the request it got and answers with `respond`. */
function serve(respond) {
  seen = null;
  origin.handler = async (req, res) => {
    const body = await readBody(req);
    seen = { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body };
    respond(req, res, body);
  };
}

test("GET: path, query, method and headers reach the origin; response comes back unchanged minus the header", async () => {
  serve((req, res) => {
    res.writeHead(200, "Fine Thanks", [
      "Content-Type", "text/html; charset=utf-8",
      "X-Origin", "yes",
      "Worker-Tracking", TRACK,
      "Cache-Control", "public, max-age=60",
    ]);
    res.end("<h1>hello</h1>");
  });
  const res = await request(worker.url, "/products/a%20b?x=1&y=%2F&fbclid=AbC-_1", {
    headers: { "x-custom": "kept", accept: "text/html", "accept-language": "it-IT" },
  });
  assert.equal(res.status, 200);
  assert.equal(res.statusText, "Fine Thanks", "the status text is the origin's");
  assert.equal(res.body.toString(), "<h1>hello</h1>");
  assert.equal(res.headers["x-origin"], "yes");
  // A new visitor from an ad click gets its own _fbp/_fbc: no shared cache may keep that.
  assert.ok(res.headers["set-cookie"].some((c) => c.startsWith("_fbc=")));
  assert.equal(res.headers["cache-control"], "private, max-age=60");
  assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
  assert.ok(!headerNames(res).includes("worker-tracking"));
  assert.equal(seen.method, "GET");
  assert.equal(seen.url, "/products/a%20b?x=1&y=%2F&fbclid=AbC-_1");
  assert.equal(seen.headers["x-custom"], "kept");
  assert.equal(seen.headers["accept-language"], "it-IT");
  assert.equal(seen.headers["user-agent"], BROWSER_UA);
  assert.equal(seen.headers.host, new URL(origin.url).host, "Host must be the origin's");
  assert.equal(seen.headers["x-forwarded-host"], new URL(worker.url).host);
});

test("untracked responses produce no log line", async () => {
  serve((req, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end("plain"); });
  const before = worker.lines().length;
  const res = await request(worker.url, "/untracked-no-log");
  assert.equal(res.body.toString(), "plain");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(worker.lines().filter((l) => l.path === "/untracked-no-log").length, 0);
  assert.equal(worker.lines().length, before);
});

test("POST body is streamed to the origin and echoed back byte for byte", async () => {
  serve((req, res, body) => { res.writeHead(201, { "content-type": "application/octet-stream", "worker-tracking": TRACK }); res.end(body); });
  const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
  const res = await request(worker.url, "/api/echo?q=1", { method: "POST", body: payload, headers: { "content-type": "application/octet-stream" } });
  assert.equal(res.status, 201);
  assert.equal(seen.method, "POST");
  assert.equal(seen.headers["content-type"], "application/octet-stream");
  assert.equal(sha256(seen.body), sha256(payload));
  assert.equal(sha256(res.body), sha256(payload));
});

test("PUT, PATCH, DELETE and OPTIONS keep their method and body", async () => {
  serve((req, res, body) => { res.writeHead(200); res.end(`${req.method}:${body}`); });
  for (const method of ["PUT", "PATCH", "DELETE", "OPTIONS"]) {
    const res = await request(worker.url, "/m", { method, body: method === "OPTIONS" ? undefined : "data" });
    assert.equal(res.body.toString(), method === "OPTIONS" ? "OPTIONS:" : `${method}:data`);
  }
});

test("a 100 MiB upload and a 100 MiB download stream through", { timeout: 120_000 }, async () => {
  const SIZE = 100 * 1024 * 1024;
  // Upload: the origin hashes what arrives.
  serve((req, res, body) => { res.writeHead(200, { "content-type": "text/plain" }); res.end(`${body.length} ${sha256(body)}`); });
  const upHash = createHash("sha256");
  const up = await request(worker.url, "/upload", { method: "PUT", body: patternChunks(SIZE, upHash), headers: { "content-length": String(SIZE) } });
  assert.equal(up.body.toString(), `${SIZE} ${upHash.digest("hex")}`);
  // Download, tracked (the response is rebuilt around the origin's stream).
  const downHash = createHash("sha256");
  origin.handler = async (req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": SIZE, "worker-tracking": TRACK });
    for (const c of patternChunks(SIZE, downHash)) if (!res.write(c)) await new Promise((r) => res.once("drain", r));
    res.end();
  };
  const down = await request(worker.url, "/download");
  assert.equal(down.status, 200);
  assert.equal(down.body.length, SIZE);
  assert.equal(sha256(down.body), downHash.digest("hex"));
  assert.ok(!headerNames(down).includes("worker-tracking"));
});

test("several Set-Cookie headers stay separate, tracked or not", async () => {
  for (const tracked of [true, false]) {
    serve((req, res) => {
      const headers = ["Set-Cookie", "a=1; Path=/; HttpOnly", "Set-Cookie", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "Set-Cookie", "c=3"];
      if (tracked) headers.push("Worker-Tracking", TRACK);
      res.writeHead(200, headers);
      res.end("ok");
    });
    const res = await request(worker.url, "/cookies");
    assert.deepEqual(res.headers["set-cookie"], ["a=1; Path=/; HttpOnly", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "c=3"], `tracked=${tracked}`);
  }
});

test("the tracking header is removed on every status, in any case, every occurrence", async () => {
  for (const status of [200, 201, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 410, 429, 500, 502, 503]) {
    serve((req, res) => {
      const headers = ["worker-tracking", TRACK, "WORKER-TRACKING", TRACK, "Worker-Tracking", "not even json", "ETag", '"v1"'];
      if (status >= 300 && status < 400 && status !== 304) headers.push("Location", "/elsewhere");
      if (status === 206) headers.push("Content-Range", "bytes 0-1/10");
      res.writeHead(status, headers);
      res.end(status === 204 || status === 304 ? undefined : "xy");
    });
    const res = await request(worker.url, `/status/${status}`);
    assert.equal(res.status, status);
    assert.ok(!headerNames(res).includes("worker-tracking"), `status ${status} leaked the header`);
    assert.equal(res.headers.etag, '"v1"');
  }
});

test("redirects are returned, not followed", async () => {
  let followed = false;
  serve((req, res) => {
    if (req.url === "/target") { followed = true; res.end("followed"); return; }
    res.writeHead(302, { location: "/target", "worker-tracking": TRACK, "set-cookie": "r=1" });
    res.end();
  });
  const res = await request(worker.url, "/old");
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, "/target");
  assert.deepEqual(res.headers["set-cookie"], ["r=1"]);
  assert.equal(followed, false);
  for (const status of [301, 307, 308]) {
    serve((req, res) => { res.writeHead(status, { location: "https://elsewhere.example/x" }); res.end(); });
    const r = await request(worker.url, "/r", { method: status >= 307 ? "POST" : "GET", body: status >= 307 ? "b" : undefined });
    assert.equal(r.status, status);
    assert.equal(r.headers.location, "https://elsewhere.example/x");
  }
});

test("304 Not Modified keeps validators and has no body", async () => {
  serve((req, res) => {
    assert.equal(req.headers["if-none-match"], '"abc"');
    res.writeHead(304, { etag: '"abc"', "cache-control": "max-age=10", "worker-tracking": TRACK });
    res.end();
  });
  const res = await request(worker.url, "/cached", { headers: { "if-none-match": '"abc"' } });
  assert.equal(res.status, 304);
  assert.equal(res.headers.etag, '"abc"');
  assert.equal(res.body.length, 0);
});

test("206 range responses pass through with Content-Range and Content-Length", async () => {
  const full = Buffer.from("0123456789abcdefghij");
  for (const tracked of [true, false]) {
    serve((req, res) => {
      assert.equal(req.headers.range, "bytes=5-9");
      const h = { "content-range": `bytes 5-9/${full.length}`, "content-length": "5", "accept-ranges": "bytes", "content-type": "text/plain" };
      if (tracked) h["worker-tracking"] = TRACK;
      res.writeHead(206, h);
      res.end(full.subarray(5, 10));
    });
    const res = await request(worker.url, "/file.txt", { headers: { range: "bytes=5-9" } });
    assert.equal(res.status, 206);
    assert.equal(res.headers["content-range"], "bytes 5-9/20");
    assert.equal(res.headers["content-length"], "5");
    assert.equal(res.body.toString(), "56789");
  }
});

test("gzip bodies pass through still compressed, byte for byte", async () => {
  const html = Buffer.from("<p>" + "tagrelay ".repeat(5000) + "</p>");
  const gz = gzipSync(html);
  for (const tracked of [true, false]) {
    serve((req, res) => {
      const h = { "content-type": "text/html", "content-encoding": "gzip", vary: "Accept-Encoding" };
      if (tracked) h["worker-tracking"] = TRACK;
      res.writeHead(200, h);
      res.end(gz);
    });
    const res = await request(worker.url, "/gz", { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.headers["content-encoding"], "gzip", `tracked=${tracked}`);
    assert.equal(sha256(res.body), sha256(gz), `tracked=${tracked}: body was re-encoded`);
  }
});

test("HEAD: status and headers, no body, no tracking header", async () => {
  serve((req, res) => {
    res.writeHead(200, { "content-type": "text/html", "content-length": "1234", "worker-tracking": TRACK });
    res.end();
  });
  const res = await request(worker.url, "/head", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(seen.method, "HEAD");
  assert.equal(res.body.length, 0);
  assert.ok(!headerNames(res).includes("worker-tracking"));
});

test("client-sent tracking and hop-by-hop headers are not forwarded", async () => {
  serve((req, res) => { res.end("ok"); });
  // workerd drops Keep-Alive and TE itself, but forwards Proxy-Connection and headers named
  // in Connection: those are tagrelay's to remove (a bare passthrough Worker keeps them).
  await request(worker.url, "/h", {
    headers: { "Worker-Tracking": '{"event_name":"Forged"}', connection: "x-hop", "x-hop": "secret", "proxy-connection": "keep-alive" },
  });
  assert.equal(seen.headers["worker-tracking"], undefined);
  assert.equal(seen.headers["x-hop"], undefined);
  assert.equal(seen.headers["proxy-connection"], undefined);
});

test("crafted paths and Host headers cannot change the upstream host", async () => {
  serve((req, res) => { res.end("origin"); });
  for (const path of ["//evil.example/x", "/@evil.example", "/%2e%2e/%2e%2e/etc", "/http://evil.example/"]) {
    const res = await request(worker.url, path, { headers: { host: "evil.example", "x-forwarded-host": "evil.example" } });
    assert.equal(res.body.toString(), "origin", path);
    assert.equal(seen.headers.host, new URL(origin.url).host, path);
  }
});

test("origin down: 502 with a short plain message, logged, quickly", async () => {
  const port = await freePort();
  const down = await startWorker({ ORIGIN_URL: `http://127.0.0.1:${port}`, DRY_RUN: "true" });
  try {
    const t0 = Date.now();
    const res = await request(down.url, "/any/page?secret=1");
    assert.equal(res.status, 502);
    assert.match(res.headers["content-type"], /^text\/plain/);
    assert.equal(res.body.toString(), "Bad Gateway: the origin server could not be reached.\n");
    assert.ok(Date.now() - t0 < 5000);
    const line = await down.line((l) => l.decision === "origin_error");
    assert.equal(line.path, "/any/page");
    assert.equal(line.status, 502);
    assert.equal(line.level, "error");
    assert.match(line.reason, /origin unreachable/);
  } finally {
    await down.close();
  }
});

test("a connection the origin drops before answering: a bodiless GET is sent once more, a POST never", async () => {
  // What a keep-alive connection closed by the origin just as it is reused looks like to
  // the Worker: the request goes out and the connection dies with no response.
  const hits = new Map();
  origin.handler = (req, res) => {
    const n = (hits.get(req.url) ?? 0) + 1;
    hits.set(req.url, n);
    if (req.url.startsWith("/always") || n === 1) return req.socket.destroy();
    res.writeHead(200, { "content-type": "text/html", "worker-tracking": TRACK });
    res.end("<p>second try</p>");
  };
  const once = await request(worker.url, "/flaky-once");
  assert.equal(once.status, 200);
  assert.equal(once.body.toString(), "<p>second try</p>");
  assert.equal(once.headers["worker-tracking"], undefined);
  assert.equal(hits.get("/flaky-once"), 2);
  assert.equal(worker.lines().filter((l) => l.path === "/flaky-once" && l.decision === "origin_error").length, 0);

  const get = await request(worker.url, "/always/get");
  assert.equal(get.status, 502);
  assert.equal(hits.get("/always/get"), 2);
  assert.equal((await worker.line((l) => l.path === "/always/get" && l.decision === "origin_error")).attempts, 2);

  const post = await request(worker.url, "/always/post", { method: "POST", body: "order=1" });
  assert.equal(post.status, 502);
  assert.equal(hits.get("/always/post"), 1, "a POST may have reached the origin: never sent twice");
  assert.equal((await worker.line((l) => l.path === "/always/post" && l.decision === "origin_error")).attempts, 1);
});

test("an invalid ORIGIN_URL answers 502 and logs which variable to fix", async () => {
  const bad = await startWorker({ ORIGIN_URL: "ftp://nope" });
  try {
    const res = await request(bad.url, "/");
    assert.equal(res.status, 502);
    assert.equal(res.body.toString(), "Bad Gateway: the proxy is misconfigured.\n");
    const line = await bad.line((l) => l.decision === "config_error");
    assert.match(line.reason, /^ORIGIN_URL is invalid/);
  } finally {
    await bad.close();
  }
});

test("a WebSocket upgrade is proxied, tracked or not, without the tracking header", async () => {
  const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  for (const tracked of [false, true]) {
    const onUpgrade = (req, socket) => {
      const accept = createHash("sha1").update(req.headers["sec-websocket-key"] + GUID).digest("base64");
      const extra = tracked ? `Worker-Tracking: ${TRACK}\r\n` : "";
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${extra}\r\n`);
      socket.write(Buffer.from([0x81, 5, ...Buffer.from("hello")])); // one unmasked text frame
      socket.on("error", () => {});
    };
    origin.on("upgrade", onUpgrade);
    try {
      const { res, frame } = await new Promise((resolve, reject) => {
        const req = http.request(`${worker.url}/ws`, {
          headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "user-agent": BROWSER_UA },
        });
        req.on("upgrade", (res, socket, head) => {
          let data = head;
          const done = () => { socket.destroy(); resolve({ res, frame: data }); };
          if (data.length >= 7) return done();
          socket.on("data", (d) => { data = Buffer.concat([data, d]); if (data.length >= 7) done(); });
        });
        req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
        req.on("error", reject);
        req.end();
      });
      assert.equal(res.statusCode, 101, `tracked=${tracked}`);
      assert.equal(res.headers["worker-tracking"], undefined, `tracked=${tracked}`);
      assert.equal(frame.subarray(2, 7).toString(), "hello", `tracked=${tracked}`);
    } finally {
      origin.off("upgrade", onUpgrade);
    }
  }
});

test("a server-sent events stream flows event by event, tracked or not", async () => {
  for (const tracked of [false, true]) {
    let clientGotFirst;
    const firstSeen = new Promise((r) => { clientGotFirst = r; });
    serve(async (req, res) => {
      const h = { "content-type": "text/event-stream", "cache-control": "no-cache" };
      if (tracked) h["worker-tracking"] = TRACK;
      res.writeHead(200, h);
      res.write("data: 1\n\n");
      // The second event waits until the client has the first: a buffering proxy would hang.
      await firstSeen;
      res.end("data: 2\n\n");
    });
    const body = await new Promise((resolve, reject) => {
      http.get(`${worker.url}/events`, { headers: { "user-agent": BROWSER_UA, accept: "text/event-stream" } }, (res) => {
        assert.ok(!headerNames(res).includes("worker-tracking"));
        let text = "";
        res.on("data", (d) => { text += d; if (text.includes("data: 1")) clientGotFirst(); });
        res.on("end", () => resolve(text));
      }).on("error", reject);
    });
    assert.equal(body, "data: 1\n\ndata: 2\n\n", `tracked=${tracked}`);
  }
});
