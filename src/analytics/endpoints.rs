//! The stats endpoints under `STATS_PATH`: which one a request asks for (after the token
//! check), the D1 reads it needs, and the response made from their rows.
//! - `{STATS_PATH}/`: the dashboard;
//! - `{STATS_PATH}/api/stats?from=&to=&limit=`: the report as JSON;
//! - `{STATS_PATH}/export.csv?from=&to=`: one CSV row per day and page;
//! - `{STATS_PATH}/api/delivery?from=&to=`: what became of the events, per destination;
//! - `{STATS_PATH}/api/match?from=&to=`: the match keys the events carried, per destination;
//! - `{STATS_PATH}/api/conversions?from=&to=`: conversions and revenue, per event, source and day;
//! - `{STATS_PATH}/export-conversions.csv?from=&to=`: one CSV row per day, event, source and currency;
//! - `{STATS_PATH}/api/dead-letters?destination=&limit=`: the dead letters kept;
//! - `POST {STATS_PATH}/api/dead-letters/replay?destination=&limit=`: puts them back on the
//!   delivery queue.

use super::auth;
use super::dashboard;
use super::delivery_report;
use super::match_report;
use super::conversion_report;
use super::dead_letters::{self, Selection};
use super::report::{self, StatsQuery};
use super::sql::Statement;
use serde_json::Value;

/// A response of the stats endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: String,
}

impl StatsResponse {
    /// A short plain-text answer: one line, nothing else.
    pub fn plain(status: u16, line: &str) -> StatsResponse {
        StatsResponse { status, content_type: "text/plain; charset=utf-8", headers: Vec::new(), body: format!("{line}\n") }
    }

    /// A 200 with a JSON `body`.
    pub fn json(body: String) -> StatsResponse {
        StatsResponse { status: 200, content_type: "application/json; charset=utf-8", headers: Vec::new(), body }
    }
}

/// What a stats request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The dashboard; `range` as asked, to highlight it.
    Dashboard(StatsQuery, Option<String>),
    /// The JSON report.
    Api(StatsQuery),
    /// The CSV export.
    Csv(StatsQuery),
    /// The Delivery report as JSON.
    Delivery(StatsQuery),
    /// The Match quality report as JSON.
    Match(StatsQuery),
    /// The conversions report as JSON.
    Conversions(StatsQuery),
    /// The conversions CSV export.
    ConversionsCsv(StatsQuery),
    /// The dead letters kept, as JSON.
    DeadLetters(Selection),
    /// Replaying dead letters (the JS entry runs it: reads, queue sends, deletes).
    Replay(Selection),
}

impl Endpoint {
    /// The reads it needs, in order.
    pub fn statements(&self, now_ms: u64) -> Vec<Statement> {
        match self {
            Endpoint::Dashboard(q, _) => {
                let mut all = report::report_statements(q, now_ms);
                all.extend(delivery_report::statements(q));
                all.extend(match_report::statements(q));
                all.extend(conversion_report::statements(q));
                all
            }
            Endpoint::Api(q) => report::report_statements(q, now_ms),
            Endpoint::Csv(q) => report::export_statements(q),
            Endpoint::Delivery(q) => delivery_report::statements(q),
            Endpoint::Match(q) => match_report::statements(q),
            Endpoint::Conversions(q) => conversion_report::statements(q),
            Endpoint::ConversionsCsv(q) => conversion_report::export_statements(q),
            Endpoint::DeadLetters(s) => s.list_statements(),
            Endpoint::Replay(s) => s.replay_statements(),
        }
    }

