//! Configuration: the Worker's vars and secrets, parsed and validated once per isolate. This
//! module only assembles [`Config`] from each part's settings (each part parses its own, with
//! [`parse`]) and makes the routes of the destinations that are on.
//!
//! Parsing takes a lookup function rather than the Workers `Env`, so it is tested natively.
//! Proxy settings (`ORIGIN_URL`, `TRACKING_HEADER`) must be valid for the Worker to serve at
//! all; Meta settings only decide whether events are sent, logged (dry run) or refused.
//!
//! May use: every part of the core (it is the top of it). Nothing in the core imports it back
//! but [`parse`], the leaf.

pub mod parse;

pub use parse::{ConfigError, Get, VarValue};

use crate::analytics::settings::{self as analytics, AnalyticsSettings};
use crate::delivery::batching::{DEFAULT_WINDOW_MS, MAX_WINDOW_MS};
use crate::destinations::meta::settings::{Delivery, MetaSettings};
use crate::destinations::{ga4, meta, registry, tiktok, Destination, Mode, Route, Routes, DRY_RUN_REASON, REGISTRY};
use crate::proxy::origin::{Origin, VAR_ORIGIN_URL};
use crate::proxy::query_filter::{QueryFilter, VAR_STRIP_QUERY_PARAMS};
use parse::{is_header_name, parse_bool, parse_bot_score_threshold, parse_flag, VAR_BOT_SCORE_THRESHOLD};
use std::sync::Arc;
use crate::visitor::consent::{self, ConsentSettings};
use crate::visitor::first_party::{self, FirstPartySettings};
use crate::visitor::user_data_cookie::{self, UserDataCookieSettings};

/// Variable: name of the response header that carries the event.
pub const VAR_TRACKING_HEADER: &str = "TRACKING_HEADER";
/// Variable: `true` logs the events that would be sent and sends nothing.
pub const VAR_DRY_RUN: &str = "DRY_RUN";
/// Variable: milliseconds during which page views' events are collected into one request
/// (0 sends each page view's events on their own); see [`crate::delivery::batching`].
pub const VAR_BATCH_WINDOW_MS: &str = "BATCH_WINDOW_MS";

/// Variable: `on` tells the browser pixel the event ids in the page (a JSON data block,
/// `crate::tracking::pixel_ids`); `off` (the default) leaves every page's bytes untouched.
pub const VAR_PIXEL_EVENT_IDS: &str = "PIXEL_EVENT_IDS";

/// Variable, for tagrelay's own tests: `true` makes a tracked response whose header is
/// exactly [`TEST_TRAP_HEADER_VALUE`] panic in wasm, to prove that the Worker recovers.
pub const VAR_TEST_TRAP: &str = "TAGRELAY_TEST_TRAP";
/// The tracking header value that traps when [`VAR_TEST_TRAP`] is `true`.
pub const TEST_TRAP_HEADER_VALUE: &str = "tagrelay-test-trap";

/// Every variable the parts other than the destinations read; [`all_vars`] adds theirs.
const VARS: [&str; 19] = [
    VAR_ORIGIN_URL,
    VAR_PIXEL_EVENT_IDS,
    VAR_TRACKING_HEADER,
    VAR_DRY_RUN,
    VAR_BOT_SCORE_THRESHOLD,
    VAR_BATCH_WINDOW_MS,
    VAR_STRIP_QUERY_PARAMS,
    VAR_TEST_TRAP,
    first_party::VAR_FIRST_PARTY_COOKIES,
    first_party::VAR_COOKIE_DOMAIN,
    analytics::VAR_ANALYTICS,
    analytics::VAR_STATS_FLUSH_MS,
    analytics::VAR_STATS_RETENTION_DAYS,
    analytics::VAR_STATS_PATH,
    analytics::VAR_STATS_TOKEN,
    crate::log::debug_report::VAR_DEBUG_TOKEN,
    crate::delivery::queue::VAR_DELIVERY,
    crate::delivery::queue::VAR_MAX_SUBREQUESTS,
    crate::page_events::rules::VAR_PAGE_EVENTS,
];

/// Every variable and secret tagrelay reads: the adapter looks up these names only.
pub fn all_vars() -> Vec<&'static str> {
    let mut vars: Vec<&'static str> =
        VARS.iter().chain(&consent::settings::VARS).chain(&user_data_cookie::VARS).copied().chain(registry::vars()).collect();
    vars.sort_unstable();
    vars.dedup();
    vars
}

