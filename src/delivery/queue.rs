//! Durable delivery through a Cloudflare Queue: what a queue message holds, how batches are
//! cut into messages under the size limit, and how long a message waits before its next try.
//!
//! A message is one destination's share of one batch: the page views' mapped events (their
//! request parts, as the destination's `body` joins them) with what their log lines say. The
//! consumer (the same Worker's `queue` handler) merges the messages of one destination into as
//! few requests as the platform takes, POSTs them once, and acks each message, or retries it
//! later with a growing delay. The same parts, so the same event ids, go out on every try.

use crate::destinations::Limits;
use crate::log::line::RequestLabel;
use std::borrow::Cow;
use std::ops::Range;
use serde::{Deserialize, Serialize};

/// `DELIVERY`.
pub const VAR_DELIVERY: &str = "DELIVERY";
/// `QUEUE_MAX_SUBREQUESTS`: the most requests (to platforms, and queue sends) one consumer
/// call, or one dead-letter replay, makes.
pub const VAR_MAX_SUBREQUESTS: &str = "QUEUE_MAX_SUBREQUESTS";
/// Its default: under the 50 subrequests an invocation may make on the Workers Free plan,
/// with room for the consumer's own queue sends and D1 writes.
pub const DEFAULT_MAX_SUBREQUESTS: u32 = 45;
/// Its largest value: the Workers Paid plan's 1,000 subrequests per invocation.
const MAX_MAX_SUBREQUESTS: u32 = 1000;
/// The producer binding's name.
pub const BINDING: &str = "TAGRELAY_QUEUE";
/// Largest message body sent, in bytes: Cloudflare's limit is 128 KB per message.
pub const MAX_MESSAGE_BYTES: usize = 120_000;
/// The message format's version.
const VERSION: u32 = 1;
/// Seconds before the 1st, 2nd, … retry of a message; the last repeats. Within a day (a queue's
/// retention on the Free plan) and far within the 7 days Meta takes an event's age.
const RETRY_DELAYS_S: [u32; 8] = [10, 30, 60, 120, 300, 600, 1800, 3600];

/// How events leave the Worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// Through the queue (`TAGRELAY_QUEUE`): retried for hours, never lost silently.
    Queue,
    /// POSTed from `waitUntil` after the response, retried for seconds.
    Direct,
}

/// `DELIVERY`: `queue` or `direct`; `None` when unset (queue when the binding exists).
pub fn parse_mode(value: Option<&str>) -> Result<Option<DeliveryMode>, crate::config::parse::ConfigError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("queue") => Ok(Some(DeliveryMode::Queue)),
        Some("direct") => Ok(Some(DeliveryMode::Direct)),
        Some(_) => Err(crate::config::parse::ConfigError::invalid(VAR_DELIVERY, "queue or direct", value.unwrap_or_default())),
    }
}

/// `QUEUE_MAX_SUBREQUESTS`, or its default when unset.
pub fn parse_max_subrequests(value: Option<&str>) -> Result<u32, crate::config::parse::ConfigError> {
    match value.map(str::trim) {
        None => Ok(DEFAULT_MAX_SUBREQUESTS),
        Some(v) => v.parse::<u32>().ok().filter(|n| (1..=MAX_MAX_SUBREQUESTS).contains(n)).ok_or_else(|| {
            crate::config::parse::ConfigError::invalid(
                VAR_MAX_SUBREQUESTS,
                "a number of requests from 1 to 1000 (45 keeps under the Free plan's 50 subrequests per invocation)",
                v,
            )
        }),
    }
}

/// One page view's events in a message. Borrowed from the batch when a message is written
/// (nothing is copied to serialize it), owned when one is read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedGroup<'a> {
    /// Method, path, status and ray of the page view, for its log lines.
    pub method: Cow<'a, str>,
    /// Path, without query.
    pub path: Cow<'a, str>,
    /// Status returned to the client.
    pub status: Option<u16>,
    /// `CF-Ray`.
    pub ray: Option<Cow<'a, str>>,
    /// The events' names, as the destination calls them.
    pub names: Cow<'a, [String]>,
    /// The events' ids.
    pub ids: Cow<'a, [String]>,
    /// Whether the response was a cache replay.
    pub replay: bool,
    /// The mapped events' JSON text (the destination's request part).
    pub part: Cow<'a, str>,
}

impl QueuedGroup<'_> {
    /// The page view's log label.
    pub fn label(&self) -> RequestLabel {
        RequestLabel { method: self.method.to_string(), path: self.path.to_string(), status: self.status, ray: self.ray.as_deref().map(str::to_string) }
    }
}

