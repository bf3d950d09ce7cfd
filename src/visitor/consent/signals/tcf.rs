//! An IAB TCF v2.x consent string in the `euconsent-v2` cookie. Only the core segment (the
//! part before the first `.`) is read, from its bits: `Version` (6 bits, must be 2) first,
//! `TcfPolicyVersion` (6 bits from bit 132), `PurposesConsent` (24 bits, purpose 1 first) from
//! bit 152, and the vendor consent section from bit 213: `MaxVendorId` (16 bits), then either
//! a bit field (one bit per vendor, vendor 1 first) or a list of ranges.
//!
//! Marketing needs every purpose of `CONSENT_TCF_MARKETING` (default 1, 3, 4, 7: store
//! information, personalised ads profile and selection, measure ad performance); statistics
//! every purpose of `CONSENT_TCF_STATISTICS` (default 1, 8, 9). A destination with a Global
//! Vendor List id (`CONSENT_TCF_VENDOR_*`) also needs its vendor's consent bit; one without
//! (`none`) is decided by the purposes alone. Field layout: IAB Tech Lab, "Consent string and
//! vendor list formats v2", core string.

use super::{Answers, Unread};
use crate::config::parse::ConfigError;
use base64::engine::{general_purpose::URL_SAFE_NO_PAD, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// The cookie's name.
pub const COOKIE: &str = "euconsent-v2";
/// Where `TcfPolicyVersion` starts in the core segment, and its width.
const POLICY_VERSION_BIT: usize = 132;
const POLICY_VERSION_BITS: usize = 6;
/// The first `TcfPolicyVersion` of TCF v2.2 (policies from May 2023).
pub const TCF_V2_2_POLICY_VERSION: u8 = 4;
/// Where `PurposesConsent` starts in the core segment.
const PURPOSES_CONSENT_BIT: usize = 152;
/// How many purposes `PurposesConsent` holds.
const PURPOSES: u8 = 24;
/// Where the vendor consent section (`MaxVendorId`) starts: after `PurposesConsent` (24),
/// `PurposesLITransparency` (24), `PurposeOneTreatment` (1) and `PublisherCC` (12).
const VENDOR_SECTION_BIT: usize = PURPOSES_CONSENT_BIT + 24 + 24 + 1 + 12;
/// Width of a vendor id (`MaxVendorId`, `StartOrOnlyVendorId`, `EndVendorId`).
const VENDOR_ID_BITS: usize = 16;
/// Width of `NumEntries` in a range section.
const NUM_ENTRIES_BITS: usize = 12;
/// The only version of the string this reads.
const VERSION: u8 = 2;
/// base64url, with or without padding, as CMPs write it.
const BASE64URL: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// How a destination is known to the TCF: the variable that sets its Global Vendor List id
/// (`CONSENT_TCF_VENDOR_*`), and the id it has when that variable is unset (`None`: its
/// purposes alone decide). Each destination declares its own (`crate::destinations::registry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcfVendorSetting {
    /// The variable, such as `CONSENT_TCF_VENDOR_GA4`.
    pub var: &'static str,
    /// The id when the variable is unset.
    pub default: Option<u16>,
}

/// The destinations that have a Global Vendor List id, with it; any other is decided by the
/// purposes alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcfVendors {
    /// (destination name, vendor id), in the destinations' order.
    pub ids: Vec<(&'static str, u16)>,
}

impl TcfVendors {
    /// The vendor id `destination` needs, if any.
    pub fn id(&self, destination: &str) -> Option<u16> {
        self.ids.iter().find(|(name, _)| *name == destination).map(|(_, id)| *id)
    }
}

/// The TCF purposes each purpose of ours needs, and each destination's vendor id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcfPurposes {
    /// `CONSENT_TCF_MARKETING`.
    pub marketing: Vec<u8>,
    /// `CONSENT_TCF_STATISTICS`.
    pub statistics: Vec<u8>,
    /// Each destination's vendor id (`CONSENT_TCF_VENDOR_*`).
    pub vendors: TcfVendors,
}

