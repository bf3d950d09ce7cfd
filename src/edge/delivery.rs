//! Delivering events: dry run is logged here; live events join the isolate's batch
//! ([`crate::batching`]) and leave it as a [`PendingDelivery`] that the JS entry sends (its
//! own `fetch` costs far less CPU than one driven from wasm through futures and closures),
//! asking this module after each attempt what to do next, so the retry policy of
//! [`crate::retry`] and every log line stay in Rust.

use super::{js, log};
use crate::batching::{self, Admission, Batch};
use crate::destinations::meta::capi_event::{EventsRequest, ServerEvent};
use crate::config::{Delivery, MetaEndpoint};
use crate::destinations::meta::graph_response;
use crate::log_line::{Decision, Line, RequestLabel, SharedFields};
use crate::retry::{self, Failure, Next, DELIVERY_DEADLINE_MS, MIN_ATTEMPT_MS};
use crate::tracking::Outgoing;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// [`prepare`]'s answer when the page view has nothing more to do.
pub const NOTHING_TO_SEND: i32 = -1;
/// [`PendingDelivery::attempt_done`]'s answer when the delivery is over (and logged).
const DONE: i32 = -1;
/// [`PendingDelivery::attempt_done`]'s answer when the batch must be sent in parts.
const SPLIT: i32 = -2;

/// Why a `batch_recovered` line is written.
const WINDOW_TAKEN_OVER: &str =
    "a batch window was never sent (its opener's waitUntil was cut off); its page views' events go out with this page view's";

/// `reason` of a delivery that ran out of time ([`DELIVERY_DEADLINE_MS`]).
const DEADLINE_REASON: &str = "deadline";

/// One page view's events, with what its log lines say.
struct Group {
    label: RequestLabel,
    events: Vec<ServerEvent>,
    replay: bool,
    test_event_code: Option<String>,
}

thread_local! {
    /// The isolate's batch (a Worker isolate runs one thread).
    static BATCH: RefCell<Batch<Group>> = RefCell::new(Batch::default());
}

/// Logs a dry run, or adds the events to the batch. Returns what the page view must still do
/// (in its `waitUntil`): [`NOTHING_TO_SEND`], 0 (send the batch now) or the milliseconds to
/// wait before sending it.
pub fn prepare(label: RequestLabel, delivery: &'static Delivery, outgoing: Outgoing) -> i32 {
    match delivery {
        Delivery::DryRun { reason, events_url } => {
            let mut line = Line::new(&label, Decision::DryRun);
            summarize(&mut line, &outgoing.request.data, outgoing.replay);
            line.field("reason", reason).field("events_url", events_url).field("payload", &outgoing.request.redacted());
            log::write(line);
            NOTHING_TO_SEND
        }
        Delivery::Live(endpoint) => {
            let EventsRequest { data: events, test_event_code } = outgoing.request;
            let count = events.len();
            // The line's fields are rendered from the events when the outcome is known, so a
            // page view costs no JSON values until then.
            let group = Group { label, events, replay: outgoing.replay, test_event_code };
            let now_ms = js::now_ms();
            let admission = BATCH.with(|b| b.borrow_mut().admit(group, count, endpoint.batch_window_ms, now_ms));
            match admission {
                Admission::OpenedWindow(ms) => i32::try_from(ms).unwrap_or(i32::MAX),
                Admission::TookOverExpired { wait_ms, left_over, opened_ms_ago } => {
                    BATCH.with(|b| {
                        if let Some(newest) = b.borrow().newest() {
                            let mut line = Line::new(&newest.label, Decision::BatchRecovered);
                            line.field("page_views", &left_over).field("window_age_ms", &opened_ms_ago).field("reason", WINDOW_TAKEN_OVER);
                            log::write(line);
                        }
                    });
                    i32::try_from(wait_ms).unwrap_or(i32::MAX)
                }
                Admission::SendNow => 0,
                Admission::Joined => NOTHING_TO_SEND,
            }
        }
    }
}