/// Default tracking header name.
pub const DEFAULT_TRACKING_HEADER: &str = "Worker-Tracking";

/// The Meta half of the configuration, with the tracking settings every destination shares
/// (`DRY_RUN`, `BOT_SCORE_THRESHOLD`, `BATCH_WINDOW_MS`, `STRIP_QUERY_PARAMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaConfig {
    /// Send or log.
    pub delivery: Delivery,
    /// `DRY_RUN`: every destination logs its events and sends nothing.
    pub dry_run: bool,
    /// `DELIVERY`: through the queue or direct; `None`: the queue when its binding exists.
    pub delivery_mode: Option<crate::delivery::queue::DeliveryMode>,
    /// `QUEUE_MAX_SUBREQUESTS`: the most requests one queue consumer call (or replay) makes.
    pub queue_max_subrequests: u32,
    /// How long events are collected before a send; 0 sends each page view's at once.
    pub batch_window_ms: u32,
    /// `test_event_code` to include in every request.
    pub test_event_code: Option<String>,
    /// Bot score below which a request is a bot; 0 disables the rule.
    pub bot_score_threshold: u8,
    /// Query parameters removed from the URLs sent (`STRIP_QUERY_PARAMS`).
    pub strip_query_params: QueryFilter,
    /// `PIXEL_EVENT_IDS`: tell the browser pixel the event ids in the page.
    pub pixel_event_ids: bool,
}