/// A queue message: one destination's share of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Format version.
    pub v: u32,
    /// The destination's name (`meta`, `ga4`, `tiktok`).
    pub destination: String,
    /// When the batch was enqueued, Unix ms.
    pub queued_ms: u64,
    /// The page views.
    pub groups: Vec<QueuedGroup<'static>>,
    /// Tries made before this message was sent: a message re-sent with only the page views
    /// whose requests failed for now (the others were delivered) continues their count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tries: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Why a message cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// Not a message of this format (another producer, or a version this build does not know).
    Unreadable(String),
    /// It names a destination that is not on in this Worker (settings changed since).
    UnknownDestination(String),
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageError::Unreadable(e) => write!(f, "the queue message is not a tagrelay batch this version reads ({e}); it is acknowledged and dropped"),
            MessageError::UnknownDestination(d) => write!(f, "the queue message is for destination {d:?}, which is not on in this Worker; set its settings again to deliver such messages"),
        }
    }
}

/// Cuts `groups` for `destination` into message bodies of at most [`MAX_MESSAGE_BYTES`] each
/// (a page view is never cut: one holds at most 16 KB of header), each with the range of
/// `groups` it carries; the ranges follow each other and cover every group. Each group is
/// serialized once, and the envelope written around the serialized groups: the same JSON as a
/// [`Message`] (which [`decode`] reads), without escaping every part twice.
pub fn messages<'a>(destination: &str, queued_ms: u64, groups: impl IntoIterator<Item = QueuedGroup<'a>>) -> Vec<(String, Range<usize>)> {
    let head = format!("{{\"v\":{VERSION},\"destination\":{},\"queued_ms\":{queued_ms},\"groups\":[", serde_json::Value::from(destination));
    const TAIL: &str = "]}";
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut start, mut count) = (0, 0);
    for group in groups {
        count += 1;
        // Strings, numbers and booleans: serializing cannot fail.
        let Ok(text) = serde_json::to_string(&group) else { continue };
        if !current.is_empty() && head.len() + current.len() + 1 + text.len() + TAIL.len() > MAX_MESSAGE_BYTES {
            out.push((format!("{head}{current}{TAIL}"), start..count - 1));
            current.clear();
            start = count - 1;
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(&text);
    }
    if !current.is_empty() {
        out.push((format!("{head}{current}{TAIL}"), start..count));
    }
    out
}

/// Reads a message body.
pub fn decode(body: &str) -> Result<Message, MessageError> {
    let message: Message = serde_json::from_str(body).map_err(|e| MessageError::Unreadable(e.to_string()))?;
    if message.v != VERSION {
        return Err(MessageError::Unreadable(format!("version {}", message.v)));
    }
    Ok(message)
}

/// Cuts page views carrying `events[i]` events each, in order, into requests a destination
/// with `limits` takes: at most `page_views_per_request` page views and `events_per_request`
/// events each (a page view alone may hold more; it is never cut). Returns each request's range.
pub fn requests(events: &[usize], limits: Limits) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut count) = (0, 0);
    for (i, &n) in events.iter().enumerate() {
        if i > start && (i - start >= limits.page_views_per_request || count + n > limits.events_per_request) {
            out.push(start..i);
            start = i;
            count = 0;
        }
        count += n;
    }
    if start < events.len() {
        out.push(start..events.len());
    }
    out
}

/// The body of a message holding only the page views at `positions` of `body`'s message (the
/// ones whose requests failed for now), its tries counted on by `attempts` (the queue's count
/// for `body`). `None` when `body` is unreadable.
pub fn remainder(body: &str, positions: &[u32], attempts: u32) -> Option<String> {
    let mut message = decode(body).ok()?;
    message.tries += attempts;
    let keep: std::collections::BTreeSet<usize> = positions.iter().map(|&p| p as usize).collect();
    message.groups = message.groups.into_iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, g)| g).collect();
    serde_json::to_string(&message).ok()
}

