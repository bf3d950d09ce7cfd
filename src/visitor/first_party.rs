//! Meta's browser ids, `_fbp` and `_fbc`, set as first-party cookies by the edge the way
//! Meta's Parameter Builder (facebook/capi-param-builder) sets them from a server: a cookie
//! set in an HTTP response is not capped at 7 days by Safari, as one set by script is.
//!
//! - `_fbp`: when the visitor has no valid one, `fb.<subdomain index>.<ms>.<random>`.
//! - `_fbc`: when the URL carries a `fbclid` other than the cookie's,
//!   `fb.<subdomain index>.<ms>.<fbclid byte for byte>`.
//! - An explicit denial of marketing expires both.
//!
//! Every cookie is written by [`set_cookie`], the one cookie writer.

use super::consent::Verdict;
use super::registrable_domain::{cookie_scope, CookieScope};
use crate::click_ids::{self, fbclid_from_query, fbclid_of, is_valid_meta_id, meta_id};
use crate::cookies::cookie;
use crate::upstream::{host_of, path_and_query};

/// `_fbp`.
pub const FBP: &str = "_fbp";
/// `_fbc`.
pub const FBC: &str = "_fbc";
/// `FIRST_PARTY_COOKIES`.
pub const VAR_FIRST_PARTY_COOKIES: &str = "FIRST_PARTY_COOKIES";
/// `COOKIE_DOMAIN`.
pub const VAR_COOKIE_DOMAIN: &str = "COOKIE_DOMAIN";
/// 90 days, as Meta's pixel and Parameter Builder keep them.
pub const MAX_AGE_SECONDS: u32 = 7_776_000;
/// The largest random part of a new `_fbp` (Meta uses a 31-bit number).
pub const FBP_RANDOM_MAX: u32 = 2_147_483_647;

/// `FIRST_PARTY_COOKIES` and `COOKIE_DOMAIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPartySettings {
    /// On by default.
    pub enabled: bool,
    /// The shop's cookie domain, overriding the computed registrable domain.
    pub cookie_domain: Option<String>,
}

impl Default for FirstPartySettings {
    fn default() -> Self {
        FirstPartySettings { enabled: true, cookie_domain: None }
    }
}

/// The browser ids of one page view and the cookies that make them stick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserIds {
    /// `fbp` for the event.
    pub fbp: Option<String>,
    /// `fbc` for the event.
    pub fbc: Option<String>,
    /// `Set-Cookie` values to add to the response.
    pub set_cookies: Vec<String>,
}

/// What [`browser_ids`] reads from the page view.
pub struct PageView<'a, 'r> {
    /// The URL the browser asked for.
    pub url: &'a str,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The visitor's marketing consent.
    pub marketing: Verdict,
    /// Now, in Unix ms (the ids' creation time).
    pub now_ms: u64,
    /// Draws the random part of a new `_fbp` (at most [`FBP_RANDOM_MAX`]); called only when
    /// one is created.
    pub random: &'r mut dyn FnMut() -> u32,
}

/// The ids and cookies of a human page view (a GET answered 2xx `text/html`: the caller
/// checks that). Marketing granted: existing valid ids are kept, missing or invalid ones
/// created. Explicitly denied: existing ones are expired and none is used. No consent yet
/// (in a country that requires it): nothing is set, expired or used.
pub fn browser_ids(settings: &FirstPartySettings, view: &mut PageView<'_, '_>) -> BrowserIds {
    let header = view.cookie.unwrap_or("");
    let (cookie_fbp, cookie_fbc) = (cookie(header, FBP), cookie(header, FBC));
    // The scope is worked out only when a cookie is written: most page views write none.
    let mut scope_cache = None;
    let mut scope = || scope_cache.get_or_insert_with(|| scope_of(view.url, settings.cookie_domain.as_deref())).clone();
    let secure = view.url.starts_with("https:");
    if !view.marketing.granted() {
        let mut ids = BrowserIds::default();
        if view.marketing.explicitly_denied() {
            for (name, present) in [(FBP, cookie_fbp.is_some()), (FBC, cookie_fbc.is_some())] {
                if present {
                    ids.set_cookies.push(set_cookie(name, "", 0, &scope(), secure));
                }
            }
        }
        return ids;
    }
    let mut ids = BrowserIds::default();
    match click_ids::fbp(cookie_fbp) {
        Some(v) => ids.fbp = Some(v),
        None => {
            let scope = scope();
            let value = meta_id(scope.subdomain_index, view.now_ms, (view.random)().min(FBP_RANDOM_MAX));
            ids.set_cookies.push(set_cookie(FBP, &value, MAX_AGE_SECONDS, &scope, secure));
            ids.fbp = Some(value);
        }
    }
    let query = path_and_query(view.url).split_once('?').map_or("", |(_, q)| q);
    let valid_fbc = cookie_fbc.filter(|v| is_valid_meta_id(v));
    match (fbclid_from_query(query), valid_fbc) {
        (Some(click), current) if current.and_then(fbclid_of) != Some(click) => {
            let scope = scope();
            let value = meta_id(scope.subdomain_index, view.now_ms, click);
            ids.set_cookies.push(set_cookie(FBC, &value, MAX_AGE_SECONDS, &scope, secure));
            ids.fbc = Some(value);
        }
        (_, current) => ids.fbc = current.map(str::to_string),
    }
    ids
}

