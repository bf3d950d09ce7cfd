//! A reload of the same page by the same visitor within [`RELOAD_WINDOW_MS`] counts once.
//! Per isolate and bounded: at [`MAX_ENTRIES`] the entries past the window are dropped, and
//! if that is not enough, all of them (a reload may then count twice; nothing breaks).

use super::id_hasher::IdMap;

/// Reloads within this many milliseconds count once.
pub const RELOAD_WINDOW_MS: u64 = 10_000;
/// Most (visitor, page) pairs remembered.
pub const MAX_ENTRIES: usize = 20_000;

/// The last count of each (visitor hash, page path hash).
#[derive(Debug, Default)]
pub struct ReloadFilter {
    last_counted: IdMap<(u64, u64), u64>,
}

impl ReloadFilter {
    /// Whether this view counts (false: a reload within the window). Counting restarts the
    /// window only when the view counts, so a reload every 5 s still counts every 10 s.
    pub fn counts(&mut self, visitor: u64, page: u64, now_ms: u64) -> bool {
        if let Some(&at) = self.last_counted.get(&(visitor, page)) {
            if now_ms.saturating_sub(at) < RELOAD_WINDOW_MS {
                return false;
            }
        }
        if self.last_counted.len() >= MAX_ENTRIES {
            self.last_counted.retain(|_, at| now_ms.saturating_sub(*at) < RELOAD_WINDOW_MS);
            if self.last_counted.len() >= MAX_ENTRIES {
                self.last_counted.clear();
            }
        }
        self.last_counted.insert((visitor, page), now_ms);
        true
    }

    /// Pairs remembered now.
    pub fn len(&self) -> usize {
        self.last_counted.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.last_counted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_reloads_count_once() {
        let mut f = ReloadFilter::default();
        assert!(f.counts(1, 10, 0));
        assert!(!f.counts(1, 10, 9_999));
        assert!(f.counts(1, 11, 9_999), "another page");
        assert!(f.counts(2, 10, 9_999), "another visitor");
        assert!(f.counts(1, 10, 10_000));
    }

    #[test]
    fn memory_is_bounded() {
        let mut f = ReloadFilter::default();
        for v in 0..(MAX_ENTRIES as u64 * 3) {
            assert!(f.counts(v, 0, v));
        }
        assert!(f.len() <= MAX_ENTRIES);
        assert!(!f.counts(MAX_ENTRIES as u64 * 3 - 1, 0, MAX_ENTRIES as u64 * 3), "a recent reload is still caught");
    }
}
