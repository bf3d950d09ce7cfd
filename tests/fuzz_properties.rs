//! Property-based fuzzing with a fixed budget (`FUZZ_CASES` cases per property, default
//! 3,000), run by `cargo test`: the header decoder, the PII normalizer, the fbc/fbp parser
//! and the cookie parser never panic, and every accepted header yields valid CAPI events.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Value};
use tagrelay::bots::BotMatcher;
use tagrelay::visitor::click_ids::{fbc, fbclid_from_query, fbp, is_valid_meta_id};
use tagrelay::proxy::client_ip::client_ip;
use tagrelay::config::{Config as Settings, VarValue};
use tagrelay::destinations::Routes;
use tagrelay::proxy::cookies::cookie;
use tagrelay::event::decode_cache::DecodeCache;
use tagrelay::event::pii::{is_sha256_hex, normalize_and_hash};
use tagrelay::proxy::request_facts::{RequestFacts, ResponseFacts};
use tagrelay::tracking::{plan, Inputs, Outcome, Plan};
use tagrelay::visitor::user_data_cookie;
use tagrelay::event::header::{decode, ACTION_SOURCES, MAX_EVENTS};

const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";

fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    Config { cases, failure_persistence: Some(Box::new(FileFailurePersistence::Off)), ..Config::default() }
}

/// Checks one CAPI body the way the Conversions API would: the fields it requires, in the
/// forms it accepts.
fn assert_valid_capi_body(body: &Value) {
    let data = body["data"].as_array().expect("data array");
    assert!(!data.is_empty() && data.len() <= MAX_EVENTS);
    for e in data {
        let name = e["event_name"].as_str().expect("event_name");
        assert!(!name.trim().is_empty() && !name.chars().any(char::is_control));
        assert!(e["event_time"].as_u64().expect("event_time") > 1_600_000_000);
        assert!(!e["event_id"].as_str().expect("event_id").is_empty());
        let url = e["event_source_url"].as_str().expect("event_source_url");
        assert!(url.starts_with("http://") || url.starts_with("https://"));
        assert!(ACTION_SOURCES.contains(&e["action_source"].as_str().expect("action_source")));
        let user = e["user_data"].as_object().expect("user_data");
        assert!(user.contains_key("client_user_agent"));
        for (k, v) in user {
            match k.as_str() {
                "client_ip_address" => assert!(v.as_str().unwrap().parse::<std::net::IpAddr>().is_ok()),
                "client_user_agent" => assert!(!v.as_str().unwrap().is_empty()),
                "fbp" | "fbc" => assert!(is_valid_meta_id(v.as_str().unwrap()), "{k}={v}"),
                _ => {
                    let hashes = v.as_array().expect("hashed fields are arrays");
                    assert!(!hashes.is_empty());
                    for h in hashes {
                        let h = h.as_str().unwrap();
                        assert!(is_sha256_hex(h) && h == h.to_ascii_lowercase(), "{k}: {h}");
                    }
                }
            }
        }
        if let Some(cd) = e.get("custom_data") {
            let cd = cd.as_object().expect("custom_data object");
            if let Some(v) = cd.get("value") {
                assert!(v.is_number());
            }
            if let Some(c) = cd.get("currency") {
                let c = c.as_str().unwrap();
                assert!(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
            }
        }
    }
    serde_json::to_string(body).expect("serializable");
}

thread_local! {
    /// One cache for every case, as in an isolate: repeated headers take the cached path.
    static HEADERS: std::cell::RefCell<DecodeCache> = std::cell::RefCell::new(DecodeCache::default());
}

/// Meta, GA4 and TikTok, all live.
fn routes() -> &'static (Settings, Routes) {
    static ROUTES: std::sync::OnceLock<(Settings, Routes)> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| {
        let vars = [
            ("META_PIXEL_ID", "1"),
            ("META_ACCESS_TOKEN", "t"),
            ("GA4_MEASUREMENT_ID", "G-FUZZ1"),
            ("GA4_API_SECRET", "s"),
            ("TIKTOK_PIXEL_CODE", "C1"),
            ("TIKTOK_ACCESS_TOKEN", "k"),
        ];
        let config = Settings::parse(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| VarValue::Text(v.to_string()))).unwrap();
        let routes = config.routes();
        (config, routes)
    })
}

