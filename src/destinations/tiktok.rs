//! TikTok's Events API 2.0 (`POST /open_api/v1.3/event/track/`, `event_source: web`).
//!
//! Page views are batched as Meta's are. Each event carries the id Meta gets, for
//! deduplication with the TikTok pixel; the visitor's IP, user agent, `ttclid` (from the URL,
//! kept by the edge in a first-party `ttclid` cookie) and `_ttp`; and email, phone and
//! external id hashed by TikTok's rules. TikTok answers HTTP 200 with a `code` that is not 0
//! when it refuses: rate limits and server errors are retried, the rest logged with their
//! `code`, `message` and `request_id`.

use super::answer::{self, Accepted, Refusal};
use super::registry::Registration;
use super::{Destination, Dropped, Event, Limits, Mapped, PageView, Purpose};
use crate::visitor::consent::TcfVendorSetting;
use crate::config::parse::{parse_api_base, ConfigError, Get};
use crate::proxy::cookies::cookie;
use crate::destinations::meta::capi_event::REDACTED;
use crate::event::pii::{e164_phone, hash_with};
use crate::visitor::first_party::{ttclid_from_query, TTCLID};
use crate::visitor::user_data_cookie::{self, KeptKeys};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// The destination's name.
pub const NAME: &str = "tiktok";
/// Variable: the TikTok pixel code.
pub const VAR_PIXEL_CODE: &str = "TIKTOK_PIXEL_CODE";
/// Secret: the Events API access token, sent as the `Access-Token` header.
pub const VAR_ACCESS_TOKEN: &str = "TIKTOK_ACCESS_TOKEN";
/// Variable: the API host (tests point it at a mock).
pub const VAR_API_BASE: &str = "TIKTOK_API_BASE";
/// Variable: Events Manager's test event code.
pub const VAR_TEST_EVENT_CODE: &str = "TIKTOK_TEST_EVENT_CODE";
/// Default API host.
pub const DEFAULT_API_BASE: &str = "https://business-api.tiktok.com";
/// The Events API 2.0 path.
pub const TRACK_PATH: &str = "/open_api/v1.3/event/track/";
/// Most events TikTok takes in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;
/// TikTok's code for "too many requests".
const RATE_LIMIT_CODE: i64 = 40100;
/// TikTok's codes from this one up are its own server errors: worth another try.
const FIRST_SERVER_ERROR_CODE: i64 = 50000;
/// TikTok's codes for refused credentials or permissions, from TikTok API for Business's
/// return codes (<https://business-api.tiktok.com/portal/docs?id=1738373164380162>): 40001 no
/// permission for the operation, 40101 the app's credentials are invalid, 40102 the
/// authorization is invalid or expired, 40104 no access token, 40105 the access token is
/// incorrect or revoked. Every event fails until the operator fixes the token.
const CREDENTIAL_CODES: [i64; 5] = [40001, 40101, 40102, 40104, 40105];
/// What the operator must do then.
const CREDENTIAL_FIX: &str =
    "the TikTok token was refused: set TIKTOK_ACCESS_TOKEN again (a token of Events Manager for TIKTOK_PIXEL_CODE)";
/// TikTok's code for a parameter error: one bad event refuses the whole request.
const INVALID_PARAMETER_CODE: i64 = 40002;
/// The `_ttp` cookie: TikTok pixel's browser id.
const TTP: &str = "_ttp";
/// Meta's standard names that TikTok also has, under the same name.
const SAME_NAMES: [&str; 16] = [
    "ViewContent", "AddToCart", "AddToWishlist", "InitiateCheckout", "AddPaymentInfo", "Purchase", "CompleteRegistration",
    "Search", "Lead", "Contact", "Subscribe", "StartTrial", "Schedule", "FindLocation", "SubmitApplication", "CustomizeProduct",
];
/// Meta's names TikTok spells otherwise.
const RENAMED: [(&str, &str); 1] = [("PageView", "Pageview")];
/// TikTok's names for a product's fields, in `properties.contents`.
const CONTENT_KEYS: super::ItemKeys = super::ItemKeys { id: "content_id", quantity: "quantity", price: "price", name: "content_name" };

