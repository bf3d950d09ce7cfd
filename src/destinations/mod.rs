//! The platforms a tracked page view's events go to ("destinations"), each behind the one
//! small trait [`Destination`]: it maps the neutral event (the decoded header, with the event
//! ids and consent decided once for all) to its own API, builds the request body of a batch,
//! and reads the platform's answer into the one classification shape ([`answer`]) that the
//! shared retry policy and batch halving act on.
//!
//! Adding a platform: a module here implementing [`Destination`], with its settings and its
//! [`registry::Registration`], and one line in [`REGISTRY`]. See docs/architecture.md,
//! "Adding a destination".
//!
//! May use: `config::parse`, `proxy`, `log`, `event`, `visitor`. Used by delivery, the stats,
//! the tracking decision and the configuration.

pub mod answer;
pub mod ga4;
pub mod meta;
pub mod registry;
pub mod tiktok;

use crate::config::parse::ConfigError;
use crate::proxy::query_filter::QueryFilter;
use crate::proxy::request_facts::RequestFacts;
use crate::event::header::HeaderEvent;
use crate::visitor::consent::Verdict;
use crate::visitor::Visit;
use crate::proxy::query_filter::without_query;
use answer::{Accepted, Refusal};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// Why events are only logged when `DRY_RUN` is on.
pub const DRY_RUN_REASON: &str = "DRY_RUN is true";

/// Every destination tagrelay knows, in the order routes, logs and the stats list them: one
/// line each ([`registry`]).
pub const REGISTRY: &[registry::Registration] = &[meta::REGISTRATION, ga4::REGISTRATION, tiktok::REGISTRATION];

/// The consent a destination needs from the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Advertising: Meta, TikTok.
    Marketing,
    /// Measurement: GA4.
    Statistics,
}

impl Purpose {
    /// The visitor's verdict for this purpose.
    pub fn verdict(self, visit: &Visit) -> Verdict {
        match self {
            Purpose::Marketing => visit.consent.marketing,
            Purpose::Statistics => visit.consent.statistics,
        }
    }
}

/// How much one request, and one send, may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most events in one request.
    pub events_per_request: usize,
    /// Most page views in one request (GA4: one client per request).
    pub page_views_per_request: usize,
    /// Most page views a batch holds before it is sent: each request is a subrequest of the
    /// invocation that sends it, and an invocation may make only so many.
    pub page_views_per_send: usize,
}

/// What every destination may use of the page view, decided once for all of them.
pub struct PageView<'a> {
    /// The request.
    pub request: &'a RequestFacts,
    /// The visitor's consent and first-party ids.
    pub visit: &'a Visit,
    /// The page's URL without the query parameters `STRIP_QUERY_PARAMS` removes.
    pub url: &'a str,
    /// The `Referer`, when an http(s) URL of sane length, likewise stripped.
    pub referrer: Option<&'a str>,
    /// The visitor's IP, when valid.
    pub ip: Option<&'a str>,
    /// The `User-Agent`, trimmed.
    pub user_agent: Option<&'a str>,
    /// `STRIP_QUERY_PARAMS`, for the URLs the origin names.
    pub strip: &'a QueryFilter,
    /// The response was a cache replay: the origin's ids and user data belong to whoever
    /// filled the cache, so fresh ids are used and the header's user data is not sent.
    pub replay: bool,
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
    /// Build the body as a log may show it (a dry run): no IP, user agent, browser or click
    /// ids, and URLs without their query.
    pub redact: bool,
}

impl PageView<'_> {
    /// The URL an event happened on: the origin's `event_source_url` (stripped), else the page's.
    pub fn event_url(&self, event: &HeaderEvent) -> String {
        match &event.event_source_url {
            Some(url) => self.strip.apply(url).into_owned(),
            None => self.url.to_string(),
        }
    }

    /// `url` as this body shows it: without its query when redacted (a dry run's log).
    pub fn shown<'u>(&self, url: &'u str) -> &'u str {
        if self.redact { without_query(url) } else { url }
    }
}

/// A product of an event, from Meta's `contents` (`id`, `quantity`, `item_price`, `title` or
/// `name`), else from `content_ids`; a single product takes `content_name` as its name. Each
/// platform names the fields its own way.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The product id, as text.
    pub id: String,
    /// The quantity, when a number.
    pub quantity: Option<Value>,
    /// The unit price, when a number.
    pub price: Option<Value>,
    /// The product name, when a string.
    pub name: Option<Value>,
}

/// What a platform calls an [`Item`]'s fields.
#[derive(Debug, Clone, Copy)]
pub struct ItemKeys {
    /// The product id's field.
    pub id: &'static str,
    /// The quantity's field.
    pub quantity: &'static str,
    /// The unit price's field.
    pub price: &'static str,
    /// The product name's field.
    pub name: &'static str,
}

impl Item {
    /// The product as a platform's JSON object, its fields named by `keys`; a field the
    /// origin did not give is left out.
    pub fn into_json(self, keys: ItemKeys) -> Value {
        let mut out = Map::new();
        out.insert(keys.id.into(), Value::String(self.id));
        for (key, value) in [(keys.quantity, self.quantity), (keys.price, self.price), (keys.name, self.name)] {
            if let Some(v) = value {
                out.insert(key.into(), v);
            }
        }
        Value::Object(out)
    }
}

