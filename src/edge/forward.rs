//! The responses tagrelay writes itself: short, uncacheable errors that reveal no detail
//! (the detail goes to the log).

use wasm_bindgen::JsValue;
use web_sys::{Headers, Response, ResponseInit};

/// Status for an origin that cannot be reached.
pub const BAD_GATEWAY_STATUS: u16 = 502;
/// Body for an origin that cannot be reached (no detail: that goes to the log).
pub const BAD_GATEWAY_BODY: &str = "Bad Gateway: the origin server could not be reached.\n";
/// Body for an origin response that cannot be passed on without the tracking header.
pub const UNFORWARDABLE_BODY: &str = "Bad Gateway: the origin's response could not be passed on.\n";
/// Status when the Worker's own configuration is invalid.
pub const MISCONFIGURED_STATUS: u16 = 502;
/// Body when the Worker's own configuration is invalid.
pub const MISCONFIGURED_BODY: &str = "Bad Gateway: the proxy is misconfigured.\n";

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
