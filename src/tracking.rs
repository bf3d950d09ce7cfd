//! The tracking decision for one response that carried the tracking header: skip it,
//! withhold it (no marketing consent), reject it, or the exact Conversions API body to send.

use crate::cache_replay::is_replay;
use crate::destinations::meta::capi_event::{EventsRequest, ServerEvent, UserData};
use crate::click_ids;
use crate::client_ip::client_ip;
use crate::config::MetaConfig;
use crate::cookies::cookie;
use crate::decode_cache::DecodeCache;
use crate::pii::normalize_and_hash;
use crate::request_facts::{RequestFacts, ResponseFacts};
use crate::skip_rules::SkipRule;
use crate::tracking_header::{DecodeError, HeaderEvent};
use crate::upstream::path_and_query;
use crate::visitor::consent::{DenialRule, Source, Verdict};
use crate::visitor::Visit;
use serde_json::{json, Map, Value};

/// Default `action_source`.
pub const DEFAULT_ACTION_SOURCE: &str = "website";
/// Longest `Referer` passed on as `referrer_url`.
const MAX_REFERRER_LEN: usize = 2048;

/// What to do with a tracked response.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Not a human page view.
    Skip(SkipRule),
    /// The visitor has not agreed to marketing: nothing goes to the ad platform.
    Withheld {
        /// Why.
        rule: DenialRule,
        /// The signal that decided.
        source: Source,
    },
    /// The header is unusable.
    Reject(DecodeError),
    /// Send this body.
    Send(Box<Outgoing>),
}

/// A ready-to-send request and what the log should say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The body.
    pub request: EventsRequest,
    /// True when the response was a cache replay (fresh ids, no header user_data).
    pub replay: bool,
}

#[cfg(test)]
impl Outgoing {
    /// The event ids, in order.
    pub fn event_ids(&self) -> Vec<&str> {
        self.request.data.iter().map(|e| e.event_id.as_str()).collect()
    }
}

/// Everything the plan depends on besides the header.
pub struct Inputs<'a> {
    /// The request.
    pub request: &'a RequestFacts,
    /// The response.
    pub response: &'a ResponseFacts,
    /// Meta settings.
    pub meta: &'a MetaConfig,
    /// The first rule that makes this no human page view ([`crate::skip_rules::skip_rule`]).
    pub skip: Option<SkipRule>,
    /// Consent and first-party ids ([`crate::visitor::visit`]).
    pub visit: &'a Visit,
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
}

/// Decides what to do with `header_value` (decoded through `headers`, the isolate's cache).
/// `new_id` returns a fresh random event id.
pub fn plan(header_value: &str, inputs: &Inputs<'_>, headers: &mut DecodeCache, new_id: &mut dyn FnMut() -> String) -> Plan {
    if let Some(rule) = inputs.skip {
        return Plan::Skip(rule);
    }
    if let Verdict::Denied(rule, source) = inputs.visit.consent.marketing {
        return Plan::Withheld { rule, source };
    }
    let events = match headers.decode(header_value) {
        Ok(events) => events,
        Err(e) => return Plan::Reject(e),
    };
    let replay = is_replay(inputs.response.cf_cache_status.as_deref(), inputs.response.age.as_deref());
    let edge_user_data = edge_user_data(inputs.request, inputs.visit, inputs.now_ms);
    let referrer_url = inputs
        .request
        .referer
        .as_deref()
        .filter(|r| r.len() <= MAX_REFERRER_LEN && (r.starts_with("https://") || r.starts_with("http://")))
        .map(|r| inputs.meta.strip_query_params.apply(r).into_owned());
    let data = events
        .iter()
        .map(|event| server_event(event, inputs, &edge_user_data, referrer_url.clone(), replay, new_id))
        .collect();
    Plan::Send(Box::new(Outgoing {
        request: EventsRequest { data, test_event_code: inputs.meta.test_event_code.clone() },
        replay,
    }))
}

