//! One JSON object per line, so the dashboard log stream, `wrangler tail` and Workers Logs
//! can filter on its fields. Only paths are logged (queries may hold PII), never a secret.

use serde_json::{Map, Value};

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

/// Renders one line: `{"at":"tagrelay","level":..,"decision":..,"method":..,"path":..,"status":..,"ray":..,<fields>}`.
pub fn render(label: &RequestLabel, decision: Decision, fields: impl IntoIterator<Item = (&'static str, Value)>) -> String {
    let mut line = Map::new();
    line.insert("at".into(), SOURCE.into());
    line.insert("level".into(), decision.level().into());
    line.insert("decision".into(), decision.as_str().into());
    line.insert("method".into(), label.method.clone().into());
    line.insert("path".into(), label.path.clone().into());
    if let Some(status) = label.status {
        line.insert("status".into(), status.into());
    }
    if let Some(ray) = &label.ray {
        line.insert("ray".into(), ray.clone().into());
    }
    for (k, v) in fields {
        line.insert(k.into(), v);
    }
    Value::Object(line).to_string()
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
    }
}
