//! The Match quality view (`{STATS_PATH}/api/match` and its panel on the stats page): per
//! destination, how many events were built to send, and how many carried each match key,
//! over the range, in total and per event name. The keys Meta weighs most in its Event Match
//! Quality are marked, so the marketer sees at a glance what lifts it.

use super::calendar::date_of;
use super::dashboard::{escape, thousands};
use super::match_counts::EVENTS_KEY;
use super::report::StatsQuery;
use super::sql::{self, Statement};
use super::values::{num, text};
use crate::destinations::{meta, registry, REGISTRY};
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// The keys Meta weighs most in Event Match Quality: e-mail, phone, external id, click id,
/// browser id, and IP with user agent.
pub const META_WEIGHTED: [&str; 7] = ["em", "ph", "external_id", "fbc", "fbp", "client_ip_address", "client_user_agent"];

/// The reads of the Match report.
pub fn statements(q: &StatsQuery) -> Vec<Statement> {
    vec![Statement::new(sql::READ_MATCH, vec![json!(q.from), json!(q.to)])]
}

/// Events per match key.
type KeyCounts = Vec<(String, u64)>;

/// One destination's counts while the report is built: events, then per key; and per event
/// (name, events, per key).
#[derive(Default)]
struct Part {
    events: u64,
    keys: KeyCounts,
    by_event: Vec<(String, u64, KeyCounts)>,
}

fn bump(list: &mut Vec<(String, u64)>, key: &str, n: u64) {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v += n,
        None => list.push((key.to_string(), n)),
    }
}

/// The match keys `destination` registered, in the order the panel lists them.
fn registered_keys(destination: &str) -> &'static [&'static str] {
    REGISTRY.iter().find(|r| r.name == destination).map_or(&[][..], |r| r.match_keys)
}

/// `keys` as a JSON object: every key the destination registered (zero when none carried
/// it), and any other counted.
fn keys_object(destination: &str, keys: &[(String, u64)]) -> Value {
    let registered = registered_keys(destination);
    let mut out = Map::new();
    for key in registered {
        out.insert((*key).to_string(), json!(keys.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)));
    }
    for (key, n) in keys {
        out.entry(key.clone()).or_insert(json!(n));
    }
    Value::Object(out)
}

/// The report from the rows of [`statements`]: `{"from","to","destinations":[{"destination",
/// "events","keys":{key: events},"by_event":[{"event","events","keys"}]}]}`.
pub fn report(q: &StatsQuery, results: &[Vec<Value>]) -> Value {
    let mut parts: Vec<(String, Part)> = Vec::new();
    for r in results.first().map(Vec::as_slice).unwrap_or(&[]) {
        let destination = text(r, "destination").to_string();
        let at = match parts.iter().position(|(d, _)| *d == destination) {
            Some(i) => i,
            None => {
                parts.push((destination, Part::default()));
                parts.len() - 1
            }
        };
        let part = &mut parts[at].1;
        let (event, key, n) = (text(r, "event"), text(r, "key"), num(r, "events"));
        let e = match part.by_event.iter().position(|(name, _, _)| name == event) {
            Some(i) => i,
            None => {
                part.by_event.push((event.to_string(), 0, Vec::new()));
                part.by_event.len() - 1
            }
        };
        if key == EVENTS_KEY {
            part.events += n;
            part.by_event[e].1 += n;
        } else {
            bump(&mut part.keys, key, n);
            bump(&mut part.by_event[e].2, key, n);
        }
    }
    let ordered = registry::names().filter_map(|k| parts.iter().find(|(d, _)| d == k)).chain(parts.iter().filter(|(d, _)| !registry::is_known(d)));
    let destinations: Vec<Value> = ordered
        .map(|(destination, part)| {
            let by_event: Vec<Value> = part
                .by_event
                .iter()
                .map(|(event, events, keys)| json!({"event": event, "events": events, "keys": keys_object(destination, keys)}))
                .collect();
            json!({"destination": destination, "events": part.events, "keys": keys_object(destination, &part.keys), "by_event": by_event})
        })
        .collect();
    json!({"from": date_of(q.from), "to": date_of(q.to), "destinations": destinations})
}

