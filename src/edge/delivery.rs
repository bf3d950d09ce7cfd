//! Delivering events: dry runs are logged here; live events join their destination's batch
//! ([`crate::delivery::batching`]) and leave it as [`PendingDelivery`]s that the JS entry sends (its
//! own `fetch` costs far less CPU than one driven from wasm through futures and closures),
//! asking this module after each attempt what to do next, so the retry policy of
//! [`crate::delivery::retry`] and every log line stay in Rust. Each destination has its own batch, and
//! each request its own attempts: one platform failing or slow holds up no other.

use super::{analytics, js, log};
use crate::analytics::delivery_counts::DeliveryOutcome;
use crate::delivery::batching::{self, Admission, Batch};
use crate::destinations::{Mapped, Mode, Route, Routes};
use crate::log::line::{Decision, Line, RequestLabel, SharedFields};
use crate::delivery::queue::{self, QueuedGroup};
use crate::delivery::retry::{self, Failure, Next, DELIVERY_DEADLINE_MS, MIN_ATTEMPT_MS};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// [`PendingDelivery::attempt_done`]'s answer when the delivery is over (and logged).
const DONE: i32 = -1;
/// [`PendingDelivery::attempt_done`]'s answer when the batch must be sent in parts.
const SPLIT: i32 = -2;
/// [`PendingDelivery::attempt_done`]'s answer, from the queue consumer, when the messages must
/// be tried again later ([`PendingDelivery::retry_delay_s`]).
const RETRY_LATER: i32 = -3;

/// Why a `batch_recovered` line is written.
const WINDOW_TAKEN_OVER: &str =
    "a batch window was never sent (its opener's waitUntil was cut off); its page views' events go out with this page view's";

/// `reason` of a delivery that ran out of time ([`DELIVERY_DEADLINE_MS`]).
const DEADLINE_REASON: &str = "deadline";

/// One page view's events for one destination, with what its log lines say.
struct Group {
    label: RequestLabel,
    mapped: Mapped,
    replay: bool,
    /// The index of the queue message it came from, in the consumer's batch, and its
    /// position in that message (0 and 0 otherwise).
    message: u32,
    position: u32,
}

thread_local! {
    /// The isolate's batches, one per route (a Worker isolate runs one thread).
    static BATCHES: RefCell<Vec<Batch<Group>>> = const { RefCell::new(Vec::new()) };
}

/// What a page view must still do (in its `waitUntil`) after adding its events to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Nothing: another page view sends the batch.
    Nothing,
    /// It opened a window: wait this many milliseconds, then send its batch.
    Window(u32),
    /// The batch is full (or batching is off): send the full batches now.
    SendFull,
}

/// A page view's events for `route` (number `index` of the routes): logged in a dry run,
/// else added to the route's batch. Returns what the page view must still do.
pub fn prepare(label: &RequestLabel, index: usize, route: &'static Route, mapped: Mapped, replay: bool, window_ms: u32) -> After {
    let destination = &*route.destination;
    match route.mode {
        Mode::DryRun { reason } => {
            analytics::count_delivery(destination.name(), DeliveryOutcome::DryRun, "", None, &mapped.names);
            let mut line = Line::new(label, Decision::DryRun);
            line.field("destination", destination.name());
            summarize(&mut line, &mapped, replay);
            let payload: Value = serde_json::from_str(&destination.body(&[&mapped.part])).unwrap_or(Value::Null);
            // Meta without a pixel id has no URL yet: `null`, as the reason says why.
            let url = Some(destination.shown_url()).filter(|u| !u.is_empty());
            line.field("reason", reason).field("events_url", &url).field("payload", &payload);
            log::write(line);
            After::Nothing
        }
        Mode::Live => {
            let count = mapped.ids.len();
            // The line's fields are rendered from the events when the outcome is known.
            let group = Group { label: label.clone(), mapped, replay, message: 0, position: 0 };
            let now_ms = js::now_ms();
            let limits = destination.limits();
            let admission = BATCHES.with(|b| {
                let mut batches = b.borrow_mut();
                if batches.len() <= index {
                    batches.resize_with(index + 1, Batch::default);
                }
                batches[index].admit(group, count, window_ms, now_ms, limits)
            });
            match admission {
                Admission::OpenedWindow(ms) => After::Window(ms),
                Admission::TookOverExpired { wait_ms, left_over, opened_ms_ago } => {
                    let mut line = Line::new(label, Decision::BatchRecovered);
                    line.field("destination", destination.name())
                        .field("page_views", &left_over)
                        .field("window_age_ms", &opened_ms_ago)
                        .field("reason", WINDOW_TAKEN_OVER);
                    log::write(line);
                    After::Window(wait_ms)
                }
                Admission::SendNow => After::SendFull,
                Admission::Joined => After::Nothing,
            }
        }
    }
}

