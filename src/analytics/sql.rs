//! Every SQL statement tagrelay runs on D1, against the schema in `migrations/`. Values are
//! always bound; a set of rows travels as one JSON parameter read with `json_each`, so one
//! statement writes any number of rows within D1's 100 bound parameters.

use serde::Serialize;
use serde_json::Value;

/// One statement and its parameters (`?1`, `?2`, ...), as the adapter hands them to D1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// SQL text.
    pub sql: &'static str,
    /// Bound values, in order.
    pub params: Vec<Value>,
}

impl Statement {
    /// `sql` with `params`.
    pub fn new(sql: &'static str, params: Vec<Value>) -> Statement {
        Statement { sql, params }
    }
}

/// Most bytes of one bound JSON text of rows: D1 refuses a value over 2,000,000 bytes, so a
/// set of rows larger than this is written by several statements of the same batch.
pub const MAX_PARAM_BYTES: usize = 1_000_000;

/// `rows` (each a JSON text) as JSON arrays of at most [`MAX_PARAM_BYTES`] bytes each (a
/// single row longer than that has one to itself), in order; none when there are no rows.
pub fn chunked_rows(rows: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut chunk = String::from("[");
    for row in rows {
        if chunk.len() > 1 && chunk.len() + 1 + row.len() + 1 > MAX_PARAM_BYTES {
            chunk.push(']');
            out.push(std::mem::replace(&mut chunk, String::from("[")));
        }
        if chunk.len() > 1 {
            chunk.push(',');
        }
        chunk.push_str(&row);
    }
    if chunk.len() > 1 {
        chunk.push(']');
        out.push(chunk);
    }
    out
}

/// One statement of `sql` per chunk of `rows` ([`chunked_rows`]), each bound to its chunk.
pub fn per_chunk(sql: &'static str, rows: impl IntoIterator<Item = String>) -> Vec<Statement> {
    chunked_rows(rows).into_iter().map(|chunk| Statement::new(sql, vec![Value::String(chunk)])).collect()
}

/// Text parameters this long or longer travel beside the statements' JSON, not inside it:
/// a flush's rows are hundreds of KB of JSON text, which inside JSON would be escaped, then
/// parsed back in the JS entry (every `"` twice), and the same rows are bound twice.
pub const SIDE_TEXT_MIN: usize = 1024;

/// `statements` as JSON for the JS entry, and the long texts beside it: each text parameter
/// of [`SIDE_TEXT_MIN`] bytes or more is written as `{"text": i}`, `i` its index among the
/// texts returned, and a text bound by several statements is returned once.
pub fn with_side_texts(statements: &[Statement]) -> (String, Vec<&str>) {
    let mut texts: Vec<&str> = Vec::new();
    let json: Vec<Value> = statements
        .iter()
        .map(|s| {
            let params: Vec<Value> = s
                .params
                .iter()
                .map(|p| match p {
                    Value::String(t) if t.len() >= SIDE_TEXT_MIN => {
                        let i = texts.iter().position(|known| *known == t.as_str()).unwrap_or_else(|| {
                            texts.push(t);
                            texts.len() - 1
                        });
                        serde_json::json!({ "text": i })
                    }
                    other => other.clone(),
                })
                .collect();
            serde_json::json!({ "sql": s.sql, "params": params })
        })
        .collect();
    (serde_json::to_string(&json).unwrap_or_default(), texts)
}

/// Marks a flush as written. Its primary key makes a retried flush that did reach D1 fail
/// as a whole (the batch is one transaction), so no count is added twice.
pub const MARK_FLUSH: &str = "INSERT INTO stats_flushes (id, at) VALUES (?1, ?2)";

/// The error D1 reports when [`MARK_FLUSH`] finds its id: that flush was written before.
pub const FLUSH_ALREADY_WRITTEN: &str = "UNIQUE constraint failed: stats_flushes.id";

