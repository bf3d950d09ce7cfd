// Delivery of one request to a platform: the POST is made here, Rust decides after each
// attempt (src/edge/delivery.rs). From the queue consumer, its requests keep to the
// invocation's limits (`requestLimits`).
import { errorText, generation, logLine, onRestart, sleep } from "./runtime.js";

// `attemptDone` answers: the delivery is over; or the platform refused a batch as a whole, so
// send its two halves instead (src/delivery/batching.rs); or, from the queue, try its
// messages again later.
const DONE = -1;
const SPLIT = -2;
const RETRY_LATER = -3;

// What every request to a destination shares, by its name: { url, headers, readsSuccessBody }.
// Read from the first delivery to it (the settings are the isolate's), not from every one:
// GA4 sends a request per page view. Cleared when the wasm instance is replaced.
const requestTemplates = new Map();
onRestart(() => requestTemplates.clear());

/** What requests to `job`'s destination share. */
function requestTemplate(job) {
  const name = job.destination;
  let template = requestTemplates.get(name);
  if (template === undefined) {
    template = { url: job.url, headers: JSON.parse(job.headers), readsSuccessBody: job.readsSuccessBody };
    requestTemplates.set(name, template);
  }
  return template;
}

// At most this many requests of one invocation are open at a time (Workers' limit on
// simultaneous open connections): more would wait inside fetch() with their timeout running.
const MAX_OPEN_CONNECTIONS = 6;

/**
 * A queue consumer call's limits on its requests to the platforms: at most `left` more (so
 * that the call stays under the subrequests an invocation may make), and at most
 * MAX_OPEN_CONNECTIONS open at once. The page views of a request that did not fit are
 * listed in `untried` (message index, position pairs): they are put back on the queue
 * without it counting as a try.
 */
export function requestLimits(max) {
  return { left: max, open: 0, waiting: [], untried: [] };
}

/** Waits for a free connection of `limits`. */
async function openConnection(limits) {
  while (limits.open >= MAX_OPEN_CONNECTIONS) await new Promise((resolve) => limits.waiting.push(resolve));
  limits.open++;
}

/** Frees a connection of `limits`, waking the next request waiting for one. */
function closeConnection(limits) {
  limits.open--;
  limits.waiting.shift()?.();
}

/**
 * Sends a PendingDelivery (src/edge/delivery.rs): the POST is made here, Rust decides after
 * each attempt whether to retry and when, and logs the outcome. A delivery whose wasm
 * instance was replaced meanwhile (a trap elsewhere) is dropped, logged here: its object
 * belongs to the old instance's memory and must not touch the new one. From the queue
 * consumer, `later` collects the page views to try again later and `limits` bounds the
 * requests (`requestLimits`); each attempt's timeout starts when its request does.
 */
export async function deliver(job, born = generation, later, limits) {
  const current = () => born === generation;
  let parts = [];
  try {
    if (!current()) return droppedAfterRestart(0);
    const { url, headers, readsSuccessBody } = requestTemplate(job);
    const body = job.body();
    for (let attempt = 1; ; attempt++) {
      if (limits !== undefined) {
        if (limits.left <= 0) {
          limits.untried.push(...job.messageGroups());
          return;
        }
        limits.left--;
        await openConnection(limits);
        if (!current()) {
          closeConnection(limits);
          return droppedAfterRestart(attempt - 1);
        }
      }
      let status = 0, text = "", error, timedOut = false;
      try {
        const response = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(job.timeoutMs) });
        status = response.status;
        // A 2xx whose body the destination ignores (GA4's 204) is not read.
        if (readsSuccessBody || status < 200 || status > 299) text = await response.text();
        else response.body?.cancel().catch(() => {});
      } catch (e) {
        timedOut = e?.name === "TimeoutError";
        error = errorText(e);
      } finally {
        if (limits !== undefined) closeConnection(limits);
      }
      if (!current()) return droppedAfterRestart(attempt);
      const next = job.attemptDone(attempt, status, text, error, timedOut);
      if (next === SPLIT) parts = job.split();
      if (next === RETRY_LATER) later(job.messageGroups(), job.retryDelayS);
      if (next === DONE || next === SPLIT || next === RETRY_LATER) break;
      await sleep(next);
      if (!current()) return droppedAfterRestart(attempt);
    }
  } finally {
    if (current()) job.free();
  }
  await Promise.all(parts.map((part) => deliver(part, born, later, limits)));
}

/** A delivery of a replaced wasm instance stops here (see `deliver`). */
export function droppedAfterRestart(attempts) {
  logLine("error", "failed", { attempts, reason: "dropped: tagrelay's wasm restarted after an internal error while this delivery was in flight" });
}
