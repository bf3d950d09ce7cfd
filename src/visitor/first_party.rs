//! Meta's browser ids, `_fbp` and `_fbc`, set as first-party cookies by the edge the way
//! Meta's Parameter Builder (facebook/capi-param-builder) sets them from a server: a cookie
//! set in an HTTP response is not capped at 7 days by Safari, as one set by script is.
//!
//! - `_fbp`: when the visitor has no valid one, `fb.<subdomain index>.<ms>.<random>`.
//! - `_fbc`: when the URL carries a `fbclid` other than the cookie's,
//!   `fb.<subdomain index>.<ms>.<fbclid byte for byte>`.
//! - An explicit denial of marketing expires both.
//!
//! With GA4 on, `_ga` too, as Google's tag sets it (`GA1.1.<random>.<seconds>`), when the
//! visitor has none and has agreed to statistics (an explicit denial expires it); with TikTok
//! on, a `ttclid` from the URL is kept in a first-party `ttclid` cookie for 30 days, with
//! marketing consent.
//!
//! Every cookie is written by [`set_cookie`], the one cookie writer.

use super::consent::Verdict;
use super::registrable_domain::{cookie_scope, CookieScope};
use crate::visitor::click_ids::{self, fbclid_from_query, fbclid_of, is_valid_meta_id, meta_id};
use crate::proxy::cookies::cookie;
use crate::proxy::upstream::{host_of, path_and_query};

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
/// The largest random part of a new `_fbp` or `_ga` (Meta and Google use a 31-bit number).
pub const FBP_RANDOM_MAX: u32 = 2_147_483_647;
/// `_ga`: GA4's client id cookie.
pub const GA: &str = "_ga";
/// Two years, as Google's tag keeps `_ga`.
pub const GA_MAX_AGE_SECONDS: u32 = 63_072_000;
/// `ttclid`: TikTok's click id, kept first-party.
pub const TTCLID: &str = "ttclid";
/// 30 days, as TikTok's pixel keeps its click id.
pub const TTCLID_MAX_AGE_SECONDS: u32 = 2_592_000;
/// Longest `ttclid` accepted.
const MAX_TTCLID_LEN: usize = 500;

/// `FIRST_PARTY_COOKIES` and `COOKIE_DOMAIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstPartySettings {
    /// On by default.
    pub enabled: bool,
    /// The shop's cookie domain, overriding the computed registrable domain.
    pub cookie_domain: Option<String>,
    /// GA4 is on: `_ga` is set too.
    pub ga: bool,
    /// TikTok is on: `ttclid` is kept too.
    pub ttclid: bool,
}

impl Default for FirstPartySettings {
    fn default() -> Self {
        FirstPartySettings { enabled: true, cookie_domain: None, ga: false, ttclid: false }
    }
}

/// The browser ids of one page view and the cookies that make them stick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserIds {
    /// `fbp` for the event.
    pub fbp: Option<String>,
    /// `fbc` for the event.
    pub fbc: Option<String>,
    /// The GA4 client id of a `_ga` set on this response (`None`: the cookie's, if any).
    pub ga_client_id: Option<String>,
    /// The TikTok click id of a `ttclid` set on this response.
    pub ttclid: Option<String>,
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
    /// The visitor's statistics consent.
    pub statistics: Verdict,
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
    // The scope is worked out only when a cookie is written: most page views write none.
    let mut scope_cache = None;
    let mut writer = Writer { scope: &mut scope_cache, url: view.url, configured: settings.cookie_domain.as_deref(), secure: view.url.starts_with("https:") };
    let mut ids = BrowserIds::default();
    meta_ids(header, view, &mut writer, &mut ids);
    if settings.ga {
        ga_id(header, view, &mut writer, &mut ids);
    }
    if settings.ttclid {
        tiktok_click(header, view, &mut writer, &mut ids);
    }
    ids
}

/// Writes cookies on the registrable domain of the page (worked out once, when needed).
struct Writer<'a> {
    scope: &'a mut Option<CookieScope>,
    url: &'a str,
    configured: Option<&'a str>,
    secure: bool,
}

impl Writer<'_> {
    fn scope(&mut self) -> CookieScope {
        self.scope.get_or_insert_with(|| scope_of(self.url, self.configured)).clone()
    }

    fn set(&mut self, ids: &mut BrowserIds, name: &str, value: &str, max_age: u32) {
        let scope = self.scope();
        ids.set_cookies.push(set_cookie(name, value, max_age, &scope, self.secure, Reader::Pixel));
    }
}

