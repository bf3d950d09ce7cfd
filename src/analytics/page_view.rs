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
use crate::bots::skip_rules::{skip_rule_with, SkipFacts, SkipRule};
use std::borrow::Cow;
use std::fmt;

/// The facts of one page view, in the order the JS entry queues them ([`parse_views`]):
/// time (ms), URL, `Referer`, `User-Agent`, `CF-Connecting-IP`, `request.cf.country`,
/// speculative-load hints, `botManagement.verifiedBot`, `botManagement.score`.
/// Its texts borrow from the text they were read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawPageView<'a>(
    pub u64,
    pub &'a str,
    pub Option<&'a str>,
    pub Option<&'a str>,
    pub Option<&'a str>,
    pub Option<&'a str>,
    pub Option<&'a str>,
    pub Option<bool>,
    pub Option<f64>,
);

/// Facts per page view in the text the JS entry hands over (its `VIEW_FIELDS`).
pub const VIEW_FIELDS: usize = 9;
/// What separates the facts in that text (its `VIEW_SEPARATOR`): neither a URL nor a header
/// value can hold a line break.
pub const VIEW_SEPARATOR: char = '\n';

/// Why the queued page views could not be read: a bug in the JS entry, which wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewsUnreadable {
    /// The number of facts is not a multiple of [`VIEW_FIELDS`].
    FieldCount(usize),
    /// A time that is not whole milliseconds.
    Time(String),
    /// A `verifiedBot` that is neither `true` nor `false`.
    VerifiedBot(String),
    /// A bot score that is not a number.
    Score(String),
}

impl fmt::Display for ViewsUnreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FieldCount(n) => write!(f, "{n} facts, not {VIEW_FIELDS} per page view: src/edge/entry.js and page_view.rs disagree"),
            Self::Time(t) => write!(f, "a time of {t:?}, not milliseconds"),
            Self::VerifiedBot(v) => write!(f, "a verifiedBot of {v:?}, not true or false"),
            Self::Score(v) => write!(f, "a bot score of {v:?}, not a number"),
        }
    }
}

/// Reads the page views the JS entry queued: [`VIEW_FIELDS`] facts each, in
/// [`RawPageView`]'s order, joined by [`VIEW_SEPARATOR`], an absent fact as empty (JS's
/// `Array.prototype.join` writes `null` and `undefined` so). Cheaper than JSON on both sides,
/// and it runs for every page view (bench scenario (l)).
pub fn parse_views(text: &str) -> Result<Vec<RawPageView<'_>>, ViewsUnreadable> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    fn text_of(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    let mut facts = text.split(VIEW_SEPARATOR);
    let mut views = Vec::new();
    loop {
        let mut view: [&str; VIEW_FIELDS] = [""; VIEW_FIELDS];
        for (i, slot) in view.iter_mut().enumerate() {
            match facts.next() {
                Some(fact) => *slot = fact,
                None if i == 0 => return Ok(views),
                None => return Err(ViewsUnreadable::FieldCount(views.len() * VIEW_FIELDS + i)),
            }
        }
        let [at, url, referer, user_agent, ip, country, purpose, verified_bot, score] = view;
        let at = at.parse().map_err(|_| ViewsUnreadable::Time(at.to_string()))?;
        let verified_bot = match verified_bot {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            other => return Err(ViewsUnreadable::VerifiedBot(other.to_string())),
        };
        let score = match score {
            "" => None,
            s => Some(s.parse().map_err(|_| ViewsUnreadable::Score(s.to_string()))?),
        };
        views.push(RawPageView(at, url, text_of(referer), text_of(user_agent), text_of(ip), text_of(country), text_of(purpose), verified_bot, score));
    }
}

/// Longest `User-Agent` the JS entry queues with a page view, in UTF-16 code units (its
/// `MAX_VIEW_USER_AGENT`): the visitor id is made of the text as queued.
pub const MAX_VIEW_USER_AGENT: usize = 512;

