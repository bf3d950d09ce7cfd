//! One small pure parser per consent signal. Each reads the cookie value as the browser
//! stores it (URL-encoded where the banner encodes it) and answers `marketing` and
//! `statistics` as granted (`Some(true)`), denied (`Some(false)`) or not said (`None`).

pub mod complianz;
pub mod cookiebot;
pub mod cookieyes;
pub mod onetrust;
pub mod shop_cookie;
pub mod tcf;
pub mod zaraz;

use super::{ConsentSettings, Source};

/// Longest cookie value a parser reads; a longer one is unreadable (real ones are far shorter).
pub const MAX_VALUE_LEN: usize = 4096;

/// What one signal says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answers {
    /// Ad platforms.
    pub marketing: Option<bool>,
    /// Analytics.
    pub statistics: Option<bool>,
}

impl Answers {
    /// The same answer for both purposes.
    pub fn both(answer: bool) -> Answers {
        Answers { marketing: Some(answer), statistics: Some(answer) }
    }
}

/// A consent cookie was present but could not be read whole: no signal, but for the denials
/// it still readably states ([`Unread`]). Never holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable {
    /// Whose cookie.
    pub source: Source,
    /// The cookie's name.
    pub cookie: &'static str,
    /// What was wrong, in words.
    pub reason: &'static str,
}

/// Why a cookie could not be read whole, and the denials it still states readably: a
/// purpose whose own item is readable and says no is denied however odd the rest of the
/// cookie is ([`Answers`] here holds only `Some(false)` or `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread {
    /// What was wrong, in words.
    pub reason: &'static str,
    /// The purposes the cookie still readably denies.
    pub denials: Answers,
}

impl Unread {
    /// A cookie that states nothing readable.
    pub fn new(reason: &'static str) -> Unread {
        Unread { reason, denials: Answers::default() }
    }

    /// A cookie that could not be read whole, with the readable answers of its purposes'
    /// own items: only their denials are kept.
    pub fn keeping_denials(reason: &'static str, readable: Answers) -> Unread {
        let deny = |a: Option<bool>| (a == Some(false)).then_some(false);
        Unread { reason, denials: Answers { marketing: deny(readable.marketing), statistics: deny(readable.statistics) } }
    }
}

impl Unread {
    /// This, as the decision keeps it: what was wrong with whose cookie (never its value), and
    /// the denials still read.
    fn of(self, source: Source, cookie: &'static str) -> (Unreadable, Answers) {
        (Unreadable { source, cookie, reason: self.reason }, self.denials)
    }
}

impl From<&'static str> for Unread {
    fn from(reason: &'static str) -> Unread {
        Unread::new(reason)
    }
}

/// A parser's result.
pub type Read = Result<Answers, Unread>;

/// A purpose's item read on its own: absent, readable (`Ok`), or present but unreadable.
pub(crate) type Item = Result<Option<bool>, &'static str>;

/// How a banner spells a purpose's yes and no, and what to say of anything else.
pub(crate) struct Spelling {
    /// Granted.
    pub yes: &'static str,
    /// Denied.
    pub no: &'static str,
    /// Why another value cannot be read.
    pub odd: &'static str,
}

impl Spelling {
    /// A purpose's item: absent, `yes`, `no`, or unreadable.
    pub fn read(&self, value: Option<&str>) -> Item {
        match value {
            None => Ok(None),
            Some(v) if v == self.yes => Ok(Some(true)),
            Some(v) if v == self.no => Ok(Some(false)),
            Some(_) => Err(self.odd),
        }
    }
}

/// The answers of a cookie whose purposes were read item by item, with `flaw` the first thing
/// wrong elsewhere in it: whole when nothing is wrong, else [`Unread`] keeping the readable
/// denials.
pub(crate) fn from_items(marketing: Item, statistics: Item, flaw: Option<&'static str>) -> Read {
    match (marketing, statistics, flaw) {
        (Ok(m), Ok(s), None) => Ok(Answers { marketing: m, statistics: s }),
        (m, s, flaw) => {
            let reason = flaw.or(m.err()).or(s.err()).unwrap_or("unreadable");
            Err(Unread::keeping_denials(reason, Answers { marketing: m.unwrap_or(None), statistics: s.unwrap_or(None) }))
        }
    }
}

/// What one signal's cookie said: its answers, or why it is unreadable with the denials it
/// still showed.
pub type SignalRead = Result<Answers, (Unreadable, Answers)>;

