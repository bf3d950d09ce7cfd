//! The e2e tests observe the retry policy through tests/e2e/policy.mjs; this keeps that file
//! and src/delivery/retry.rs from drifting apart.
use tagrelay::delivery::retry::{ATTEMPT_TIMEOUT_MS, BACKOFF_BASE_MS, DELIVERY_DEADLINE_MS, MAX_ATTEMPTS, WORST_CASE_MS};

fn number_after(text: &str, key: &str) -> u64 {
    let start = text.find(key).unwrap_or_else(|| panic!("{key} missing")) + key.len();
    let expr: String = text[start..].chars().take_while(|c| *c != ',' && *c != '\n').collect();
    // Evaluates `a * b + c + d` as the file writes it.
    expr.split('+').map(|term| term.split('*').map(|f| f.trim().parse::<u64>().expect(f)).product::<u64>()).sum()
}

#[test]
fn e2e_policy_file_matches_the_rust_constants() {
    let js = include_str!("e2e/policy.mjs");
    assert_eq!(number_after(js, "attempts:"), u64::from(MAX_ATTEMPTS));
    assert_eq!(number_after(js, "timeoutMs:"), ATTEMPT_TIMEOUT_MS);
    assert_eq!(number_after(js, "worstCaseMs:"), WORST_CASE_MS);
    assert_eq!(number_after(js, "deadlineMs:"), DELIVERY_DEADLINE_MS);
    let backoffs = js.split("minBackoffMs: [").nth(1).unwrap().split(']').next().unwrap();
    let mins: Vec<u64> = backoffs.split(',').map(|n| n.trim().parse().unwrap()).collect();
    assert_eq!(mins, [tagrelay::delivery::retry::backoff_ms(1, 0.0), tagrelay::delivery::retry::backoff_ms(2, 0.0)]);
    assert_eq!(BACKOFF_BASE_MS, 300);
}
