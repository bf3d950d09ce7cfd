// The isolate's runtime state and its failures: the rules read from the configuration once
// per isolate, the wasm instance's generation and its recovery from a trap, and the log lines
// the JS side writes itself (in the shape of src/log/line.rs).
import * as wasm from "../index.js";

// Bumped each time the wasm instance is replaced: objects of an older instance (deliveries
// in flight) must not call into the new one.
export let generation = 0;
// What each module forgets when the wasm instance is replaced (`onRestart`).
const restartHooks = [];

/** Registers `forget`, run when the wasm instance is replaced: state that belongs to the old one. */
export function onRestart(forget) {
  restartHooks.push(forget);
}

// A panic aborts the wasm instance (a WebAssembly.RuntimeError). Start a fresh one, with
// every view the glue caches of the old memory reset (`__wbg_reset_state`), so the next
// request is served normally. Returns true when it did.
export function recover(error) {
  if (!(error instanceof WebAssembly.RuntimeError)) return false;
  wasm.__wbg_reset_state();
  generation++;
  for (const forget of restartHooks) forget();
  return true;
}

export let rules = null; // { origin, trackingHeader, dropHeaders, connectionKeep, protectedPrefixes, firstParty, gaCookie, ttclid, consentCookies, analytics, debug, delivery, queueMaxSubrequests, pixelEventIds, pageEvents } or { error }, per isolate
export let connectionKeep = null; // Set of rules.connectionKeep
export let consentCookie = null; // RegExp: a Cookie header that holds one of rules.consentCookies

/** Reads the rules from the configuration on an isolate's first request (or queue batch). */
export function ensureRules(env) {
  if (rules !== null) return;
  rules = wasm.configure(env);
  if (rules.error === undefined) {
    connectionKeep = new Set(rules.connectionKeep);
    const names = rules.consentCookies.map((n) => n.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&"));
    consentCookie = new RegExp(`(?:^|;)\\s*(?:${names.join("|")})=`);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The message of what a `fetch` or a D1 call threw. */
export const errorText = (e) => String(e?.message ?? e);

/** A log line written by the JS entry, in the shape of src/log/line.rs. */
export function logLine(level, decision, fields) {
  const text = JSON.stringify({ at: "tagrelay", level, decision, ...fields });
  if (level === "error") console.error(text);
  else console.log(text);
}

/**
 * Wasm threw where Rust would have logged (a bug): recover, and write the line Rust would
 * have written, in the same shape (src/log/line.rs).
 */
export function internalError(error, decision, fields = {}) {
  const restarted = recover(error);
  const reason = restarted
    ? `internal error: ${error}; wasm restarted (events batched in this isolate and not yet sent are lost)`
    : `internal error: ${error}`;
  logLine("error", decision, { ...fields, reason });
}

/** Tracking threw (a bug): the page is already answered; log it and carry on. */
export function trackingFailed(error) {
  internalError(error, "failed");
}

/** A 502 for when even the error path fails: short, no detail. */
export function badGateway(error) {
  internalError(error, "origin_error", { status: 502 });
  return new Response("Bad Gateway\n", { status: 502, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
}
