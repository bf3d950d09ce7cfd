//! Decoding and validating the origin's tracking header.
//!
//! The value is a JSON object, a JSON array of objects, or either of those base64url-encoded
//! (padding optional; the standard `+/` alphabet is accepted too). JSON starts with `{` or `[`
//! and base64 never does, so the form is detected from the first byte. When the origin sends
//! the header several times, the runtime joins the values with `, `; each part is decoded and
//! the events are concatenated. Any invalid part rejects the whole header with a reason.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

/// Largest accepted header, decoded, in bytes.
pub const MAX_DECODED_BYTES: usize = 16 * 1024;
/// What a `destinations` field must be. Which names are destinations' is checked by the
/// tracking decision, which knows them (`crate::destinations::registry`).
pub const DESTINATIONS_EXPECTED: &str = "an array of destination names";
/// Most events accepted in one header (the Conversions API takes up to 1,000 per request).
pub const MAX_EVENTS: usize = 100;
/// Longest accepted `event_name`, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 100;
/// Longest accepted `event_id`, in characters.
pub const MAX_EVENT_ID_CHARS: usize = 256;
/// Raw user data keys the origin may send; each is normalized and hashed before sending.
pub const USER_DATA_KEYS: [&str; 11] = ["em", "ph", "fn", "ln", "ct", "st", "zp", "country", "db", "ge", "external_id"];
/// `action_source` values the Conversions API accepts.
pub const ACTION_SOURCES: [&str; 9] = [
    "website", "email", "app", "phone_call", "chat", "physical_store", "system_generated", "business_messaging", "other",
];

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a tracking header was rejected. Nothing is sent for a rejected header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The header is present but blank.
    Empty,
    /// The decoded value is larger than [`MAX_DECODED_BYTES`].
    TooLarge { bytes: usize },
    /// Not JSON, and not valid base64url either.
    BadBase64 { reason: String },
    /// The bytes are not UTF-8 text.
    NotUtf8,
    /// Not valid JSON.
    BadJson { reason: String },
    /// An empty array: no event to send.
    NoEvents,
    /// More than [`MAX_EVENTS`] events.
    TooManyEvents { count: usize },
    /// Event number `index` (0-based) is not a JSON object.
    NotAnObject { index: usize },
    /// Event `index` has no usable `event_name`.
    MissingEventName { index: usize },
    /// A field of event `index` has the wrong type or form.
    InvalidField { index: usize, field: String, expected: Cow<'static, str> },
}

