//! Google Analytics 4 through the Measurement Protocol
//! (<https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference>).
//!
//! One request per page view (a request carries one client), at most
//! [`MAX_EVENTS_PER_REQUEST`] events. The client id comes from the `_ga` cookie (which the
//! edge sets when the visitor has none and statistics are agreed to), the session from
//! `_ga_<stream>` (GS1 or GS2). Meta's event names map to GA4's recommended ones; user data
//! is normalized by Google's rules, which differ from Meta's, and sent only with marketing
//! consent. GA4 answers 2xx even to a payload it drops: `GA4_VALIDATE=true` sends to the
//! validation server instead and logs its messages.

use super::answer::{Accepted, Refusal};
use super::registry::Registration;
use super::{Destination, Dropped, Event, Limits, Mapped, PageView, Purpose};
use crate::visitor::consent::TcfVendorSetting;
use crate::config::parse::{parse_api_base, parse_flag, ConfigError, Get};
use crate::proxy::cookies::cookie;
use crate::destinations::meta::capi_event::REDACTED;
use crate::event::pii::{e164_phone, google_email, hash_with, is_sha256_hex};
use crate::visitor::first_party::{client_id_of, GA};
use crate::visitor::user_data_cookie;
use serde_json::{json, Map, Value};
use std::fmt;

/// The destination's name.
pub const NAME: &str = "ga4";
/// Variable: the web stream's measurement id, `G-…`.
pub const VAR_MEASUREMENT_ID: &str = "GA4_MEASUREMENT_ID";
/// Secret: the stream's Measurement Protocol API secret.
pub const VAR_API_SECRET: &str = "GA4_API_SECRET";
/// Variable: the collection host.
pub const VAR_API_BASE: &str = "GA4_API_BASE";
/// Variable: `true` sends to the validation server and logs its messages.
pub const VAR_VALIDATE: &str = "GA4_VALIDATE";
/// Default collection host (`https://region1.google-analytics.com` collects in the EU).
pub const DEFAULT_API_BASE: &str = "https://www.google-analytics.com";
/// What the operator must do when GA4 refuses the request's credentials (HTTP 401 or 403).
const CREDENTIAL_FIX: &str = "GA4 refused the API secret: set GA4_API_SECRET again (a Measurement Protocol secret of the stream GA4_MEASUREMENT_ID)";
/// Most events GA4 takes in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 25;
/// Page views whose requests one send makes: each is a subrequest.
const PAGE_VIEWS_PER_SEND: usize = 8;
/// `engagement_time_msec` sent with each event: GA4 shows events without it in no report.
const ENGAGEMENT_TIME_MSEC: u64 = 100;
/// Longest event name GA4 accepts.
const MAX_NAME_CHARS: usize = 40;
/// Prefixes GA4 reserves.
const RESERVED_PREFIXES: [&str; 5] = ["_", "firebase_", "ga_", "google_", "gtag."];
/// Names GA4 reserves for its own events: the Measurement Protocol reference's list
/// (<https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference#reserved_names>;
/// its `firebase_*` names are covered by [`RESERVED_PREFIXES`]). Google drops an event so
/// named without a word, so tagrelay rejects it instead.
const RESERVED_NAMES: [&str; 32] = [
    "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure", "app_background",
    "app_clear_data", "app_exception", "app_remove", "app_store_refund", "app_store_subscription_cancel",
    "app_store_subscription_convert", "app_store_subscription_renew", "app_update", "app_upgrade",
    "dynamic_link_app_open", "dynamic_link_app_update", "dynamic_link_first_open", "error", "first_open",
    "first_visit", "in_app_purchase", "notification_dismiss", "notification_foreground", "notification_open",
    "notification_receive", "os_update", "screen_view", "session_start",
    "session_start_with_rollout", "user_engagement",
];
/// Meta's standard names and GA4's recommended ones.
const EVENT_NAMES: [(&str, &str); 10] = [
    ("PageView", "page_view"),
    ("ViewContent", "view_item"),
    ("AddToCart", "add_to_cart"),
    ("AddToWishlist", "add_to_wishlist"),
    ("InitiateCheckout", "begin_checkout"),
    ("AddPaymentInfo", "add_payment_info"),
    ("Purchase", "purchase"),
    ("Lead", "generate_lead"),
    ("CompleteRegistration", "sign_up"),
    ("Search", "search"),
];

