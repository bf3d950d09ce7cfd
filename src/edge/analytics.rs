//! The adapter of page-view analytics (pure half: `crate::analytics`). The JS entry queues
//! each page view's facts on the hot path with no call into wasm; these exports run off the
//! response path: the flush (salts, counting, the D1 batch and its outcome), the stats
//! endpoints and the daily cron. D1 itself is called from the JS entry, with the statements
//! built here.

use super::{js, log, settings};
use crate::analytics::delivery_counts::{DeliveryOutcome, Tally};
use crate::analytics::endpoints::{self, StatsResponse};
use crate::analytics::conversion_counts::Waiting;
use crate::analytics::flusher::{FlushOutcome, Flusher};
use crate::analytics::page_view;
use crate::analytics::settings::{AnalyticsSettings, DEFAULT_STATS_PATH, VAR_STATS_PATH, VAR_STATS_TOKEN};
use crate::analytics::sql::{self, Statement};
use crate::analytics::visitor_hash::utc_day;
use crate::analytics::retention;
use crate::log::line::Decision;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::*;

/// The D1 binding's name.
pub const DB_BINDING: &str = "TAGRELAY_DB";

thread_local! {
    /// This isolate's counts and salts.
    static FLUSHER: RefCell<Flusher> = RefCell::new(Flusher::default());
    /// Whether counts are written (analytics on, with its D1 binding): else none are kept.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// Counts what became of `names` (one per event) at `destination`, for the stats page's
/// Delivery panel: `detail` is a skip's rule or a reject's code, `reason` a failure's. Kept
/// only when analytics storage is on; written with the next flush.
pub fn count_delivery<S: AsRef<str>>(destination: &str, outcome: DeliveryOutcome, detail: &str, reason: Option<&str>, names: &[S]) {
    if !COUNTING.with(Cell::get) {
        return;
    }
    let tally = Tally { at_ms: js::now_ms(), destination, outcome, detail, reason };
    FLUSHER.with(|f| f.borrow_mut().count_delivery(&tally, names));
}

/// Counts the match keys each event of `mapped` carries, built for `destination` to send, for
/// the stats page's Match quality panel; written with the next flush.
pub fn count_match(destination: &str, mapped: &crate::destinations::Mapped) {
    if !COUNTING.with(Cell::get) {
        return;
    }
    let at_ms = js::now_ms();
    FLUSHER.with(|f| {
        let mut f = f.borrow_mut();
        for (name, keys) in mapped.names.iter().zip(&mapped.keys) {
            f.count_match(at_ms, destination, name, keys);
        }
    });
}

/// Whether this isolate counts (analytics on, with its D1 binding).
pub fn counting() -> bool {
    COUNTING.with(Cell::get)
}

/// Holds the events of a tracked human request for the stats' conversions, until the flush
/// knows its day's salt; logs the events lost when memory is full (D1 failing for long).
pub fn count_conversions(request: &crate::proxy::request_facts::RequestFacts, now_ms: u64, conversions: Vec<crate::analytics::conversion::Conversion>) {
    let waiting = Waiting {
        at_ms: now_ms,
        ip: request.cf_connecting_ip.clone().unwrap_or_default(),
        user_agent: page_view::queued_user_agent(request.user_agent.as_deref().unwrap_or("")).into_owned(),
        host: crate::proxy::upstream::host_of(&request.url).to_ascii_lowercase(),
        conversions,
    };
    let lost = FLUSHER.with(|f| {
        let mut f = f.borrow_mut();
        if f.wait_conversions(waiting) {
            0
        } else {
            f.take_lost_conversions()
        }
    });
    if lost > 0 {
        log::background(Decision::StatsLost, [("events", json!(lost)), ("reason", json!("conversions not counted: memory was full while D1 failed"))]);
    }
}

fn analytics(env: &JsValue) -> Option<&'static AnalyticsSettings> {
    settings::config(env).ok()?.analytics.as_ref().ok()
}

/// Whether the D1 binding is there.
pub fn has_db(env: &JsValue) -> bool {
    let db = js::get(env, DB_BINDING);
    !db.is_undefined() && !db.is_null()
}

