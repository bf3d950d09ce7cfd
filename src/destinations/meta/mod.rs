//! Meta's Conversions API: the request body ([`capi_event`]) and the Graph API's answer
//! ([`graph_response`]). Events go as the origin named them, with the edge's user data
//! (IP, user agent, `fbp`, `fbc`) and the origin's PII normalized and hashed by Meta's rules.

pub mod capi_event;
pub mod graph_response;
pub mod settings;

use super::answer::{Accepted, Refusal};
use super::registry::Registration;
use crate::visitor::consent::TcfVendorSetting;
use super::{Destination, Dropped, Event, Limits, Mapped, PageView, Purpose};
use crate::visitor::click_ids;
use settings::Delivery;
use crate::proxy::cookies::cookie;
use crate::event::pii::normalize_and_hash;
use crate::proxy::upstream::path_and_query;
use capi_event::{EventsRequest, ServerEvent, UserData};
use serde_json::{json, Map, Value};
use std::fmt;

/// The destination's name.
pub const NAME: &str = "meta";
/// Default `action_source`.
pub const DEFAULT_ACTION_SOURCE: &str = "website";
/// Most events Meta accepts in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;
/// Meta's limits: up to [`MAX_EVENTS_PER_REQUEST`] events in a request, from any number of page views.
pub const LIMITS: Limits = Limits { events_per_request: MAX_EVENTS_PER_REQUEST, page_views_per_request: usize::MAX, page_views_per_send: usize::MAX };

/// The match keys the stats page's Match quality panel counts for Meta, in its order.
pub const MATCH_KEYS: [&str; 13] =
    ["em", "ph", "external_id", "fn", "ln", "ct", "st", "zp", "country", "fbp", "fbc", "client_ip_address", "client_user_agent"];

/// Which of [`MATCH_KEYS`] an event's `user_data` carries.
fn match_keys(user: &UserData) -> Vec<&'static str> {
    let edge = [("fbp", user.fbp.is_some()), ("fbc", user.fbc.is_some()), ("client_ip_address", user.client_ip_address.is_some()), ("client_user_agent", user.client_user_agent.is_some())];
    MATCH_KEYS
        .iter()
        .copied()
        .filter(|key| match edge.iter().find(|(k, _)| k == key) {
            Some((_, present)) => *present,
            None => user.hashed.iter().any(|(k, hashes)| k == key && !hashes.is_empty()),
        })
        .collect()
}

/// Meta's registration ([`super::registry`]): built from the shared tracking settings.
pub const REGISTRATION: Registration = Registration {
    name: NAME,
    vars: &settings::VARS,
    match_keys: &MATCH_KEYS,
    tcf_vendor: TcfVendorSetting { var: settings::VAR_TCF_VENDOR, default: None },
    parse: None,
};

/// Meta's Conversions API, for one dataset.
#[derive(Clone, PartialEq, Eq)]
pub struct Meta {
    events_url: String,
    access_token: Option<String>,
    test_event_code: Option<String>,
    /// Why events cannot be sent yet (a missing setting).
    missing: Option<&'static str>,
}

impl fmt::Debug for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meta").field("events_url", &self.events_url).field("missing", &self.missing).finish_non_exhaustive()
    }
}

impl Meta {
    /// Meta from its settings, and whether it is configured (`META_PIXEL_ID` set).
    pub fn from_settings(delivery: &Delivery, test_event_code: Option<String>) -> (Meta, bool) {
        let (events_url, access_token, missing, configured) = match delivery {
            Delivery::Live(endpoint) => (endpoint.events_url.clone(), Some(endpoint.access_token.clone()), None, true),
            Delivery::DryRun { reason, events_url } => {
                let missing = (*reason != crate::destinations::DRY_RUN_REASON).then_some(*reason);
                (events_url.clone().unwrap_or_default(), None, missing, events_url.is_some())
            }
        };
        (Meta { events_url, access_token, test_event_code, missing }, configured)
    }

    /// The Conversions API body for one page view's events (as sent, or redacted for a log).
    pub fn request(&self, page: &PageView<'_>, events: &[Event<'_>]) -> EventsRequest {
        let edge = edge_user_data(page);
        let data = events.iter().map(|e| server_event(e, page, &edge)).collect();
        let request = EventsRequest { data, test_event_code: self.test_event_code.clone() };
        if page.redact { request.redacted() } else { request }
    }
}

