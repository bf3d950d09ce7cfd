//! A platform's answer in the one shape every destination reads it into, so the retry policy
//! ([`crate::delivery::retry`]) and the halving of refused batches ([`crate::delivery::batching`]) are the same
//! for all of them.

use serde_json::Value;
use std::fmt;

/// Longest platform message kept for the log.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// The platform took the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accepted {
    /// What the `sent` lines add: Meta's `events_received` and `fbtrace_id`, TikTok's
    /// `request_id`, GA4's `validation_messages` in validate mode.
    pub fields: Vec<(&'static str, Value)>,
}

/// The platform refused the request (or answered in a way that means it did).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// The platform's error code (Graph's `code`, TikTok's `code`).
    pub code: Option<i64>,
    /// The platform's error subcode, if it has them.
    pub subcode: Option<i64>,
    /// The platform's message, shortened to [`MAX_MESSAGE_CHARS`].
    pub message: Option<String>,
    /// Trying again later may work (the platform says so, or a rate limit), besides what
    /// the HTTP status says ([`crate::delivery::retry::Failure::is_transient`]).
    pub transient: bool,
    /// The request was refused as invalid for a reason a smaller batch could avoid (one bad
    /// event), not one that fails every part too (a bad token).
    pub splittable: bool,
    /// What the `failed` lines add: Meta's `fbtrace_id`, TikTok's `request_id`.
    pub details: Vec<(&'static str, Value)>,
    /// The credentials or permissions were refused: every event will fail the same way until
    /// the operator acts on this fix (from the queue the events are kept and retried, then
    /// dead-lettered for replay, never dropped).
    pub operator_fix: Option<&'static str>,
}

/// HTTP 401 (Unauthorized) and 403 (Forbidden): credentials or permissions, from any platform.
pub fn refused_credentials(status: u16) -> bool {
    status == 401 || status == 403
}

impl Refusal {
    /// A message as kept for the log.
    pub fn shorten(message: &str) -> String {
        message.chars().take(MAX_MESSAGE_CHARS).collect()
    }
}

impl fmt::Display for Refusal {
    /// `<fix> (HTTP <status>, code <code>, subcode <subcode>: <message>)` for credentials, else
    /// the part in parentheses alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(fix) = self.operator_fix {
            write!(f, "{fix} (")?;
        }
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, ", code {code}")?;
        }
        if let Some(sub) = self.subcode {
            write!(f, ", subcode {sub}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if self.operator_fix.is_some() {
            write!(f, ")")?;
        }
        Ok(())
    }
}
