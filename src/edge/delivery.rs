//! Delivering events: dry run is logged here; a live delivery becomes a [`PendingDelivery`]
//! that the JS entry sends (its own `fetch` costs far less CPU than one driven from wasm
//! through futures and closures), asking this module after each attempt what to do next, so
//! the retry policy of [`crate::retry`] and every log line stay in Rust.

use super::{js, log};
use crate::capi_event::EventsRequest;
use crate::config::{Delivery, MetaEndpoint};
use crate::graph_response;
use crate::log_line::{Decision, RequestLabel};
use crate::retry::{self, AttemptResult, Next, ATTEMPT_TIMEOUT_MS};
use crate::tracking::Outgoing;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

/// Logs a dry run, or returns the delivery for the JS entry to send.
pub fn prepare(label: RequestLabel, delivery: &'static Delivery, outgoing: Outgoing) -> Option<PendingDelivery> {
    let summary = summary(&outgoing.request, outgoing.replay);
    match delivery {
        Delivery::DryRun { reason, events_url } => {
            let payload = serde_json::to_value(&outgoing.request).unwrap_or(Value::Null);
            let mut fields = summary;
            fields.extend([("reason", json!(reason)), ("events_url", json!(events_url)), ("payload", payload)]);
            log::line(&label, Decision::DryRun, fields);
            None
        }
        Delivery::Live(endpoint) => match serde_json::to_string(&outgoing.request) {
            Ok(body) => Some(PendingDelivery { label, fields: summary, endpoint, body, started_ms: js::now_ms() }),
            Err(e) => {
                log::line(&label, Decision::Failed, [("reason", json!(format!("could not serialize the events: {e}")))]);
                None
            }
        },
    }
}

/// Names, ids and count of the events, for every line about them.
fn summary(request: &EventsRequest, replay: bool) -> Vec<(&'static str, Value)> {
    vec![
        ("events", json!(request.data.len())),
        ("event_names", json!(request.data.iter().map(|e| e.event_name.as_str()).collect::<Vec<_>>())),
        ("event_ids", json!(request.data.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>())),
        ("cache_replay", json!(replay)),
    ]
}

/// One CAPI request in flight: what to POST, and the policy for its attempts. The same body,
/// so the same `event_id`s, goes out on every attempt.
#[wasm_bindgen]
pub struct PendingDelivery {
    label: RequestLabel,
    fields: Vec<(&'static str, Value)>,
    endpoint: &'static MetaEndpoint,
    body: String,
    started_ms: u64,
}

#[wasm_bindgen]
impl PendingDelivery {
    /// The events URL (no token in it).
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.endpoint.events_url.clone()
    }

    /// The JSON body.
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> String {
        self.body.clone()
    }

    /// The `Authorization` header value.
    #[wasm_bindgen(getter)]
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.endpoint.access_token)
    }

    /// Milliseconds after which an attempt (request and answer body) is aborted.
    #[wasm_bindgen(getter, js_name = timeoutMs)]
    pub fn timeout_ms(&self) -> u32 {
        ATTEMPT_TIMEOUT_MS as u32
    }

    /// Attempt `attempt` (from 1) ended: with an answer (`status`, `text`), a timeout, or a
    /// network `error`. Returns the milliseconds to wait before the next attempt, or -1 when
    /// the delivery is over (and logged).
    #[wasm_bindgen(js_name = attemptDone)]
    pub fn attempt_done(&mut self, attempt: u32, status: u16, text: &str, error: Option<String>, timed_out: bool) -> i32 {
        let result = if timed_out {
            AttemptResult::TimedOut
        } else if let Some(message) = error {
            AttemptResult::NetworkError(message)
        } else {
            AttemptResult::Answered(graph_response::parse(status, text))
        };
        let elapsed = js::now_ms().saturating_sub(self.started_ms);
        let mut fields = std::mem::take(&mut self.fields);
        match retry::next(attempt, &result, js::random()) {
            Next::RetryAfter(ms) => {
                self.fields = fields;
                return i32::try_from(ms).unwrap_or(i32::MAX);
            }
            Next::Delivered(accepted) => {
                fields.extend([
                    ("events_received", json!(accepted.events_received)),
                    ("fbtrace_id", json!(accepted.fbtrace_id)),
                    ("attempts", json!(attempt)),
                    ("ms", json!(elapsed)),
                ]);
                log::line(&self.label, Decision::Sent, fields);
            }
            Next::GiveUp => {
                fields.extend([("reason", json!(retry::describe(&result))), ("attempts", json!(attempt)), ("ms", json!(elapsed))]);
                if let AttemptResult::Answered(Err(e)) = &result {
                    fields.extend([
                        ("http_status", json!(e.status)),
                        ("code", json!(e.code)),
                        ("subcode", json!(e.subcode)),
                        ("fbtrace_id", json!(e.fbtrace_id)),
                    ]);
                }
                log::line(&self.label, Decision::Failed, fields);
            }
        }
        -1
    }
}
