//! The Workers adapter: the only code that touches `worker`/`web_sys` types.
//!
//! The request path is split by temperature. The hot path, every request, runs in the
//! JavaScript entry (`src/edge/entry.js` and its modules in `src/edge/js/`): it re-issues the request to the origin with the
//! forwarding rules this module hands it once per isolate ([`configure`]), and a response
//! without the tracking header goes back as the very same object, with no call into wasm at
//! all. A JS↔wasm call costs more than the rest of a passthrough, so wasm is entered only for
//! tracked responses ([`track`], as the response is handed back; the send waits in
//! `ctx.waitUntil`), for responses whose headers name the origin's host ([`public_headers`],
//! with `ORIGIN_URL` only) and for the rare error paths ([`origin_error`], [`config_error`],
//! [`strip_failed`]), where every decision, log line and error response is made here; and
//! for the queue consumers ([`consume`], [`dead_letters`]).
//!
//! May use: every part (it is the top layer, wasm32 only). Nothing imports it.

mod analytics;
mod delivery;
mod facts;
mod forward;
mod js;
mod log;
mod page_events;
mod replay;
mod settings;

use crate::analytics::delivery_counts::{DeliveryOutcome, UNREAD_EVENT};
use crate::log::line::{Decision, RequestLabel};
use crate::proxy::request_facts::{RequestFacts, ResponseFacts};
use crate::bots::skip_rules::skip_rule;
use crate::config::Config;
use crate::log::debug_report::{self, Report};
use crate::destinations::Mode;
use crate::tracking::{plan, Inputs, Outcome, Plan, CONTENTS_FIELD};
use crate::visitor::first_party::FBP_RANDOM_MAX;
use crate::visitor::{visit, Visit};
use crate::proxy::origin_rewrite::OriginRewrite;
use crate::proxy::upstream::{CONNECTION_OPTIONS, HOP_BY_HOP_REQUEST_HEADERS, PROTECTED_REQUEST_HEADERS, PROTECTED_REQUEST_PREFIXES};
use delivery::{After, PendingDelivery};
use serde_json::json;
use wasm_bindgen::prelude::*;
use web_sys::{Headers, Request, Response};

