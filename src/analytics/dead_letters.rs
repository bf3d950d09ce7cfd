//! Dead letters kept for replay: the dead-letter queue's consumer stores each message it gets
//! (with analytics storage on) in D1 table `delivery_dead_letters`, for at most
//! [`KEEP_DAYS`] days (Meta takes events up to 7 days old; nothing older is worth sending). A
//! shop that fixed the cause (an expired token, say) lists them at
//! `GET {STATS_PATH}/api/dead-letters` and replays them with
//! `POST {STATS_PATH}/api/dead-letters/replay`: their messages go back onto the delivery queue,
//! unchanged but for a fresh count of tries, so the same event ids go out again.
//!
//! A kept message holds what the platform would have received: the visitor's IP, User-Agent
//! and hashed identifiers, as the visitor's consent allowed. That is why it is kept only as
//! long as it can still be delivered, and never shown: the list gives ids, names and times.

use crate::delivery::queue::{self, Message};
use super::sql::{self, Statement};
use super::values::num;
use serde_json::{json, Value};

/// Days a dead letter is kept before the daily cron deletes it.
pub const KEEP_DAYS: u64 = 7;
/// Dead letters replayed per request at most (each is one queue message).
pub const MAX_REPLAY: u32 = 100;
/// Dead letters listed at most.
pub const MAX_LIST: u32 = 1000;

/// The statements that keep the dead-letter queue's messages: `(queue message id, body)` of
/// each, at `dead_ms`, as few as D1's limit on a bound value allows ([`sql::per_chunk`]: a
/// batch of 100 messages of up to 120 KB each is several). A message that cannot be read is
/// left out (its line says so); one stored already (the DLQ batch delivered again) is kept once.
pub fn store(messages: &[(String, String)], dead_ms: u64) -> Vec<Statement> {
    let rows = messages.iter().filter_map(|(id, body)| {
        let m = queue::decode(body).ok()?;
        let ids: Vec<&String> = m.groups.iter().flat_map(|g| g.ids.iter()).collect();
        Some(json!([id, m.destination, m.queued_ms, dead_ms, m.groups.len(), Value::from(ids.len()), json!(ids).to_string(), body]).to_string())
    });
    sql::per_chunk(sql::KEEP_DEAD_LETTERS, rows)
}

/// The message `body` to put back on the queue: the same page views and event ids, its tries
/// counted from zero (so the queue's retry delays start over). `None` when it cannot be read.
pub fn replayed(body: &str) -> Option<String> {
    let message: Message = queue::decode(body).ok()?;
    serde_json::to_string(&Message { tries: 0, ..message }).ok()
}

/// Which dead letters a request is about: one destination's, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// `destination=`; `None` for every destination.
    pub destination: Option<String>,
    /// How many at most.
    pub limit: u32,
}

impl Selection {
    /// From a URL query: `destination` (a name) and `limit` (1..=`max`, default `max`).
    pub fn parse(query: &str, max: u32) -> Result<Selection, String> {
        let mut out = Selection { destination: None, limit: max };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "destination" if !v.is_empty() => {
                    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || v.len() > 32 {
                        return Err("destination must be a destination's name, such as meta, ga4 or tiktok".into());
                    }
                    out.destination = Some(v.to_string());
                }
                "limit" => out.limit = v.parse().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| format!("limit must be a whole number from 1 to {max}"))?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn params(&self) -> Vec<Value> {
        vec![json!(self.destination.as_deref().unwrap_or("")), json!(self.limit)]
    }

    /// The read of the list (no bodies), then the count per destination.
    pub fn list_statements(&self) -> Vec<Statement> {
        vec![Statement::new(sql::LIST_DEAD_LETTERS, self.params()), Statement::new(sql::COUNT_DEAD_LETTERS, Vec::new())]
    }

    /// The read of the messages to replay (ids and bodies, oldest first).
    pub fn replay_statements(&self) -> Vec<Statement> {
        vec![Statement::new(sql::TAKE_DEAD_LETTERS, self.params())]
    }
}

/// The statements that forget the dead letters `ids` (put back on the queue), then count
/// those left.
pub fn forget(ids: &[String]) -> Vec<Statement> {
    vec![Statement::new(sql::FORGET_DEAD_LETTERS, vec![json!(json!(ids).to_string())]), Statement::new(sql::COUNT_DEAD_LETTERS, Vec::new())]
}

/// The list's JSON from the rows of [`Selection::list_statements`]: `{"dead_letters": [{"id",
/// "destination", "queued_at", "dead_at", "page_views", "events", "event_ids"}], "kept":
/// [{"destination", "messages", "events"}]}` (times as Unix ms).
pub fn list(results: &[Vec<Value>]) -> Value {
    let empty = Vec::new();
    let items: Vec<Value> = results
        .first()
        .unwrap_or(&empty)
        .iter()
        .map(|r| {
            let ids: Value = r.get("event_ids").and_then(Value::as_str).and_then(|s| serde_json::from_str(s).ok()).unwrap_or(json!([]));
            json!({
                "id": r.get("id"),
                "destination": r.get("destination"),
                "queued_at": num(r, "queued_at"),
                "dead_at": num(r, "dead_at"),
                "page_views": num(r, "page_views"),
                "events": num(r, "events"),
                "event_ids": ids,
            })
        })
        .collect();
    json!({"dead_letters": items, "kept": kept(results.get(1).unwrap_or(&empty))})
}