/// The Match quality panel: per destination, the share of its events that carried each key.
pub fn panel(h: &mut String, report: &Value) {
    let destinations = report.get("destinations").and_then(Value::as_array).cloned().unwrap_or_default();
    h.push_str("<section class=\"card match\" data-panel=\"match\"><h2>Match quality<span class=\"legend\">share of events sent with each key · ★ Meta weighs most</span></h2>");
    if destinations.is_empty() {
        h.push_str("<p class=\"empty\">No events sent in this range. Each platform's events are counted here as they are built.</p></section>");
        return;
    }
    for d in &destinations {
        let name = escape(text(d, "destination"));
        let events = num(d, "events");
        let _ = write!(h, "<h3>{name} <span class=\"legend\" data-match-events=\"{name}\" data-value=\"{events}\">{} events</span></h3><table><tr><th>Key</th><th>Events with it</th><th>Share</th></tr>", thousands(events));
        let keys = d.get("keys").and_then(Value::as_object).cloned().unwrap_or_default();
        let registered = registered_keys(text(d, "destination"));
        let others = keys.keys().map(String::as_str).filter(|k| !registered.contains(k));
        for key in registered.iter().copied().chain(others) {
            let n = keys.get(key).and_then(Value::as_u64).unwrap_or(0);
            let share = (n * 100 + events / 2).checked_div(events).unwrap_or(0);
            let weighted = name == meta::NAME && META_WEIGHTED.contains(&key);
            let mark = if weighted { " ★" } else { "" };
            let class = if weighted { " class=\"weighted\"" } else { "" };
            let _ = write!(
                h,
                "<tr{class}><td style=\"--w:{share}%\">{k}{mark}</td><td>{}</td><td data-match=\"{name}\" data-key=\"{k}\" data-value=\"{share}\">{share}%</td></tr>",
                thousands(n),
                k = escape(key),
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<p class=\"note\">Meta's Event Match Quality rises with the starred keys: an e-mail or phone in the header's <code>user_data</code> (or kept with <code>USER_DATA_COOKIE</code>), first-party <code>_fbp</code>/<code>_fbc</code>, and the visitor's IP and user agent.</p></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> StatsQuery {
        crate::analytics::report::parse_query("from=2025-12-01&to=2025-12-02", 20_424).unwrap()
    }

    #[test]
    fn per_destination_and_event_with_every_registered_key() {
        let rows = vec![
            json!({"destination": "tiktok", "event": "CompletePayment", "key": "", "events": 1}),
            json!({"destination": "meta", "event": "Purchase", "key": "", "events": 3}),
            json!({"destination": "meta", "event": "Purchase", "key": "em", "events": 2}),
            json!({"destination": "meta", "event": "ViewContent", "key": "", "events": 5}),
            json!({"destination": "meta", "event": "ViewContent", "key": "fbp", "events": 5}),
        ];
        let r = report(&query(), &[rows]);
        assert_eq!(r["from"], "2025-12-01");
        let d = r["destinations"].as_array().unwrap();
        assert_eq!(d[0]["destination"], "meta", "the registry's order");
        assert_eq!((d[0]["events"].as_u64(), d[0]["keys"]["em"].as_u64(), d[0]["keys"]["fbp"].as_u64(), d[0]["keys"]["ph"].as_u64()), (Some(8), Some(2), Some(5), Some(0)));
        assert_eq!(d[0]["by_event"][0], json!({"event": "Purchase", "events": 3, "keys": d[0]["by_event"][0]["keys"].clone()}));
        assert_eq!(d[0]["by_event"][0]["keys"]["em"], 2);
        assert_eq!((d[1]["destination"].as_str(), d[1]["keys"]["email"].as_u64()), (Some("tiktok"), Some(0)));
        let mut h = String::new();
        panel(&mut h, &r);
        assert!(h.contains("data-match=\"meta\" data-key=\"em\" data-value=\"25\""), "2 of 8: {h}");
        assert!(h.contains("<tr class=\"weighted\"><td style=\"--w:25%\">em ★</td>"), "{h}");
        assert!(h.contains("data-match-events=\"tiktok\" data-value=\"1\""));
        let (em, fbp, ip) = (h.find("data-key=\"em\"").unwrap(), h.find("data-key=\"fbp\"").unwrap(), h.find("data-key=\"client_ip_address\"").unwrap());
        assert!(em < fbp && fbp < ip, "Meta's keys in their registered order");
        assert!(!h.contains("email ★"), "only Meta's keys are starred");
    }
}
