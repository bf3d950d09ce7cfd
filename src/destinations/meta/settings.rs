//! Meta's own settings, as the configuration parses them: where its events go and how
//! (sent, or only logged in a dry run, and why).

use std::fmt;

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
