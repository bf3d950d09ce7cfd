//! What became of the events, counted per UTC day, destination, event name and outcome, for
//! the stats page's Delivery panel (issue 15): an isolate's counts between two flushes, held
//! in memory and written with its page-view counts, in the same D1 batch under the same flush
//! id (so a retried flush adds nothing twice).
//!
//! Nothing personal is counted: a destination, an event name as the origin or the platform
//! calls it, an outcome, a rule or error code, and for failures the last reason the log line
//! gave (a platform's error message, no event data).

use super::sql::{self, Statement};
use super::values::clip;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Distinct (day, destination, event, outcome, detail) rows an isolate holds at most between
/// flushes; past it, events of new names are counted under [`OTHER_EVENT`].
pub const MAX_ROWS: usize = 2_000;
/// The event name counted when [`MAX_ROWS`] is reached, or when the name is unknown.
pub const OTHER_EVENT: &str = "(other)";
/// The event name counted for page views skipped before their header was read (a bot).
pub const UNREAD_EVENT: &str = "(not read)";
/// Longest event name kept (Meta allows 50 characters; GA4 40).
pub const MAX_EVENT_LEN: usize = 64;
/// An event's name as the stats store it: at most [`MAX_EVENT_LEN`] bytes, [`OTHER_EVENT`]
/// when empty. The delivery, match-key and conversion counts all name events so.
pub fn event_label(name: &str) -> &str {
    if name.is_empty() { OTHER_EVENT } else { clip(name, MAX_EVENT_LEN) }
}

/// Longest failure reason kept.
pub const MAX_REASON_LEN: usize = 300;

/// What became of an event at a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryOutcome {
    /// Accepted by the platform.
    Sent,
    /// Built and logged, not sent (dry run).
    DryRun,
    /// Refused for good, or unreachable past every retry of a direct delivery.
    Failed,
    /// Tried the most times the queue allows; in the dead-letter queue.
    DeadLettered,
    /// Not sent by a rule (a bot, no consent, GPC...): the detail is the rule.
    Skipped,
    /// Not sendable (a header that cannot be read, an event the platform cannot express): the
    /// detail is the code.
    Rejected,
}

impl DeliveryOutcome {
    /// Every outcome, in the order the report lists them.
    pub const ALL: [DeliveryOutcome; 6] = [
        DeliveryOutcome::Sent,
        DeliveryOutcome::Failed,
        DeliveryOutcome::DeadLettered,
        DeliveryOutcome::Rejected,
        DeliveryOutcome::Skipped,
        DeliveryOutcome::DryRun,
    ];

    /// Stored name, the same as the log line's `decision`.
    pub fn code(self) -> &'static str {
        match self {
            DeliveryOutcome::Sent => "sent",
            DeliveryOutcome::DryRun => "dry_run",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::DeadLettered => "dead_lettered",
            DeliveryOutcome::Skipped => "skipped",
            DeliveryOutcome::Rejected => "rejected",
        }
    }

    /// Whether a reason is kept (the panel shows the last one).
    fn keeps_reason(self) -> bool {
        matches!(self, DeliveryOutcome::Failed | DeliveryOutcome::DeadLettered | DeliveryOutcome::Rejected)
    }
}

/// One counted row's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    day: u64,
    destination: String,
    event: String,
    outcome: DeliveryOutcome,
    detail: String,
}

/// Events of one key, and the last reason given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Row {
    events: u64,
    last: Option<(u64, String)>,
}

/// One outcome to count: `events` (their names) at `destination`.
#[derive(Debug, Clone, Copy)]
pub struct Tally<'a> {
    /// When, in Unix milliseconds.
    pub at_ms: u64,
    /// `meta`, `ga4`, `tiktok`.
    pub destination: &'a str,
    /// What became of them.
    pub outcome: DeliveryOutcome,
    /// The rule (skipped), the code (rejected), else empty.
    pub detail: &'a str,
    /// Why, for failures (kept as the row's last reason).
    pub reason: Option<&'a str>,
}

/// The delivery outcomes of one isolate since its last flush.
#[derive(Debug, Default)]
pub struct DeliveryCounts {
    rows: HashMap<Key, Row>,
    events: u64,
}

impl DeliveryCounts {
    /// Counts each of `names` (one per event) as `tally` says.
    pub fn add<S: AsRef<str>>(&mut self, tally: &Tally<'_>, names: &[S]) {
        for name in names {
            self.add_one(tally, name.as_ref());
        }
    }

