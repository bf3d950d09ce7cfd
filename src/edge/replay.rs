//! The adapter of dead letters kept for replay (pure half: `crate::analytics::dead_letters`):
//! the statements that keep what the dead-letter queue's consumer gets, and the steps of a
//! replay (`POST {STATS_PATH}/api/dead-letters/replay`), whose D1 reads and queue sends the JS
//! entry makes: the messages to put back on the queue, the deletion of those sent, the answer
//! and its log line.

use super::analytics::{has_db, response_json, to_json};
use super::log;
use crate::analytics::endpoints::StatsResponse;
use crate::analytics::settings::DEFAULT_STATS_PATH;
use crate::analytics::dead_letters;
use crate::log::line::Decision;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

/// The statements that keep the dead-letter queue's messages (`ids[i]`: the queue's id of
/// `bodies[i]`) for replay, as JSON; `undefined` without the D1 binding, or when none can be
/// read.
#[wasm_bindgen]
pub fn dead_letter_statements(env: &JsValue, ids: Vec<String>, bodies: Vec<String>, now_ms: f64) -> Option<String> {
    if !has_db(env) {
        return None;
    }
    let messages: Vec<(String, String)> = ids.into_iter().zip(bodies).collect();
    let statements = dead_letters::store(&messages, now_ms as u64);
    (!statements.is_empty()).then(|| to_json(&statements))
}

/// The messages to put back on the queue for the dead letters read (`rows`: JSON `[{id,
/// body}]`), as JSON `[{id, body}]`, each with its tries counted from zero.
#[wasm_bindgen]
pub fn replay_messages(rows: &str) -> String {
    let rows: Vec<Value> = serde_json::from_str(rows).unwrap_or_default();
    let out: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let id = r.get("id")?.as_str()?;
            let body = dead_letters::replayed(r.get("body")?.as_str()?)?;
            Some(json!({"id": id, "body": body}))
        })
        .collect();
    Value::Array(out).to_string()
}

/// The statements that forget the dead letters `ids`, back on the queue, and count those
/// left, as JSON.
#[wasm_bindgen]
pub fn replay_forget(ids: Vec<String>) -> String {
    to_json(&dead_letters::forget(&ids))
}

/// What a replay did, logged, and its answer (as `stats_plan`'s `response`): `taken` dead
/// letters read, `sent` of them put back on the queue; `send_error` / `forget_error` what
/// failed; `left` the rows of the count of those still kept. A replay asked from the stats page
/// (`then=page`) is answered with a redirect back to it.
#[wasm_bindgen]
pub fn replay_done(url: &str, taken: u32, sent: u32, send_error: Option<String>, forget_error: Option<String>, left: Option<String>) -> String {
    let left: Vec<Value> = left.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_default();
    let kept = dead_letters::kept(&left);
    let error = match (&send_error, &forget_error) {
        (Some(e), _) => Some(format!("putting dead letters back on the queue failed after {sent} of {taken}: {e}")),
        (None, Some(e)) => Some(format!(
            "{sent} dead letters were put back on the queue but could not be forgotten in D1 ({e}): a later replay sends them again (Meta and TikTok deduplicate them; GA4 may count them twice)"
        )),
        (None, None) => None,
    };
    match &error {
        Some(reason) => log::background(Decision::StatsError, [("replayed", json!(sent)), ("reason", json!(reason))]),
        None => log::background(Decision::Replayed, [("messages", json!(sent)), ("left", kept.clone())]),
    }
    let path_and_query = crate::proxy::upstream::path_and_query(url);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let from_page = query.split('&').any(|p| p == "then=page");
    let response = match error {
        None if from_page => {
            let stats_path = path.strip_suffix(crate::analytics::endpoints::REPLAY_PATH).unwrap_or(DEFAULT_STATS_PATH);
            let mut r = StatsResponse::plain(303, "See Other");
            r.headers.push(("location", format!("{stats_path}/?replayed={sent}")));
            r
        }
        None => StatsResponse::json(json!({"replayed": sent, "left": kept}).to_string()),
        Some(reason) => {
            let mut r = StatsResponse::json(json!({"replayed": sent, "left": kept, "error": reason}).to_string());
            r.status = 503;
            r
        }
    };
    response_json(&response)
}