/// `_fbp` and `_fbc` (see the module's rules).
fn meta_ids(header: &str, view: &mut PageView<'_, '_>, writer: &mut Writer<'_>, ids: &mut BrowserIds) {
    let (cookie_fbp, cookie_fbc) = (cookie(header, FBP), cookie(header, FBC));
    if !view.marketing.granted() {
        if view.marketing.explicitly_denied() {
            for (name, present) in [(FBP, cookie_fbp.is_some()), (FBC, cookie_fbc.is_some())] {
                if present {
                    writer.set(ids, name, "", 0);
                }
            }
        }
        return;
    }
    match click_ids::fbp(cookie_fbp) {
        Some(v) => ids.fbp = Some(v),
        None => {
            let scope = writer.scope();
            let value = meta_id(scope.subdomain_index, view.now_ms, (view.random)().min(FBP_RANDOM_MAX));
            writer.set(ids, FBP, &value, MAX_AGE_SECONDS);
            ids.fbp = Some(value);
        }
    }
    let query = path_and_query(view.url).split_once('?').map_or("", |(_, q)| q);
    let valid_fbc = cookie_fbc.filter(|v| is_valid_meta_id(v));
    match (fbclid_from_query(query), valid_fbc) {
        (Some(click), current) if current.and_then(fbclid_of) != Some(click) => {
            let scope = writer.scope();
            let value = meta_id(scope.subdomain_index, view.now_ms, click);
            writer.set(ids, FBC, &value, MAX_AGE_SECONDS);
            ids.fbc = Some(value);
        }
        (_, current) => ids.fbc = current.map(str::to_string),
    }
}

/// `_ga`: kept when valid, minted when missing with statistics agreed to, expired on an
/// explicit denial.
fn ga_id(header: &str, view: &mut PageView<'_, '_>, writer: &mut Writer<'_>, ids: &mut BrowserIds) {
    let current = cookie(header, GA);
    if view.statistics.explicitly_denied() {
        if current.is_some() {
            writer.set(ids, GA, "", 0);
        }
        return;
    }
    if !view.statistics.granted() || current.and_then(client_id_of).is_some() {
        return;
    }
    let client_id = format!("{}.{}", (view.random)().min(FBP_RANDOM_MAX), view.now_ms / 1000);
    writer.set(ids, GA, &format!("GA1.1.{client_id}"), GA_MAX_AGE_SECONDS);
    ids.ga_client_id = Some(client_id);
}

/// `ttclid`: a new click id in the URL is kept, with marketing agreed to; an explicit denial
/// expires it.
fn tiktok_click(header: &str, view: &mut PageView<'_, '_>, writer: &mut Writer<'_>, ids: &mut BrowserIds) {
    let current = cookie(header, TTCLID);
    if view.marketing.explicitly_denied() {
        if current.is_some() {
            writer.set(ids, TTCLID, "", 0);
        }
        return;
    }
    if !view.marketing.granted() {
        return;
    }
    if let Some(click) = ttclid_from_query(view.url).filter(|c| current != Some(*c)) {
        writer.set(ids, TTCLID, click, TTCLID_MAX_AGE_SECONDS);
        ids.ttclid = Some(click.to_string());
    }
}

/// The raw `ttclid` query parameter of `url`, when it is a plain token.
pub fn ttclid_from_query(url: &str) -> Option<&str> {
    let query = path_and_query(url).split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("ttclid="))
        .filter(|v| !v.is_empty() && v.len() <= MAX_TTCLID_LEN && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

/// The cookie scope of `url`'s host.
fn scope_of(url: &str, configured: Option<&str>) -> CookieScope {
    cookie_scope(&host_of(url).to_ascii_lowercase(), configured)
}

/// Who reads a cookie besides the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The platforms' browser pixels too (`_fbp`, `_ga`, ...): never `HttpOnly`.
    Pixel,
    /// The edge alone (`_tr_ud`): `HttpOnly`, out of reach of any script on the page.
    EdgeOnly,
}

/// The one cookie writer: a `Set-Cookie` value on the scope's domain, `Path=/`,
/// `SameSite=Lax`, `Secure` on https, `HttpOnly` when only the edge reads it. `max_age` 0
/// expires the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: u32, scope: &CookieScope, secure: bool, reader: Reader) -> String {
    let mut out = format!("{name}={value}; Max-Age={max_age}; Path=/");
    if let Some(domain) = &scope.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out.push_str("; SameSite=Lax");
    if secure {
        out.push_str("; Secure");
    }
    if reader == Reader::EdgeOnly {
        out.push_str("; HttpOnly");
    }
    out
}

