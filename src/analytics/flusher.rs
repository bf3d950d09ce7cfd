//! An isolate's analytics state between flushes, and the flush protocol:
//! 1. the salts of the days being counted are read (made if missing) from D1;
//! 2. the queued page views are filtered (bots, quick reloads), hashed and counted;
//! 3. the counts go to D1 as one batch under a flush id. A batch that fails is kept and sent
//!    again, with the same id, before any newer counts: if the failed attempt did reach D1
//!    after all, its id is found and the retry is refused as a whole, so nothing is added
//!    twice; newer counts wait in memory, bounded.

use super::aggregate::{Aggregate, FLUSH_EARLY_ENTRIES, MAX_ENTRIES};
use super::conversion_counts::{ConversionCounts, Waiting};
use super::delivery_counts::{DeliveryCounts, Tally};
use super::match_counts::MatchCounts;
use super::device::{self, Device};
use super::page_view::RawPageView;
use super::reload_filter::ReloadFilter;
use super::sql::{self, Statement};
use super::visitor_hash::{utc_day, visitor_hash, DAY_MS, SALT_KEEP_DAYS};
use crate::bots::BotMatcher;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

/// A failed flush is sent again at most this many times (with the default 10 s interval,
/// about 5 minutes), then its counts are dropped and logged.
pub const MAX_FLUSH_ATTEMPTS: u32 = 30;

/// Visitor ids keep 53 bits: exact as JSON numbers in JavaScript, and with 100,000 visitors a
/// day two of them share an id with a probability of about one in a million.
const VISITOR_BITS: u64 = (1 << 53) - 1;

/// A flush on its way to D1 (or waiting to be sent again).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingFlush {
    /// Flush id, marked in `stats_flushes`.
    pub id: String,
    /// The batch.
    pub statements: Vec<Statement>,
    /// Page views it counts.
    pub page_views: u64,
    /// Delivery outcomes (events) it counts.
    pub events: u64,
    /// Attempts made so far.
    pub attempts: u32,
}

/// What [`Flusher::ingest`] did with a set of page views.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Counted.
    pub counted: u64,
    /// Not human page views (bots, prefetch, ...).
    pub bots: u64,
    /// Reloads of the same page by the same visitor within the window.
    pub reloads: u64,
    /// Not counted: no salt for their day, or memory full while flushes fail.
    pub dropped: u64,
}

/// How a flush ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushOutcome {
    /// Written.
    Written {
        /// Page views in it.
        page_views: u64,
        /// Delivery outcomes (events) in it.
        events: u64,
        /// Attempts it took.
        attempts: u32,
    },
    /// A retry found the flush already written: nothing added twice.
    AlreadyWritten {
        /// Page views in it.
        page_views: u64,
        /// Delivery outcomes (events) in it.
        events: u64,
        /// Attempts it took.
        attempts: u32,
    },
    /// Failed; kept for the next flush.
    WillRetry {
        /// Page views in it.
        page_views: u64,
        /// Delivery outcomes (events) in it.
        events: u64,
        /// Attempts so far.
        attempts: u32,
    },
    /// Failed [`MAX_FLUSH_ATTEMPTS`] times: its counts are lost.
    GaveUp {
        /// Page views lost.
        page_views: u64,
        /// Delivery outcomes (events) in it.
        events: u64,
        /// Attempts made.
        attempts: u32,
    },
    /// No such flush is pending (it was already settled).
    Unknown,
}

/// The analytics state of one isolate.
#[derive(Debug, Default)]
pub struct Flusher {
    current: Aggregate,
    deliveries: DeliveryCounts,
    matches: MatchCounts,
    conversions: ConversionCounts,
    pending: Option<PendingFlush>,
    salts: BTreeMap<u64, [u8; 32]>,
    reloads: ReloadFilter,
}