impl Default for TcfPurposes {
    fn default() -> Self {
        TcfPurposes { marketing: vec![1, 3, 4, 7], statistics: vec![1, 8, 9], vendors: TcfVendors::default() }
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

/// Parses a vendor id setting for `var`: a Global Vendor List id, or `none`.
pub fn parse_vendor(var: &'static str, value: &str) -> Result<Option<u16>, ConfigError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    value.parse::<u16>().ok().filter(|id| *id > 0).map(Some).ok_or_else(|| ConfigError::Invalid {
        var,
        expected: "a Global Vendor List id from 1 to 65535 (such as 755, Google Advertising Products), or none (the purposes alone decide)",
        got: value.to_string(),
    })
}

/// What a TC string says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcfReading {
    /// The purposes' answers.
    pub answers: Answers,
    /// The destinations whose vendor is without consent.
    pub vendors_denied: Vec<&'static str>,
    /// `TcfPolicyVersion` (v2.2 strings have 4 or more).
    pub policy_version: u8,
}

/// The core segment's bits.
struct Bits(Vec<u8>);

impl Bits {
    /// Whether the segment holds bits up to (not including) `end`.
    fn has(&self, end: usize) -> bool {
        end <= self.0.len() * 8
    }

    /// `width` (at most 64) bits from bit `start`, most significant first; `None` past the end.
    fn get(&self, start: usize, width: usize) -> Option<u64> {
        if !self.has(start + width) {
            return None;
        }
        Some((start..start + width).fold(0, |acc, n| acc << 1 | u64::from(self.0[n / 8] >> (7 - n % 8) & 1)))
    }
}

