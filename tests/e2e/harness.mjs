// Test harness: runs the built Worker (build/worker/shim.mjs) in workerd through the Miniflare API,
// with real HTTP servers on 127.0.0.1 playing the origin and the Graph API.
import http from "node:http";
import { createHash } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { Miniflare } from "miniflare";

export const BROWSER_UA =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
export const TOKEN = "EAAB-test-secret-token-do-not-log";
export const PIXEL = "998877";
export const COMPATIBILITY_DATE = "2026-04-20";

/** Starts an HTTP server on 127.0.0.1 whose behaviour each test swaps via `server.handler`. */
export async function startServer(defaultHandler) {
  const server = http.createServer((req, res) => server.handler(req, res));
  server.handler = defaultHandler;
  server.keepAliveTimeout = 1000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  server.url = `http://127.0.0.1:${server.address().port}`;
  return server;
}

/** A loopback port nothing listens on (bound, then released): an unreachable server. */
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

export async function readBody(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A mock Graph API that records every request and answers from a programmable queue. */
export async function startGraph() {
  const graph = await startServer(async (req, res) => {
    const body = (await readBody(req)).toString();
    let json = null;
    try { json = JSON.parse(body); } catch {}
    const record = { method: req.method, url: req.url, headers: req.headers, body, json, at: Date.now() };
    graph.requests.push(record);
    const reply = graph.replies.length ? graph.replies.shift() : graph.defaultReply;
    const r = typeof reply === "function" ? reply(record) : reply;
    if (r === "hang") return; // never answer: the Worker's timeout must fire
    if (r.delayMs) await new Promise((resolve) => setTimeout(resolve, r.delayMs));
    res.writeHead(r.status, { "content-type": "application/json" });
    res.end(typeof r.body === "string" ? r.body : JSON.stringify(r.body));
  });
  graph.requests = [];
  graph.replies = [];
  graph.defaultReply = (record) => ({
    status: 200,
    body: { events_received: record.json?.data?.length ?? 0, messages: [], fbtrace_id: `trace-${graph.requests.length}` },
  });
  graph.reset = () => { graph.requests = []; graph.replies = []; };
  return graph;
}

/**
 * Applies the schema in migrations/ to a D1 database (what `wrangler d1 migrations apply`
 * does), statement by statement.
 */
export async function applyMigrations(db) {
  for (const file of fs.readdirSync("migrations").filter((f) => f.endsWith(".sql")).sort()) {
    const text = fs.readFileSync(path.join("migrations", file), "utf8").replace(/--.*$/gm, "");
    const statements = text.split(";").map((s) => s.trim()).filter(Boolean);
    await db.batch(statements.map((s) => db.prepare(s)));
  }
}

/**
 * Starts the Worker in workerd with `vars`; collects its log lines. `d1: true` binds a
 * local D1 database as TAGRELAY_DB, kept in a fresh directory (`worker.d1Dir`), with the
 * schema applied unless `migrate: false`.
 */
export async function startWorker(vars, { d1 = false, migrate = true, queue } = {}) {
  const logs = [];
  const d1Dir = d1 ? fs.mkdtempSync(path.join(os.tmpdir(), "tagrelay-d1-")) : undefined;
  const storage = d1 ? { d1Databases: { TAGRELAY_DB: "tagrelay-test" }, d1Persist: d1Dir } : {};
  // `queue`: the delivery queue and its dead-letter queue, as wrangler.toml declares them
  // (consumer settings overridable: maxBatchSize, maxBatchTimeout, maxRetries).
  if (queue) {
    storage.queueProducers = { TAGRELAY_QUEUE: { queueName: "tagrelay-events" } };
    storage.queueConsumers = {
      "tagrelay-events": { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 10, deadLetterQueue: "tagrelay-events-dlq", ...queue },
      "tagrelay-events-dlq": { maxBatchSize: 100, maxBatchTimeout: 1 },
    };
  }
  const mf = new Miniflare({
    ...storage,
    modules: true,
    scriptPath: "build/worker/shim.mjs",
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: vars,
    port: 0,
    host: "127.0.0.1",
    structuredWorkerdLogs: true,
    handleStructuredLogs: ({ message, level }) => { logs.push({ message, level }); },
  });
  const url = new URL(await mf.ready);
  const db = d1 ? await mf.getD1Database("TAGRELAY_DB") : undefined;
  if (d1 && migrate) await applyMigrations(db);
  return {
    mf,
    url: url.origin,
    logs,
    db,
    d1Dir,
    /** Parsed tagrelay log lines. */
    lines() {
      return logs.flatMap(({ message }) => message.split("\n")).filter((m) => m.includes('"at":"tagrelay"')).map((m) => JSON.parse(m.slice(m.indexOf("{"))));
    },
    /** Waits for a tagrelay line matching `pred`. */
    async line(pred, timeoutMs = 8000) {
      return waitFor(() => this.lines().find(pred), timeoutMs, "log line");
    },
    close: async () => {
      await mf.dispose();
      if (d1Dir) fs.rmSync(d1Dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `fn()` (or the promise it returns) is truthy, and returns it. */
export async function waitFor(fn, timeoutMs = 8000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A raw HTTP/1.1 request (no decompression, no redirect following) to the Worker.
 * `body` may be a Buffer, a string or an async iterable; `cf` sets request.cf.
 */
export function request(base, path, { method = "GET", headers = {}, body, cf } = {}) {
  return new Promise((resolve, reject) => {
    const h = { "user-agent": BROWSER_UA, "cf-connecting-ip": "203.0.113.50", ...headers };
    for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
    if (cf) h["MF-CF-Blob"] = JSON.stringify(cf);
    // Node frames DELETE/OPTIONS bodies only with an explicit length.
    if ((typeof body === "string" || Buffer.isBuffer(body)) && !Object.keys(h).some((k) => k.toLowerCase() === "content-length")) {
      h["content-length"] = String(Buffer.byteLength(body));
    }
    const req = http.request(base + path, { method, headers: h, maxHeaderSize: 1 << 20 }, (res) => {
      readBody(res).then((data) => resolve({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, rawHeaders: res.rawHeaders, body: data }), reject);
    });
    req.on("error", reject);
    const iterable = body && typeof body !== "string" && !Buffer.isBuffer(body) && (body[Symbol.asyncIterator] || body[Symbol.iterator]);
    if (iterable) {
      (async () => { for await (const c of body) if (!req.write(c)) await once(req, "drain"); req.end(); })().catch(reject);
    } else {
      req.end(body);
    }
  });
}

export const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

/** Yields `total` bytes of a repeating pattern in 1 MiB chunks, hashing as it goes. */
export function* patternChunks(total, hash) {
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  for (let sent = 0; sent < total; sent += chunk.length) {
    const c = chunk.subarray(0, Math.min(chunk.length, total - sent));
    hash?.update(c);
    yield c;
  }
}

/** Header names of a raw response, lowercased, in order. */
export const headerNames = (res) => res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());

/**
 * The DOM headless Chromium renders for `url` (Basic credentials in the URL answer a 401
 * challenge), with a throwaway profile in `profileDir`. Chromium is what
 * scripts/setup-browser.sh installs, or `CHROMIUM`.
 */
export function dumpDom(url, profileDir) {
  return new Promise((resolve, reject) => {
    const chrome = spawn(process.env.CHROMIUM ?? "/usr/bin/chromium", [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", `--user-data-dir=${profileDir}`, "--dump-dom", url,
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    chrome.stdout.on("data", (d) => { out += d; });
    chrome.stderr.on("data", (d) => { err += d; });
    chrome.on("error", reject);
    chrome.on("close", (code) => (code === 0 && out ? resolve(out) : reject(new Error(`chromium exited ${code}: ${err.slice(-2000)}`))));
  });
}
