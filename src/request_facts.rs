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
}