    fn add_one(&mut self, tally: &Tally<'_>, name: &str) {
        let day = super::visitor_hash::utc_day(tally.at_ms);
        let mut key = Key {
            day,
            destination: clip(tally.destination, MAX_EVENT_LEN).to_string(),
            event: event_label(name).to_string(),
            outcome: tally.outcome,
            detail: clip(tally.detail, MAX_EVENT_LEN).to_string(),
        };
        if !self.rows.contains_key(&key) && self.rows.len() >= MAX_ROWS {
            key.event = OTHER_EVENT.to_string();
        }
        let row = self.rows.entry(key).or_default();
        row.events += 1;
        if tally.outcome.keeps_reason() {
            if let Some(reason) = tally.reason {
                if row.last.as_ref().is_none_or(|(at, _)| *at <= tally.at_ms) {
                    row.last = Some((tally.at_ms, clip(reason, MAX_REASON_LEN).to_string()));
                }
            }
        }
        self.events += 1;
    }

    /// Events counted.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The statements that add these counts (part of a flush's batch): one, unless the rows
    /// pass D1's limit on a bound value ([`sql::per_chunk`]).
    pub fn statements(&self) -> Vec<Statement> {
        // In no particular order: sorting would add its own code to the wasm, for nothing.
        let rows = self.rows.iter().map(|(k, r)| {
            let (at, reason) = r.last.as_ref().map_or((Value::Null, Value::Null), |(at, reason)| (json!(at), json!(reason)));
            json!([k.day, k.destination, k.event, k.outcome.code(), k.detail, r.events, at, reason]).to_string()
        });
        sql::per_chunk(sql::ADD_DELIVERY, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 20_000;
    const AT: u64 = DAY * super::super::visitor_hash::DAY_MS + 5_000;

    fn tally(outcome: DeliveryOutcome, detail: &'static str, reason: Option<&'static str>, at_ms: u64) -> Tally<'static> {
        Tally { at_ms, destination: "meta", outcome, detail, reason }
    }

    fn rows(c: &DeliveryCounts) -> Vec<Value> {
        let mut rows: Vec<Value> = serde_json::from_str(c.statements()[0].params[0].as_str().unwrap()).unwrap();
        rows.sort_by_key(|r| (r[2].as_str().unwrap().to_string(), r[3].as_str().unwrap().to_string()));
        rows
    }

    #[test]
    fn counts_per_event_and_outcome_with_the_last_reason() {
        let mut c = DeliveryCounts::default();
        c.add(&tally(DeliveryOutcome::Sent, "", None, AT), &["Purchase", "PageView", "Purchase"]);
        c.add(&tally(DeliveryOutcome::Failed, "", Some("token expired"), AT + 10), &["Purchase"]);
        c.add(&tally(DeliveryOutcome::Failed, "", Some("older"), AT + 5), &["Purchase"]);
        c.add(&tally(DeliveryOutcome::Skipped, "consent_denied", Some("not kept"), AT), &["Lead"]);
        assert_eq!(c.events(), 6);
        assert_eq!(rows(&c), vec![
            json!([DAY, "meta", "Lead", "skipped", "consent_denied", 1, null, null]),
            json!([DAY, "meta", "PageView", "sent", "", 1, null, null]),
            json!([DAY, "meta", "Purchase", "failed", "", 2, AT + 10, "token expired"]),
            json!([DAY, "meta", "Purchase", "sent", "", 2, null, null]),
        ]);
        assert_eq!(c.statements()[0].sql, sql::ADD_DELIVERY);
    }

    #[test]
    fn bounded_rows_and_names() {
        let mut c = DeliveryCounts::default();
        for i in 0..(MAX_ROWS + 50) {
            c.add(&tally(DeliveryOutcome::Sent, "", None, AT), &[format!("Custom{i}")]);
        }
        let r = rows(&c);
        assert_eq!(r.len(), MAX_ROWS + 1, "new names past the cap share one row");
        assert!(r.iter().any(|row| row[2] == OTHER_EVENT && row[5] == 50));
        let mut c = DeliveryCounts::default();
        let long = "é".repeat(400);
        let failed = Tally { at_ms: AT, destination: "meta", outcome: DeliveryOutcome::Failed, detail: "", reason: Some(&long) };
        c.add(&failed, &["x".repeat(100), String::new()]);
        let r = rows(&c);
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|row| row[2].as_str().unwrap().len() <= MAX_EVENT_LEN && row[7].as_str().unwrap().len() <= MAX_REASON_LEN));
        assert!(r.iter().any(|row| row[2] == OTHER_EVENT), "a missing name is counted, not lost");
    }
}