/// Reads every signal whose cookie is present, through `cookie` (name to value), but the TCF
/// string, which also answers per vendor ([`read_tcf`]).
pub fn read_all<'a>(
    settings: &ConsentSettings,
    cookie: &dyn Fn(&str) -> Option<&'a str>,
) -> Vec<(Source, SignalRead)> {
    let mut out = Vec::new();
    let mut push = |source: Source, name: &'static str, read: Read| out.push((source, read.map_err(|e| e.of(source, name))));
    if let Some(v) = cookie(cookiebot::COOKIE) {
        push(Source::Cookiebot, cookiebot::COOKIE, bounded(v, &cookiebot::parse));
    }
    if let Some(v) = cookie(onetrust::COOKIE) {
        push(Source::OneTrust, onetrust::COOKIE, bounded(v, &|v| onetrust::parse(v, &settings.onetrust)));
    }
    if let Some(v) = cookie(cookieyes::COOKIE) {
        push(Source::CookieYes, cookieyes::COOKIE, bounded(v, &cookieyes::parse));
    }
    let (cm, cs) = (cookie(complianz::MARKETING_COOKIE), cookie(complianz::STATISTICS_COOKIE));
    if cm.is_some() || cs.is_some() {
        push(Source::Complianz, complianz::MARKETING_COOKIE, complianz::parse(cm, cs));
    }
    if let (Some(ids), Some(v)) = (settings.zaraz.as_ref(), cookie(zaraz::COOKIE)) {
        push(Source::Zaraz, zaraz::COOKIE, bounded(v, &|v| zaraz::parse(v, ids)));
    }
    if let Some(own) = &settings.shop_cookie {
        if let Some(v) = cookie(&own.name) {
            push(Source::ShopCookie, "CONSENT_COOKIE", Ok(own.read(v)));
        }
    }
    out
}

/// Reads the TCF string, when its cookie is present.
pub fn read_tcf<'a>(
    settings: &ConsentSettings,
    cookie: &dyn Fn(&str) -> Option<&'a str>,
) -> Option<Result<tcf::TcfReading, (Unreadable, Answers)>> {
    let value = cookie(tcf::COOKIE)?;
    Some(bounded(value, &|v| tcf::parse(v, &settings.tcf)).map_err(|e| e.of(Source::Tcf, tcf::COOKIE)))
}

/// `parse(value)`, unless the value is longer than any consent cookie (then unreadable, unread).
fn bounded<T>(value: &str, parse: &dyn Fn(&str) -> Result<T, Unread>) -> Result<T, Unread> {
    if value.len() > MAX_VALUE_LEN { Err(Unread::new("longer than any consent cookie")) } else { parse(value) }
}

/// The names of every consent cookie read with `settings`.
pub fn cookie_names(settings: &ConsentSettings) -> Vec<&str> {
    let mut names = vec![
        cookiebot::COOKIE,
        onetrust::COOKIE,
        cookieyes::COOKIE,
        complianz::MARKETING_COOKIE,
        complianz::STATISTICS_COOKIE,
        tcf::COOKIE,
    ];
    if settings.zaraz.is_some() {
        names.push(zaraz::COOKIE);
    }
    if let Some(own) = &settings.shop_cookie {
        names.push(&own.name);
    }
    names
}

/// Splits `a:b,c:d` (Cookiebot's and CookieYes's format) into pairs, and says whether some
/// item had no `:` (it is left out).
pub(crate) fn colon_pairs(text: &str) -> (Vec<(&str, &str)>, bool) {
    let mut odd = false;
    let pairs = text
        .split(',')
        .filter(|i| !i.trim().is_empty())
        .filter_map(|item| {
            let pair = item.split_once(':').map(|(k, v)| (k.trim(), v.trim()));
            odd |= pair.is_none();
            pair
        })
        .collect();
    (pairs, odd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitor::consent::{decide, ConsentFacts};
    use proptest::prelude::*;

    proptest! {
        /// No cookie header, however hostile, panics the decision or makes it slow.
        #[test]
        fn any_cookie_header_decides_without_panic(header in "[ -~]{0,4096}") {
            let settings = ConsentSettings { zaraz: Some(Default::default()), ..Default::default() };
            let _ = decide(&settings, &ConsentFacts { cookie: Some(&header), gpc: true, country: Some("IT") });
        }

        /// Each parser on arbitrary values, as browsers could send them.
        #[test]
        fn any_value_parses_or_is_unreadable(value in "[ -~]{0,600}", raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let settings = ConsentSettings { zaraz: Some(Default::default()), ..Default::default() };
            let noisy = String::from_utf8_lossy(&raw).into_owned();
            for v in [value.as_str(), noisy.as_str()] {
                let _ = cookiebot::parse(v);
                let _ = onetrust::parse(v, &settings.onetrust);
                let _ = cookieyes::parse(v);
                let _ = complianz::parse(Some(v), Some(v));
                let _ = zaraz::parse(v, settings.zaraz.as_ref().unwrap());
                let _ = tcf::parse(v, &settings.tcf);
            }
        }
    }

    #[test]
    fn a_4kb_cookie_is_refused_without_reading_it() {
        let huge = format!("CookieConsent={}", "a".repeat(MAX_VALUE_LEN + 1));
        let settings = ConsentSettings::default();
        let read = read_all(&settings, &|n| crate::proxy::cookies::cookie(&huge, n));
        assert_eq!(read.len(), 1);
        assert!(read[0].1.is_err());
    }
}
