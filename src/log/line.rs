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
    /// An event was sent without the `contents` items that had no `id`.
    Trimmed,
    /// Delivery gave up.
    Failed,
    /// Tracking is off because of a configuration error.
    Disabled,
    /// The origin could not be reached; the client got a 502.
    OriginError,
    /// The Worker's configuration is invalid; the client got a 502.
    ConfigError,
    /// A batch window whose opener never sent it was taken over by a later page view.
    BatchRecovered,
    /// A consent cookie could not be read: it counts as no signal.
    ConsentUnreadable,
    /// A TC string older than TCF v2.2 was read (logged once per isolate).
    ConsentOutdated,
    /// A `_tr_ud` cookie was not used: bad signature or shape (logged once per isolate).
    UserDataIgnored,
    /// An isolate's page-view counts were written to D1.
    StatsFlushed,
    /// Writing page-view counts to D1 failed; they are kept for the next flush.
    StatsFlushFailed,
    /// Page-view counts were lost (D1 failed for too long, or memory was full).
    StatsLost,
    /// Page views are not counted (`ANALYTICS=off`, no D1 binding, or a setting's error).
    StatsOff,
    /// The daily cron deleted expired stats rows (or failed to).
    StatsCleaned,
    /// The stats could not be read from D1; the client got a 503.
    StatsError,
    /// Events were put on the delivery queue; the queue consumer logs `sent` or `failed`.
    Queued,
    /// Putting events on the queue failed: they are delivered directly instead.
    QueueFailed,
    /// A queued delivery failed for now: the queue tries the message again later.
    Retrying,
    /// Events whose message was tried the most times the queue allows, now in the dead-letter queue.
    DeadLettered,
    /// Dead letters were put back on the delivery queue.
    Replayed,
}