fn run_plan(header: &str, bots: &BotMatcher, cookie_header: &str, url: &str) -> Plan {
    let (config, routes) = routes();
    let meta = config.meta.as_ref().unwrap();
    let request = RequestFacts {
        method: "GET".into(),
        url: url.into(),
        user_agent: Some(BROWSER.into()),
        cf_connecting_ip: Some("203.0.113.1".into()),
        cookie: Some(cookie_header.into()),
        ..Default::default()
    };
    let response = ResponseFacts { status: 200, content_type: Some("text/html".into()), ..Default::default() };
    let skip = tagrelay::bots::skip_rules::skip_rule(&request, response.status, meta.bot_score_threshold, bots);
    let first_party = config.first_party.as_ref().unwrap();
    let visit = tagrelay::visitor::visit(&Default::default(), first_party, None, &request, &response, skip, 1_763_900_000_000, &mut || 12345);
    let mut n = 0u32;
    let mut ids = || {
        n += 1;
        format!("id-{n}")
    };
    let inputs = Inputs {
        request: &request,
        response: &response,
        skip,
        visit: &visit,
        strip: &meta.strip_query_params,
        routes: &routes.on,
        now_ms: 1_763_900_000_000,
        keep_user_data: false,
        count_conversions: true,
    };
    HEADERS.with(|cache| plan(header, &inputs, &mut cache.borrow_mut(), &mut ids))
}

/// Arbitrary JSON values, biased toward the fields the decoder knows.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        "[A-Za-z@. +0-9-]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "event_name", "event_id", "custom_data", "contents", "user_data", "event_source_url", "action_source",
            "opt_out", "data_processing_options", "value", "currency", "content_ids", "num_items", "id",
            "em", "ph", "fn", "ln", "ct", "st", "zp", "country", "db", "ge", "external_id",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

