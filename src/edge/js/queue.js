// Durable delivery through a Cloudflare Queue: the producer (messages onto the queue in as
// few sends as its limits allow), the consumer (src/delivery/queue.rs) and dead letters.
import * as wasm from "../index.js";
import { errorText, generation, rules } from "./runtime.js";
import { deliver, droppedAfterRestart, requestLimits } from "./delivery.js";
import { prepared } from "./stats.js";

// Delivery through a Cloudflare Queue (src/delivery/queue.rs): with DELIVERY=queue, or by
// default when the TAGRELAY_QUEUE binding exists. `sendBatch` takes at most 100 messages and
// 256 KB in one call.
const QUEUE_SEND_MESSAGES = 100;
const QUEUE_SEND_BYTES = 250_000;
const utf8 = new TextEncoder();
/** A message body's size as the queue counts it: UTF-8 bytes, not UTF-16 code units. */
const bodyBytes = (body) => utf8.encode(body).byteLength;
// Thrown to stop sending when the wasm instance was replaced meanwhile.
const RESTARTED = Symbol("wasm restarted");
// A dead-letter queue's name ends so (wrangler.toml: tagrelay-events-dlq).
const DLQ_SUFFIX = "-dlq";

/** The queue to deliver through, or null for direct delivery. */
export function queueOf(env) {
  if (rules.delivery === "direct") return null;
  return env.TAGRELAY_QUEUE ?? null;
}

/**
 * Puts `units` on `queue` in as few `sendBatch` calls as its limits allow; a unit's `messages`
 * ({ body, contentType, delaySeconds? }) always go in the same call. After each call,
 * `settle(units, error)` is told which units it carried and what it threw (undefined when it
 * succeeded); a `settle` that throws stops the sending. At most `maxCalls` calls are made:
 * the units past them are not sent (nor settled). Returns how many calls were made.
 */
export async function sendInBatches(queue, units, settle, maxCalls = Infinity) {
  let chunk = [], count = 0, bytes = 0, calls = 0;
  const flush = async () => {
    if (chunk.length === 0 || calls >= maxCalls) return;
    calls++;
    const carried = chunk;
    chunk = []; count = 0; bytes = 0;
    let error;
    try {
      await queue.sendBatch(carried.flatMap((u) => u.messages));
    } catch (e) {
      error = e;
    }
    await settle(carried, error);
  };
  for (const unit of units) {
    const size = unit.messages.reduce((n, m) => n + bodyBytes(m.body), 0);
    if (count + unit.messages.length > QUEUE_SEND_MESSAGES || bytes + size > QUEUE_SEND_BYTES) await flush();
    if (calls >= maxCalls) break;
    chunk.push(unit);
    count += unit.messages.length;
    bytes += size;
  }
  await flush();
  return calls;
}

/**
 * Puts the deliveries' messages on the queue, in as few `sendBatch` calls as the limits
 * allow, each message settled on its own (`queueParts`): those of a send that fails are
 * logged `queue_failed` and delivered directly.
 */
export async function enqueue(queue, jobs, born) {
  const current = () => born === generation;
  if (!current()) return droppedAfterRestart(0);
  const fallback = [];
  // Every message is made now, while its wasm instance is certainly current.
  const units = [];
  for (const job of jobs) {
    for (const part of job.queueParts()) units.push({ job: part, messages: [{ body: part.message, contentType: "text" }] });
    job.free();
  }
  try {
    await sendInBatches(queue, units, (carried, error) => {
      // The jobs belong to a replaced wasm instance: stop, as `deliver` does.
      if (!current()) throw RESTARTED;
      settleQueued(carried, error, fallback);
    });
  } catch (e) {
    if (e !== RESTARTED) throw e;
    return droppedAfterRestart(0);
  }
  await Promise.all(fallback.map((job) => deliver(job, born)));
}

/**
 * The jobs of one `sendBatch` (`carried`), settled: logged `queued`, or, when the send threw
 * `error`, logged `queue_failed` and their direct deliveries added to `fallback`.
 */
function settleQueued(carried, error, fallback) {
  for (const { job } of carried) {
    if (error === undefined) {
      job.queued();
    } else {
      job.queueFailed(errorText(error));
      fallback.push(...job.directParts());
    }
    job.free();
  }
}

// Queue sends a consumer call keeps for itself out of QUEUE_MAX_SUBREQUESTS: the re-sends of
// page views failed for now or not tried (each send carries up to 100 messages or 256 KB).
const RESEND_CALLS = 4;