/// Takes the batch for sending; `None` when it is empty (already sent because it was full).
pub fn take(endpoint: &'static MetaEndpoint) -> Option<PendingDelivery> {
    let groups = BATCH.with(|b| b.borrow_mut().take());
    let deadline_ms = js::now_ms() + DELIVERY_DEADLINE_MS;
    PendingDelivery::new(endpoint, groups, deadline_ms, Rc::new(Cell::new(batching::MAX_SPLIT_PARTS)))
}

/// Adds the count, names and ids of the events to a line: every line about them has them.
fn summarize(line: &mut Line, events: &[ServerEvent], replay: bool) {
    line.field("events", &events.len())
        .field("event_names", &EachEvent(events, |e| &e.event_name))
        .field("event_ids", &EachEvent(events, |e| &e.event_id))
        .field("cache_replay", &replay);
}

/// Serializes as the array of one field of each event, without collecting it first.
struct EachEvent<'a>(&'a [ServerEvent], fn(&ServerEvent) -> &String);

impl Serialize for EachEvent<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(self.1))
    }
}

/// The request body of several page views' events: [`EventsRequest`], borrowed.
#[derive(Serialize)]
struct Body<'a> {
    data: Vec<&'a ServerEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_event_code: Option<&'a str>,
}

/// One CAPI request in flight, for the events of one or more page views: what to POST, and
/// the policy for its attempts. The same body, so the same `event_id`s, goes out on every
/// attempt.
#[wasm_bindgen]
pub struct PendingDelivery {
    groups: Vec<Group>,
    endpoint: &'static MetaEndpoint,
    started_ms: u64,
    /// When the whole delivery (this request and every part of its halvings) must end.
    deadline_ms: u64,
    /// Parts the halvings of the batch this came from may still send, shared by them all.
    parts_left: Rc<Cell<u32>>,
}

impl PendingDelivery {
    /// A request for `groups`; `None` when there are none. The body is serialized only when
    /// asked for ([`PendingDelivery::body`]), so taking a batch costs a page view's response
    /// nothing.
    fn new(endpoint: &'static MetaEndpoint, groups: Vec<Group>, deadline_ms: u64, parts_left: Rc<Cell<u32>>) -> Option<PendingDelivery> {
        if groups.is_empty() {
            return None;
        }
        Some(PendingDelivery { groups, endpoint, started_ms: js::now_ms(), deadline_ms, parts_left })
    }

    /// Milliseconds before the delivery's deadline.
    fn time_left_ms(&self) -> u64 {
        self.deadline_ms.saturating_sub(js::now_ms())
    }

    /// Logs `failed` with reason `deadline` for every page view of this request.
    fn log_deadline(&self, attempt: u32, elapsed: u64, last: &Failure) {
        self.log_each(Decision::Failed, vec![
            ("reason", json!(DEADLINE_REASON)),
            ("last_error", json!(last.describe())),
            ("attempts", json!(attempt)),
            ("ms", json!(elapsed)),
        ]);
    }

    /// Logs one line per page view, with what they share.
    fn log_each(&self, decision: Decision, shared: Vec<(&'static str, Value)>) {
        let page_views = self.groups.len();
        let shared = SharedFields::new(shared);
        for g in &self.groups {
            let mut line = Line::new(&g.label, decision);
            summarize(&mut line, &g.events, g.replay);
            line.fields(&shared);
            if page_views > 1 {
                line.field("batch_page_views", &page_views);
            }
            log::write(line);
        }
    }
}

#[wasm_bindgen]
impl PendingDelivery {
    /// The events URL (no token in it).
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.endpoint.events_url.clone()
    }

