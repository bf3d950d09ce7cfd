//! Reading the Graph API's answer to an events POST.

use serde::Deserialize;
use std::fmt;

/// Longest error message kept for the log.
const MAX_MESSAGE_CHARS: usize = 300;

/// A successful answer: `{"events_received":N,"messages":[],"fbtrace_id":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Accepted {
    /// How many events Meta took, when the body says.
    pub events_received: Option<u64>,
    /// Meta's trace id, for support requests.
    pub fbtrace_id: Option<String>,
}

/// An error answer: `{"error":{"message","type","code","error_subcode","is_transient","fbtrace_id"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// Graph error code (`190` invalid token, `100` invalid parameter, ...).
    pub code: Option<i64>,
    /// Graph error subcode.
    pub subcode: Option<i64>,
    /// Error message (shortened).
    pub message: Option<String>,
    /// Meta's hint that trying again may work.
    pub is_transient: bool,
    /// Meta's trace id.
    pub fbtrace_id: Option<String>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        Ok(())
    }
}

#[derive(Deserialize)]
struct Body {
    events_received: Option<u64>,
    fbtrace_id: Option<String>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    code: Option<i64>,
    error_subcode: Option<i64>,
    is_transient: Option<bool>,
    fbtrace_id: Option<String>,
}

/// Parses an answer. A 2xx is accepted even when its body is not the expected JSON (Meta
/// took the request; resending could only duplicate). Anything else is an error, with what
/// the body tells.
pub fn parse(status: u16, body: &str) -> Result<Accepted, GraphError> {
    let parsed: Option<Body> = serde_json::from_str(body).ok();
    if (200..300).contains(&status) {
        return Ok(parsed.map_or_else(Accepted::default, |b| Accepted { events_received: b.events_received, fbtrace_id: b.fbtrace_id }));
    }
    let error = parsed.and_then(|b| b.error);
    Err(match error {
        Some(e) => GraphError {
            status,
            code: e.code,
            subcode: e.error_subcode,
            message: e.message.map(|m| m.chars().take(MAX_MESSAGE_CHARS).collect()),
            is_transient: e.is_transient.unwrap_or(false),
            fbtrace_id: e.fbtrace_id,
        },
        None => GraphError { status, message: Some("response body is not a Graph error object".into()), ..Default::default() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_bodies() {
        assert_eq!(
            parse(200, r#"{"events_received":2,"messages":[],"fbtrace_id":"AbC"}"#),
            Ok(Accepted { events_received: Some(2), fbtrace_id: Some("AbC".into()) })
        );
        assert_eq!(parse(200, "not json"), Ok(Accepted::default()));
    }

    #[test]
    fn error_bodies() {
        let e = parse(400, r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"is_transient":false,"fbtrace_id":"Xy"}}"#).unwrap_err();
        assert_eq!((e.code, e.subcode, e.is_transient, e.fbtrace_id.as_deref()), (Some(100), Some(2804003), false, Some("Xy")));
        assert_eq!(e.to_string(), "HTTP 400, code 100, subcode 2804003: Invalid parameter");
        let e = parse(502, "<html>bad gateway</html>").unwrap_err();
        assert_eq!((e.status, e.code), (502, None));
    }
}