/// A `Set-Cookie` value for a cookie of the page at `url`, on its registrable domain (or
/// `COOKIE_DOMAIN`), through [`set_cookie`].
pub fn cookie_for_page(settings: &FirstPartySettings, url: &str, name: &str, value: &str, max_age: u32, reader: Reader) -> String {
    let scope = scope_of(url, settings.cookie_domain.as_deref());
    set_cookie(name, value, max_age, &scope, url.starts_with("https:"), reader)
}

/// `<a>.<b>` of a `_ga` value `GA1.<n>.<a>.<b>`, when both are digits.
pub fn client_id_of(ga: &str) -> Option<&str> {
    let rest = ga.strip_prefix("GA1.")?;
    let (_, id) = rest.split_once('.')?;
    let (a, b) = id.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit());
    (digits(a) && digits(b)).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitor::consent::{DenialRule, Source};

    const NOW: u64 = 1_764_000_000_123;
    const GRANTED: Verdict = Verdict::Granted(Source::Region);

    fn ids(url: &str, cookie: Option<&str>, marketing: Verdict) -> BrowserIds {
        browser_ids(&FirstPartySettings::default(), &mut PageView { url, cookie, marketing, statistics: marketing, now_ms: NOW, random: &mut || 42 })
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
        let settings = FirstPartySettings { enabled: true, cookie_domain: Some("shop.example.it".into()), ..Default::default() };
        let got = browser_ids(&settings, &mut PageView { url: "https://www.shop.example.it/", cookie: None, marketing: GRANTED, statistics: GRANTED, now_ms: NOW, random: &mut || 7 });
        assert_eq!(got.set_cookies, ["_fbp=fb.2.1764000000123.7; Max-Age=7776000; Path=/; Domain=shop.example.it; SameSite=Lax; Secure"]);
    }

    #[test]
    fn ga_client_id_is_minted_once_with_statistics_consent() {
        let on = FirstPartySettings { ga: true, ..Default::default() };
        let run = |cookie: Option<&str>, statistics: Verdict| {
            browser_ids(&on, &mut PageView { url: "https://www.spesati.it/", cookie, marketing: GRANTED, statistics, now_ms: NOW, random: &mut || 42 })
        };
        let fresh = run(Some("_fbp=fb.1.1700000000000.1"), GRANTED);
        assert_eq!(fresh.ga_client_id.as_deref(), Some("42.1764000000"));
        assert_eq!(fresh.set_cookies, ["_ga=GA1.1.42.1764000000; Max-Age=63072000; Path=/; Domain=spesati.it; SameSite=Lax; Secure"]);
        let returning = run(Some("_fbp=fb.1.1700000000000.1; _ga=GA1.1.42.1764000000"), GRANTED);
        assert!(returning.set_cookies.is_empty() && returning.ga_client_id.is_none(), "the cookie's id is used as it is");
        let waiting = run(Some("_fbp=fb.1.1700000000000.1"), Verdict::Denied(DenialRule::NoConsent, Source::Region));
        assert!(waiting.set_cookies.is_empty() && waiting.ga_client_id.is_none());
        let denied = run(Some("_fbp=fb.1.1700000000000.1; _ga=GA1.1.1.2"), Verdict::Denied(DenialRule::ConsentDenied, Source::Cookiebot));
        assert_eq!(denied.set_cookies, ["_ga=; Max-Age=0; Path=/; Domain=spesati.it; SameSite=Lax; Secure"]);
    }

    #[test]
    fn ttclid_is_kept_thirty_days_with_marketing_consent() {
        let on = FirstPartySettings { ttclid: true, ..Default::default() };
        let run = |url: &str, cookie: Option<&str>, marketing: Verdict| {
            browser_ids(&on, &mut PageView { url, cookie, marketing, statistics: marketing, now_ms: NOW, random: &mut || 42 })
        };
        let fbp = "_fbp=fb.1.1700000000000.1";
        let click = run("https://shop.example/?ttclid=E.C.P.abc-1_2", Some(fbp), GRANTED);
        assert_eq!(click.ttclid.as_deref(), Some("E.C.P.abc-1_2"));
        assert_eq!(click.set_cookies, ["ttclid=E.C.P.abc-1_2; Max-Age=2592000; Path=/; Domain=shop.example; SameSite=Lax; Secure"]);
        assert!(run("https://shop.example/?ttclid=E.C.P.abc-1_2", Some(&format!("{fbp}; ttclid=E.C.P.abc-1_2")), GRANTED).set_cookies.is_empty());
        assert!(run("https://shop.example/?ttclid=x", Some(fbp), Verdict::Denied(DenialRule::NoConsent, Source::Region)).set_cookies.is_empty());
        assert_eq!(ttclid_from_query("https://s.example/p?a=1&ttclid=<script>"), None);
    }
}
