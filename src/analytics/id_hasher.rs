//! Hash maps and sets keyed by visitor ids. A visitor id ([`super::visitor_hash`]) is
//! already the output of a keyed pseudo-random function, so hashing it again with SipHash
//! (std's default) only costs: a multiply-xorshift mix is enough. Counting runs for every
//! page view, several lookups each (bench scenario (l)).
//!
//! Only for keys an outsider cannot choose, or that hold one: visitor ids need the day's
//! secret salt, so a (visitor, page) pair lands in a bucket no one can aim at; days and
//! dimensions are few and ours. Text keys (paths, referrers) keep std's hasher.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Odd 64-bit constant (2^64 / φ): multiplying by it carries each bit into the higher ones.
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;
/// MurmurHash3's 64-bit finalizer constant: with the shifts, every output bit depends on
/// every input bit (the table reads the low bits for the bucket, the high ones for the tag).
const FMIX: u64 = 0xFF51_AFD7_ED55_8CCD;

/// A [`Hasher`] for integer keys that are already uniformly random.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(SPREAD);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(FMIX);
        x ^ (x >> 33)
    }
}

/// How maps and sets of visitor ids hash.
pub type BuildIdHasher = BuildHasherDefault<IdHasher>;
/// A set of visitor ids.
pub type IdSet = HashSet<u64, BuildIdHasher>;
/// A map keyed by visitor ids (or tuples of them).
pub type IdMap<K, V> = HashMap<K, V, BuildIdHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn spreads_ids_into_the_high_bits() {
        // Ids masked to 53 bits (JSON-safe) leave the top bits zero; the hash must not.
        let b = BuildIdHasher::default();
        let tops: HashSet<u64> = (0..64u64).map(|i| b.hash_one(i * 0x1234_5678_9ABC) >> 57).collect();
        assert!(tops.len() > 32, "{tops:?}");
    }

    #[test]
    fn high_bits_reach_the_bucket() {
        // Keys that differ only in their high bits must not share the low bits the table
        // takes as the bucket index.
        let b = BuildIdHasher::default();
        let lows: HashSet<u64> = (0..64u64).map(|i| b.hash_one((5u64, i << 40)) & 0xFFFF).collect();
        assert!(lows.len() > 60, "{lows:?}");
    }

    #[test]
    fn tuples_differ_by_order() {
        let b = BuildIdHasher::default();
        assert_ne!(b.hash_one((1u64, 2u64)), b.hash_one((2u64, 1u64)));
    }

    #[test]
    fn sets_and_maps_work() {
        let mut s = IdSet::default();
        assert!(s.insert(7));
        assert!(!s.insert(7));
        let mut m: IdMap<(u64, u64), u64> = IdMap::default();
        m.insert((1, 2), 3);
        assert_eq!(m.get(&(1, 2)), Some(&3));
        assert_eq!(m.get(&(2, 1)), None);
    }
}
