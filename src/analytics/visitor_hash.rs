//! Unique visitors without cookies, as Plausible counts them: a keyed hash of (IP,
//! User-Agent, host) under a daily salt. The salt is random per UTC day and deleted after
//! [`SALT_KEEP_DAYS`] days, so no hash can be linked back to an IP once its salt is gone; the
//! IP and the UA are never stored.
//!
//! The hash is SipHash-2-4 (Rust's `std::hash::SipHasher`), a keyed pseudo-random function
//! made for short inputs, keyed with the salt: without the salt, a visitor id cannot be
//! recomputed from a guessed IP and User-Agent, which is all the hash must ensure. It costs a
//! fraction of SHA-256 in wasm, and it runs for every page view (bench scenario (l)).

use std::hash::Hasher;

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;
/// Salts are kept for today and yesterday (48 h), then deleted.
pub const SALT_KEEP_DAYS: u64 = 2;

/// A UTC day, as days since 1970-01-01.
pub fn utc_day(now_ms: u64) -> u64 {
    now_ms / DAY_MS
}


/// The visitor id of one page view: SipHash-2-4 keyed with the day's salt (its first 16
/// random bytes are the 128-bit key) over the three facts, each length-prefixed so that no
/// two different inputs hash alike.
pub fn visitor_hash(salt: &[u8; 32], ip: &str, user_agent: &str, host: &str) -> u64 {
    let word = |i: usize| u64::from_le_bytes(salt[i..i + 8].try_into().expect("8 bytes"));
    #[allow(deprecated)] // deprecated for HashMap keys only: the keyed SipHash-2-4 itself is sound
    let mut h = std::hash::SipHasher::new_with_keys(word(0), word(8));
    for part in [ip, user_agent, host] {
        h.write(&(part.len() as u32).to_be_bytes());
        h.write(part.as_bytes());
    }
    h.finish()
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
    fn the_hash_is_keyed_sip_hash_2_4() {
        // The reference vector of SipHash-2-4 (Aumasson and Bernstein, appendix A): key
        // 00..0f, message 00..0e, output a129ca6149be45e5. Here the key is the salt's first
        // 16 bytes, and the message the length-prefixed facts: checked against the same
        // function computed by hand below.
        let mut salt = [0xffu8; 32];
        for (i, b) in salt.iter_mut().take(16).enumerate() {
            *b = i as u8;
        }
        #[allow(deprecated)]
        let mut reference = std::hash::SipHasher::new_with_keys(0x0706050403020100, 0x0f0e0d0c0b0a0908);
        reference.write(&(0..15u8).collect::<Vec<u8>>());
        assert_eq!(reference.finish(), 0xa129ca6149be45e5, "std's SipHasher is SipHash-2-4");
        let mut expected = Vec::new();
        for part in ["203.0.113.7", "UA", "shop.example"] {
            expected.extend((part.len() as u32).to_be_bytes());
            expected.extend(part.as_bytes());
        }
        #[allow(deprecated)]
        let mut by_hand = std::hash::SipHasher::new_with_keys(0x0706050403020100, 0x0f0e0d0c0b0a0908);
        by_hand.write(&expected);
        assert_eq!(visitor_hash(&salt, "203.0.113.7", "UA", "shop.example"), by_hand.finish());
    }

    #[test]
    fn salts_live_48_hours() {
        assert!(!salt_expired(100, 100));
        assert!(!salt_expired(100, 101));
        assert!(salt_expired(100, 102));
    }
}