/// The forwarding rules for the JS hot path, from the configuration (parsed once per
/// isolate): `{origin: string|null, trackingHeader, dropHeaders: string[], connectionKeep:
/// string[], protectedPrefixes: string[]}`, or `{error: string}` when `ORIGIN_URL` or
/// `TRACKING_HEADER` is invalid. `connectionKeep` and `protectedPrefixes` name what a
/// `Connection` token never removes. Also `firstParty` (whether `_fbp`/`_fbc` are set) and
/// `consentCookies` (the names of the cookies that may say no), `gaCookie` (GA4 is on: `_ga`
/// is set) and `ttclid` (TikTok is on: its click id is kept), for the JS pre-check of
/// untracked pages. `analytics`: `{counting, flushMs, statsPath}` (see `analytics::rules`).
/// `delivery`: `"queue"`, `"direct"` or `null` (`DELIVERY` unset: the queue when its
/// binding exists); `queueMaxSubrequests`: `QUEUE_MAX_SUBREQUESTS`. `debug`: whether `DEBUG_TOKEN` is set (a request may then ask for the `Tagrelay-Debug`
/// report, and the request header is never forwarded: it is in `dropHeaders`).
#[wasm_bindgen]
pub fn configure(env: &JsValue) -> JsValue {
    let rules = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| {
        let _ = js_sys::Reflect::set(&rules, &JsValue::from_str(k), v);
    };
    let list = |items: &mut dyn Iterator<Item = &str>| -> js_sys::Array { items.map(JsValue::from_str).collect() };
    match settings::config(env) {
        Ok(config) => {
            let origin = config.origin.as_ref().map_or(JsValue::NULL, |o| JsValue::from_str(o.as_str()));
            let drop = list(&mut HOP_BY_HOP_REQUEST_HEADERS.iter().copied().chain([config.tracking_header.as_str(), debug_report::HEADER]));
            let keep = list(&mut CONNECTION_OPTIONS.iter().chain(&PROTECTED_REQUEST_HEADERS).copied());
            set("origin", &origin);
            set("trackingHeader", &JsValue::from_str(&config.tracking_header));
            set("dropHeaders", &drop);
            set("connectionKeep", &keep);
            set("protectedPrefixes", &list(&mut PROTECTED_REQUEST_PREFIXES.iter().copied()));
            let first_party = config.first_party.as_ref().ok().filter(|f| f.enabled);
            set("firstParty", &JsValue::from_bool(first_party.is_some()));
            set("gaCookie", &JsValue::from_bool(first_party.is_some_and(|f| f.ga)));
            set("ttclid", &JsValue::from_bool(first_party.is_some_and(|f| f.ttclid)));
            let consent_cookies = config.consent.as_ref().map(crate::visitor::consent::signals::cookie_names).unwrap_or_default();
            set("consentCookies", &list(&mut consent_cookies.into_iter()));
            set("analytics", &analytics::rules(&config.analytics, env));
            set("debug", &JsValue::from_bool(config.debug_token.is_some()));
            let delivery = match config.meta.as_ref().ok().and_then(|m| m.delivery_mode) {
                Some(crate::delivery::queue::DeliveryMode::Queue) => JsValue::from_str("queue"),
                Some(crate::delivery::queue::DeliveryMode::Direct) => JsValue::from_str("direct"),
                None => JsValue::NULL,
            };
            set("delivery", &delivery);
            let max = config.meta.as_ref().map_or(crate::delivery::queue::DEFAULT_MAX_SUBREQUESTS, |m| m.queue_max_subrequests);
            set("queueMaxSubrequests", &JsValue::from_f64(f64::from(max)));
            set("pixelEventIds", &JsValue::from_bool(config.meta.as_ref().is_ok_and(|m| m.pixel_event_ids)));
            set("pageEvents", &page_events::js_rules(env));
        }
        Err(err) => set("error", &JsValue::from_str(&err.to_string())),
    }
    rules.into()
}

/// The configuration is invalid (`reason`, from [`configure`]): log why, answer 502.
#[wasm_bindgen]
pub fn config_error(reason: &str, req: &Request) -> Result<Response, JsValue> {
    log::line(&facts::label(req, Some(forward::MISCONFIGURED_STATUS)), Decision::ConfigError, [("reason", json!(reason))]);
    forward::error_response(forward::MISCONFIGURED_STATUS, forward::MISCONFIGURED_BODY)
}

/// The origin could not be reached (`error` is what the last `fetch` threw, after
/// `attempts` tries): log why, answer 502.
#[wasm_bindgen]
pub fn origin_error(req: &Request, error: &JsValue, attempts: u32) -> Result<Response, JsValue> {
    log::line(&facts::label(req, Some(forward::BAD_GATEWAY_STATUS)), Decision::OriginError, [
        ("reason", json!(format!("origin unreachable: {}", js::describe(error)))),
        ("attempts", json!(attempts)),
    ]);
    forward::error_response(forward::BAD_GATEWAY_STATUS, forward::BAD_GATEWAY_BODY)
}

/// The runtime refused to rebuild a tracked response (`error`: what it threw; an origin
/// status outside what a Response may carry, say), so the tracking header cannot be removed.
/// Fails closed: logs why and returns a short 502, so the header never reaches the client.
#[wasm_bindgen]
pub fn strip_failed(req: &Request, status: u16, error: &JsValue) -> Result<Response, JsValue> {
    log::line(&facts::label(req, Some(forward::BAD_GATEWAY_STATUS)), Decision::OriginError, [
        ("origin_status", json!(status)),
        ("reason", json!(format!("the origin's response cannot be passed on without the tracking header: {}", js::describe(error)))),
    ]);
    forward::error_response(forward::BAD_GATEWAY_STATUS, forward::UNFORWARDABLE_BODY)
}

