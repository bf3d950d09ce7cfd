//! One page view as the JS entry hands it over, and what it is counted as: nothing (a bot
//! or a load that is not a view, by the same rules as events), or its dimensions.
//!
//! The JS entry only checks that the request was a GET answered 2xx `text/html` (outside
//! the stats path) and queues these facts; every other rule runs here, off the response
//! path, when an isolate's counts are flushed.

use super::device::{self, Device};
use super::page_path::page_path;
use super::source::{self, Acquisition};
use crate::bots::BotMatcher;
use crate::request_facts::RequestFacts;
use crate::skip_rules::{skip_rule_with, SkipRule};
use serde::Deserialize;

/// The facts of one page view, in the order the JS entry writes them (a JSON array):
/// time (ms), URL, `Referer`, `User-Agent`, `CF-Connecting-IP`, `request.cf.country`,
/// speculative-load hints, `botManagement.verifiedBot`, `botManagement.score`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RawPageView(
    pub u64,
    pub String,
    pub Option<String>,
    pub Option<String>,
    pub Option<String>,
    pub Option<String>,
    pub Option<String>,
    pub Option<bool>,
    pub Option<f64>,
);

/// Country stored when Cloudflare does not know it (`XX` is what Cloudflare itself sends
/// for an unknown country; `T1` for Tor is kept as sent).
pub const UNKNOWN_COUNTRY: &str = "XX";

/// What a counted page view is counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimensions {
    /// The counted path ([`page_path`]).
    pub path: String,
    /// Where the visit came from, or `None` for a link within the shop.
    pub landing: Option<Acquisition>,
    /// ISO 3166-1 alpha-2, upper case, or [`UNKNOWN_COUNTRY`].
    pub country: String,
    /// Device class.
    pub device: Device,
}

/// The name a landing with no referrer and no `utm_source` is counted under.
pub const DIRECT: &str = "(direct)";

impl RawPageView {
    /// Milliseconds since the epoch.
    pub fn at_ms(&self) -> u64 {
        self.0
    }

    /// `User-Agent`, or empty.
    pub fn user_agent(&self) -> &str {
        self.3.as_deref().unwrap_or("")
    }

    /// `CF-Connecting-IP`, or empty.
    pub fn ip(&self) -> &str {
        self.4.as_deref().unwrap_or("")
    }

    /// The host the browser asked for, lowercased (part of the visitor hash).
    pub fn host(&self) -> String {
        crate::upstream::host_of(&self.1).to_ascii_lowercase()
    }

    /// Why this is not a human page view, by the same rules as events; `None`: it counts.
    pub fn skip_rule(&self, threshold: u8, bots: &BotMatcher) -> Option<SkipRule> {
        self.skip_rule_with(threshold, |ua| bots.is_bot(ua))
    }

    /// [`RawPageView::skip_rule`] with the crawler check as `is_crawler` (see
    /// [`skip_rule_with`]).
    pub fn skip_rule_with(&self, threshold: u8, is_crawler: impl FnOnce(&str) -> bool) -> Option<SkipRule> {
        let facts = RequestFacts {
            method: "GET".into(),
            url: self.1.clone(),
            user_agent: self.3.clone(),
            purpose: self.6.clone(),
            verified_bot: self.7,
            bot_score: self.8.filter(|s| s.is_finite() && *s >= 0.0).map(|s| s.min(99.0) as u8),
            ..Default::default()
        };
        skip_rule_with(&facts, 200, threshold, is_crawler)
    }

    /// The dimensions of this page view.
    pub fn dimensions(&self) -> Dimensions {
        self.dimensions_with(device::classify(self.user_agent()))
    }

    /// The dimensions of this page view, its User-Agent's `device` class already known.
    pub fn dimensions_with(&self, device: Device) -> Dimensions {
        let url = &self.1;
        let referer = self.2.as_deref();
        let acquisition = source::acquisition(url, referer);
        let internal = acquisition.source.is_none() && referer.is_some_and(|r| r.starts_with("http://") || r.starts_with("https://"));
        let landing = (!internal).then(|| Acquisition { source: Some(acquisition.source.clone().unwrap_or_else(|| DIRECT.to_string())), ..acquisition });
        let country = self
            .5
            .as_deref()
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map_or_else(|| UNKNOWN_COUNTRY.to_string(), |c| c.to_ascii_uppercase());
        Dimensions { path: page_path(url).to_string(), landing, country, device }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    fn view(url: &str, referer: Option<&str>) -> RawPageView {
        RawPageView(0, url.into(), referer.map(Into::into), Some(CHROME.into()), Some("203.0.113.9".into()), Some("it".into()), None, None, None)
    }

    #[test]
    fn parses_the_array_the_entry_writes() {
        let raw: RawPageView = serde_json::from_str(r#"[1764547200000,"https://s.example/p?x=1",null,"UA","1.2.3.4","IT",null,null,42]"#).unwrap();
        assert_eq!(raw.at_ms(), 1_764_547_200_000);
        assert_eq!((raw.user_agent(), raw.ip(), raw.host()), ("UA", "1.2.3.4", "s.example".to_string()));
    }

    #[test]
    fn landings_internal_links_and_direct() {
        let d = view("https://www.s.example/p/1?utm_source=news&utm_campaign=xmas", Some("https://www.s.example/")).dimensions();
        assert_eq!(d.landing.as_ref().and_then(|a| a.source.as_deref()), Some("news"));
        assert_eq!(d.landing.as_ref().and_then(|a| a.campaign.as_deref()), Some("xmas"));
        assert_eq!(view("https://s.example/p", Some("https://s.example/")).dimensions().landing, None, "a link within the shop");
        let direct = view("https://s.example/p", None).dimensions();
        assert_eq!(direct.landing.and_then(|a| a.source), Some(DIRECT.into()));
        assert_eq!(view("https://s.example/p", Some("https://google.com/")).dimensions().landing.and_then(|a| a.source), Some("google.com".into()));
        assert_eq!((direct.path.as_str(), direct.country.as_str(), direct.device), ("/p", "IT", Device::Desktop));
    }

    #[test]
    fn unknown_country() {
        let mut v = view("https://s.example/", None);
        v.5 = None;
        assert_eq!(v.dimensions().country, UNKNOWN_COUNTRY);
        v.5 = Some("<script>".into());
        assert_eq!(v.dimensions().country, UNKNOWN_COUNTRY);
    }

    #[test]
    fn bots_and_prefetch_do_not_count() {
        let bots = BotMatcher::new().unwrap();
        assert_eq!(view("https://s.example/", None).skip_rule(30, &bots), None);
        let mut v = view("https://s.example/", None);
        v.3 = Some("Googlebot/2.1 (+http://www.google.com/bot.html)".into());
        assert_eq!(v.skip_rule(30, &bots), Some(SkipRule::CrawlerUserAgent));
        let mut v = view("https://s.example/", None);
        v.6 = Some("prefetch".into());
        assert_eq!(v.skip_rule(30, &bots), Some(SkipRule::Prefetch));
        let mut v = view("https://s.example/", None);
        v.3 = None;
        assert_eq!(v.skip_rule(30, &bots), Some(SkipRule::MissingUserAgent));
        let mut v = view("https://s.example/", None);
        v.8 = Some(2.0);
        assert!(matches!(v.skip_rule(30, &bots), Some(SkipRule::BotScore { .. })));
        let mut v = view("https://s.example/", None);
        v.7 = Some(true);
        assert_eq!(v.skip_rule(30, &bots), Some(SkipRule::VerifiedBot));
    }
}