impl DecodeError {
    /// A short stable code for logs and dashboards.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::BadBase64 { .. } => "bad_base64",
            DecodeError::NotUtf8 => "not_utf8",
            DecodeError::BadJson { .. } => "bad_json",
            DecodeError::NoEvents => "no_events",
            DecodeError::TooManyEvents { .. } => "too_many_events",
            DecodeError::NotAnObject { .. } => "not_an_object",
            DecodeError::MissingEventName { .. } => "missing_event_name",
            DecodeError::InvalidField { .. } => "invalid_field",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "the tracking header is empty; send a JSON object or remove the header"),
            DecodeError::TooLarge { bytes } => write!(f, "the tracking header is {bytes} bytes decoded, over the {MAX_DECODED_BYTES}-byte limit; send fewer or smaller events"),
            DecodeError::BadBase64 { reason } => write!(f, "the tracking header is neither JSON (starting with {{ or [) nor valid base64url: {reason}"),
            DecodeError::NotUtf8 => write!(f, "the tracking header is not UTF-8; base64url-encode non-ASCII JSON"),
            DecodeError::BadJson { reason } => write!(f, "the tracking header is not valid JSON: {reason}"),
            DecodeError::NoEvents => write!(f, "the tracking header holds an empty array; send at least one event"),
            DecodeError::TooManyEvents { count } => write!(f, "the tracking header holds {count} events, over the limit of {MAX_EVENTS}"),
            DecodeError::NotAnObject { index } => write!(f, "event {index} is not a JSON object"),
            DecodeError::MissingEventName { index } => write!(f, "event {index} has no event_name; it must be a non-empty string of at most {MAX_EVENT_NAME_CHARS} characters"),
            DecodeError::InvalidField { index, field, expected } => write!(f, "event {index}: {field} must be {expected}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One event as the origin described it, validated; user data still raw.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderEvent {
    /// Standard (`ViewContent`, `Purchase`, ...) or custom event name.
    pub event_name: String,
    /// The origin's deduplication id, if any.
    pub event_id: Option<String>,
    /// `custom_data`, with a top-level `contents` moved in and known fields normalized;
    /// shared, not copied, by the events built from it.
    pub custom_data: Option<Rc<Map<String, Value>>>,
    /// Raw PII by key (`em`, `ph`, ...), each with one or more values.
    pub user_data: Vec<(String, Vec<String>)>,
    /// Overrides the URL the browser asked for.
    pub event_source_url: Option<String>,
    /// Defaults to `website`.
    pub action_source: Option<String>,
    /// Passed through to Meta.
    pub opt_out: Option<bool>,
    /// Passed through: `data_processing_options` (+ `_country`, `_state`).
    pub data_processing: Map<String, Value>,
    /// The destinations this event goes to (`"destinations": ["meta","ga4"]`); `None`: every
    /// configured one.
    pub destinations: Option<Vec<String>>,
    /// How many `contents` items were left out for having no `id` (Meta refuses such items
    /// since April 2026, TikTok its `content_id`-less ones).
    pub contents_without_id: usize,
}

impl HeaderEvent {
    /// Whether the event had `contents` and none of them had an `id`: it is not sent, since
    /// the products it was about are unknown.
    pub fn contents_all_without_id(&self) -> bool {
        self.contents_without_id > 0 && self.custom_data.as_ref().is_none_or(|d| !d.contains_key("contents"))
    }
}

/// Decodes a header value into its events.
pub fn decode(value: &str) -> Result<Vec<HeaderEvent>, DecodeError> {
    let text = header_text(value)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    if text.len() > MAX_DECODED_BYTES * 4 / 3 + 4 {
        return Err(DecodeError::TooLarge { bytes: text.len() * 3 / 4 });
    }
    let values = split_parts(text)?;
    if values.is_empty() {
        return Err(DecodeError::NoEvents);
    }
    if values.len() > MAX_EVENTS {
        return Err(DecodeError::TooManyEvents { count: values.len() });
    }
    values.into_iter().enumerate().map(|(i, v)| validate_event(i, v)).collect()
}

fn starts_json(text: &str) -> bool {
    text.starts_with('{') || text.starts_with('[')
}

/// The header as text. workerd decodes header bytes as UTF-8 and turns invalid bytes into
/// U+FFFD, so that character means the origin sent bytes that are not UTF-8: reject rather
/// than send mangled names. Runtimes that hand values over as Latin-1 (one char per byte) get
/// their bytes rebuilt and read as UTF-8, so raw UTF-8 JSON works there too.
fn header_text(value: &str) -> Result<std::borrow::Cow<'_, str>, DecodeError> {
    if value.contains(char::REPLACEMENT_CHARACTER) {
        return Err(DecodeError::NotUtf8);
    }
    if value.is_ascii() || value.chars().any(|c| c as u32 > 0xFF) {
        return Ok(value.into());
    }
    let bytes: Vec<u8> = value.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8(bytes).map(Into::into).map_err(|_| DecodeError::NotUtf8)
}