/// A registered destination whose variables are set, other than Meta (built from
/// [`Config::meta`]): the destination, or why its settings are unusable.
#[derive(Debug, Clone)]
pub struct Configured {
    /// Its registered name.
    pub name: &'static str,
    /// The destination, or why its settings are unusable.
    pub settings: Result<Arc<dyn Destination>, ConfigError>,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None` forwards each request to its own URL (the zone's origin).
    pub origin: Option<Origin>,
    /// Response header that carries events (matched case-insensitively).
    pub tracking_header: String,
    /// Meta settings, or why tracking is disabled. Pages are served either way.
    pub meta: Result<MetaConfig, ConfigError>,
    /// `TAGRELAY_TEST_TRAP`: tests may force a wasm trap ([`TEST_TRAP_HEADER_VALUE`]).
    pub test_trap: bool,
    /// Consent settings, or why they are unusable (then nothing is sent and no cookie set:
    /// tagrelay fails closed).
    pub consent: Result<ConsentSettings, ConfigError>,
    /// First-party `_fbp`/`_fbc` settings, or why they are unusable (no cookie is set).
    pub first_party: Result<FirstPartySettings, ConfigError>,
    /// Page-view analytics settings, or why they are unusable (nothing is counted and the
    /// stats are not served).
    pub analytics: Result<AnalyticsSettings, ConfigError>,
    /// The registered destinations whose variables are set (besides Meta), in registry order.
    pub destinations: Vec<Configured>,
    /// `USER_DATA_COOKIE`: the match keys kept for later events (`None`: off, the default),
    /// or why its settings are unusable (then it is off, and the adapter says why).
    pub user_data_cookie: Result<Option<UserDataCookieSettings>, ConfigError>,
    /// `PAGE_EVENTS`: the pages whose own JSON-LD or dataLayer declares their event (none by
    /// default), or why the rules are unusable (then no page is read, and the adapter says why).
    pub page_events: Result<crate::page_events::rules::PageRules, ConfigError>,
    /// `DEBUG_TOKEN`: a request presenting it gets the `Tagrelay-Debug` report.
    pub debug_token: Option<String>,
}

impl Config {
    /// Parses every variable through `lookup`, which returns a variable's value or `None`.
    /// Empty values count as unset. The error is for proxy settings only: a Meta setting
    /// error is kept in [`Config::meta`] so pages are still served.
    pub fn parse(lookup: impl Fn(&str) -> Option<VarValue>) -> Result<Config, ConfigError> {
        let get = |name: &'static str| -> Result<Option<String>, ConfigError> {
            let text = lookup(name).map(|v| v.into_text(name)).transpose()?;
            Ok(text.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
        };
        let origin = get(VAR_ORIGIN_URL)?.map(|v| Origin::parse(&v)).transpose()?;
        let tracking_header = match get(VAR_TRACKING_HEADER)? {
            Some(name) if is_header_name(&name) => name,
            Some(name) => {
                return Err(ConfigError::invalid(
                    VAR_TRACKING_HEADER,
                    "an HTTP header name (letters, digits and -)",
                    &name,
                ))
            }
            None => DEFAULT_TRACKING_HEADER.to_string(),
        };
        let test_trap = get(VAR_TEST_TRAP)?.as_deref().and_then(parse_bool).unwrap_or(false);
        let destinations: Vec<Configured> = REGISTRY
            .iter()
            .filter_map(|r| {
                let settings = (r.parse?)(&get)?;
                Some(Configured { name: r.name, settings: settings.map(Arc::from) })
            })
            .collect();
        let usable = |name: &str| destinations.iter().any(|d| d.name == name && d.settings.is_ok());
        // The browser ids a destination reads: GA4's `_ga` client id, TikTok's `ttclid`.
        let first_party =
            parse_first_party(&get).map(|f| FirstPartySettings { ga: usable(ga4::NAME), ttclid: usable(tiktok::NAME), ..f });
        Ok(Config {
            origin,
            tracking_header,
            meta: parse_meta(&get),
            test_trap,
            consent: ConsentSettings::parse(&get, &registry::tcf_vendors()),
            first_party,
            analytics: AnalyticsSettings::parse(&get),
            destinations,
            user_data_cookie: UserDataCookieSettings::parse(&get),
            page_events: crate::page_events::rules::PageRules::parse(&get),
            debug_token: get(crate::log::debug_report::VAR_DEBUG_TOKEN)?,
        })
    }

    /// `BOT_SCORE_THRESHOLD`: the Bot Management score below which a request is a bot; its
    /// default while the shared settings are unusable (tracking is then off anyway).
    pub fn bot_score_threshold(&self) -> u8 {
        self.meta.as_ref().map_or(parse::DEFAULT_BOT_SCORE_THRESHOLD, |m| m.bot_score_threshold)
    }
}

fn parse_meta(get: Get<'_>) -> Result<MetaConfig, ConfigError> {
    let dry_run = parse_flag(get, VAR_DRY_RUN, false, "true or false")?;
    let bot_score_threshold = parse_bot_score_threshold(get)?;
    let batch_window_ms = match get(VAR_BATCH_WINDOW_MS)? {
        None => DEFAULT_WINDOW_MS,
        Some(v) => v.parse::<u32>().ok().filter(|n| *n <= MAX_WINDOW_MS).ok_or_else(|| {
            ConfigError::invalid(VAR_BATCH_WINDOW_MS, "milliseconds from 0 (send each page view's events at once) to 5000", &v)
        })?,
    };
    let strip_query_params = QueryFilter::parse(get(VAR_STRIP_QUERY_PARAMS)?.as_deref())?;
    let pixel_event_ids = parse_flag(get, VAR_PIXEL_EVENT_IDS, false, "on or off")?;
    let MetaSettings { delivery, test_event_code } = MetaSettings::parse(get, dry_run, batch_window_ms)?;
    let delivery_mode = crate::delivery::queue::parse_mode(get(crate::delivery::queue::VAR_DELIVERY)?.as_deref())?;
    let queue_max_subrequests = crate::delivery::queue::parse_max_subrequests(get(crate::delivery::queue::VAR_MAX_SUBREQUESTS)?.as_deref())?;
    Ok(MetaConfig { delivery, dry_run, batch_window_ms, delivery_mode, queue_max_subrequests, test_event_code, bot_score_threshold, strip_query_params, pixel_event_ids })
}

fn parse_first_party(get: Get<'_>) -> Result<FirstPartySettings, ConfigError> {
    let enabled = parse_flag(get, first_party::VAR_FIRST_PARTY_COOKIES, true, "on or off")?;
    let cookie_domain = match get(first_party::VAR_COOKIE_DOMAIN)? {
        None => None,
        Some(v) => {
            let domain = v.trim_start_matches('.').to_ascii_lowercase();
            let ok = domain.contains('.')
                && domain.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            if !ok {
                return Err(ConfigError::invalid(
                    first_party::VAR_COOKIE_DOMAIN,
                    "the shop's registrable domain, such as shop.example.co.uk (no scheme, port or path)",
                    &v,
                ));
            }
            Some(domain)
        }
    };
    Ok(FirstPartySettings { enabled, cookie_domain, ..Default::default() })
}

impl Config {
    /// The routes of this configuration. A destination is on when its settings are present. Meta,
    /// when it is not configured, still logs its events in dry run if no other destination is
    /// configured either, so a fresh install shows what would be sent.
    pub fn routes(&self) -> Routes {
        let mut routes = Routes::default();
        let Ok(shared) = &self.meta else { return routes };
        let (meta, meta_configured) = meta::Meta::from_settings(&shared.delivery, shared.test_event_code.clone());
        let mut on: Vec<Arc<dyn Destination>> = Vec::new();
        if meta_configured {
            on.push(Arc::new(meta.clone()));
        }
        for configured in &self.destinations {
            match &configured.settings {
                Ok(destination) => on.push(Arc::clone(destination)),
                Err(e) => routes.broken.push((configured.name, e.clone())),
            }
        }
        if on.is_empty() && routes.broken.is_empty() {
            on.push(Arc::new(meta));
        }
        routes.on = on
            .into_iter()
            .map(|destination| {
                let mode = match (shared.dry_run, destination.missing_setting()) {
                    (true, _) => Mode::DryRun { reason: DRY_RUN_REASON },
                    (false, Some(reason)) => Mode::DryRun { reason },
                    (false, None) => Mode::Live,
                };
                Route { destination, mode }
            })
            .collect();
        routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::meta::settings::MetaEndpoint;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, VarValue> = vars.iter().map(|(k, v)| (k.to_string(), VarValue::Text(v.to_string()))).collect();
        Config::parse(|name| map.get(name).cloned())
    }

    fn parse_values(vars: &[(&str, VarValue)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, VarValue> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Config::parse(|name| map.get(name).cloned())
    }

    #[test]
    fn toml_booleans_and_numbers_count_as_their_text() {
        let c = parse_values(&[
            ("META_PIXEL_ID", VarValue::Number(1_234_567_890.0)),
            ("META_ACCESS_TOKEN", VarValue::Text("t".into())),
            ("DRY_RUN", VarValue::Bool(true)),
            ("BOT_SCORE_THRESHOLD", VarValue::Number(0.0)),
        ])
        .unwrap();
        let meta = c.meta.unwrap();
        assert_eq!(meta.bot_score_threshold, 0);
        assert_eq!(
            meta.delivery,
            Delivery::DryRun { reason: "DRY_RUN is true", events_url: Some("https://graph.facebook.com/v27.0/1234567890/events".into()) }
        );
        let live = parse_values(&[
            ("META_PIXEL_ID", VarValue::Text("1".into())),
            ("META_ACCESS_TOKEN", VarValue::Text("t".into())),
            ("DRY_RUN", VarValue::Bool(false)),
            ("BATCH_WINDOW_MS", VarValue::Number(0.0)),
        ])
        .unwrap();
        assert!(matches!(live.meta.unwrap().delivery, Delivery::Live(MetaEndpoint { batch_window_ms: 0, .. })));
        // A fraction is passed on as written, and refused by the variable's own rule.
        let err = parse_values(&[("BATCH_WINDOW_MS", VarValue::Number(2.5))]).unwrap().meta.unwrap_err();
        assert!(err.to_string().contains("\"2.5\""), "{err}");
    }

    #[test]
    fn arrays_objects_and_inexact_numbers_are_refused_by_name() {
        for (var, value) in [
            ("DRY_RUN", VarValue::Unsupported("an array")),
            ("META_PIXEL_ID", VarValue::Number(12_345_678_901_234_567.0)),
            ("BATCH_WINDOW_MS", VarValue::Unsupported("an object")),
            ("META_ACCESS_TOKEN", VarValue::Number(f64::INFINITY)),
        ] {
            let err = parse_values(&[(var, value)]).unwrap().meta.unwrap_err();
            assert_eq!(err.var(), var);
            assert!(err.to_string().starts_with(var) && err.to_string().contains("quotes"), "{err}");
        }
        let err = parse_values(&[("ORIGIN_URL", VarValue::Unsupported("an object"))]).unwrap_err();
        assert_eq!(err.to_string(), "ORIGIN_URL is an object: it must be a string, true/false or a whole number; write it in quotes in wrangler.toml [vars] (`ORIGIN_URL = \"...\"`)");
    }

    #[test]
    fn defaults_forward_to_own_url_and_dry_run_without_pixel() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.origin, None);
        assert_eq!(c.tracking_header, "Worker-Tracking");
        let meta = c.meta.unwrap();
        assert_eq!(meta.delivery, Delivery::DryRun { reason: "META_PIXEL_ID is not set", events_url: None });
        assert_eq!(meta.bot_score_threshold, 30);
        assert_eq!(meta.test_event_code, None);
    }

    #[test]
    fn origin_url_is_normalized_and_checked() {
        for (input, want) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://Origin.Shop.example/", "https://origin.shop.example"),
            ("HTTP://[::1]:9000", "http://[::1]:9000"),
            (" https://a.example ", "https://a.example"),
        ] {
            assert_eq!(parse(&[("ORIGIN_URL", input)]).unwrap().origin.unwrap().as_str(), want, "{input}");
        }
        for bad in [
            "ftp://a.example", "a.example", "https://a.example/path", "https://u:p@a.example",
            "https://a.example?x=1", "https://a.example:0", "https://a.example:99999", "https://",
            "https://a.example:+80", "https://[::1", "https://[nothex]:80", "https://a b.example",
        ] {
            let err = parse(&[("ORIGIN_URL", bad)]).unwrap_err();
            assert_eq!(err.var(), "ORIGIN_URL", "{bad}");
            assert!(err.to_string().contains("ORIGIN_URL"), "{err}");
        }
    }

    #[test]
    fn origin_url_credentials_are_never_shown() {
        for bad in ["https://user:s3cret@origin.example", "user:s3cret@origin.example/x", "https://a:b@c:s3cret@origin.example:8443/"] {
            let msg = parse(&[("ORIGIN_URL", bad)]).unwrap_err().to_string();
            assert!(!msg.contains("s3cret") && !msg.contains("user"), "{msg}");
            assert!(msg.contains("<credentials>@origin.example") && msg.contains("credentials do not belong in ORIGIN_URL"), "{msg}");
        }
        assert_eq!(crate::proxy::origin::without_credentials("https://o.example/a@b"), ("https://o.example/a@b".into(), false));
    }

    #[test]
    fn live_delivery_needs_pixel_and_token() {
        let c = parse(&[
            ("META_PIXEL_ID", "123456"),
            ("META_ACCESS_TOKEN", "EAAB-secret"),
            ("META_API_BASE", "http://127.0.0.1:9/"),
            ("META_API_VERSION", "v26.0"),
            ("META_TEST_EVENT_CODE", "TEST123"),
        ])
        .unwrap();
        let meta = c.meta.unwrap();
        assert_eq!(
            meta.delivery,
            Delivery::Live(MetaEndpoint {
                events_url: "http://127.0.0.1:9/v26.0/123456/events".into(),
                access_token: "EAAB-secret".into(),
                batch_window_ms: 250,
            })
        );
        assert_eq!(meta.test_event_code.as_deref(), Some("TEST123"));
        assert!(!format!("{meta:?}").contains("EAAB-secret"));
    }

    #[test]
    fn dry_run_wins_and_says_why() {
        let c = parse(&[("META_PIXEL_ID", "1"), ("META_ACCESS_TOKEN", "t"), ("DRY_RUN", "TRUE")]).unwrap();
        match c.meta.unwrap().delivery {
            Delivery::DryRun { reason, events_url } => {
                assert_eq!(reason, "DRY_RUN is true");
                assert_eq!(events_url.as_deref(), Some("https://graph.facebook.com/v27.0/1/events"));
            }
            other => panic!("{other:?}"),
        }
        let c = parse(&[("META_PIXEL_ID", "1")]).unwrap();
        assert!(matches!(c.meta.unwrap().delivery, Delivery::DryRun { reason: "META_ACCESS_TOKEN is not set", .. }));
    }

    #[test]
    fn meta_errors_name_the_variable_and_hide_the_token() {
        for (var, value) in [
            ("META_PIXEL_ID", "12ab"),
            ("META_API_VERSION", "25"),
            ("META_API_BASE", "graph.facebook.com"),
            ("META_TEST_EVENT_CODE", "has space"),
            ("DRY_RUN", "maybe"),
            ("BOT_SCORE_THRESHOLD", "100"),
            ("META_ACCESS_TOKEN", "secret with space"),
        ] {
            let c = parse(&[(var, value)]).unwrap();
            let err = c.meta.unwrap_err();
            assert_eq!(err.var(), var);
            let msg = err.to_string();
            assert!(msg.starts_with(var), "{msg}");
            assert!(!msg.contains("secret with space"), "{msg}");
        }
    }

    #[test]
    fn tracking_header_must_be_a_header_name() {
        assert_eq!(parse(&[("TRACKING_HEADER", "X-Track")]).unwrap().tracking_header, "X-Track");
        assert_eq!(parse(&[("TRACKING_HEADER", "bad header")]).unwrap_err().var(), "TRACKING_HEADER");
        assert_eq!(parse(&[("TRACKING_HEADER", "")]).unwrap().tracking_header, "Worker-Tracking");
    }

    #[test]
    fn bot_threshold_zero_disables() {
        assert_eq!(parse(&[("BOT_SCORE_THRESHOLD", "0")]).unwrap().meta.unwrap().bot_score_threshold, 0);
        let live = |window: &str| {
            parse(&[("META_PIXEL_ID", "1"), ("META_ACCESS_TOKEN", "t"), ("BATCH_WINDOW_MS", window)]).unwrap().meta.map(|m| m.delivery)
        };
        assert!(matches!(live("0"), Ok(Delivery::Live(MetaEndpoint { batch_window_ms: 0, .. }))));
        assert!(matches!(live("5000"), Ok(Delivery::Live(MetaEndpoint { batch_window_ms: 5000, .. }))));
        for bad in ["5001", "-1", "1s"] {
            let err = live(bad).unwrap_err();
            assert!(err.var() == "BATCH_WINDOW_MS" && err.to_string().contains("5000"), "{err}");
        }
    }
}

