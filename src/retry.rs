//! Retry policy for delivering events: what is worth another attempt, and when.
//!
//! Up to [`MAX_ATTEMPTS`] attempts, each cut off after [`ATTEMPT_TIMEOUT_MS`], with
//! exponential backoff and jitter between them. The worst case stays far below the 30 s that
//! `waitUntil` allows after the response: see [`WORST_CASE_MS`]. The same body (and so the
//! same `event_id`s) is sent on every attempt, so Meta can deduplicate.

use crate::graph_response::{Accepted, GraphError};

/// Attempts per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// Each attempt is aborted after this long.
pub const ATTEMPT_TIMEOUT_MS: u64 = 2_500;
/// Backoff before the second attempt; it quadruples after that.
pub const BACKOFF_BASE_MS: u64 = 300;
/// Backoff growth factor.
const BACKOFF_FACTOR: u64 = 4;
/// Graph error codes Meta documents as temporary: unknown, service, app and user rate limits.
pub const RETRYABLE_GRAPH_CODES: [i64; 4] = [1, 2, 4, 17];
/// HTTP status for "too many requests".
const TOO_MANY_REQUESTS: u16 = 429;
/// Longest a delivery can take: every attempt timing out plus the longest backoffs.
pub const WORST_CASE_MS: u64 = MAX_ATTEMPTS as u64 * ATTEMPT_TIMEOUT_MS + BACKOFF_BASE_MS * (1 + BACKOFF_FACTOR);

/// Cloudflare's limit on `waitUntil` work after a response.
pub const WAIT_UNTIL_LIMIT_MS: u64 = 30_000;
// A wide margin: at most half of it.
const _: () = assert!(WORST_CASE_MS < WAIT_UNTIL_LIMIT_MS / 2, "the retry policy must fit well inside waitUntil");

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The Graph API answered.
    Answered(Result<Accepted, GraphError>),
    /// No answer within [`ATTEMPT_TIMEOUT_MS`].
    TimedOut,
    /// The request failed at the network level.
    NetworkError(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Done: delivered.
    Delivered(Accepted),
    /// Wait this many milliseconds, then try again.
    RetryAfter(u64),
    /// Give up: the reason is final (or attempts are used up).
    GiveUp,
}

/// Whether an attempt's failure is temporary.
pub fn is_retryable(result: &AttemptResult) -> bool {
    match result {
        AttemptResult::Answered(Ok(_)) => false,
        AttemptResult::TimedOut | AttemptResult::NetworkError(_) => true,
        AttemptResult::Answered(Err(e)) => {
            e.status >= 500
                || e.status == TOO_MANY_REQUESTS
                || e.is_transient
                || e.code.is_some_and(|c| RETRYABLE_GRAPH_CODES.contains(&c))
        }
    }
}

/// Backoff before attempt `attempt + 1`, `attempt` counting from 1; `jitter` in `[0, 1)`
/// spreads retries between 50% and 100% of the nominal delay.
pub fn backoff_ms(attempt: u32, jitter: f64) -> u64 {
    let nominal = BACKOFF_BASE_MS * BACKOFF_FACTOR.pow(attempt.saturating_sub(1));
    let factor = 0.5 + 0.5 * jitter.clamp(0.0, 1.0);
    (nominal as f64 * factor) as u64
}

/// The step after attempt number `attempt` (from 1) ended with `result`.
pub fn next(attempt: u32, result: &AttemptResult, jitter: f64) -> Next {
    match result {
        AttemptResult::Answered(Ok(accepted)) => Next::Delivered(accepted.clone()),
        r if is_retryable(r) && attempt < MAX_ATTEMPTS => Next::RetryAfter(backoff_ms(attempt, jitter)),
        _ => Next::GiveUp,
    }
}

/// A short description of a failed attempt for the log.
pub fn describe(result: &AttemptResult) -> String {
    match result {
        AttemptResult::Answered(Ok(_)) => "delivered".into(),
        AttemptResult::Answered(Err(e)) => e.to_string(),
        AttemptResult::TimedOut => format!("no answer within {ATTEMPT_TIMEOUT_MS} ms"),
        AttemptResult::NetworkError(m) => format!("network error: {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: Option<i64>, transient: bool) -> AttemptResult {
        AttemptResult::Answered(Err(GraphError { status, code, is_transient: transient, ..Default::default() }))
    }

    #[test]
    fn classification() {
        for r in [
            AttemptResult::TimedOut,
            AttemptResult::NetworkError("reset".into()),
            err(500, None, false),
            err(503, None, false),
            err(429, None, false),
            err(400, Some(1), false),
            err(400, Some(2), false),
            err(400, Some(4), false),
            err(400, Some(17), false),
            err(400, Some(100), true),
        ] {
            assert!(is_retryable(&r), "{r:?}");
        }
        for r in [err(400, Some(100), false), err(401, Some(190), false), err(403, None, false), err(404, None, false)] {
            assert!(!is_retryable(&r), "{r:?}");
        }
    }

    #[test]
    fn attempts_are_bounded_and_fit_wait_until() {
        assert_eq!(next(1, &AttemptResult::TimedOut, 0.0), Next::RetryAfter(150));
        assert_eq!(next(2, &AttemptResult::TimedOut, 0.999_999), Next::RetryAfter(1199));
        assert_eq!(next(3, &AttemptResult::TimedOut, 0.0), Next::GiveUp);
        assert_eq!(next(1, &err(400, Some(100), false), 0.0), Next::GiveUp);
        assert_eq!(next(1, &AttemptResult::Answered(Ok(Accepted::default())), 0.0), Next::Delivered(Accepted::default()));
    }
}