/// Variable: GA4's IAB TCF Global Vendor List id, or `none`.
pub const VAR_TCF_VENDOR: &str = "CONSENT_TCF_VENDOR_GA4";
/// Google Advertising Products' Global Vendor List id: [`VAR_TCF_VENDOR`]'s default.
pub const GOOGLE_VENDOR_ID: u16 = 755;

/// The match keys the stats page's Match quality panel counts for GA4: the client id read from
/// an existing `_ga`, or minted by the edge on this response; the session; user data.
pub const MATCH_KEYS: [&str; 4] = ["client_id", "client_id_minted", "session_id", "user_data"];

/// GA4's registration ([`super::registry`]).
pub const REGISTRATION: Registration = Registration {
    name: NAME,
    vars: &[VAR_MEASUREMENT_ID, VAR_API_SECRET, VAR_API_BASE, VAR_VALIDATE],
    match_keys: &MATCH_KEYS,
    tcf_vendor: TcfVendorSetting { var: VAR_TCF_VENDOR, default: Some(GOOGLE_VENDOR_ID) },
    parse: Some(|get| Ga4::parse(get).map(|r| r.map(|d| Box::new(d) as Box<dyn Destination>))),
};

/// GA4 settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Ga4 {
    measurement_id: String,
    api_secret: Option<String>,
    base: String,
    validate: bool,
}

impl fmt::Debug for Ga4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ga4").field("measurement_id", &self.measurement_id).field("base", &self.base).field("validate", &self.validate).finish_non_exhaustive()
    }
}

impl Ga4 {
    /// The settings; `None` when GA4 is not configured (neither the id nor the secret set).
    pub fn parse(get: Get<'_>) -> Option<Result<Ga4, ConfigError>> {
        let expected = "the API secret exactly as GA4 shows it (Admin > Data streams > Measurement Protocol)";
        super::id_and_secret(get, VAR_MEASUREMENT_ID, VAR_API_SECRET, expected).map(|r| r.and_then(|(id, secret)| Ga4::parse_set(get, id, secret)))
    }

    fn parse_set(get: Get<'_>, id: Option<String>, api_secret: Option<String>) -> Result<Ga4, ConfigError> {
        const EXPECTED: &str = "the web stream's measurement id, G- and letters or digits (Admin > Data streams)";
        let measurement_id = id.ok_or_else(|| ConfigError::invalid(VAR_MEASUREMENT_ID, EXPECTED, ""))?;
        let valid = measurement_id.strip_prefix("G-").is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !valid {
            return Err(ConfigError::invalid(VAR_MEASUREMENT_ID, EXPECTED, &measurement_id));
        }
        let base = parse_api_base(get, VAR_API_BASE, DEFAULT_API_BASE, "an http(s) URL such as https://www.google-analytics.com or https://region1.google-analytics.com")?;
        let validate = parse_flag(get, VAR_VALIDATE, false, "true or false")?;
        Ok(Ga4 { measurement_id, api_secret, base, validate })
    }

    fn path(&self) -> &'static str {
        if self.validate { "/debug/mp/collect" } else { "/mp/collect" }
    }
}

