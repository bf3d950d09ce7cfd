//! What the daily Cron Trigger deletes: daily rows, delivery, match-key and conversion counts past
//! `STATS_RETENTION_DAYS`, hourly rows,
//! visitor hashes and salts past 48 h, old flush marks and stale "now" rows, and dead letters
//! past the days they are kept.

use super::aggregate::LIVE_KEEP_MS;
use super::sql::{self, Statement};
use super::dead_letters;
use super::visitor_hash::{DAY_MS, SALT_KEEP_DAYS};
use serde_json::json;

/// Flush marks are kept this long: far longer than any retry of a flush.
pub const FLUSH_MARK_KEEP_MS: u64 = 2 * DAY_MS;

/// The deletions due on UTC day `today` at `now_ms`, keeping `retention_days` days of daily
/// rows (today included).
pub fn statements(today: u64, now_ms: u64, retention_days: u32) -> Vec<Statement> {
    let keep_from = (today + 1).saturating_sub(u64::from(retention_days));
    let recent_from = (today + 1).saturating_sub(SALT_KEEP_DAYS);
    vec![
        Statement::new(sql::EXPIRE_DAILY, vec![json!(keep_from)]),
        Statement::new(sql::EXPIRE_DELIVERY, vec![json!(keep_from)]),
        Statement::new(sql::EXPIRE_MATCH, vec![json!(keep_from)]),
        Statement::new(sql::EXPIRE_CONVERSIONS, vec![json!(keep_from)]),
        Statement::new(sql::EXPIRE_HOURS, vec![json!(recent_from)]),
        Statement::new(sql::EXPIRE_SEEN, vec![json!(recent_from)]),
        Statement::new(sql::EXPIRE_SALTS, vec![json!(recent_from)]),
        Statement::new(sql::EXPIRE_FLUSHES, vec![json!(now_ms.saturating_sub(FLUSH_MARK_KEEP_MS))]),
        Statement::new(sql::FORGET_LIVE, vec![json!(now_ms.saturating_sub(LIVE_KEEP_MS))]),
        Statement::new(sql::EXPIRE_DEAD_LETTERS, vec![json!(now_ms.saturating_sub(dead_letters::KEEP_DAYS * DAY_MS))]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::visitor_hash::salt_expired;

    #[test]
    fn keeps_the_retention_and_48_hours() {
        let s = statements(1000, 1000 * DAY_MS, 400);
        assert_eq!(s[0].params[0], json!(601), "days 601..=1000: 400 days");
        assert_eq!((s[1].sql, &s[1].params[0]), (sql::EXPIRE_DELIVERY, &json!(601)), "delivery counts are kept as long");
        assert_eq!((s[2].sql, &s[2].params[0]), (sql::EXPIRE_MATCH, &json!(601)), "match-key counts too");
        assert_eq!((s[3].sql, &s[3].params[0]), (sql::EXPIRE_CONVERSIONS, &json!(601)), "conversion counts too");
        assert_eq!((s[6].sql, &s[6].params[0]), (sql::EXPIRE_SALTS, &json!(999)), "salts of today and yesterday stay");
        assert!(salt_expired(998, 1000) && !salt_expired(999, 1000), "the same rule as the isolates'");
        assert_eq!(statements(3, 0, 400)[0].params[0], json!(0));
        let last = s.last().unwrap();
        assert_eq!((last.sql, &last.params[0]), (sql::EXPIRE_DEAD_LETTERS, &json!(993 * DAY_MS)), "dead letters: 7 days");
    }
}
