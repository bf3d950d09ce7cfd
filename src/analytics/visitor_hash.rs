//! Unique visitors without cookies, as Plausible counts them: a hash of (daily salt, IP,
//! User-Agent, host). The salt is random per UTC day and deleted after [`SALT_KEEP_DAYS`]
//! days, so no hash can be linked back to an IP once its salt is gone; the IP and the UA are
//! never stored.

use sha2::{Digest, Sha256};

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;
/// Salts are kept for today and yesterday (48 h), then deleted.
pub const SALT_KEEP_DAYS: u64 = 2;

/// A UTC day, as days since 1970-01-01.
pub fn utc_day(now_ms: u64) -> u64 {
    now_ms / DAY_MS
}


/// The visitor id of one page view: the first 8 bytes of SHA-256 over the day's salt and
/// the three facts, each length-prefixed so that no two different inputs hash alike.
pub fn visitor_hash(salt: &[u8; 32], ip: &str, user_agent: &str, host: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(salt);
    for part in [ip, user_agent, host] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Whether a salt made for `salt_day` must be deleted by `today`.
pub fn salt_expired(salt_day: u64, today: u64) -> bool {
    salt_day + SALT_KEEP_DAYS <= today
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates() {
        let ms = 1_764_547_199_999; // 2025-11-30T23:59:59.999Z
        assert_eq!(super::super::calendar::date_of(utc_day(ms)), "2025-11-30");
        assert_eq!(super::super::calendar::date_of(utc_day(ms + 1)), "2025-12-01", "the salt rotates at midnight UTC");
    }

    #[test]
    fn hashes_differ_by_salt_and_by_each_fact() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let base = visitor_hash(&a, "203.0.113.7", "UA", "shop.example");
        assert_eq!(base, visitor_hash(&a, "203.0.113.7", "UA", "shop.example"));
        assert_ne!(base, visitor_hash(&b, "203.0.113.7", "UA", "shop.example"), "a new day, a new visitor id");
        assert_ne!(base, visitor_hash(&a, "203.0.113.8", "UA", "shop.example"));
        assert_ne!(base, visitor_hash(&a, "203.0.113.7", "UA2", "shop.example"));
        assert_ne!(visitor_hash(&a, "1", "23", "h"), visitor_hash(&a, "12", "3", "h"), "length-prefixed");
    }

    #[test]
    fn salts_live_48_hours() {
        assert!(!salt_expired(100, 100));
        assert!(!salt_expired(100, 101));
        assert!(salt_expired(100, 102));
    }
}