impl Destination for Meta {
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
        // `{base}/{version}/{dataset}/events`.
        self.events_url.rsplit('/').nth(1).unwrap_or("")
    }

    fn limits(&self) -> Limits {
        LIMITS
    }

    fn map(&self, page: &PageView<'_>, events: &[Event<'_>]) -> (Option<Mapped>, Vec<Dropped>) {
        let request = self.request(page, events);
        let part = request.data.iter().filter_map(|e| serde_json::to_string(e).ok()).collect::<Vec<_>>().join(",");
        let mapped = Mapped {
            names: request.data.iter().map(|e| e.event_name.clone()).collect(),
            ids: request.data.iter().map(|e| e.event_id.clone()).collect(),
            part,
            keys: request.data.iter().map(|e| match_keys(&e.user_data)).collect(),
        };
        (Some(mapped), Vec::new())
    }

    fn url(&self) -> String {
        self.events_url.clone()
    }

    fn shown_url(&self) -> String {
        self.events_url.clone()
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.access_token.iter().map(|t| ("authorization", format!("Bearer {t}"))).collect()
    }

    fn body(&self, parts: &[&str]) -> String {
        let mut body = String::from(r#"{"data":["#);
        body.push_str(&parts.join(","));
        body.push(']');
        if let Some(code) = &self.test_event_code {
            body.push_str(r#","test_event_code":"#);
            body.push_str(&json!(code).to_string());
        }
        body.push('}');
        body
    }

    fn read_answer(&self, status: u16, body: &str) -> Result<Accepted, Refusal> {
        graph_response::read(status, body)
    }

    fn missing_setting(&self) -> Option<&'static str> {
        self.missing
    }

    fn restricts_processing(&self) -> bool {
        true
    }
}

/// `client_ip_address`, `client_user_agent`, `fbp`, `fbc`: facts of this request. The
/// browser ids are the first-party ones set on this very response when there are any, so
/// the event carries exactly the values the browser keeps.
fn edge_user_data(page: &PageView<'_>) -> UserData {
    let (fbp, fbc) = match &page.visit.browser_ids {
        Some(ids) => (ids.fbp.clone(), ids.fbc.clone()),
        None => {
            let cookies = page.request.cookie.as_deref().unwrap_or("");
            let query = path_and_query(&page.request.url).split_once('?').map_or("", |(_, q)| q);
            (
                click_ids::fbp(cookie(cookies, "_fbp")),
                click_ids::fbc(cookie(cookies, "_fbc"), click_ids::fbclid_from_query(query), page.now_ms),
            )
        }
    };
    UserData {
        client_ip_address: page.ip.map(str::to_string),
        client_user_agent: page.user_agent.map(str::to_string),
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

fn server_event(event: &Event<'_>, page: &PageView<'_>, edge: &UserData) -> ServerEvent {
    let header = event.header;
    let mut user_data = edge.clone();
    if !page.replay && !header.user_data.is_empty() {
        for (key, values) in &header.user_data {
            let hashed: Vec<String> = values.iter().filter_map(|v| normalize_and_hash(key, v)).collect();
            if !hashed.is_empty() {
                user_data.hashed.push((key.clone(), hashed));
            }
        }
    } else if let Some(kept) = &page.visit.kept {
        // The visitor's kept match keys (`_tr_ud`): Meta's own hashes.
        user_data.hashed.extend(kept.meta().map(|(key, hash)| (key.to_string(), vec![hash.to_string()])));
    }
    let event_source_url = page.event_url(header);
    ServerEvent {
        event_name: header.event_name.clone(),
        event_time: page.now_ms / 1000,
        event_id: event.id.to_string(),
        event_source_url,
        action_source: header.action_source.clone().unwrap_or_else(|| DEFAULT_ACTION_SOURCE.to_string()),
        user_data,
        custom_data: header.custom_data.clone(),
        referrer_url: page.referrer.map(str::to_string),
        opt_out: header.opt_out,
        data_processing: if page.visit.consent.limited_data_use { limited_data_use() } else { header.data_processing.clone() },
    }
}