/// The analytics part of the JS entry's rules, logging once per isolate why page views are
/// not counted when they are not: `{counting: bool, flushMs, statsPath: string|null}`.
pub fn rules(settings: &Result<AnalyticsSettings, crate::config::parse::ConfigError>, env: &JsValue) -> JsValue {
    let out = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = js_sys::Reflect::set(&out, &JsValue::from_str(k), &v);
    };
    match settings {
        Ok(s) => {
            let db = has_db(env);
            if !s.counting {
                log::background(Decision::StatsOff, [("reason", json!("ANALYTICS is off"))]);
            } else if !db {
                log::background(Decision::StatsOff, [("reason", json!(format!("no D1 binding {DB_BINDING}: add it to wrangler.toml to count page views (docs/stats.md)")))]);
            }
            set("counting", JsValue::from_bool(s.counting && db));
            COUNTING.with(|c| c.set(s.counting && db));
            set("flushMs", JsValue::from_f64(f64::from(s.flush_ms)));
            set("statsPath", s.stats_token.as_ref().map_or(JsValue::NULL, |_| JsValue::from_str(&s.stats_path)));
        }
        Err(err) => {
            log::background(Decision::StatsOff, [("reason", json!(err.to_string()))]);
            set("counting", JsValue::FALSE);
            COUNTING.with(|c| c.set(false));
            set("flushMs", JsValue::from_f64(0.0));
            // A stats page was meant (STATS_TOKEN is set): its path is still kept from the
            // origin, and answered 503, so the token a browser sends never reaches the origin.
            let meant = !js::get(env, VAR_STATS_TOKEN).is_undefined();
            let path = js::get(env, VAR_STATS_PATH)
                .as_string()
                .map(|p| p.trim().trim_end_matches('/').to_string())
                .filter(|p| p.starts_with('/') && p.len() > 1)
                .unwrap_or_else(|| DEFAULT_STATS_PATH.to_string());
            set("statsPath", if meant { JsValue::from_str(&path) } else { JsValue::NULL });
        }
    }
    out.into()
}

/// Statements as the JS entry binds them.
pub fn to_json(statements: &[Statement]) -> String {
    serde_json::to_string(statements).unwrap_or_else(|_| "[]".into())
}

/// The statements that make and read the salts of those `days` this isolate lacks, as JSON,
/// or `undefined` when it holds them all.
#[wasm_bindgen]
pub fn stats_salt_statements(days: Vec<u32>) -> Option<String> {
    let mut days: Vec<u64> = days.into_iter().map(u64::from).collect();
    let missing = FLUSHER.with(|f| {
        let f = f.borrow();
        days.extend(f.waiting_days());
        f.missing_salts(&days)
    });
    if missing.is_empty() {
        return None;
    }
    let param = json!(Value::from(missing).to_string());
    Some(to_json(&[Statement::new(sql::MAKE_SALTS, vec![param.clone()]), Statement::new(sql::READ_SALTS, vec![param])]))
}