/// The response headers that must change so that no URL or cookie of the origin's own host
/// (`origin`, `ORIGIN_URL`) reaches the client: see [`crate::proxy::origin_rewrite`]. `public` is
/// the scheme and host the browser asked for. Returns `undefined` when nothing changes, else
/// `{location?, contentLocation?, refresh?, setCookie?: string[]}` (`setCookie`: every cookie,
/// in order, to replace them all).
#[wasm_bindgen]
pub fn public_headers(
    origin: &str,
    public: &str,
    location: Option<String>,
    content_location: Option<String>,
    refresh: Option<String>,
    set_cookies: Option<Vec<String>>,
) -> JsValue {
    let rewrite = OriginRewrite::new(origin, public);
    let changes = js_sys::Object::new();
    let mut changed = false;
    let mut set = |k: &str, v: &JsValue| {
        changed = true;
        let _ = js_sys::Reflect::set(&changes, &JsValue::from_str(k), v);
    };
    for (key, value) in [("location", &location), ("contentLocation", &content_location)] {
        if let Some(url) = value.as_deref().and_then(|v| rewrite.url(v)) {
            set(key, &JsValue::from_str(&url));
        }
    }
    if let Some(value) = refresh.as_deref().and_then(|v| rewrite.refresh(v)) {
        set("refresh", &JsValue::from_str(&value));
    }
    if let Some(cookies) = set_cookies {
        let rewritten: Vec<Option<String>> = cookies.iter().map(|c| rewrite.set_cookie(c)).collect();
        if rewritten.iter().any(Option::is_some) {
            let all: js_sys::Array =
                cookies.iter().zip(rewritten).map(|(c, r)| JsValue::from_str(r.as_deref().unwrap_or(c))).collect();
            set("setCookie", &all);
        }
    }
    if changed { changes.into() } else { JsValue::UNDEFINED }
}

/// Tracking for one response that carried the header, run as the response is handed back:
/// decides consent, sets the first-party cookies on `headers` (the response's, already
/// without the tracking header), decides and logs, and adds the events to the isolate's
/// batches. `headers` is `None` for an event from the page itself (`PAGE_EVENTS`), tracked
/// once the page has gone out: then what only the response could carry (cookies, kept match
/// keys, the pixel's event ids, the debug report) is neither made nor written. Returns -1
/// when this page view has nothing more to do, else a code: its low 16 bits the milliseconds
/// to wait before sending, with [`take_batch`], the batches whose windows it opened
/// (`0xFFFF`: no window to wait for), bit 16 set when a batch is full and must be sent now
/// (`take_batch(env, 0, …)`), and bits 17 to 30 the windows it opened, one bit per route
/// ([`Due::code`]). The JS entry reads the request's facts and passes them in this one call,
/// so tracking crosses into wasm once per response (reading them through `web_sys` took a
/// crossing per header).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn track(
    env: &JsValue,
    header_value: &str,
    method: String,
    url: String,
    user_agent: Option<String>,
    cf_connecting_ip: Option<String>,
    cookie: Option<String>,
    referer: Option<String>,
    purpose: Option<String>,
    ray: Option<String>,
    verified_bot: Option<bool>,
    bot_score: Option<f64>,
    country: Option<String>,
    sec_gpc: Option<String>,
    status: u16,
    content_type: Option<String>,
    cf_cache_status: Option<String>,
    age: Option<String>,
    debug: Option<String>,
    headers: Option<Headers>,
) -> i32 {
    let Ok(config) = settings::config(env) else { return NOTHING_TO_SEND };
    let headers = headers.as_ref();
    if config.test_trap && header_value == crate::config::TEST_TRAP_HEADER_VALUE {
        panic!("TAGRELAY_TEST_TRAP: a trap forced by a test");
    }
    let request = RequestFacts {
        method,
        url,
        user_agent,
        cf_connecting_ip,
        cookie,
        referer,
        purpose,
        verified_bot,
        bot_score: facts::bot_score(bot_score),
        ray,
        country,
        gpc: facts::gpc(sec_gpc.as_deref()),
    };
    let response = ResponseFacts { status, cf_cache_status, age, content_type };
    let label = label_of(&request, status);
    PIXEL_BLOCK.with_borrow_mut(|block| *block = None);
    let mut report = headers.filter(|_| debug_report::wanted(debug.as_deref(), config.debug_token.as_deref())).map(|h| (h, Report::default()));
    let wait = decide(config, header_value, &request, &response, &label, headers, report.as_mut().map(|(_, r)| r));
    if let Some((headers, report)) = report {
        let _ = headers.set(debug_report::HEADER, &report.header_value());
    }
    wait
}

