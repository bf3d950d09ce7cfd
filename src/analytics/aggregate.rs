//! An isolate's counts between two flushes: page views and the distinct visitors behind them
//! per UTC day and dimension, held in memory and written to D1 in one batch.
//!
//! Visitors stay exact across isolates: a row carries the set of visitor hashes it saw, and
//! D1 adds only those it has not seen under that day and key before (`stats_seen`). Country
//! and device are fixed for a visitor hash (it covers the IP and the User-Agent), so they
//! share the site's key `''`; pages, hours and acquisition have keys of their own.

use super::id_hasher::{IdMap, IdSet};
use super::page_view::{Dimensions, DIRECT, INTERNAL};
use super::source::Acquisition;
use super::sql::{self, Statement};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `hour` values, `00` to `23`.
const HOURS: [&str; 24] = [
    "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23",
];

/// Past this many (row, visitor) entries an isolate flushes at once, not at its timer.
pub const FLUSH_EARLY_ENTRIES: usize = 20_000;
/// Past this many entries a page view is no longer counted (the flush is failing): memory
/// stays bounded, and one flush's JSON stays well under D1's 2 MB per value.
pub const MAX_ENTRIES: usize = 50_000;
/// A visitor is "now" for this long after their last page view.
pub const LIVE_MS: u64 = 5 * 60_000;
/// `stats_live` rows older than this are deleted at each flush.
pub const LIVE_KEEP_MS: u64 = 10 * 60_000;

/// A dimension of the counts, as stored in `stats_daily.dim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// The whole site (value `''`).
    Total,
    /// A page's path.
    Page,
    /// An hour of the day, `00`..`23` (UTC).
    Hour,
    /// Where visits came from: `utm_source`, the referring host, or `(direct)`.
    Source,
    /// `utm_medium`.
    Medium,
    /// `utm_campaign`.
    Campaign,
    /// Country code.
    Country,
    /// Device class.
    Device,
}

impl Dim {
    /// Stored name.
    pub fn code(self) -> &'static str {
        match self {
            Dim::Total => "total",
            Dim::Page => "page",
            Dim::Hour => "hour",
            Dim::Source => "source",
            Dim::Medium => "medium",
            Dim::Campaign => "campaign",
            Dim::Country => "country",
            Dim::Device => "device",
        }
    }

    /// The `stats_seen` key under which a visitor of `value` is counted once a day.
    fn seen_key(self, value: &str) -> String {
        match self {
            Dim::Total | Dim::Country | Dim::Device => String::new(),
            Dim::Page => value.to_string(),
            Dim::Hour => format!("h:{value}"),
            Dim::Source => format!("s:{value}"),
            Dim::Medium => format!("m:{value}"),
            Dim::Campaign => format!("c:{value}"),
        }
    }
}

/// Page views and visitors of one (day, dimension, value).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Row {
    pageviews: u64,
    visitors: IdSet,
}

/// The counts of one isolate since its last flush.
#[derive(Debug, Default)]
pub struct Aggregate {
    /// Rows by (day, dimension), then value: a value is looked up as `&str`, with no
    /// allocation per page view.
    rows: IdMap<(u64, Dim), HashMap<String, Row>>,
    live: IdMap<u64, u64>,
    /// Each visitor's first page view in this period: its day, time and landing, which
    /// becomes the visitor's source of the day unless an earlier flush set one.
    first_views: IdMap<u64, (u64, u64, Option<Acquisition>)>,
    entries: usize,
    page_views: u64,
}

