//! Event ids: random (version 4) UUIDs, formatted from 16 random bytes, and the ids an order
//! fixes (version 8 UUIDs from a SHA-256), so that every reload of an order page sends one id.
//!
//! The random bytes come from the runtime's CSPRNG (the adapter draws them in bulk, so a page
//! view does not cross into JavaScript for its id); this module only sets the version and
//! variant bits and writes the canonical 8-4-4-4-12 lowercase form.

use sha2::{Digest, Sha256};

/// Random bytes one UUID takes.
pub const UUID_BYTES: usize = 16;

const HEX: &[u8; 16] = b"0123456789abcdef";
/// Byte offsets after which the canonical form has a hyphen.
const HYPHEN_AFTER: [usize; 4] = [4, 6, 8, 10];

/// The version 4 (random) UUID made of `bytes`, as `xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx`
/// with `V` one of `8 9 a b` (RFC 9562, section 5.4).
pub fn uuid_v4(bytes: [u8; UUID_BYTES]) -> String {
    uuid(bytes, 0x40)
}

/// The event id an order fixes: the same for the same `scope` (the pixel or measurement id
/// the events go to), event name and order id, on every reload and cache replay, so the
/// platforms drop the repeats. A version 8 UUID (RFC 9562, section 5.8) made of the first
/// 16 bytes of SHA-256 over the three, each ended by a NUL so no two triples run together.
pub fn order_event_id(scope: &str, event_name: &str, order_id: &str) -> String {
    let mut hash = Sha256::new();
    for part in [ORDER_ID_DOMAIN, scope, event_name, order_id] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; UUID_BYTES];
    bytes.copy_from_slice(&digest[..UUID_BYTES]);
    uuid(bytes, 0x80)
}

/// What [`order_event_id`] hashes first, so its ids cannot equal a hash made for another use.
const ORDER_ID_DOMAIN: &str = "tagrelay order event id";

/// `bytes` as a UUID of `version` (its high nibble in byte 6) and the RFC 9562 variant.
fn uuid(mut bytes: [u8; UUID_BYTES], version: u8) -> String {
    bytes[6] = (bytes[6] & 0x0f) | version;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if HYPHEN_AFTER.contains(&i) {
            out.push('-');
        }
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_with_version_and_variant_bits() {
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = uuid_v4([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21]);
        assert_eq!(id, "12345678-9abc-4ef0-8fed-cba987654321");
    }

    #[test]
    fn an_order_fixes_its_id() {
        let id = order_event_id("123456", "Purchase", "A-1001");
        assert_eq!(id, order_event_id("123456", "Purchase", "A-1001"), "the same every time");
        assert_eq!((id.len(), &id[14..15]), (36, "8"), "a version 8 UUID: {id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        for other in [order_event_id("654321", "Purchase", "A-1001"), order_event_id("123456", "Lead", "A-1001"), order_event_id("123456", "Purchase", "A-1002"), order_event_id("12345", "6Purchase", "A-1001")] {
            assert_ne!(id, other);
        }
    }

    #[test]
    fn every_byte_pattern_gives_a_valid_v4_uuid() {
        for seed in 0..=255u8 {
            let bytes: [u8; 16] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            let id = uuid_v4(bytes);
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
            assert!(id.bytes().all(|b| b == b'-' || HEX.contains(&b)), "{id}");
            assert!(groups[2].starts_with('4') && "89ab".contains(&groups[3][..1]), "{id}");
        }
    }
}
