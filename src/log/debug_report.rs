//! The `Tagrelay-Debug` response header, for setting up: when the secret `DEBUG_TOKEN` is set
//! and a request carries `Tagrelay-Debug: <DEBUG_TOKEN>`, its response says what tagrelay
//! decided for each destination. It holds decisions, rules, event names and ids, and reasons:
//! no IP, user agent, cookie value or user data. Without the secret, or with a wrong token,
//! nothing is echoed; the request header never reaches the origin.

use crate::config::parse::same;
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// Secret: the token a request presents in [`HEADER`] to get the report.
pub const VAR_DEBUG_TOKEN: &str = "DEBUG_TOKEN";
/// The request header that asks for the report, and the response header that holds it.
pub const HEADER: &str = "tagrelay-debug";

/// Whether `presented` (the request's [`HEADER`]) matches `token`, compared in constant time;
/// false when either is missing.
pub fn wanted(presented: Option<&str>, token: Option<&str>) -> bool {
    match (presented, token) {
        (Some(p), Some(t)) => same(p.trim(), t),
        _ => false,
    }
}

/// A report being written: a page-level decision, or one entry per destination.
#[derive(Debug, Default)]
pub struct Report {
    page: Map<String, Value>,
    destinations: Vec<Value>,
}

impl Report {
    /// The page view's own decision (`skipped`, `rejected`, `disabled`, `untracked`), with its fields.
    pub fn page(&mut self, decision: &str, fields: impl IntoIterator<Item = (&'static str, Value)>) {
        self.page.insert("decision".into(), json!(decision));
        for (k, v) in fields {
            self.page.insert(k.into(), v);
        }
    }

    /// One destination's decision (`batched`, `sending`, `dry_run`, `skipped`, `rejected`,
    /// `not_listed`, `disabled`), with its fields.
    pub fn destination(&mut self, name: &str, decision: &str, fields: impl IntoIterator<Item = (&'static str, Value)>) {
        let mut entry = Map::new();
        entry.insert("destination".into(), json!(name));
        entry.insert("decision".into(), json!(decision));
        for (k, v) in fields {
            entry.insert(k.into(), v);
        }
        self.destinations.push(Value::Object(entry));
    }

    /// The header value: compact JSON with every non-ASCII character escaped, so any header
    /// stack carries it unchanged.
    pub fn header_value(mut self) -> String {
        if !self.destinations.is_empty() {
            self.page.entry("decision").or_insert(json!("tracked"));
            self.page.insert("destinations".into(), Value::Array(self.destinations));
        }
        ascii_json(&Value::Object(self.page))
    }
}

/// `value` as JSON text with `\uXXXX` escapes for everything outside ASCII.
fn ascii_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_token_gets_a_report() {
        assert!(wanted(Some("s3cret"), Some("s3cret")));
        assert!(wanted(Some(" s3cret "), Some("s3cret")));
        assert!(!wanted(Some("s3cre"), Some("s3cret")));
        assert!(!wanted(None, Some("s3cret")));
        assert!(!wanted(Some("s3cret"), None), "no secret, no report");
    }

    #[test]
    fn the_header_is_ascii_json() {
        let mut r = Report::default();
        r.destination("meta", "batched", [("event_names", json!(["Caffè ★"])), ("event_ids", json!(["e1"]))]);
        r.destination("ga4", "skipped", [("rule", json!("consent_denied"))]);
        let v = r.header_value();
        assert!(v.is_ascii(), "{v}");
        let back: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(back["decision"], "tracked");
        assert_eq!(back["destinations"][0]["event_names"][0], "Caffè ★");
        assert_eq!(back["destinations"][1]["rule"], "consent_denied");
        let mut skipped = Report::default();
        skipped.page("skipped", [("rule", json!("crawler_user_agent"))]);
        assert_eq!(skipped.header_value(), r#"{"decision":"skipped","rule":"crawler_user_agent"}"#);
    }
}