/// The cookie scope of `url`'s host.
fn scope_of(url: &str, configured: Option<&str>) -> CookieScope {
    cookie_scope(&host_of(url).to_ascii_lowercase(), configured)
}

/// The one cookie writer: a `Set-Cookie` value readable by the browser's pixel (never
/// `HttpOnly`), `SameSite=Lax`, `Secure` on https. `max_age` 0 expires the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: u32, scope: &CookieScope, secure: bool) -> String {
    let mut out = format!("{name}={value}; Max-Age={max_age}; Path=/");
    if let Some(domain) = &scope.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out.push_str("; SameSite=Lax");
    if secure {
        out.push_str("; Secure");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitor::consent::{DenialRule, Source};

    const NOW: u64 = 1_764_000_000_123;
    const GRANTED: Verdict = Verdict::Granted(Source::Region);

    fn ids(url: &str, cookie: Option<&str>, marketing: Verdict) -> BrowserIds {
        browser_ids(&FirstPartySettings::default(), &mut PageView { url, cookie, marketing, now_ms: NOW, random: &mut || 42 })
    }

    #[test]
    fn a_new_visitor_gets_fbp_on_the_registrable_domain() {
        let got = ids("https://www.spesati.it/p/1", None, GRANTED);
        assert_eq!(got.fbp.as_deref(), Some("fb.1.1764000000123.42"));
        assert_eq!(got.fbc, None);
        assert_eq!(got.set_cookies, ["_fbp=fb.1.1764000000123.42; Max-Age=7776000; Path=/; Domain=spesati.it; SameSite=Lax; Secure"]);
    }

    #[test]
    fn a_click_sets_fbc_byte_for_byte_and_keeps_a_valid_fbp() {
        let got = ids("http://shop.co.uk/?utm_source=fb&fbclid=IwAR2F4-dbP0_l7", Some("_fbp=fb.2.1700000000000.99"), GRANTED);
        assert_eq!(got.fbp.as_deref(), Some("fb.2.1700000000000.99"));
        assert_eq!(got.fbc.as_deref(), Some("fb.2.1764000000123.IwAR2F4-dbP0_l7"));
        assert_eq!(got.set_cookies, ["_fbc=fb.2.1764000000123.IwAR2F4-dbP0_l7; Max-Age=7776000; Path=/; Domain=shop.co.uk; SameSite=Lax"]);
        // The same click again: the cookie stays as it is.
        let again = ids("http://shop.co.uk/?fbclid=IwAR2F4-dbP0_l7", Some("_fbp=fb.2.1700000000000.99; _fbc=fb.2.1700000000001.IwAR2F4-dbP0_l7"), GRANTED);
        assert!(again.set_cookies.is_empty());
        assert_eq!(again.fbc.as_deref(), Some("fb.2.1700000000001.IwAR2F4-dbP0_l7"));
    }

    #[test]
    fn invalid_ids_are_replaced() {
        let got = ids("https://127.0.0.1:8787/", Some("_fbp=junk; _fbc=fb.1.x.y"), GRANTED);
        assert_eq!(got.fbp.as_deref(), Some("fb.0.1764000000123.42"));
        assert_eq!(got.fbc, None);
        assert_eq!(got.set_cookies, ["_fbp=fb.0.1764000000123.42; Max-Age=7776000; Path=/; SameSite=Lax; Secure"]);
    }

    #[test]
    fn denial_expires_and_no_consent_leaves_alone() {
        let cookies = Some("_fbp=fb.1.1700000000000.1; _fbc=fb.1.1700000000000.x");
        let denied = ids("https://www.spesati.it/?fbclid=abc", cookies, Verdict::Denied(DenialRule::ConsentDenied, Source::Cookiebot));
        assert_eq!((denied.fbp.as_deref(), denied.fbc.as_deref()), (None, None));
        assert_eq!(denied.set_cookies, [
            "_fbp=; Max-Age=0; Path=/; Domain=spesati.it; SameSite=Lax; Secure",
            "_fbc=; Max-Age=0; Path=/; Domain=spesati.it; SameSite=Lax; Secure",
        ]);
        let gpc = ids("https://www.spesati.it/", Some("_fbp=fb.1.1700000000000.1"), Verdict::Denied(DenialRule::Gpc, Source::Gpc));
        assert_eq!(gpc.set_cookies.len(), 1);
        let waiting = ids("https://www.spesati.it/?fbclid=abc", cookies, Verdict::Denied(DenialRule::NoConsent, Source::Region));
        assert_eq!(waiting, BrowserIds::default());
    }

    #[test]
    fn cookie_domain_setting() {
        let settings = FirstPartySettings { enabled: true, cookie_domain: Some("shop.example.it".into()) };
        let got = browser_ids(&settings, &mut PageView { url: "https://www.shop.example.it/", cookie: None, marketing: GRANTED, now_ms: NOW, random: &mut || 7 });
        assert_eq!(got.set_cookies, ["_fbp=fb.2.1764000000123.7; Max-Age=7776000; Path=/; Domain=shop.example.it; SameSite=Lax; Secure"]);
    }
}