/// Splits a value that may be several header values joined by `, ` (any mix of JSON and
/// base64url) into a flat list of events. A JSON part ends where its value ends; a base64
/// part at the next comma (base64 has none).
fn split_parts(text: &str) -> Result<Vec<Value>, DecodeError> {
    let flatten = |v: Value| match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut events = Vec::new();
    let mut decoded_total = 0;
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Err(DecodeError::BadJson { reason: "empty value after a comma".into() });
        }
        let (value, consumed) = if starts_json(rest) {
            let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
            let value = match stream.next() {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(DecodeError::BadJson { reason: e.to_string() }),
                None => return Err(DecodeError::Empty),
            };
            decoded_total += stream.byte_offset();
            (value, stream.byte_offset())
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let part = rest[..end].trim();
            let normalized: String = part.chars().map(|c| match c { '+' => '-', '/' => '_', c => c }).collect();
            let bytes = BASE64.decode(normalized.as_bytes()).map_err(|e| DecodeError::BadBase64 { reason: e.to_string() })?;
            decoded_total += bytes.len();
            if decoded_total > MAX_DECODED_BYTES {
                return Err(DecodeError::TooLarge { bytes: decoded_total });
            }
            let json = String::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?;
            let json = json.trim();
            if !starts_json(json) {
                return Err(DecodeError::BadJson { reason: "decoded base64 does not start with { or [".into() });
            }
            let value = serde_json::from_str(json).map_err(|e| DecodeError::BadJson { reason: e.to_string() })?;
            (value, end)
        };
        if decoded_total > MAX_DECODED_BYTES {
            return Err(DecodeError::TooLarge { bytes: decoded_total });
        }
        events.extend(flatten(value));
        rest = rest[consumed..].trim_start();
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None if rest.is_empty() => return Ok(events),
            None => return Err(DecodeError::BadJson { reason: format!("unexpected text after a value: {:.20}", rest) }),
        }
    }
}

fn invalid(index: usize, field: impl Into<String>, expected: &'static str) -> DecodeError {
    DecodeError::InvalidField { index, field: field.into(), expected: Cow::Borrowed(expected) }
}

fn validate_event(index: usize, value: Value) -> Result<HeaderEvent, DecodeError> {
    let Value::Object(mut obj) = value else { return Err(DecodeError::NotAnObject { index }) };
    let event_name = match obj.remove("event_name") {
        Some(Value::String(s)) if valid_name(&s) => s.trim().to_string(),
        _ => return Err(DecodeError::MissingEventName { index }),
    };
    let event_id = match obj.remove("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_EVENT_ID_CHARS && !s.chars().any(char::is_control) => Some(s.trim().to_string()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Some(_) => return Err(invalid(index, "event_id", "a non-empty string or an integer")),
    };
    let mut custom_data = match obj.remove("custom_data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(invalid(index, "custom_data", "an object")),
    };
    match obj.remove("contents") {
        None | Some(Value::Null) => {}
        Some(contents @ Value::Array(_)) => {
            let data = custom_data.get_or_insert_with(Map::new);
            data.entry("contents").or_insert(contents);
        }
        Some(_) => return Err(invalid(index, "contents", "an array of objects")),
    }
    let contents_without_id = match custom_data.as_mut() {
        Some(data) => normalize_custom_data(index, data)?,
        None => 0,
    };
    let user_data = match obj.remove("user_data") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => raw_user_data(index, m)?,
        Some(_) => return Err(invalid(index, "user_data", "an object")),
    };
    let event_source_url = match obj.remove("event_source_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_http_url(&s) => Some(s),
        Some(_) => return Err(invalid(index, "event_source_url", "an absolute http(s) URL")),
    };
    let action_source = match obj.remove("action_source") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if ACTION_SOURCES.contains(&s.as_str()) => Some(s),
        Some(_) => return Err(invalid(index, "action_source", "one of website, email, app, phone_call, chat, physical_store, system_generated, business_messaging, other")),
    };
    let opt_out = match obj.remove("opt_out") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(invalid(index, "opt_out", "true or false")),
    };
    let mut data_processing = Map::new();
    match obj.remove("data_processing_options") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            data_processing.insert("data_processing_options".into(), Value::Array(items));
        }
        Some(_) => return Err(invalid(index, "data_processing_options", "an array of strings such as [\"LDU\"]")),
    }
    for key in ["data_processing_options_country", "data_processing_options_state"] {
        match obj.remove(key) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.is_i64() => {
                data_processing.insert(key.into(), Value::Number(n));
            }
            Some(_) => return Err(invalid(index, key, "an integer")),
        }
    }
    let destinations = match obj.remove("destinations") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    // Whether each names a destination is checked where destinations are known.
                    Value::String(name) => names.push(name),
                    _ => return Err(invalid(index, "destinations", DESTINATIONS_EXPECTED)),
                }
            }
            Some(names)
        }
        Some(_) => return Err(invalid(index, "destinations", DESTINATIONS_EXPECTED)),
    };
    Ok(HeaderEvent {
        event_name,
        event_id,
        custom_data: custom_data.map(Rc::new),
        user_data,
        event_source_url,
        action_source,
        opt_out,
        data_processing,
        destinations,
        contents_without_id,
    })
}

