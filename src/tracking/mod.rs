//! The tracking decision for one response that carried the tracking header, made once for
//! every destination: skip it (not a human page view) or reject it (the header is unusable);
//! else, for each destination that is on, withhold it (no consent for the destination's
//! purpose), or map the events for it ([`crate::destinations`]). The events' ids are fixed
//! here, so every platform gets the same id for the same event.
//!
//! May use: `proxy`, `bots`, `event`, `visitor`, `destinations`. Used by the adapter.

use crate::event::cache_replay::is_replay;
use crate::proxy::client_ip::client_ip;
use crate::event::decode_cache::DecodeCache;
use crate::destinations::{Dropped, Event, Mapped, Mode, PageView, Purpose, Route};
use crate::proxy::query_filter::QueryFilter;
use crate::proxy::request_facts::{RequestFacts, ResponseFacts};
use crate::bots::skip_rules::SkipRule;
use crate::destinations::registry;
use crate::event::header::{DecodeError, HeaderEvent};
use crate::analytics::conversion::Conversion;
use crate::event::id::order_event_id;
use crate::visitor::user_data_cookie::KeptKeys;
use pixel_ids::PixelEvent;

pub mod pixel_ids;
use crate::visitor::consent::{DenialRule, Source, Verdict};
use crate::visitor::Visit;

/// Longest `Referer` passed on as the page's referrer.
const MAX_REFERRER_LEN: usize = 2048;

/// What to do with a tracked response.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Not a human page view.
    Skip(SkipRule),
    /// The header is unusable.
    Reject(DecodeError),
    /// What becomes of the events at each destination that is on, in the routes' order.
    Route(Routed),
}

/// The events of a page view, destination by destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// The response was a cache replay (fresh ids, no header user data).
    pub replay: bool,
    /// One per route.
    pub outcomes: Vec<Outcome>,
    /// The events sent without some of their `contents` items (the origin gave them no `id`).
    pub trimmed: Vec<Trimmed>,
    /// The events mapped for a destination whose browser pixel deduplicates by event id
    /// (Meta, TikTok), in the header's order: what the page may tell the pixel.
    pub pixel_events: Vec<PixelEvent>,
    /// The match keys to keep in `_tr_ud` for the visitor's later events: the hashes of a
    /// fresh response's user data, with marketing agreed to (`USER_DATA_COOKIE`).
    pub keep: Option<KeptKeys>,
    /// What the stats count of each event, whatever the consent ([`Inputs::count_conversions`]).
    pub conversions: Vec<Conversion>,
}

/// An event sent without the `contents` items that had no `id`: Meta refuses such items
/// (since April 2026), TikTok its items without `content_id`. Logged at warn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    /// The event's name.
    pub event_name: String,
    /// Its id.
    pub event_id: String,
    /// How many items were left out.
    pub left_out: usize,
}

/// The field [`Trimmed`] and the events dropped for it name.
pub const CONTENTS_FIELD: &str = "custom_data.contents";

/// What becomes of a page view's events at one destination.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every event names other destinations only (`"destinations"`).
    NotListed,
    /// The visitor has not agreed to the destination's purpose.
    Withheld {
        /// Why.
        rule: DenialRule,
        /// The signal that decided.
        source: Source,
        /// The names of the events withheld (counted on the stats page's Delivery panel).
        names: Vec<String>,
    },
    /// Mapped for the destination: `mapped` to send (`None` when every event was dropped),
    /// and the events it cannot express.
    Mapped {
        /// What to send.
        mapped: Option<Mapped>,
        /// What was left out, and why.
        dropped: Vec<Dropped>,
    },
}

/// Everything the plan depends on besides the header.
pub struct Inputs<'a> {
    /// The request.
    pub request: &'a RequestFacts,
    /// The response.
    pub response: &'a ResponseFacts,
    /// The first rule that makes this no human page view ([`crate::bots::skip_rules::skip_rule`]).
    pub skip: Option<SkipRule>,
    /// Consent and first-party ids ([`crate::visitor::visit`]).
    pub visit: &'a Visit,
    /// `STRIP_QUERY_PARAMS`.
    pub strip: &'a QueryFilter,
    /// The destinations that are on.
    pub routes: &'a [Route],
    /// `USER_DATA_COOKIE` is on: a fresh response's user data is kept for later events.
    pub keep_user_data: bool,
    /// The stats count conversions: [`Routed::conversions`] is filled.
    pub count_conversions: bool,
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
}