/// [`track`]'s decision, logged line by line and, when asked for, written into `report` too.
fn decide(
    config: &'static Config,
    header_value: &str,
    request: &RequestFacts,
    response: &ResponseFacts,
    label: &RequestLabel,
    headers: Option<&Headers>,
    mut report: Option<&mut Report>,
) -> i32 {
    let mut note = |destination: Option<&str>, decision: &str, fields: Vec<(&'static str, serde_json::Value)>| {
        if let Some(r) = report.as_deref_mut() {
            match destination {
                Some(name) => r.destination(name, decision, fields),
                None => r.page(decision, fields),
            }
        }
    };
    let shared = match &config.meta {
        Ok(meta) => meta,
        Err(err) => {
            log::line(label, Decision::Disabled, [("reason", json!(err.to_string()))]);
            note(None, "disabled", vec![("reason", json!(err.to_string()))]);
            return NOTHING_TO_SEND;
        }
    };
    let routes = settings::routes(config);
    let now_ms = js::now_ms();
    let Some((visit, skip)) = visitor(config, request, response, label, headers, now_ms) else {
        note(None, "disabled", vec![("reason", json!("a setting is unusable: see the disabled log line"))]);
        return NOTHING_TO_SEND;
    };
    let keep_user_data = headers.is_some() && matches!(config.user_data_cookie, Ok(Some(_)));
    let count_conversions = analytics::counting();
    let inputs = Inputs { request, response, skip, visit: &visit, strip: &shared.strip_query_params, routes: &routes.on, now_ms, keep_user_data, count_conversions };
    let decision = settings::with_decode_cache(|headers| plan(header_value, &inputs, headers, &mut js::random_uuid));
    let mut routed = match decision {
        Plan::Skip(rule) => {
            log::line(label, Decision::Skipped, [("rule", json!(rule.code())), ("detail", json!(rule.to_string()))]);
            for route in &routes.on {
                analytics::count_delivery(route.destination.name(), DeliveryOutcome::Skipped, rule.code(), None, &[UNREAD_EVENT]);
            }
            note(None, "skipped", vec![("rule", json!(rule.code())), ("detail", json!(rule.to_string()))]);
            return NOTHING_TO_SEND;
        }
        Plan::Reject(err) => {
            log::line(label, Decision::Rejected, [("code", json!(err.code())), ("reason", json!(err.to_string()))]);
            let reason = err.to_string();
            for route in &routes.on {
                analytics::count_delivery(route.destination.name(), DeliveryOutcome::Rejected, err.code(), Some(&reason), &[UNREAD_EVENT]);
            }
            note(None, "rejected", vec![("code", json!(err.code())), ("reason", json!(err.to_string()))]);
            return NOTHING_TO_SEND;
        }
        Plan::Route(routed) => routed,
    };
    if let (Some(keep), Some(headers)) = (&routed.keep, headers) {
        keep_match_keys(config, request, keep, headers);
    }
    if !routed.conversions.is_empty() {
        analytics::count_conversions(request, now_ms, std::mem::take(&mut routed.conversions));
    }
    if let Some(headers) = headers {
        let pixel_block = shared.pixel_event_ids && !routed.pixel_events.is_empty() && is_html_page(request, response);
        if pixel_block {
            PIXEL_BLOCK.with_borrow_mut(|block| *block = Some(crate::tracking::pixel_ids::data_block(&routed.pixel_events)));
            // Its bytes are no longer the origin's, so a strong validator becomes a weak one.
            if let Some(etag) = headers.get("etag").ok().flatten().filter(|e| !e.starts_with("W/")) {
                let _ = headers.set("etag", &format!("W/{etag}"));
            }
        }
        if routed.keep.is_some() || pixel_block {
            // The response holds this visitor's match keys or event ids: no shared cache may keep it.
            make_private(headers);
        }
    }
    for t in &routed.trimmed {
        let fields = vec![
            ("field", json!(CONTENTS_FIELD)),
            ("event_names", json!([t.event_name])),
            ("event_ids", json!([t.event_id])),
            ("left_out", json!(t.left_out)),
            ("reason", json!("items without an id are never sent: the platforms refuse them; give each item an id")),
        ];
        log::line(label, Decision::Trimmed, fields.iter().cloned());
        note(None, "trimmed", fields);
    }
    for (name, err) in &routes.broken {
        log::line(label, Decision::Disabled, [("destination", json!(name)), ("reason", json!(err.to_string()))]);
        note(Some(name), "disabled", vec![("reason", json!(err.to_string()))]);
    }
    let mut due = Due::default();
    for (index, (route, outcome)) in routes.on.iter().zip(routed.outcomes).enumerate() {
        let name = route.destination.name();
        let next = match outcome {
            Outcome::NotListed => {
                note(Some(name), "not_listed", Vec::new());
                After::Nothing
            }
            Outcome::Withheld { rule, source, names } => {
                analytics::count_delivery(name, DeliveryOutcome::Skipped, rule.code(), None, &names);
                let fields = [("rule", json!(rule.code())), ("consent_source", json!(source.code()))];
                log::line(label, Decision::Skipped, [("destination", json!(name)), fields[0].clone(), fields[1].clone()]);
                note(Some(name), "skipped", fields.to_vec());
                After::Nothing
            }
            Outcome::Mapped { mapped, dropped } => {
                for d in &dropped {
                    analytics::count_delivery(name, DeliveryOutcome::Rejected, DROPPED_CODE, Some(&d.reason), &[&d.event_name]);
                    let fields = vec![
                        ("code", json!(DROPPED_CODE)),
                        ("event_names", json!([d.event_name])),
                        ("event_ids", json!([d.event_id])),
                        ("reason", json!(d.reason)),
                    ];
                    log::line(label, Decision::Rejected, std::iter::once(("destination", json!(name))).chain(fields.iter().cloned()));
                    note(Some(name), "rejected", fields);
                }
                match mapped {
                    Some(mapped) => {
                        if route.mode == Mode::Live {
                            analytics::count_match(name, &mapped);
                        }
                        let ids = vec![("event_names", json!(mapped.names)), ("event_ids", json!(mapped.ids))];
                        let next = delivery::prepare(label, index, route, mapped, routed.replay, shared.batch_window_ms);
                        let decision = match (route.mode, next) {
                            (Mode::DryRun { .. }, _) => "dry_run",
                            (Mode::Live, After::SendFull) => "sending",
                            (Mode::Live, _) => "batched",
                        };
                        note(Some(name), decision, ids);
                        next
                    }
                    None => After::Nothing,
                }
            }
        };
        due.add(next, index);
    }
    due.code()
}