impl Destination for Ga4 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn purpose(&self) -> Purpose {
        Purpose::Statistics
    }

    fn account_id(&self) -> &str {
        &self.measurement_id
    }


    fn limits(&self) -> Limits {
        Limits { events_per_request: MAX_EVENTS_PER_REQUEST, page_views_per_request: 1, page_views_per_send: PAGE_VIEWS_PER_SEND }
    }

    fn map(&self, page: &PageView<'_>, events: &[Event<'_>]) -> (Option<Mapped>, Vec<Dropped>) {
        let mut dropped = Vec::new();
        let drop_all = |reason: &str| -> Vec<Dropped> {
            events.iter().map(|e| Dropped { event_id: e.id.to_string(), event_name: e.header.event_name.clone(), reason: reason.to_string() }).collect()
        };
        let Some(client_id) = client_id(page) else {
            return (None, drop_all("the visitor has no GA4 client id: no valid _ga cookie, and the edge sets none (FIRST_PARTY_COOKIES is off, or statistics were not agreed to)"));
        };
        let session_id = cookie(page.request.cookie.as_deref().unwrap_or(""), &format!("_ga_{}", &self.measurement_id[2..])).and_then(session_id);
        let mut mapped = Mapped { names: Vec::new(), ids: Vec::new(), part: String::new(), keys: Vec::new() };
        let mut items = Vec::new();
        for event in events {
            let name = match event_name(&event.header.event_name) {
                Ok(name) => name,
                Err(reason) => {
                    dropped.push(Dropped { event_id: event.id.to_string(), event_name: event.header.event_name.clone(), reason });
                    continue;
                }
            };
            if items.len() == MAX_EVENTS_PER_REQUEST {
                dropped.push(Dropped {
                    event_id: event.id.to_string(),
                    event_name: event.header.event_name.clone(),
                    reason: format!("GA4 takes at most {MAX_EVENTS_PER_REQUEST} events per page view"),
                });
                continue;
            }
            items.push(json!({"name": name, "params": params(event, page, session_id)}));
            mapped.names.push(name);
            mapped.ids.push(event.id.to_string());
        }
        if items.is_empty() {
            return (None, dropped);
        }
        // Ads use of the data needs marketing consent, and no GPC opt-out (GPC_MODE=ldu).
        let ads = page.visit.consent.marketing.granted() && !page.visit.consent.limited_data_use;
        let marketing = if ads { "GRANTED" } else { "DENIED" };
        let mut body = Map::new();
        body.insert("client_id".into(), json!(if page.redact { REDACTED.to_string() } else { client_id }));
        body.insert("timestamp_micros".into(), json!(page.now_ms * 1000));
        body.insert("consent".into(), json!({"ad_user_data": marketing, "ad_personalization": marketing}));
        if let Some(ip) = page.ip {
            body.insert("ip_override".into(), json!(if page.redact { REDACTED } else { ip }));
        }
        if let Some(ua) = page.user_agent {
            body.insert("user_agent".into(), json!(if page.redact { REDACTED } else { ua }));
        }
        if ads {
            let mut data = if page.replay { Map::new() } else { user_data(events) };
            if data.is_empty() {
                data = kept_user_data(page);
            }
            if !data.is_empty() {
                body.insert("user_data".into(), Value::Object(data));
            }
        }
        // Every event of the page view carries the same keys: one client, one request.
        let minted = page.visit.browser_ids.as_ref().is_some_and(|ids| ids.ga_client_id.is_some());
        let keys: Vec<&'static str> = [
            (MATCH_KEYS[0], !minted),
            (MATCH_KEYS[1], minted),
            (MATCH_KEYS[2], session_id.is_some()),
            (MATCH_KEYS[3], body.contains_key("user_data")),
        ]
        .into_iter()
        .filter_map(|(key, carried)| carried.then_some(key))
        .collect();
        mapped.keys = vec![keys; items.len()];
        body.insert("events".into(), Value::Array(items));
        // `to_string` writes into bytes at once; `Display` goes through a formatter, slower.
        mapped.part = serde_json::to_string(&Value::Object(body)).unwrap_or_default();
        (Some(mapped), dropped)
    }

    fn url(&self) -> String {
        format!(
            "{}{}?measurement_id={}&api_secret={}",
            self.base,
            self.path(),
            self.measurement_id,
            crate::proxy::percent::encode_component(self.api_secret.as_deref().unwrap_or(""))
        )
    }

    fn shown_url(&self) -> String {
        format!("{}{}?measurement_id={}", self.base, self.path(), self.measurement_id)
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn body(&self, parts: &[&str]) -> String {
        // One page view per request (`page_views_per_request`): its part is the whole body.
        parts.first().map_or_else(String::new, |p| (*p).to_string())
    }

    fn read_answer(&self, status: u16, body: &str) -> Result<Accepted, Refusal> {
        if !(200..300).contains(&status) {
            let operator_fix = super::answer::refused_credentials(status).then_some(CREDENTIAL_FIX);
            return Err(Refusal { status, message: Some(Refusal::shorten(body.trim())), operator_fix, ..Default::default() });
        }
        if !self.validate {
            return Ok(Accepted::default());
        }
        let messages = serde_json::from_str::<Value>(body).ok().and_then(|v| v.get("validationMessages").cloned()).unwrap_or(json!([]));
        match messages.as_array().and_then(|m| m.first()) {
            None => Ok(Accepted { fields: vec![("validation_messages", messages)] }),
            Some(first) => Err(Refusal {
                status,
                message: Some(Refusal::shorten(&format!(
                    "GA4 validation: {}",
                    first.get("description").and_then(Value::as_str).unwrap_or("invalid payload")
                ))),
                details: vec![("validation_messages", messages)],
                ..Default::default()
            }),
        }
    }

    fn reads_success_body(&self) -> bool {
        // Outside validate mode, a 2xx is all GA4 says (`read_answer`).
        self.validate
    }

    fn missing_setting(&self) -> Option<&'static str> {
        self.api_secret.is_none().then_some("GA4_API_SECRET is not set")
    }
}

