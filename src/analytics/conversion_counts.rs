//! An isolate's conversions between two flushes: the events declared on human requests,
//! held until their day's salt turns the visitor's IP and User-Agent into the day's visitor
//! id (as for page views), then written with the page views, in the same D1 batch under the
//! same flush mark.
//!
//! D1 attributes each event to its visitor's source of the day (the site's seen mark holds
//! it, `stats_seen.source`), counts each visitor once per event name and day (`v:` marks),
//! and counts an event whose id repeats (a reloaded order page) once per visitor and day
//! (`o:` marks). Nothing personal is stored: counts, sums and the daily visitor ids that are
//! deleted with their salt after 48 h.

use super::conversion::Conversion;
use super::sql::{self, Statement};
use super::visitor_hash::utc_day;
use serde_json::Value;
use std::collections::HashSet;

/// Events held at most (waiting for a salt, or counted) between flushes; past it, events are
/// lost and logged, so memory stays bounded while D1 fails.
pub const MAX_HELD: usize = 20_000;

/// The facts a tracked request's conversions wait with until its day's salt is known: what
/// the visitor id is made of, as for a page view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// When, in Unix ms.
    pub at_ms: u64,
    /// `CF-Connecting-IP`.
    pub ip: String,
    /// `User-Agent`, cut as a queued page view's is.
    pub user_agent: String,
    /// The host asked for, lowercased.
    pub host: String,
    /// The request's events.
    pub conversions: Vec<Conversion>,
}

/// The conversions of one isolate since its last flush.
#[derive(Debug, Default)]
pub struct ConversionCounts {
    waiting: Vec<Waiting>,
    counted: Vec<(u64, u64, Conversion)>,
    /// `(day, visitor, id)` already counted in this period.
    once: HashSet<(u64, u64, String)>,
    held: usize,
    lost: u64,
}

impl ConversionCounts {
    /// Holds `waiting` until its day's salt is known. Returns `false` (and counts the events
    /// lost) when [`MAX_HELD`] events are already held.
    pub fn wait(&mut self, waiting: Waiting) -> bool {
        let n = waiting.conversions.len();
        if n == 0 {
            return true;
        }
        if self.held + n > MAX_HELD {
            self.lost += n as u64;
            return false;
        }
        self.held += n;
        self.waiting.push(waiting);
        true
    }

    /// The UTC days whose salt the waiting events need.
    pub fn waiting_days(&self) -> Vec<u64> {
        let mut days: Vec<u64> = self.waiting.iter().map(|w| utc_day(w.at_ms)).collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// Counts the waiting events whose visitor id `visitor_of` can make (its day's salt is
    /// held); the others keep waiting. A repeated id of the same visitor and day counts once.
    pub fn count_waiting(&mut self, mut visitor_of: impl FnMut(&Waiting) -> Option<u64>) {
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            let Some(visitor) = visitor_of(&w) else {
                self.waiting.push(w);
                continue;
            };
            let day = utc_day(w.at_ms);
            for c in w.conversions {
                if let Some(id) = &c.once_id {
                    if !self.once.insert((day, visitor, id.clone())) {
                        self.held -= 1;
                        continue;
                    }
                }
                self.counted.push((day, visitor, c));
            }
        }
    }

    /// Events counted and not yet written.
    pub fn events(&self) -> u64 {
        self.counted.len() as u64
    }

    /// Nothing counted to write (events may still wait for a salt).
    pub fn is_empty(&self) -> bool {
        self.counted.is_empty()
    }

    /// Events lost since the last call (memory was full), to log.
    pub fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    /// Takes the counted events, leaving those that wait: what the next flush writes.
    pub fn take_counted(&mut self) -> ConversionCounts {
        self.held -= self.counted.len();
        ConversionCounts { counted: std::mem::take(&mut self.counted), once: std::mem::take(&mut self.once), ..ConversionCounts::default() }
    }