impl Decision {
    /// Stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Sent => "sent",
            Decision::DryRun => "dry_run",
            Decision::Skipped => "skipped",
            Decision::Rejected => "rejected",
            Decision::Trimmed => "trimmed",
            Decision::Failed => "failed",
            Decision::Disabled => "disabled",
            Decision::OriginError => "origin_error",
            Decision::ConfigError => "config_error",
            Decision::BatchRecovered => "batch_recovered",
            Decision::ConsentUnreadable => "consent_unreadable",
            Decision::ConsentOutdated => "consent_outdated",
            Decision::UserDataIgnored => "user_data_ignored",
            Decision::StatsFlushed => "stats_flushed",
            Decision::StatsFlushFailed => "stats_flush_failed",
            Decision::StatsLost => "stats_lost",
            Decision::StatsOff => "stats_off",
            Decision::StatsCleaned => "stats_cleaned",
            Decision::StatsError => "stats_error",
            Decision::Queued => "queued",
            Decision::QueueFailed => "queue_failed",
            Decision::Retrying => "retrying",
            Decision::DeadLettered => "dead_lettered",
            Decision::Replayed => "replayed",
        }
    }

    /// `info`, `warn` or `error`.
    pub fn level(&self) -> &'static str {
        match self {
            Decision::Sent
            | Decision::DryRun
            | Decision::Skipped
            | Decision::StatsFlushed
            | Decision::StatsOff
            | Decision::StatsCleaned
            | Decision::Queued
            | Decision::Replayed => "info",
            Decision::Rejected
            | Decision::Trimmed
            | Decision::QueueFailed
            | Decision::Retrying
            | Decision::Disabled
            | Decision::BatchRecovered
            | Decision::ConsentUnreadable
            | Decision::ConsentOutdated
            | Decision::UserDataIgnored
            | Decision::StatsFlushFailed => "warn",
            Decision::Failed
            | Decision::OriginError
            | Decision::ConfigError
            | Decision::StatsLost
            | Decision::StatsError
            | Decision::DeadLettered => "error",
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
/// `fields` must not repeat a key or use one of the label's.
pub fn render(label: &RequestLabel, decision: Decision, fields: impl IntoIterator<Item = (&'static str, Value)>) -> String {
    let mut line = Line::new(label, decision);
    for (key, value) in fields {
        line.field(key, &value);
    }
    line.finish()
}

/// Renders a line about work no request is waiting for (a flush of page-view counts, the
/// cron): `{"at":"tagrelay","level":..,"decision":..,<fields>}`, without method and path.
pub fn render_background(decision: Decision, fields: impl IntoIterator<Item = (&'static str, Value)>) -> String {
    let mut line = Line { out: Vec::with_capacity(LINE_CAPACITY), decision };
    line.out.push(b'{');
    write_entry(&mut line.out, "at", SOURCE);
    line.field("level", decision.level()).field("decision", decision.as_str());
    for (key, value) in fields {
        line.field(key, &value);
    }
    line.finish()
}

/// A line being written straight into one buffer (no intermediate map): the label's fields,
/// then others, each key once. A line is written for every tracked page view.
#[derive(Debug)]
pub struct Line {
    out: Vec<u8>,
    decision: Decision,
}

impl Line {
    /// Starts a line with the label's fields.
    pub fn new(label: &RequestLabel, decision: Decision) -> Line {
        let mut line = Line { out: Vec::with_capacity(LINE_CAPACITY), decision };
        line.out.push(b'{');
        write_entry(&mut line.out, "at", SOURCE);
        line.field("level", decision.level()).field("decision", decision.as_str());
        line.field("method", &label.method).field("path", &label.path);
        if let Some(status) = label.status {
            line.field("status", &status);
        }
        if let Some(ray) = &label.ray {
            line.field("ray", ray);
        }
        line
    }

    /// Adds `"key":value`.
    pub fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> &mut Line {
        self.out.push(b',');
        write_entry(&mut self.out, key, value);
        self
    }

    /// Adds fields rendered once for several lines.
    pub fn fields(&mut self, fields: &SharedFields) -> &mut Line {
        self.out.extend_from_slice(&fields.0);
        self
    }

    /// The decision the line reports.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The finished line.
    pub fn finish(mut self) -> String {
        self.out.push(b'}');
        // serde_json writes UTF-8 only.
        String::from_utf8(self.out).unwrap_or_default()
    }
}

/// Fields that several lines share (the outcome of a batch's request), rendered once.
#[derive(Debug, Clone, Default)]
pub struct SharedFields(Vec<u8>);

impl SharedFields {
    /// Renders `fields`.
    pub fn new(fields: impl IntoIterator<Item = (&'static str, Value)>) -> SharedFields {
        let mut out = Vec::new();
        for (key, value) in fields {
            out.push(b',');
            write_entry(&mut out, key, &value);
        }
        SharedFields(out)
    }
}

/// Appends `"key":value`.
fn write_entry<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) {
    // Serializing into a Vec fails only for a map with non-string keys, which no line holds.
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

    #[test]
    fn background_lines_have_no_request() {
        let line = render_background(Decision::StatsFlushed, [("page_views", json!(3))]);
        assert_eq!(line, r#"{"at":"tagrelay","level":"info","decision":"stats_flushed","page_views":3}"#);
        assert_eq!(Decision::StatsLost.level(), "error");
    }

    #[test]
    fn shared_fields_are_rendered_once_and_added_in_place() {
        let label = RequestLabel { method: "GET".into(), path: "/".into(), status: Some(200), ray: None };
        let shared = SharedFields::new([("attempts", json!(1)), ("fbtrace_id", json!("A\"b"))]);
        let mut line = Line::new(&label, Decision::Sent);
        line.field("events", &1).fields(&shared).field("batch_page_views", &2);
        assert_eq!(line.decision(), Decision::Sent);
        let text = line.finish();
        assert_eq!(text, r#"{"at":"tagrelay","level":"info","decision":"sent","method":"GET","path":"/","status":200,"events":1,"attempts":1,"fbtrace_id":"A\"b","batch_page_views":2}"#);
        let mut line = Line::new(&label, Decision::Sent);
        line.fields(&SharedFields::default());
        assert_eq!(serde_json::from_str::<Value>(&line.finish()).unwrap()["status"], 200);
    }
}