    /// The response, from the rows of [`Endpoint::statements`]. `stats_path` and `host` are
    /// shown on the dashboard.
    pub fn respond(&self, results: &[Vec<Value>], stats_path: &str, host: &str) -> StatsResponse {
        match self {
            Endpoint::Dashboard(q, range) => {
                let split = report::report_statements(q, 0).len().min(results.len());
                let (pages, rest) = results.split_at(split);
                let (deliveries, rest) = rest.split_at(delivery_report::statements(q).len().min(rest.len()));
                let (matches, conversions) = rest.split_at(match_report::statements(q).len().min(rest.len()));
                StatsResponse {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    headers: Vec::new(),
                    body: dashboard::render(
                        &report::report(q, pages),
                        &delivery_report::report(q, deliveries),
                        &match_report::report(q, matches),
                        &conversion_report::report(q, conversions),
                        stats_path,
                        host,
                        range.as_deref(),
                    ),
                }
            }
            Endpoint::Delivery(q) => StatsResponse::json(delivery_report::report(q, results).to_string()),
            Endpoint::Match(q) => StatsResponse::json(match_report::report(q, results).to_string()),
            Endpoint::Conversions(q) => StatsResponse::json(conversion_report::report(q, results).to_string()),
            Endpoint::ConversionsCsv(q) => csv_attachment("conversions", q, conversion_report::export_csv(results)),
            Endpoint::DeadLetters(_) => StatsResponse::json(dead_letters::list(results).to_string()),
            // Answered by the JS entry's replay, never rendered from reads.
            Endpoint::Replay(_) => StatsResponse::plain(500, "Internal Server Error"),
            Endpoint::Api(q) => StatsResponse::json(report::report(q, results).to_string()),
            Endpoint::Csv(q) => csv_attachment("pageviews", q, report::export_csv(results)),
        }
    }
}

/// A CSV `body` as an attachment named `{name}-{from}-{to}.csv`.
fn csv_attachment(name: &str, q: &StatsQuery, body: String) -> StatsResponse {
    let (from, to) = (super::calendar::date_of(q.from), super::calendar::date_of(q.to));
    StatsResponse {
        status: 200,
        content_type: "text/csv; charset=utf-8",
        headers: vec![("content-disposition", format!("attachment; filename=\"{name}-{from}-{to}.csv\""))],
        body,
    }
}

/// Routes a request for `rest` (the path after `STATS_PATH`) with `query`: the endpoint, or
/// the response to give at once (401 without the token, 405, 404, 400 with its reason, 403 for
/// a replay asked by another site). `today` is the current UTC day; `fetch_site` the request's
/// `Sec-Fetch-Site`.
pub fn route(method: &str, rest: &str, query: &str, authorization: Option<&str>, token: &str, today: u64, fetch_site: Option<&str>) -> Result<Endpoint, StatsResponse> {
    if !auth::authorized(authorization, token) {
        let mut r = StatsResponse::plain(401, "Unauthorized");
        r.headers.push(("www-authenticate", auth::CHALLENGE.to_string()));
        return Err(r);
    }
    if rest == REPLAY_PATH {
        if method != "POST" {
            let mut r = StatsResponse::plain(405, "Method Not Allowed: dead letters are replayed with POST");
            r.headers.push(("allow", "POST".into()));
            return Err(r);
        }
        // A browser's saved password goes with any site's form: only this site's own page
        // (or a script, which sends no Sec-Fetch-Site) may replay.
        if fetch_site.is_some_and(|s| s != "same-origin" && s != "none") {
            return Err(StatsResponse::plain(403, "Forbidden: a replay must come from the stats page itself"));
        }
        return Ok(Endpoint::Replay(Selection::parse(query, dead_letters::MAX_REPLAY).map_err(bad_request)?));
    }
    if method != "GET" && method != "HEAD" {
        let mut r = StatsResponse::plain(405, "Method Not Allowed: the stats are read with GET");
        r.headers.push(("allow", "GET, HEAD".into()));
        return Err(r);
    }
    let range = query.split('&').find_map(|p| p.strip_prefix("range=")).map(str::to_string);
    match rest {
        "" | "/" => Ok(Endpoint::Dashboard(report::parse_query(query, today).map_err(bad_request)?, range)),
        "/api/stats" => Ok(Endpoint::Api(report::parse_query(query, today).map_err(bad_request)?)),
        "/export.csv" => Ok(Endpoint::Csv(report::parse_query(query, today).map_err(bad_request)?)),
        "/api/delivery" => Ok(Endpoint::Delivery(report::parse_query(query, today).map_err(bad_request)?)),
        "/api/match" => Ok(Endpoint::Match(report::parse_query(query, today).map_err(bad_request)?)),
        "/api/conversions" => Ok(Endpoint::Conversions(report::parse_query(query, today).map_err(bad_request)?)),
        "/export-conversions.csv" => Ok(Endpoint::ConversionsCsv(report::parse_query(query, today).map_err(bad_request)?)),
        "/api/dead-letters" => Ok(Endpoint::DeadLetters(Selection::parse(query, dead_letters::MAX_LIST).map_err(bad_request)?)),
        _ => Err(StatsResponse::plain(404, "Not Found: the stats are at /, /api/stats, /api/delivery, /api/match, /api/conversions, /api/dead-letters, /export.csv and /export-conversions.csv under STATS_PATH")),
    }
}