/// Adds a flush's counts. `?1`: JSON rows `[day, dim, value, pageviews, seen_key,
/// [visitor, ...]]`. A visitor adds to `visitors` only when `stats_seen` does not hold it yet
/// under that day and key; [`ADD_SEEN`] runs after this, in the same transaction.
pub const ADD_COUNTS: &str = "INSERT INTO stats_daily (dim, day, value, pageviews, visitors) \
SELECT r.value->>1, r.value->>0, r.value->>2, r.value->>3, \
(SELECT COUNT(*) FROM json_each(r.value->5) v WHERE NOT EXISTS \
(SELECT 1 FROM stats_seen s WHERE s.day = r.value->>0 AND s.key = r.value->>4 AND s.visitor = v.value)) \
FROM json_each(?1) r WHERE true \
ON CONFLICT (dim, day, value) DO UPDATE SET pageviews = pageviews + excluded.pageviews, visitors = visitors + excluded.visitors";

/// Remembers the visitors of [`ADD_COUNTS`]'s rows (same `?1`).
pub const ADD_SEEN: &str = "INSERT OR IGNORE INTO stats_seen (day, key, visitor) \
SELECT r.value->>0, r.value->>4, v.value FROM json_each(?1) r, json_each(r.value->5) v";

/// Notes when each visitor was last seen, for "visitors now". `?1`: JSON `[[visitor, at_ms],
/// ...]`. A visitor's row is rewritten at most once a minute, to spare D1 writes.
pub const TOUCH_LIVE: &str = "INSERT INTO stats_live (visitor, at) \
SELECT v.value->>0, v.value->>1 FROM json_each(?1) v WHERE true \
ON CONFLICT (visitor) DO UPDATE SET at = excluded.at WHERE excluded.at >= stats_live.at + 60000";

/// Forgets visitors not seen since `?1` (ms).
pub const FORGET_LIVE: &str = "DELETE FROM stats_live WHERE at < ?1";

/// Adds an isolate's delivery outcomes (`crate::analytics::delivery_counts`). `?1`: JSON rows
/// `[day, destination, event, outcome, detail, events, last_at, last_reason]`; the newest
/// reason of a row is kept.
pub const ADD_DELIVERY: &str = "INSERT INTO stats_delivery (day, destination, event, outcome, detail, events, last_at, last_reason) \
SELECT r.value->>0, r.value->>1, r.value->>2, r.value->>3, r.value->>4, r.value->>5, r.value->>6, r.value->>7 FROM json_each(?1) r WHERE true \
ON CONFLICT (day, destination, event, outcome, detail) DO UPDATE SET events = events + excluded.events, \
last_reason = CASE WHEN excluded.last_at >= coalesce(last_at, 0) THEN excluded.last_reason ELSE last_reason END, \
last_at = CASE WHEN excluded.last_at >= coalesce(last_at, 0) THEN excluded.last_at ELSE last_at END";

/// Adds an isolate's match-key counts (`crate::analytics::match_counts`). `?1`: JSON rows
/// `[day, destination, event, key, events]` (key `''`: the events built).
pub const ADD_MATCH: &str = "INSERT INTO stats_match (day, destination, event, key, events) \
SELECT r.value->>0, r.value->>1, r.value->>2, r.value->>3, r.value->>4 FROM json_each(?1) r WHERE true \
ON CONFLICT (day, destination, event, key) DO UPDATE SET events = events + excluded.events";

/// The source of the day a visitor with no site mark, or a mark with no source, is counted
/// under: their first page view of the day was not counted.
pub const UNKNOWN_SOURCE: &str = "(unknown)";

