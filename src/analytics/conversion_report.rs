//! Conversions and revenue (`{STATS_PATH}/api/conversions`, `export-conversions.csv` and two
//! panels of the stats page): per event name, how many were sent, by how many visitors, at
//! what conversion rate and for what revenue; which sources of the day bring them; and per
//! day. Revenue is summed per currency, never converted.

use super::calendar::date_of;
use super::csv;
use super::dashboard::{escape, thousands};
use super::report::StatsQuery;
use super::revenue::{self, Amount};
use super::sql::{self, Statement, UNKNOWN_SOURCE};
use super::values::{num, text};
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// The header of the conversions CSV.
pub const CSV_HEADER: &str = "date,event_name,source,medium,campaign,events,visitors,currency,revenue";
/// The event that counts as an order in "Sources that sell" and the Orders tile.
pub const ORDER_EVENT: &str = "Purchase";
/// Most (source, event, currency) rows read for a report.
pub const MAX_SOURCE_ROWS: u32 = 5_000;

/// The previous period of equal length, just before `q`'s (empty at the start of time).
pub fn previous(q: &StatsQuery) -> StatsQuery {
    let days = q.to - q.from + 1;
    StatsQuery { from: q.from.saturating_sub(days), to: q.from.saturating_sub(1), ..*q }
}

/// The reads of the report, in the order [`report`] expects their rows.
pub fn statements(q: &StatsQuery) -> Vec<Statement> {
    let p = previous(q);
    vec![
        Statement::new(sql::READ_CONVERSION_EVENTS, vec![json!(q.from), json!(q.to)]),
        Statement::new(sql::READ_CONVERSION_SOURCES, vec![json!(q.from), json!(q.to), json!(MAX_SOURCE_ROWS)]),
        Statement::new(sql::READ_CONVERSION_DAYS, vec![json!(q.from), json!(q.to)]),
        Statement::new(sql::READ_TOTALS, vec![json!(q.from), json!(q.to)]),
        Statement::new(sql::READ_CONVERSION_EVENTS, vec![json!(p.from), json!(p.to)]),
    ]
}

/// Revenue per currency, in thousandths, in the order of the rows (by currency).
type Revenue = Vec<(String, Amount)>;

/// `revenue` as `[{"currency","value"}]`, the value with the currency's decimals.
fn revenue_json(revenue: &Revenue) -> Value {
    Value::Array(revenue.iter().map(|(c, a)| json!({"currency": c, "value": revenue::to_json(*a, c)})).collect())
}

/// A row's revenue in thousandths.
fn amount(row: &Value) -> Amount {
    row.get("revenue").and_then(Value::as_i64).unwrap_or(0)
}

