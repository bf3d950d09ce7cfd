//! Retry policy for delivering events: what is worth another attempt, and when.
//!
//! Up to [`MAX_ATTEMPTS`] attempts, each cut off after [`ATTEMPT_TIMEOUT_MS`], with
//! exponential backoff and jitter between them, all within one deadline for the whole
//! delivery ([`DELIVERY_DEADLINE_MS`], halvings of a refused batch included) that keeps it
//! inside the 30 s `waitUntil` allows after the response. The same body (and so the same
//! `event_id`s) is sent on every attempt, so the platforms that deduplicate can.

use crate::destinations::answer::Refusal;

/// Attempts per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// Each attempt is aborted after this long.
pub const ATTEMPT_TIMEOUT_MS: u64 = 2_500;
/// An attempt is not started with less time than this left before the deadline.
pub const MIN_ATTEMPT_MS: u64 = 500;
/// Backoff before the second attempt; it quadruples after that.
pub const BACKOFF_BASE_MS: u64 = 300;
/// Backoff growth factor.
const BACKOFF_FACTOR: u64 = 4;
/// HTTP status for "too many requests".
const TOO_MANY_REQUESTS: u16 = 429;
/// Longest one request's attempts can take: every attempt timing out plus the longest backoffs.
pub const WORST_CASE_MS: u64 = MAX_ATTEMPTS as u64 * ATTEMPT_TIMEOUT_MS + BACKOFF_BASE_MS * (1 + BACKOFF_FACTOR);

/// Cloudflare's limit on `waitUntil` work after a response.
pub const WAIT_UNTIL_LIMIT_MS: u64 = 30_000;
/// A delivery (a batch's request, its retries and every part of its halvings) ends within
/// this long after the batch is taken: what is still unsent then is logged `failed` with
/// reason `deadline`. With the longest batch window before it, this stays inside
/// [`WAIT_UNTIL_LIMIT_MS`] (checked in [`crate::delivery::batching`]).
pub const DELIVERY_DEADLINE_MS: u64 = 20_000;
// One request's whole policy fits the deadline with room for a halving.
const _: () = assert!(WORST_CASE_MS < DELIVERY_DEADLINE_MS / 2, "the retry policy must fit well inside the deadline");

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The platform answered with an error.
    Refused(Refusal),
    /// No answer within the attempt's timeout.
    TimedOut,
    /// The request failed at the network level.
    NetworkError(String),
}

impl Failure {
    /// Whether trying again may work: network errors, timeouts, 5xx, 429, and what the
    /// platform marks transient ([`Refusal::transient`]: Meta's `is_transient` and rate-limit
    /// codes, TikTok's rate-limit and server codes).
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::TimedOut | Failure::NetworkError(_) => true,
            Failure::Refused(e) => e.status >= 500 || e.status == TOO_MANY_REQUESTS || e.transient,
        }
    }

    /// The fix when the platform refused the credentials or permissions: every event fails
    /// until the operator acts, so the queue keeps them (retried, then dead-lettered for
    /// replay) rather than acknowledging them as failed.
    pub fn operator_fix(&self) -> Option<&'static str> {
        match self {
            Failure::Refused(e) => e.operator_fix,
            _ => None,
        }
    }

    /// A short description for the log (a credentials refusal starts with its fix).
    pub fn describe(&self) -> String {
        match self {
            Failure::Refused(e) => e.to_string(),
            Failure::TimedOut => "no answer within the attempt's timeout".into(),
            Failure::NetworkError(m) => format!("network error: {m}"),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this many milliseconds, then try again.
    RetryAfter(u64),
    /// Give up: the failure is final, or attempts are used up.
    GiveUp,
    /// Another attempt would be worth it, but the delivery's deadline leaves no time for it.
    Deadline,
}

/// Backoff before attempt `attempt + 1`, `attempt` counting from 1; `jitter` in `[0, 1)`
/// spreads retries between 50% and 100% of the nominal delay.
pub fn backoff_ms(attempt: u32, jitter: f64) -> u64 {
    let nominal = BACKOFF_BASE_MS * BACKOFF_FACTOR.pow(attempt.saturating_sub(1));
    let factor = 0.5 + 0.5 * jitter.clamp(0.0, 1.0);
    (nominal as f64 * factor) as u64
}

/// The step after attempt number `attempt` (from 1) failed with `failure`, with
/// `time_left_ms` before the delivery's deadline.
pub fn next(attempt: u32, failure: &Failure, jitter: f64, time_left_ms: u64) -> Next {
    if !failure.is_transient() || attempt >= MAX_ATTEMPTS {
        return Next::GiveUp;
    }
    let wait = backoff_ms(attempt, jitter);
    if wait + MIN_ATTEMPT_MS <= time_left_ms {
        Next::RetryAfter(wait)
    } else {
        Next::Deadline
    }
}

/// How long the next attempt may take: [`ATTEMPT_TIMEOUT_MS`], or less when the deadline
/// is nearer.
pub fn attempt_timeout_ms(time_left_ms: u64) -> u64 {
    time_left_ms.clamp(MIN_ATTEMPT_MS, ATTEMPT_TIMEOUT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: Option<i64>, transient: bool) -> Failure {
        Failure::Refused(Refusal { status, code, transient, ..Default::default() })
    }

    #[test]
    fn classification() {
        for f in [
            Failure::TimedOut,
            Failure::NetworkError("reset".into()),
            err(500, None, false),
            err(503, None, false),
            err(429, None, false),
            err(400, Some(100), true),
        ] {
            assert!(f.is_transient(), "{f:?}");
        }
        for f in [err(400, Some(100), false), err(401, Some(190), false), err(403, None, false), err(404, None, false)] {
            assert!(!f.is_transient(), "{f:?}");
        }
        let token = Failure::Refused(Refusal { status: 400, code: Some(190), operator_fix: Some("set THE_TOKEN again"), ..Default::default() });
        assert_eq!(token.operator_fix(), Some("set THE_TOKEN again"));
        assert_eq!(token.describe(), "set THE_TOKEN again (HTTP 400, code 190)");
        assert_eq!(next(1, &token, 0.0, DELIVERY_DEADLINE_MS), Next::GiveUp, "directly, retrying cannot help");
    }

    #[test]
    fn attempts_are_bounded_and_fit_wait_until() {
        let plenty = DELIVERY_DEADLINE_MS;
        assert_eq!(next(1, &Failure::TimedOut, 0.0, plenty), Next::RetryAfter(150));
        assert_eq!(next(2, &Failure::TimedOut, 0.999_999, plenty), Next::RetryAfter(1199));
        assert_eq!(next(3, &Failure::TimedOut, 0.0, plenty), Next::GiveUp);
        assert_eq!(next(1, &err(400, Some(100), false), 0.0, plenty), Next::GiveUp);
    }

    #[test]
    fn no_retry_is_started_past_the_deadline() {
        assert_eq!(next(1, &Failure::TimedOut, 0.0, 150 + MIN_ATTEMPT_MS), Next::RetryAfter(150));
        assert_eq!(next(1, &Failure::TimedOut, 0.0, 150 + MIN_ATTEMPT_MS - 1), Next::Deadline);
        assert_eq!(next(1, &err(400, Some(100), false), 0.0, 0), Next::GiveUp, "a final failure is not a deadline");
        assert_eq!(attempt_timeout_ms(DELIVERY_DEADLINE_MS), ATTEMPT_TIMEOUT_MS);
        assert_eq!(attempt_timeout_ms(900), 900);
        assert_eq!(attempt_timeout_ms(0), MIN_ATTEMPT_MS);
    }
}