/// Dead letters kept per destination, from [`sql::COUNT_DEAD_LETTERS`]'s rows.
pub fn kept(rows: &[Value]) -> Value {
    Value::Array(rows.iter().map(|r| json!({"destination": r.get("destination"), "messages": num(r, "messages"), "events": num(r, "events")})).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::queue::QueuedGroup;

    fn body(tries: u32) -> String {
        let g = QueuedGroup { method: "GET".into(), path: "/p".into(), status: Some(200), ray: None, names: vec!["Purchase".to_string()].into(), ids: vec!["e1".to_string(), "e2".to_string()].into(), replay: false, part: "{}".into() };
        let mut m = queue::decode(&queue::messages("meta", 5, vec![g])[0].0).unwrap();
        m.tries = tries;
        serde_json::to_string(&m).unwrap()
    }

    #[test]
    fn keeps_readable_messages_with_their_event_ids() {
        let s = store(&[("m1".into(), body(3)), ("m2".into(), "not a message".into())], 99);
        assert_eq!(s.len(), 1);
        let rows: Vec<Value> = serde_json::from_str(s[0].params[0].as_str().unwrap()).unwrap();
        assert_eq!(rows.len(), 1, "an unreadable message cannot be replayed");
        assert_eq!(rows[0][0], "m1");
        assert_eq!((rows[0][1].as_str(), rows[0][2].as_u64(), rows[0][3].as_u64(), rows[0][4].as_u64(), rows[0][5].as_u64()), (Some("meta"), Some(5), Some(99), Some(1), Some(2)));
        assert_eq!(rows[0][6], "[\"e1\",\"e2\"]");
        assert!(store(&[("x".into(), "{}".into())], 1).is_empty());
    }

    #[test]
    fn a_busy_dead_letter_batch_is_kept_in_statements_under_the_limit() {
        // 100 messages of ~120 KB: 12 MB of bodies, far past D1's 2 MB per value.
        let big = |i: usize| {
            let g = QueuedGroup { method: "GET".into(), path: format!("/p/{i}").into(), status: Some(200), ray: None, names: vec!["ViewContent".to_string()].into(), ids: vec![format!("e{i}")].into(), replay: false, part: format!("{{\"x\":\"{}\"}}", "a".repeat(118_000)).into() };
            queue::messages("meta", 5, vec![g]).remove(0).0
        };
        let messages: Vec<(String, String)> = (0..100).map(|i| (format!("m{i}"), big(i))).collect();
        let s = store(&messages, 9);
        assert!(s.len() >= 12, "{}", s.len());
        assert!(s.iter().all(|st| st.sql == sql::KEEP_DEAD_LETTERS && st.params[0].as_str().unwrap().len() <= sql::MAX_PARAM_BYTES));
        let ids: Vec<String> = s.iter().flat_map(|st| serde_json::from_str::<Vec<Value>>(st.params[0].as_str().unwrap()).unwrap()).map(|r| r[0].as_str().unwrap().to_string()).collect();
        assert_eq!(ids, messages.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), "every message, once, in order");
    }

    #[test]
    fn a_replay_sends_the_same_events_with_tries_from_zero() {
        let again = queue::decode(&replayed(&body(7)).unwrap()).unwrap();
        let before = queue::decode(&body(7)).unwrap();
        assert_eq!(again.tries, 0);
        assert_eq!(again.groups[0].ids, before.groups[0].ids);
        assert_eq!(again.groups[0].part, before.groups[0].part);
        assert!(replayed("nope").is_none());
    }

    #[test]
    fn selections() {
        assert_eq!(Selection::parse("", MAX_REPLAY), Ok(Selection { destination: None, limit: MAX_REPLAY }));
        assert_eq!(Selection::parse("destination=ga4&limit=5", MAX_REPLAY), Ok(Selection { destination: Some("ga4".into()), limit: 5 }));
        assert!(Selection::parse("limit=0", MAX_REPLAY).is_err());
        assert!(Selection::parse("limit=101", MAX_REPLAY).is_err());
        assert!(Selection::parse("destination=a%27b", MAX_REPLAY).is_err());
        let s = Selection { destination: None, limit: 3 }.replay_statements();
        assert_eq!(s[0].params, vec![json!(""), json!(3)]);
    }

    #[test]
    fn lists_without_bodies() {
        let rows = vec![
            vec![json!({"id": "m1", "destination": "meta", "queued_at": 1, "dead_at": 2, "page_views": 1, "events": 2, "event_ids": "[\"e1\",\"e2\"]"})],
            vec![json!({"destination": "meta", "messages": 1, "events": 2})],
        ];
        let l = list(&rows);
        assert_eq!(l["dead_letters"][0]["event_ids"], json!(["e1", "e2"]));
        assert!(l["dead_letters"][0].get("body").is_none());
        assert_eq!(l["kept"], json!([{"destination": "meta", "messages": 1, "events": 2}]));
    }
}
