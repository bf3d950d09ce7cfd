//! An IAB TCF v2.x consent string in the `euconsent-v2` cookie. Only the core segment (the
//! part before the first `.`) is read, from its bits: `Version` (6 bits, must be 2) first,
//! and `PurposesConsent` (24 bits, purpose 1 first) from bit 152.
//!
//! Marketing needs every purpose of `CONSENT_TCF_MARKETING` (default 1, 3, 4, 7: store
//! information, personalised ads profile and selection, measure ad performance); statistics
//! every purpose of `CONSENT_TCF_STATISTICS` (default 1, 8, 9).

use super::{Answers, Read};
use crate::config::ConfigError;
use base64::engine::{general_purpose::URL_SAFE_NO_PAD, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// The cookie's name.
pub const COOKIE: &str = "euconsent-v2";
/// Where `PurposesConsent` starts in the core segment.
const PURPOSES_CONSENT_BIT: usize = 152;
/// How many purposes `PurposesConsent` holds.
const PURPOSES: u8 = 24;
/// The only version of the string this reads.
const VERSION: u8 = 2;
/// Core segment bytes needed to reach the end of `PurposesConsent`.
const MIN_CORE_BYTES: usize = (PURPOSES_CONSENT_BIT + PURPOSES as usize).div_ceil(8);

/// base64url, with or without padding, as CMPs write it.
const BASE64URL: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// The TCF purposes each purpose of ours needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcfPurposes {
    /// `CONSENT_TCF_MARKETING`.
    pub marketing: Vec<u8>,
    /// `CONSENT_TCF_STATISTICS`.
    pub statistics: Vec<u8>,
}

impl Default for TcfPurposes {
    fn default() -> Self {
        TcfPurposes { marketing: vec![1, 3, 4, 7], statistics: vec![1, 8, 9] }
    }
}

/// Parses a purpose list such as `1,3,4,7` for `var`.
pub fn parse_purposes(var: &'static str, value: &str) -> Result<Vec<u8>, ConfigError> {
    let list: Option<Vec<u8>> =
        value.split(',').map(|p| p.trim().parse::<u8>().ok().filter(|n| (1..=PURPOSES).contains(n))).collect();
    list.filter(|l| !l.is_empty()).ok_or_else(|| ConfigError::Invalid {
        var,
        expected: "a comma list of TCF purpose numbers from 1 to 24, such as 1,3,4,7",
        got: value.to_string(),
    })
}