/// The client id: the one set on this response, else the `_ga` cookie's.
fn client_id(page: &PageView<'_>) -> Option<String> {
    if let Some(id) = page.visit.browser_ids.as_ref().and_then(|ids| ids.ga_client_id.clone()) {
        return Some(id);
    }
    cookie(page.request.cookie.as_deref().unwrap_or(""), GA).and_then(client_id_of).map(str::to_string)
}

/// The session id of a `_ga_<stream>` value: `GS1.1.<session>.…` or `GS2.1.s<session>$o…`.
pub fn session_id(value: &str) -> Option<u64> {
    let id = if let Some(rest) = value.strip_prefix("GS1.1.") {
        rest.split('.').next()?
    } else if let Some(rest) = value.strip_prefix("GS2.1.") {
        rest.split('$').find_map(|part| part.strip_prefix('s'))?
    } else {
        return None;
    };
    id.parse().ok()
}

/// GA4's name for a header event: the recommended one for Meta's standard names, else
/// snake_case within GA4's rules; an error says why a name cannot be made valid.
pub fn event_name(name: &str) -> Result<String, String> {
    if let Some((_, ga4)) = EVENT_NAMES.iter().find(|(meta, _)| *meta == name) {
        return Ok((*ga4).to_string());
    }
    let snake = snake_case(name);
    let invalid = |why: &str| Err(format!("event name {name:?} cannot be a GA4 event name ({why}); use letters, digits and underscores, starting with a letter"));
    if snake.is_empty() || !snake.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return invalid("it must start with a letter");
    }
    if snake.len() > MAX_NAME_CHARS {
        return invalid("GA4 takes at most 40 characters");
    }
    if RESERVED_PREFIXES.iter().any(|p| snake.starts_with(p)) || RESERVED_NAMES.contains(&snake.as_str()) {
        return Err(format!(
            "event name {name:?} ({snake}) is reserved by GA4 for its own events, which it drops when sent from a server; rename it, or leave ga4 out of its destinations"
        ));
    }
    Ok(snake)
}

/// `AddToCart` → `add_to_cart`, `Newsletter Signup` → `newsletter_signup`: words split at
/// case changes and non-alphanumerics, joined by `_`, lowercase ASCII.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            let boundary = c.is_ascii_uppercase() && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            if boundary && !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        prev = Some(c);
    }
    out.trim_end_matches('_').to_string()
}