impl Aggregate {
    /// Counts one page view of `visitor` on UTC `day`, hour `hour`, at `at_ms`.
    pub fn add(&mut self, day: u64, hour: u8, visitor: u64, at_ms: u64, dims: &Dimensions) {
        self.page_views += 1;
        self.count(day, Dim::Total, "", visitor);
        self.count(day, Dim::Page, dims.path, visitor);
        self.count(day, Dim::Hour, HOURS[usize::from(hour % 24)], visitor);
        self.count(day, Dim::Country, &dims.country, visitor);
        self.count(day, Dim::Device, dims.device.code(), visitor);
        if let Some(landing) = &dims.landing {
            for (dim, value) in [(Dim::Source, &landing.source), (Dim::Medium, &landing.medium), (Dim::Campaign, &landing.campaign)] {
                if let Some(v) = value {
                    self.count(day, dim, v, visitor);
                }
            }
        }
        let last = self.live.entry(visitor).or_insert(at_ms);
        *last = (*last).max(at_ms);
        match self.first_views.entry(visitor) {
            std::collections::hash_map::Entry::Occupied(mut first) => {
                if at_ms < first.get().1 {
                    first.insert((day, at_ms, dims.landing.clone()));
                }
            }
            std::collections::hash_map::Entry::Vacant(first) => {
                first.insert((day, at_ms, dims.landing.clone()));
                self.entries += 1;
            }
        }
    }

    fn count(&mut self, day: u64, dim: Dim, value: &str, visitor: u64) {
        let values = self.rows.entry((day, dim)).or_default();
        let row = match values.get_mut(value) {
            Some(row) => row,
            None => {
                self.entries += 1;
                values.entry(value.to_string()).or_default()
            }
        };
        row.pageviews += 1;
        if row.visitors.insert(visitor) {
            self.entries += 1;
        }
    }

    /// Page views counted.
    pub fn page_views(&self) -> u64 {
        self.page_views
    }

    /// Rows plus (row, visitor) entries held: what memory and the flush's size grow with.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.page_views == 0
    }

    /// The statements that write these counts as flush `id` at `now_ms`, in one
    /// transaction: the mark first (see [`sql::MARK_FLUSH`]), the counts before the visitors
    /// they are checked against.
    pub fn statements(&self, id: &str, now_ms: u64) -> Vec<Statement> {
        let mut sorted: Vec<(u64, Dim, &str, &Row)> =
            self.rows.iter().flat_map(|(&(day, dim), values)| values.iter().map(move |(value, row)| (day, dim, value.as_str(), row))).collect();
        sorted.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        // Written out directly: a flush can list tens of thousands of visitors. The rows are
        // cut into chunks under D1's limit on a bound value; a row whose visitors do not fit
        // goes on in the next chunk with 0 page views and the rest of its visitors.
        let mut chunks = Vec::new();
        let mut rows = String::with_capacity(64 + (self.entries * 20).min(sql::MAX_PARAM_BYTES));
        rows.push('[');
        let close = |rows: &mut String, chunks: &mut Vec<String>| {
            rows.push(']');
            chunks.push(std::mem::replace(rows, String::from("[")));
        };
        for (day, dim, value, row) in &sorted {
            let text = |v: &str| Value::from(v).to_string();
            let (value, seen_key) = (text(value), text(&dim.seen_key(value)));
            let head = |pageviews: u64| format!("[{day},\"{}\",{value},{pageviews},{seen_key},[", dim.code());
            let first = head(row.pageviews);
            if rows.len() > 1 && rows.len() + 1 + first.len() + ROW_ROOM > sql::MAX_PARAM_BYTES {
                close(&mut rows, &mut chunks);
            }
            if rows.len() > 1 {
                rows.push(',');
            }
            rows.push_str(&first);
            let mut visitors: Vec<u64> = row.visitors.iter().copied().collect();
            visitors.sort_unstable();
            let mut first_visitor = true;
            for &visitor in &visitors {
                if rows.len() + ROW_ROOM > sql::MAX_PARAM_BYTES {
                    rows.push_str("]]");
                    close(&mut rows, &mut chunks);
                    rows.push_str(&head(0));
                    first_visitor = true;
                }
                if !first_visitor {
                    rows.push(',');
                }
                push_u64(&mut rows, visitor);
                first_visitor = false;
            }
            rows.push_str("]]");
        }
        if rows.len() > 1 || chunks.is_empty() {
            close(&mut rows, &mut chunks);
        }
        // `[visitor, at]` pairs, written straight into chunks (no string per visitor).
        let mut live = Vec::new();
        let mut pairs = String::with_capacity(2 + (self.live.len() * 34).min(sql::MAX_PARAM_BYTES));
        pairs.push('[');
        for (&visitor, &at) in &self.live {
            if pairs.len() > 1 && pairs.len() + ROW_ROOM * 2 > sql::MAX_PARAM_BYTES {
                close(&mut pairs, &mut live);
            }
            pairs.push_str(if pairs.len() > 1 { ",[" } else { "[" });
            push_u64(&mut pairs, visitor);
            pairs.push(',');
            push_u64(&mut pairs, at);
            pairs.push(']');
        }
        close(&mut pairs, &mut live);
        // Every chunk's counts before any chunk's visitors are remembered: each row is counted
        // against the visitors seen before this flush, as if the rows were one statement.
        let mut statements = vec![Statement::new(sql::MARK_FLUSH, vec![json!(id), json!(now_ms)])];
        statements.extend(chunks.iter().map(|c| Statement::new(sql::ADD_COUNTS, vec![Value::String(c.clone())])));
        statements.extend(chunks.into_iter().map(|c| Statement::new(sql::ADD_SEEN, vec![Value::String(c)])));
        // Each visitor's source of the day, held on their site mark by the first flush that
        // marks them; the visitors per source counted as it is set.
        let sources = self.first_views.iter().map(|(visitor, (day, _, landing))| {
            let (source, medium, campaign) = source_of_day(landing.as_ref());
            json!([day, visitor, source, medium, campaign]).to_string()
        });
        for chunk in sql::chunked_rows(sources) {
            statements.push(Statement::new(sql::COUNT_SOURCES, vec![Value::String(chunk.clone())]));
            statements.push(Statement::new(sql::SET_SOURCES, vec![Value::String(chunk)]));
        }
        statements.extend(live.into_iter().map(|c| Statement::new(sql::TOUCH_LIVE, vec![Value::String(c)])));
        statements.push(Statement::new(sql::FORGET_LIVE, vec![json!(now_ms.saturating_sub(LIVE_KEEP_MS))]));
        statements
    }
}

