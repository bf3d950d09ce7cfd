//! Coalescing the events of many page views into one request per destination.
//!
//! A subrequest costs a Worker about as much CPU as the page view it serves (BENCHMARKS.md:
//! the bare passthrough plus one POST costs ~1.8× the passthrough alone). So when pages are
//! tracked in quick succession, tagrelay sends their events together: the first tracked
//! response after a send opens a window of `BATCH_WINDOW_MS`, and its `waitUntil` sends
//! everything collected when the window closes; responses within the window only add their
//! events. Each destination has its own batch and limits ([`Limits`]): Meta takes up to 1,000
//! events per request, so a batch that could pass that is sent at once; GA4 takes one page
//! view per request, so its batch is sent every few page views. `BATCH_WINDOW_MS=0` sends each
//! page view's events on their own, as they come.
//!
//! A batch that a platform refuses as a whole (an invalid parameter in one event fails the request)
//! is halved, and each refused half halved again, down to single page views: one bad event
//! costs no other page view, in about two requests per halving. The halvings of one batch are
//! capped ([`MAX_SPLIT_PARTS`]) to stay within the subrequests a Worker invocation may make.

use crate::delivery::retry::{Failure, DELIVERY_DEADLINE_MS, MAX_ATTEMPTS, WAIT_UNTIL_LIMIT_MS};
use crate::destinations::Limits;
use crate::event::header::MAX_EVENTS;

/// Most events Meta accepts in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = crate::destinations::meta::MAX_EVENTS_PER_REQUEST;
/// A Meta batch holding more than this is sent at once: one more page view (at most
/// [`MAX_EVENTS`] events) could otherwise take it past [`MAX_EVENTS_PER_REQUEST`].
pub const FLUSH_AT_EVENTS: usize = MAX_EVENTS_PER_REQUEST - MAX_EVENTS;
/// Default window: invisible in Events Manager, long enough to batch under load.
pub const DEFAULT_WINDOW_MS: u32 = 250;
/// Longest window: the sending `waitUntil` must fit the window and the whole delivery
/// ([`crate::delivery::retry::DELIVERY_DEADLINE_MS`]) within the 30 s Workers allow after a response.
pub const MAX_WINDOW_MS: u32 = 5000;
/// A window still open this long after it should have closed was never sent: its opener's
/// `waitUntil` was cut off (CPU limit, a trap). The next page view takes it over.
pub const WINDOW_GRACE_MS: u64 = 2000;

/// Subrequests one Worker invocation may make on Cloudflare's Free plan.
const SUBREQUESTS_PER_INVOCATION: u32 = 50;
/// Most parts the halvings of one refused batch may send, so that the batch's attempts and
/// every attempt of every part stay within [`SUBREQUESTS_PER_INVOCATION`]: 15, enough to find one
/// bad event among 128 page views exactly.
pub const MAX_SPLIT_PARTS: u32 = (SUBREQUESTS_PER_INVOCATION - MAX_ATTEMPTS) / MAX_ATTEMPTS;

// The window, then the whole delivery with its halvings, with a margin for the last log lines.
const _: () = assert!(
    MAX_WINDOW_MS as u64 + DELIVERY_DEADLINE_MS + 2 * crate::delivery::retry::MIN_ATTEMPT_MS <= WAIT_UNTIL_LIMIT_MS,
    "a window plus a delivery's deadline must fit inside waitUntil"
);

/// What the page view that just added its events must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It opened the window: wait this many milliseconds, then send the batch.
    OpenedWindow(u32),
    /// The window it found open had expired unsent ([`WINDOW_GRACE_MS`]): it opened a new
    /// one, which holds the `left_over` page views too. Wait `wait_ms`, then send the batch.
    TookOverExpired {
        /// Milliseconds to wait before sending.
        wait_ms: u32,
        /// Page views the expired window held.
        left_over: usize,
        /// How long ago the expired window opened.
        opened_ms_ago: u64,
    },
    /// Another page view's `waitUntil` will send the batch: nothing more to do.
    Joined,
    /// Send the batch now (batching is off, or the batch is full).
    SendNow,
}

/// The events waiting to be sent, grouped by page view (`G`: one group's events and the
/// labels its log lines need).
#[derive(Debug)]
pub struct Batch<G> {
    groups: Vec<G>,
    events: usize,
    /// When the open window opened and how long it lasts; `None` when no window is open.
    window: Option<(u64, u32)>,
    /// The batch must be sent now (it is full, or batching is off), whatever its window.
    full: bool,
}

