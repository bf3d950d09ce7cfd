//! Reading the Graph API's answer to an events POST.

use crate::destinations::answer::{self, Refusal};
use serde::Deserialize;
use serde_json::json;
use std::fmt;

/// Graph error codes Meta documents as temporary: unknown, service, app and user rate limits.
pub const RETRYABLE_GRAPH_CODES: [i64; 4] = [1, 2, 4, 17];
/// Graph error code of an invalid or expired access token: every part of a batch would fail.
pub const TOKEN_ERROR_CODE: i64 = 190;
/// Graph error code of a session key that is invalid or no longer valid.
const SESSION_ERROR_CODE: i64 = 102;
/// Graph error code of an application without permission for the action.
const APP_PERMISSION_CODE: i64 = 10;
/// Graph error codes of a missing permission (`200`–`299`).
const PERMISSION_CODES: std::ops::RangeInclusive<i64> = 200..=299;
/// What the operator must do when Meta refused the token.
const TOKEN_FIX: &str = "the Meta token was refused: set META_ACCESS_TOKEN again";
/// What the operator must do when the token lacks a permission.
const PERMISSION_FIX: &str =
    "the Meta token has no permission for this pixel: give its system user access to META_PIXEL_ID in Business Manager, or set META_ACCESS_TOKEN again";
/// HTTP status of a request Meta refused as invalid.
const BAD_REQUEST: u16 = 400;

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
    /// As every refusal reads in the log ([`Refusal`]'s form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.clone().into_refusal().fmt(f)
    }
}

impl GraphError {
    /// The error in the shape the retry policy reads: transient when Meta says so or the
    /// code is a rate limit; splittable when a 400 that a bad token did not cause.
    pub fn into_refusal(self) -> Refusal {
        let transient = self.is_transient || self.code.is_some_and(|c| RETRYABLE_GRAPH_CODES.contains(&c));
        let operator_fix = match self.code {
            Some(TOKEN_ERROR_CODE | SESSION_ERROR_CODE) => Some(TOKEN_FIX),
            Some(c) if c == APP_PERMISSION_CODE || PERMISSION_CODES.contains(&c) => Some(PERMISSION_FIX),
            _ if self.status == 401 => Some(TOKEN_FIX),
            _ if answer::refused_credentials(self.status) => Some(PERMISSION_FIX),
            _ => None,
        };
        Refusal {
            operator_fix,
            status: self.status,
            code: self.code,
            subcode: self.subcode,
            message: self.message,
            transient,
            splittable: self.status == BAD_REQUEST && operator_fix.is_none(),
            details: vec![("fbtrace_id", json!(self.fbtrace_id))],
        }
    }
}

/// Reads an answer into the shared shape ([`parse`], then [`GraphError::into_refusal`]).
pub fn read(status: u16, body: &str) -> Result<answer::Accepted, Refusal> {
    match parse(status, body) {
        Ok(a) => Ok(answer::Accepted { fields: vec![("events_received", json!(a.events_received)), ("fbtrace_id", json!(a.fbtrace_id))] }),
        Err(e) => Err(e.into_refusal()),
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

    #[test]
    fn rate_limits_are_transient_and_only_a_bad_request_splits() {
        let refusal = |status, code, is_transient| GraphError { status, code, is_transient, ..Default::default() }.into_refusal();
        for code in RETRYABLE_GRAPH_CODES {
            let r = refusal(400, Some(code), false);
            assert!(r.transient && r.splittable, "code {code}");
        }
        assert!(refusal(400, Some(100), true).transient);
        let invalid = refusal(400, Some(100), false);
        assert!(!invalid.transient && invalid.splittable);
        assert!(!refusal(400, Some(TOKEN_ERROR_CODE), false).splittable, "a bad token fails every part");
        for (status, code, fix) in [
            (400, Some(190), TOKEN_FIX),
            (400, Some(102), TOKEN_FIX),
            (400, Some(10), PERMISSION_FIX),
            (403, Some(200), PERMISSION_FIX),
            (400, Some(299), PERMISSION_FIX),
            (401, None, TOKEN_FIX),
            (403, None, PERMISSION_FIX),
        ] {
            let r = refusal(status, code, false);
            assert_eq!(r.operator_fix, Some(fix), "{status} {code:?}");
            assert!(!r.splittable && !r.transient, "{status} {code:?}");
        }
        for code in [100, 1, 300] {
            assert_eq!(refusal(400, Some(code), false).operator_fix, None, "{code}");
        }
        assert!(refusal(400, Some(190), false).to_string().starts_with("the Meta token was refused: set META_ACCESS_TOKEN again (HTTP 400, code 190"));
        assert!(!refusal(500, None, false).splittable);
        let read = read(400, r#"{"error":{"code":100,"fbtrace_id":"Xy"}}"#).unwrap_err();
        assert_eq!(read.details, vec![("fbtrace_id", json!("Xy"))]);
    }
}