/// Keeps the salts read by [`stats_salt_statements`]: `rows` is the read's JSON rows,
/// `{day, salt: hex}`; `error` what D1 threw instead (logged; the page views wait).
#[wasm_bindgen]
pub fn stats_salts_read(rows: Option<String>, error: Option<String>, now_ms: f64) {
    if let Some(error) = error {
        log::background(Decision::StatsFlushFailed, [("reason", json!(format!("the day's salt could not be read from D1: {error}; the page views wait for the next flush")))]);
        return;
    }
    let rows: Vec<Value> = rows.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_default();
    let today = utc_day(now_ms as u64);
    FLUSHER.with(|f| {
        let mut f = f.borrow_mut();
        for row in rows {
            let (Some(day), Some(hex)) = (row.get("day").and_then(Value::as_u64), row.get("salt").and_then(Value::as_str)) else { continue };
            if let Some(salt) = from_hex(hex) {
                f.set_salt(day, salt, today);
            }
        }
    });
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Counts the queued page views (`views`: their facts as `page_view::parse_views` reads them); `dropped`: views
/// the entry could not queue (its queue was full). Returns whether to flush now, before the
/// timer (memory is filling up).
#[wasm_bindgen]
pub fn stats_ingest(env: &JsValue, views: &str, dropped: u32) -> bool {
    let Some(settings) = analytics(env) else { return false };
    let Ok(bots) = settings::bot_matcher() else { return false };
    let views = match page_view::parse_views(views) {
        Ok(v) => v,
        Err(e) => {
            log::background(Decision::StatsLost, [("reason", json!(format!("queued page views unreadable: {e}")))]);
            return false;
        }
    };
    FLUSHER.with(|f| {
        let mut f = f.borrow_mut();
        let got = f.ingest(&views, settings.bot_score_threshold, bots);
        let lost = got.dropped + u64::from(dropped);
        if lost > 0 {
            log::background(Decision::StatsLost, [
                ("page_views", json!(lost)),
                ("reason", json!("not counted: the day's salt could not be read, or memory was full while D1 failed")),
            ]);
        }
        f.flush_early()
    })
}

/// The next flush: its id, its statements as JSON (`[{sql, params}]`, a long text parameter
/// written as `{"text": i}`), then those texts (`sql::with_side_texts`); empty when there is
/// nothing to write.
#[wasm_bindgen]
pub fn stats_take(now_ms: f64) -> Vec<String> {
    FLUSHER.with(|f| {
        let mut f = f.borrow_mut();
        let Some(pending) = f.take(js::random_uuid, now_ms as u64) else { return Vec::new() };
        let (statements, texts) = sql::with_side_texts(&pending.statements);
        let mut out = Vec::with_capacity(2 + texts.len());
        out.push(pending.id.clone());
        out.push(statements);
        out.extend(texts.into_iter().map(str::to_string));
        out
    })
}

/// Settles flush `id` (`error`: what D1 threw; `rows_written`: what D1 reported it wrote,
/// which is what Cloudflare bills) and logs it. Returns whether to go on with the next flush
/// at once (this one was settled and more may be waiting).
#[wasm_bindgen]
pub fn stats_finished(id: &str, error: Option<String>, rows_written: Option<f64>) -> bool {
    // Page views counted meanwhile go on at once, as before; delivery outcomes counted meanwhile
    // wait for the flush their send schedules when it ends (one D1 write per period, not per
    // outcome that arrives during a write).
    let (outcome, held) = FLUSHER.with(|f| {
        let mut f = f.borrow_mut();
        let outcome = f.finished(id, error.as_deref());
        (outcome, f.held())
    });
    let more = held > 0;
    let reason = || json!(error.clone().unwrap_or_default());
    match outcome {
        FlushOutcome::Written { page_views, events, attempts } => {
            log::background(Decision::StatsFlushed, [
                ("page_views", json!(page_views)),
                ("events", json!(events)),
                ("attempts", json!(attempts)),
                ("rows_written", json!(rows_written.map(|r| r as u64))),
            ]);
            more
        }
        FlushOutcome::AlreadyWritten { page_views, events, attempts } => {
            log::background(Decision::StatsFlushed, [
                ("page_views", json!(page_views)),
                ("events", json!(events)),
                ("attempts", json!(attempts)),
                ("detail", json!("an earlier attempt had been written: not added twice")),
            ]);
            more
        }
        FlushOutcome::WillRetry { page_views, events, attempts } => {
            log::background(Decision::StatsFlushFailed, [
                ("page_views", json!(page_views)),
                ("events", json!(events)),
                ("attempts", json!(attempts)),
                ("held", json!(held)),
                ("reason", json!(format!("{}; kept for the next flush", reason().as_str().unwrap_or_default()))),
            ]);
            false
        }
        FlushOutcome::GaveUp { page_views, events, attempts } => {
            log::background(Decision::StatsLost, [("page_views", json!(page_views)), ("events", json!(events)), ("attempts", json!(attempts)), ("reason", reason())]);
            more
        }
        FlushOutcome::Unknown => false,
    }
}

/// A stats response as the JS entry reads it.
pub fn response_json(r: &StatsResponse) -> String {
    let headers: serde_json::Map<String, Value> = r.headers.iter().map(|(k, v)| ((*k).to_string(), json!(v))).collect();
    json!({"status": r.status, "contentType": r.content_type, "headers": headers, "body": r.body}).to_string()
}

/// The part of `url` after `stats_path`, and its query.
fn rest_and_query<'a>(url: &'a str, stats_path: &str) -> (&'a str, &'a str) {
    let pq = crate::proxy::upstream::path_and_query(url);
    let (path, query) = pq.split_once('?').unwrap_or((pq, ""));
    (path.strip_prefix(stats_path).unwrap_or(""), query)
}