/// `user_agent` cut as the JS entry cuts a queued page view's (`String.prototype.slice` over
/// UTF-16 code units), so that a tracked request's events get the same visitor id as its
/// page view. A pair of surrogates cut in half reaches wasm as U+FFFD.
pub fn queued_user_agent(user_agent: &str) -> Cow<'_, str> {
    let mut units = 0;
    for (i, c) in user_agent.char_indices() {
        units += c.len_utf16();
        if units > MAX_VIEW_USER_AGENT {
            return if units - 1 == MAX_VIEW_USER_AGENT && c.len_utf16() == 2 {
                Cow::Owned(format!("{}\u{FFFD}", &user_agent[..i]))
            } else {
                Cow::Borrowed(&user_agent[..i])
            };
        }
    }
    Cow::Borrowed(user_agent)
}

/// Country stored when Cloudflare does not know it (`XX` is what Cloudflare itself sends
/// for an unknown country; `T1` for Tor is kept as sent).
pub const UNKNOWN_COUNTRY: &str = "XX";

/// What a counted page view is counted under (its texts borrow from the page view's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimensions<'a> {
    /// The counted path ([`page_path`]).
    pub path: &'a str,
    /// Where the visit came from, or `None` for a link within the shop.
    pub landing: Option<Acquisition>,
    /// ISO 3166-1 alpha-2, upper case, or [`UNKNOWN_COUNTRY`].
    pub country: Cow<'a, str>,
    /// Device class.
    pub device: Device,
}

/// The name a landing with no referrer and no `utm_source` is counted under.
pub const DIRECT: &str = "(direct)";
/// The source of the day of a visitor whose first page view of the day followed a link
/// within the shop (a visit that began before midnight UTC).
pub const INTERNAL: &str = "(internal)";

impl<'a> RawPageView<'a> {
    /// Milliseconds since the epoch.
    pub fn at_ms(&self) -> u64 {
        self.0
    }

    /// `User-Agent`, or empty.
    pub fn user_agent(&self) -> &str {
        self.3.unwrap_or("")
    }

    /// `CF-Connecting-IP`, or empty.
    pub fn ip(&self) -> &str {
        self.4.unwrap_or("")
    }