/// `code` of a `rejected` line for an event one destination cannot express.
const DROPPED_CODE: &str = "unmappable";

/// [`track`]'s answer when the page view has nothing more to do.
pub const NOTHING_TO_SEND: i32 = -1;
/// In [`track`]'s answer: no window was opened (the low bits).
const NO_WINDOW: i32 = 0xFFFF;
/// In [`track`]'s answer: a batch is full, send the full batches now (a high bit).
const SEND_FULL: i32 = 1 << 16;
/// In [`track`]'s answer: the first bit of the windows opened, one per route (bits 17–30).
const WINDOWS_SHIFT: u32 = 17;
/// Routes with a bit of their own in [`track`]'s answer; a route past them shares the last
/// bit with every route after it ([`window_bit`]).
const WINDOW_BITS: usize = 14;

/// The bit of route number `index` in the windows of [`track`]'s answer and of
/// [`take_batch`]'s `windows`.
fn window_bit(index: usize) -> u32 {
    1 << index.min(WINDOW_BITS - 1)
}

/// Whether `windows` (bits of [`window_bit`]) holds route number `index`.
fn in_windows(windows: u32, index: usize) -> bool {
    windows & window_bit(index) != 0
}

/// What a page view must still do, for all its destinations: the shortest window it opened
/// (the low 16 bits, [`NO_WINDOW`] when none), whether a batch is full ([`SEND_FULL`]) and
/// which routes' windows it opened, so that its timer sends those batches and no other (a
/// batch whose window another page view opened later waits for that one's timer);
/// [`NOTHING_TO_SEND`] when it has nothing to do. One number, so crossing back to JS
/// allocates nothing.
#[derive(Debug, Clone, Copy, Default)]
struct Due {
    window_ms: Option<u32>,
    windows: u32,
    full: bool,
}