/// A 400 with the one-line `reason` a parameter was refused.
fn bad_request(reason: impl std::fmt::Display) -> StatsResponse {
    StatsResponse::plain(400, &format!("Bad Request: {reason}"))
}

/// The replay's path under `STATS_PATH`.
pub const REPLAY_PATH: &str = "/api/dead-letters/replay";

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";
    const AUTH: &str = "Bearer 0123456789abcdef-token";

    #[test]
    fn unauthorized_first_with_a_browser_challenge() {
        for auth in [None, Some("Bearer nope")] {
            let r = route("GET", "/api/stats", "from=x", auth, TOKEN, 100, None).unwrap_err();
            assert_eq!(r.status, 401);
            assert_eq!(r.body, "Unauthorized\n", "no detail, not even the bad parameter");
            assert!(r.headers.iter().any(|(k, v)| *k == "www-authenticate" && v.starts_with("Basic ")));
        }
    }

    #[test]
    fn endpoints_and_errors() {
        assert!(matches!(route("GET", "/", "", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::Dashboard(_, None))));
        assert!(matches!(route("GET", "", "range=today", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::Dashboard(_, Some(r))) if r == "today"));
        assert!(matches!(route("HEAD", "/api/stats", "", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::Api(_))));
        assert!(matches!(route("GET", "/export.csv", "", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::Csv(_))));
        assert!(matches!(route("GET", "/api/delivery", "range=30d", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::Delivery(_))));
        assert!(matches!(route("GET", "/api/match", "range=7d", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::Match(_))));
        assert!(matches!(route("GET", "/api/conversions", "range=7d", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::Conversions(_))));
        assert!(matches!(route("GET", "/export-conversions.csv", "", Some(AUTH), TOKEN, 100, None), Ok(Endpoint::ConversionsCsv(_))));
        assert_eq!(route("GET", "/api/conversions", "from=2025-13-01", Some(AUTH), TOKEN, 100, None).unwrap_err().status, 400);
        assert_eq!(route("GET", "/export-conversions.csv", "from=x", Some(AUTH), TOKEN, 100, None).unwrap_err().status, 400);
        assert_eq!(route("GET", "/api/match", "to=bad", Some(AUTH), TOKEN, 100, None).unwrap_err().status, 400);
        assert_eq!(route("GET", "/api/delivery", "from=bad", Some(AUTH), TOKEN, 100, None).unwrap_err().status, 400);
        assert_eq!(route("GET", "/nope", "", Some(AUTH), TOKEN, 100, None).unwrap_err().status, 404);
        assert_eq!(route("POST", "/api/stats", "", Some(AUTH), TOKEN, 100, None).unwrap_err().status, 405);
        let r = route("GET", "/api/stats", "from=2020-01-01&to=2025-01-01", Some(AUTH), TOKEN, 20_000, None).unwrap_err();
        assert_eq!(r.status, 400);
        assert!(r.body.starts_with("Bad Request: the range is") && r.body.matches('\n').count() == 1, "{}", r.body);
    }

    #[test]
    fn csv_is_an_attachment() {
        let q = StatsQuery { from: 20_000, to: 20_001, limit: 10 };
        let r = Endpoint::Csv(q).respond(&[vec![]], "/_tagrelay", "s");
        assert_eq!(r.content_type, "text/csv; charset=utf-8");
        assert_eq!(r.body, "date,path,pageviews,visitors\r\n");
        assert!(r.headers[0].1.contains("pageviews-2024-10-04-2024-10-05.csv"));
        let r = Endpoint::ConversionsCsv(q).respond(&[vec![]], "/_tagrelay", "s");
        assert_eq!(r.body, "date,event_name,source,medium,campaign,events,visitors,currency,revenue\r\n");
        assert!(r.headers[0].1.contains("conversions-2024-10-04-2024-10-05.csv"));
    }
}
