//! Plain data the adapter reads from a tracked request and its response, so that every
//! decision about it is made by pure, natively tested code.

/// What the client sent, as far as tracking needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// HTTP method.
    pub method: String,
    /// The URL the browser asked for (public host).
    pub url: String,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `CF-Connecting-IP`.
    pub cf_connecting_ip: Option<String>,
    /// `Cookie`.
    pub cookie: Option<String>,
    /// `Referer`.
    pub referer: Option<String>,
    /// Speculative-load hints, joined: `Sec-Purpose`, `Purpose`, `X-Purpose`, `X-Moz`.
    pub purpose: Option<String>,
    /// `request.cf.botManagement.verifiedBot`, when Bot Management is on.
    pub verified_bot: Option<bool>,
    /// `request.cf.botManagement.score` (1 = bot .. 99 = human), when present.
    pub bot_score: Option<u8>,
    /// `CF-Ray`, to correlate log lines with Cloudflare's.
    pub ray: Option<String>,
    /// `request.cf.country` (ISO 3166-1 alpha-2), when known.
    pub country: Option<String>,
    /// `Sec-GPC: 1` (Global Privacy Control) was sent.
    pub gpc: bool,
}

/// What the origin (or the cache in front of it) answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// Status code.
    pub status: u16,
    /// `CF-Cache-Status`.
    pub cf_cache_status: Option<String>,
    /// `Age`.
    pub age: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
}

/// `text/html`, the media type of a page.
const HTML: &str = "text/html";

impl ResponseFacts {
    /// A 2xx HTML response: what a page view is answered with.
    pub fn is_html_page(&self) -> bool {
        (200..300).contains(&self.status)
            && self.content_type.as_deref().is_some_and(|t| {
                t.trim_start().get(..HTML.len()).is_some_and(|m| m.eq_ignore_ascii_case(HTML))
            })
    }
}