/// Counts the visitors whose source of the day this flush sets, per source (event `''` rows
/// of `stats_conversions`: what a source's conversion rate divides by). `?1`: JSON rows
/// `[day, visitor, source, medium, campaign]`, the first page view of each visitor in the
/// flush; runs after [`ADD_SEEN`] and before [`SET_SOURCES`].
pub const COUNT_SOURCES: &str = "INSERT INTO stats_conversions (day, event, source, medium, campaign, currency, events, visitors, revenue) \
SELECT r.value->>0, '', r.value->>2, r.value->>3, r.value->>4, '', 0, COUNT(*), 0 FROM json_each(?1) r \
WHERE EXISTS (SELECT 1 FROM stats_seen s WHERE s.day = r.value->>0 AND s.key = '' AND s.visitor = r.value->>1 AND s.source IS NULL) \
GROUP BY 1, 3, 4, 5 \
ON CONFLICT (day, event, source, medium, campaign, currency) DO UPDATE SET visitors = visitors + excluded.visitors";

/// Holds each visitor's source of the day on their site mark, once: the first flush that
/// marks a visitor sets it (same `?1` as [`COUNT_SOURCES`]).
pub const SET_SOURCES: &str = "UPDATE stats_seen SET source = r.value->>2, medium = r.value->>3, campaign = r.value->>4 \
FROM json_each(?1) r WHERE stats_seen.day = r.value->>0 AND stats_seen.key = '' AND stats_seen.visitor = r.value->>1 AND stats_seen.source IS NULL";

/// Adds a flush's events (`crate::analytics::conversion_counts`), per day, event name and the
/// visitor's source of the day (currency `''`: every event, and the visitors). `?1`: JSON rows
/// `[day, visitor, event, id, currency, amount]`. An event whose id is already marked for
/// that visitor and day (`o:`) is not counted again; a visitor adds to `visitors` only when
/// not yet marked for that event name (`v:`). [`ADD_EVENT_SEEN`] runs after it.
pub const ADD_CONVERSIONS: &str = "INSERT INTO stats_conversions (day, event, source, medium, campaign, currency, events, visitors, revenue) \
SELECT e.day, e.event, coalesce(s.source, '(unknown)'), coalesce(s.medium, ''), coalesce(s.campaign, ''), '', COUNT(*), \
COUNT(DISTINCT CASE WHEN NOT EXISTS (SELECT 1 FROM stats_seen v WHERE v.day = e.day AND v.key = 'v:' || e.event AND v.visitor = e.visitor) THEN e.visitor END), 0 \
FROM (SELECT r.value->>0 AS day, r.value->>1 AS visitor, r.value->>2 AS event, r.value->>3 AS id FROM json_each(?1) r) e \
LEFT JOIN stats_seen s ON s.day = e.day AND s.key = '' AND s.visitor = e.visitor \
WHERE e.id IS NULL OR NOT EXISTS (SELECT 1 FROM stats_seen o WHERE o.day = e.day AND o.key = 'o:' || e.id AND o.visitor = e.visitor) \
GROUP BY 1, 2, 3, 4, 5 \
ON CONFLICT (day, event, source, medium, campaign, currency) DO UPDATE SET events = events + excluded.events, visitors = visitors + excluded.visitors";

/// Adds the revenue of a flush's events, per currency (same `?1` and rules as
/// [`ADD_CONVERSIONS`]): `events` counts those with that currency, `revenue` sums their
/// amounts in thousandths.
pub const ADD_REVENUE: &str = "INSERT INTO stats_conversions (day, event, source, medium, campaign, currency, events, visitors, revenue) \
SELECT e.day, e.event, coalesce(s.source, '(unknown)'), coalesce(s.medium, ''), coalesce(s.campaign, ''), e.currency, COUNT(*), 0, SUM(e.amount) \
FROM (SELECT r.value->>0 AS day, r.value->>1 AS visitor, r.value->>2 AS event, r.value->>3 AS id, r.value->>4 AS currency, r.value->>5 AS amount \
FROM json_each(?1) r WHERE r.value->>4 != '') e \
LEFT JOIN stats_seen s ON s.day = e.day AND s.key = '' AND s.visitor = e.visitor \
WHERE e.id IS NULL OR NOT EXISTS (SELECT 1 FROM stats_seen o WHERE o.day = e.day AND o.key = 'o:' || e.id AND o.visitor = e.visitor) \
GROUP BY 1, 2, 3, 4, 5, 6 \
ON CONFLICT (day, event, source, medium, campaign, currency) DO UPDATE SET events = events + excluded.events, revenue = revenue + excluded.revenue";