/// Takes the destinations' batches for sending: the full ones, and those of the routes whose
/// index `window_closed` holds (the windows a timer waited for; another route's batch waits
/// for its own window's timer): one request per destination, or per page view for a
/// destination that takes one client per request (GA4), except `for_queue`, where each
/// destination's batch is one delivery, put on the queue whole. Empty when there is nothing
/// to send. The halvings of refused batches share one budget of parts, less one for each
/// request beyond the first, so that everything this send does stays within the
/// subrequests one invocation may make.
pub fn take(routes: &'static Routes, window_closed: impl Fn(usize) -> bool, for_queue: bool) -> Vec<PendingDelivery> {
    let deadline_ms = js::now_ms() + DELIVERY_DEADLINE_MS;
    let parts_left = Rc::new(Cell::new(batching::MAX_SPLIT_PARTS));
    let mut out = Vec::new();
    BATCHES.with(|b| {
        for (index, (route, batch)) in routes.on.iter().zip(b.borrow_mut().iter_mut()).enumerate() {
            if !batch.is_full() && !window_closed(index) {
                continue;
            }
            let groups = batch.take();
            if groups.is_empty() {
                continue;
            }
            // Onto the queue, a destination's batch is one delivery (its messages): the consumer
            // cuts it into requests.
            if for_queue {
                out.extend(PendingDelivery::new(route, groups, deadline_ms, Rc::clone(&parts_left)));
            } else {
                out.extend(per_request(route, groups, deadline_ms, &parts_left));
            }
        }
    });
    share_parts(&parts_left, &out);
    out
}

/// Takes one part of the halvings' shared budget for each of `deliveries` beyond the first:
/// they all run in one invocation, whose subrequests the budget keeps within the limit.
fn share_parts(parts_left: &Cell<u32>, deliveries: &[PendingDelivery]) {
    let extra = u32::try_from(deliveries.len().saturating_sub(1)).unwrap_or(u32::MAX);
    parts_left.set(parts_left.get().saturating_sub(extra));
}

/// `groups` as the requests `route`'s destination takes ([`queue::requests`]).
fn per_request(route: &'static Route, groups: Vec<Group>, deadline_ms: u64, parts_left: &Rc<Cell<u32>>) -> Vec<PendingDelivery> {
    let sizes: Vec<usize> = groups.iter().map(|g| g.mapped.ids.len()).collect();
    let mut groups = groups.into_iter();
    queue::requests(&sizes, route.destination.limits())
        .into_iter()
        .filter_map(|range| PendingDelivery::new(route, groups.by_ref().take(range.len()).collect(), deadline_ms, Rc::clone(parts_left)))
        .collect()
}

/// Adds the count, names and ids of the events to a line: every line about them has them.
fn summarize(line: &mut Line, mapped: &Mapped, replay: bool) {
    line.field("events", &mapped.ids.len()).field("event_names", &mapped.names).field("event_ids", &mapped.ids).field("cache_replay", &replay);
}

