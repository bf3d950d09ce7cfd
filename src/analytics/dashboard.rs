//! The stats page: one server-rendered HTML document with no script and no external asset
//! (inline CSS and SVG), built from the same report as the JSON API.

use super::values::{num, text};
use serde_json::Value;
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A country code as shown: the code itself, or "Unknown" for `XX` (Cloudflare did not
/// know). Flags are left out: regional-indicator emoji show as boxes or bare letters on
/// many systems.
fn country(code: &str) -> String {
    if code == super::page_view::UNKNOWN_COUNTRY {
        "Unknown".into()
    } else {
        escape(code)
    }
}

const STYLE: &str = r#"
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2433;--muted:#6b7385;--line:#e3e6ec;--pv:#4f6bed;--vis:#12a37f;--bar:#eef1fd}
@media (prefers-color-scheme:dark){:root{--bg:#12151c;--card:#1b1f29;--ink:#e8ebf2;--muted:#9aa3b5;--line:#2b3140;--pv:#7d93ff;--vis:#3fd0a6;--bar:#26304a}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 16px 48px}
header{display:flex;flex-wrap:wrap;gap:12px;align-items:center;justify-content:space-between;margin-bottom:20px}
h1{font-size:20px;margin:0}h1 small{color:var(--muted);font-weight:400}
nav{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
nav a,nav button{padding:6px 12px;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--ink);text-decoration:none;font:inherit;cursor:pointer}
nav a.on{background:var(--pv);border-color:var(--pv);color:#fff}
nav input{padding:5px 8px;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--ink);font:inherit}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:16px}
.tile span{display:block;color:var(--muted);font-size:13px}.tile strong{font-size:28px;font-weight:650}
.now strong::before{content:"";display:inline-block;width:10px;height:10px;border-radius:50%;background:var(--vis);margin-right:8px;vertical-align:middle}
h2{font-size:15px;margin:0 0 12px}
.legend{color:var(--muted);font-size:13px;font-weight:400;margin-left:8px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}
svg{width:100%;height:auto;display:block}svg text{fill:var(--muted);font-size:11px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px;margin-top:16px}
table{width:100%;border-collapse:collapse}th{color:var(--muted);font-weight:500;font-size:12px;text-align:right;padding:4px 6px}th:first-child{text-align:left}
td{padding:5px 6px;text-align:right;font-variant-numeric:tabular-nums}td:first-child{text-align:left;max-width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;background:linear-gradient(90deg,var(--bar) var(--w),transparent var(--w));border-radius:4px}
.empty{color:var(--muted)}
.delivery{margin-top:16px}.delivery td.plain{background:none}.delivery .bad{color:#d64545;font-weight:600}
.delivery td.reason{text-align:left;color:var(--muted);font-size:13px;max-width:320px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.delivery .note{color:var(--muted);font-size:13px;margin:10px 0 0}.delivery .replay button{padding:3px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--ink);font:inherit;cursor:pointer}.delivery details{margin-top:10px}.delivery summary{cursor:pointer;color:var(--muted);font-size:13px}
.tile small.delta{display:block;color:var(--muted);font-size:12px}.tile strong.money{font-size:20px}
.conversions .note{color:var(--muted);font-size:13px;margin:10px 0 0}.conversions td.plain,.revenue td.plain{background:none}.revenue{margin-top:16px}.revenue summary{cursor:pointer;font-weight:600}
.match{margin-top:16px}.match h3{font-size:14px;margin:12px 0 6px}.match .weighted td:first-child{font-weight:600}.match .note{color:var(--muted);font-size:13px;margin:10px 0 0}
footer{margin-top:20px;color:var(--muted);font-size:13px;display:flex;flex-wrap:wrap;gap:16px;justify-content:space-between}footer a{color:var(--pv)}
"#;

/// The stats page for `report` (see `report::report`), `delivery` (see
/// `delivery_report::report`), `matches` (see `match_report::report`) and `conversions` (see
/// `conversion_report::report`), served under
/// `stats_path` for `host`. `range` is the named range asked for (`today`, `7d`, `30d`), if
/// any, to highlight it.
pub fn render(report: &Value, delivery: &Value, matches: &Value, conversions: &Value, stats_path: &str, host: &str, range: Option<&str>) -> String {
    let (from, to) = (text(report, "from"), text(report, "to"));
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>Stats · {host}</title><style>{STYLE}</style></head><body><main>\
<header><h1>{host} <small>{from} – {to} (UTC)</small></h1><nav>",
        host = escape(host),
        from = escape(from),
        to = escape(to),
    );
    for (name, label) in [("today", "Today"), ("7d", "7 days"), ("30d", "30 days")] {
        let on = if range == Some(name) { " class=\"on\"" } else { "" };
        let _ = write!(h, "<a{on} href=\"{p}/?range={name}\">{label}</a>", p = escape(stats_path));
    }
    let _ = write!(
        h,
        "<form method=\"get\" action=\"{p}/\"><input type=\"date\" name=\"from\" value=\"{from}\" aria-label=\"from\"> \
<input type=\"date\" name=\"to\" value=\"{to}\" aria-label=\"to\"> <button>Show</button></form></nav></header>",
        p = escape(stats_path),
        from = escape(from),
        to = escape(to),
    );
    let per_visit = report.get("views_per_visit").and_then(Value::as_f64).unwrap_or(0.0);
    let previous = report.get("previous").cloned().unwrap_or(Value::Null);
    let before = |key: &str| previous.get(key).and_then(Value::as_f64);
    let orders = num(conversions, "orders");
    let conversions_before = conversions.get("previous").cloned().unwrap_or(Value::Null);
    h.push_str("<section class=\"tiles\">");
    for (key, label, value, shown, was) in [
        ("pageviews", "Page views", num(report, "pageviews") as f64, thousands(num(report, "pageviews")), before("pageviews")),
        ("visitors", "Visitors", num(report, "visitors") as f64, thousands(num(report, "visitors")), before("visitors")),
        ("views_per_visit", "Views per visit", per_visit, format!("{per_visit:.2}"), before("views_per_visit")),
        ("orders", "Orders", orders as f64, thousands(orders), conversions_before.get("orders").and_then(Value::as_f64)),
        ("now", "Visitors now (last 5 min)", num(report, "now") as f64, thousands(num(report, "now")), None),
    ] {
        let class = if key == "now" { "card tile now" } else { "card tile" };
        let _ = write!(h, "<div class=\"{class}\"><span>{label}</span><strong data-stat=\"{key}\" data-value=\"{value}\">{shown}</strong>");
        if let Some(was) = was {
            let _ = write!(h, "<small class=\"delta\" data-delta=\"{key}\" title=\"against {}\">{}</small>", period_before(report), change(value, was));
        }
        h.push_str("</div>");
    }
    let _ = write!(
        h,
        "<div class=\"card tile\"><span>Revenue (orders)</span><strong class=\"money\" data-stat=\"revenue\">{}</strong><small class=\"delta\" title=\"the period before\">before: {}</small></div>",
        super::conversion_report::revenue_text(conversions.get("revenue").unwrap_or(&Value::Null)),
        super::conversion_report::revenue_text(conversions_before.get("revenue").unwrap_or(&Value::Null)),
    );
    h.push_str("</section>");
    chart(&mut h, report, from == to);
    super::conversion_report::panels(&mut h, conversions);
    revenue_per_day(&mut h, report, conversions);
    h.push_str("<section class=\"grid\">");
    for (key, label, title) in [
        ("pages", "path", "Top pages"),
        ("referrers", "source", "Referrers"),
        ("campaigns", "campaign", "UTM campaigns"),
        ("countries", "country", "Countries"),
        ("devices", "device", "Devices"),
    ] {
        table(&mut h, report, key, label, title);
    }
    h.push_str("</section>");
    delivery_panel(&mut h, delivery, stats_path);
    super::match_report::panel(&mut h, matches);
    let _ = write!(
        h,
        "<footer><span>Counted at the edge: no script, no cookie, no stored IP. Visitors over a range count each visitor once per day, summed over days.</span>\
<span>Download <a href=\"{p}/export.csv?from={from}&amp;to={to}\" download>CSV</a> · <a href=\"{p}/export-conversions.csv?from={from}&amp;to={to}\" download>Conversions CSV</a> · <a href=\"{p}/api/stats?from={from}&amp;to={to}\">JSON</a> · <a href=\"{p}/api/conversions?from={from}&amp;to={to}\">Conversions JSON</a> · <a href=\"{p}/api/delivery?from={from}&amp;to={to}\">Delivery JSON</a> · <a href=\"{p}/api/match?from={from}&amp;to={to}\">Match JSON</a></span></footer></main></body></html>",
        p = escape(stats_path),
        from = escape(from),
        to = escape(to),
    );
    h
}

/// The change from `was` to `now`: `+12%`, `−5%`, `±0%`, or `new` when there was nothing.
pub(super) fn change(now: f64, was: f64) -> String {
    if was <= 0.0 {
        return if now > 0.0 { "new".into() } else { "±0%".into() };
    }
    let pct = ((now - was) / was * 100.0).round();
    match pct {
        p if p > 0.0 => format!("+{p:.0}%"),
        p if p < 0.0 => format!("−{:.0}%", -p),
        _ => "±0%".into(),
    }
}

/// What a change is measured against: "the day before" or "the 7 days before".
fn period_before(report: &Value) -> String {
    match report.get("days").and_then(Value::as_array).map_or(0, Vec::len) {
        1 => "the day before".into(),
        n => format!("the {n} days before"),
    }
}

/// Page views, orders and revenue per day, newest first.
fn revenue_per_day(h: &mut String, report: &Value, conversions: &Value) {
    let days = report.get("days").and_then(Value::as_array).cloned().unwrap_or_default();
    h.push_str("<section class=\"card revenue\" data-panel=\"revenue-per-day\"><details open><summary>Revenue per day</summary><table><tr><th>Date</th><th>Page views</th><th>Visitors</th><th>Orders</th><th>Revenue</th></tr>");
    for d in days.iter().rev() {
        let date = text(d, "date");
        let (orders, revenue) = super::conversion_report::day_revenue(conversions, date);
        let _ = write!(
            h,
            "<tr><td class=\"plain\">{date}</td><td>{pv}</td><td>{vis}</td><td data-day-orders=\"{date}\">{orders}</td><td data-day-revenue=\"{date}\">{revenue}</td></tr>",
            date = escape(date),
            pv = thousands(num(d, "pageviews")),
            vis = thousands(num(d, "visitors")),
            orders = thousands(orders),
        );
    }
    h.push_str("</table></details></section>");
}

/// Bars of page views and a line of visitors, per day (or per hour for a single day).
fn chart(h: &mut String, report: &Value, hourly: bool) {
    let points: Vec<(String, u64, u64)> = if hourly {
        let hours = report.get("hours").and_then(Value::as_array).cloned().unwrap_or_default();
        (0..24u64)
            .map(|hour| {
                let row = hours.iter().find(|r| num(r, "hour") == hour).cloned().unwrap_or(Value::Null);
                (format!("{hour:02}h"), num(&row, "pageviews"), num(&row, "visitors"))
            })
            .collect()
    } else {
        report
            .get("days")
            .and_then(Value::as_array)
            .map(|days| days.iter().map(|d| (text(d, "date").get(5..).unwrap_or("").to_string(), num(d, "pageviews"), num(d, "visitors"))).collect())
            .unwrap_or_default()
    };
    let (w, ht, left, bottom, top) = (1000.0_f64, 260.0_f64, 44.0_f64, 24.0_f64, 12.0_f64);
    let max = points.iter().map(|p| p.1.max(p.2)).max().unwrap_or(0).max(1) as f64;
    let n = points.len().max(1) as f64;
    let slot = (w - left) / n;
    let y = |v: u64| top + (ht - top - bottom) * (1.0 - v as f64 / max);
    let _ = write!(
        h,
        "<section class=\"card\"><h2>{}<span class=\"legend\"><i style=\"background:var(--pv)\"></i>page views<i style=\"background:var(--vis)\"></i>visitors</span></h2>\
<svg viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"page views and visitors\">",
        if hourly { "Per hour (UTC)" } else { "Per day" }
    );
    for frac in [0.0, 0.5, 1.0] {
        let v = (max * frac).round() as u64;
        let _ = write!(h, "<line x1=\"{left}\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"var(--line)\"/><text x=\"{x}\" y=\"{ty:.1}\" text-anchor=\"end\">{v}</text>", y = y(v), x = left - 6.0, ty = y(v) + 4.0, v = thousands(v));
    }
    let label_every = ((n / 12.0).ceil() as usize).max(1);
    let mut line = String::new();
    for (i, (label, pv, vis)) in points.iter().enumerate() {
        let x = left + slot * i as f64;
        let bar_w = (slot * 0.7).max(1.0);
        let _ = write!(h, "<rect x=\"{bx:.1}\" y=\"{by:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" rx=\"2\" fill=\"var(--pv)\" opacity=\"0.85\"><title>{label}: {pv} page views, {vis} visitors</title></rect>", bx = x + slot * 0.15, by = y(*pv), bh = (ht - bottom - y(*pv)).max(0.0), label = escape(label));
        let cx = x + slot / 2.0;
        let _ = write!(line, "{cx:.1},{cy:.1} ", cy = y(*vis));
        if i % label_every == 0 {
            let _ = write!(h, "<text x=\"{cx:.1}\" y=\"{ly}\" text-anchor=\"middle\">{}</text>", escape(label), ly = ht - 6.0);
        }
    }
    let _ = write!(h, "<polyline points=\"{line}\" fill=\"none\" stroke=\"var(--vis)\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/></svg></section>");
}

/// The Delivery panel's columns: outcome code and heading.
const OUTCOME_COLUMNS: [(&str, &str); 6] =
    [("sent", "Sent"), ("failed", "Failed"), ("dead_lettered", "Dead-lettered"), ("rejected", "Rejected"), ("skipped", "Skipped"), ("dry_run", "Dry run")];

/// What became of the events, per destination: outcome totals with the last failure's
/// reason, the rules that skipped them, and the events sent per day.
fn delivery_panel(h: &mut String, delivery: &Value, stats_path: &str) {
    let destinations = delivery.get("destinations").and_then(Value::as_array).cloned().unwrap_or_default();
    h.push_str("<section class=\"card delivery\" data-panel=\"delivery\"><h2>Delivery<span class=\"legend\">events per ad platform</span></h2>");
    if destinations.is_empty() {
        h.push_str("<p class=\"empty\">No events in this range. Events are counted when a page's response carries the tracking header.</p></section>");
        return;
    }
    h.push_str("<table><tr><th>Destination</th>");
    for (_, heading) in OUTCOME_COLUMNS {
        let _ = write!(h, "<th>{heading}</th>");
    }
    h.push_str("<th>Last failure</th></tr>");
    for d in &destinations {
        let name = escape(text(d, "destination"));
        let _ = write!(h, "<tr><td class=\"plain\">{name}</td>");
        for (code, _) in OUTCOME_COLUMNS {
            let n = num(d, code);
            let class = if n > 0 && matches!(code, "failed" | "dead_lettered") { " class=\"bad\"" } else { "" };
            let _ = write!(h, "<td{class} data-delivery=\"{name}\" data-outcome=\"{code}\" data-value=\"{n}\">{}</td>", thousands(n));
        }
        match d.get("last_failure").filter(|f| !f.is_null()) {
            Some(f) => {
                let _ = write!(
                    h,
                    "<td class=\"reason\" title=\"{r}\">{at} · {event}: {r}</td></tr>",
                    at = escape(text(f, "at").get(..16).unwrap_or("").replace('T', " ").as_str()),
                    event = escape(text(f, "event")),
                    r = escape(text(f, "reason")),
                );
            }
            None => h.push_str("<td class=\"reason\">—</td></tr>"),
        }
    }
    h.push_str("</table>");
    let mut skips = Vec::new();
    for d in &destinations {
        let rules = d.get("skipped_rules").and_then(Value::as_array).cloned().unwrap_or_default();
        if !rules.is_empty() {
            let list: Vec<String> = rules.iter().map(|r| format!("{} {}", escape(text(r, "rule")), thousands(num(r, "events")))).collect();
            skips.push(format!("<b>{}</b>: {}", escape(text(d, "destination")), list.join(", ")));
        }
    }
    if !skips.is_empty() {
        let _ = write!(h, "<p class=\"note\">Skipped by rule (docs/configuration.md and docs/consent.md): {}</p>", skips.join("; "));
    }
    // Dead letters waiting: a button per destination puts them back on the queue (a plain
    // form: the page has no script).
    for d in &destinations {
        let kept = d.get("dead_letters_kept").cloned().unwrap_or(Value::Null);
        if num(&kept, "messages") == 0 {
            continue;
        }
        let name = escape(text(d, "destination"));
        let _ = write!(
            h,
            "<form class=\"note replay\" method=\"post\" action=\"{p}/api/dead-letters/replay?destination={name}&amp;then=page\">\
<span class=\"bad\" data-dead-letters=\"{name}\" data-value=\"{events}\">{events_shown} {name} events</span> in {messages} dead letters are kept for 7 days. \
Once the cause is fixed (the last failure says what it was), <button>Replay {name}</button></form>",
            p = escape(stats_path),
            events = num(&kept, "events"),
            events_shown = thousands(num(&kept, "events")),
            messages = thousands(num(&kept, "messages")),
        );
    }
    // Sent per day, one column per destination (failures beside, when there are any).
    let days = destinations.first().and_then(|d| d.get("days")).and_then(Value::as_array).map_or(0, Vec::len);
    h.push_str("<details><summary>Per day</summary><table><tr><th>Date</th>");
    for d in &destinations {
        let _ = write!(h, "<th>{} sent</th>", escape(text(d, "destination")));
    }
    h.push_str("</tr>");
    for i in (0..days).rev() {
        let date = destinations[0]["days"][i].get("date").and_then(Value::as_str).unwrap_or("");
        let _ = write!(h, "<tr><td class=\"plain\">{}</td>", escape(date));
        for d in &destinations {
            let day = &d["days"][i];
            let failed = num(day, "failed") + num(day, "dead_lettered");
            let extra = if failed > 0 { format!(" <span class=\"bad\">({} failed)</span>", thousands(failed)) } else { String::new() };
            let _ = write!(h, "<td>{}{extra}</td>", thousands(num(day, "sent")));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></details></section>");
}

/// One top list as a table with proportional bars.
fn table(h: &mut String, report: &Value, key: &str, label: &str, title: &str) {
    let rows = report.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let _ = write!(h, "<section class=\"card\" data-list=\"{key}\"><h2>{title}</h2>");
    if rows.is_empty() {
        h.push_str("<p class=\"empty\">Nothing yet in this range.</p></section>");
        return;
    }
    let max = rows.iter().map(|r| num(r, "pageviews")).max().unwrap_or(1).max(1) as f64;
    h.push_str("<table><tr><th></th><th>Visitors</th><th>Views</th></tr>");
    for r in &rows {
        let name = text(r, label);
        let shown = match key {
            "countries" => country(name),
            _ => escape(name),
        };
        let pct = num(r, "pageviews") as f64 / max * 100.0;
        let _ = write!(
            h,
            "<tr><td style=\"--w:{pct:.0}%\" title=\"{t}\">{shown}</td><td>{v}</td><td>{p}</td></tr>",
            t = escape(name),
            v = thousands(num(r, "visitors")),
            p = thousands(num(r, "pageviews")),
        );
    }
    h.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({"from":"2025-11-25","to":"2025-12-01","pageviews":1234,"visitors":56,"views_per_visit":22.04,"now":3,
            "days":[{"date":"2025-11-25","pageviews":1234,"visitors":56}],
            "pages":[{"path":"/<script>alert(1)</script>","pageviews":10,"visitors":2}],
            "referrers":[],"countries":[{"country":"IT","pageviews":3,"visitors":1}],"devices":[],"campaigns":[],"hours":[]})
    }

    #[test]
    fn totals_are_machine_readable_and_text_is_escaped() {
        let page = render(&report(), &json!({"destinations": []}), &json!({"destinations": []}), &json!({}), "/_tagrelay", "shop.example", Some("7d"));
        assert!(page.contains("data-stat=\"pageviews\" data-value=\"1234\">1,234<"));
        assert!(page.contains("data-stat=\"visitors\" data-value=\"56\">56<"));
        assert!(!page.contains("<script>"), "paths are escaped");
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains(">IT<"));
        assert!(page.contains("class=\"on\" href=\"/_tagrelay/?range=7d\""));
        assert!(page.contains("/_tagrelay/export.csv?from=2025-11-25&amp;to=2025-12-01"));
        assert!(!page.contains("http://") && !page.contains("https://"), "no external asset");
    }

    #[test]
    fn delivery_panel_shows_each_destination_and_its_last_failure() {
        let delivery = json!({"from":"2025-11-30","to":"2025-12-01","destinations":[{"destination":"meta","sent":1500,"failed":2,"dead_lettered":0,"rejected":0,"skipped":3,"dry_run":0,
            "days":[{"date":"2025-11-30","sent":500,"failed":0,"dead_lettered":0},{"date":"2025-12-01","sent":1000,"failed":2,"dead_lettered":0}],
            "skipped_rules":[{"rule":"consent_denied","events":3}],"dead_letters_kept":{"messages":2,"events":7},
            "last_failure":{"at":"2025-12-01T10:11:12Z","outcome":"failed","event":"Purchase","reason":"<b>expired</b> token"}}]});
        let page = render(&report(), &delivery, &json!({}), &json!({}), "/_tagrelay", "shop.example", None);
        assert!(page.contains("data-delivery=\"meta\" data-outcome=\"sent\" data-value=\"1500\">1,500<"));
        assert!(page.contains("data-outcome=\"failed\" data-value=\"2\">2<"));
        assert!(page.contains("2025-12-01 10:11 · Purchase: &lt;b&gt;expired&lt;/b&gt; token"));
        assert!(page.contains("consent_denied 3"));
        assert!(page.contains("action=\"/_tagrelay/api/dead-letters/replay?destination=meta&amp;then=page\""));
        assert!(page.contains("data-dead-letters=\"meta\" data-value=\"7\""));
        assert!(page.contains("1,000 <span class=\"bad\">(2 failed)</span>"));
        assert!(page.find("2025-12-01</td>") < page.find("2025-11-30</td>"), "newest day first");
        let none = render(&report(), &json!({"destinations": []}), &json!({"destinations": []}), &json!({}), "/_tagrelay", "shop.example", None);
        assert!(none.contains("No events in this range"));
    }

    #[test]
    fn each_total_shows_its_change_from_the_period_before_and_revenue_per_day() {
        let mut r = report();
        r["previous"] = json!({"from":"2025-11-18","to":"2025-11-24","pageviews":1000,"visitors":60,"views_per_visit":16.67});
        let conversions = json!({"orders": 3, "revenue": [{"currency": "EUR", "value": 59.98}], "previous": {"orders": 0, "revenue": []},
            "days": [{"date": "2025-11-25", "event_name": "Purchase", "events": 3, "revenue": [{"currency": "EUR", "value": 59.98}]}]});
        let page = render(&r, &json!({}), &json!({}), &conversions, "/_tagrelay", "shop.example", None);
        assert!(page.contains("data-delta=\"pageviews\" title=\"against the day before\">+23%<"), "{page}");
        assert!(page.contains("data-delta=\"visitors\" title=\"against the day before\">−7%<"));
        assert!(page.contains("data-delta=\"orders\" title=\"against the day before\">new<"));
        assert!(page.contains("data-stat=\"revenue\">59.98 EUR<"));
        assert!(page.contains("data-day-orders=\"2025-11-25\">3<") && page.contains("data-day-revenue=\"2025-11-25\">59.98 EUR<"));
        assert_eq!((change(5.0, 5.0), change(0.0, 0.0), change(1.0, 4.0)), ("±0%".into(), "±0%".into(), "−75%".into()));
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(country("XX"), "Unknown");
        assert_eq!(country("IT"), "IT");
    }
}