/// Headers an origin might plausibly send: an event object with random fields, plain or
/// base64url, sometimes in an array.
fn header() -> impl Strategy<Value = String> {
    (
        "[A-Za-z]{1,20}",
        prop::collection::vec((field_name(), json_value()), 0..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, fields, base64, array)| {
            let mut obj: serde_json::Map<String, Value> = fields.into_iter().collect();
            obj.insert("event_name".into(), Value::String(name));
            let value = if array { json!([Value::Object(obj)]) } else { Value::Object(obj) };
            let text = value.to_string();
            if base64 {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
            } else {
                text
            }
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decoder_never_panics_on_any_text(s in ".{0,300}") {
        let _ = decode(&s);
    }

    #[test]
    fn decoder_never_panics_on_json_like_text(s in "[\\[\\]{}\",:a-z0-9 \\\\.-]{0,200}") {
        let _ = decode(&s);
    }

    #[test]
    fn every_accepted_header_yields_valid_capi_events(h in header(), cookies in ".{0,80}", query in "[a-zA-Z0-9=&_%-]{0,40}") {
        static BOTS: std::sync::OnceLock<BotMatcher> = std::sync::OnceLock::new();
        let bots = BOTS.get_or_init(|| BotMatcher::new().unwrap());
        let url = format!("https://shop.example/p?{query}");
        match run_plan(&h, bots, &cookies, &url) {
            Plan::Route(routed) => {
                let (_, routes) = routes();
                for (route, outcome) in routes.on.iter().zip(&routed.outcomes) {
                    match outcome {
                        Outcome::Mapped { mapped: Some(mapped), .. } => {
                            let body: Value = serde_json::from_str(&route.destination.body(&[&mapped.part])).expect("a destination's body is JSON");
                            if route.destination.name() == "meta" {
                                assert_valid_capi_body(&body);
                            }
                            prop_assert_eq!(mapped.names.len(), mapped.ids.len());
                        }
                        Outcome::Mapped { mapped: None, dropped } => prop_assert!(dropped.iter().all(|d| !d.reason.is_empty())),
                        // A random cookie header may hold a consent cookie that says no.
                        Outcome::Withheld { .. } => prop_assert!(cookies.contains('=')),
                        Outcome::NotListed => {}
                    }
                }
            }
            Plan::Reject(e) => prop_assert!(!e.to_string().is_empty()),
            Plan::Skip(rule) => prop_assert!(false, "a browser was skipped: {rule}"),
        }
    }

    #[test]
    fn pii_normalizer_never_panics_and_hashes_are_hex(key in prop::sample::select(vec!["em","ph","fn","ln","ct","st","zp","country","db","ge","external_id","other"]), value in ".{0,64}") {
        if let Some(h) = normalize_and_hash(key, &value) {
            prop_assert!(is_sha256_hex(&h));
            prop_assert_eq!(h.clone(), h.to_ascii_lowercase());
        }
    }

    #[test]
    fn click_id_parsers_never_panic_and_only_return_valid_ids(c in ".{0,80}", q in ".{0,80}", now in any::<u64>()) {
        if let Some(v) = fbp(Some(&c)) { prop_assert!(is_valid_meta_id(&v)); }
        let now = now % 10_000_000_000_000;
        if let Some(v) = fbc(Some(&c), fbclid_from_query(&q), now) { prop_assert!(is_valid_meta_id(&v), "{}", v); }
    }

    #[test]
    fn cookie_parser_never_panics_and_returns_a_slice_of_the_header(h in ".{0,120}", name in "[a-z_]{1,6}") {
        if let Some(v) = cookie(&h, &name) { prop_assert!(h.contains(v)); }
    }

    #[test]
    fn client_ip_never_panics_and_returns_an_ip(s in ".{0,40}") {
        if let Some(ip) = client_ip(Some(&s)) { prop_assert!(ip.parse::<std::net::IpAddr>().is_ok()); }
    }

    #[test]
    fn a_kept_keys_cookie_is_never_trusted_unsigned(s in "[A-Za-z0-9_.-]{0,400}", flip in 0usize..400) {
        let settings = kept_settings();
        prop_assert!(user_data_cookie::decode(&s, &settings).is_err(), "an arbitrary value never verifies");
        // A real cookie with any one character changed never verifies either.
        let keys = user_data_cookie::KeptKeys::from_user_data(&[("em".into(), vec!["ann@example.com".into()])]);
        let value = user_data_cookie::encode(&keys, &settings);
        let at = flip % value.len();
        let mut bytes = value.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        if changed != value {
            prop_assert!(user_data_cookie::decode(&changed, &settings).is_err(), "{} changed at {}", changed, at);
        }
        prop_assert_eq!(user_data_cookie::decode(&value, &settings), Ok(keys));
    }
}

/// `USER_DATA_COOKIE` on, with a test secret.
fn kept_settings() -> user_data_cookie::UserDataCookieSettings {
    let vars = [("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", "fuzz-secret-0123456789abcdef0123456789")];
    user_data_cookie::UserDataCookieSettings::parse(&|n| Ok(vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()))).unwrap().unwrap()
}

proptest! {
    #![proptest_config(config())]

    /// Revenue is exact: any amount with up to three decimals, written as a JSON number the
    /// way an origin sends it, is read back to the thousandth, and a sum of many equals the
    /// sum of their integers (no float drift), written with the currency's decimals.
    #[test]
    fn revenue_is_read_and_summed_exactly(amounts in proptest::collection::vec((0i64..10_000_000, 0u32..=3), 1..50)) {
        use tagrelay::analytics::revenue;
        let mut sum = 0i64;
        for (units, places) in &amounts {
            let text = if *places == 0 { units.to_string() } else { format!("{}.{:0width$}", units / 10i64.pow(*places), units % 10i64.pow(*places), width = *places as usize) };
            let value: Value = serde_json::from_str(&text).unwrap();
            let thousandths = units * 10i64.pow(3 - places);
            prop_assert_eq!(revenue::amount_of(&value), Some(thousandths), "{}", text);
            sum += thousandths;
        }
        let total: i64 = amounts.iter().map(|(u, p)| u * 10i64.pow(3 - p)).sum();
        prop_assert_eq!(sum, total);
        prop_assert_eq!(revenue::format(sum, "KWD"), format!("{}.{:03}", sum / 1000, sum % 1000));
    }
}
