//! The Delivery panel's numbers (`{STATS_PATH}/api/delivery` and the stats page): per
//! destination, its events per outcome over the range, per day, per event name, the rules
//! that skipped them and the codes that rejected them, and its last failure with its reason.

use super::calendar::date_of;
use super::delivery_counts::DeliveryOutcome;
use super::report::StatsQuery;
use super::sql::{self, Statement};
use super::values::{num, text};
use crate::destinations::registry;
use serde_json::{json, Map, Value};


/// The reads of the Delivery report, in the order [`report`] expects their rows.
pub fn statements(q: &StatsQuery) -> Vec<Statement> {
    let range = || vec![json!(q.from), json!(q.to)];
    vec![
        Statement::new(sql::READ_DELIVERY_DAYS, range()),
        Statement::new(sql::READ_DELIVERY_EVENTS, range()),
        Statement::new(sql::READ_DELIVERY_LAST_FAILURES, range()),
        Statement::new(sql::COUNT_DEAD_LETTERS, Vec::new()),
    ]
}

/// Zero for every outcome, keyed by its code.
fn zeros() -> Map<String, Value> {
    DeliveryOutcome::ALL.iter().map(|o| (o.code().to_string(), json!(0))).collect()
}

fn bump(counts: &mut Map<String, Value>, outcome: &str, n: u64) {
    if let Some(v) = counts.get_mut(outcome) {
        *v = json!(v.as_u64().unwrap_or(0) + n);
    }
}

/// One destination's part of the report, while it is built. Plain vectors searched in order
/// ([`entry`]): there are a few destinations, days and names, and each generic map or sort
/// would add its own code to the wasm.
#[derive(Default)]
struct Part {
    totals: Option<Map<String, Value>>,
    days: Vec<(u64, Map<String, Value>)>,
    events: Vec<(String, Map<String, Value>)>,
    skipped: Vec<(String, u64)>,
    rejected: Vec<(String, u64)>,
    last_failure: Option<Value>,
    kept: (u64, u64),
}

/// The entry of `key` in `items`, added with `new()` when missing.
fn entry<'a, K: PartialEq + Clone, V>(items: &'a mut Vec<(K, V)>, key: &K, new: impl FnOnce() -> V) -> &'a mut V {
    let at = match items.iter().position(|(k, _)| k == key) {
        Some(at) => at,
        None => {
            items.push((key.clone(), new()));
            items.len() - 1
        }
    };
    &mut items[at].1
}