impl Due {
    fn add(&mut self, next: After, index: usize) {
        match next {
            After::Nothing => {}
            After::Window(ms) => {
                self.window_ms = Some(self.window_ms.map_or(ms, |w| w.min(ms)));
                self.windows |= window_bit(index);
            }
            After::SendFull => self.full = true,
        }
    }

    fn code(self) -> i32 {
        if self.window_ms.is_none() && !self.full {
            return NOTHING_TO_SEND;
        }
        let window = self.window_ms.map_or(NO_WINDOW, |ms| i32::try_from(ms).unwrap_or(NO_WINDOW - 1).min(NO_WINDOW - 1));
        // At most WINDOW_BITS bits, so the code stays a positive i32.
        let windows = i32::try_from(self.windows << WINDOWS_SHIFT).unwrap_or(0);
        window | windows | if self.full { SEND_FULL } else { 0 }
    }
}

/// The `Tagrelay-Debug` report of a response without the tracking header, when `presented`
/// is the `DEBUG_TOKEN`: sets it on `headers` (the rebuilt response's). The JS entry calls
/// this only when `DEBUG_TOKEN` is set and the request carries the header.
#[wasm_bindgen]
pub fn debug_untracked(env: &JsValue, presented: &str, headers: &Headers) {
    let Ok(config) = settings::config(env) else { return };
    if !debug_report::wanted(Some(presented), config.debug_token.as_deref()) {
        return;
    }
    let mut report = Report::default();
    report.page("untracked", [("reason", json!(format!("the response has no {} header", config.tracking_header)))]);
    let _ = headers.set(debug_report::HEADER, &report.header_value());
}

/// First-party cookies for a response without the tracking header (an ad click often lands
/// on a page without an event): decides consent and appends the `Set-Cookie`s, if any, to
/// `headers` (the rebuilt response's). The JS entry calls this only when its cheap checks say
/// a cookie may be due (see `maybeNeedsCookies` in src/edge/js/cookies.js).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn first_party_cookies(
    env: &JsValue,
    method: String,
    url: String,
    user_agent: Option<String>,
    cookie: Option<String>,
    purpose: Option<String>,
    ray: Option<String>,
    verified_bot: Option<bool>,
    bot_score: Option<f64>,
    country: Option<String>,
    sec_gpc: Option<String>,
    status: u16,
    content_type: Option<String>,
    headers: &Headers,
) {
    let Ok(config) = settings::config(env) else { return };
    let request = RequestFacts {
        method,
        url,
        user_agent,
        cookie,
        purpose,
        verified_bot,
        bot_score: facts::bot_score(bot_score),
        ray,
        country,
        gpc: facts::gpc(sec_gpc.as_deref()),
        ..Default::default()
    };
    let response = ResponseFacts { status, content_type, ..Default::default() };
    let label = label_of(&request, status);
    visitor(config, &request, &response, &label, Some(headers), js::now_ms());
}

fn label_of(request: &RequestFacts, status: u16) -> RequestLabel {
    RequestLabel {
        method: request.method.clone(),
        path: crate::proxy::upstream::path_only(&request.url).to_string(),
        status: Some(status),
        ray: request.ray.clone(),
    }
}