/// Reads the cookie's value.
pub fn parse(value: &str, purposes: &TcfPurposes) -> Read {
    let core = value.trim().split('.').next().unwrap_or("");
    // Only the bytes up to PurposesConsent are needed: decode just enough characters.
    let needed_chars = (MIN_CORE_BYTES * 4).div_ceil(3);
    if core.len() < needed_chars {
        return Err("shorter than a TCF v2 core segment");
    }
    let head = &core.as_bytes()[..needed_chars.next_multiple_of(4).min(core.len())];
    let bytes = BASE64URL.decode(head).or_else(|_| URL_SAFE_NO_PAD.decode(head)).map_err(|_| "not base64url")?;
    if bytes.len() < MIN_CORE_BYTES {
        return Err("shorter than a TCF v2 core segment");
    }
    if bytes[0] >> 2 != VERSION {
        return Err("not a TCF v2 string");
    }
    let bit = |n: usize| bytes[n / 8] & (0x80 >> (n % 8)) != 0;
    let all = |list: &[u8]| list.iter().all(|p| bit(PURPOSES_CONSENT_BIT + *p as usize - 1));
    Ok(Answers { marketing: Some(all(&purposes.marketing)), statistics: Some(all(&purposes.statistics)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a TC string field by field, as a CMP encodes it.
    struct Bits(Vec<bool>);

    impl Bits {
        fn put(&mut self, value: u64, width: usize) -> &mut Self {
            for i in (0..width).rev() {
                self.0.push(value >> i & 1 == 1);
            }
            self
        }

        fn encode(&self) -> String {
            let bytes: Vec<u8> = self.0.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |b, (i, on)| b | (u8::from(*on) << (7 - i)))).collect();
            URL_SAFE_NO_PAD.encode(bytes)
        }
    }

    /// A core segment with `consented` purposes, and a vendor consent section.
    fn tc_string(version: u64, consented: &[u8]) -> String {
        let mut b = Bits(Vec::new());
        b.put(version, 6).put(16_500_000_000, 36).put(16_500_000_000, 36).put(7, 12).put(1, 12).put(1, 6);
        b.put(u64::from(b'E' - b'A'), 6).put(u64::from(b'N' - b'A'), 6).put(150, 12).put(4, 6).put(0, 1).put(0, 1).put(0, 12);
        assert_eq!(b.0.len(), PURPOSES_CONSENT_BIT);
        let purposes = consented.iter().fold(0u64, |acc, p| acc | 1 << (24 - *p as u64));
        b.put(purposes, 24).put(0, 24).put(0, 1).put(u64::from(b'I' - b'A'), 6).put(u64::from(b'T' - b'A'), 6);
        // Vendor consents: MaxVendorId 10, bitfield, vendors 1 and 10.
        b.put(10, 16).put(0, 1).put(0b1000000001, 10);
        // Vendor legitimate interests: none; no publisher restrictions.
        b.put(0, 16).put(0, 1).put(0, 12);
        b.encode()
    }

    #[test]
    fn purposes_are_read_from_bit_152() {
        let p = TcfPurposes::default();
        let all: Vec<u8> = (1..=10).collect();
        assert_eq!(parse(&tc_string(2, &all), &p), Ok(Answers::both(true)));
        let no_1: Vec<u8> = (2..=10).collect();
        assert_eq!(parse(&tc_string(2, &no_1), &p), Ok(Answers::both(false)));
        assert_eq!(parse(&tc_string(2, &[1, 3, 4, 7]), &p), Ok(Answers { marketing: Some(true), statistics: Some(false) }));
        assert_eq!(parse(&tc_string(2, &[1, 3, 4, 8, 9]), &p), Ok(Answers { marketing: Some(false), statistics: Some(true) }));
        // With other segments after the core (disclosed vendors, publisher TC).
        let with_segments = format!("{}.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw", tc_string(2, &all));
        assert_eq!(parse(&with_segments, &p), Ok(Answers::both(true)));
        // Padded base64 is read too.
        let padded = format!("{}==", tc_string(2, &all));
        assert_eq!(parse(&padded, &p), Ok(Answers::both(true)));
        // Purpose 24, the last bit of the field.
        let last = TcfPurposes { marketing: vec![24], statistics: vec![23] };
        assert_eq!(parse(&tc_string(2, &[24]), &last), Ok(Answers { marketing: Some(true), statistics: Some(false) }));
    }

    #[test]
    fn a_real_cmp_string() {
        // The example string of IAB's TCF v2 documentation (CMP 27): purposes 1, 2 and 3.
        let s = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw";
        assert_eq!(parse(s, &TcfPurposes::default()), Ok(Answers::both(false)));
        let first_three = TcfPurposes { marketing: vec![1, 2, 3], statistics: vec![3, 4] };
        assert_eq!(parse(s, &first_three), Ok(Answers { marketing: Some(true), statistics: Some(false) }));
    }

    #[test]
    fn unreadable_values() {
        let p = TcfPurposes::default();
        for bad in ["", "abc", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", &tc_string(1, &[1])] {
            assert!(parse(bad, &p).is_err(), "{bad}");
        }
        let short = &tc_string(2, &[1])[..20];
        assert!(parse(short, &p).is_err());
        assert_eq!(parse_purposes("V", "1, 3,4,7").unwrap(), vec![1, 3, 4, 7]);
        for bad in ["", "0", "25", "1,,2", "a"] {
            assert!(parse_purposes("V", bad).is_err(), "{bad}");
        }
    }
}