fn route(env: &JsValue, method: &str, url: &str, authorization: Option<&str>, fetch_site: Option<&str>, now_ms: f64) -> Result<(endpoints::Endpoint, &'static AnalyticsSettings), StatsResponse> {
    let settings = analytics(env).ok_or_else(|| StatsResponse::plain(503, "Service Unavailable: a stats setting is invalid; the stats_off log line says which"))?;
    let token = settings.stats_token.as_deref().ok_or_else(|| StatsResponse::plain(404, "Not Found"))?;
    let (rest, query) = rest_and_query(url, &settings.stats_path);
    let endpoint = endpoints::route(method, rest, query, authorization, token, utc_day(now_ms as u64), fetch_site)?;
    if !has_db(env) {
        return Err(StatsResponse::plain(503, &format!("Service Unavailable: no D1 binding {DB_BINDING}; see docs/stats.md")));
    }
    Ok((endpoint, settings))
}

/// A stats request: JSON `{response: {status, contentType, headers, body}}` to answer at
/// once, `{statements}` to read from D1 and pass to [`stats_render`], or `{replay:
/// {statements}}` for a dead-letter replay (the JS entry runs it, see `edge::replay`).
/// `fetch_site`: the request's `Sec-Fetch-Site`.
#[wasm_bindgen]
pub fn stats_plan(env: &JsValue, method: &str, url: &str, authorization: Option<String>, fetch_site: Option<String>, now_ms: f64) -> String {
    match route(env, method, url, authorization.as_deref(), fetch_site.as_deref(), now_ms) {
        Err(r) => format!("{{\"response\":{}}}", response_json(&r)),
        Ok((endpoint @ endpoints::Endpoint::Replay(_), _)) => format!("{{\"replay\":{{\"statements\":{}}}}}", to_json(&endpoint.statements(now_ms as u64))),
        Ok((endpoint, _)) => format!("{{\"statements\":{}}}", to_json(&endpoint.statements(now_ms as u64))),
    }
}

/// The response to a stats request from the rows of [`stats_plan`]'s reads (`results`: a
/// JSON array of row arrays), or a 503 when D1 threw `error` (logged).
#[wasm_bindgen]
pub fn stats_render(env: &JsValue, method: &str, url: &str, authorization: Option<String>, now_ms: f64, results: Option<String>, error: Option<String>) -> String {
    let response = match route(env, method, url, authorization.as_deref(), None, now_ms) {
        Err(r) => r,
        Ok(_) if error.is_some() => {
            log::background(Decision::StatsError, [
                ("path", json!(crate::proxy::upstream::path_only(url))),
                ("reason", json!(format!("D1 read failed: {}", error.unwrap_or_default()))),
            ]);
            StatsResponse::plain(503, "Service Unavailable: the stats could not be read; the log says why")
        }
        Ok((endpoint, settings)) => {
            let rows: Vec<Vec<Value>> = results.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_default();
            endpoint.respond(&rows, &settings.stats_path, crate::proxy::upstream::host_of(url))
        }
    };
    response_json(&response)
}

/// The daily cron's deletions as JSON statements, or `undefined` when analytics storage is
/// off.
#[wasm_bindgen]
pub fn stats_retention(env: &JsValue, now_ms: f64) -> Option<String> {
    let settings = analytics(env)?;
    if !has_db(env) {
        return None;
    }
    let now = now_ms as u64;
    Some(to_json(&retention::statements(utc_day(now), now, settings.retention_days)))
}

/// Logs the cron's outcome: `deleted` (JSON array of rows deleted per statement) or `error`.
#[wasm_bindgen]
pub fn stats_cleaned(deleted: Option<String>, error: Option<String>) {
    match error {
        Some(e) => log::background(Decision::StatsError, [("reason", json!(format!("retention cleanup failed: {e}; the next run tries again")))]),
        None => {
            let rows: Vec<u64> = deleted.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default();
            log::background(Decision::StatsCleaned, [("rows_deleted", json!(rows.iter().sum::<u64>()))]);
        }
    }
}