thread_local! {
    /// The pixel's data block of the last tracked response (`PIXEL_EVENT_IDS`).
    static PIXEL_BLOCK: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// An outdated TC string was logged by this isolate (once is enough to act on).
    static TCF_POLICY_WARNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Whether this isolate has logged an unusable `_tr_ud` cookie, or `USER_DATA_COOKIE`'s
    /// unusable settings: once each is enough.
    static USER_DATA_IGNORED_WARNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static USER_DATA_DISABLED_WARNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Why a `consent_outdated` line is written.
const TCF_POLICY_REASON: &str = "a TC string older than TCF v2.2 (TcfPolicyVersion below 4) was read; it is still honoured, but the CMP writing it must be updated to TCF v2.2 (logged once per isolate)";

/// The visitor half of a page view, shared by tracked and untracked responses: the skip rule,
/// consent and first-party ids, with the cookies appended to `headers` (none when the page
/// has gone out) and unreadable consent cookies logged (by name, never value). `None`
/// (logged) when tracking is disabled by a setting: then nothing is sent and no cookie set.
fn visitor(
    config: &crate::config::Config,
    request: &RequestFacts,
    response: &ResponseFacts,
    label: &RequestLabel,
    headers: Option<&Headers>,
    now_ms: u64,
) -> Option<(Visit, Option<crate::bots::skip_rules::SkipRule>)> {
    let disabled = |reason: String| log::line(label, Decision::Disabled, [("reason", json!(reason))]);
    let bots = settings::bot_matcher().map_err(|e| disabled(e.to_string())).ok()?;
    let consent = config.consent.as_ref().map_err(|e| disabled(e.to_string())).ok()?;
    let first_party = config.first_party.as_ref().map_err(|e| disabled(e.to_string())).ok()?;
    let skip = skip_rule(request, response.status, config.bot_score_threshold(), bots);
    let mut random = || (js::random() * f64::from(FBP_RANDOM_MAX)) as u32;
    let visit = visit(consent, first_party, user_data_cookie(config, label), request, response, skip, now_ms, &mut random);
    if let Some(why) = visit.kept_unusable {
        if !USER_DATA_IGNORED_WARNED.replace(true) {
            log::line(label, Decision::UserDataIgnored, [("cookie", json!(crate::visitor::user_data_cookie::COOKIE)), ("reason", json!(why.to_string()))]);
        }
    }
    for bad in &visit.consent.unreadable {
        log::line(label, Decision::ConsentUnreadable, [
            ("consent_source", json!(bad.source.code())),
            ("cookie", json!(bad.cookie)),
            ("reason", json!(format!("{}: counted as no signal", bad.reason))),
        ]);
    }
    if let Some(version) = visit.consent.outdated_tcf_policy() {
        if !TCF_POLICY_WARNED.replace(true) {
            log::line(label, Decision::ConsentOutdated, [
                ("consent_source", json!("tcf")),
                ("tcf_policy_version", json!(version)),
                ("reason", json!(TCF_POLICY_REASON)),
            ]);
        }
    }
    let Some(headers) = headers else { return Some((visit, skip)) };
    let ids = visit.browser_ids.iter().flat_map(|ids| &ids.set_cookies);
    let mut sets_cookies = false;
    for cookie in ids.chain(&visit.kept_expiry) {
        let _ = headers.append("set-cookie", cookie);
        sets_cookies = true;
    }
    if sets_cookies {
        // The visitor's own ids: no shared cache may keep this response for the next visitor.
        make_private(headers);
    }
    Some((visit, skip))
}

/// `USER_DATA_COOKIE`'s settings when it is on; its settings' error is logged once per isolate
/// (the feature is then off).
fn user_data_cookie<'c>(config: &'c crate::config::Config, label: &RequestLabel) -> Option<&'c crate::visitor::user_data_cookie::UserDataCookieSettings> {
    match &config.user_data_cookie {
        Ok(settings) => settings.as_ref(),
        Err(err) => {
            if !USER_DATA_DISABLED_WARNED.replace(true) {
                log::line(label, Decision::Disabled, [("feature", json!("user_data_cookie")), ("reason", json!(err.to_string()))]);
            }
            None
        }
    }
}

