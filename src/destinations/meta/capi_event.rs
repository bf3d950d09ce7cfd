//! The Conversions API request body: `{"data":[ServerEvent...], "test_event_code"?}`.
//! (<https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event>)

use crate::proxy::query_filter::without_query;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::rc::Rc;

/// The JSON body POSTed to `/{version}/{pixel}/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventsRequest {
    /// One entry per event of the tracking header.
    pub data: Vec<ServerEvent>,
    /// Routes the events to Events Manager's Test events tab.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_event_code: Option<String>,
}

/// What a log shows instead of a visitor's IP, user agent, `fbp` or `fbc`.
pub const REDACTED: &str = "[redacted]";

impl EventsRequest {
    /// The body as a log may show it (a dry run): URLs without their query string, and the
    /// visitor's IP, user agent, `fbp` and `fbc` replaced by [`REDACTED`]. Hashed PII stays
    /// as it is sent, hashed.
    pub fn redacted(&self) -> EventsRequest {
        let redact = |v: &Option<String>| v.as_ref().map(|_| REDACTED.to_string());
        let data = self
            .data
            .iter()
            .map(|e| ServerEvent {
                event_source_url: without_query(&e.event_source_url).to_string(),
                referrer_url: e.referrer_url.as_deref().map(|r| without_query(r).to_string()),
                user_data: UserData {
                    client_ip_address: redact(&e.user_data.client_ip_address),
                    client_user_agent: redact(&e.user_data.client_user_agent),
                    fbp: redact(&e.user_data.fbp),
                    fbc: redact(&e.user_data.fbc),
                    hashed: e.user_data.hashed.clone(),
                },
                ..e.clone()
            })
            .collect();
        EventsRequest { data, test_event_code: self.test_event_code.clone() }
    }
}

/// One server event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerEvent {
    /// Event name.
    pub event_name: String,
    /// Unix seconds at the edge.
    pub event_time: u64,
    /// Deduplication id (the origin's, or fresh on cache replays / when absent).
    pub event_id: String,
    /// URL the browser asked for, or the origin's override.
    pub event_source_url: String,
    /// `website` unless the origin says otherwise.
    pub action_source: String,
    /// IP, agent, fbp, fbc, and the origin's PII, hashed.
    pub user_data: UserData,
    /// The origin's custom data (shared with the decoded header it came from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Rc<Map<String, Value>>>,
    /// The page that linked here (`Referer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer_url: Option<String>,
    /// The origin's opt-out flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_out: Option<bool>,
    /// `data_processing_options` (+ `_country`, `_state`) when the origin sets them.
    #[serde(flatten)]
    pub data_processing: Map<String, Value>,
}

/// `user_data`: what the edge knows of the visitor, then the origin's PII, hashed. Typed
/// rather than a JSON map: it is built for every tracked page view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserData {
    /// The visitor's IP (`CF-Connecting-IP`), when valid.
    pub client_ip_address: Option<String>,
    /// `User-Agent`.
    pub client_user_agent: Option<String>,
    /// The `_fbp` browser id, when valid.
    pub fbp: Option<String>,
    /// The click id, from `_fbc` or `fbclid`, when valid.
    pub fbc: Option<String>,
    /// Normalized and SHA-256-hashed PII by key (`em`, `ph`, ...), each key once.
    pub hashed: Vec<(String, Vec<String>)>,
}

impl Serialize for UserData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let edge = [
            ("client_ip_address", &self.client_ip_address),
            ("client_user_agent", &self.client_user_agent),
            ("fbp", &self.fbp),
            ("fbc", &self.fbc),
        ];
        for (key, value) in edge {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, hashes) in &self.hashed {
            map.serialize_entry(key, hashes)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_logged_body_shows_no_query_ip_agent_or_browser_ids() {
        let event = ServerEvent {
            event_name: "Purchase".into(),
            event_time: 1,
            event_id: "id-1".into(),
            event_source_url: "https://s.example/thanks?order=9&fbclid=Iw1".into(),
            action_source: "website".into(),
            user_data: UserData {
                client_ip_address: Some("203.0.113.9".into()),
                client_user_agent: Some("Mozilla/5.0".into()),
                fbp: Some("fb.1.1.1".into()),
                fbc: Some("fb.1.1.Iw1".into()),
                hashed: vec![("em".into(), vec!["a".repeat(64)])],
            },
            custom_data: None,
            referrer_url: Some("https://mail.example/?email=alice%40example.com".into()),
            opt_out: None,
            data_processing: Map::new(),
        };
        let body = EventsRequest { data: vec![event], test_event_code: Some("T1".into()) };
        let shown = serde_json::to_string(&body.redacted()).unwrap();
        for secret in ["order=9", "Iw1", "alice", "203.0.113.9", "Mozilla", "fb.1.1"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let v: Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(v["data"][0]["event_source_url"], "https://s.example/thanks");
        assert_eq!(v["data"][0]["user_data"], json!({"client_ip_address": REDACTED, "client_user_agent": REDACTED, "fbp": REDACTED, "fbc": REDACTED, "em": ["a".repeat(64)]}));
        assert_eq!(v["test_event_code"], "T1");
    }

    #[test]
    fn user_data_serializes_only_what_is_known() {
        assert_eq!(serde_json::to_value(UserData::default()).unwrap(), json!({}));
        let full = UserData {
            client_ip_address: Some("203.0.113.9".into()),
            client_user_agent: Some("UA".into()),
            fbp: Some("fb.1.1.1".into()),
            fbc: Some("fb.1.1.x".into()),
            hashed: vec![("em".into(), vec!["a".repeat(64)]), ("ph".into(), vec!["b".repeat(64), "c".repeat(64)])],
        };
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            format!(
                r#"{{"client_ip_address":"203.0.113.9","client_user_agent":"UA","fbp":"fb.1.1.1","fbc":"fb.1.1.x","em":["{}"],"ph":["{}","{}"]}}"#,
                "a".repeat(64),
                "b".repeat(64),
                "c".repeat(64)
            )
        );
    }
}
