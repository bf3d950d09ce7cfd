//! Forwarding: the origin request, the origin response, and the two error responses.

use super::js;
use crate::config::Config;
use crate::request_facts::ResponseFacts;
use crate::upstream::{request_headers_to_drop, upstream_url};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit};

/// Status for an origin that cannot be reached.
pub const BAD_GATEWAY_STATUS: u16 = 502;
/// Body for an origin that cannot be reached (no detail: that goes to the log).
pub const BAD_GATEWAY_BODY: &str = "Bad Gateway: the origin server could not be reached.\n";
/// Status when the Worker's own configuration is invalid.
pub const MISCONFIGURED_STATUS: u16 = 502;
/// Body when the Worker's own configuration is invalid.
pub const MISCONFIGURED_BODY: &str = "Bad Gateway: the proxy is misconfigured.\n";

/// The request to send to the origin: same method, headers (minus hop-by-hop and the
/// tracking header), streamed body; redirects are returned, not followed.
pub fn upstream_request(req: &Request, config: &Config) -> Result<Request, JsValue> {
    let incoming = req.headers();
    let headers = Headers::new_with_headers(&incoming)?;
    let connection = incoming.get("connection")?;
    for name in request_headers_to_drop(connection.as_deref(), &config.tracking_header) {
        headers.delete(name)?;
    }
    let init = RequestInit::new();
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    match &config.origin {
        // Same URL: the request is its own input, body and method included, no URL copies.
        None => Request::new_with_request_and_init(req, &init),
        Some(origin) => {
            let url = req.url();
            if let Some(host) = host_of(&url) {
                headers.set("x-forwarded-host", host)?;
                headers.set("x-forwarded-proto", if url.starts_with("https:") { "https" } else { "http" })?;
            }
            init.set_method(&req.method());
            if let Some(body) = req.body() {
                init.set_body(&body);
            }
            Request::new_with_str_and_init(&upstream_url(&url, Some(origin)), &init)
        }
    }
}

/// The authority of an absolute URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|h| !h.is_empty())
}

/// Sends `req` with the global `fetch`; the JS `Response` comes back as is.
pub async fn send(req: &Request) -> Result<Response, JsValue> {
    JsFuture::from(js::global_fetch(req)).await?.dyn_into::<Response>()
}

/// A header's value (several occurrences joined by `, `), `None` when absent.
pub fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// The same response without the tracking header (every occurrence, any case): same
/// status, every other header (each `Set-Cookie` separate), and the origin's body stream.
/// On failure the untouched original comes back with the error.
pub fn strip_tracking_header(original: Response, tracking_header: &str) -> Result<(Response, ResponseFacts), (Response, JsValue)> {
    let rebuilt = (|| {
        let source = original.headers();
        let facts = ResponseFacts {
            status: original.status(),
            cf_cache_status: header(&source, "cf-cache-status"),
            age: header(&source, "age"),
        };
        let headers = Headers::new_with_headers(&source)?;
        headers.delete(tracking_header)?;
        let init = ResponseInit::new();
        init.set_status(original.status());
        init.set_status_text(&original.status_text());
        init.set_headers(&headers);
        let response = Response::new_with_opt_readable_stream_and_init(original.body().as_ref(), &init)?;
        Ok::<_, JsValue>((response, facts))
    })();
    rebuilt.map_err(|err| (original, err))
}

/// A short plain-text error that must not be cached.
pub fn error_response(status: u16, body: &str) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    headers.set("content-type", "text/plain; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    Response::new_with_opt_str_and_init(Some(body), &init)
}
