//! Is this response a replay from a cache? Then the tracking header was written for another
//! visitor: its `event_id` and `user_data` must not be reused.

/// `CF-Cache-Status` values that mean the body came from Cloudflare's cache.
pub const CACHED_STATUSES: [&str; 4] = ["HIT", "STALE", "UPDATING", "REVALIDATED"];

/// True when `CF-Cache-Status` says the cache served it, or `Age` is above zero (some cache
/// along the way, the origin's own included, stored it).
pub fn is_replay(cf_cache_status: Option<&str>, age: Option<&str>) -> bool {
    let cache_hit = cf_cache_status.is_some_and(|s| CACHED_STATUSES.iter().any(|c| c.eq_ignore_ascii_case(s.trim())));
    let aged = age.is_some_and(|a| a.trim().parse::<u64>().is_ok_and(|n| n > 0));
    cache_hit || aged
}

#[cfg(test)]
mod tests {
    use super::is_replay;

    #[test]
    fn cache_statuses_and_age() {
        for s in ["HIT", "hit", "STALE", "UPDATING", "REVALIDATED"] {
            assert!(is_replay(Some(s), None), "{s}");
        }
        for s in ["MISS", "EXPIRED", "BYPASS", "DYNAMIC", "NONE"] {
            assert!(!is_replay(Some(s), None), "{s}");
        }
        assert!(is_replay(None, Some("12")));
        assert!(!is_replay(None, Some("0")));
        assert!(!is_replay(None, Some("-3")));
        assert!(!is_replay(None, Some("soon")));
        assert!(!is_replay(None, None));
        assert!(is_replay(Some("MISS"), Some("1")));
    }
}