/**
 * The queue consumer: merges the messages of each destination into requests, tries each once,
 * and acknowledges every message whose page views were all delivered (or refused for good).
 * A message whose page views all failed for now is retried as it is, with a growing delay: the
 * queue counts its tries and dead-letters it after max_retries. One with only some of them
 * failed (GA4 sends each page view on its own) is acknowledged and those page views alone are
 * re-sent, their tries counted on, so that no delivered one is sent twice (GA4 does not
 * deduplicate). The call makes at most QUEUE_MAX_SUBREQUESTS requests and queue sends, at most
 * six at a time: page views whose requests did not fit are re-sent the same way, at once and
 * without it counting as a try. A wasm restart meanwhile retries them all: at least once,
 * never lost.
 */
export async function consumeQueue(batch, env) {
  const bodies = batch.messages.map((m) => (typeof m.body === "string" ? m.body : JSON.stringify(m.body)));
  const attempts = Uint32Array.from(batch.messages, (m) => m.attempts);
  if (batch.queue.endsWith(DLQ_SUFFIX)) {
    await keepDeadLetters(env, batch, bodies, attempts);
    batch.ackAll();
    return;
  }
  const born = generation;
  const pending = new Map(); // page views failed for now (see `byMessage`)
  const later = (pairs, seconds) => byMessage(pending, pairs, seconds);
  const max = rules.queueMaxSubrequests;
  const limits = requestLimits(Math.max(1, max - RESEND_CALLS));
  await Promise.all(wasm.consume(env, bodies, attempts).map((job) => deliver(job, born, later, limits)));
  if (born !== generation) return batch.retryAll();
  const untried = byMessage(new Map(), limits.untried, 0); // page views not tried
  const resent = await resendRemainders(env, batch, bodies, pending, untried, Math.max(1, limits.left + RESEND_CALLS));
  batch.messages.forEach((m, i) => {
    const entry = pending.get(i);
    if ((entry === undefined && !untried.has(i)) || resent.has(i)) m.ack();
    else m.retry({ delaySeconds: entry?.seconds ?? 0 });
  });
}

/**
 * The dead-letter queue's consumer: keeps each message in D1 for replay (when the database is
 * bound), then logs `dead_lettered` for every page view, saying whether it was kept. Keeping
 * that fails is logged too: the messages are acknowledged either way, never retried into
 * oblivion, and their event ids are in the log.
 */
async function keepDeadLetters(env, batch, bodies, attempts) {
  const ids = batch.messages.map((m) => String(m.id));
  const keep = wasm.dead_letter_statements(env, ids, bodies, Date.now());
  let kept = false, error;
  if (keep !== undefined) {
    try {
      const db = env.TAGRELAY_DB;
      await db.batch(prepared(db, JSON.parse(keep)));
      kept = true;
    } catch (e) {
      error = errorText(e);
    }
  }
  wasm.dead_letters(bodies, attempts, kept, error);
}

/**
 * Adds (message index, position) `pairs` to `map`: message index -> { positions: Set, seconds:
 * the longest delay any of them asked for }. Returns `map`.
 */
function byMessage(map, pairs, seconds) {
  for (let k = 0; k < pairs.length; k += 2) {
    const entry = map.get(pairs[k]) ?? { positions: new Set(), seconds: 0 };
    entry.positions.add(pairs[k + 1]);
    entry.seconds = Math.max(entry.seconds, seconds);
    map.set(pairs[k], entry);
  }
  return map;
}

/**
 * Re-sends, for each message with page views failed for now (`pending`) or not tried
 * (`untried`), a message of those page views alone: after their delay, their tries counted on
 * (this try is not counted for a message none of whose page views was tried). A message whose
 * page views all failed for now is left out: it is retried whole. Makes at most `maxCalls`
 * queue sends; returns the indexes of the messages so replaced (the others, and those whose
 * re-send failed, are retried whole).
 */
async function resendRemainders(env, batch, bodies, pending, untried, maxCalls) {
  const resent = new Set();
  const queue = env.TAGRELAY_QUEUE;
  if (!queue) return resent;
  const units = [];
  for (const i of new Set([...pending.keys(), ...untried.keys()])) {
    const failed = pending.get(i);
    const skipped = untried.get(i);
    if (skipped === undefined && failed.positions.size >= wasm.message_page_views(bodies[i])) continue;
    const positions = new Set([...(failed?.positions ?? []), ...(skipped?.positions ?? [])]);
    const tries = batch.messages[i].attempts - (failed === undefined ? 1 : 0);
    const body = wasm.message_remainder(bodies[i], Uint32Array.from(positions), tries);
    if (body === undefined) continue;
    const message = { body, contentType: "text" };
    if (failed !== undefined) message.delaySeconds = failed.seconds;
    units.push({ i, messages: [message] });
  }
  await sendInBatches(queue, units, (carried, error) => {
    // A send that failed leaves its messages to be retried whole instead: at least once.
    if (error === undefined) for (const { i } of carried) resent.add(i);
  }, maxCalls);
  return resent;
}