/// Variable: TikTok's IAB TCF Global Vendor List id, or `none`.
pub const VAR_TCF_VENDOR: &str = "CONSENT_TCF_VENDOR_TIKTOK";
// TikTok's Global Vendor List id is left unset by default: it is not in the copies of the
// list tagrelay was checked against (docs/consent.md), so the purposes alone decide.

/// The match keys the stats page's Match quality panel counts for TikTok, in its order.
pub const MATCH_KEYS: [&str; 7] = ["email", "phone", "external_id", "ttp", "ttclid", "ip", "user_agent"];

/// TikTok's registration ([`super::registry`]).
pub const REGISTRATION: Registration = Registration {
    name: NAME,
    vars: &[VAR_PIXEL_CODE, VAR_ACCESS_TOKEN, VAR_API_BASE, VAR_TEST_EVENT_CODE],
    match_keys: &MATCH_KEYS,
    tcf_vendor: TcfVendorSetting { var: VAR_TCF_VENDOR, default: None },
    parse: Some(|get| TikTok::parse(get).map(|r| r.map(|d| Box::new(d) as Box<dyn Destination>))),
};

/// TikTok settings.
#[derive(Clone, PartialEq, Eq)]
pub struct TikTok {
    pixel_code: String,
    access_token: Option<String>,
    base: String,
    test_event_code: Option<String>,
}

impl fmt::Debug for TikTok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTok").field("pixel_code", &self.pixel_code).field("base", &self.base).finish_non_exhaustive()
    }
}

impl TikTok {
    /// The settings; `None` when TikTok is not configured (neither pixel code nor token set).
    pub fn parse(get: Get<'_>) -> Option<Result<TikTok, ConfigError>> {
        let expected = "the Events API access token exactly as TikTok Events Manager shows it";
        super::id_and_secret(get, VAR_PIXEL_CODE, VAR_ACCESS_TOKEN, expected).map(|r| r.and_then(|(code, token)| TikTok::parse_set(get, code, token)))
    }

    fn parse_set(get: Get<'_>, code: Option<String>, access_token: Option<String>) -> Result<TikTok, ConfigError> {
        const EXPECTED: &str = "the pixel code from TikTok Events Manager (letters and digits)";
        let pixel_code = code.ok_or_else(|| ConfigError::invalid(VAR_PIXEL_CODE, EXPECTED, ""))?;
        if pixel_code.len() > 64 || !pixel_code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::invalid(VAR_PIXEL_CODE, EXPECTED, &pixel_code));
        }
        let base = parse_api_base(get, VAR_API_BASE, DEFAULT_API_BASE, "an http(s) URL such as https://business-api.tiktok.com")?;
        let test_event_code = get(VAR_TEST_EVENT_CODE)?;
        if let Some(c) = &test_event_code {
            if c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::invalid(VAR_TEST_EVENT_CODE, "the test event code from TikTok Events Manager (letters and digits)", c));
            }
        }
        Ok(TikTok { pixel_code, access_token, base, test_event_code })
    }
}