/// An event's params.
fn params(event: &Event<'_>, page: &PageView<'_>, session_id: Option<u64>) -> Value {
    let mut p = Map::new();
    let location = page.event_url(event.header);
    p.insert("page_location".into(), json!(page.shown(&location)));
    if let Some(r) = page.referrer {
        p.insert("page_referrer".into(), json!(page.shown(r)));
    }
    p.insert("engagement_time_msec".into(), json!(ENGAGEMENT_TIME_MSEC));
    if let Some(id) = session_id {
        p.insert("session_id".into(), json!(id.to_string()));
    }
    if let Some(data) = &event.header.custom_data {
        for (from, to) in [("currency", "currency"), ("value", "value"), ("order_id", "transaction_id"), ("search_string", "search_term")] {
            if let Some(v) = data.get(from).filter(|v| v.is_string() || v.is_number()) {
                p.insert(to.into(), if to == "transaction_id" { json!(super::text(v)) } else { v.clone() });
            }
        }
        let items = items(data);
        if !items.is_empty() {
            p.insert("items".into(), Value::Array(items));
        }
    }
    Value::Object(p)
}

/// GA4's names for a product's fields.
const ITEM_KEYS: super::ItemKeys = super::ItemKeys { id: "item_id", quantity: "quantity", price: "price", name: "item_name" };

/// GA4 `items` (`item_id`, `quantity`, `price`, `item_name`) from the event's products.
fn items(data: &Map<String, Value>) -> Vec<Value> {
    super::items(data).into_iter().map(|item| item.into_json(ITEM_KEYS)).collect()
}

/// `user_data` from the header's user data (every event's: they are one visitor), by
/// Google's rules: email and phone hashed in lists, one address with the name hashed and
/// city, region, postal code and country in clear.
/// The visitor's kept match keys (`_tr_ud`) GA4 takes: its e-mail (by Google's rule) and
/// phone (E.164) hashes; names and address are hashed otherwise by Google, so not kept.
fn kept_user_data(page: &PageView<'_>) -> Map<String, Value> {
    let mut data = Map::new();
    let Some(kept) = &page.visit.kept else { return data };
    if let Some(email) = kept.get(user_data_cookie::GOOGLE_EMAIL).or_else(|| kept.get("em")) {
        data.insert("sha256_email_address".into(), json!([email]));
    }
    if let Some(phone) = kept.get(user_data_cookie::E164_PHONE) {
        data.insert("sha256_phone_number".into(), json!([phone]));
    }
    data
}