/// The source, medium and campaign of the day of a visitor whose first page view had
/// `landing`: `(internal)` when it followed a link within the shop.
pub fn source_of_day(landing: Option<&Acquisition>) -> (&str, &str, &str) {
    match landing {
        None => (INTERNAL, "", ""),
        Some(a) => (a.source.as_deref().unwrap_or(DIRECT), a.medium.as_deref().unwrap_or(""), a.campaign.as_deref().unwrap_or("")),
    }
}

/// Bytes kept free in a chunk for one more visitor (20 digits and a comma) and the closing
/// `]]]` of a row and the chunk.
const ROW_ROOM: usize = 32;

/// Appends `n` in decimal. A flush writes a number per (row, visitor), and `write!`'s
/// formatter costs several times this in wasm.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::device::Device;
    use crate::analytics::source::Acquisition;

    fn dims<'a>(path: &'a str, source: Option<&str>) -> Dimensions<'a> {
        Dimensions {
            path,
            landing: source.map(|s| Acquisition { source: Some(s.into()), medium: None, campaign: Some("xmas".into()) }),
            country: "IT".into(),
            device: Device::Mobile,
        }
    }

    fn rows_of(agg: &Aggregate) -> Vec<Value> {
        let s = agg.statements("f", 0);
        serde_json::from_str(s[1].params[0].as_str().unwrap()).unwrap()
    }

    /// Every `[day, dim, value, pageviews, key, [visitors]]` of a flush's ADD_COUNTS chunks,
    /// with the chunks' sizes, after checking ADD_SEEN binds the same chunks after them all.
    fn chunked_rows_of(statements: &[Statement]) -> (Vec<Value>, Vec<usize>) {
        let texts = |sql: &str| statements.iter().filter(|s| s.sql == sql).map(|s| s.params[0].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let (counts, seen) = (texts(sql::ADD_COUNTS), texts(sql::ADD_SEEN));
        assert_eq!(counts, seen, "ADD_SEEN binds the same chunks");
        let last_count = statements.iter().rposition(|s| s.sql == sql::ADD_COUNTS).unwrap();
        let first_seen = statements.iter().position(|s| s.sql == sql::ADD_SEEN).unwrap();
        assert!(last_count < first_seen, "every count before any visitor is remembered");
        let rows = counts.iter().flat_map(|c| serde_json::from_str::<Vec<Value>>(c).unwrap()).collect();
        (rows, counts.iter().map(String::len).collect())
    }

    #[test]
    fn a_flush_of_thousands_of_long_urls_stays_under_d1s_limit_per_value() {
        let mut agg = Aggregate::default();
        let paths: Vec<String> = (0..4_000).map(|i| format!("/scan/{i}/{}", "x".repeat(480))).collect();
        for (i, path) in paths.iter().enumerate() {
            agg.add(20_000, 3, i as u64 + 1, 1, &dims(path, None));
        }
        let statements = agg.statements("f", 0);
        let (rows, sizes) = chunked_rows_of(&statements);
        assert!(sizes.len() >= 2 && sizes.iter().all(|n| *n <= sql::MAX_PARAM_BYTES), "{sizes:?}");
        let pages: Vec<&Value> = rows.iter().filter(|r| r[1] == "page").collect();
        assert_eq!(pages.len(), 4_000, "every page, once");
        assert_eq!(pages.iter().map(|r| r[3].as_u64().unwrap()).sum::<u64>(), 4_000);
        assert_eq!(statements[0].sql, sql::MARK_FLUSH, "one flush mark for every chunk");
        assert_eq!(statements.iter().filter(|s| s.sql == sql::MARK_FLUSH).count(), 1);
    }

    #[test]
    fn a_row_whose_visitors_pass_the_limit_goes_on_in_the_next_chunk() {
        let mut agg = Aggregate::default();
        // 60,000 visitors of one page: ~1.2 MB of ids in its row.
        for v in 0..60_000u64 {
            agg.add(20_000, 3, u64::MAX - v, 1, &dims("/", None));
        }
        let (rows, sizes) = chunked_rows_of(&agg.statements("f", 0));
        assert!(sizes.iter().all(|n| *n <= sql::MAX_PARAM_BYTES), "{sizes:?}");
        let page: Vec<&Value> = rows.iter().filter(|r| r[1] == "page").collect();
        assert!(page.len() >= 2, "split");
        assert_eq!(page.iter().map(|r| r[3].as_u64().unwrap()).sum::<u64>(), 60_000, "page views once");
        let visitors: std::collections::HashSet<u64> = page.iter().flat_map(|r| r[5].as_array().unwrap().iter().map(|v| v.as_u64().unwrap())).collect();
        assert_eq!(visitors.len(), 60_000, "each visitor in one part");
        assert_eq!(page.iter().map(|r| r[5].as_array().unwrap().len()).sum::<usize>(), 60_000);
    }

    #[test]
    fn counts_page_views_and_distinct_visitors_per_row() {
        let mut agg = Aggregate::default();
        agg.add(20_000, 9, 1, 100, &dims("/a", Some("google.com")));
        agg.add(20_000, 9, 1, 200, &dims("/b", None));
        agg.add(20_000, 10, 2, 300, &dims("/a", None));
        assert_eq!(agg.page_views(), 3);
        let rows = rows_of(&agg);
        let find = |dim: &str, value: &str| rows.iter().find(|r| r[1] == dim && r[2] == value).cloned().unwrap();
        assert_eq!(find("total", ""), json!([20000, "total", "", 3, "", [1, 2]]));
        assert_eq!(find("page", "/a"), json!([20000, "page", "/a", 2, "/a", [1, 2]]));
        assert_eq!(find("page", "/b"), json!([20000, "page", "/b", 1, "/b", [1]]));
        assert_eq!(find("hour", "09"), json!([20000, "hour", "09", 2, "h:09", [1]]));
        assert_eq!(find("source", "google.com"), json!([20000, "source", "google.com", 1, "s:google.com", [1]]));
        assert_eq!(find("campaign", "xmas"), json!([20000, "campaign", "xmas", 1, "c:xmas", [1]]));
        assert_eq!(find("country", "IT"), json!([20000, "country", "IT", 3, "", [1, 2]]));
        assert_eq!(find("device", "mobile"), json!([20000, "device", "mobile", 3, "", [1, 2]]));
        assert!(!rows.iter().any(|r| r[1] == "medium"), "no utm_medium, no row");
    }

    #[test]
    fn statements_mark_first_and_live_last_seen() {
        let mut agg = Aggregate::default();
        agg.add(1, 0, 7, 500, &dims("/", None));
        agg.add(1, 0, 7, 400, &dims("/", None));
        let s = agg.statements("flush-1", 1_000_000);
        assert_eq!(s[0].sql, sql::MARK_FLUSH);
        assert_eq!(s[0].params, vec![json!("flush-1"), json!(1_000_000)]);
        let of = |sql: &str| s.iter().find(|st| st.sql == sql).unwrap().params[0].clone();
        assert_eq!(of(sql::TOUCH_LIVE), json!("[[7,500]]"));
        assert_eq!(of(sql::FORGET_LIVE), json!(1_000_000 - LIVE_KEEP_MS));
        assert_eq!(of(sql::COUNT_SOURCES), json!("[[1,7,\"(internal)\",\"\",\"\"]]"), "a visitor's source of the day");
        let sqls: Vec<&str> = s.iter().map(|st| st.sql).collect();
        let at = |sql: &str| sqls.iter().position(|x| *x == sql).unwrap();
        assert!(at(sql::ADD_SEEN) < at(sql::COUNT_SOURCES) && at(sql::COUNT_SOURCES) < at(sql::SET_SOURCES), "{sqls:?}");
    }

    #[test]
    fn a_visitors_source_of_the_day_is_their_earliest_page_view_in_the_flush() {
        let mut agg = Aggregate::default();
        agg.add(1, 0, 7, 900, &dims("/b", None));
        agg.add(1, 0, 7, 100, &dims("/a", Some("google.com")));
        let mut internal = dims("/c", None);
        internal.landing = None;
        agg.add(1, 0, 8, 50, &internal);
        let s = agg.statements("f", 0);
        let rows: Vec<Value> = serde_json::from_str(s.iter().find(|st| st.sql == sql::SET_SOURCES).unwrap().params[0].as_str().unwrap()).unwrap();
        let of = |visitor: u64| rows.iter().find(|r| r[1] == visitor).cloned().unwrap();
        assert_eq!((rows.len(), of(7), of(8)), (2, json!([1, 7, "google.com", "", "xmas"]), json!([1, 8, "(internal)", "", ""])));
    }

    #[test]
    fn numbers_in_decimal() {
        for n in [0, 7, 10, 99, 1_764_547_199_999, (1 << 53) - 1, u64::MAX] {
            let mut s = String::from("x");
            push_u64(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn entries_grow_with_rows_and_visitors() {
        let mut agg = Aggregate::default();
        agg.add(1, 0, 7, 0, &dims("/", None));
        let one = agg.entries();
        assert_eq!(one, 2 * 5 + 1, "five rows, one visitor each, and the visitor's first view");
        agg.add(1, 0, 7, 0, &dims("/", None));
        assert_eq!(agg.entries(), one, "the same visitor and rows again");
        agg.add(1, 0, 8, 0, &dims("/", None));
        assert_eq!(agg.entries(), one + 6);
    }
}
