//! Reading the counts: the range and limit a stats request asks for, the D1 reads it takes,
//! and the report (JSON, dashboard) or CSV built from their rows.

use super::csv;
use super::values::num;
use super::sql::{self, Statement};
use super::calendar::{date_of, parse_date};
use crate::proxy::percent;
use serde_json::{json, Map, Value};
use std::fmt;

/// Longest range served, in days.
pub const MAX_RANGE_DAYS: u64 = 400;
/// Rows of each top list by default.
pub const DEFAULT_LIMIT: u32 = 10;
/// Most rows of a top list.
pub const MAX_LIMIT: u32 = 1000;
/// Days of the default range (the last 7 days, today included).
pub const DEFAULT_RANGE_DAYS: u64 = 7;
/// The header of the CSV export.
pub const CSV_HEADER: &str = "date,path,pageviews,visitors";

/// The top lists: dimension stored, key in the report, name of each item's label.
const LISTS: [(&str, &str, &str); 6] = [
    ("page", "pages", "path"),
    ("source", "referrers", "source"),
    ("country", "countries", "country"),
    ("device", "devices", "device"),
    ("campaign", "campaigns", "campaign"),
    ("medium", "mediums", "medium"),
];

/// What a stats request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsQuery {
    /// First UTC day, included.
    pub from: u64,
    /// Last UTC day, included.
    pub to: u64,
    /// Rows per top list.
    pub limit: u32,
}

/// A stats request's parameters are unusable; the message is the 400's one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// `from` or `to` is not a date.
    BadDate(&'static str),
    /// `from` is after `to`.
    Reversed,
    /// More than [`MAX_RANGE_DAYS`].
    TooLong(u64),
    /// `limit` is not 1..=[`MAX_LIMIT`].
    BadLimit,
    /// `range` is not a known name.
    BadRange,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadDate(p) => write!(f, "{p} must be a date written YYYY-MM-DD"),
            QueryError::Reversed => f.write_str("from must not be after to"),
            QueryError::TooLong(days) => write!(f, "the range is {days} days; at most {MAX_RANGE_DAYS} are served"),
            QueryError::BadLimit => write!(f, "limit must be a whole number from 1 to {MAX_LIMIT}"),
            QueryError::BadRange => f.write_str("range must be today, 7d or 30d (or give from and to)"),
        }
    }
}

impl std::error::Error for QueryError {}

/// Parses `from`, `to` (`YYYY-MM-DD`, UTC), `range` (`today`, `7d`, `30d`) and `limit` from a
/// URL query. Defaults: the last [`DEFAULT_RANGE_DAYS`] days up to `today`, top 10.
pub fn parse_query(query: &str, today: u64) -> Result<StatsQuery, QueryError> {
    let mut from = None;
    let mut to = None;
    let mut range = None;
    let mut limit = DEFAULT_LIMIT;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent::decode(v, true);
        let v = v.trim();
        match k {
            "from" if !v.is_empty() => from = Some(parse_date(v).ok_or(QueryError::BadDate("from"))?),
            "to" if !v.is_empty() => to = Some(parse_date(v).ok_or(QueryError::BadDate("to"))?),
            "range" if !v.is_empty() => range = Some(v.to_string()),
            "limit" => limit = v.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or(QueryError::BadLimit)?,
            _ => {}
        }
    }
    let (from, to) = match (from, to, range.as_deref()) {
        (None, None, Some("today")) => (today, today),
        (None, None, Some("7d")) => (today + 1 - DEFAULT_RANGE_DAYS, today),
        (None, None, Some("30d")) => (today - 29, today),
        (None, None, Some("custom") | None) => (today + 1 - DEFAULT_RANGE_DAYS, today),
        (None, None, Some(_)) => return Err(QueryError::BadRange),
        (from, to, _) => {
            let to = to.unwrap_or(today);
            (from.unwrap_or_else(|| (to + 1).saturating_sub(DEFAULT_RANGE_DAYS)), to)
        }
    };
    if from > to {
        return Err(QueryError::Reversed);
    }
    let days = to - from + 1;
    if days > MAX_RANGE_DAYS {
        return Err(QueryError::TooLong(days));
    }
    Ok(StatsQuery { from, to, limit })
}