fn user_data(events: &[Event<'_>]) -> Map<String, Value> {
    let mut emails: Vec<String> = Vec::new();
    let mut phones: Vec<String> = Vec::new();
    let mut address = Map::new();
    for event in events {
        for (key, values) in &event.header.user_data {
            for value in values {
                match key.as_str() {
                    "em" => push_unique(&mut emails, hash_with(value, google_email)),
                    "ph" => push_unique(&mut phones, hash_with(value, e164_phone)),
                    "fn" | "ln" => {
                        let field = if key == "fn" { "sha256_first_name" } else { "sha256_last_name" };
                        if let Some(h) = hash_with(value, |v| Some(letters_only(v)).filter(|s| !s.is_empty())) {
                            address.entry(field).or_insert(json!(h));
                        }
                    }
                    "ct" | "st" => {
                        let field = if key == "ct" { "city" } else { "region" };
                        if let Some(v) = Some(letters_only(value)).filter(|s| !s.is_empty() && !is_sha256_hex(value.trim())) {
                            address.entry(field).or_insert(json!(v));
                        }
                    }
                    "zp" => {
                        let zip = value.trim();
                        if !zip.is_empty() && !is_sha256_hex(zip) {
                            address.entry("postal_code").or_insert(json!(zip));
                        }
                    }
                    "country" => {
                        let c = value.trim();
                        if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
                            address.entry("country").or_insert(json!(c.to_ascii_uppercase()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let mut data = Map::new();
    if !emails.is_empty() {
        data.insert("sha256_email_address".into(), json!(emails));
    }
    if !phones.is_empty() {
        data.insert("sha256_phone_number".into(), json!(phones));
    }
    if !address.is_empty() {
        data.insert("address".into(), json!([address]));
    }
    data
}

fn push_unique(list: &mut Vec<String>, value: Option<String>) {
    if let Some(v) = value {
        if !list.contains(&v) {
            list.push(v);
        }
    }
}

/// Names, city and region: letters and inner spaces only, lowercase, trimmed.
fn letters_only(value: &str) -> String {
    let kept: String = value.chars().filter(|c| c.is_alphabetic() || c.is_whitespace()).flat_map(char::to_lowercase).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::pii::sha256_hex;

    #[test]
    fn meta_names_map_to_recommended_ones_and_others_become_snake_case() {
        assert_eq!(event_name("ViewContent").unwrap(), "view_item");
        assert_eq!(event_name("Purchase").unwrap(), "purchase");
        assert_eq!(event_name("CompleteRegistration").unwrap(), "sign_up");
        assert_eq!(event_name("Lead").unwrap(), "generate_lead");
        assert_eq!(event_name("NewsletterSignup").unwrap(), "newsletter_signup");
        assert_eq!(event_name("Newsletter Sign-up 2").unwrap(), "newsletter_sign_up_2");
        assert_eq!(event_name("video_played").unwrap(), "video_played");
        for bad in [
            "42nd", "★", "first_visit", "ga_thing", "Google Thing", &"a".repeat(41), "screen_view", "ScreenView", "app_remove",
            "os_update", "notification_open", "dynamic_link_first_open", "firebase_campaign", "app_store_refund",
        ] {
            let err = event_name(bad).unwrap_err();
            assert!(err.contains("cannot be a GA4 event name") || err.contains("is reserved by GA4"), "{bad}: {err}");
        }
    }

    #[test]
    fn client_and_session_ids_come_from_gas_cookies() {
        assert_eq!(client_id_of("GA1.1.1234567890.1700000000"), Some("1234567890.1700000000"));
        assert_eq!(client_id_of("GA1.2.99.1"), Some("99.1"));
        for bad in ["GA2.1.1.1", "GA1.1.x.1", "GA1.1.123", "", "GA1.1..1"] {
            assert_eq!(client_id_of(bad), None, "{bad}");
        }
        assert_eq!(session_id("GS1.1.1700000123.4.1.1700000200.0.0.0"), Some(1_700_000_123));
        assert_eq!(session_id("GS2.1.s1700000123$o4$g1$t1700000200$j60$l0$h0"), Some(1_700_000_123));
        assert_eq!(session_id("GS2.1.o4$g1"), None);
        assert_eq!(session_id("junk"), None);
    }

    #[test]
    fn googles_normalization_differs_from_metas() {
        // Google's documented examples: dots removed before a gmail.com domain only.
        assert_eq!(google_email(" John.Doe@Gmail.com ").as_deref(), Some("johndoe@gmail.com"));
        assert_eq!(google_email("jane.doe@googlemail.com").as_deref(), Some("janedoe@googlemail.com"));
        assert_eq!(google_email("jane.doe@example.com").as_deref(), Some("jane.doe@example.com"));
        assert_eq!(google_email("nobody"), None);
        // E.164, where Meta wants the digits alone.
        assert_eq!(e164_phone("+1 (800) 555-0100").as_deref(), Some("+18005550100"));
        assert_eq!(e164_phone("0039 333 123 4567").as_deref(), Some("+393331234567"));
        assert_eq!(e164_phone("12"), None);
        assert_eq!(sha256_hex("+18005550100"), hash_with("+1 800 555 0100", e164_phone).unwrap());
        assert_eq!(letters_only("  Mary-Ann  O'Neil 2 "), "maryann oneil");
    }

    #[test]
    fn snake_case_handles_runs_and_separators() {
        assert_eq!(snake_case("AddToCart"), "add_to_cart");
        assert_eq!(snake_case("  spaced  out  "), "spaced_out");
        assert_eq!(snake_case("ABTest"), "abtest");
    }
}