/// `client_ip_address`, `client_user_agent`, `fbp`, `fbc`: facts of this request. The
/// browser ids are the first-party ones set on this very response when there are any, so
/// the event carries exactly the values the browser keeps.
fn edge_user_data(req: &RequestFacts, visit: &Visit, now_ms: u64) -> UserData {
    let (fbp, fbc) = match &visit.browser_ids {
        Some(ids) => (ids.fbp.clone(), ids.fbc.clone()),
        None => {
            let cookies = req.cookie.as_deref().unwrap_or("");
            let query = path_and_query(&req.url).split_once('?').map_or("", |(_, q)| q);
            (
                click_ids::fbp(cookie(cookies, "_fbp")),
                click_ids::fbc(cookie(cookies, "_fbc"), click_ids::fbclid_from_query(query), now_ms),
            )
        }
    };
    UserData {
        client_ip_address: client_ip(req.cf_connecting_ip.as_deref()),
        client_user_agent: req.user_agent.as_deref().map(|ua| ua.trim().to_string()),
        fbp,
        fbc,
        hashed: Vec::new(),
    }
}

/// Meta's Limited Data Use flag, with country and state 0 (Meta geolocates the visitor):
/// what `GPC_MODE=ldu` sends for a visitor with Global Privacy Control.
fn limited_data_use() -> Map<String, Value> {
    let mut flags = Map::new();
    flags.insert("data_processing_options".into(), json!(["LDU"]));
    flags.insert("data_processing_options_country".into(), json!(0));
    flags.insert("data_processing_options_state".into(), json!(0));
    flags
}