impl<G> Default for Batch<G> {
    fn default() -> Self {
        Batch { groups: Vec::new(), events: 0, window: None, full: false }
    }
}

impl<G> Batch<G> {
    /// Adds one page view's `events` events at `now_ms`, with a window of `window_ms`
    /// (0: no batching), for a destination with `limits`: the batch is sent at once when one
    /// more page view could take a request past them, or the send past its page views.
    pub fn admit(&mut self, group: G, events: usize, window_ms: u32, now_ms: u64, limits: Limits) -> Admission {
        let left_over = self.groups.len();
        self.groups.push(group);
        self.events += events;
        let full = (limits.page_views_per_request > 1 && self.events > limits.events_per_request.saturating_sub(MAX_EVENTS))
            || self.groups.len() >= limits.page_views_per_send;
        if window_ms == 0 || full {
            self.full = true;
            return Admission::SendNow;
        }
        let wait_ms = window_ms.min(MAX_WINDOW_MS);
        match self.window {
            Some((opened, length)) if now_ms <= opened + u64::from(length) + WINDOW_GRACE_MS => Admission::Joined,
            Some((opened, _)) => {
                self.window = Some((now_ms, wait_ms));
                Admission::TookOverExpired { wait_ms, left_over, opened_ms_ago: now_ms.saturating_sub(opened) }
            }
            None => {
                self.window = Some((now_ms, wait_ms));
                Admission::OpenedWindow(wait_ms)
            }
        }
    }

    /// Whether the batch must be sent now ([`Admission::SendNow`] since the last take): a
    /// send of full batches takes this one, and leaves the others to their windows.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// The page view added last.
    pub fn newest(&self) -> Option<&G> {
        self.groups.last()
    }

    /// Takes every group for sending; the next page view opens a new window. Empty when a
    /// full batch was already sent before this window closed.
    pub fn take(&mut self) -> Vec<G> {
        self.events = 0;
        self.window = None;
        self.full = false;
        std::mem::take(&mut self.groups)
    }
}

/// True when a request of `groups` page views failed in a way that sending them in two halves
/// could avoid, and `parts_left` (of [`MAX_SPLIT_PARTS`]) allows two more parts: the platform
/// refused the request as invalid ([`Refusal::splittable`](crate::destinations::answer::Refusal):
/// Meta's HTTP 400), not for a reason that would fail every part as well (the access token)
/// and not as a transient error (a rate limit, say), which is retried whole instead: splitting
/// would only add load while the platform throttles.
pub fn should_split(failure: &Failure, groups: usize, parts_left: u32) -> bool {
    match failure {
        Failure::Refused(e) => e.splittable && !failure.is_transient() && groups > 1 && parts_left >= 2,
        Failure::TimedOut | Failure::NetworkError(_) => false,
    }
}