    /// The JSON body, the same for every attempt; `undefined` (and logged for each page view)
    /// when it cannot be serialized.
    pub fn body(&self) -> Option<String> {
        let test_event_code = self.groups.first().and_then(|g| g.test_event_code.as_deref());
        let body = Body { data: self.groups.iter().flat_map(|g| &g.events).collect(), test_event_code };
        match serde_json::to_string(&body) {
            Ok(body) => Some(body),
            Err(e) => {
                self.log_each(Decision::Failed, vec![("reason", json!(format!("could not serialize the events: {e}")))]);
                None
            }
        }
    }

    /// How many page views' events this request carries.
    #[wasm_bindgen(getter, js_name = pageViews)]
    pub fn page_views(&self) -> u32 {
        self.groups.len() as u32
    }

    /// The `Authorization` header value.
    #[wasm_bindgen(getter)]
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.endpoint.access_token)
    }

    /// Milliseconds after which the next attempt (request and answer body) is aborted: the
    /// attempt timeout, or less when the delivery's deadline is nearer.
    #[wasm_bindgen(getter, js_name = timeoutMs)]
    pub fn timeout_ms(&self) -> u32 {
        retry::attempt_timeout_ms(self.time_left_ms()) as u32
    }

    /// Attempt `attempt` (from 1) ended: with an answer (`status`, `text`), a timeout, or a
    /// network `error`. Returns the milliseconds to wait before the next attempt, -1 when the
    /// delivery is over (and logged), or -2 when Meta refused a batch as a whole: send
    /// [`PendingDelivery::split`]'s two halves instead.
    #[wasm_bindgen(js_name = attemptDone)]
    pub fn attempt_done(&mut self, attempt: u32, status: u16, text: &str, error: Option<String>, timed_out: bool) -> i32 {
        let result = if timed_out {
            Err(Failure::TimedOut)
        } else if let Some(message) = error {
            Err(Failure::NetworkError(message))
        } else {
            graph_response::parse(status, text).map_err(Failure::Refused)
        };
        let elapsed = js::now_ms().saturating_sub(self.started_ms);
        let failure = match result {
            Ok(accepted) => {
                self.log_each(Decision::Sent, vec![
                    ("events_received", json!(accepted.events_received)),
                    ("fbtrace_id", json!(accepted.fbtrace_id)),
                    ("attempts", json!(attempt)),
                    ("ms", json!(elapsed)),
                ]);
                return DONE;
            }
            Err(failure) => failure,
        };
        let time_left = self.time_left_ms();
        match retry::next(attempt, &failure, js::random(), time_left) {
            Next::RetryAfter(ms) => return i32::try_from(ms).unwrap_or(i32::MAX),
            Next::Deadline => {
                self.log_deadline(attempt, elapsed, &failure);
                return DONE;
            }
            Next::GiveUp => {}
        }
        if batching::should_split(&failure, self.groups.len(), self.parts_left.get()) {
            if time_left < MIN_ATTEMPT_MS {
                self.log_deadline(attempt, elapsed, &failure);
                return DONE;
            }
            self.parts_left.set(self.parts_left.get() - 2);
            return SPLIT;
        }
        let mut shared = vec![("reason", json!(failure.describe())), ("attempts", json!(attempt)), ("ms", json!(elapsed))];
        if let Failure::Refused(e) = &failure {
            shared.extend([
                ("http_status", json!(e.status)),
                ("code", json!(e.code)),
                ("subcode", json!(e.subcode)),
                ("fbtrace_id", json!(e.fbtrace_id)),
            ]);
        }
        self.log_each(Decision::Failed, shared);
        DONE
    }

    /// The batch's two halves, to send instead (after `attemptDone` answered -2).
    pub fn split(&mut self) -> Vec<PendingDelivery> {
        let (first, second) = batching::halves(std::mem::take(&mut self.groups));
        [first, second]
            .into_iter()
            .filter_map(|part| PendingDelivery::new(self.endpoint, part, self.deadline_ms, Rc::clone(&self.parts_left)))
            .collect()
    }
}