fn valid_name(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && t.chars().count() <= MAX_EVENT_NAME_CHARS && !t.chars().any(char::is_control)
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > "https://".len() && !s.chars().any(|c| c.is_control() || c == ' ')
}

/// Checks and normalizes the `custom_data` fields Meta types strictly; others pass through.
/// Returns how many `contents` items were left out for having no `id`; when none is left,
/// `contents` is removed.
fn normalize_custom_data(index: usize, data: &mut Map<String, Value>) -> Result<usize, DecodeError> {
    if let Some(v) = data.get_mut("value") {
        let number = match v {
            Value::Number(_) => None,
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => serde_json::Number::from_f64(f).map(Value::Number),
                _ => return Err(invalid(index, "custom_data.value", "a number")),
            },
            _ => return Err(invalid(index, "custom_data.value", "a number")),
        };
        if let Some(n) = number {
            *v = n;
        }
    }
    if let Some(v) = data.get_mut("currency") {
        match v {
            Value::String(s) if s.trim().len() == 3 && s.trim().bytes().all(|b| b.is_ascii_alphabetic()) => {
                *s = s.trim().to_ascii_uppercase();
            }
            _ => return Err(invalid(index, "custom_data.currency", "a 3-letter ISO 4217 code such as EUR")),
        }
    }
    if let Some(v) = data.get_mut("content_ids") {
        let Value::Array(ids) = v else { return Err(invalid(index, "custom_data.content_ids", "an array of strings")) };
        for id in ids.iter_mut() {
            match id {
                Value::String(_) => {}
                Value::Number(n) => *id = Value::String(n.to_string()),
                _ => return Err(invalid(index, "custom_data.content_ids", "an array of strings")),
            }
        }
    }
    let mut without_id = 0;
    if let Some(v) = data.get_mut("contents") {
        let Value::Array(items) = v else { return Err(invalid(index, "contents", "an array of objects, each with an id")) };
        let before = items.len();
        items.retain(|item| item.get("id").is_some_and(|id| id.as_str().map_or(id.is_number(), |s| !s.trim().is_empty())));
        without_id = before - items.len();
        if items.is_empty() && without_id > 0 {
            data.remove("contents");
        }
    }
    if let Some(v) = data.get("num_items") {
        if !v.is_u64() {
            return Err(invalid(index, "custom_data.num_items", "a whole number"));
        }
    }
    Ok(without_id)
}