impl Flusher {
    /// The UTC days among `days` whose salt this isolate does not hold.
    pub fn missing_salts(&self, days: &[u64]) -> Vec<u64> {
        let mut missing: Vec<u64> = days.iter().copied().filter(|d| !self.salts.contains_key(d)).collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// The UTC days whose salt the conversions waiting to be counted need.
    pub fn waiting_days(&self) -> Vec<u64> {
        self.conversions.waiting_days()
    }

    /// Holds a tracked request's conversions until its day's salt is known. Returns `false`
    /// when memory is full (they are lost: see [`Flusher::take_lost_conversions`]).
    pub fn wait_conversions(&mut self, waiting: Waiting) -> bool {
        self.conversions.wait(waiting)
    }

    /// Conversions lost since the last call, memory being full.
    pub fn take_lost_conversions(&mut self) -> u64 {
        self.conversions.take_lost()
    }

    /// Counts the waiting conversions whose day's salt is held.
    fn count_conversions(&mut self) {
        let salts = &self.salts;
        self.conversions.count_waiting(|w| {
            let salt = salts.get(&utc_day(w.at_ms))?;
            Some(visitor_hash(salt, &w.ip, &w.user_agent, &w.host) & VISITOR_BITS)
        });
    }

    /// Keeps the salt of `day` (from D1), and forgets salts older than 48 h by `today`.
    pub fn set_salt(&mut self, day: u64, salt: [u8; 32], today: u64) {
        self.salts.insert(day, salt);
        self.salts.retain(|d, _| d + SALT_KEEP_DAYS > today);
    }

    /// Counts `views`: bots and quick reloads are left out; a view whose day has no salt, or
    /// that comes while memory is full, is dropped.
    pub fn ingest(&mut self, views: &[RawPageView], threshold: u8, bots: &BotMatcher) -> Ingested {
        let mut out = Ingested::default();
        // Each User-Agent's crawler check and device class, once per call: most page views of
        // a flush share a few browsers' User-Agents.
        let mut by_ua: HashMap<String, (bool, Device)> = HashMap::new();
        let mut ua_facts = |ua: &str| -> (bool, Device) {
            if let Some(known) = by_ua.get(ua) {
                return *known;
            }
            let facts = (bots.is_bot(ua), device::classify(ua));
            by_ua.insert(ua.to_string(), facts);
            facts
        };
        for view in views {
            // The crawler check is the last rule, asked of every view counted: the device
            // class comes with its answer.
            let mut device = None;
            let crawler = |ua: &str| {
                let facts = ua_facts(ua);
                device = Some(facts.1);
                facts.0
            };
            if view.skip_rule_with(threshold, crawler).is_some() {
                out.bots += 1;
                continue;
            }
            let at = view.at_ms();
            let day = utc_day(at);
            let Some(salt) = self.salts.get(&day) else {
                out.dropped += 1;
                continue;
            };
            if self.current.entries() >= MAX_ENTRIES {
                out.dropped += 1;
                continue;
            }
            let visitor = visitor_hash(salt, view.ip(), view.user_agent(), &view.host()) & VISITOR_BITS;
            let device = device.unwrap_or_else(|| ua_facts(view.user_agent().trim()).1);
            let dims = view.dimensions_with(device);
            if !self.reloads.counts(visitor, page_id(dims.path), at) {
                out.reloads += 1;
                continue;
            }
            let hour = ((at % DAY_MS) / 3_600_000) as u8;
            self.current.add(day, hour, visitor, at, &dims);
            out.counted += 1;
        }
        self.count_conversions();
        out
    }

    /// Counts what became of `names` (one per event) at a destination, for the Delivery panel.
    pub fn count_delivery<S: AsRef<str>>(&mut self, tally: &Tally<'_>, names: &[S]) {
        self.deliveries.add(tally, names);
    }

    /// Counts one event built for `destination`, carrying `keys`, for the Match quality panel.
    pub fn count_match(&mut self, at_ms: u64, destination: &str, event: &str, keys: &[&'static str]) {
        self.matches.add(at_ms, destination, event, keys);
    }

    /// Whether the counts held are many enough to flush before the timer.
    pub fn flush_early(&self) -> bool {
        self.current.entries() >= FLUSH_EARLY_ENTRIES || self.conversions.events() >= super::conversion_counts::MAX_HELD as u64 / 2
    }

    /// The next flush to send: the one that failed last time, else the counts held now (as
    /// flush `new_id()` at `now_ms`). `None` when there is nothing to write.
    pub fn take(&mut self, new_id: impl FnOnce() -> String, now_ms: u64) -> Option<&PendingFlush> {
        if self.pending.is_none() {
            self.count_conversions();
        }
        if self.pending.is_none() && !(self.current.is_empty() && self.deliveries.is_empty() && self.matches.is_empty() && self.conversions.is_empty()) {
            let counts = std::mem::take(&mut self.current);
            let deliveries = std::mem::take(&mut self.deliveries);
            let matches = std::mem::take(&mut self.matches);
            let conversions = self.conversions.take_counted();
            let id = new_id();
            let mut statements = if counts.is_empty() {
                vec![Statement::new(sql::MARK_FLUSH, vec![serde_json::json!(id), serde_json::json!(now_ms)])]
            } else {
                counts.statements(&id, now_ms)
            };
            if !deliveries.is_empty() {
                statements.extend(deliveries.statements());
            }
            if !matches.is_empty() {
                statements.extend(matches.statements());
            }
            // After the page views' seen marks and sources: each event is attributed to its
            // visitor's source of the day.
            statements.extend(conversions.statements());
            self.pending = Some(PendingFlush { statements, id, page_views: counts.page_views(), events: deliveries.events(), attempts: 0 });
        }
        let pending = self.pending.as_mut()?;
        pending.attempts += 1;
        Some(pending)
    }

    /// Settles flush `id`: `error` is what D1 answered, `None` when it was written.
    pub fn finished(&mut self, id: &str, error: Option<&str>) -> FlushOutcome {
        let Some(pending) = self.pending.as_ref().filter(|p| p.id == id) else {
            return FlushOutcome::Unknown;
        };
        let (page_views, attempts) = (pending.page_views, pending.attempts);
        let events = pending.events;
        let outcome = match error {
            None => FlushOutcome::Written { page_views, events, attempts },
            Some(e) if e.contains(sql::FLUSH_ALREADY_WRITTEN) => FlushOutcome::AlreadyWritten { page_views, events, attempts },
            Some(_) if attempts >= MAX_FLUSH_ATTEMPTS => FlushOutcome::GaveUp { page_views, events, attempts },
            Some(_) => return FlushOutcome::WillRetry { page_views, events, attempts },
        };
        self.pending = None;
        outcome
    }

    /// Page views held in memory, not yet written.
    pub fn held(&self) -> u64 {
        self.current.page_views() + self.pending.as_ref().map_or(0, |p| p.page_views)
    }
}

/// A page's id for the reload filter.
fn page_id(path: &str) -> u64 {
    let mut h = DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const DAY: u64 = 20_000;

    /// A page view of `path` from `ip`: its URL and IP are leaked (test-only) so that the
    /// view, which borrows its texts, can be built in one call.
    fn view(at: u64, path: &str, ip: &str) -> RawPageView<'static> {
        let url: &'static str = format!("https://s.example{path}").leak();
        let ip: &'static str = ip.to_string().leak();
        RawPageView(DAY * DAY_MS + at, url, None, Some(CHROME), Some(ip), Some("IT"), None, None, None)
    }

    fn ready() -> (Flusher, BotMatcher) {
        let mut f = Flusher::default();
        f.set_salt(DAY, [7; 32], DAY);
        (f, BotMatcher::new().unwrap())
    }

    fn total_row(p: &PendingFlush) -> Value {
        let rows: Vec<Value> = serde_json::from_str(p.statements[1].params[0].as_str().unwrap()).unwrap();
        rows.into_iter().find(|r| r[1] == "total").unwrap()
    }

    #[test]
    fn counts_filters_and_dedups_reloads() {
        let (mut f, bots) = ready();
        let mut bot = view(0, "/", "1.1.1.1");
        bot.3 = Some("Googlebot/2.1");
        let views = [view(0, "/", "1.1.1.1"), view(5_000, "/", "1.1.1.1"), view(11_000, "/", "1.1.1.1"), view(6_000, "/", "2.2.2.2"), bot];
        let got = f.ingest(&views, 30, &bots);
        assert_eq!(got, Ingested { counted: 3, bots: 1, reloads: 1, dropped: 0 });
        let p = f.take(|| "a".into(), 0).unwrap().clone();
        assert_eq!((p.page_views, p.attempts), (3, 1));
        let total = total_row(&p);
        assert_eq!(total[3], 3);
        assert_eq!(total[5].as_array().unwrap().len(), 2, "two visitors");
        assert!(total[5].as_array().unwrap().iter().all(|v| v.as_u64().unwrap() <= VISITOR_BITS));
    }

    #[test]
    fn no_salt_no_count() {
        let mut f = Flusher::default();
        assert_eq!(f.missing_salts(&[DAY, DAY, DAY - 1]), vec![DAY - 1, DAY]);
        let got = f.ingest(&[view(0, "/", "1.1.1.1")], 30, &BotMatcher::new().unwrap());
        assert_eq!(got.dropped, 1);
        assert!(f.take(|| "a".into(), 0).is_none());
    }

    #[test]
    fn salts_rotate_and_expire_at_the_day_boundary() {
        let (mut f, bots) = ready();
        let last_ms = DAY_MS - 1;
        f.ingest(&[view(last_ms, "/", "1.1.1.1")], 30, &bots);
        assert_eq!(f.missing_salts(&[DAY, DAY + 1]), vec![DAY + 1], "a new UTC day needs a new salt");
        f.set_salt(DAY + 1, [8; 32], DAY + 1);
        f.ingest(&[view(last_ms + 1, "/", "1.1.1.1")], 30, &bots);
        let p = f.take(|| "a".into(), 0).unwrap().clone();
        let rows: Vec<Value> = serde_json::from_str(p.statements[1].params[0].as_str().unwrap()).unwrap();
        let totals: Vec<&Value> = rows.iter().filter(|r| r[1] == "total").collect();
        assert_eq!(totals.len(), 2, "one row per day");
        assert_ne!(totals[0][5], totals[1][5], "the same visitor has another id the next day");
        f.set_salt(DAY + 2, [9; 32], DAY + 2);
        assert_eq!(f.missing_salts(&[DAY]), vec![DAY], "gone after 48 h");
        assert!(f.missing_salts(&[DAY + 1]).is_empty());
    }

    #[test]
    fn a_failed_flush_is_resent_with_its_id_before_newer_counts() {
        let (mut f, bots) = ready();
        f.ingest(&[view(0, "/", "1.1.1.1")], 30, &bots);
        let first = f.take(|| "a".into(), 0).unwrap().clone();
        f.ingest(&[view(0, "/b", "2.2.2.2")], 30, &bots);
        assert_eq!(f.finished("a", Some("D1_ERROR: network lost")), FlushOutcome::WillRetry { page_views: 1, events: 0, attempts: 1 });
        assert_eq!(f.held(), 2);
        let again = f.take(|| panic!("no new id while one is pending"), 0).unwrap().clone();
        assert_eq!((again.id.as_str(), again.attempts, &again.statements), ("a", 2, &first.statements));
        let err = "D1_ERROR: UNIQUE constraint failed: stats_flushes.id: SQLITE_CONSTRAINT";
        assert_eq!(f.finished("a", Some(err)), FlushOutcome::AlreadyWritten { page_views: 1, events: 0, attempts: 2 });
        let next = f.take(|| "b".into(), 0).unwrap().clone();
        assert_eq!((next.id.as_str(), next.page_views), ("b", 1));
        assert_eq!(f.finished("b", None), FlushOutcome::Written { page_views: 1, events: 0, attempts: 1 });
        assert_eq!(f.finished("b", None), FlushOutcome::Unknown);
        assert!(f.take(|| "c".into(), 0).is_none());
    }

    #[test]
    fn delivery_outcomes_flush_alone_or_with_page_views_under_one_mark() {
        use crate::analytics::delivery_counts::DeliveryOutcome;
        let (mut f, bots) = ready();
        assert!(f.take(|| "none".into(), 7).is_none(), "nothing to write yet");
        let sent = Tally { at_ms: DAY * DAY_MS, destination: "meta", outcome: DeliveryOutcome::Sent, detail: "", reason: None };
        f.count_delivery(&sent, &["Purchase", "PageView"]);
        let alone = f.take(|| "d".into(), 7).unwrap().clone();
        assert_eq!((alone.page_views, alone.events), (0, 2));
        let sqls: Vec<&str> = alone.statements.iter().map(|s| s.sql).collect();
        assert_eq!(sqls, vec![sql::MARK_FLUSH, sql::ADD_DELIVERY], "marked, so a retry adds nothing twice");
        assert_eq!(f.finished("d", Some("down")), FlushOutcome::WillRetry { page_views: 0, events: 2, attempts: 1 });
        f.count_delivery(&sent, &["Lead"]);
        assert_eq!(f.take(|| panic!("the failed flush goes first"), 7).unwrap().statements, alone.statements);
        assert_eq!(f.finished("d", None), FlushOutcome::Written { page_views: 0, events: 2, attempts: 2 });
        f.ingest(&[view(0, "/", "1.1.1.1")], 30, &bots);
        let both = f.take(|| "e".into(), 7).unwrap().clone();
        assert_eq!((both.page_views, both.events), (1, 1));
        assert_eq!(both.statements.first().unwrap().sql, sql::MARK_FLUSH);
        assert_eq!(both.statements.last().unwrap().sql, sql::ADD_DELIVERY);
    }

    #[test]
    fn gives_up_after_the_last_attempt_and_memory_stays_bounded() {
        let (mut f, bots) = ready();
        f.ingest(&[view(0, "/", "1.1.1.1")], 30, &bots);
        for n in 1..MAX_FLUSH_ATTEMPTS {
            let id = f.take(|| "a".into(), 0).unwrap().id.clone();
            assert_eq!(f.finished(&id, Some("down")), FlushOutcome::WillRetry { page_views: 1, events: 0, attempts: n });
        }
        f.take(|| "a".into(), 0);
        assert_eq!(f.finished("a", Some("down")), FlushOutcome::GaveUp { page_views: 1, events: 0, attempts: MAX_FLUSH_ATTEMPTS });
        let mut dropped = 0;
        for i in 0..(MAX_ENTRIES as u64) {
            dropped += f.ingest(&[view(0, &format!("/p{i}"), &format!("10.0.{}.{}", i / 256, i % 256))], 30, &bots).dropped;
        }
        assert!(dropped > 0);
        assert!(f.flush_early());
        assert!(f.current.entries() <= MAX_ENTRIES + 8);
    }
}