/// The first event whose `destinations` names no registered destination, as the error that
/// rejects the header.
fn unknown_destination(events: &[HeaderEvent]) -> Option<DecodeError> {
    let index = events.iter().position(|e| e.destinations.as_ref().is_some_and(|names| !names.iter().all(|n| registry::is_known(n))))?;
    let known: Vec<&str> = registry::names().collect();
    let expected = format!("{}: {}", crate::event::header::DESTINATIONS_EXPECTED, known.join(", "));
    Some(DecodeError::InvalidField { index, field: "destinations".into(), expected: expected.into() })
}

/// An event's id, the same at every destination: the origin's `event_id` (not on a cache
/// replay, where it belongs to whoever filled the cache); else, with a `custom_data.order_id`,
/// the id the order fixes ([`order_event_id`], scoped by the first destination's account), so
/// a reloaded or replayed order page sends the same id and the platforms drop the repeat;
/// else a fresh one.
/// The second member says whether the id can repeat (the origin's own, or an order's): only
/// then do the stats count a reload once.
fn event_id(event: &HeaderEvent, replay: bool, scope: &str, new_id: &mut dyn FnMut() -> String) -> (String, bool) {
    match &event.event_id {
        Some(id) if !replay => return (id.clone(), true),
        _ => {}
    }
    match event.custom_data.as_ref().and_then(|d| d.get("order_id")).filter(|o| o.as_str().map_or(o.is_number(), |s| !s.is_empty())) {
        Some(order) => (order_event_id(scope, &event.event_name, &crate::destinations::text(order)), true),
        None => (new_id(), false),
    }
}