/// Marks the visitors of a flush's events per event name (`v:`) and their repeatable ids
/// (`o:`), after [`ADD_CONVERSIONS`] and [`ADD_REVENUE`] (same `?1`).
pub const ADD_EVENT_SEEN: &str = "INSERT OR IGNORE INTO stats_seen (day, key, visitor) \
SELECT r.value->>0, 'v:' || (r.value->>2), r.value->>1 FROM json_each(?1) r \
UNION ALL SELECT r.value->>0, 'o:' || (r.value->>3), r.value->>1 FROM json_each(?1) r WHERE r.value->>3 IS NOT NULL";

/// Retention: conversion counts before day `?1`.
pub const EXPIRE_CONVERSIONS: &str = "DELETE FROM stats_conversions WHERE day < ?1";

/// Retention: match-key counts before day `?1`.
pub const EXPIRE_MATCH: &str = "DELETE FROM stats_match WHERE day < ?1";

/// The match-key counts of days `?1`..=`?2`, per destination, event and key.
pub const READ_MATCH: &str = "SELECT destination, event, key, SUM(events) AS events FROM stats_match \
WHERE day BETWEEN ?1 AND ?2 GROUP BY destination, event, key";

/// Makes the salts of the days in `?1` (JSON array) if they do not exist yet: random, made
/// by D1 so that every isolate gets the same one.
pub const MAKE_SALTS: &str = "INSERT OR IGNORE INTO stats_salts (day, salt) SELECT value, randomblob(32) FROM json_each(?1)";

/// Reads the salts of the days in `?1`, as hex.
pub const READ_SALTS: &str = "SELECT day, hex(salt) AS salt FROM stats_salts WHERE day IN (SELECT value FROM json_each(?1))";

/// Retention: daily rows before day `?1`.
pub const EXPIRE_DAILY: &str = "DELETE FROM stats_daily WHERE day < ?1";
/// Retention: delivery counts before day `?1`.
pub const EXPIRE_DELIVERY: &str = "DELETE FROM stats_delivery WHERE day < ?1";
/// Retention: hourly rows before day `?1`.
pub const EXPIRE_HOURS: &str = "DELETE FROM stats_daily WHERE dim = 'hour' AND day < ?1";
/// Retention: visitor hashes before day `?1`.
pub const EXPIRE_SEEN: &str = "DELETE FROM stats_seen WHERE day < ?1";
/// Retention: salts before day `?1`.
pub const EXPIRE_SALTS: &str = "DELETE FROM stats_salts WHERE day < ?1";
/// Retention: flush marks older than `?1` (ms).
pub const EXPIRE_FLUSHES: &str = "DELETE FROM stats_flushes WHERE at < ?1";

/// Read: `(day, pageviews, visitors)` of the site per day in `[?1, ?2]`.
pub const READ_DAYS: &str = "SELECT day, pageviews, visitors FROM stats_daily WHERE dim = 'total' AND day BETWEEN ?1 AND ?2 ORDER BY day";
/// Read: the top `?4` values of dimension `?3` in `[?1, ?2]`, by page views.
pub const READ_TOP: &str = "SELECT value, SUM(pageviews) AS pageviews, SUM(visitors) AS visitors FROM stats_daily \
WHERE dim = ?3 AND day BETWEEN ?1 AND ?2 GROUP BY value ORDER BY pageviews DESC, value LIMIT ?4";
/// Read: `(hour, pageviews, visitors)` of day `?1`.
pub const READ_HOURS: &str = "SELECT value AS hour, pageviews, visitors FROM stats_daily WHERE dim = 'hour' AND day = ?1 ORDER BY value";
/// Read: visitors seen since `?1` (ms).
pub const READ_LIVE: &str = "SELECT COUNT(*) AS visitors FROM stats_live WHERE at >= ?1";
/// Read: `(day, path, pageviews, visitors)` per day and page in `[?1, ?2]`, for the CSV.
pub const READ_PAGES_BY_DAY: &str = "SELECT day, value AS path, pageviews, visitors FROM stats_daily \
WHERE dim = 'page' AND day BETWEEN ?1 AND ?2 ORDER BY day, pageviews DESC, value";

