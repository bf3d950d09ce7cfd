//! Decoded tracking headers, kept per isolate.
//!
//! A cached page sends the same tracking header to every visitor, so the same value arrives
//! again and again: its JSON is parsed and validated once, and later page views share the
//! result (decoding is a pure function of the value). The cache is direct-mapped, like a CPU
//! cache: a value's hash picks one of [`SLOTS`] slots, and a new value takes the slot over.
//! So it stays bounded, a lookup is one hash and one comparison, and a shop with more pages
//! than slots only decodes more often; it never pays for eviction bookkeeping.
//!
//! Headers carrying `user_data` (a logged-in visitor's e-mail, say) are never kept: they are
//! personal, so they differ between visitors anyway, and raw PII should not outlive the
//! page view it came with. Rejected values are not kept either: they are logged each time.

use crate::event::header::{decode, DecodeError, HeaderEvent};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

/// Distinct header values kept.
pub const SLOTS: usize = 64;
/// Longest value kept, in bytes; longer ones are decoded every time. With [`SLOTS`], this
/// bounds what an isolate keeps to 256 KB of header values, plus their decoded events.
pub const MAX_KEPT_BYTES: usize = 4096;

/// A header value and its events.
type Slot = Option<(Box<str>, Rc<[HeaderEvent]>)>;

/// The decoded header values seen last, one per slot.
#[derive(Debug)]
pub struct DecodeCache {
    slots: Vec<Slot>,
}

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache { slots: vec![None; SLOTS] }
    }
}

impl DecodeCache {
    /// [`decode`]s `value`, or returns the events of the same value decoded before.
    pub fn decode(&mut self, value: &str) -> Result<Rc<[HeaderEvent]>, DecodeError> {
        let slot = &mut self.slots[slot_of(value)];
        if let Some((kept, events)) = slot {
            if **kept == *value {
                return Ok(Rc::clone(events));
            }
        }
        let events: Rc<[HeaderEvent]> = decode(value)?.into();
        if value.len() <= MAX_KEPT_BYTES && events.iter().all(|e| e.user_data.is_empty()) {
            *slot = Some((value.into(), Rc::clone(&events)));
        }
        Ok(events)
    }

    /// How many values are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// True when no value is kept.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The slot for `value`. `DefaultHasher::new()` has fixed keys. A value a visitor can shape
/// (an origin echoing a search string into `custom_data`, say) can at worst collide with
/// others: a collision only replaces a slot, so the cost is a decode, never unbounded work.
fn slot_of(value: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    (hasher.finish() % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{"event_name":"ViewContent","custom_data":{"value":"9.50","currency":"eur"}}"#;

    #[test]
    fn a_repeated_value_is_decoded_once_and_shared() {
        let mut cache = DecodeCache::default();
        let first = cache.decode(PAGE).unwrap();
        let again = cache.decode(PAGE).unwrap();
        assert!(Rc::ptr_eq(&first, &again), "the second page view reuses the first decode");
        assert_eq!(*first, *decode(PAGE).unwrap(), "same events as decoding directly");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn values_with_user_data_or_errors_are_never_kept() {
        let mut cache = DecodeCache::default();
        let personal = r#"{"event_name":"Purchase","user_data":{"em":"a@b.example"}}"#;
        let first = cache.decode(personal).unwrap();
        let again = cache.decode(personal).unwrap();
        assert!(!Rc::ptr_eq(&first, &again));
        assert_eq!(first[0].user_data, vec![("em".to_string(), vec!["a@b.example".to_string()])]);
        assert_eq!(cache.decode("{nope").unwrap_err().code(), "bad_json");
        assert_eq!(cache.decode("{nope").unwrap_err().code(), "bad_json");
        assert!(cache.is_empty());
    }

    #[test]
    fn long_values_are_decoded_each_time() {
        let mut cache = DecodeCache::default();
        let long = format!(r#"{{"event_name":"ViewContent","custom_data":{{"note":"{}"}}}}"#, "x".repeat(MAX_KEPT_BYTES));
        cache.decode(&long).unwrap();
        assert!(cache.is_empty());
    }

    #[test]
    fn stays_bounded_and_right_with_many_distinct_values() {
        let mut cache = DecodeCache::default();
        let page = |i: usize| format!(r#"{{"event_name":"ViewContent","custom_data":{{"content_ids":["{i}"]}}}}"#);
        for round in 0..3 {
            for i in 0..SLOTS * 4 {
                let events = cache.decode(&page(i)).unwrap();
                assert_eq!(events[0].custom_data.as_ref().unwrap()["content_ids"][0], i.to_string(), "round {round}");
            }
        }
        assert!(cache.len() <= SLOTS);
        assert!(cache.len() > SLOTS / 2, "most slots in use: {}", cache.len());
    }
}