/// The reads of a report, in the order [`report`] expects their rows. `now_ms` sets "now".
pub fn report_statements(q: &StatsQuery, now_ms: u64) -> Vec<Statement> {
    let mut out = vec![Statement::new(sql::READ_DAYS, vec![json!(q.from), json!(q.to)])];
    for (dim, _, _) in LISTS {
        out.push(Statement::new(sql::READ_TOP, vec![json!(q.from), json!(q.to), json!(dim), json!(q.limit)]));
    }
    out.push(Statement::new(sql::READ_HOURS, vec![json!(q.to)]));
    out.push(Statement::new(sql::READ_LIVE, vec![json!(now_ms.saturating_sub(super::aggregate::LIVE_MS))]));
    let before = super::conversion_report::previous(q);
    out.push(Statement::new(sql::READ_TOTALS, vec![json!(before.from), json!(before.to)]));
    out
}

/// Views per visit, to two decimals.
fn per_visit(pageviews: u64, visitors: u64) -> f64 {
    if visitors == 0 { 0.0 } else { (pageviews as f64 / visitors as f64 * 100.0).round() / 100.0 }
}

fn counts(label: &str, value: Value, row: &Value) -> Value {
    let mut item = Map::new();
    item.insert(label.into(), value);
    item.insert("pageviews".into(), json!(num(row, "pageviews")));
    item.insert("visitors".into(), json!(num(row, "visitors")));
    Value::Object(item)
}

/// The report of `q` from the rows of [`report_statements`]: the documented JSON shape
/// (`from`, `to`, `pageviews`, `visitors`, `days`, `pages`, `referrers`, `countries`,
/// `devices`), plus `views_per_visit`, `campaigns`, `mediums`, `hours` (of `to`), `now`, and
/// `previous`: the totals of the period of equal length just before.
/// Every day of the range is listed, with zeros where nothing was counted.
pub fn report(q: &StatsQuery, results: &[Vec<Value>]) -> Value {
    let empty = Vec::new();
    let rows = |i: usize| results.get(i).unwrap_or(&empty);
    let mut days = Vec::new();
    let (mut pageviews, mut visitors) = (0, 0);
    let by_day: std::collections::HashMap<u64, &Value> = rows(0).iter().map(|r| (num(r, "day"), r)).collect();
    for day in q.from..=q.to {
        let row = by_day.get(&day).copied().unwrap_or(&Value::Null);
        pageviews += num(row, "pageviews");
        visitors += num(row, "visitors");
        days.push(counts("date", json!(date_of(day)), row));
    }
    let mut out = Map::new();
    out.insert("from".into(), json!(date_of(q.from)));
    out.insert("to".into(), json!(date_of(q.to)));
    out.insert("pageviews".into(), json!(pageviews));
    out.insert("visitors".into(), json!(visitors));
    out.insert("views_per_visit".into(), json!(per_visit(pageviews, visitors)));
    out.insert("days".into(), Value::Array(days));
    for (i, (_, key, label)) in LISTS.iter().enumerate() {
        let items = rows(i + 1).iter().map(|r| counts(label, r.get("value").cloned().unwrap_or(Value::Null), r)).collect();
        out.insert((*key).into(), Value::Array(items));
    }
    let hours = rows(LISTS.len() + 1).iter().map(|r| counts("hour", json!(r.get("hour").and_then(Value::as_str).and_then(|h| h.parse::<u8>().ok()).unwrap_or(0)), r)).collect();
    out.insert("hours".into(), Value::Array(hours));
    out.insert("now".into(), json!(rows(LISTS.len() + 2).first().map_or(0, |r| num(r, "visitors"))));
    let before = super::conversion_report::previous(q);
    let totals = rows(LISTS.len() + 3).first().cloned().unwrap_or(Value::Null);
    let (pv, vis) = (num(&totals, "pageviews"), num(&totals, "visitors"));
    out.insert(
        "previous".into(),
        json!({"from": date_of(before.from), "to": date_of(before.to), "pageviews": pv, "visitors": vis, "views_per_visit": per_visit(pv, vis)}),
    );
    Value::Object(out)
}

/// The read of the CSV export.
pub fn export_statements(q: &StatsQuery) -> Vec<Statement> {
    vec![Statement::new(sql::READ_PAGES_BY_DAY, vec![json!(q.from), json!(q.to)])]
}