/// Read: the page views and visitors of `[?1, ?2]` (the previous period's totals).
pub const READ_TOTALS: &str = "SELECT COALESCE(SUM(pageviews), 0) AS pageviews, COALESCE(SUM(visitors), 0) AS visitors FROM stats_daily \
WHERE dim = 'total' AND day BETWEEN ?1 AND ?2";

/// Read: per event name and currency in `[?1, ?2]` (currency `''`: events and visitors; a
/// currency: events with a value in it and their revenue).
pub const READ_CONVERSION_EVENTS: &str = "SELECT event, currency, SUM(events) AS events, SUM(visitors) AS visitors, SUM(revenue) AS revenue \
FROM stats_conversions WHERE day BETWEEN ?1 AND ?2 AND event != '' GROUP BY event, currency ORDER BY event, currency";

/// Read: per source of the day, event name (`''`: the source's visitors) and currency in
/// `[?1, ?2]`, in that order, at most `?3` rows.
pub const READ_CONVERSION_SOURCES: &str = "SELECT source, medium, campaign, event, currency, SUM(events) AS events, SUM(visitors) AS visitors, \
SUM(revenue) AS revenue FROM stats_conversions WHERE day BETWEEN ?1 AND ?2 GROUP BY source, medium, campaign, event, currency \
ORDER BY source, medium, campaign, event, currency LIMIT ?3";

/// Read: per day, event name and currency in `[?1, ?2]`.
pub const READ_CONVERSION_DAYS: &str = "SELECT day, event, currency, SUM(events) AS events, SUM(revenue) AS revenue \
FROM stats_conversions WHERE day BETWEEN ?1 AND ?2 AND event != '' GROUP BY day, event, currency ORDER BY day, event, currency";

/// Read: every conversion row of `[?1, ?2]`, for the CSV.
pub const READ_CONVERSIONS_BY_DAY: &str = "SELECT day, event, source, medium, campaign, currency, events, visitors, revenue \
FROM stats_conversions WHERE day BETWEEN ?1 AND ?2 AND event != '' ORDER BY day, event, source, medium, campaign, currency";

/// Read: events per `(destination, day, outcome)` in `[?1, ?2]`, for the Delivery panel.
pub const READ_DELIVERY_DAYS: &str = "SELECT destination, day, outcome, SUM(events) AS events FROM stats_delivery \
WHERE day BETWEEN ?1 AND ?2 GROUP BY destination, day, outcome";
/// Read: events per `(destination, event, outcome, detail)` in `[?1, ?2]`.
pub const READ_DELIVERY_EVENTS: &str = "SELECT destination, event, outcome, detail, SUM(events) AS events FROM stats_delivery \
WHERE day BETWEEN ?1 AND ?2 GROUP BY destination, event, outcome, detail ORDER BY events DESC, event";
/// Read: each destination's latest failure in `[?1, ?2]` (SQLite takes the other columns
/// from the row with the greatest `last_at`).
pub const READ_DELIVERY_LAST_FAILURES: &str = "SELECT destination, event, outcome, MAX(last_at) AS last_at, last_reason FROM stats_delivery \
WHERE day BETWEEN ?1 AND ?2 AND last_at IS NOT NULL AND outcome IN ('failed', 'dead_lettered') GROUP BY destination";

