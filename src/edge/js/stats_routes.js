// The stats routes under STATS_PATH (answered by Rust: src/edge/analytics.rs), and the
// dead-letter replay they offer.
import * as wasm from "../index.js";
import { errorText, rules } from "./runtime.js";
import { sendInBatches } from "./queue.js";
import { prepared } from "./stats.js";

/** Whether `url` is under the stats path `statsPath` (the path itself, or below it). */
export function isStatsPath(url, statsPath) {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0 || !url.startsWith(statsPath, start)) return false;
  const next = url.charAt(start + statsPath.length);
  return next === "" || next === "/" || next === "?" || next === "#";
}

// Headers of every stats response: never cached, never indexed, nothing loaded from
// elsewhere, no script, not framed.
const STATS_HEADERS = {
  "cache-control": "no-store",
  "x-robots-tag": "noindex, nofollow",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

/**
 * A request under the stats path (when STATS_TOKEN is set): wasm checks the token and
 * routes it, D1 is read in one batch, wasm renders the answer. Never proxied to the origin.
 */
export async function serveStats(request, env) {
  let answer;
  try {
    const now = Date.now();
    const auth = request.headers.get("authorization") ?? undefined;
    const site = request.headers.get("sec-fetch-site") ?? undefined;
    const plan = JSON.parse(wasm.stats_plan(env, request.method, request.url, auth, site, now));
    answer = plan.response;
    if (plan.replay !== undefined) {
      answer = await replayDeadLetters(request, env, plan.replay.statements);
    } else if (answer === undefined) {
      let results, error;
      try {
        const db = env.TAGRELAY_DB;
        const all = await db.batch(prepared(db, plan.statements));
        results = JSON.stringify(all.map((r) => r.results));
      } catch (e) {
        error = errorText(e);
      }
      answer = JSON.parse(wasm.stats_render(env, request.method, request.url, auth, now, results, error));
    }
  } catch (error) {
    internalError(error, "stats_error");
    answer = { status: 500, contentType: "text/plain; charset=utf-8", headers: {}, body: "Internal Server Error\n" };
  }
  const headers = new Headers(answer.headers);
  headers.set("content-type", answer.contentType);
  for (const [name, value] of Object.entries(STATS_HEADERS)) headers.set(name, value);
  return new Response(request.method === "HEAD" ? null : answer.body, { status: answer.status, headers });
}

// D1 calls of a replay: reading the dead letters, and forgetting those sent.
const REPLAY_D1_CALLS = 2;

/**
 * Puts dead letters kept in D1 back on the delivery queue (`POST {STATS_PATH}/api/dead-letters/replay`):
 * reads them (`statements`), sends their messages (tries counted from zero) in as few
 * `sendBatch` calls as the limits allow, forgets those sent, and lets wasm log and answer.
 */
async function replayDeadLetters(request, env, statements) {
  const db = env.TAGRELAY_DB;
  const queue = env.TAGRELAY_QUEUE ?? null;
  const sent = [];
  let taken = 0, sendError, forgetError, left;
  try {
    if (queue === null) throw new Error("no TAGRELAY_QUEUE binding: dead letters are replayed through the delivery queue");
    const rows = (await db.batch(prepared(db, statements)))[0].results;
    taken = rows.length;
    const units = JSON.parse(wasm.replay_messages(JSON.stringify(rows))).map((m) => ({ id: m.id, messages: [{ body: m.body, contentType: "text" }] }));
    // The first send that fails ends the replay: what was not sent stays kept. The sends and
    // the two D1 calls stay within QUEUE_MAX_SUBREQUESTS: what does not fit stays kept too.
    await sendInBatches(queue, units, (carried, error) => {
      if (error !== undefined) throw error;
      sent.push(...carried.map((u) => u.id));
    }, Math.max(1, rules.queueMaxSubrequests - REPLAY_D1_CALLS));
  } catch (e) {
    sendError = errorText(e);
  }
  try {
    const all = await db.batch(prepared(db, JSON.parse(wasm.replay_forget(sent))));
    left = JSON.stringify(all[1].results);
  } catch (e) {
    forgetError = errorText(e);
  }
  return JSON.parse(wasm.replay_done(request.url, taken, sent.length, sendError, forgetError, left));
}