/// The Delivery report of `q` from the rows of [`statements`]:
/// `{"from","to","destinations":[{"destination","sent","failed","dead_lettered","rejected",
/// "skipped","dry_run","days":[{"date",...outcomes}],"events":[{"event",...outcomes}],
/// "skipped_rules":[{"rule","events"}],"rejected_codes":[{"code","events"}],
/// "last_failure":{"at","outcome","event","reason"}|null,"dead_letters_kept":{"messages",
/// "events"}}]}`. Every day of the range is listed for each destination that has any count in
/// it; `dead_letters_kept` counts the dead letters waiting for replay, whatever their day.
pub fn report(q: &StatsQuery, results: &[Vec<Value>]) -> Value {
    let empty = Vec::new();
    let rows = |i: usize| results.get(i).unwrap_or(&empty);
    let mut parts: Vec<(String, Part)> = Vec::new();
    for r in rows(0) {
        let part = entry(&mut parts, &text(r, "destination").to_string(), Part::default);
        let n = num(r, "events");
        bump(part.totals.get_or_insert_with(zeros), text(r, "outcome"), n);
        bump(entry(&mut part.days, &num(r, "day"), zeros), text(r, "outcome"), n);
    }
    for r in rows(1) {
        let part = entry(&mut parts, &text(r, "destination").to_string(), Part::default);
        let (event, outcome, detail, n) = (text(r, "event"), text(r, "outcome"), text(r, "detail"), num(r, "events"));
        bump(entry(&mut part.events, &event.to_string(), zeros), outcome, n);
        if outcome == DeliveryOutcome::Skipped.code() {
            *entry(&mut part.skipped, &detail.to_string(), || 0) += n;
        } else if outcome == DeliveryOutcome::Rejected.code() {
            *entry(&mut part.rejected, &detail.to_string(), || 0) += n;
        }
    }
    for r in rows(2) {
        let part = entry(&mut parts, &text(r, "destination").to_string(), Part::default);
        part.last_failure = Some(json!({
            "at": iso_time(num(r, "last_at")),
            "outcome": text(r, "outcome"),
            "event": text(r, "event"),
            "reason": text(r, "last_reason"),
        }));
    }
    for r in rows(3) {
        entry(&mut parts, &text(r, "destination").to_string(), Part::default).kept = (num(r, "messages"), num(r, "events"));
    }
    // Known destinations first, in their order; others as they came. (Ordered by hand: the
    // lists are short, and a sort adds its own code to the wasm.)
    // The registered destinations first, in the registry's order; any other (one since
    // removed) follows by name.
    let known = |name: &String| registry::is_known(name);
    let ordered = registry::names().filter_map(|k| parts.iter().find(|(name, _)| name == k)).chain(parts.iter().filter(|(name, _)| !known(name)));
    let listed = |items: &[(String, u64)], label: &str| -> Value {
        let mut most_first: Vec<&(String, u64)> = Vec::new();
        for item in items {
            let at = most_first.iter().position(|other| other.1 < item.1).unwrap_or(most_first.len());
            most_first.insert(at, item);
        }
        Value::Array(most_first.into_iter().map(|(k, n)| json!({label: k, "events": n})).collect())
    };
    let destinations: Vec<Value> = ordered
        .map(|(name, part)| {
            let mut out = Map::new();
            out.insert("destination".into(), json!(name));
            out.extend(part.totals.clone().unwrap_or_else(zeros));
            let days: Vec<Value> = (q.from..=q.to)
                .map(|day| {
                    let mut d = Map::new();
                    d.insert("date".into(), json!(date_of(day)));
                    d.extend(part.days.iter().find(|(k, _)| *k == day).map(|(_, m)| m.clone()).unwrap_or_else(zeros));
                    Value::Object(d)
                })
                .collect();
            out.insert("days".into(), Value::Array(days));
            let events: Vec<Value> = part
                .events
                .iter()
                .map(|(event, counts)| {
                    let mut e = Map::new();
                    e.insert("event".into(), json!(event));
                    e.extend(counts.clone());
                    Value::Object(e)
                })
                .collect();
            out.insert("events".into(), Value::Array(events));
            out.insert("skipped_rules".into(), listed(&part.skipped, "rule"));
            out.insert("rejected_codes".into(), listed(&part.rejected, "code"));
            out.insert("last_failure".into(), part.last_failure.clone().unwrap_or(Value::Null));
            out.insert("dead_letters_kept".into(), json!({"messages": part.kept.0, "events": part.kept.1}));
            Value::Object(out)
        })
        .collect();
    json!({"from": date_of(q.from), "to": date_of(q.to), "destinations": destinations})
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn iso_time(ms: u64) -> String {
    let secs = ms / 1000;
    let day = secs / 86_400;
    let rest = secs % 86_400;
    format!("{}T{:02}:{:02}:{:02}Z", date_of(day), rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: u64 = 20_423; // 2025-12-01

    #[test]
    fn per_destination_totals_days_events_and_last_failure() {
        let q = StatsQuery { from: TODAY - 1, to: TODAY, limit: 10 };
        let results = vec![
            vec![
                json!({"destination": "tiktok", "day": TODAY, "outcome": "sent", "events": 2}),
                json!({"destination": "meta", "day": TODAY, "outcome": "sent", "events": 5}),
                json!({"destination": "meta", "day": TODAY - 1, "outcome": "sent", "events": 1}),
                json!({"destination": "meta", "day": TODAY, "outcome": "failed", "events": 1}),
                json!({"destination": "meta", "day": TODAY, "outcome": "skipped", "events": 3}),
            ],
            vec![
                json!({"destination": "meta", "event": "Purchase", "outcome": "sent", "detail": "", "events": 6}),
                json!({"destination": "meta", "event": "Purchase", "outcome": "failed", "detail": "", "events": 1}),
                json!({"destination": "meta", "event": "(not read)", "outcome": "skipped", "detail": "crawler_user_agent", "events": 2}),
                json!({"destination": "meta", "event": "Lead", "outcome": "skipped", "detail": "consent_denied", "events": 1}),
                json!({"destination": "tiktok", "event": "CompletePayment", "outcome": "sent", "detail": "", "events": 2}),
            ],
            vec![json!({"destination": "meta", "event": "Purchase", "outcome": "failed", "last_at": TODAY * 86_400_000 + 3_723_000, "last_reason": "token expired"})],
            vec![json!({"destination": "meta", "messages": 2, "events": 7})],
        ];
        let r = report(&q, &results);
        let d = r["destinations"].as_array().unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0]["destination"], "meta", "meta first, then tiktok");
        assert_eq!((d[0]["sent"].as_u64(), d[0]["failed"].as_u64(), d[0]["skipped"].as_u64(), d[0]["dead_lettered"].as_u64()), (Some(6), Some(1), Some(3), Some(0)));
        assert_eq!(d[0]["days"][0], json!({"date": "2025-11-30", "sent": 1, "failed": 0, "dead_lettered": 0, "rejected": 0, "skipped": 0, "dry_run": 0}));
        assert_eq!(d[0]["days"][1]["sent"], 5);
        assert_eq!(d[0]["events"][0], json!({"event": "Purchase", "sent": 6, "failed": 1, "dead_lettered": 0, "rejected": 0, "skipped": 0, "dry_run": 0}));
        assert_eq!(d[0]["skipped_rules"], json!([{"rule": "crawler_user_agent", "events": 2}, {"rule": "consent_denied", "events": 1}]));
        assert_eq!(d[0]["last_failure"], json!({"at": "2025-12-01T01:02:03Z", "outcome": "failed", "event": "Purchase", "reason": "token expired"}));
        assert_eq!(d[1]["last_failure"], Value::Null);
        assert_eq!(d[0]["dead_letters_kept"], json!({"messages": 2, "events": 7}));
        assert_eq!(d[1]["dead_letters_kept"], json!({"messages": 0, "events": 0}));
        assert_eq!(d[1]["days"].as_array().unwrap().len(), 2, "every day of the range");
        assert_eq!(statements(&q).len(), results.len());
    }
}
