//! Requests that must not become events: bots and loads that are not page views.

use crate::bots::BotMatcher;
use crate::proxy::request_facts::RequestFacts;
use std::fmt;

/// Words in a purpose header that mark a speculative load, not a view.
const SPECULATIVE_PURPOSES: [&str; 3] = ["prefetch", "prerender", "preview"];

/// `206 Partial Content`: a range of a file, not a page view.
const PARTIAL_CONTENT: u16 = 206;

/// Why a tracked request was not sent. Checked in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipRule {
    /// HEAD fetches no page.
    HeadRequest,
    /// A CORS preflight (`OPTIONS`) or a range request's `206`: no page was viewed. (A `304`
    /// is a page view: the browser shows the page from its cache.)
    NotAPageView,
    /// `Sec-Purpose`/`Purpose` says prefetch or prerender: the user may never see it.
    Prefetch,
    /// No or empty `User-Agent`: no browser sends that.
    MissingUserAgent,
    /// Cloudflare Bot Management says this is a verified bot.
    VerifiedBot,
    /// Cloudflare bot score below the threshold.
    BotScore {
        /// The request's score.
        score: u8,
        /// `BOT_SCORE_THRESHOLD`.
        threshold: u8,
    },
    /// The User-Agent matches the crawler list.
    CrawlerUserAgent,
}

impl SkipRule {
    /// Stable name for logs.
    pub fn code(&self) -> &'static str {
        match self {
            SkipRule::HeadRequest => "head_request",
            SkipRule::NotAPageView => "not_a_page_view",
            SkipRule::Prefetch => "prefetch",
            SkipRule::MissingUserAgent => "missing_user_agent",
            SkipRule::VerifiedBot => "verified_bot",
            SkipRule::BotScore { .. } => "bot_score",
            SkipRule::CrawlerUserAgent => "crawler_user_agent",
        }
    }
}

impl fmt::Display for SkipRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipRule::BotScore { score, threshold } => write!(f, "bot_score ({score} < {threshold})"),
            other => f.write_str(other.code()),
        }
    }
}

/// What the skip rules read of a request, borrowed: from [`RequestFacts`] for events, or
/// from a queued page view for the stats (which must not copy its strings to ask).
#[derive(Debug, Clone, Copy, Default)]
pub struct SkipFacts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// Speculative-load hints, joined.
    pub purpose: Option<&'a str>,
    /// `request.cf.botManagement.verifiedBot`.
    pub verified_bot: Option<bool>,
    /// `request.cf.botManagement.score`.
    pub bot_score: Option<u8>,
}

impl<'a> From<&'a RequestFacts> for SkipFacts<'a> {
    fn from(req: &'a RequestFacts) -> Self {
        SkipFacts {
            method: &req.method,
            user_agent: req.user_agent.as_deref(),
            purpose: req.purpose.as_deref(),
            verified_bot: req.verified_bot,
            bot_score: req.bot_score,
        }
    }
}

/// The first rule that says "not a human page view" of `req`, answered with `status`, or
/// `None` to send. `threshold` 0 disables the bot score rule.
pub fn skip_rule(req: &RequestFacts, status: u16, threshold: u8, bots: &BotMatcher) -> Option<SkipRule> {
    skip_rule_with(&req.into(), status, threshold, |ua| bots.is_bot(ua))
}

/// [`skip_rule`] with the crawler check as `is_crawler` (given the trimmed, non-empty
/// User-Agent; asked last, and only when every other rule let the request through), so that a
/// caller checking many page views can remember each User-Agent's answer.
pub fn skip_rule_with(req: &SkipFacts<'_>, status: u16, threshold: u8, is_crawler: impl FnOnce(&str) -> bool) -> Option<SkipRule> {
    if req.method.eq_ignore_ascii_case("HEAD") {
        return Some(SkipRule::HeadRequest);
    }
    if req.method.eq_ignore_ascii_case("OPTIONS") || status == PARTIAL_CONTENT {
        return Some(SkipRule::NotAPageView);
    }
    if let Some(purpose) = req.purpose {
        let p = purpose.to_ascii_lowercase();
        if SPECULATIVE_PURPOSES.iter().any(|w| p.contains(w)) {
            return Some(SkipRule::Prefetch);
        }
    }
    let ua = req.user_agent.map(str::trim).unwrap_or("");
    if ua.is_empty() {
        return Some(SkipRule::MissingUserAgent);
    }
    if req.verified_bot == Some(true) {
        return Some(SkipRule::VerifiedBot);
    }
    if let Some(score) = req.bot_score {
        if score < threshold {
            return Some(SkipRule::BotScore { score, threshold });
        }
    }
    is_crawler(ua).then_some(SkipRule::CrawlerUserAgent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    fn human() -> RequestFacts {
        RequestFacts { method: "GET".into(), url: "https://s.example/".into(), user_agent: Some(CHROME.into()), ..Default::default() }
    }

    #[test]
    fn rules_in_order() {
        let bots = BotMatcher::new().unwrap();
        assert_eq!(skip_rule(&human(), 200, 30, &bots), None);
        assert_eq!(skip_rule(&human(), 304, 30, &bots), None, "a 304 is a page view from the browser's cache");
        assert_eq!(skip_rule(&human(), 206, 30, &bots), Some(SkipRule::NotAPageView));
        assert_eq!(skip_rule(&RequestFacts { method: "OPTIONS".into(), ..human() }, 204, 30, &bots), Some(SkipRule::NotAPageView));
        let cases: Vec<(RequestFacts, SkipRule)> = vec![
            (RequestFacts { method: "HEAD".into(), ..human() }, SkipRule::HeadRequest),
            (RequestFacts { purpose: Some("prefetch;prerender".into()), ..human() }, SkipRule::Prefetch),
            (RequestFacts { purpose: Some("Prefetch".into()), ..human() }, SkipRule::Prefetch),
            (RequestFacts { user_agent: None, ..human() }, SkipRule::MissingUserAgent),
            (RequestFacts { user_agent: Some("  ".into()), ..human() }, SkipRule::MissingUserAgent),
            (RequestFacts { verified_bot: Some(true), ..human() }, SkipRule::VerifiedBot),
            (RequestFacts { bot_score: Some(5), ..human() }, SkipRule::BotScore { score: 5, threshold: 30 }),
            (RequestFacts { user_agent: Some("Googlebot/2.1".into()), ..human() }, SkipRule::CrawlerUserAgent),
        ];
        for (req, want) in cases {
            assert_eq!(skip_rule(&req, 200, 30, &bots), Some(want), "{req:?}");
        }
        assert_eq!(skip_rule(&RequestFacts { bot_score: Some(30), verified_bot: Some(false), ..human() }, 200, 30, &bots), None);
        assert_eq!(skip_rule(&RequestFacts { bot_score: Some(1), ..human() }, 200, 0, &bots), None);
        assert_eq!(SkipRule::BotScore { score: 5, threshold: 30 }.to_string(), "bot_score (5 < 30)");
    }
}