/// Decides what to do with `header_value` (decoded through `headers`, the isolate's cache).
/// `new_id` returns a fresh random event id.
pub fn plan(header_value: &str, inputs: &Inputs<'_>, headers: &mut DecodeCache, new_id: &mut dyn FnMut() -> String) -> Plan {
    if let Some(rule) = inputs.skip {
        return Plan::Skip(rule);
    }
    let events = match headers.decode(header_value) {
        Ok(events) => events,
        Err(e) => return Plan::Reject(e),
    };
    if let Some(e) = unknown_destination(&events) {
        return Plan::Reject(e);
    }
    let replay = is_replay(inputs.response.cf_cache_status.as_deref(), inputs.response.age.as_deref());
    let scope = inputs.routes.first().map_or("", |r| r.destination.account_id());
    let (ids, repeatable): (Vec<String>, Vec<bool>) = events.iter().map(|e| event_id(e, replay, scope, new_id)).unzip();
    let conversions = if inputs.count_conversions {
        events
            .iter()
            .zip(ids.iter().zip(&repeatable))
            .map(|(e, (id, repeatable))| Conversion::new(&e.event_name, repeatable.then_some(id.as_str()), e.custom_data.as_deref()))
            .collect()
    } else {
        Vec::new()
    };
    let request = inputs.request;
    let url = inputs.strip.apply(&request.url);
    let referrer = request
        .referer
        .as_deref()
        .filter(|r| r.len() <= MAX_REFERRER_LEN && (r.starts_with("https://") || r.starts_with("http://")))
        .map(|r| inputs.strip.apply(r));
    let ip = client_ip(request.cf_connecting_ip.as_deref());
    let user_agent = request.user_agent.as_deref().map(str::trim);
    let mut page = PageView {
        request,
        visit: inputs.visit,
        url: &url,
        referrer: referrer.as_deref(),
        ip: ip.as_deref(),
        user_agent,
        strip: inputs.strip,
        replay,
        now_ms: inputs.now_ms,
        redact: false,
    };
    let outcomes: Vec<Outcome> = inputs
        .routes
        .iter()
        .map(|route| {
            let destination = &*route.destination;
            let name = destination.name();
            let listed: Vec<Event<'_>> = events
                .iter()
                .zip(&ids)
                .filter(|(e, _)| e.destinations.as_ref().is_none_or(|names| names.iter().any(|n| n == name)))
                .map(|(header, id)| Event { header, id })
                .collect();
            if listed.is_empty() {
                return Outcome::NotListed;
            }
            let purpose = destination.purpose();
            let names = || listed.iter().map(|e| e.header.event_name.clone()).collect();
            if let Verdict::Denied(rule, source) = destination.verdict(inputs.visit) {
                return Outcome::Withheld { rule, source, names: names() };
            }
            // GPC_MODE=ldu: a GPC visitor's ad events only where processing can be restricted.
            if purpose == Purpose::Marketing && inputs.visit.consent.limited_data_use && !destination.restricts_processing() {
                return Outcome::Withheld { rule: DenialRule::Gpc, source: Source::Gpc, names: names() };
            }
            page.redact = matches!(route.mode, Mode::DryRun { .. });
            let (unsendable, sendable): (Vec<Event<'_>>, Vec<Event<'_>>) = listed.into_iter().partition(|e| e.header.contents_all_without_id());
            let (mapped, mut dropped) = if sendable.is_empty() { (None, Vec::new()) } else { destination.map(&page, &sendable) };
            dropped.extend(unsendable.iter().map(|e| Dropped {
                event_id: e.id.to_string(),
                event_name: e.header.event_name.clone(),
                reason: format!(
                    "{CONTENTS_FIELD}: none of its {} items has an id, and the platforms refuse items without one; give each item an id",
                    e.header.contents_without_id
                ),
            }));
            Outcome::Mapped { mapped, dropped }
        })
        .collect();
    let trimmed = events
        .iter()
        .zip(&ids)
        .filter(|(e, _)| e.contents_without_id > 0 && !e.contents_all_without_id())
        .map(|(e, id)| Trimmed { event_name: e.event_name.clone(), event_id: id.clone(), left_out: e.contents_without_id })
        .collect();
    let mut pixel_ids: Vec<&str> = Vec::new();
    for (route, outcome) in inputs.routes.iter().zip(&outcomes) {
        if let Outcome::Mapped { mapped: Some(mapped), .. } = outcome {
            if route.destination.dedups_with_browser_pixel() {
                pixel_ids.extend(mapped.ids.iter().map(String::as_str));
            }
        }
    }
    let pixel_events = events
        .iter()
        .zip(&ids)
        .filter(|(_, id)| pixel_ids.contains(&id.as_str()))
        .map(|(e, id)| PixelEvent { event_name: e.event_name.clone(), event_id: id.clone() })
        .collect();
    let keep = (inputs.keep_user_data && !replay && inputs.visit.consent.marketing.granted())
        .then(|| {
            let user_data: Vec<(String, Vec<String>)> = events.iter().flat_map(|e| e.user_data.iter().cloned()).collect();
            KeptKeys::from_user_data(&user_data)
        })
        .filter(|kept| !kept.is_empty());
    Plan::Route(Routed { replay, outcomes, trimmed, pixel_events, keep, conversions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::meta::Meta;
    use crate::destinations::Destination;
    use crate::visitor::consent::ConsentSettings;
    use crate::visitor::first_party::FirstPartySettings;
    use serde_json::{json, Value};

    const UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";
    const NOW_MS: u64 = 1_763_900_000_123;

    /// The routes of a configuration given as variables.
    fn configured(vars: &[(&str, &str)]) -> (crate::config::Config, Routes) {
        let config = crate::config::Config::parse(|name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| crate::config::VarValue::Text(v.to_string()))
        })
        .unwrap();
        let r = config.routes();
        (config, Routes(r))
    }

    struct Routes(crate::destinations::Routes);

    const META_ONLY: &[(&str, &str)] = &[("META_PIXEL_ID", "1"), ("META_ACCESS_TOKEN", "t"), ("META_TEST_EVENT_CODE", "TEST1")];

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
        run_with(header, req, resp, &ConsentSettings::default(), &FirstPartySettings { enabled: false, ..Default::default() }, META_ONLY)
    }

    fn run_with(header: &str, req: &RequestFacts, resp: &ResponseFacts, consent: &ConsentSettings, first_party: &FirstPartySettings, vars: &[(&str, &str)]) -> Plan {
        let (config, Routes(routes)) = configured(vars);
        let meta = config.meta.as_ref().unwrap();
        let bots = crate::bots::BotMatcher::new().unwrap();
        let skip = crate::bots::skip_rules::skip_rule(req, resp.status, meta.bot_score_threshold, &bots);
        let kept = config.user_data_cookie.as_ref().ok().and_then(Option::as_ref);
        let visit = crate::visitor::visit(consent, first_party, kept, req, resp, skip, NOW_MS, &mut || 77);
        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("fresh-{n}")
        };
        let inputs = Inputs { request: req, response: resp, skip, visit: &visit, strip: &meta.strip_query_params, routes: &routes.on, now_ms: NOW_MS, keep_user_data: kept.is_some(), count_conversions: true };
        plan(header, &inputs, &mut DecodeCache::default(), &mut ids)
    }

    /// The Conversions API body Meta would get for this page view alone.
    fn meta_body(plan: &Plan) -> Value {
        let Plan::Route(routed) = plan else { panic!("expected Route, got {plan:?}") };
        let Outcome::Mapped { mapped: Some(mapped), .. } = &routed.outcomes[0] else { panic!("expected Mapped, got {:?}", routed.outcomes[0]) };
        let (config, _) = configured(META_ONLY);
        let shared = config.meta.as_ref().unwrap();
        let (meta, _) = Meta::from_settings(&shared.delivery, shared.test_event_code.clone());
        serde_json::from_str(&meta.body(&[&mapped.part])).unwrap()
    }

    fn replay(plan: &Plan) -> bool {
        matches!(plan, Plan::Route(Routed { replay: true, .. }))
    }

    #[test]
    fn marketing_consent_decides_for_each_visitor() {
        let header = r#"{"event_name":"PageView"}"#;
        let resp = ResponseFacts { status: 200, ..Default::default() };
        // Counted on the stats page whatever the consent.
        let page_view_counted = Conversion { event_name: "PageView".into(), once_id: None, revenue: None };
        let withheld = |rule, source| Plan::Route(Routed { replay: false, outcomes: vec![Outcome::Withheld { rule, source, names: vec!["PageView".into()] }], trimmed: Vec::new(), pixel_events: Vec::new(), keep: None, conversions: vec![page_view_counted.clone()] });
        let italy = RequestFacts { country: Some("IT".into()), ..request() };
        assert_eq!(run(header, &italy, &resp), withheld(DenialRule::NoConsent, Source::Region));
        let agreed = RequestFacts { cookie: Some("cmplz_marketing=allow".into()), ..italy.clone() };
        assert!(matches!(&run(header, &agreed, &resp), Plan::Route(r) if matches!(r.outcomes[0], Outcome::Mapped { .. })));
        let gpc = RequestFacts { gpc: true, ..request() };
        assert_eq!(run(header, &gpc, &resp), withheld(DenialRule::Gpc, Source::Gpc));
        let bot = RequestFacts { user_agent: Some("Googlebot/2.1".into()), ..italy };
        assert_eq!(run(header, &bot, &resp), Plan::Skip(SkipRule::CrawlerUserAgent), "bots are skipped first");
    }

    #[test]
    fn match_keys_are_kept_with_consent_and_carried_by_later_events() {
        const SECRET: &str = "0123456789abcdef0123456789abcdef";
        let vars = &[("META_PIXEL_ID", "1"), ("META_ACCESS_TOKEN", "t"), ("USER_DATA_COOKIE", "on"), ("USER_DATA_COOKIE_SECRET", SECRET)];
        let first_party = FirstPartySettings { enabled: false, ..Default::default() };
        let plan_of = |header: &str, req: &RequestFacts, resp: &ResponseFacts| run_with(header, req, resp, &ConsentSettings::default(), &first_party, vars);
        let purchase = r#"{"event_name":"Purchase","user_data":{"em":"Ann@Example.com","ph":"+39 333 123 4567"}}"#;
        let fresh = ResponseFacts { status: 200, ..Default::default() };
        let Plan::Route(routed) = plan_of(purchase, &request(), &fresh) else { panic!() };
        let keep = routed.keep.expect("kept with consent (the US needs none by default)");
        assert_eq!(keep.get("em"), Some(crate::event::pii::sha256_hex("ann@example.com").as_str()));
        let replayed = ResponseFacts { status: 200, cf_cache_status: Some("HIT".into()), ..Default::default() };
        assert!(matches!(plan_of(purchase, &request(), &replayed), Plan::Route(Routed { keep: None, .. })), "a replay never keeps");
        let italy = RequestFacts { country: Some("IT".into()), ..request() };
        assert!(matches!(plan_of(purchase, &italy, &fresh), Plan::Route(Routed { keep: None, .. })), "no consent, nothing kept");
        assert!(matches!(run(purchase, &request(), &fresh), Plan::Route(Routed { keep: None, .. })), "off by default");

        let (config, _) = configured(vars);
        let settings = config.user_data_cookie.as_ref().unwrap().as_ref().unwrap();
        let cookie = format!("_tr_ud={}", crate::visitor::user_data_cookie::encode(&keep, settings));
        let later = RequestFacts { cookie: Some(cookie.clone()), ..request() };
        let view = r#"{"event_name":"ViewContent"}"#;
        let body = meta_body(&plan_of(view, &later, &fresh));
        assert_eq!(body["data"][0]["user_data"]["em"], json!([keep.get("em").unwrap()]), "the later event carries the kept hashes");
        assert_eq!(body["data"][0]["user_data"]["ph"], json!([keep.get("ph").unwrap()]));
        let own = meta_body(&plan_of(r#"{"event_name":"Lead","user_data":{"em":"bob@example.com"}}"#, &later, &fresh));
        assert_eq!(own["data"][0]["user_data"]["em"], json!([crate::event::pii::sha256_hex("bob@example.com")]), "the header's own wins");
        assert!(own["data"][0]["user_data"].get("ph").is_none());
        let on_replay = meta_body(&plan_of(view, &later, &replayed));
        assert_eq!(on_replay["data"][0]["user_data"]["em"], json!([keep.get("em").unwrap()]), "a cached page carries the visitor's own keys");
        let tampered = RequestFacts { cookie: Some(cookie.replace("_tr_ud=e", "_tr_ud=f")), ..request() };
        assert!(meta_body(&plan_of(view, &tampered, &fresh))["data"][0]["user_data"].get("em").is_none(), "a bad signature is ignored");
    }

    #[test]
    fn each_destination_gets_its_own_consent_and_the_same_event_ids() {
        let all = &[("META_PIXEL_ID", "1"), ("META_ACCESS_TOKEN", "t"), ("GA4_MEASUREMENT_ID", "G-ABC123"), ("GA4_API_SECRET", "s"), ("TIKTOK_PIXEL_CODE", "C1"), ("TIKTOK_ACCESS_TOKEN", "k")];
        let header = r#"[{"event_name":"ViewContent"},{"event_name":"Purchase","event_id":"o-1","destinations":["ga4"]}]"#;
        let html = ResponseFacts { status: 200, content_type: Some("text/html".into()), ..Default::default() };
        let statistics_only = RequestFacts { country: Some("IT".into()), cookie: Some("cmplz_statistics=allow; cmplz_marketing=deny".into()), ..request() };
        let Plan::Route(routed) = run_with(header, &statistics_only, &html, &ConsentSettings::default(), &FirstPartySettings { ga: true, ..Default::default() }, all) else { panic!() };
        assert!(matches!(routed.outcomes[0], Outcome::Withheld { rule: DenialRule::ConsentDenied, .. }), "{:?}", routed.outcomes[0]);
        assert!(matches!(routed.outcomes[2], Outcome::Withheld { .. }));
        let Outcome::Mapped { mapped: Some(ga4), dropped } = &routed.outcomes[1] else { panic!("{:?}", routed.outcomes[1]) };
        assert!(dropped.is_empty());
        assert_eq!(ga4.names, ["view_item", "purchase"]);
        assert_eq!(ga4.ids, ["fresh-1", "o-1"]);
        let body: Value = serde_json::from_str(&ga4.part).unwrap();
        assert_eq!(body["consent"], json!({"ad_user_data": "DENIED", "ad_personalization": "DENIED"}));
        assert_eq!(body["client_id"], "77.1763900000", "minted on this response");

        let everyone = RequestFacts { country: Some("US".into()), ..request() };
        let Plan::Route(routed) = run_with(header, &everyone, &html, &ConsentSettings::default(), &FirstPartySettings { ga: true, ..Default::default() }, all) else { panic!() };
        let ids = |o: &Outcome| match o {
            Outcome::Mapped { mapped: Some(m), .. } => m.ids.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(ids(&routed.outcomes[0]), ["fresh-1"], "the Purchase names GA4 only");
        assert_eq!(ids(&routed.outcomes[1]), ["fresh-1", "o-1"]);
        assert_eq!(ids(&routed.outcomes[2]), ["fresh-1"], "the same id everywhere");
        let only_ga4 = r#"{"event_name":"Purchase","destinations":["ga4"]}"#;
        let Plan::Route(routed) = run_with(only_ga4, &everyone, &html, &ConsentSettings::default(), &FirstPartySettings::default(), all) else { panic!() };
        assert_eq!(routed.outcomes[0], Outcome::NotListed);
        assert_eq!(routed.outcomes[2], Outcome::NotListed);
    }

    #[test]
    fn gpc_in_ldu_mode_reaches_only_destinations_that_restrict_processing() {
        let ldu = ConsentSettings { gpc_mode: crate::visitor::consent::GpcMode::Ldu, ..Default::default() };
        let all = &[("META_PIXEL_ID", "1"), ("META_ACCESS_TOKEN", "t"), ("GA4_MEASUREMENT_ID", "G-ABC123"), ("GA4_API_SECRET", "s"), ("TIKTOK_PIXEL_CODE", "C1"), ("TIKTOK_ACCESS_TOKEN", "k")];
        let req = RequestFacts { gpc: true, country: Some("US".into()), cookie: Some("_ga=GA1.1.1.2".into()), ..request() };
        let header = r#"{"event_name":"Purchase","user_data":{"em":"a@b.example"}}"#;
        let Plan::Route(routed) = run_with(header, &req, &ResponseFacts::default(), &ldu, &FirstPartySettings::default(), all) else { panic!() };
        assert!(matches!(routed.outcomes[0], Outcome::Mapped { mapped: Some(_), .. }), "Meta, with Limited Data Use");
        assert!(matches!(&routed.outcomes[2], Outcome::Withheld { rule: DenialRule::Gpc, source: Source::Gpc, names } if !names.is_empty()), "TikTok has no LDU");
        let Outcome::Mapped { mapped: Some(ga4), .. } = &routed.outcomes[1] else { panic!() };
        let body: Value = serde_json::from_str(&ga4.part).unwrap();
        assert_eq!(body["consent"], json!({"ad_user_data": "DENIED", "ad_personalization": "DENIED"}), "GA4 counts, no ads use");
        assert!(body.get("user_data").is_none());
    }

    #[test]
    fn gpc_in_ldu_mode_flags_every_event() {
        let ldu = ConsentSettings { gpc_mode: crate::visitor::consent::GpcMode::Ldu, ..Default::default() };
        let req = RequestFacts { gpc: true, ..request() };
        let header = r#"{"event_name":"PageView","data_processing_options":[]}"#;
        let off = FirstPartySettings { enabled: false, ..Default::default() };
        let body = meta_body(&run_with(header, &req, &ResponseFacts::default(), &ldu, &off, META_ONLY));
        assert_eq!(body["data"][0]["data_processing_options"], json!(["LDU"]));
        assert_eq!(body["data"][0]["data_processing_options_country"], json!(0));
        assert_eq!(body["data"][0]["data_processing_options_state"], json!(0));
    }

    #[test]
    fn the_event_carries_the_first_party_ids_set_on_its_response() {
        let req = RequestFacts { cookie: None, ..request() };
        let html = ResponseFacts { status: 200, content_type: Some("text/html".into()), ..Default::default() };
        let body = meta_body(&run_with(r#"{"event_name":"PageView"}"#, &req, &html, &ConsentSettings::default(), &FirstPartySettings::default(), META_ONLY));
        let ud = &body["data"][0]["user_data"];
        assert_eq!(ud["fbp"], "fb.1.1763900000123.77");
        assert_eq!(ud["fbc"], "fb.1.1763900000123.IwAR-x_1");
    }

    #[test]
    fn fresh_page_builds_the_full_event() {
        let header = r#"{"event_name":"ViewContent","event_id":"origin-1","custom_data":{"value":9.5,"currency":"eur"},"contents":[{"id":"42","quantity":1}],"user_data":{"em":"A@B.example","xx":"y"}}"#;
        let plan = run(header, &request(), &ResponseFacts { status: 200, ..Default::default() });
        assert!(!replay(&plan));
        assert_eq!(
            meta_body(&plan),
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
                        "em": [crate::event::pii::sha256_hex("a@b.example")],
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
        let body = meta_body(&run(r#"[{"event_name":"A"},{"event_name":"B","event_source_url":"https://shop.example/c?phone=123&x=1"}]"#, &req, &ResponseFacts::default()));
        let (a, b) = (&body["data"][0], &body["data"][1]);
        assert_eq!(a["event_source_url"], "https://shop.example/p?fbclid=IwAR-x_1&utm_source=nl");
        assert_eq!(b["event_source_url"], "https://shop.example/c?x=1");
        assert_eq!(a["referrer_url"], "https://mail.example/open?id=7");
        assert_eq!(a["user_data"]["fbc"], "fb.1.1763900000123.IwAR-x_1", "the click id is still read");
    }

    #[test]
    fn cache_replay_gets_fresh_ids_and_no_header_user_data() {
        let header = r#"[{"event_name":"ViewContent","event_id":"origin-1","user_data":{"em":"a@b.example"}},{"event_name":"AddToCart","event_id":"origin-2"}]"#;
        for resp in [
            ResponseFacts { status: 200, cf_cache_status: Some("HIT".into()), ..Default::default() },
            ResponseFacts { status: 200, age: Some("30".into()), ..Default::default() },
        ] {
            let plan = run(header, &request(), &resp);
            assert!(replay(&plan));
            let body = meta_body(&plan);
            assert_eq!((body["data"][0]["event_id"].as_str(), body["data"][1]["event_id"].as_str()), (Some("fresh-1"), Some("fresh-2")));
            let ud = &body["data"][0]["user_data"];
            assert!(ud.get("em").is_none());
            assert_eq!(ud["client_ip_address"], "203.0.113.9");
        }
    }

    #[test]
    fn missing_event_id_is_fresh_each_time() {
        let body = meta_body(&run(r#"[{"event_name":"A"},{"event_name":"B"}]"#, &request(), &ResponseFacts::default()));
        assert_eq!((body["data"][0]["event_id"].as_str(), body["data"][1]["event_id"].as_str()), (Some("fresh-1"), Some("fresh-2")));
    }

    #[test]
    fn bots_skip_before_decoding_and_bad_headers_reject() {
        let bot = RequestFacts { user_agent: Some("Googlebot/2.1".into()), ..request() };
        assert_eq!(run("garbage", &bot, &ResponseFacts::default()), Plan::Skip(SkipRule::CrawlerUserAgent));
        assert!(matches!(run("{bad", &request(), &ResponseFacts::default()), Plan::Reject(DecodeError::BadJson { .. })));
    }

    #[test]
    fn an_order_fixes_its_event_id_and_an_explicit_id_wins() {
        let order = r#"{"event_name":"Purchase","custom_data":{"order_id":"A-1001","value":9.5,"currency":"EUR"}}"#;
        let fresh = ResponseFacts { status: 200, ..Default::default() };
        let replayed = ResponseFacts { status: 200, cf_cache_status: Some("HIT".into()), ..Default::default() };
        let id = |header: &str, resp: &ResponseFacts| meta_body(&run(header, &request(), resp))["data"][0]["event_id"].as_str().unwrap().to_string();
        let first = id(order, &fresh);
        assert_eq!(first, crate::event::id::order_event_id("1", "Purchase", "A-1001"), "scoped by the pixel id");
        assert_eq!(id(order, &fresh), first, "a reload sends the same id");
        assert_eq!(id(order, &replayed), first, "so does a cache replay");
        let numeric = r#"{"event_name":"Purchase","custom_data":{"order_id":1001}}"#;
        assert_eq!(id(numeric, &fresh), crate::event::id::order_event_id("1", "Purchase", "1001"));
        let explicit = r#"{"event_name":"Purchase","event_id":"mine","custom_data":{"order_id":"A-1001"}}"#;
        assert_eq!(id(explicit, &fresh), "mine", "the origin's id wins");
        assert_eq!(id(explicit, &replayed), first, "except on a replay, where the order still fixes it");
        assert_eq!(id(r#"{"event_name":"Purchase","custom_data":{"order_id":""}}"#, &fresh), "fresh-1");
    }

    #[test]
    fn each_event_counts_for_the_stats_with_an_id_only_when_it_can_repeat() {
        let header = r#"[{"event_name":"Purchase","custom_data":{"order_id":"A-1","value":"59.98","currency":"eur"}},{"event_name":"ViewContent"},{"event_name":"Lead","event_id":"l-1"}]"#;
        let conversions = |resp: &ResponseFacts, req: &RequestFacts| match run(header, req, resp) {
            Plan::Route(r) => r.conversions,
            other => panic!("{other:?}"),
        };
        let fresh = ResponseFacts { status: 200, ..Default::default() };
        let order_id = crate::event::id::order_event_id("1", "Purchase", "A-1");
        let got = conversions(&fresh, &request());
        assert_eq!(got[0], Conversion { event_name: "Purchase".into(), once_id: Some(order_id.clone()), revenue: Some(("EUR".into(), 59_980)) });
        assert_eq!((got[1].event_name.as_str(), got[1].once_id.as_deref()), ("ViewContent", None), "a fresh random id never repeats");
        assert_eq!(got[2].once_id.as_deref(), Some("l-1"), "the origin's own id");
        let replayed = ResponseFacts { status: 200, cf_cache_status: Some("HIT".into()), ..Default::default() };
        let again = conversions(&replayed, &request());
        assert_eq!(again[0].once_id, Some(order_id), "a replayed order page counts once with the first");
        assert_eq!(again[2].once_id, None, "a replay's minted id");
        let italy = RequestFacts { country: Some("IT".into()), ..request() };
        assert_eq!(conversions(&fresh, &italy).len(), 3, "counted whatever the consent");
    }

    #[test]
    fn contents_without_ids_are_never_sent() {
        let header = r#"[{"event_name":"ViewContent","event_id":"v1","contents":[{"id":"p1"},{"quantity":2}]},{"event_name":"Purchase","event_id":"p1","contents":[{"quantity":1}]}]"#;
        let plan = run(header, &request(), &ResponseFacts::default());
        let Plan::Route(routed) = &plan else { panic!("{plan:?}") };
        assert_eq!(routed.trimmed, [Trimmed { event_name: "ViewContent".into(), event_id: "v1".into(), left_out: 1 }]);
        let Outcome::Mapped { mapped: Some(mapped), dropped } = &routed.outcomes[0] else { panic!("{:?}", routed.outcomes[0]) };
        assert_eq!(mapped.ids, ["v1"], "the Purchase has no product left: not sent");
        assert_eq!((dropped[0].event_id.as_str(), dropped[0].event_name.as_str()), ("p1", "Purchase"));
        assert!(dropped[0].reason.starts_with("custom_data.contents: none of its 1 items has an id"), "{}", dropped[0].reason);
        assert_eq!(meta_body(&plan)["data"][0]["custom_data"]["contents"], json!([{"id": "p1"}]));
        let only = run(r#"{"event_name":"Purchase","contents":[{"quantity":1}]}"#, &request(), &ResponseFacts::default());
        let Plan::Route(routed) = &only else { panic!() };
        assert!(matches!(&routed.outcomes[0], Outcome::Mapped { mapped: None, dropped } if dropped.len() == 1));
    }

    #[test]
    fn a_header_naming_no_destination_is_rejected() {
        let header = r#"[{"event_name":"A","destinations":["meta"]},{"event_name":"B","destinations":["ga4","facebook"]}]"#;
        let Plan::Reject(e) = run(header, &request(), &ResponseFacts::default()) else { panic!("expected Reject") };
        assert_eq!(e.code(), "invalid_field");
        let every = registry::names().collect::<Vec<_>>().join(", ");
        assert!(every.starts_with("meta, ga4, tiktok"));
        assert_eq!(e.to_string(), format!("event 1: destinations must be an array of destination names: {every}"));
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
        let body = meta_body(&run(r#"{"event_name":"PageView","event_source_url":"https://shop.example/canonical"}"#, &req, &ResponseFacts::default()));
        let e = &body["data"][0];
        assert_eq!(e["user_data"], json!({"client_user_agent": UA}));
        assert_eq!(e["event_source_url"], "https://shop.example/canonical");
        assert!(e.get("referrer_url").is_none());
    }
}
