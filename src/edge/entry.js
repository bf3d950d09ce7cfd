// tagrelay's Worker entry: the per-request hot path, kept in JavaScript on purpose.
//
// A call from JS into wasm (and the promise plumbing of an async Rust handler) costs more CPU
// than the rest of a passthrough, so this file forwards every request and hands back every
// untracked response without entering wasm. The forwarding rules (origin, tracking header,
// headers to drop) come from Rust once per isolate (`configure`); wasm is entered again only
// for a tracked response (`track`: one call that decides, logs and batches; the POST waits
// in waitUntil, after the response) and on error paths, where Rust decides, logs and answers.
//
// This is worker-build's CUSTOM_SHIM template: `$SNIPPET_*` are filled in at build time.
import * as wasm from "./index_bg.js";
import wasmModule from "./index.wasm";
$SNIPPET_JS_IMPORTS

function instantiate() {
  const instance = new WebAssembly.Instance(wasmModule, {
    "./index_bg.js": wasm,
    $SNIPPET_WASM_IMPORTS
  });
  wasm.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start?.();
}
instantiate();

// A panic aborts the wasm instance (a WebAssembly.RuntimeError); start a fresh one so the
// next request is served normally.
function recover(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    console.error("tagrelay: wasm trapped, reinstantiating", error);
    instantiate();
  }
}

// `Connection` tokens that name the connection's own semantics, not headers to drop.
const CONNECTION_KEEP = new Set(["upgrade", "close", "keep-alive"]);

let rules = null; // { origin, trackingHeader, dropHeaders } or { error }, per isolate

// Headers that announce a speculative load (prefetch, prerender, preview).
const PURPOSE_HEADERS = ["sec-purpose", "purpose", "x-purpose", "x-moz"];

/** The speculative-load hints of a request, joined, or undefined. */
function purpose(headers) {
  let joined;
  for (const name of PURPOSE_HEADERS) {
    const v = headers.get(name);
    if (v !== null) joined = joined === undefined ? v : `${joined}, ${v}`;
  }
  return joined;
}

/** The request to send upstream: same method, headers and streamed body; redirects returned. */
function upstreamRequest(request) {
  const url = request.url;
  let target = url;
  let host;
  if (rules.origin !== null) {
    // Split the absolute URL once into authority and path+query (workerd's URLs have a path).
    const hostStart = url.indexOf("://") + 3;
    const pathStart = url.indexOf("/", hostStart);
    host = url.slice(hostStart, pathStart < 0 ? url.length : pathStart);
    target = rules.origin + (pathStart < 0 ? "/" : url.slice(pathStart));
  }
  const upstream = new Request(target, { method: request.method, headers: request.headers, body: request.body, redirect: "manual" });
  const headers = upstream.headers;
  for (const name of rules.dropHeaders) headers.delete(name);
  const connection = request.headers.get("connection");
  if (connection !== null) {
    for (const token of connection.split(",")) {
      const name = token.trim();
      if (name !== "" && !CONNECTION_KEEP.has(name.toLowerCase())) headers.delete(name);
    }
  }
  if (host !== undefined) {
    headers.set("x-forwarded-host", host);
    headers.set("x-forwarded-proto", url.startsWith("https:") ? "https" : "http");
  }
  return upstream;
}

// `attemptDone` answers: the delivery is over; or Meta refused a batch as a whole, so send
// its two halves instead (src/batching.rs).
const DONE = -1;
const SPLIT = -2;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends a PendingDelivery (src/edge/delivery.rs): the POST is made here, Rust decides after
 * each attempt whether to retry and when, and logs the outcome.
 */
async function deliver(job) {
  let parts = [];
  try {
    const init = { method: "POST", headers: { "content-type": "application/json", authorization: job.authorization }, body: job.body };
    for (let attempt = 1; ; attempt++) {
      let status = 0, text = "", error, timedOut = false;
      try {
        const response = await fetch(job.url, { ...init, signal: AbortSignal.timeout(job.timeoutMs) });
        status = response.status;
        text = await response.text();
      } catch (e) {
        timedOut = e?.name === "TimeoutError";
        error = String(e?.message ?? e);
      }
      const next = job.attemptDone(attempt, status, text, error, timedOut);
      if (next === SPLIT) parts = job.split();
      if (next === DONE || next === SPLIT) break;
      await sleep(next);
    }
  } finally {
    job.free();
  }
  await Promise.all(parts.map(deliver));
}

/**
 * Tracking for a response that carried the header: Rust decides, logs and batches the events
 * (src/batching.rs) in one call. Returns the batch's send, for waitUntil, when this page view
 * opened the batch's window (it waits for the window to close) or filled the batch; else
 * undefined: most page views just join the batch.
 */
function track(request, env, value, status, source) {
  const h = request.headers;
  const bot = request.cf?.botManagement;
  const wait = wasm.track(
    env, value, request.method, request.url,
    h.get("user-agent") ?? undefined, h.get("cf-connecting-ip") ?? undefined,
    h.get("cookie") ?? undefined, h.get("referer") ?? undefined, purpose(h),
    h.get("cf-ray") ?? undefined, bot?.verifiedBot, bot?.score,
    status, source.get("cf-cache-status") ?? undefined, source.get("age") ?? undefined,
  );
  return wait < 0 ? undefined : sendBatch(env, wait);
}

/** Waits `wait` ms for the batch's window to close, then sends the batch. */
async function sendBatch(env, wait) {
  if (wait > 0) await sleep(wait);
  const job = wasm.take_batch(env);
  if (job !== undefined) await deliver(job);
}

/**
 * Wasm threw where Rust would have logged (a bug): recover, and write the line Rust would
 * have written, in the same shape (src/log_line.rs).
 */
function internalError(error, decision, fields = {}) {
  recover(error);
  console.error(JSON.stringify({ at: "tagrelay", level: "error", decision, ...fields, reason: `internal error: ${error}` }));
}

/** Tracking threw (a bug): the page is already answered; log it and carry on. */
function trackingFailed(error) {
  internalError(error, "failed");
}

/** A 502 for when even the error path fails: short, no detail. */
function badGateway(error) {
  internalError(error, "origin_error", { status: 502 });
  return new Response("Bad Gateway\n", { status: 502, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}

export default {
  async fetch(request, env, ctx) {
    let response;
    try {
      if (rules === null) rules = wasm.configure(env);
      if (rules.error !== undefined) return wasm.config_error(env, request);
      response = await fetch(upstreamRequest(request));
    } catch (error) {
      try {
        return wasm.origin_error(request, error);
      } catch (inner) {
        return badGateway(inner);
      }
    }

    const name = rules.trackingHeader;
    const value = response.headers.get(name);
    if (value === null) return response;

    let stripped;
    try {
      // A Response as the init copies status, statusText and headers natively: measured at
      // half the CPU of copying the headers into a `new Headers` and passing that.
      stripped = new Response(response.body, response);
      stripped.headers.delete(name);
    } catch (error) {
      try {
        wasm.strip_failed(request, response.status, error);
      } catch (inner) {
        recover(inner);
      }
      return response;
    }
    // The decision runs now, before workerd sends the response: tens of microseconds of CPU.
    // (A microtask would not defer it: workerd drains microtasks before it sends, and a timer
    // per page view measured more CPU than the decision itself; see bench/NOTES.md.) Only
    // the POST waits for after the response, in waitUntil.
    let send;
    try {
      send = track(request, env, value, response.status, response.headers);
    } catch (error) {
      trackingFailed(error);
    }
    if (send !== undefined) ctx.waitUntil(send.catch(trackingFailed));
    return stripped;
  },
};
