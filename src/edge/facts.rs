//! Request facts that reach wasm from JS: log labels for the error paths, and the bot score.

use crate::log::line::RequestLabel;
use crate::proxy::upstream::path_only;
use web_sys::Request;

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// `request.cf.botManagement.score` as the core takes it: 1..=99, else absent.
pub fn bot_score(score: Option<f64>) -> Option<u8> {
    score.filter(|s| (1.0..=99.0).contains(s)).map(|s| s as u8)
}

/// `Sec-GPC: 1`: the visitor sends Global Privacy Control.
pub fn gpc(sec_gpc: Option<&str>) -> bool {
    sec_gpc.is_some_and(|v| v.trim() == "1")
}

/// Method and path of a request, for a log line.
pub fn label(req: &Request, status: Option<u16>) -> RequestLabel {
    RequestLabel { method: req.method(), path: path_only(&req.url()).to_string(), status, ray: header(req, "cf-ray") }
}
