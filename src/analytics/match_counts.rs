//! Match quality: how many events each destination's body carried, and how many of them
//! carried each match key (Meta's `em`, `fbp`, `client_ip_address`..., TikTok's `email`,
//! `ttclid`..., GA4's `client_id`...), per UTC day, destination and event name. Counted where
//! the body is built, held in memory, and written with the delivery counts, in the same D1
//! batch under the same flush mark.
//!
//! Nothing personal is counted: key names and numbers.

use super::sql::{self, Statement};
use super::values::clip;
use serde_json::json;
use std::collections::HashMap;

/// Distinct (day, destination, event, key) rows an isolate holds at most between flushes;
/// past it, events of new names are counted under [`super::delivery_counts::OTHER_EVENT`].
pub const MAX_ROWS: usize = 4_000;
/// The key of the row that counts the events themselves.
pub const EVENTS_KEY: &str = "";

/// The events of one day, destination and event name, and how many carried each key.
#[derive(Debug, Default)]
struct Counts {
    events: u64,
    keys: Vec<(&'static str, u64)>,
}

/// The match-key counts of one isolate since its last flush.
#[derive(Debug, Default)]
pub struct MatchCounts {
    counts: HashMap<(u64, String, String), Counts>,
    /// Rows the counts make (one per (day, destination, event), one per key counted in it).
    rows: usize,
}

impl MatchCounts {
    /// Counts one event named `event` built for `destination` at `at_ms`, carrying `keys`.
    pub fn add(&mut self, at_ms: u64, destination: &str, event: &str, keys: &[&'static str]) {
        let day = super::visitor_hash::utc_day(at_ms);
        let max = super::delivery_counts::MAX_EVENT_LEN;
        let name = super::delivery_counts::event_label(event);
        let mut key = (day, clip(destination, max).to_string(), name.to_string());
        if !self.counts.contains_key(&key) && self.rows + keys.len() + 1 > MAX_ROWS {
            key.2 = super::delivery_counts::OTHER_EVENT.to_string();
        }
        let counts = self.counts.entry(key).or_insert_with(|| {
            self.rows += 1;
            Counts::default()
        });
        counts.events += 1;
        for key in keys {
            match counts.keys.iter_mut().find(|(k, _)| k == key) {
                Some((_, n)) => *n += 1,
                None => {
                    counts.keys.push((key, 1));
                    self.rows += 1;
                }
            }
        }
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The statements that add these counts (part of a flush's batch): one, unless the rows
    /// pass D1's limit on a bound value ([`sql::per_chunk`]).
    pub fn statements(&self) -> Vec<Statement> {
        let rows = self.counts.iter().flat_map(|((day, destination, event), counts)| {
            std::iter::once((EVENTS_KEY, counts.events))
                .chain(counts.keys.iter().copied())
                .map(move |(key, n)| json!([day, destination, event, key, n]).to_string())
        });
        sql::per_chunk(sql::ADD_MATCH, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const DAY: u64 = 20_000;
    const AT: u64 = DAY * super::super::visitor_hash::DAY_MS + 1;

    fn rows(c: &MatchCounts) -> Vec<Value> {
        let mut rows: Vec<Value> = c.statements().iter().flat_map(|s| serde_json::from_str::<Vec<Value>>(s.params[0].as_str().unwrap()).unwrap()).collect();
        rows.sort_by_key(|r| r.to_string());
        rows
    }

    #[test]
    fn events_and_each_key_are_counted() {
        let mut c = MatchCounts::default();
        assert!(c.is_empty());
        c.add(AT, "meta", "Purchase", &["em", "fbp"]);
        c.add(AT, "meta", "Purchase", &["fbp"]);
        c.add(AT, "tiktok", "CompletePayment", &[]);
        assert_eq!(rows(&c), vec![
            json!([DAY, "meta", "Purchase", "", 2]),
            json!([DAY, "meta", "Purchase", "em", 1]),
            json!([DAY, "meta", "Purchase", "fbp", 2]),
            json!([DAY, "tiktok", "CompletePayment", "", 1]),
        ]);
        assert_eq!(c.statements()[0].sql, sql::ADD_MATCH);
    }

    #[test]
    fn bounded_rows() {
        let mut c = MatchCounts::default();
        for i in 0..MAX_ROWS {
            c.add(AT, "meta", &format!("Custom{i}"), &["em"]);
        }
        let r = rows(&c);
        assert!(r.len() <= MAX_ROWS + 2, "{}", r.len());
        assert!(r.iter().any(|row| row[2] == super::super::delivery_counts::OTHER_EVENT));
    }
}
