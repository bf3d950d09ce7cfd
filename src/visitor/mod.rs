//! What tagrelay knows about the visitor behind one request, from the request alone:
//! their consent ([`consent`]), the platforms' first-party browser ids ([`first_party`], the
//! one cookie writer, with the cookie domain from [`registrable_domain`] by the Public Suffix
//! List, [`public_suffix`]) and click ids ([`click_ids`]).
//!
//! May use: `config::parse`, `proxy`, `bots`, `event`. Used by the destinations, the tracking
//! decision and the configuration.

pub mod click_ids;
pub mod consent;
pub mod first_party;
pub mod public_suffix;
pub mod registrable_domain;

use crate::proxy::request_facts::{RequestFacts, ResponseFacts};
use crate::bots::skip_rules::SkipRule;
use consent::{ConsentDecision, ConsentFacts, ConsentSettings};
use first_party::{browser_ids, BrowserIds, FirstPartySettings, PageView};

/// What the edge decided about the visitor of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// Their consent.
    pub consent: ConsentDecision,
    /// Meta's first-party ids and the cookies to set, for a human page view with
    /// `FIRST_PARTY_COOKIES` on; `None` otherwise (the ids then come from the cookies as
    /// they are).
    pub browser_ids: Option<BrowserIds>,
}

/// Decides consent for `request` and, for a human GET answered 2xx `text/html` (`skip` is
/// the request's skip rule, if any), the first-party ids. `random` is used only for a new
/// `_fbp`.
pub fn visit(
    consent: &ConsentSettings,
    first_party: &FirstPartySettings,
    request: &RequestFacts,
    response: &ResponseFacts,
    skip: Option<SkipRule>,
    now_ms: u64,
    random: &mut dyn FnMut() -> u32,
) -> Visit {
    let consent = consent::decide(consent, &ConsentFacts {
        cookie: request.cookie.as_deref(),
        gpc: request.gpc,
        country: request.country.as_deref(),
    });
    let page_view = skip.is_none() && request.method.eq_ignore_ascii_case("GET") && response.is_html_page();
    let browser_ids = (first_party.enabled && page_view).then(|| {
        browser_ids(first_party, &mut PageView {
            url: &request.url,
            cookie: request.cookie.as_deref(),
            marketing: consent.marketing,
            statistics: consent.statistics,
            now_ms,
            random,
        })
    });
    Visit { consent, browser_ids }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: &str) -> ResponseFacts {
        ResponseFacts { status, content_type: Some(content_type.into()), ..Default::default() }
    }

    #[test]
    fn cookies_only_for_human_html_page_views() {
        let req = RequestFacts { method: "GET".into(), url: "https://shop.example/".into(), country: Some("US".into()), ..Default::default() };
        let run = |req: &RequestFacts, resp: &ResponseFacts, skip| {
            visit(&ConsentSettings::default(), &FirstPartySettings::default(), req, resp, skip, 1, &mut || 5).browser_ids
        };
        assert_eq!(run(&req, &response(200, "text/html; charset=utf-8"), None).unwrap().set_cookies.len(), 1);
        assert_eq!(run(&req, &response(200, "Text/HTML"), None).unwrap().set_cookies.len(), 1);
        assert!(run(&req, &response(404, "text/html"), None).is_none());
        assert!(run(&req, &response(200, "application/json"), None).is_none());
        assert!(run(&req, &ResponseFacts { status: 200, ..Default::default() }, None).is_none());
        assert!(run(&req, &response(200, "text/html"), Some(SkipRule::CrawlerUserAgent)).is_none());
        let post = RequestFacts { method: "POST".into(), ..req.clone() };
        assert!(run(&post, &response(200, "text/html"), None).is_none());
        let off = FirstPartySettings { enabled: false, ..Default::default() };
        assert!(visit(&ConsentSettings::default(), &off, &req, &response(200, "text/html"), None, 1, &mut || 5).browser_ids.is_none());
    }
}
