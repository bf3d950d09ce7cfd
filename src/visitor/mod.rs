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
pub mod user_data_cookie;

use crate::proxy::request_facts::{RequestFacts, ResponseFacts};
use crate::bots::skip_rules::SkipRule;
use consent::{ConsentDecision, ConsentFacts, ConsentSettings};
use first_party::{browser_ids, cookie_for_page, BrowserIds, FirstPartySettings, PageView, Reader};
use user_data_cookie::{KeptKeys, Unusable, UserDataCookieSettings};

/// What the edge decided about the visitor of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// Their consent.
    pub consent: ConsentDecision,
    /// Meta's first-party ids and the cookies to set, for a human page view with
    /// `FIRST_PARTY_COOKIES` on; `None` otherwise (the ids then come from the cookies as
    /// they are).
    pub browser_ids: Option<BrowserIds>,
    /// The match keys kept in `_tr_ud` (`USER_DATA_COOKIE`), signature checked, when the
    /// visitor has agreed to marketing.
    pub kept: Option<KeptKeys>,
    /// Why a `_tr_ud` cookie the visitor sent was not used (the adapter warns once).
    pub kept_unusable: Option<Unusable>,
    /// The `Set-Cookie` that expires `_tr_ud`, on an explicit denial of marketing.
    pub kept_expiry: Option<String>,
}


/// Decides consent for `request` and, for a human GET answered 2xx `text/html` (`skip` is
/// the request's skip rule, if any), the first-party ids; reads the kept match keys
/// (`user_data`). `random` is used only for a new `_fbp`.
#[allow(clippy::too_many_arguments)]
pub fn visit(
    consent: &ConsentSettings,
    first_party: &FirstPartySettings,
    user_data: Option<&UserDataCookieSettings>,
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
    let mut visit = Visit { consent, browser_ids, kept: None, kept_unusable: None, kept_expiry: None };
    if let Some(settings) = user_data {
        read_kept(&mut visit, settings, first_party, request);
    }
    visit
}

/// The `_tr_ud` cookie: expired on an explicit denial of marketing, read with consent, left
/// alone while the visitor has not answered.
fn read_kept(visit: &mut Visit, settings: &UserDataCookieSettings, first_party: &FirstPartySettings, request: &RequestFacts) {
    let Some(value) = request.cookie.as_deref().and_then(|h| crate::proxy::cookies::cookie(h, user_data_cookie::COOKIE)) else { return };
    if visit.consent.marketing.explicitly_denied() {
        visit.kept_expiry = Some(cookie_for_page(first_party, &request.url, user_data_cookie::COOKIE, "", 0, Reader::EdgeOnly));
    } else if visit.consent.marketing.granted() {
        match user_data_cookie::decode(value, settings) {
            Ok(keys) => visit.kept = Some(keys),
            Err(why) => visit.kept_unusable = Some(why),
        }
    }
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
            visit(&ConsentSettings::default(), &FirstPartySettings::default(), None, req, resp, skip, 1, &mut || 5).browser_ids
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
        assert!(visit(&ConsentSettings::default(), &off, None, &req, &response(200, "text/html"), None, 1, &mut || 5).kept_expiry.is_none());
        assert!(visit(&ConsentSettings::default(), &off, None, &req, &response(200, "text/html"), None, 1, &mut || 5).browser_ids.is_none());
    }

    #[test]
    fn the_kept_keys_cookie_is_read_with_consent_and_expired_on_a_denial() {
        let vars = [("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", "0123456789abcdef0123456789abcdef")];
        let settings = UserDataCookieSettings::parse(&|n| Ok(vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()))).unwrap().unwrap();
        let keys = KeptKeys::from_user_data(&[("em".into(), vec!["ann@example.com".into()])]);
        let cookie = format!("_tr_ud={}; cmplz_marketing=", user_data_cookie::encode(&keys, &settings));
        let req = |answer: &str, country: &str| RequestFacts {
            method: "GET".into(),
            url: "https://www.shop.example/p".into(),
            country: Some(country.into()),
            cookie: Some(format!("{cookie}{answer}")),
            ..Default::default()
        };
        let run = |r: &RequestFacts| visit(&ConsentSettings::default(), &FirstPartySettings::default(), Some(&settings), r, &response(200, "text/html"), None, 1, &mut || 5);
        assert_eq!(run(&req("allow", "IT")).kept, Some(keys.clone()));
        let denied = run(&req("deny", "IT"));
        assert_eq!(denied.kept, None);
        assert_eq!(denied.kept_expiry.as_deref(), Some("_tr_ud=; Max-Age=0; Path=/; Domain=shop.example; SameSite=Lax; Secure; HttpOnly"));
        let unanswered = run(&RequestFacts { cookie: Some(cookie.trim_end_matches("; cmplz_marketing=").into()), ..req("", "IT") });
        assert_eq!((unanswered.kept.is_none(), unanswered.kept_expiry.is_none()), (true, true), "no answer yet: left alone");
        let forged = run(&RequestFacts { cookie: Some(cookie.replace("_tr_ud=e", "_tr_ud=f") + "allow"), ..req("", "IT") });
        assert_eq!((forged.kept, forged.kept_unusable), (None, Some(user_data_cookie::Unusable::BadSignature)));
        let off = visit(&ConsentSettings::default(), &FirstPartySettings::default(), None, &req("allow", "IT"), &response(200, "text/html"), None, 1, &mut || 5);
        assert_eq!(off.kept, None, "off: never read");
    }
}