    /// The statements that add the counted events (part of a flush's batch, after the page
    /// views' seen marks and sources): per chunk of rows `[day, visitor, event, id, currency,
    /// amount]`, the counts and visitors, the revenue, then the marks that make the next
    /// chunk and the next flush count a visitor and a repeated id once.
    pub fn statements(&self) -> Vec<Statement> {
        let rows = self.counted.iter().map(|(day, visitor, c)| {
            let (currency, amount) = c.revenue.as_ref().map_or(("", 0), |(cur, a)| (cur.as_str(), *a));
            serde_json::json!([day, visitor, c.event_name, c.once_id, currency, amount]).to_string()
        });
        sql::chunked_rows(rows)
            .into_iter()
            .flat_map(|chunk| {
                [sql::ADD_CONVERSIONS, sql::ADD_REVENUE, sql::ADD_EVENT_SEEN].map(|s| Statement::new(s, vec![Value::String(chunk.clone())]))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::visitor_hash::DAY_MS;

    fn waiting(at_ms: u64, ip: &str, conversions: Vec<Conversion>) -> Waiting {
        Waiting { at_ms, ip: ip.into(), user_agent: "UA".into(), host: "s.example".into(), conversions }
    }

    fn purchase(id: Option<&str>) -> Conversion {
        Conversion { event_name: "Purchase".into(), once_id: id.map(String::from), revenue: Some(("EUR".into(), 10_000)) }
    }

    #[test]
    fn events_wait_for_their_salt_then_count_and_a_repeated_id_counts_once() {
        let mut c = ConversionCounts::default();
        assert!(c.wait(waiting(DAY_MS * 3 + 5, "1.1.1.1", vec![purchase(Some("o-1")), purchase(None)])));
        assert!(c.wait(waiting(DAY_MS * 4, "1.1.1.1", vec![purchase(Some("o-1"))])));
        assert_eq!(c.waiting_days(), vec![3, 4]);
        c.count_waiting(|w| (w.at_ms < DAY_MS * 4).then_some(7));
        assert_eq!(c.events(), 2);
        assert_eq!(c.waiting_days(), vec![4], "day 4 has no salt yet");
        assert!(c.wait(waiting(DAY_MS * 3 + 9, "1.1.1.1", vec![purchase(Some("o-1"))])));
        c.count_waiting(|w| Some(if w.at_ms < DAY_MS * 4 { 7 } else { 8 }));
        assert_eq!(c.events(), 3, "the reload of o-1 on day 3 by visitor 7 counts once; day 4's counts");
        let taken = c.take_counted();
        assert!(c.is_empty() && c.waiting_days().is_empty());
        let s = taken.statements();
        let sqls: Vec<&str> = s.iter().map(|s| s.sql).collect();
        assert_eq!(sqls, vec![sql::ADD_CONVERSIONS, sql::ADD_REVENUE, sql::ADD_EVENT_SEEN]);
        let rows: Vec<Value> = serde_json::from_str(s[0].params[0].as_str().unwrap()).unwrap();
        assert_eq!(rows[0], serde_json::json!([3, 7, "Purchase", "o-1", "EUR", 10_000]));
        assert_eq!(rows[1], serde_json::json!([3, 7, "Purchase", null, "EUR", 10_000]));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut c = ConversionCounts::default();
        for _ in 0..MAX_HELD {
            assert!(c.wait(waiting(0, "1.1.1.1", vec![purchase(None)])));
        }
        assert!(!c.wait(waiting(0, "1.1.1.1", vec![purchase(None)])));
        assert_eq!(c.take_lost(), 1);
        c.count_waiting(|_| Some(1));
        let _ = c.take_counted();
        assert!(c.wait(waiting(0, "1.1.1.1", vec![purchase(None)])), "room again once written");
    }

    #[test]
    fn large_sets_are_cut_under_d1s_limit() {
        let mut c = ConversionCounts::default();
        for i in 0..MAX_HELD as u64 {
            let name = format!("{}{i}", "E".repeat(50));
            c.wait(waiting(0, "1.1.1.1", vec![Conversion { event_name: name, once_id: Some(format!("{i}{}", "x".repeat(100))), revenue: None }]));
        }
        c.count_waiting(|w| Some(w.conversions[0].event_name.len() as u64));
        let s = c.take_counted().statements();
        assert!(s.len() > 3 && s.len() % 3 == 0);
        assert!(s.iter().all(|s| s.params[0].as_str().unwrap().len() <= sql::MAX_PARAM_BYTES));
    }
}
