// A tracked response's events: Rust decides, logs and batches them (`track`), and the batches
// leave after the response, directly or onto the queue.
import * as wasm from "../index.js";
import { generation, rules, sleep } from "./runtime.js";
import { deliver } from "./delivery.js";
import { enqueue, queueOf } from "./queue.js";
import { visitorFacts } from "./edge_facts.js";

/** Sends taken deliveries: onto `queue`, or directly when it is null. */
function dispatch(queue, jobs, born) {
  if (queue === null) return Promise.all(jobs.map((job) => deliver(job, born)));
  return enqueue(queue, jobs, born);
}

/**
 * Tracking for a response that carried the header: Rust decides, logs and batches the events
 * (src/delivery/batching.rs) in one call. Returns the batch's send, for waitUntil, when this page view
 * opened the batch's window (it waits for the window to close) or filled the batch; else
 * undefined: most page views just join the batch. `h`: the request's headers; `headers`: the
 * response's, or undefined when the page has gone out (an event from the page itself);
 * `facts`: the request's `visitorFacts`, when the caller has read them already (with `cookie`
 * when the request's Cookie header is not the one to read: see `cookieAfter`).
 */
export function track(request, h, env, value, status, source, headers, facts = visitorFacts(request, h)) {
  const cf = facts.cf;
  const bot = cf?.botManagement;
  const code = wasm.track(
    env, value, request.method, request.url,
    facts.userAgent ?? undefined, h.get("cf-connecting-ip") ?? undefined,
    (facts.cookie !== undefined ? facts.cookie : h.get("cookie")) ?? undefined, h.get("referer") ?? undefined, facts.purpose,
    h.get("cf-ray") ?? undefined, bot?.verifiedBot, bot?.score,
    cf?.country ?? undefined, h.get("sec-gpc") ?? undefined,
    status, source.get("content-type") ?? undefined,
    source.get("cf-cache-status") ?? undefined, source.get("age") ?? undefined,
    rules.debug ? h.get("tagrelay-debug") ?? undefined : undefined, headers,
  );
  if (code < 0) return undefined;
  const window = code & NO_WINDOW;
  const windows = code >>> WINDOWS_SHIFT;
  if ((code & SEND_FULL) === 0) return sendBatch(env, window, windows);
  const now = sendFull(env);
  return window === NO_WINDOW ? now : Promise.all([now, sendBatch(env, window, windows)]);
}

// `track`'s answer (src/edge/mod.rs): the low 16 bits the window to wait for (NO_WINDOW:
// none), SEND_FULL set when a batch is full, and from WINDOWS_SHIFT up the windows this page
// view opened (a bit per destination), whose batches its timer sends.
const NO_WINDOW = 0xffff;
const SEND_FULL = 1 << 16;
const WINDOWS_SHIFT = 17;

/**
 * Sends the full batches now (a batch reached its destination's limits, or
 * BATCH_WINDOW_MS=0): take them at once, so no later page view joins them. A batch of
 * several page views (up to 1,000 events) is serialized and POSTed after a timer, so that
 * work does not delay this page's response; this page view's own events alone
 * (BATCH_WINDOW_MS=0) take ~2 µs to serialize, less than the timer (~9 µs, bench/NOTES.md),
 * so they go at once. Every destination's request is sent on its own.
 */
function sendFull(env) {
  const queue = queueOf(env);
  const jobs = wasm.take_batch(env, 0, queue !== null);
  if (jobs.length === 0) return undefined;
  const born = generation;
  const sendAll = () => dispatch(queue, jobs, born);
  return jobs.length > 1 || jobs[0].pageViews > 1 ? sleep(0).then(sendAll) : sendAll();
}

/**
 * Waits `wait` ms for the windows this page view opened to close, then sends those
 * destinations' batches (`windows`, from `track`), each on its own: one platform's retries
 * never hold up another's. A batch whose window another page view opened is left to that
 * one's timer, so a destination that sends often (GA4, a request per page view) does not cut
 * the others' batches short.
 */
async function sendBatch(env, wait, windows) {
  await sleep(wait);
  const born = generation;
  const queue = queueOf(env);
  await dispatch(queue, wasm.take_batch(env, windows, queue !== null), born);
}
