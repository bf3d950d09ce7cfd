//! Sending events to the Conversions API (or logging them in dry run), with the retry
//! policy of [`crate::retry`], and logging one line for the outcome.

use super::{js, log};
use crate::capi_event::EventsRequest;
use crate::config::{Delivery, MetaEndpoint};
use crate::graph_response;
use crate::log_line::{Decision, RequestLabel};
use crate::retry::{self, AttemptResult, Next, ATTEMPT_TIMEOUT_MS};
use crate::tracking::Outgoing;
use futures_util::future::{select, Either};
use serde_json::{json, Value};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Headers, Request, RequestInit, Response};

/// Delivers (or logs) `outgoing` and logs the outcome.
pub async fn deliver(label: &RequestLabel, delivery: &Delivery, outgoing: Outgoing) {
    let summary = summary(&outgoing.request, outgoing.replay);
    match delivery {
        Delivery::DryRun { reason, events_url } => {
            let payload = serde_json::to_value(&outgoing.request).unwrap_or(Value::Null);
            let mut fields = summary;
            fields.extend([("reason", json!(reason)), ("events_url", json!(events_url)), ("payload", payload)]);
            log::line(label, Decision::DryRun, fields);
        }
        Delivery::Live(endpoint) => {
            let body = match serde_json::to_string(&outgoing.request) {
                Ok(body) => body,
                Err(e) => {
                    log::line(label, Decision::Failed, [("reason", json!(format!("could not serialize the events: {e}")))]);
                    return;
                }
            };
            send_with_retries(label, endpoint, &body, summary).await;
        }
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

async fn send_with_retries(label: &RequestLabel, endpoint: &MetaEndpoint, body: &str, mut fields: Vec<(&'static str, Value)>) {
    let started = js::now_ms();
    let mut attempt = 1;
    loop {
        let result = attempt_once(endpoint, body).await;
        match retry::next(attempt, &result, js::random()) {
            Next::RetryAfter(ms) => {
                worker::Delay::from(Duration::from_millis(ms)).await;
                attempt += 1;
            }
            Next::Delivered(accepted) => {
                fields.extend([
                    ("events_received", json!(accepted.events_received)),
                    ("fbtrace_id", json!(accepted.fbtrace_id)),
                    ("attempts", json!(attempt)),
                    ("ms", json!(js::now_ms().saturating_sub(started))),
                ]);
                log::line(label, Decision::Sent, fields);
                return;
            }
            Next::GiveUp => {
                fields.extend([
                    ("reason", json!(retry::describe(&result))),
                    ("attempts", json!(attempt)),
                    ("ms", json!(js::now_ms().saturating_sub(started))),
                ]);
                if let AttemptResult::Answered(Err(e)) = &result {
                    fields.extend([
                        ("http_status", json!(e.status)),
                        ("code", json!(e.code)),
                        ("subcode", json!(e.subcode)),
                        ("fbtrace_id", json!(e.fbtrace_id)),
                    ]);
                }
                log::line(label, Decision::Failed, fields);
                return;
            }
        }
    }
}

/// One POST, aborted after [`ATTEMPT_TIMEOUT_MS`].
async fn attempt_once(endpoint: &MetaEndpoint, body: &str) -> AttemptResult {
    let controller = match AbortController::new() {
        Ok(c) => c,
        Err(e) => return AttemptResult::NetworkError(js::describe(&e)),
    };
    let exchange = Box::pin(post(endpoint, body, controller.signal()));
    let timeout = worker::Delay::from(Duration::from_millis(ATTEMPT_TIMEOUT_MS));
    match select(exchange, timeout).await {
        Either::Left((Ok((status, text)), _)) => AttemptResult::Answered(graph_response::parse(status, &text)),
        Either::Left((Err(e), _)) => AttemptResult::NetworkError(js::describe(&e)),
        Either::Right(_) => {
            controller.abort();
            AttemptResult::TimedOut
        }
    }
}

async fn post(endpoint: &MetaEndpoint, body: &str, signal: AbortSignal) -> Result<(u16, String), JsValue> {
    let headers = Headers::new()?;
    headers.set("content-type", "application/json")?;
    headers.set("authorization", &format!("Bearer {}", endpoint.access_token))?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    init.set_signal(Some(&signal));
    let request = Request::new_with_str_and_init(&endpoint.events_url, &init)?;
    let response: Response = JsFuture::from(js::global_fetch(&request)).await?.dyn_into()?;
    let text = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
    Ok((response.status(), text))
}
