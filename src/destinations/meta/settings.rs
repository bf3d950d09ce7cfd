//! Meta's own settings: its variables (`META_*`), where its events go and how (sent, or
//! only logged in a dry run, and why).

use crate::config::parse::{parse_api_base, parse_secret, ConfigError, Get};
use std::fmt;

/// Variable: the Meta dataset (pixel) id.
pub const VAR_PIXEL_ID: &str = "META_PIXEL_ID";
/// Secret: the Conversions API access token.
pub const VAR_ACCESS_TOKEN: &str = "META_ACCESS_TOKEN";
/// Variable: Graph API version, such as `v27.0`.
pub const VAR_API_VERSION: &str = "META_API_VERSION";
/// Variable: Graph API base URL (tests point it at a mock).
pub const VAR_API_BASE: &str = "META_API_BASE";
/// Variable: Events Manager test code, sent as `test_event_code`.
pub const VAR_TEST_EVENT_CODE: &str = "META_TEST_EVENT_CODE";
/// Variable: Meta's IAB TCF Global Vendor List id, or `none` (the default: Meta is not a TCF
/// vendor, so the marketing purposes alone decide).
pub const VAR_TCF_VENDOR: &str = "CONSENT_TCF_VENDOR_META";
/// Meta's variables.
pub const VARS: [&str; 5] = [VAR_PIXEL_ID, VAR_ACCESS_TOKEN, VAR_API_VERSION, VAR_API_BASE, VAR_TEST_EVENT_CODE];
/// Default Graph API base.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com";
/// Default Graph API version: the newest Meta has released (v27.0, 4 November 2026; see
/// <https://developers.facebook.com/docs/graph-api/changelog>). Bump it when Meta releases the next.
pub const DEFAULT_API_VERSION: &str = "v27.0";
/// Longest accepted test event code.
const MAX_TEST_EVENT_CODE_LEN: usize = 64;

/// Where events go when they are really sent.
#[derive(Clone, PartialEq, Eq)]
pub struct MetaEndpoint {
    /// `{base}/{version}/{pixel}/events`, without the token.
    pub events_url: String,
    /// The access token, sent only in `Authorization: Bearer`.
    pub access_token: String,
    /// How long events are collected before a send; 0 sends each page view's at once.
    pub batch_window_ms: u32,
}

impl fmt::Debug for MetaEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaEndpoint")
            .field("events_url", &self.events_url)
            .field("access_token", &"<redacted>")
            .field("batch_window_ms", &self.batch_window_ms)
            .finish()
    }
}

/// Whether tracked events are sent or only logged, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// POST the events to the Conversions API.
    Live(MetaEndpoint),
    /// Log the exact JSON that would be sent; send nothing.
    DryRun {
        /// Why nothing is sent (`DRY_RUN=true`, or which variable is missing).
        reason: &'static str,
        /// The URL that would be used, when the pixel id is known.
        events_url: Option<String>,
    },
}

/// Meta's own settings, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaSettings {
    /// Send or log.
    pub delivery: Delivery,
    /// `test_event_code` to include in every request.
    pub test_event_code: Option<String>,
}

impl MetaSettings {
    /// Parses the `META_*` variables through `get`. `dry_run` (`DRY_RUN`) only logs, saying
    /// so; `batch_window_ms` is the shared `BATCH_WINDOW_MS`.
    pub fn parse(get: Get<'_>, dry_run: bool, batch_window_ms: u32) -> Result<MetaSettings, ConfigError> {
        let pixel = get(VAR_PIXEL_ID)?;
        if let Some(p) = &pixel {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::invalid(VAR_PIXEL_ID, "the dataset (pixel) id: digits only", p));
            }
        }
        let token = parse_secret(get, VAR_ACCESS_TOKEN, "the access token exactly as Events Manager shows it (no spaces or line breaks)")?;
        let version = get(VAR_API_VERSION)?.unwrap_or_else(|| DEFAULT_API_VERSION.to_string());
        if !is_api_version(&version) {
            return Err(ConfigError::invalid(VAR_API_VERSION, "a Graph API version such as v27.0", &version));
        }
        let base = parse_api_base(get, VAR_API_BASE, DEFAULT_API_BASE, "an http(s) URL such as https://graph.facebook.com")?;
        let test_event_code = get(VAR_TEST_EVENT_CODE)?;
        if let Some(code) = &test_event_code {
            if code.len() > MAX_TEST_EVENT_CODE_LEN || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::invalid(VAR_TEST_EVENT_CODE, "the code from Events Manager's Test events tab (letters and digits)", code));
            }
        }
        let events_url = pixel.as_ref().map(|p| format!("{base}/{version}/{p}/events"));
        let delivery = match (dry_run, events_url, token) {
            (true, events_url, _) => Delivery::DryRun { reason: crate::destinations::DRY_RUN_REASON, events_url },
            (false, None, _) => Delivery::DryRun { reason: "META_PIXEL_ID is not set", events_url: None },
            (false, Some(url), None) => Delivery::DryRun { reason: "META_ACCESS_TOKEN is not set", events_url: Some(url) },
            (false, Some(events_url), Some(access_token)) => Delivery::Live(MetaEndpoint { events_url, access_token, batch_window_ms }),
        };
        Ok(MetaSettings { delivery, test_event_code })
    }
}

/// Whether `v` is a Graph API version: `v`, then one to three digits, a dot, one to three digits.
fn is_api_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let Some((major, minor)) = rest.split_once('.') else { return false };
    [major, minor].iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}
