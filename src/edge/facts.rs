//! Reading the request facts tracking needs (only for tracked responses).

use super::js;
use crate::log_line::RequestLabel;
use crate::request_facts::RequestFacts;
use crate::upstream::path_only;
use web_sys::Request;

/// Headers that announce a speculative load.
const PURPOSE_HEADERS: [&str; 4] = ["sec-purpose", "purpose", "x-purpose", "x-moz"];

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The facts of the client's request.
pub fn request_facts(req: &Request) -> RequestFacts {
    let purposes: Vec<String> = PURPOSE_HEADERS.iter().filter_map(|h| header(req, h)).collect();
    let bot_management = js::get(&js::get(req, "cf"), "botManagement");
    RequestFacts {
        method: req.method(),
        url: req.url(),
        user_agent: header(req, "user-agent"),
        cf_connecting_ip: header(req, "cf-connecting-ip"),
        cookie: header(req, "cookie"),
        referer: header(req, "referer"),
        purpose: (!purposes.is_empty()).then(|| purposes.join(", ")),
        verified_bot: js::get(&bot_management, "verifiedBot").as_bool(),
        bot_score: js::get(&bot_management, "score").as_f64().filter(|s| (0.0..=100.0).contains(s)).map(|s| s as u8),
        ray: header(req, "cf-ray"),
    }
}

/// Method and path of a request, for a log line.
pub fn label(req: &Request, status: Option<u16>) -> RequestLabel {
    RequestLabel { method: req.method(), path: path_only(&req.url()).to_string(), status, ray: header(req, "cf-ray") }
}