/// Splits `groups` into two halves (the first one smaller when the count is odd).
pub fn halves<G>(mut groups: Vec<G>) -> (Vec<G>, Vec<G>) {
    let second = groups.split_off(groups.len() / 2);
    (groups, second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::meta::graph_response::GraphError;
    use crate::destinations::meta::LIMITS as META_LIMITS;

    #[test]
    fn a_one_page_view_per_request_destination_sends_before_the_subrequests_run_out() {
        let ga4 = Limits { events_per_request: 25, page_views_per_request: 1, page_views_per_send: 3 };
        let mut b = Batch::default();
        assert_eq!(b.admit(1, 25, 250, T0, ga4), Admission::OpenedWindow(250), "25 events each: not a batch-wide count");
        assert_eq!(b.admit(2, 25, 250, T0, ga4), Admission::Joined);
        assert_eq!(b.admit(3, 25, 250, T0, ga4), Admission::SendNow);
        assert!(b.is_full());
        assert_eq!(b.take().len(), 3);
        assert!(!b.is_full());
    }

    fn refused(status: u16, code: Option<i64>, is_transient: bool) -> Failure {
        Failure::Refused(GraphError { status, code, is_transient, ..Default::default() }.into_refusal())
    }

    const T0: u64 = 1_763_900_000_000;

    #[test]
    fn the_first_page_view_opens_the_window_the_others_join() {
        let mut b = Batch::default();
        assert_eq!(b.admit("a", 1, 250, T0, META_LIMITS), Admission::OpenedWindow(250));
        assert_eq!(b.admit("b", 2, 250, T0 + 100, META_LIMITS), Admission::Joined);
        assert_eq!(b.events, 3);
        assert_eq!(b.take(), vec!["a", "b"]);
        assert_eq!(b.admit("c", 1, 250, T0 + 300, META_LIMITS), Admission::OpenedWindow(250), "a send reopens the window");
        assert!(b.take() == vec!["c"] && b.take().is_empty());
    }

    #[test]
    fn a_window_never_sent_is_taken_over_by_the_next_page_view() {
        let mut b = Batch::default();
        assert_eq!(b.admit("a", 1, 250, T0, META_LIMITS), Admission::OpenedWindow(250));
        assert_eq!(b.admit("b", 1, 250, T0 + 250 + WINDOW_GRACE_MS, META_LIMITS), Admission::Joined, "late, but within the grace");
        // The opener's waitUntil never took the batch: the next page view opens a new window
        // that sends a and b too.
        let late = T0 + 250 + WINDOW_GRACE_MS + 1;
        assert_eq!(b.admit("c", 1, 250, late, META_LIMITS), Admission::TookOverExpired { wait_ms: 250, left_over: 2, opened_ms_ago: late - T0 });
        assert_eq!(b.admit("d", 1, 250, late + 10, META_LIMITS), Admission::Joined, "the new window is open");
        assert_eq!(b.take(), vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn no_window_sends_each_page_view_now() {
        let mut b = Batch::default();
        assert_eq!(b.admit("a", 1, 0, T0, META_LIMITS), Admission::SendNow);
        assert_eq!(b.take(), vec!["a"]);
    }

    #[test]
    fn a_batch_never_passes_metas_limit() {
        let mut b = Batch::default();
        let mut sent = Vec::new();
        let mut in_batch = 0;
        for i in 0..5000 {
            let n = 1 + i % MAX_EVENTS;
            in_batch += n;
            if b.admit(n, n, 250, T0, META_LIMITS) == Admission::SendNow {
                assert!(in_batch <= MAX_EVENTS_PER_REQUEST, "{in_batch}");
                sent.push(b.take().iter().sum::<usize>());
                in_batch = 0;
            }
        }
        assert!(sent.iter().all(|&n| n > FLUSH_AT_EVENTS && n <= MAX_EVENTS_PER_REQUEST), "{sent:?}");
        assert_eq!(b.admit(1, 1, 60_000, T0, META_LIMITS), Admission::Joined);
        assert_eq!(Batch::default().admit(1, 1, 60_000, T0, META_LIMITS), Admission::OpenedWindow(MAX_WINDOW_MS));
    }


    #[test]
    fn only_a_batch_refused_for_good_is_split() {
        assert!(should_split(&refused(400, Some(100), false), 2, MAX_SPLIT_PARTS));
        assert!(!should_split(&refused(400, Some(100), false), 1, MAX_SPLIT_PARTS));
        assert!(!should_split(&refused(400, Some(100), false), 2, 1), "no parts left");
        assert!(!should_split(&refused(400, Some(190), false), 5, MAX_SPLIT_PARTS), "a bad token fails every part");
        assert!(!should_split(&refused(500, None, false), 5, MAX_SPLIT_PARTS));
        assert!(!should_split(&Failure::TimedOut, 5, MAX_SPLIT_PARTS));
        for code in [1, 2, 4, 17] {
            assert!(!should_split(&refused(400, Some(code), false), 4, MAX_SPLIT_PARTS), "code {code} is a rate limit: retried, not split");
        }
        assert!(!should_split(&refused(400, Some(100), true), 4, MAX_SPLIT_PARTS), "is_transient: retried, not split");
        assert_eq!(halves(vec![1, 2, 3]), (vec![1], vec![2, 3]));
        assert_eq!(MAX_SPLIT_PARTS * MAX_ATTEMPTS + MAX_ATTEMPTS, 48);
    }

    #[test]
    fn halving_finds_one_bad_page_view_among_128_within_the_part_budget() {
        // Simulates the halvings: a part is refused while it holds the bad page view (42).
        let mut parts_left = MAX_SPLIT_PARTS;
        let mut queue = vec![(0..128).collect::<Vec<u32>>()];
        let mut delivered = Vec::new();
        let refused = refused(400, Some(100), false);
        while let Some(part) = queue.pop() {
            if !part.contains(&42) {
                delivered.extend(part);
            } else if should_split(&refused, part.len(), parts_left) {
                parts_left -= 2;
                let (a, b) = halves(part);
                queue.extend([a, b]);
            } else {
                assert_eq!(part, vec![42], "only the bad page view fails");
            }
        }
        assert_eq!(delivered.len(), 127);
    }
}
