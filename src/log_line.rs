//! One JSON object per line, so the dashboard log stream, `wrangler tail` and Workers Logs
//! can filter on its fields. Only paths are logged (queries may hold PII), never a secret.

use serde::Serialize;
use serde_json::Value;

/// Value of the `"at"` field, to find this Worker's lines among others.
pub const SOURCE: &str = "tagrelay";

/// The decision a line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Events delivered to Meta.
    Sent,
    /// Events built and logged, not sent.
    DryRun,
    /// Not a human page view.
    Skipped,
    /// Tracking header unusable.
    Rejected,
    /// Delivery gave up.
    Failed,
    /// Tracking is off because of a configuration error.
    Disabled,
    /// The origin could not be reached; the client got a 502.
    OriginError,
    /// The Worker's configuration is invalid; the client got a 502.
    ConfigError,
}

impl Decision {
    /// Stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Sent => "sent",
            Decision::DryRun => "dry_run",
            Decision::Skipped => "skipped",
            Decision::Rejected => "rejected",
            Decision::Failed => "failed",
            Decision::Disabled => "disabled",
            Decision::OriginError => "origin_error",
            Decision::ConfigError => "config_error",
        }
    }

    /// `info`, `warn` or `error`.
    pub fn level(&self) -> &'static str {
        match self {
            Decision::Sent | Decision::DryRun | Decision::Skipped => "info",
            Decision::Rejected | Decision::Disabled => "warn",
            Decision::Failed | Decision::OriginError | Decision::ConfigError => "error",
        }
    }
}

/// What every line about a request says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLabel {
    /// Method.
    pub method: String,
    /// Path, without query.
    pub path: String,
    /// Status returned to the client, when there is one.
    pub status: Option<u16>,
    /// `CF-Ray`, when present.
    pub ray: Option<String>,
}

/// Room for a typical line, so rendering allocates once.
const LINE_CAPACITY: usize = 384;

/// Renders one line: `{"at":"tagrelay","level":..,"decision":..,"method":..,"path":..,"status":..,"ray":..,<fields>}`.
/// Written straight into one buffer (no intermediate map): a line is rendered for every
/// tracked page view. `fields` must not repeat a key or use one of the label's.
pub fn render(label: &RequestLabel, decision: Decision, fields: impl IntoIterator<Item = (&'static str, Value)>) -> String {
    let mut out = Vec::with_capacity(LINE_CAPACITY);
    field(&mut out, "at", SOURCE);
    field(&mut out, "level", decision.level());
    field(&mut out, "decision", decision.as_str());
    field(&mut out, "method", &label.method);
    field(&mut out, "path", &label.path);
    if let Some(status) = label.status {
        field(&mut out, "status", &status);
    }
    if let Some(ray) = &label.ray {
        field(&mut out, "ray", ray);
    }
    for (key, value) in fields {
        field(&mut out, key, &value);
    }
    out.push(b'}');
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `"key":value` to the object being written in `out`.
fn field<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) {
    out.push(if out.is_empty() { b'{' } else { b',' });
    // Serializing strings, numbers and `Value`s into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_one_json_line() {
        let label = RequestLabel { method: "GET".into(), path: "/p/1".into(), status: Some(200), ray: None };
        let line = render(&label, Decision::Rejected, [("reason", json!("bad \"json\"\nx"))]);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v, json!({"at":"tagrelay","level":"warn","decision":"rejected","method":"GET","path":"/p/1","status":200,"reason":"bad \"json\"\nx"}));
        assert!(line.starts_with(r#"{"at":"tagrelay","level":"warn","decision":"rejected""#), "field order: {line}");
        let label = RequestLabel { ray: Some("8f1c-AMS".into()), status: None, ..label };
        let line = render(&label, Decision::Sent, [("events", json!(2)), ("event_ids", json!(["a", "b"]))]);
        assert_eq!(line, r#"{"at":"tagrelay","level":"info","decision":"sent","method":"GET","path":"/p/1","ray":"8f1c-AMS","events":2,"event_ids":["a","b"]}"#);
    }
}