fn server_event(
    event: &HeaderEvent,
    inputs: &Inputs<'_>,
    edge_user_data: &UserData,
    referrer_url: Option<String>,
    replay: bool,
    new_id: &mut dyn FnMut() -> String,
) -> ServerEvent {
    let mut user_data = edge_user_data.clone();
    if !replay {
        for (key, values) in &event.user_data {
            let hashed: Vec<String> = values.iter().filter_map(|v| normalize_and_hash(key, v)).collect();
            if !hashed.is_empty() {
                user_data.hashed.push((key.clone(), hashed));
            }
        }
    }
    let event_id = match &event.event_id {
        Some(id) if !replay => id.clone(),
        _ => new_id(),
    };
    ServerEvent {
        event_name: event.event_name.clone(),
        event_time: inputs.now_ms / 1000,
        event_id,
        event_source_url: inputs
            .meta
            .strip_query_params
            .apply(event.event_source_url.as_deref().unwrap_or(&inputs.request.url))
            .into_owned(),
        action_source: event.action_source.clone().unwrap_or_else(|| DEFAULT_ACTION_SOURCE.to_string()),
        user_data,
        custom_data: event.custom_data.clone(),
        referrer_url,
        opt_out: event.opt_out,
        data_processing: if inputs.visit.consent.limited_data_use { limited_data_use() } else { event.data_processing.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Delivery;
    use crate::query_filter::QueryFilter;
    use crate::visitor::consent::ConsentSettings;
    use crate::visitor::first_party::FirstPartySettings;
    use serde_json::json;

    const UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
    const NOW_MS: u64 = 1_763_900_000_123;

    fn meta() -> MetaConfig {
        MetaConfig {
            delivery: Delivery::DryRun { reason: "test", events_url: None },
            test_event_code: Some("TEST1".into()),
            bot_score_threshold: 30,
            strip_query_params: QueryFilter::default(),
        }
    }

    fn request() -> RequestFacts {
        RequestFacts {
            method: "GET".into(),
            url: "https://shop.example/p/42?fbclid=IwAR-x_1&utm=a".into(),
            user_agent: Some(UA.into()),
            cf_connecting_ip: Some("203.0.113.9".into()),
            cookie: Some("_fbp=fb.1.1700000000000.123456; other=1".into()),
            referer: Some("https://www.facebook.com/".into()),
            ..Default::default()
        }
    }

    fn run(header: &str, req: &RequestFacts, resp: &ResponseFacts) -> Plan {
        run_with(header, req, resp, &ConsentSettings::default(), &FirstPartySettings { enabled: false, cookie_domain: None })
    }

    fn run_with(header: &str, req: &RequestFacts, resp: &ResponseFacts, consent: &ConsentSettings, first_party: &FirstPartySettings) -> Plan {
        let bots = crate::bots::BotMatcher::new().unwrap();
        let meta = meta();
        let skip = crate::skip_rules::skip_rule(req, resp.status, meta.bot_score_threshold, &bots);
        let visit = crate::visitor::visit(consent, first_party, req, resp, skip, NOW_MS, &mut || 77);
        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("fresh-{n}")
        };
        plan(header, &Inputs { request: req, response: resp, meta: &meta, skip, visit: &visit, now_ms: NOW_MS }, &mut DecodeCache::default(), &mut ids)
    }

    #[test]
    fn marketing_consent_decides_for_each_visitor() {
        let header = r#"{"event_name":"PageView"}"#;
        let resp = ResponseFacts { status: 200, ..Default::default() };
        let italy = RequestFacts { country: Some("IT".into()), ..request() };
        assert_eq!(run(header, &italy, &resp), Plan::Withheld { rule: DenialRule::NoConsent, source: Source::Region });
        let agreed = RequestFacts { cookie: Some("cmplz_marketing=allow".into()), ..italy.clone() };
        assert!(matches!(run(header, &agreed, &resp), Plan::Send(_)));
        let gpc = RequestFacts { gpc: true, ..request() };
        assert_eq!(run(header, &gpc, &resp), Plan::Withheld { rule: DenialRule::Gpc, source: Source::Gpc });
        let bot = RequestFacts { user_agent: Some("Googlebot/2.1".into()), ..italy };
        assert_eq!(run(header, &bot, &resp), Plan::Skip(SkipRule::CrawlerUserAgent), "bots are skipped first");
    }

    #[test]
    fn gpc_in_ldu_mode_flags_every_event() {
        let ldu = ConsentSettings { gpc_mode: crate::visitor::consent::GpcMode::Ldu, ..Default::default() };
        let req = RequestFacts { gpc: true, ..request() };
        let header = r#"{"event_name":"PageView","data_processing_options":[]}"#;
        let off = FirstPartySettings { enabled: false, cookie_domain: None };
        let out = sent(run_with(header, &req, &ResponseFacts::default(), &ldu, &off));
        let body = serde_json::to_value(&out.request.data[0]).unwrap();
        assert_eq!(body["data_processing_options"], json!(["LDU"]));
        assert_eq!(body["data_processing_options_country"], json!(0));
        assert_eq!(body["data_processing_options_state"], json!(0));
    }

    #[test]
    fn the_event_carries_the_first_party_ids_set_on_its_response() {
        let req = RequestFacts { cookie: None, ..request() };
        let html = ResponseFacts { status: 200, content_type: Some("text/html".into()), ..Default::default() };
        let out = sent(run_with(r#"{"event_name":"PageView"}"#, &req, &html, &ConsentSettings::default(), &FirstPartySettings::default()));
        let ud = &out.request.data[0].user_data;
        assert_eq!(ud.fbp.as_deref(), Some("fb.1.1763900000123.77"));
        assert_eq!(ud.fbc.as_deref(), Some("fb.1.1763900000123.IwAR-x_1"));
    }

    fn sent(plan: Plan) -> Outgoing {
        match plan {
            Plan::Send(o) => *o,
            other => panic!("expected Send, got {other:?}"),
        }
    }

    #[test]
    fn fresh_page_builds_the_full_event() {
        let header = r#"{"event_name":"ViewContent","event_id":"origin-1","custom_data":{"value":9.5,"currency":"eur"},"contents":[{"id":"42","quantity":1}],"user_data":{"em":"A@B.example","xx":"y"}}"#;
        let out = sent(run(header, &request(), &ResponseFacts { status: 200, ..Default::default() }));
        assert!(!out.replay);
        let body = serde_json::to_value(&out.request).unwrap();
        assert_eq!(
            body,
            json!({
                "data": [{
                    "event_name": "ViewContent",
                    "event_time": 1_763_900_000u64,
                    "event_id": "origin-1",
                    "event_source_url": "https://shop.example/p/42?fbclid=IwAR-x_1&utm=a",
                    "action_source": "website",
                    "user_data": {
                        "client_ip_address": "203.0.113.9",
                        "client_user_agent": UA,
                        "fbp": "fb.1.1700000000000.123456",
                        "fbc": "fb.1.1763900000123.IwAR-x_1",
                        "em": [crate::pii::sha256_hex("a@b.example")],
                    },
                    "custom_data": {"value": 9.5, "currency": "EUR", "contents": [{"id":"42","quantity":1}]},
                    "referrer_url": "https://www.facebook.com/",
                }],
                "test_event_code": "TEST1",
            })
        );
    }

    #[test]
    fn personal_query_parameters_never_leave_the_edge() {
        let req = RequestFacts {
            url: "https://shop.example/p?email=alice%40example.com&fbclid=IwAR-x_1&utm_source=nl".into(),
            referer: Some("https://mail.example/open?Token=s3cret&id=7".into()),
            ..request()
        };
        let out = sent(run(r#"[{"event_name":"A"},{"event_name":"B","event_source_url":"https://shop.example/c?phone=123&x=1"}]"#, &req, &ResponseFacts::default()));
        let [a, b] = &out.request.data[..] else { panic!() };
        assert_eq!(a.event_source_url, "https://shop.example/p?fbclid=IwAR-x_1&utm_source=nl");
        assert_eq!(b.event_source_url, "https://shop.example/c?x=1");
        assert_eq!(a.referrer_url.as_deref(), Some("https://mail.example/open?id=7"));
        assert_eq!(a.user_data.fbc.as_deref(), Some("fb.1.1763900000123.IwAR-x_1"), "the click id is still read");
    }

    #[test]
    fn cache_replay_gets_fresh_ids_and_no_header_user_data() {
        let header = r#"[{"event_name":"ViewContent","event_id":"origin-1","user_data":{"em":"a@b.example"}},{"event_name":"AddToCart","event_id":"origin-2"}]"#;
        for resp in [
            ResponseFacts { status: 200, cf_cache_status: Some("HIT".into()), ..Default::default() },
            ResponseFacts { status: 200, age: Some("30".into()), ..Default::default() },
        ] {
            let out = sent(run(header, &request(), &resp));
            assert!(out.replay);
            assert_eq!(out.event_ids(), ["fresh-1", "fresh-2"]);
            let ud = &out.request.data[0].user_data;
            assert!(ud.hashed.is_empty());
            assert_eq!(ud.client_ip_address.as_deref(), Some("203.0.113.9"));
        }
    }

    #[test]
    fn missing_event_id_is_fresh_each_time() {
        let out = sent(run(r#"[{"event_name":"A"},{"event_name":"B"}]"#, &request(), &ResponseFacts::default()));
        assert_eq!(out.event_ids(), ["fresh-1", "fresh-2"]);
    }

    #[test]
    fn bots_skip_before_decoding_and_bad_headers_reject() {
        let bot = RequestFacts { user_agent: Some("Googlebot/2.1".into()), ..request() };
        assert_eq!(run("garbage", &bot, &ResponseFacts::default()), Plan::Skip(SkipRule::CrawlerUserAgent));
        assert!(matches!(run("{bad", &request(), &ResponseFacts::default()), Plan::Reject(DecodeError::BadJson { .. })));
    }

    #[test]
    fn spoofable_and_invalid_sources_are_not_used() {
        let req = RequestFacts {
            cf_connecting_ip: Some("240.1.2.3".into()),
            cookie: Some("_fbp=junk; _fbc=also junk".into()),
            url: "https://shop.example/".into(),
            referer: Some("android-app://x".into()),
            ..request()
        };
        let out = sent(run(r#"{"event_name":"PageView","event_source_url":"https://shop.example/canonical"}"#, &req, &ResponseFacts::default()));
        let e = &out.request.data[0];
        assert_eq!(serde_json::to_value(&e.user_data).unwrap(), json!({"client_user_agent": UA}));
        assert_eq!(e.event_source_url, "https://shop.example/canonical");
        assert_eq!(e.referrer_url, None);
    }
}
