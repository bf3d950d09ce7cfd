//! The Conversions API request body: `{"data":[ServerEvent...], "test_event_code"?}`.
//! (<https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event>)

use serde::Serialize;
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
    /// Hashed PII plus IP, agent, fbp, fbc.
    pub user_data: Map<String, Value>,
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