/// Keeps `keep` in the visitor's `_tr_ud` cookie, signed (`USER_DATA_COOKIE`); the caller
/// makes the response private.
fn keep_match_keys(config: &crate::config::Config, request: &RequestFacts, keep: &crate::visitor::user_data_cookie::KeptKeys, headers: &Headers) {
    use crate::visitor::{first_party, user_data_cookie};
    let (Ok(Some(settings)), Ok(cookies)) = (&config.user_data_cookie, &config.first_party) else { return };
    let value = user_data_cookie::encode(keep, settings);
    let cookie = first_party::cookie_for_page(cookies, &request.url, user_data_cookie::COOKIE, &value, settings.max_age_seconds, first_party::Reader::EdgeOnly);
    let _ = headers.append("set-cookie", &cookie);
}

/// Makes a response that carries a visitor's own ids `private` ([`crate::proxy::cache_control`]).
fn make_private(headers: &Headers) {
    let origin = headers.get("cache-control").ok().flatten();
    let _ = headers.set("cache-control", &crate::proxy::cache_control::private_cache_control(origin.as_deref()));
    for name in crate::proxy::cache_control::SHARED_CACHE_HEADERS {
        let _ = headers.delete(name);
    }
}

/// A GET answered 2xx `text/html`: the only response the pixel's event ids are written into.
fn is_html_page(request: &RequestFacts, response: &ResponseFacts) -> bool {
    request.method.eq_ignore_ascii_case("GET") && response.is_html_page()
}

/// The pixel's data block for the response [`track`] just decided, if it gets one (the JS
/// entry injects it into the HTML as it streams, with `HTMLRewriter`). Taken once.
#[wasm_bindgen]
pub fn take_pixel_block() -> Option<String> {
    PIXEL_BLOCK.with_borrow_mut(Option::take)
}

/// The queue consumer's requests for a batch of message `bodies` (see [`delivery::consume`]).
#[wasm_bindgen]
pub fn consume(env: &JsValue, bodies: Vec<String>, attempts: Vec<u32>) -> Vec<PendingDelivery> {
    match settings::config(env) {
        Ok(config) => delivery::consume(settings::routes(config), &bodies, &attempts),
        Err(_) => Vec::new(),
    }
}

/// How many page views the queue message `body` holds.
#[wasm_bindgen]
pub fn message_page_views(body: &str) -> u32 {
    delivery::message_page_views(body)
}

/// The body of a message holding only the page views at `positions` of `body` (those whose
/// requests failed for now), its tries counted on by `attempts`; see [`crate::delivery::queue::remainder`].
#[wasm_bindgen]
pub fn message_remainder(body: &str, positions: Vec<u32>, attempts: u32) -> Option<String> {
    crate::delivery::queue::remainder(body, &positions, attempts)
}

/// The dead-letter queue's consumer: logs each message's event ids ([`delivery::dead_letters`]),
/// saying whether they were kept for replay (`kept`) or why not (`keep_error`).
#[wasm_bindgen]
pub fn dead_letters(bodies: Vec<String>, attempts: Vec<u32>, kept: bool, keep_error: Option<String>) {
    delivery::dead_letters(&bodies, &attempts, kept, keep_error.as_deref());
}

/// The isolate's batches of events, to send now: the full ones, and those of the routes in
/// `windows` (the bits of [`track`]'s answer, after the window it asked to wait for; 0 when
/// it said a batch is full). One delivery per destination (per page view for GA4, unless
/// `for_queue`); empty when there is nothing to send.
#[wasm_bindgen]
pub fn take_batch(env: &JsValue, windows: u32, for_queue: bool) -> Vec<PendingDelivery> {
    match settings::config(env) {
        Ok(config) => delivery::take(settings::routes(config), |index| in_windows(windows, index), for_queue),
        Err(_) => Vec::new(),
    }
}
