// The retry policy of src/delivery/retry.rs, as the e2e tests expect to observe it. A native test
// (tests/retry_policy_matches_e2e.rs) checks these numbers against the Rust constants.
export const RETRY = {
  attempts: 3,
  timeoutMs: 2500,
  // Backoff before attempts 2 and 3: at least half the nominal 300 ms and 1,200 ms.
  minBackoffMs: [150, 600],
  // Three timeouts plus the longest backoffs.
  worstCaseMs: 3 * 2500 + 300 + 1200,
  // One delivery, halvings included, ends within this long after its batch is taken.
  deadlineMs: 20000,
};
