//! The Workers adapter: the only code that touches `worker`/`web_sys` types.
//!
//! The hot path is kept close to a bare passthrough: the request is re-issued to the origin
//! (a handful of JS calls), and a response without the tracking header is handed back as the
//! very same JS object, untouched. Only a tracked response is rebuilt (same status, headers
//! minus the tracking header, and the origin's body stream), and all tracking work happens in
//! `ctx.wait_until`, after the response is on its way.

mod delivery;
mod facts;
mod forward;
mod js;
mod log;
mod settings;

use crate::log_line::{Decision, RequestLabel};
use crate::request_facts::RequestFacts;
use crate::tracking::{plan, Inputs, Plan};
use serde_json::json;
use wasm_bindgen::JsValue;
use web_sys::{Request, Response};
use worker::{event, Context, Env};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let config = match settings::config(&env) {
        Ok(config) => config,
        Err(err) => {
            log::line(&facts::label(&req, None), Decision::ConfigError, [("reason", json!(err.to_string()))]);
            return Ok(forward::error_response(forward::MISCONFIGURED_STATUS, forward::MISCONFIGURED_BODY)?);
        }
    };
    let upstream = match forward::upstream_request(&req, config) {
        Ok(upstream) => upstream,
        Err(err) => return Ok(origin_error(&req, "could not build the origin request", err)?),
    };
    let response = match forward::send(&upstream).await {
        Ok(response) => response,
        Err(err) => return Ok(origin_error(&req, "origin unreachable", err)?),
    };
    let Some(header_value) = forward::header(&response.headers(), &config.tracking_header) else {
        return Ok(response);
    };
    let (response, response_facts) = match forward::strip_tracking_header(response, &config.tracking_header) {
        Ok(stripped) => stripped,
        Err((original, err)) => {
            // The runtime refused to rebuild the response (e.g. a 101 upgrade): serve it as is.
            log::line(&facts::label(&req, Some(original.status())), Decision::Rejected, [
                ("reason", json!(format!("cannot remove the tracking header from this response: {}", js::describe(&err)))),
            ]);
            return Ok(original);
        }
    };
    let request_facts = facts::request_facts(&req);
    ctx.wait_until(async move {
        track(header_value, request_facts, response_facts, config).await;
    });
    Ok(response)
}

/// 502 to the client, the reason to the log.
fn origin_error(req: &Request, what: &str, err: JsValue) -> worker::Result<Response> {
    log::line(&facts::label(req, Some(forward::BAD_GATEWAY_STATUS)), Decision::OriginError, [
        ("reason", json!(format!("{what}: {}", js::describe(&err)))),
    ]);
    Ok(forward::error_response(forward::BAD_GATEWAY_STATUS, forward::BAD_GATEWAY_BODY)?)
}

/// Everything after the response: decide, then send or log.
async fn track(
    header_value: String,
    request: RequestFacts,
    response: crate::request_facts::ResponseFacts,
    config: &'static crate::config::Config,
) {
    let label = RequestLabel {
        method: request.method.clone(),
        path: crate::upstream::path_only(&request.url).to_string(),
        status: Some(response.status),
        ray: request.ray.clone(),
    };
    let meta = match &config.meta {
        Ok(meta) => meta,
        Err(err) => {
            log::line(&label, Decision::Disabled, [("reason", json!(err.to_string()))]);
            return;
        }
    };
    let bots = match settings::bot_matcher() {
        Ok(bots) => bots,
        Err(err) => {
            log::line(&label, Decision::Disabled, [("reason", json!(err.to_string()))]);
            return;
        }
    };
    let inputs = Inputs { request: &request, response: &response, meta, bots, now_ms: js::now_ms() };
    match plan(&header_value, &inputs, &mut js::random_uuid) {
        Plan::Skip(rule) => log::line(&label, Decision::Skipped, [("rule", json!(rule.code())), ("detail", json!(rule.to_string()))]),
        Plan::Reject(err) => log::line(&label, Decision::Rejected, [("code", json!(err.code())), ("reason", json!(err.to_string()))]),
        Plan::Send(outgoing) => delivery::deliver(&label, &meta.delivery, *outgoing).await,
    }
}