    /// The host the browser asked for, lowercased (part of the visitor hash).
    pub fn host(&self) -> Cow<'a, str> {
        let host = crate::proxy::upstream::host_of(self.1);
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        }
    }

    /// Why this is not a human page view, by the same rules as events; `None`: it counts.
    pub fn skip_rule(&self, threshold: u8, bots: &BotMatcher) -> Option<SkipRule> {
        self.skip_rule_with(threshold, |ua| bots.is_bot(ua))
    }

    /// [`RawPageView::skip_rule`] with the crawler check as `is_crawler` (see
    /// [`skip_rule_with`]).
    pub fn skip_rule_with(&self, threshold: u8, is_crawler: impl FnOnce(&str) -> bool) -> Option<SkipRule> {
        let facts = SkipFacts {
            method: "GET",
            user_agent: self.3,
            purpose: self.6,
            verified_bot: self.7,
            bot_score: self.8.filter(|s| s.is_finite() && *s >= 0.0).map(|s| s.min(99.0) as u8),
        };
        skip_rule_with(&facts, 200, threshold, is_crawler)
    }

    /// The dimensions of this page view.
    pub fn dimensions(&self) -> Dimensions<'a> {
        self.dimensions_with(device::classify(self.user_agent()))
    }

    /// The dimensions of this page view, its User-Agent's `device` class already known.
    pub fn dimensions_with(&self, device: Device) -> Dimensions<'a> {
        let url = self.1;
        let referer = self.2;
        let acquisition = source::acquisition(url, referer);
        let internal = acquisition.source.is_none() && referer.is_some_and(|r| r.starts_with("http://") || r.starts_with("https://"));
        let landing = if internal {
            None
        } else {
            Some(Acquisition { source: Some(acquisition.source.unwrap_or_else(|| DIRECT.to_string())), ..acquisition })
        };
        let country = match self.5.filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphanumeric())) {
            None => Cow::Borrowed(UNKNOWN_COUNTRY),
            Some(c) if c.bytes().any(|b| b.is_ascii_lowercase()) => Cow::Owned(c.to_ascii_uppercase()),
            Some(c) => Cow::Borrowed(c),
        };
        Dimensions { path: page_path(url), landing, country, device }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    fn view<'a>(url: &'a str, referer: Option<&'a str>) -> RawPageView<'a> {
        RawPageView(0, url, referer, Some(CHROME), Some("203.0.113.9"), Some("it"), None, None, None)
    }

    #[test]
    fn user_agents_are_cut_as_the_js_entry_cuts_them() {
        let long = "a".repeat(600);
        assert_eq!(queued_user_agent(&long).len(), MAX_VIEW_USER_AGENT);
        assert_eq!(queued_user_agent(CHROME), CHROME);
        let emoji = format!("{}😀z", "a".repeat(511));
        assert_eq!(queued_user_agent(&emoji), format!("{}\u{FFFD}", "a".repeat(511)), "JS's slice keeps half the pair, which wasm reads as U+FFFD");
    }

    #[test]
    fn parses_the_text_the_entry_writes() {
        // Two page views as `[...].join("\n")` writes them: null and undefined as empty.
        let text = "1764547200000\nhttps://s.example/p?x=1\n\nUA\n1.2.3.4\nIT\n\n\n42\n\
                    1764547200001\nhttps://s.example/q\nhttps://a.example/\nUA2\n::1\n\nprefetch\ntrue\n2.5";
        let views = parse_views(text).unwrap();
        assert_eq!(views.len(), 2);
        let raw = &views[0];
        assert_eq!(raw.at_ms(), 1_764_547_200_000);
        assert_eq!((raw.user_agent(), raw.ip(), raw.host().as_ref()), ("UA", "1.2.3.4", "s.example"));
        let shouting = RawPageView(0, "https://Shop.Example/", None, None, None, Some("it"), None, None, None);
        assert_eq!(shouting.host(), "shop.example", "the visitor hash takes the host lowercased");
        assert_eq!(shouting.dimensions().country, "IT");
        assert_eq!(*raw, RawPageView(1_764_547_200_000, "https://s.example/p?x=1", None, Some("UA"), Some("1.2.3.4"), Some("IT"), None, None, Some(42.0)));
        let second = RawPageView(1_764_547_200_001, "https://s.example/q", Some("https://a.example/"), Some("UA2"), Some("::1"), None, Some("prefetch"), Some(true), Some(2.5));
        assert_eq!(views[1], second);
        assert_eq!(parse_views(""), Ok(Vec::new()), "nothing queued");
    }

    #[test]
    fn unreadable_views_say_why() {
        assert_eq!(parse_views("1\nhttps://s.example/"), Err(ViewsUnreadable::FieldCount(2)));
        assert_eq!(parse_views("soon\nu\n\n\n\n\n\n\n"), Err(ViewsUnreadable::Time("soon".into())));
        assert_eq!(parse_views("1\nu\n\n\n\n\n\nyes\n"), Err(ViewsUnreadable::VerifiedBot("yes".into())));
        assert_eq!(parse_views("1\nu\n\n\n\n\n\n\nhigh"), Err(ViewsUnreadable::Score("high".into())));
        assert!(ViewsUnreadable::FieldCount(2).to_string().contains("not 9 per page view"));
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
        assert_eq!((direct.path, direct.country.as_ref(), direct.device), ("/p", "IT", Device::Desktop));
    }

    #[test]
    fn unknown_country() {
        let mut v = view("https://s.example/", None);
        v.5 = None;
        assert_eq!(v.dimensions().country, UNKNOWN_COUNTRY);
        v.5 = Some("<script>");
        assert_eq!(v.dimensions().country, UNKNOWN_COUNTRY);
    }

    #[test]
    fn bots_and_prefetch_do_not_count() {
        let bots = BotMatcher::new().unwrap();
        assert_eq!(view("https://s.example/", None).skip_rule(30, &bots), None);
        let mut v = view("https://s.example/", None);
        v.3 = Some("Googlebot/2.1 (+http://www.google.com/bot.html)");
        assert_eq!(v.skip_rule(30, &bots), Some(SkipRule::CrawlerUserAgent));
        let mut v = view("https://s.example/", None);
        v.6 = Some("prefetch");
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