/// `part` over `whole`, to four decimals; 0 when there is no whole.
fn rate(part: u64, whole: u64) -> Value {
    if whole == 0 {
        return json!(0.0);
    }
    json!((part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// Events, visitors and revenue of one group of rows (an event name, a source's event, a day's
/// event): currency `''` carries the events and visitors, a currency its revenue.
#[derive(Default)]
struct Tally {
    events: u64,
    visitors: u64,
    revenue: Revenue,
}

impl Tally {
    fn of(rows: &[Value]) -> Tally {
        let mut t = Tally::default();
        for row in rows {
            match text(row, "currency") {
                "" => {
                    t.events += num(row, "events");
                    t.visitors += num(row, "visitors");
                }
                currency => match t.revenue.iter_mut().find(|(c, _)| c == currency) {
                    Some((_, a)) => *a += amount(row),
                    None => t.revenue.push((currency.to_string(), amount(row))),
                },
            }
        }
        t
    }
}

/// `rows` (sorted by `fields`) cut into runs that agree on every one of `fields`.
fn runs<'a>(rows: &'a [Value], fields: &[&str]) -> Vec<&'a [Value]> {
    let same = |a: &Value, b: &Value| fields.iter().all(|f| a.get(*f) == b.get(*f));
    let mut out = Vec::new();
    let mut start = 0;
    // An empty `rows` gives no run: the loop does not start.
    for i in 1..=rows.len() {
        if i == rows.len() || !same(&rows[start], &rows[i]) {
            out.push(&rows[start..i]);
            start = i;
        }
    }
    out
}

/// `items` with the largest count first; equal counts keep their (alphabetical) order.
fn busiest_first(mut items: Vec<(u64, Value)>) -> Value {
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    Value::Array(items.into_iter().map(|(_, v)| v).collect())
}

/// A text that is empty in D1 as JSON `null`.
fn or_null(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { json!(s) }
}

/// The orders and their revenue among rows of [`sql::READ_CONVERSION_EVENTS`].
fn orders(rows: &[Value]) -> (u64, Value) {
    let mine: Vec<Value> = rows.iter().filter(|r| text(r, "event") == ORDER_EVENT).cloned().collect();
    let t = Tally::of(&mine);
    (t.events, revenue_json(&t.revenue))
}

/// The report from the rows of [`statements`]: the documented shape `{"from","to","events",
/// "sources","days"}`, plus `visitors` (with a page view), `orders` and `revenue` (of
/// [`ORDER_EVENT`]) and `previous` (`{"from","to","orders","revenue"}` of the period before).
pub fn report(q: &StatsQuery, results: &[Vec<Value>]) -> Value {
    let empty = Vec::new();
    let rows = |i: usize| results.get(i).unwrap_or(&empty);
    let visitors = rows(3).first().map_or(0, |r| num(r, "visitors"));
    let events = runs(rows(0), &["event"])
        .into_iter()
        .map(|run| {
            let t = Tally::of(run);
            let item = json!({"event_name": text(&run[0], "event"), "events": t.events, "visitors": t.visitors, "conversion_rate": rate(t.visitors, visitors), "revenue": revenue_json(&t.revenue)});
            (t.events, item)
        })
        .collect();
    // Sources: each source of the day's visitors (its event '' rows come first), then its events.
    let mut sources = Vec::new();
    for source in runs(rows(1), &["source", "medium", "campaign"]) {
        let first = &source[0];
        let name = text(first, "source");
        let source_visitors: u64 = source.iter().filter(|r| text(r, "event").is_empty()).map(|r| num(r, "visitors")).sum();
        for run in runs(source, &["event"]).into_iter().filter(|run| !text(&run[0], "event").is_empty()) {
            let t = Tally::of(run);
            let rate = if name == UNKNOWN_SOURCE { Value::Null } else { rate(t.visitors, source_visitors) };
            let item = json!({
                "source": name, "medium": or_null(text(first, "medium")), "campaign": or_null(text(first, "campaign")),
                "event_name": text(&run[0], "event"), "events": t.events, "visitors": t.visitors,
                "revenue": revenue_json(&t.revenue), "source_visitors": source_visitors, "conversion_rate": rate,
            });
            sources.push((t.events, item));
        }
    }
    let days: Vec<Value> = runs(rows(2), &["day", "event"])
        .into_iter()
        .map(|run| {
            let t = Tally::of(run);
            json!({"date": date_of(num(&run[0], "day")), "event_name": text(&run[0], "event"), "events": t.events, "revenue": revenue_json(&t.revenue)})
        })
        .collect();
    let (now_orders, now_revenue) = orders(rows(0));
    let p = previous(q);
    let (before_orders, before_revenue) = orders(rows(4));
    let mut out = Map::new();
    out.insert("from".into(), json!(date_of(q.from)));
    out.insert("to".into(), json!(date_of(q.to)));
    out.insert("visitors".into(), json!(visitors));
    out.insert("orders".into(), json!(now_orders));
    out.insert("revenue".into(), now_revenue);
    out.insert("events".into(), busiest_first(events));
    out.insert("sources".into(), busiest_first(sources));
    out.insert("days".into(), Value::Array(days));
    out.insert("previous".into(), json!({"from": date_of(p.from), "to": date_of(p.to), "orders": before_orders, "revenue": before_revenue}));
    Value::Object(out)
}

/// The read of the CSV export.
pub fn export_statements(q: &StatsQuery) -> Vec<Statement> {
    vec![Statement::new(sql::READ_CONVERSIONS_BY_DAY, vec![json!(q.from), json!(q.to)])]
}

/// The CSV export: [`CSV_HEADER`], then per day, event name and source of the day one
/// record per currency its events were valued in (`events`: those events, `revenue`: their
/// sum with the currency's decimals), and one with an empty currency for its events with no
/// value (all of them when none had one). `visitors` is the day's, event's and source's,
/// repeated on each of its records.
pub fn export_csv(results: &[Vec<Value>]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    let rows = results.first().map_or(&[][..], Vec::as_slice);
    for group in runs(rows, &["day", "event", "source", "medium", "campaign"]) {
        let t = Tally::of(group);
        let mut lines: Vec<(u64, &str, String)> = group
            .iter()
            .filter(|r| !text(r, "currency").is_empty())
            .map(|r| (num(r, "events"), text(r, "currency"), revenue::format(amount(r), text(r, "currency"))))
            .collect();
        let valued: u64 = lines.iter().map(|l| l.0).sum();
        if t.events > valued || lines.is_empty() {
            lines.push((t.events.saturating_sub(valued), "", String::new()));
        }
        let r = &group[0];
        let (date, visitors) = (date_of(num(r, "day")), t.visitors.to_string());
        for (events, currency, revenue) in lines {
            out.push_str(&csv::record(&[&date, text(r, "event"), text(r, "source"), text(r, "medium"), text(r, "campaign"), &events.to_string(), &visitors, currency, &revenue]));
        }
    }
    out
}

/// Revenue as shown: `59.98 EUR · 100.00 USD`, or `—`.
pub(super) fn revenue_text(revenue: &Value) -> String {
    let list: Vec<String> = revenue
        .as_array()
        .map(|l| {
            l.iter()
                .map(|r| {
                    let currency = text(r, "currency");
                    let places = revenue::decimals(currency) as usize;
                    format!("{:.places$} {}", r.get("value").and_then(Value::as_f64).unwrap_or(0.0), escape(currency))
                })
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() { "—".into() } else { list.join(" · ") }
}

/// A rate as a percentage: `3.3%`.
fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".into(), |r| format!("{:.1}%", r * 100.0))
}

/// The Conversions panel and the "Sources that sell" table, from [`report`].
pub fn panels(h: &mut String, conversions: &Value) {
    let events = conversions.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
    h.push_str("<section class=\"grid conversions\"><section class=\"card\" data-panel=\"conversions\"><h2>Conversions<span class=\"legend\">events the pages declared</span></h2>");
    if events.is_empty() {
        h.push_str("<p class=\"empty\">No events in this range. They are counted when a page's response carries the tracking header.</p></section>");
    } else {
        h.push_str("<table><tr><th>Event</th><th>Events</th><th>Conv. rate</th><th>Revenue</th></tr>");
        for e in &events {
            let name = escape(text(e, "event_name"));
            let _ = write!(
                h,
                "<tr><td class=\"plain\">{name}</td><td data-event=\"{name}\" data-value=\"{n}\">{shown}</td><td data-rate=\"{name}\">{rate}</td><td data-revenue=\"{name}\">{revenue}</td></tr>",
                n = num(e, "events"),
                shown = thousands(num(e, "events")),
                rate = percent(e.get("conversion_rate").and_then(Value::as_f64)),
                revenue = revenue_text(e.get("revenue").unwrap_or(&Value::Null)),
            );
        }
        h.push_str("</table><p class=\"note\">Conversion rate: visitors who sent the event over visitors with a page view, each counted once per day.</p></section>");
    }
    let sources: Vec<&Value> = conversions
        .get("sources")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter(|s| text(s, "event_name") == ORDER_EVENT).collect())
        .unwrap_or_default();
    h.push_str("<section class=\"card\" data-panel=\"sources-that-sell\"><h2>Sources that sell<span class=\"legend\">orders by the visitor's source of the day</span></h2>");
    if sources.is_empty() {
        h.push_str("<p class=\"empty\">No orders in this range.</p></section></section>");
        return;
    }
    h.push_str("<table><tr><th>Source / campaign</th><th>Orders</th><th>Revenue</th><th>Conv. rate</th></tr>");
    for s in sources.iter().take(super::report::DEFAULT_LIMIT as usize * 2) {
        let mut label = text(s, "source").to_string();
        for part in ["medium", "campaign"] {
            if let Some(v) = s.get(part).and_then(Value::as_str) {
                label.push_str(" / ");
                label.push_str(v);
            }
        }
        let label = escape(&label);
        let _ = write!(
            h,
            "<tr><td class=\"plain\" title=\"{label}\">{label}</td><td data-orders=\"{label}\" data-value=\"{n}\">{shown}</td><td>{revenue}</td><td>{rate}</td></tr>",
            n = num(s, "events"),
            shown = thousands(num(s, "events")),
            revenue = revenue_text(s.get("revenue").unwrap_or(&Value::Null)),
            rate = percent(s.get("conversion_rate").and_then(Value::as_f64)),
        );
    }
    h.push_str("</table></section></section>");
}

/// The revenue of [`ORDER_EVENT`] on `date`, as shown, from [`report`]'s `days`.
pub fn day_revenue(conversions: &Value, date: &str) -> (u64, String) {
    conversions
        .get("days")
        .and_then(Value::as_array)
        .and_then(|days| days.iter().find(|d| text(d, "date") == date && text(d, "event_name") == ORDER_EVENT))
        .map_or((0, "—".into()), |d| (num(d, "events"), revenue_text(d.get("revenue").unwrap_or(&Value::Null))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 20_423; // 2025-12-01

    fn results() -> Vec<Vec<Value>> {
        vec![
            vec![
                json!({"event": "Purchase", "currency": "", "events": 2, "visitors": 2, "revenue": 0}),
                json!({"event": "Purchase", "currency": "EUR", "events": 1, "visitors": 0, "revenue": 59_980}),
                json!({"event": "Purchase", "currency": "USD", "events": 1, "visitors": 0, "revenue": 10_000}),
                json!({"event": "ViewContent", "currency": "", "events": 5, "visitors": 3, "revenue": 0}),
            ],
            vec![
                json!({"source": "google.com", "medium": "", "campaign": "", "event": "", "currency": "", "events": 0, "visitors": 1, "revenue": 0}),
                json!({"source": "google.com", "medium": "", "campaign": "", "event": "Purchase", "currency": "", "events": 1, "visitors": 1, "revenue": 0}),
                json!({"source": "google.com", "medium": "", "campaign": "", "event": "Purchase", "currency": "EUR", "events": 1, "visitors": 0, "revenue": 59_980}),
                json!({"source": "facebook", "medium": "", "campaign": "xmas", "event": "", "currency": "", "events": 0, "visitors": 2, "revenue": 0}),
                json!({"source": "facebook", "medium": "", "campaign": "xmas", "event": "Purchase", "currency": "", "events": 1, "visitors": 1, "revenue": 0}),
                json!({"source": "facebook", "medium": "", "campaign": "xmas", "event": "Purchase", "currency": "USD", "events": 1, "visitors": 0, "revenue": 10_000}),
                json!({"source": "(unknown)", "medium": "", "campaign": "", "event": "ViewContent", "currency": "", "events": 5, "visitors": 3, "revenue": 0}),
            ],
            vec![
                json!({"day": DAY, "event": "Purchase", "currency": "", "events": 2, "revenue": 0}),
                json!({"day": DAY, "event": "Purchase", "currency": "EUR", "events": 1, "revenue": 59_980}),
            ],
            vec![json!({"pageviews": 10, "visitors": 4})],
            vec![json!({"event": "Purchase", "currency": "", "events": 1, "visitors": 1, "revenue": 0}), json!({"event": "Purchase", "currency": "EUR", "events": 1, "visitors": 0, "revenue": 5_000})],
        ]
    }

    #[test]
    fn the_report_has_the_documented_shape_and_exact_figures() {
        let q = StatsQuery { from: DAY, to: DAY, limit: 10 };
        let r = report(&q, &results());
        assert_eq!(statements(&q).len(), results().len());
        assert_eq!(r["events"][0]["event_name"], "ViewContent", "the most frequent first");
        let purchase = &r["events"][1];
        assert_eq!(purchase["events"], 2);
        assert_eq!(purchase["conversion_rate"], 0.5, "2 of the 4 visitors with a page view");
        assert_eq!(purchase["revenue"], json!([{"currency": "EUR", "value": 59.98}, {"currency": "USD", "value": 10.0}]));
        let google = r["sources"].as_array().unwrap().iter().find(|s| s["source"] == "google.com").unwrap();
        assert_eq!(google["conversion_rate"], 1.0);
        assert_eq!(google["medium"], Value::Null);
        let facebook = r["sources"].as_array().unwrap().iter().find(|s| s["source"] == "facebook").unwrap();
        assert_eq!((facebook["campaign"].as_str(), facebook["conversion_rate"].as_f64()), (Some("xmas"), Some(0.5)));
        let unknown = r["sources"].as_array().unwrap().iter().find(|s| s["source"] == "(unknown)").unwrap();
        assert_eq!(unknown["conversion_rate"], Value::Null, "no visitors to divide by");
        assert_eq!(r["days"][0], json!({"date": "2025-12-01", "event_name": "Purchase", "events": 2, "revenue": [{"currency": "EUR", "value": 59.98}]}));
        assert_eq!(r["previous"], json!({"from": "2025-11-30", "to": "2025-11-30", "orders": 1, "revenue": [{"currency": "EUR", "value": 5.0}]}));
        assert_eq!((r["orders"].as_u64(), r["visitors"].as_u64()), (Some(2), Some(4)));
    }

    #[test]
    fn the_previous_period_has_the_same_length() {
        let p = previous(&StatsQuery { from: 100, to: 106, limit: 10 });
        assert_eq!((p.from, p.to), (93, 99));
        let p = previous(&StatsQuery { from: 0, to: 0, limit: 10 });
        assert_eq!((p.from, p.to), (0, 0), "nothing before the epoch");
    }

    #[test]
    fn the_csv_has_a_record_per_currency_and_one_for_events_without_a_value() {
        let row = |event: &str, currency: &str, events: u64, visitors: u64, revenue: i64| {
            json!({"day": DAY, "event": event, "source": "facebook", "medium": "", "campaign": "xmas, 2025", "currency": currency, "events": events, "visitors": visitors, "revenue": revenue})
        };
        let csv = export_csv(&[vec![
            row("Lead", "", 2, 2, 0),
            row("Purchase", "", 3, 2, 0),
            row("Purchase", "EUR", 1, 0, 59_980),
            row("Purchase", "JPY", 1, 0, 1_500_000),
        ]]);
        assert_eq!(
            csv,
            "date,event_name,source,medium,campaign,events,visitors,currency,revenue\r\n\
2025-12-01,Lead,facebook,,\"xmas, 2025\",2,2,,\r\n\
2025-12-01,Purchase,facebook,,\"xmas, 2025\",1,2,EUR,59.98\r\n\
2025-12-01,Purchase,facebook,,\"xmas, 2025\",1,2,JPY,1500\r\n\
2025-12-01,Purchase,facebook,,\"xmas, 2025\",1,2,,\r\n"
        );
    }

    #[test]
    fn panels_show_events_rates_revenue_and_the_sources_that_sell() {
        let q = StatsQuery { from: DAY, to: DAY, limit: 10 };
        let mut h = String::new();
        panels(&mut h, &report(&q, &results()));
        assert!(h.contains("data-event=\"Purchase\" data-value=\"2\""), "{h}");
        assert!(h.contains("59.98 EUR · 10.00 USD"), "{h}");
        assert!(h.contains("facebook / xmas"), "{h}");
        assert!(h.contains("50.0%"));
        let mut none = String::new();
        panels(&mut none, &json!({}));
        assert!(none.contains("No orders in this range"));
    }
}