impl Destination for TikTok {
    fn name(&self) -> &'static str {
        NAME
    }

    fn purpose(&self) -> Purpose {
        Purpose::Marketing
    }

    fn dedups_with_browser_pixel(&self) -> bool {
        true
    }

    fn account_id(&self) -> &str {
        &self.pixel_code
    }


    fn limits(&self) -> Limits {
        Limits { events_per_request: MAX_EVENTS_PER_REQUEST, page_views_per_request: usize::MAX, page_views_per_send: usize::MAX }
    }

    fn map(&self, page: &PageView<'_>, events: &[Event<'_>]) -> (Option<Mapped>, Vec<Dropped>) {
        let cookies = page.request.cookie.as_deref().unwrap_or("");
        let ttclid = page
            .visit
            .browser_ids
            .as_ref()
            .and_then(|ids| ids.ttclid.clone())
            .or_else(|| ttclid_from_query(&page.request.url).map(str::to_string))
            .or_else(|| cookie(cookies, TTCLID).map(str::to_string));
        let ttp = cookie(cookies, TTP).filter(|v| !v.is_empty() && v.len() <= 200);
        let shown = |v: &str| if page.redact { REDACTED.to_string() } else { v.to_string() };
        let mut user = Map::new();
        if let Some(ip) = page.ip {
            user.insert("ip".into(), json!(shown(ip)));
        }
        if let Some(ua) = page.user_agent {
            user.insert("user_agent".into(), json!(shown(ua)));
        }
        if let Some(t) = ttclid {
            user.insert("ttclid".into(), json!(shown(&t)));
        }
        if let Some(t) = ttp {
            user.insert("ttp".into(), json!(shown(t)));
        }
        let mut mapped = Mapped { names: Vec::new(), ids: Vec::new(), part: String::new(), keys: Vec::new() };
        let mut items = Vec::with_capacity(events.len());
        for event in events {
            let name = event_name(&event.header.event_name);
            let mut user = user.clone();
            if !page.replay && !event.header.user_data.is_empty() {
                hashed_user_data(event, &mut user);
            } else if let Some(kept) = &page.visit.kept {
                kept_user_data(kept, &mut user);
            }
            let location = page.event_url(event.header);
            let mut page_json = Map::new();
            page_json.insert("url".into(), json!(page.shown(&location)));
            if let Some(r) = page.referrer {
                page_json.insert("referrer".into(), json!(page.shown(r)));
            }
            let mut item = Map::new();
            item.insert("event".into(), json!(name));
            item.insert("event_time".into(), json!(page.now_ms / 1000));
            item.insert("event_id".into(), json!(event.id));
            mapped.keys.push(MATCH_KEYS.iter().copied().filter(|k| user.contains_key(*k)).collect());
            item.insert("user".into(), Value::Object(user));
            item.insert("page".into(), Value::Object(page_json));
            let properties = properties(event);
            if !properties.is_empty() {
                item.insert("properties".into(), Value::Object(properties));
            }
            // `serde_json::to_string`, not `Display`: it writes bytes at once, not through a formatter.
            items.push(serde_json::to_string(&Value::Object(item)).unwrap_or_default());
            mapped.names.push(name);
            mapped.ids.push(event.id.to_string());
        }
        mapped.part = items.join(",");
        (Some(mapped), Vec::new())
    }

    fn url(&self) -> String {
        format!("{}{TRACK_PATH}", self.base)
    }

    fn shown_url(&self) -> String {
        self.url()
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.access_token.iter().map(|t| ("access-token", t.clone())).collect()
    }

    fn body(&self, parts: &[&str]) -> String {
        let mut body = format!(r#"{{"event_source":"web","event_source_id":{}"#, json!(self.pixel_code));
        if let Some(code) = &self.test_event_code {
            body.push_str(&format!(r#","test_event_code":{}"#, json!(code)));
        }
        body.push_str(r#","data":["#);
        body.push_str(&parts.join(","));
        body.push_str("]}");
        body
    }

    fn read_answer(&self, status: u16, body: &str) -> Result<Accepted, Refusal> {
        read_answer(status, body)
    }

    fn missing_setting(&self) -> Option<&'static str> {
        self.access_token.is_none().then_some("TIKTOK_ACCESS_TOKEN is not set")
    }
}

#[derive(Deserialize)]
struct Answer {
    code: Option<i64>,
    message: Option<String>,
    request_id: Option<String>,
}

/// Reads TikTok's answer: `{"code":0,"message":"OK","request_id":…}` is success; any other
/// code is a refusal, even with HTTP 200.
pub fn read_answer(status: u16, body: &str) -> Result<Accepted, Refusal> {
    let answer: Option<Answer> = serde_json::from_str(body).ok();
    let (code, message, request_id) = answer.map_or((None, None, None), |a| (a.code, a.message, a.request_id));
    if (200..300).contains(&status) && code == Some(0) {
        return Ok(Accepted { fields: vec![("request_id", json!(request_id))] });
    }
    let message = message.map(|m| Refusal::shorten(&m)).or_else(|| {
        Some(if (200..300).contains(&status) { "the answer has no code 0".into() } else { Refusal::shorten(body.trim()) })
    });
    Err(Refusal {
        status,
        code,
        subcode: None,
        message,
        transient: code.is_some_and(|c| c == RATE_LIMIT_CODE || c >= FIRST_SERVER_ERROR_CODE),
        splittable: code == Some(INVALID_PARAMETER_CODE),
        details: vec![("request_id", json!(request_id))],
        operator_fix: (code.is_some_and(|c| CREDENTIAL_CODES.contains(&c)) || answer::refused_credentials(status)).then_some(CREDENTIAL_FIX),
    })
}

/// TikTok's name for a header event: its standard names, else the origin's (TikTok takes
/// custom events).
pub fn event_name(name: &str) -> String {
    if SAME_NAMES.contains(&name) {
        return name.to_string();
    }
    RENAMED.iter().find(|(meta, _)| *meta == name).map_or_else(|| name.to_string(), |(_, t)| (*t).to_string())
}

/// `email`, `phone` and `external_id`, SHA-256 by TikTok's rules: email trimmed and
/// lowercase, phone in E.164, external id trimmed. The first valid value of each.
fn hashed_user_data(event: &Event<'_>, user: &mut Map<String, Value>) {
    for (key, values) in &event.header.user_data {
        let (field, normalize): (&str, fn(&str) -> Option<String>) = match key.as_str() {
            "em" => ("email", |v| Some(v.trim().to_lowercase()).filter(|e| e.contains('@'))),
            "ph" => ("phone", e164_phone),
            "external_id" => ("external_id", |v| Some(v.trim().to_string()).filter(|s| !s.is_empty())),
            _ => continue,
        };
        let hash = values.iter().find_map(|v| hash_with(v, normalize));
        if let Some(h) = hash {
            user.insert(field.into(), json!(h));
        }
    }
}

/// The visitor's kept match keys (`_tr_ud`), for an event whose header has none: TikTok's
/// e-mail hash is Meta's (trimmed, lowercase), its phone the E.164 one, its external id Meta's.
fn kept_user_data(kept: &KeptKeys, user: &mut Map<String, Value>) {
    for (field, key) in [("email", "em"), ("phone", user_data_cookie::E164_PHONE), ("external_id", "external_id")] {
        if let Some(hash) = kept.get(key) {
            user.insert(field.into(), json!(hash));
        }
    }
}

/// `properties`: `currency`, `value`, `contents` (`content_id`, `content_name`, `price`,
/// `quantity`; a single item takes `content_name` as its name), `content_type`, `order_id`,
/// `query`.
fn properties(event: &Event<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(data) = &event.header.custom_data else { return out };
    for (from, to) in [("currency", "currency"), ("value", "value"), ("content_type", "content_type"), ("order_id", "order_id"), ("search_string", "query")] {
        if let Some(v) = data.get(from).filter(|v| v.is_string() || v.is_number()) {
            out.insert(to.into(), if to == "order_id" { json!(super::text(v)) } else { v.clone() });
        }
    }
    let contents: Vec<Value> = super::items(data).into_iter().map(|item| item.into_json(CONTENT_KEYS)).collect();
    if !contents.is_empty() {
        out.insert("contents".into(), Value::Array(contents));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::pii::sha256_hex;

    #[test]
    fn names_map_to_tiktoks_standard_events() {
        assert_eq!(event_name("PageView"), "Pageview");
        assert_eq!(event_name("Purchase"), "Purchase");
        assert_eq!(event_name("ViewContent"), "ViewContent");
        assert_eq!(event_name("MyCustom"), "MyCustom");
    }

    #[test]
    fn user_data_is_hashed_by_tiktoks_rules_and_properties_are_mapped() {
        let events = crate::event::header::decode(
            r#"{"event_name":"Purchase","custom_data":{"currency":"EUR","value":"9.5","order_id":77,"content_type":"product","search_string":"x"},"contents":[{"id":3,"quantity":2,"item_price":4.75,"title":"Fregola"}],"user_data":{"em":["  Test@Example.COM "],"ph":"+1 (213) 373-4253","external_id":" u-1 ","fn":"Ann"}}"#,
        )
        .unwrap();
        let event = Event { header: &events[0], id: "e-1" };
        let mut user = Map::new();
        hashed_user_data(&event, &mut user);
        // TikTok's examples: email trimmed and lowercase, phone in E.164, then SHA-256.
        assert_eq!(user["email"], json!(sha256_hex("test@example.com")));
        assert_eq!(user["phone"], json!(sha256_hex("+12133734253")));
        assert_eq!(user["external_id"], json!(sha256_hex("u-1")));
        assert!(user.get("fn").is_none(), "TikTok takes no name");
        assert_eq!(
            Value::Object(properties(&event)),
            json!({"currency": "EUR", "value": 9.5, "content_type": "product", "order_id": "77", "query": "x",
                   "contents": [{"content_id": "3", "content_name": "Fregola", "price": 4.75, "quantity": 2}]})
        );
    }

    #[test]
    fn a_code_other_than_zero_is_a_refusal_classified_by_code() {
        let ok = read_answer(200, r#"{"code":0,"message":"OK","request_id":"r1","data":{}}"#).unwrap();
        assert_eq!(ok.fields, vec![("request_id", json!("r1"))]);
        let limited = read_answer(200, r#"{"code":40100,"message":"Too many requests","request_id":"r2"}"#).unwrap_err();
        assert!(limited.transient && !limited.splittable);
        assert_eq!(limited.operator_fix, None);
        for code in CREDENTIAL_CODES {
            let refused = read_answer(200, &format!(r#"{{"code":{code},"message":"Access token is incorrect or has been revoked."}}"#)).unwrap_err();
            assert_eq!(refused.operator_fix, Some(CREDENTIAL_FIX), "{code}");
            assert!(!refused.transient && !refused.splittable, "{code}");
        }
        assert_eq!(read_answer(401, "Unauthorized").unwrap_err().operator_fix, Some(CREDENTIAL_FIX));
        assert_eq!(read_answer(200, r#"{"code":40002,"message":"bad event"}"#).unwrap_err().operator_fix, None);
        assert_eq!((limited.code, limited.message.as_deref()), (Some(40100), Some("Too many requests")));
        let server = read_answer(200, r#"{"code":50002,"message":"Internal error"}"#).unwrap_err();
        assert!(server.transient);
        let invalid = read_answer(200, r#"{"code":40002,"message":"Invalid param","request_id":"r3"}"#).unwrap_err();
        assert!(!invalid.transient && invalid.splittable);
        assert_eq!(invalid.details, vec![("request_id", json!("r3"))]);
        let token = read_answer(200, r#"{"code":40105,"message":"Access token invalid"}"#).unwrap_err();
        assert!(!token.transient && !token.splittable);
        let gateway = read_answer(502, "<html>bad gateway</html>").unwrap_err();
        assert_eq!((gateway.status, gateway.code), (502, None));
        assert!(read_answer(200, "not json").is_err(), "no code 0: not taken as delivered");
    }
}