/// The known raw PII keys, each as one or more strings (numbers are accepted for phone,
/// zip and external id). Unknown keys are ignored: the edge sets IP, agent, fbp and fbc.
fn raw_user_data(index: usize, mut m: Map<String, Value>) -> Result<Vec<(String, Vec<String>)>, DecodeError> {
    let mut out = Vec::new();
    for key in USER_DATA_KEYS {
        let Some(value) = m.remove(key) else { continue };
        let expected = "a string or an array of strings";
        let as_string = |v: Value| match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(invalid(index, format!("user_data.{key}"), expected)),
        };
        let values = match value {
            Value::Null => continue,
            Value::Array(items) => items.into_iter().map(as_string).collect::<Result<Vec<_>, _>>()?,
            other => vec![as_string(other)?],
        };
        if !values.is_empty() {
            out.push((key.to_string(), values));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn plain_json_object() {
        let events = decode(r#"{"event_name":"ViewContent","event_id":"p1","custom_data":{"value":"12.50","currency":"eur","content_ids":[1,"2"]}}"#).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.event_name, "ViewContent");
        assert_eq!(e.event_id.as_deref(), Some("p1"));
        let cd = e.custom_data.as_ref().unwrap();
        assert_eq!(cd["value"], serde_json::json!(12.5));
        assert_eq!(cd["currency"], "EUR");
        assert_eq!(cd["content_ids"], serde_json::json!(["1", "2"]));
    }

    #[test]
    fn array_and_top_level_contents() {
        let events = decode(r#"[{"event_name":"A","contents":[{"id":"x","quantity":2}]},{"event_name":"B","event_id":42}]"#).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].custom_data.as_ref().unwrap()["contents"], serde_json::json!([{"id":"x","quantity":2}]));
        assert_eq!(events[1].event_id.as_deref(), Some("42"));
    }

    #[test]
    fn base64url_with_and_without_padding_and_unicode() {
        let json = r#"{"event_name":"ViewContent","custom_data":{"content_name":"Pecorino Sardo – stagionato ★"}}"#;
        for encoded in [b64(json), base64::engine::general_purpose::URL_SAFE.encode(json), base64::engine::general_purpose::STANDARD.encode(json)] {
            let e = decode(&encoded).unwrap();
            assert_eq!(e[0].custom_data.as_ref().unwrap()["content_name"], "Pecorino Sardo – stagionato ★");
        }
    }

    #[test]
    fn raw_utf8_bytes_seen_as_latin1_are_recovered() {
        let json = r#"{"event_name":"Caffè"}"#;
        let latin1: String = json.bytes().map(|b| b as char).collect();
        assert_eq!(decode(&latin1).unwrap()[0].event_name, "Caffè");
        let invalid: String = "{\"event_name\":\"a\u{e9}\"}".to_string();
        assert_eq!(decode(&invalid).unwrap_err(), DecodeError::NotUtf8);
        assert_eq!(decode("{\"event_name\":\"\u{FFFD}\u{FFFD}\"}").unwrap_err(), DecodeError::NotUtf8);
        assert_eq!(decode("{\"event_name\":\"Caffè ★\"}").unwrap()[0].event_name, "Caffè ★");
    }

    #[test]
    fn repeated_headers_joined_by_the_runtime() {
        let e = decode(r#"{"event_name":"A"}, {"event_name":"B"}"#).unwrap();
        assert_eq!(e.iter().map(|e| e.event_name.as_str()).collect::<Vec<_>>(), ["A", "B"]);
        let joined = format!("{}, {}", b64(r#"{"event_name":"A"}"#), b64(r#"[{"event_name":"B"},{"event_name":"C"}]"#));
        assert_eq!(decode(&joined).unwrap().len(), 3);
        assert_eq!(decode(&format!("{}, !!", b64(r#"{"event_name":"A"}"#))).unwrap_err().code(), "bad_base64");
        let mixed = format!(r#"{{"event_name":"A","custom_data":{{"note":"a, b"}}}}, {}, [{{"event_name":"C"}}]"#, b64(r#"{"event_name":"B"}"#));
        assert_eq!(decode(&mixed).unwrap().iter().map(|e| e.event_name.as_str()).collect::<Vec<_>>(), ["A", "B", "C"]);
        assert_eq!(decode(r#"{"event_name":"A"} {"event_name":"B"}"#).unwrap_err().code(), "bad_json");
        assert_eq!(decode(r#"{"event_name":"A"},"#).unwrap_err().code(), "bad_json");
    }

    #[test]
    fn rejections_have_reasons() {
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            ("   ".into(), "empty"),
            ("{not json".into(), "bad_json"),
            ("@@@".into(), "bad_base64"),
            (b64("hello"), "bad_json"),
            ("[]".into(), "no_events"),
            ("[1]".into(), "not_an_object"),
            ("{}".into(), "missing_event_name"),
            (r#"{"event_name":""}"#.into(), "missing_event_name"),
            (r#"{"event_name":5}"#.into(), "missing_event_name"),
            (r#"{"event_name":"A","custom_data":[]}"#.into(), "invalid_field"),
            (r#"{"event_name":"A","custom_data":{"value":"abc"}}"#.into(), "invalid_field"),
            (r#"{"event_name":"A","custom_data":{"currency":"EURO"}}"#.into(), "invalid_field"),
            (r#"{"event_name":"A","user_data":{"em":{"x":1}}}"#.into(), "invalid_field"),
            (r#"{"event_name":"A","event_id":{}}"#.into(), "invalid_field"),
            (r#"{"event_name":"A","event_source_url":"javascript:alert(1)"}"#.into(), "invalid_field"),
            (r#"{"event_name":"A","action_source":"tv"}"#.into(), "invalid_field"),
            (r#"{"event_name":"A","contents":{"id":1}}"#.into(), "invalid_field"),
            (format!("[{}]", vec![r#"{"event_name":"A"}"#; MAX_EVENTS + 1].join(",")), "too_many_events"),
            (format!(r#"{{"event_name":"{}"}}"#, "a".repeat(MAX_DECODED_BYTES)), "too_large"),
            (format!("{}{}", "[".repeat(200), "]".repeat(200)), "bad_json"),
        ];
        for (input, code) in cases {
            let err = decode(&input).unwrap_err();
            assert_eq!(err.code(), code, "{input:.80} -> {err}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn contents_items_without_an_id_are_left_out() {
        let e = decode(r#"[{"event_name":"A","contents":[{"id":"x"},{"quantity":1},{"id":""},7,{"id":3}]},{"event_name":"B","custom_data":{"contents":[{"quantity":1}],"value":5}}]"#).unwrap();
        assert_eq!(e[0].custom_data.as_ref().unwrap()["contents"], serde_json::json!([{"id":"x"},{"id":3}]));
        assert_eq!((e[0].contents_without_id, e[0].contents_all_without_id()), (3, false));
        assert_eq!(e[1].custom_data.as_ref().unwrap().get("contents"), None, "none left: removed");
        assert_eq!((e[1].contents_without_id, e[1].contents_all_without_id()), (1, true));
        let plain = decode(r#"{"event_name":"C","contents":[]}"#).unwrap();
        assert!(!plain[0].contents_all_without_id(), "an empty list lost nothing");
    }

    #[test]
    fn an_event_may_name_its_destinations() {
        let e = decode(r#"[{"event_name":"A","destinations":["meta","ga4"]},{"event_name":"B"}]"#).unwrap();
        assert_eq!(e[0].destinations, Some(vec!["meta".to_string(), "ga4".to_string()]));
        assert_eq!(e[1].destinations, None);
        for bad in [r#"{"event_name":"A","destinations":"meta"}"#, r#"{"event_name":"A","destinations":[1]}"#] {
            let err = decode(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_field");
            assert!(err.to_string().contains("destinations must be an array of destination names"), "{err}");
        }
        // Any name decodes; the tracking decision rejects one that names no destination.
        assert_eq!(decode(r#"{"event_name":"A","destinations":["facebook"]}"#).unwrap()[0].destinations, Some(vec!["facebook".into()]));
    }

    #[test]
    fn user_data_keys_are_collected_and_unknown_ignored() {
        let e = decode(r#"{"event_name":"A","user_data":{"em":["a@b.c","d@e.f"],"ph":4915112345,"client_ip_address":"1.2.3.4","fn":null}}"#).unwrap();
        assert_eq!(e[0].user_data, vec![("em".to_string(), vec!["a@b.c".to_string(), "d@e.f".to_string()]), ("ph".to_string(), vec!["4915112345".to_string()])]);
    }
}