/// The vendor consent section's answer for each of `ids`; `None` when it is cut short.
fn vendor_consents(bits: &Bits, ids: &[(&'static str, u16)]) -> Option<Vec<bool>> {
    if ids.is_empty() {
        // Every destination's purposes alone decide: the section is not needed.
        return Some(Vec::new());
    }
    let max = bits.get(VENDOR_SECTION_BIT, VENDOR_ID_BITS)? as u16;
    let is_range = bits.get(VENDOR_SECTION_BIT + VENDOR_ID_BITS, 1)? == 1;
    let start = VENDOR_SECTION_BIT + VENDOR_ID_BITS + 1;
    let mut consented = vec![false; ids.len()];
    if !is_range {
        // The whole bit field must be there, even for vendors after ours.
        if !bits.has(start + usize::from(max)) {
            return None;
        }
        for (slot, (_, id)) in consented.iter_mut().zip(ids) {
            if *id <= max {
                *slot = bits.get(start + usize::from(*id) - 1, 1)? == 1;
            }
        }
        return Some(consented);
    }
    let entries = bits.get(start, NUM_ENTRIES_BITS)?;
    let mut at = start + NUM_ENTRIES_BITS;
    for _ in 0..entries {
        let is_a_range = bits.get(at, 1)? == 1;
        let first = bits.get(at + 1, VENDOR_ID_BITS)? as u16;
        at += 1 + VENDOR_ID_BITS;
        let last = if is_a_range {
            let last = bits.get(at, VENDOR_ID_BITS)? as u16;
            at += VENDOR_ID_BITS;
            last
        } else {
            first
        };
        for (slot, (_, id)) in consented.iter_mut().zip(ids) {
            *slot |= (first..=last).contains(id) && *id <= max;
        }
    }
    Some(consented)
}

/// Reads the cookie's value. A string whose purposes are readable but whose vendor consent
/// section is cut short still denies through its purposes ([`Unread`]), and grants nothing.
pub fn parse(value: &str, settings: &TcfPurposes) -> Result<TcfReading, Unread> {
    let core = value.trim().split('.').next().unwrap_or("");
    let bytes = BASE64URL.decode(core).or_else(|_| URL_SAFE_NO_PAD.decode(core.trim_end_matches('='))).map_err(|_| "not base64url")?;
    let bits = Bits(bytes);
    if bits.get(0, 6).ok_or("shorter than a TCF v2 core segment")? != u64::from(VERSION) {
        return Err(Unread::new("not a TCF v2 string"));
    }
    let purposes = bits.get(PURPOSES_CONSENT_BIT, usize::from(PURPOSES)).ok_or("shorter than a TCF v2 core segment")?;
    let policy_version = bits.get(POLICY_VERSION_BIT, POLICY_VERSION_BITS).unwrap_or(0) as u8;
    let all = |list: &[u8]| list.iter().all(|p| purposes >> (PURPOSES - *p) & 1 == 1);
    let answers = Answers { marketing: Some(all(&settings.marketing)), statistics: Some(all(&settings.statistics)) };
    let ids = &settings.vendors.ids;
    let consents = vendor_consents(&bits, ids)
        .ok_or_else(|| Unread::keeping_denials("the vendor consent section is cut short", answers))?;
    let vendors_denied = ids.iter().zip(consents).filter(|(_, consented)| !consented).map(|((name, _), _)| *name).collect();
    Ok(TcfReading { answers, vendors_denied, policy_version })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a TC string field by field, as a CMP encodes it.
    struct Writer(Vec<bool>);

    impl Writer {
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

    /// How the vendor consent section is written.
    enum Vendors<'a> {
        /// A bit field up to `max`, these vendors consented.
        BitField(u64, &'a [u64]),
        /// Ranges (first, last), up to `max`.
        Ranges(u64, &'a [(u64, u64)]),
    }

    /// A core segment with `consented` purposes, policy version `policy`, and `vendors`.
    fn tc(version: u64, policy: u64, consented: &[u8], vendors: Vendors<'_>) -> String {
        let mut b = Writer(Vec::new());
        b.put(version, 6).put(16_500_000_000, 36).put(16_500_000_000, 36).put(7, 12).put(1, 12).put(1, 6);
        b.put(u64::from(b'E' - b'A'), 6).put(u64::from(b'N' - b'A'), 6).put(150, 12);
        assert_eq!(b.0.len(), POLICY_VERSION_BIT);
        b.put(policy, 6).put(0, 1).put(0, 1).put(0, 12);
        assert_eq!(b.0.len(), PURPOSES_CONSENT_BIT);
        let purposes = consented.iter().fold(0u64, |acc, p| acc | 1 << (24 - *p as u64));
        b.put(purposes, 24).put(0, 24).put(0, 1).put(u64::from(b'I' - b'A'), 6).put(u64::from(b'T' - b'A'), 6);
        assert_eq!(b.0.len(), VENDOR_SECTION_BIT);
        match vendors {
            Vendors::BitField(max, on) => {
                b.put(max, 16).put(0, 1);
                for id in 1..=max {
                    b.put(u64::from(on.contains(&id)), 1);
                }
            }
            Vendors::Ranges(max, ranges) => {
                b.put(max, 16).put(1, 1).put(ranges.len() as u64, 12);
                for &(first, last) in ranges {
                    if first == last {
                        b.put(0, 1).put(first, 16);
                    } else {
                        b.put(1, 1).put(first, 16).put(last, 16);
                    }
                }
            }
        }
        // Vendor legitimate interests: none; no publisher restrictions.
        b.put(0, 16).put(0, 1).put(0, 12);
        b.encode()
    }

    /// A v2.2 string whose vendors 1 and 10 consented (not Google).
    fn tc_string(version: u64, consented: &[u8]) -> String {
        tc(version, 4, consented, Vendors::BitField(10, &[1, 10]))
    }

    fn answers(value: &str, p: &TcfPurposes) -> Result<Answers, Unread> {
        parse(value, p).map(|r| r.answers)
    }

    #[test]
    fn purposes_are_read_from_bit_152() {
        let p = TcfPurposes::default();
        let all: Vec<u8> = (1..=10).collect();
        assert_eq!(answers(&tc_string(2, &all), &p), Ok(Answers::both(true)));
        let no_1: Vec<u8> = (2..=10).collect();
        assert_eq!(answers(&tc_string(2, &no_1), &p), Ok(Answers::both(false)));
        assert_eq!(answers(&tc_string(2, &[1, 3, 4, 7]), &p), Ok(Answers { marketing: Some(true), statistics: Some(false) }));
        assert_eq!(answers(&tc_string(2, &[1, 3, 4, 8, 9]), &p), Ok(Answers { marketing: Some(false), statistics: Some(true) }));
        // With other segments after the core (disclosed vendors, publisher TC).
        let with_segments = format!("{}.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw", tc_string(2, &all));
        assert_eq!(answers(&with_segments, &p), Ok(Answers::both(true)));
        // Padded base64 is read too.
        let padded = format!("{}==", tc_string(2, &all));
        assert_eq!(answers(&padded, &p), Ok(Answers::both(true)));
        // Purpose 24, the last bit of the field.
        let last = TcfPurposes { marketing: vec![24], statistics: vec![23], ..Default::default() };
        assert_eq!(answers(&tc_string(2, &[24]), &last), Ok(Answers { marketing: Some(true), statistics: Some(false) }));
    }

    #[test]
    fn a_real_cmp_string() {
        // The example string of IAB's TCF v2 documentation (CMP 27): purposes 1, 2 and 3.
        let s = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA.IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw";
        assert_eq!(answers(s, &TcfPurposes::default()), Ok(Answers::both(false)));
        let first_three = TcfPurposes { marketing: vec![1, 2, 3], statistics: vec![3, 4], ..Default::default() };
        let read = parse(s, &first_three).unwrap();
        assert_eq!(read.answers, Answers { marketing: Some(true), statistics: Some(false) });
        // A v2.0 string (policy version 2), whose vendor section consents vendors 2, 6 and 8 (a bit field up to 8).
        assert_eq!(read.policy_version, 2);
        let vendors = |ids: &[(&'static str, u16)]| {
            parse(s, &TcfPurposes { vendors: TcfVendors { ids: ids.to_vec() }, ..first_three.clone() }).unwrap().vendors_denied
        };
        assert_eq!(vendors(&[("meta", 2), ("ga4", 6), ("tiktok", 3)]), ["tiktok"]);
        assert_eq!(vendors(&[("ga4", 755)]), ["ga4"]);
    }

    #[test]
    fn vendors_are_read_from_a_bit_field() {
        let all: Vec<u8> = (1..=10).collect();
        let p = TcfPurposes { vendors: TcfVendors { ids: vec![("ga4", 755), ("tiktok", 10)] }, ..Default::default() };
        // Google (755) past MaxVendorId: no consent; TikTok's id 10 consented; Meta: no id, never denied here.
        let read = parse(&tc_string(2, &all), &p).unwrap();
        assert_eq!(read.answers, Answers::both(true), "the purposes are granted all the same");
        assert_eq!(read.vendors_denied, ["ga4"]);
        let google = tc(2, 4, &all, Vendors::BitField(800, &[1, 755]));
        assert_eq!(parse(&google, &p).unwrap().vendors_denied, ["tiktok"]);
        let google_off = tc(2, 4, &all, Vendors::BitField(800, &[1, 754, 756, 10]));
        assert_eq!(parse(&google_off, &p).unwrap().vendors_denied, ["ga4"]);
        assert_eq!(parse(&google, &p).unwrap().policy_version, 4);
    }

    #[test]
    fn vendors_are_read_from_ranges() {
        let all: Vec<u8> = (1..=10).collect();
        let p = TcfPurposes { vendors: TcfVendors { ids: vec![("meta", 5), ("ga4", 755), ("tiktok", 1000)] }, ..Default::default() };
        let ranges = tc(2, 4, &all, Vendors::Ranges(1200, &[(1, 4), (700, 760), (1000, 1000)]));
        assert_eq!(parse(&ranges, &p).unwrap().vendors_denied, ["meta"]);
        let without_google = tc(2, 4, &all, Vendors::Ranges(1200, &[(5, 5), (700, 754), (756, 1100)]));
        assert_eq!(parse(&without_google, &p).unwrap().vendors_denied, ["ga4"]);
    }

    #[test]
    fn a_cut_vendor_section_only_denies() {
        let p = TcfPurposes { vendors: TcfVendors { ids: vec![("ga4", 755)] }, ..Default::default() };
        let whole = tc(2, 4, &[1, 3, 4, 7], Vendors::BitField(800, &[755]));
        // Cut inside the bit field: the purposes still deny statistics, and grant nothing.
        let cut = &whole[..(VENDOR_SECTION_BIT + 17 + 100) / 6];
        let e = parse(cut, &p).unwrap_err();
        assert_eq!(e.denials, Answers { marketing: None, statistics: Some(false) });
        // With no vendor id to check, the purposes alone decide and the section is not read.
        let purposes_only = TcfPurposes::default();
        assert_eq!(parse(cut, &purposes_only).unwrap().answers, Answers { marketing: Some(true), statistics: Some(false) });
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
        assert_eq!(parse_vendor("V", "755").unwrap(), Some(755));
        assert_eq!(parse_vendor("V", "None").unwrap(), None);
        for bad in ["", "0", "70000", "google"] {
            assert!(parse_vendor("V", bad).unwrap_err().to_string().contains('V'), "{bad}");
        }
    }
}