/// The CSV export: [`CSV_HEADER`], then one record per day and page (RFC 4180, CRLF).
pub fn export_csv(results: &[Vec<Value>]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for row in results.first().map_or(&[][..], Vec::as_slice) {
        let date = date_of(num(row, "day"));
        let path = row.get("path").and_then(Value::as_str).unwrap_or("");
        out.push_str(&csv::record(&[&date, path, &num(row, "pageviews").to_string(), &num(row, "visitors").to_string()]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: u64 = 20_423; // 2025-12-01

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2025-12-01"), Some(TODAY));
        assert_eq!(date_of(TODAY), "2025-12-01");
        for bad in ["2025-13-01", "2025-02-30", "2025-1-01", "yesterday", "2025-12-01x", "1969-12-31"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_and_errors() {
        let q = |s: &str| parse_query(s, TODAY);
        assert_eq!(q(""), Ok(StatsQuery { from: TODAY - 6, to: TODAY, limit: 10 }));
        assert_eq!(q("range=today"), Ok(StatsQuery { from: TODAY, to: TODAY, limit: 10 }));
        assert_eq!(q("range=30d&limit=3").map(|r| (r.from, r.limit)), Ok((TODAY - 29, 3)));
        assert_eq!(q("from=2025-11-01&to=2025-11-30").map(|r| (date_of(r.from), date_of(r.to))), Ok(("2025-11-01".into(), "2025-11-30".into())));
        assert_eq!(q("from=2025-11-30&to=2025-11-01"), Err(QueryError::Reversed));
        assert_eq!(q("from=2024-01-01&to=2025-12-01"), Err(QueryError::TooLong(701)));
        assert!(q("from=2024-10-28&to=2025-12-01").is_ok(), "400 days exactly");
        assert_eq!(q("from=nope"), Err(QueryError::BadDate("from")));
        assert_eq!(q("limit=0"), Err(QueryError::BadLimit));
        assert_eq!(q("range=year"), Err(QueryError::BadRange));
        assert_eq!(q("from=2025-11-01&range=custom&to=2025-11-02").map(|r| r.to - r.from), Ok(1));
        assert!(!QueryError::TooLong(9).to_string().contains('\n'));
    }

    #[test]
    fn report_fills_every_day_and_sums_visitors_per_day() {
        let q = StatsQuery { from: TODAY - 2, to: TODAY, limit: 10 };
        let results = vec![
            vec![json!({"day": TODAY - 2, "pageviews": 5, "visitors": 2}), json!({"day": TODAY, "pageviews": 3, "visitors": 2})],
            vec![json!({"value": "/a,b", "pageviews": 6, "visitors": 3})],
            vec![json!({"value": "google.com", "pageviews": 1, "visitors": 1})],
            vec![json!({"value": "IT", "pageviews": 8, "visitors": 4})],
            vec![json!({"value": "mobile", "pageviews": 8, "visitors": 4})],
            vec![],
            vec![],
            vec![json!({"hour": "09", "pageviews": 3, "visitors": 2})],
            vec![json!({"visitors": 1})],
            vec![json!({"pageviews": 4, "visitors": 4})],
        ];
        let r = report(&q, &results);
        assert_eq!(r["from"], "2025-11-29");
        assert_eq!((r["pageviews"].as_u64(), r["visitors"].as_u64()), (Some(8), Some(4)), "a visitor counts once per day, summed over days");
        assert_eq!(r["views_per_visit"], 2.0);
        assert_eq!(r["days"].as_array().unwrap().len(), 3);
        assert_eq!(r["days"][1], json!({"date": "2025-11-30", "pageviews": 0, "visitors": 0}));
        assert_eq!(r["pages"][0], json!({"path": "/a,b", "pageviews": 6, "visitors": 3}));
        assert_eq!(r["referrers"][0]["source"], "google.com");
        assert_eq!(r["countries"][0]["country"], "IT");
        assert_eq!(r["devices"][0]["device"], "mobile");
        assert_eq!(r["hours"][0], json!({"hour": 9, "pageviews": 3, "visitors": 2}));
        assert_eq!(r["now"], 1);
        assert_eq!(r["previous"], json!({"from": "2025-11-26", "to": "2025-11-28", "pageviews": 4, "visitors": 4, "views_per_visit": 1.0}));
        assert_eq!(report_statements(&q, 0).len(), results.len());
    }

    #[test]
    fn csv_quotes_paths() {
        let csv = export_csv(&[vec![json!({"day": TODAY, "path": "/a,\"b\"", "pageviews": 2, "visitors": 1})]]);
        assert_eq!(csv, "date,path,pageviews,visitors\r\n2025-12-01,\"/a,\"\"b\"\"\",2,1\r\n");
    }
}