/// The products of an event's `custom_data` (see [`Item`]).
pub fn items(data: &Map<String, Value>) -> Vec<Item> {
    let mut items: Vec<Item> = match (data.get("contents"), data.get("content_ids")) {
        (Some(Value::Array(contents)), _) => contents
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|c| {
                Some(Item {
                    id: text(c.get("id")?),
                    quantity: c.get("quantity").filter(|q| q.is_number()).cloned(),
                    price: c.get("item_price").filter(|p| p.is_number()).cloned(),
                    name: c.get("title").or_else(|| c.get("name")).filter(|n| n.is_string()).cloned(),
                })
            })
            .collect(),
        (_, Some(Value::Array(ids))) => ids.iter().map(|id| Item { id: text(id), quantity: None, price: None, name: None }).collect(),
        _ => Vec::new(),
    };
    if let ([only], Some(name)) = (&mut items[..], data.get("content_name").filter(|n| n.is_string())) {
        only.name.get_or_insert_with(|| name.clone());
    }
    items
}

/// A string or number as text (ids, order ids): a string as it is, a number in its digits.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One event of the header, with the id every destination sends for it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The origin's event.
    pub header: &'a HeaderEvent,
    /// The deduplication id: the origin's, or a fresh one (cache replays, or none given).
    pub id: &'a str,
}

/// One page view's events, mapped for one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The events' names as this destination calls them.
    pub names: Vec<String>,
    /// Their ids.
    pub ids: Vec<String>,
    /// The JSON text [`Destination::body`] puts together with other page views' parts.
    pub part: String,
    /// The match keys each event carries, in `ids` order (the stats page's Match quality
    /// panel counts them); empty when rebuilt from a queue message.
    pub keys: Vec<Vec<&'static str>>,
}

/// An event a destination cannot express, and why; it still goes to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The event's id.
    pub event_id: String,
    /// The event's name, as the origin gave it.
    pub event_name: String,
    /// Why, in words the origin developer can act on.
    pub reason: String,
}

/// An ad or analytics platform.
pub trait Destination: fmt::Debug + Send + Sync {
    /// `meta`, `ga4`, `tiktok`: the `destination` field of log lines.
    fn name(&self) -> &'static str;
    /// The consent it needs.
    fn purpose(&self) -> Purpose;
    /// The account the events go to (Meta's dataset id, GA4's measurement id, TikTok's pixel
    /// code; empty when not set): the scope of the event ids an order fixes.
    fn account_id(&self) -> &str;
    /// The visitor's verdict for it: its purpose's, unless a TC string denies its vendor
    /// (its Global Vendor List id is a consent setting, [`registry::Registration::tcf_vendor`]).
    fn verdict(&self, visit: &Visit) -> Verdict {
        visit.consent.verdict_for(self.purpose().verdict(visit), self.name())
    }
    /// How much one request may carry.
    fn limits(&self) -> Limits;
    /// Maps a page view's events (those that name this destination, or all). Events it
    /// cannot express are left out and listed; `None` when none is left.
    fn map(&self, page: &PageView<'_>, events: &[Event<'_>]) -> (Option<Mapped>, Vec<Dropped>);
    /// Where requests go, secrets included (GA4's are in the query).
    fn url(&self) -> String;
    /// The URL as a log may show it.
    fn shown_url(&self) -> String;
    /// Request headers besides `content-type`, credentials included.
    fn headers(&self) -> Vec<(&'static str, String)>;
    /// The request body for the parts of one or more page views.
    fn body(&self, parts: &[&str]) -> String;
    /// Reads the platform's answer to a request.
    fn read_answer(&self, status: u16, body: &str) -> Result<Accepted, Refusal>;
    /// Whether [`Destination::read_answer`] reads the body of a 2xx answer; when not, the
    /// JS entry does not read it (GA4 answers 204 and says nothing, except in validate mode).
    fn reads_success_body(&self) -> bool {
        true
    }
    /// The setting still missing for events to be sent (they are logged in dry run), if any.
    fn missing_setting(&self) -> Option<&'static str>;
    /// Whether its browser pixel deduplicates against these events by event id (Meta's
    /// `eventID`, TikTok's `event_id`), so the page tells the pixel the ids
    /// (`PIXEL_EVENT_IDS`). GA4 does not deduplicate browser and Measurement Protocol hits.
    fn dedups_with_browser_pixel(&self) -> bool {
        false
    }
    /// Whether it can take a Global Privacy Control visitor's events under restricted
    /// processing (`GPC_MODE=ldu`: Meta's Limited Data Use). One that cannot gets none of them.
    fn restricts_processing(&self) -> bool {
        false
    }
}

/// Whether a destination sends or only logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// POST the events.
    Live,
    /// Log the body that would be sent, redacted; send nothing.
    DryRun {
        /// Why (`DRY_RUN is true`, or which setting is missing).
        reason: &'static str,
    },
}

/// A destination that is on, and how.
#[derive(Debug)]
pub struct Route {
    /// The destination.
    pub destination: Arc<dyn Destination>,
    /// Live or dry run.
    pub mode: Mode,
}

/// The destinations that are on, and those whose settings are unusable.
#[derive(Debug, Default)]
pub struct Routes {
    /// On, in [`REGISTRY`] order.
    pub on: Vec<Route>,
    /// Configured but unusable: their events are not sent, and each page view says why.
    pub broken: Vec<(&'static str, ConfigError)>,
}

/// A destination's id and secret, as given (either may be missing).
pub(crate) type IdAndSecret = (Option<String>, Option<String>);

/// The two settings that turn a destination on, an id (`id_var`) and a secret (`secret_var`,
/// never shown: `expected` says what it must be): `None` when neither is set (the
/// destination is off), else both as given (either may still be missing).
pub(crate) fn id_and_secret(
    get: crate::config::parse::Get<'_>,
    id_var: &'static str,
    secret_var: &'static str,
    expected: &'static str,
) -> Option<Result<IdAndSecret, ConfigError>> {
    let both = get(id_var).and_then(|id| Ok((id, crate::config::parse::parse_secret(get, secret_var, expected)?)));
    match both {
        Ok((None, None)) => None,
        other => Some(other),
    }
}