/// Seconds before retrying a message that has been tried `attempts` times (from 1).
pub fn retry_delay_s(attempts: u32) -> u32 {
    let i = (attempts.max(1) - 1) as usize;
    RETRY_DELAYS_S[i.min(RETRY_DELAYS_S.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(i: usize, part_bytes: usize) -> QueuedGroup<'static> {
        QueuedGroup {
            method: "GET".into(),
            path: format!("/p/{i}").into(),
            status: Some(200),
            ray: None,
            names: vec!["ViewContent".to_string()].into(),
            ids: vec![format!("id-{i}")].into(),
            replay: false,
            part: format!("{{\"x\":\"{}\"}}", "a".repeat(part_bytes)).into(),
        }
    }

    #[test]
    fn messages_stay_under_the_limit_and_round_trip() {
        let groups: Vec<QueuedGroup<'static>> = (0..40).map(|i| group(i, 10_000)).collect();
        let cut = messages("meta", 7, groups.clone());
        let bodies: Vec<String> = cut.iter().map(|(b, _)| b.clone()).collect();
        assert!(bodies.len() >= 4, "{}", bodies.len());
        for (body, range) in &cut {
            let carried: Vec<QueuedGroup<'static>> = decode(body).unwrap().groups;
            assert_eq!(carried, groups[range.clone()], "each body carries the groups of its range");
        }
        assert_eq!(cut.first().unwrap().1.start, 0);
        assert!(cut.windows(2).all(|w| w[0].1.end == w[1].1.start), "the ranges follow each other");
        assert_eq!(cut.last().unwrap().1.end, groups.len());
        assert!(bodies.iter().all(|b| b.len() <= MAX_MESSAGE_BYTES), "{:?}", bodies.iter().map(String::len).collect::<Vec<_>>());
        let back: Vec<QueuedGroup<'static>> = bodies.iter().flat_map(|b| decode(b).unwrap().groups).collect();
        assert_eq!(back, groups, "every page view, once, in order");
        assert_eq!(decode(&bodies[0]).unwrap().destination, "meta");
        assert_eq!(messages("ga4", 7, vec![group(1, 10)]).len(), 1);
    }

    #[test]
    fn the_envelope_is_what_serde_writes() {
        let groups = vec![group(1, 5), group(2, 5)];
        let body = &messages("me\"ta", 9, groups.clone())[0].0;
        let message = Message { v: VERSION, destination: "me\"ta".into(), queued_ms: 9, groups, tries: 0 };
        assert_eq!(body, &serde_json::to_string(&message).unwrap());
    }

    #[test]
    fn page_views_are_cut_into_requests_within_the_limits() {
        let meta = crate::destinations::meta::LIMITS;
        assert_eq!(requests(&[1, 2, 3], meta), vec![0..3]);
        assert_eq!(requests(&[600, 300, 200], meta), vec![0..2, 2..3], "1,000 events at most");
        let ga4 = Limits { events_per_request: 25, page_views_per_request: 1, page_views_per_send: 8 };
        assert_eq!(requests(&[1, 3, 1], ga4), vec![0..1, 1..2, 2..3], "one page view per request");
        assert_eq!(requests(&[30], ga4), vec![0..1], "a page view is never cut");
        assert!(requests(&[], meta).is_empty());
    }

    #[test]
    fn a_remainder_keeps_the_failed_page_views_and_counts_on_their_tries() {
        let body = &messages("ga4", 7, (0..3).map(|i| group(i, 10)))[0].0;
        let rest = remainder(body, &[2, 0], 3).unwrap();
        let m = decode(&rest).unwrap();
        assert_eq!(m.groups.iter().map(|g| &*g.path).collect::<Vec<_>>(), ["/p/0", "/p/2"]);
        assert_eq!(m.tries, 3);
        assert_eq!(decode(&remainder(&rest, &[1], 2).unwrap()).unwrap().tries, 5);
        assert!(!body.contains("tries"), "a first message carries no count");
        assert_eq!(remainder("junk", &[0], 1), None);
    }

    #[test]
    fn unreadable_messages_say_so() {
        assert!(matches!(decode("nope"), Err(MessageError::Unreadable(_))));
        assert!(matches!(decode(r#"{"v":2,"destination":"meta","queued_ms":1,"groups":[]}"#), Err(MessageError::Unreadable(_))));
    }

    #[test]
    fn retries_wait_longer_each_time_within_a_day() {
        let delays: Vec<u32> = (1..=12).map(retry_delay_s).collect();
        assert_eq!(&delays[..6], &[10, 30, 60, 120, 300, 600]);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert!(delays.iter().sum::<u32>() < 86_400);
        assert_eq!(retry_delay_s(0), 10);
    }

    #[test]
    fn max_subrequests() {
        assert_eq!(parse_max_subrequests(None).unwrap(), 45);
        assert_eq!(parse_max_subrequests(Some(" 900 ")).unwrap(), 900);
        for bad in ["0", "1001", "lots", "-1"] {
            assert!(parse_max_subrequests(Some(bad)).unwrap_err().to_string().contains("QUEUE_MAX_SUBREQUESTS"), "{bad}");
        }
    }

    #[test]
    fn delivery_mode() {
        assert_eq!(parse_mode(None).unwrap(), None);
        assert_eq!(parse_mode(Some("Queue")).unwrap(), Some(DeliveryMode::Queue));
        assert_eq!(parse_mode(Some("direct")).unwrap(), Some(DeliveryMode::Direct));
        assert!(parse_mode(Some("kafka")).unwrap_err().to_string().contains("DELIVERY"));
    }
}