/// Keeps dead letters. `?1`: JSON rows `[id, destination, queued_at, dead_at, page_views,
/// events, event_ids (JSON text), body]`; one kept already is kept once.
pub const KEEP_DEAD_LETTERS: &str = "INSERT OR IGNORE INTO delivery_dead_letters \
(id, destination, queued_at, dead_at, page_views, events, event_ids, body) \
SELECT r.value->>0, r.value->>1, r.value->>2, r.value->>3, r.value->>4, r.value->>5, r.value->>6, r.value->>7 FROM json_each(?1) r";
/// Read: dead letters of destination `?1` (`''`: all), newest first, `?2` at most; no bodies.
pub const LIST_DEAD_LETTERS: &str = "SELECT id, destination, queued_at, dead_at, page_views, events, event_ids FROM delivery_dead_letters \
WHERE ?1 = '' OR destination = ?1 ORDER BY dead_at DESC, id LIMIT ?2";
/// Read: dead letters kept per destination.
pub const COUNT_DEAD_LETTERS: &str = "SELECT destination, COUNT(*) AS messages, SUM(events) AS events FROM delivery_dead_letters \
GROUP BY destination ORDER BY destination";
/// Read: the ids and bodies of the oldest `?2` dead letters of destination `?1` (`''`: all).
pub const TAKE_DEAD_LETTERS: &str = "SELECT id, body FROM delivery_dead_letters WHERE ?1 = '' OR destination = ?1 ORDER BY dead_at, id LIMIT ?2";
/// Forgets the dead letters whose ids are in `?1` (JSON array): they are back on the queue.
pub const FORGET_DEAD_LETTERS: &str = "DELETE FROM delivery_dead_letters WHERE id IN (SELECT value FROM json_each(?1))";
/// Retention: dead letters that died before `?1` (ms).
pub const EXPIRE_DEAD_LETTERS: &str = "DELETE FROM delivery_dead_letters WHERE dead_at < ?1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_under_the_parameter_limit() {
        let row = format!("[\"{}\"]", "x".repeat(99_995));
        let chunks = chunked_rows((0..25).map(|_| row.clone()));
        assert!(chunks.len() >= 3, "{}", chunks.len());
        assert!(chunks.iter().all(|c| c.len() <= MAX_PARAM_BYTES));
        let back: Vec<Value> = chunks.iter().flat_map(|c| serde_json::from_str::<Vec<Value>>(c).unwrap()).collect();
        assert_eq!(back.len(), 25, "every row, once");
        assert!(chunked_rows(Vec::new()).is_empty());
        assert_eq!(chunked_rows(vec!["[1]".to_string(), "[2]".to_string()]), vec!["[[1],[2]]".to_string()]);
        assert_eq!(per_chunk(MARK_FLUSH, vec!["[1]".to_string()]).len(), 1);
    }
    use serde_json::json;

    #[test]
    fn long_texts_travel_beside_once() {
        let long = "[".to_string() + &"1,".repeat(SIDE_TEXT_MIN) + "1]";
        let statements = vec![
            Statement::new(MARK_FLUSH, vec![json!("id-1"), json!(5)]),
            Statement::new(ADD_COUNTS, vec![Value::String(long.clone())]),
            Statement::new(ADD_SEEN, vec![Value::String(long.clone())]),
            Statement::new(FORGET_LIVE, vec![json!("short text")]),
        ];
        let (head, texts) = with_side_texts(&statements);
        assert_eq!(texts, vec![long.as_str()]);
        let head: Value = serde_json::from_str(&head).unwrap();
        assert_eq!(head[0], json!({"sql": MARK_FLUSH, "params": ["id-1", 5]}));
        assert_eq!(head[1]["params"], json!([{"text": 0}]));
        assert_eq!(head[2]["params"], json!([{"text": 0}]));
        assert_eq!(head[3]["params"], json!(["short text"]));
    }
}