#[cfg(test)]
mod routes_tests {
    use super::*;
    use crate::config::parse::VarValue;

    fn routes_of(vars: &[(&str, &str)]) -> Routes {
        let config = Config::parse(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| VarValue::Text(v.to_string()))).unwrap();
        config.routes()
    }

    fn on(r: &Routes) -> Vec<(&'static str, Mode)> {
        r.on.iter().map(|route| (route.destination.name(), route.mode)).collect()
    }

    #[test]
    fn a_destination_is_on_when_its_settings_are_present() {
        assert_eq!(on(&routes_of(&[])), [("meta", Mode::DryRun { reason: "META_PIXEL_ID is not set" })], "a fresh install shows Meta's events");
        assert_eq!(on(&routes_of(&[("GA4_MEASUREMENT_ID", "G-A1"), ("GA4_API_SECRET", "s")])), [("ga4", Mode::Live)], "no Meta fallback");
        let all = routes_of(&[
            ("META_PIXEL_ID", "1"),
            ("META_ACCESS_TOKEN", "t"),
            ("GA4_MEASUREMENT_ID", "G-A1"),
            ("TIKTOK_PIXEL_CODE", "C1"),
            ("TIKTOK_ACCESS_TOKEN", "k"),
        ]);
        assert_eq!(on(&all), [("meta", Mode::Live), ("ga4", Mode::DryRun { reason: "GA4_API_SECRET is not set" }), ("tiktok", Mode::Live)]);
        let dry = routes_of(&[("DRY_RUN", "true"), ("META_PIXEL_ID", "1"), ("TIKTOK_PIXEL_CODE", "C1"), ("TIKTOK_ACCESS_TOKEN", "k")]);
        assert_eq!(on(&dry), [("meta", Mode::DryRun { reason: "DRY_RUN is true" }), ("tiktok", Mode::DryRun { reason: "DRY_RUN is true" })]);
    }

    #[test]
    fn a_broken_destination_is_off_alone_and_its_secret_never_shown() {
        let r = routes_of(&[("META_PIXEL_ID", "1"), ("META_ACCESS_TOKEN", "t"), ("GA4_MEASUREMENT_ID", "UA-123"), ("TIKTOK_PIXEL_CODE", "C1"), ("TIKTOK_ACCESS_TOKEN", "bad token")]);
        assert_eq!(on(&r), [("meta", Mode::Live)]);
        let broken: Vec<String> = r.broken.iter().map(|(name, e)| format!("{name}: {e}")).collect();
        assert!(broken[0].starts_with("ga4: GA4_MEASUREMENT_ID is invalid (\"UA-123\")"), "{}", broken[0]);
        assert!(broken[1].starts_with("tiktok: TIKTOK_ACCESS_TOKEN is invalid (\"<hidden>\")"), "{}", broken[1]);
        let only_secret = routes_of(&[("GA4_API_SECRET", "s")]);
        assert!(only_secret.broken[0].1.to_string().contains("GA4_MEASUREMENT_ID"), "a secret alone names the missing id");
        let base = routes_of(&[("GA4_MEASUREMENT_ID", "G-A1"), ("GA4_API_BASE", "ftp://x")]);
        assert!(base.broken[0].1.to_string().contains("GA4_API_BASE"));
    }
}