/// Serializes as a JSON object of string pairs, for the request's headers.
struct HeaderPairs(Vec<(&'static str, String)>);

impl Serialize for HeaderPairs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// One request in flight to one destination, for the events of one or more page views: what
/// to POST, and the policy for its attempts. The same body, so the same `event_id`s, goes out
/// on every attempt.
#[wasm_bindgen]
pub struct PendingDelivery {
    groups: Vec<Group>,
    route: &'static Route,
    started_ms: u64,
    /// When the whole delivery (this request and every part of its halvings) must end.
    deadline_ms: u64,
    /// Parts the halvings of the batch this came from may still send, shared by them all.
    parts_left: Rc<Cell<u32>>,
    /// For a delivery from the queue consumer: how many times its messages have been tried
    /// (the most of them). It makes one attempt; a transient failure retries the messages
    /// later, through the queue.
    queue_attempts: Option<u32>,
    /// For a part of [`PendingDelivery::queue_parts`]: the queue message that carries its page views.
    message: Option<String>,
}

impl PendingDelivery {
    /// A request for `groups`; `None` when there are none. The body is serialized only when
    /// asked for ([`PendingDelivery::body`]), so taking a batch costs a page view's response
    /// nothing.
    fn new(route: &'static Route, groups: Vec<Group>, deadline_ms: u64, parts_left: Rc<Cell<u32>>) -> Option<PendingDelivery> {
        if groups.is_empty() {
            return None;
        }
        Some(PendingDelivery { groups, route, started_ms: js::now_ms(), deadline_ms, parts_left, queue_attempts: None, message: None })
    }

    /// Milliseconds before the delivery's deadline.
    fn time_left_ms(&self) -> u64 {
        self.deadline_ms.saturating_sub(js::now_ms())
    }

    /// Logs `failed` with reason `deadline` for every page view of this request.
    fn log_deadline(&self, attempt: u32, elapsed: u64, last: &Failure) {
        self.tally(DeliveryOutcome::Failed, Some(&format!("{DEADLINE_REASON}: {}", last.describe())));
        self.log_each(Decision::Failed, vec![
            ("reason", json!(DEADLINE_REASON)),
            ("last_error", json!(last.describe())),
            ("attempts", json!(attempt)),
            ("ms", json!(elapsed)),
        ]);
    }

    /// Counts this request's events as `outcome` for the stats page's Delivery panel.
    fn tally(&self, outcome: DeliveryOutcome, reason: Option<&str>) {
        for g in &self.groups {
            analytics::count_delivery(self.route.destination.name(), outcome, "", reason, &g.mapped.names);
        }
    }

    /// Logs one line per page view, with what they share.
    fn log_each(&self, decision: Decision, shared: Vec<(&'static str, Value)>) {
        let page_views = self.groups.len();
        let shared = SharedFields::new(shared);
        for g in &self.groups {
            let mut line = Line::new(&g.label, decision);
            line.field("destination", self.route.destination.name());
            summarize(&mut line, &g.mapped, g.replay);
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
    /// The destination's name: the JS entry keeps what is the same for every request to it
    /// (`url`, `headers`, `readsSuccessBody`) under it.
    #[wasm_bindgen(getter)]
    pub fn destination(&self) -> String {
        self.route.destination.name().to_string()
    }

    /// Whether a 2xx answer's body is read ([`crate::destinations::Destination::reads_success_body`]).
    #[wasm_bindgen(getter, js_name = readsSuccessBody)]
    pub fn reads_success_body(&self) -> bool {
        self.route.destination.reads_success_body()
    }

    /// The URL to POST to (GA4's holds its API secret: never log it).
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.route.destination.url()
    }

    /// The request's headers as a JSON object, credentials included.
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> String {
        let mut pairs = vec![("content-type", "application/json".to_string())];
        pairs.extend(self.route.destination.headers());
        serde_json::to_string(&HeaderPairs(pairs)).unwrap_or_else(|_| "{}".into())
    }

    /// The JSON body, the same for every attempt.
    pub fn body(&self) -> String {
        let parts: Vec<&str> = self.groups.iter().map(|g| g.mapped.part.as_str()).collect();
        self.route.destination.body(&parts)
    }

    /// This delivery cut for the queue: one part per message (under the size limit), each put
    /// on the queue and settled (`queued`, or `queueFailed` and `directParts`) on its own, so
    /// that a batch of any size fits the queue's limits per send (a send of one delivery's
    /// messages together failed once its batch passed the limit of bytes per send). This
    /// object is then empty.
    #[wasm_bindgen(js_name = queueParts)]
    pub fn queue_parts(&mut self) -> Vec<PendingDelivery> {
        let groups = std::mem::take(&mut self.groups);
        let queued = groups.iter().map(|g| QueuedGroup {
            method: g.label.method.as_str().into(),
            path: g.label.path.as_str().into(),
            status: g.label.status,
            ray: g.label.ray.as_deref().map(Into::into),
            names: g.mapped.names.as_slice().into(),
            ids: g.mapped.ids.as_slice().into(),
            replay: g.replay,
            part: g.mapped.part.as_str().into(),
        });
        let bodies = queue::messages(self.route.destination.name(), js::now_ms(), queued);
        let mut groups = groups.into_iter();
        bodies
            .into_iter()
            .filter_map(|(body, range)| {
                let mut part = PendingDelivery::new(self.route, groups.by_ref().take(range.len()).collect(), self.deadline_ms, Rc::clone(&self.parts_left))?;
                part.message = Some(body);
                Some(part)
            })
            .collect()
    }

    /// The queue message of a part of [`PendingDelivery::queue_parts`].
    #[wasm_bindgen(getter)]
    pub fn message(&self) -> Option<String> {
        self.message.clone()
    }

    /// The events are on the queue: logs `queued` for each page view.
    pub fn queued(&self) {
        self.log_each(Decision::Queued, Vec::new());
    }

    /// Putting the events on the queue failed (`reason`): logs `queue_failed` for each page
    /// view; the JS entry then delivers them directly.
    #[wasm_bindgen(js_name = queueFailed)]
    pub fn queue_failed(&self, reason: &str) {
        self.log_each(Decision::QueueFailed, vec![("reason", json!(format!("queue send failed: {reason}"))), ("fallback", json!("direct"))]);
    }

    /// This delivery as requests the destination takes, for direct delivery after a failed
    /// queue send (one per page view for GA4); this object is then empty.
    #[wasm_bindgen(js_name = directParts)]
    pub fn direct_parts(&mut self) -> Vec<PendingDelivery> {
        per_request(self.route, std::mem::take(&mut self.groups), self.deadline_ms, &self.parts_left)
    }

    /// Where this request's page views came from, in the consumer's batch: for each, its
    /// message's index then its position in the message (a flat list of pairs).
    #[wasm_bindgen(js_name = messageGroups)]
    pub fn message_groups(&self) -> Vec<u32> {
        self.groups.iter().flat_map(|g| [g.message, g.position]).collect()
    }

    /// Seconds the queue waits before trying this request's messages again.
    #[wasm_bindgen(getter, js_name = retryDelayS)]
    pub fn retry_delay_s(&self) -> u32 {
        queue::retry_delay_s(self.queue_attempts.unwrap_or(1))
    }

    /// How many page views' events this request carries.
    #[wasm_bindgen(getter, js_name = pageViews)]
    pub fn page_views(&self) -> u32 {
        self.groups.len() as u32
    }

    /// Milliseconds after which the next attempt (request and answer body) is aborted: the
    /// attempt timeout, or less when the delivery's deadline is nearer.
    #[wasm_bindgen(getter, js_name = timeoutMs)]
    pub fn timeout_ms(&self) -> u32 {
        retry::attempt_timeout_ms(self.time_left_ms()) as u32
    }

    /// Attempt `attempt` (from 1) ended: with an answer (`status`, `text`), a timeout, or a
    /// network `error`. Returns the milliseconds to wait before the next attempt, -1 when the
    /// delivery is over (and logged), -2 when the platform refused a batch as a whole: send
    /// [`PendingDelivery::split`]'s two halves instead, or -3 (from the queue consumer) when
    /// it failed for now: its messages are tried again later.
    #[wasm_bindgen(js_name = attemptDone)]
    pub fn attempt_done(&mut self, attempt: u32, status: u16, text: &str, error: Option<String>, timed_out: bool) -> i32 {
        let result = if timed_out {
            Err(Failure::TimedOut)
        } else if let Some(message) = error {
            Err(Failure::NetworkError(message))
        } else {
            self.route.destination.read_answer(status, text).map_err(Failure::Refused)
        };
        let elapsed = js::now_ms().saturating_sub(self.started_ms);
        // From the queue, the attempts that count are the queue's.
        let attempt = self.queue_attempts.unwrap_or(attempt);
        let failure = match result {
            Ok(accepted) => {
                let mut shared = accepted.fields;
                shared.extend([("attempts", json!(attempt)), ("ms", json!(elapsed))]);
                self.tally(DeliveryOutcome::Sent, None);
                self.log_each(Decision::Sent, shared);
                return DONE;
            }
            Err(failure) => failure,
        };
        // From the queue, a refusal of credentials is kept too: every event fails until the
        // operator fixes the secret, then the dead letters are replayed.
        if self.queue_attempts.is_some() && (failure.is_transient() || failure.operator_fix().is_some()) {
            self.log_each(Decision::Retrying, vec![
                ("reason", json!(failure.describe())),
                ("attempts", json!(attempt)),
                ("retry_in_s", json!(queue::retry_delay_s(attempt))),
            ]);
            return RETRY_LATER;
        }
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
        self.tally(DeliveryOutcome::Failed, Some(&failure.describe()));
        let mut shared = vec![("reason", json!(failure.describe())), ("attempts", json!(attempt)), ("ms", json!(elapsed))];
        if let Failure::Refused(e) = &failure {
            shared.extend([("http_status", json!(e.status)), ("code", json!(e.code)), ("subcode", json!(e.subcode))]);
            shared.extend(e.details.iter().cloned());
        }
        self.log_each(Decision::Failed, shared);
        DONE
    }

    /// The batch's two halves, to send instead (after `attemptDone` answered -2).
    pub fn split(&mut self) -> Vec<PendingDelivery> {
        let (first, second) = batching::halves(std::mem::take(&mut self.groups));
        [first, second]
            .into_iter()
            .filter_map(|part| {
                let mut part = PendingDelivery::new(self.route, part, self.deadline_ms, Rc::clone(&self.parts_left))?;
                part.queue_attempts = self.queue_attempts;
                Some(part)
            })
            .collect()
    }
}

/// The queue consumer's requests for a batch of message `bodies` (each tried `attempts[i]`
/// times): the messages of one destination merged into as few requests as it takes. A message
/// that cannot be read, or is for a destination that is off, is logged (its event ids
/// included) and left out: the JS entry acknowledges it.
pub fn consume(routes: &'static Routes, bodies: &[String], attempts: &[u32]) -> Vec<PendingDelivery> {
    let deadline_ms = js::now_ms() + DELIVERY_DEADLINE_MS;
    let parts_left = Rc::new(Cell::new(batching::MAX_SPLIT_PARTS));
    let mut per_route: Vec<Vec<(Group, u32)>> = routes.on.iter().map(|_| Vec::new()).collect();
    for (index, body) in bodies.iter().enumerate() {
        let queue_tries = attempts.get(index).copied().unwrap_or(1);
        let message = match queue::decode(body) {
            Ok(m) => m,
            Err(e) => {
                log::background(Decision::Failed, [("reason", json!(e.to_string()))]);
                continue;
            }
        };
        let Some(route_index) = routes.on.iter().position(|r| r.destination.name() == message.destination) else {
            let e = queue::MessageError::UnknownDestination(message.destination.clone());
            for g in &message.groups {
                analytics::count_delivery(&message.destination, DeliveryOutcome::Failed, "", Some(&e.to_string()), &g.names[..]);
                let mut line = Line::new(&g.label(), Decision::Failed);
                line.field("destination", &message.destination).field("event_ids", &g.ids).field("reason", &e.to_string());
                log::write(line);
            }
            continue;
        };
        let tries = message.tries + queue_tries;
        for (position, g) in message.groups.into_iter().enumerate() {
            let label = g.label();
            let mapped = Mapped { names: g.names.into_owned(), ids: g.ids.into_owned(), part: g.part.into_owned(), keys: Vec::new() };
            let group = Group { label, mapped, replay: g.replay, message: index as u32, position: position as u32 };
            per_route[route_index].push((group, tries));
        }
    }
    let mut out = Vec::new();
    for (route, groups) in routes.on.iter().zip(per_route) {
        let sizes: Vec<usize> = groups.iter().map(|(g, _)| g.mapped.ids.len()).collect();
        let mut groups = groups.into_iter();
        for range in queue::requests(&sizes, route.destination.limits()) {
            let part: Vec<(Group, u32)> = groups.by_ref().take(range.len()).collect();
            let tries = part.iter().map(|(_, t)| *t).max().unwrap_or(1);
            if let Some(mut d) = PendingDelivery::new(route, part.into_iter().map(|(g, _)| g).collect(), deadline_ms, Rc::clone(&parts_left)) {
                d.queue_attempts = Some(tries);
                out.push(d);
            }
        }
    }
    share_parts(&parts_left, &out);
    out
}

/// The dead-letter queue's consumer: logs `dead_lettered` for every page view of every
/// message, with its destination and event ids, and whether the message was kept for replay
/// (`kept`; `keep_error`: why keeping it failed; neither: no D1 binding).
pub fn dead_letters(bodies: &[String], attempts: &[u32], kept: bool, keep_error: Option<&str>) {
    let replay = match (kept, keep_error) {
        (true, _) => KEPT.to_string(),
        (false, Some(e)) => format!("not kept for replay: D1 failed ({e}); the event ids above are all that is left"),
        (false, None) => NOT_KEPT.to_string(),
    };
    for (index, body) in bodies.iter().enumerate() {
        match queue::decode(body) {
            Ok(message) => {
                for g in &message.groups {
                    analytics::count_delivery(&message.destination, DeliveryOutcome::DeadLettered, "", Some(DEAD_LETTER_REASON), &g.names[..]);
                    let mut line = Line::new(&g.label(), Decision::DeadLettered);
                    line.field("destination", &message.destination)
                        .field("events", &g.ids.len())
                        .field("event_names", &g.names)
                        .field("event_ids", &g.ids)
                        .field("queued_ms", &message.queued_ms)
                        .field("dlq_attempts", &attempts.get(index))
                        .field("reason", DEAD_LETTER_REASON)
                        .field("kept", &kept)
                        .field("replay", &replay);
                    log::write(line);
                }
            }
            Err(e) => log::background(Decision::DeadLettered, [("reason", json!(e.to_string()))]),
        }
    }
}

/// Why a `dead_lettered` line is written.
const DEAD_LETTER_REASON: &str = "the platform refused or was unreachable on every try the queue allows (max_retries); the events were not delivered";
/// `replay` of a `dead_lettered` line whose message was kept.
const KEPT: &str = "kept for 7 days: once the cause is fixed, POST {STATS_PATH}/api/dead-letters/replay puts it back on the queue (docs/delivery.md, \"Dead letters\")";
/// `replay` of a `dead_lettered` line without the D1 binding.
const NOT_KEPT: &str = "not kept for replay: no D1 binding TAGRELAY_DB (docs/delivery.md, \"Dead letters\"); the event ids above are all that is left";

/// How many page views a queue message holds (0 when it cannot be read).
pub fn message_page_views(body: &str) -> u32 {
    queue::decode(body).map_or(0, |m| m.groups.len() as u32)
}
