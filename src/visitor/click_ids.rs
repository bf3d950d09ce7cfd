//! Meta's browser and click ids: `fbp` from the `_fbp` cookie, `fbc` from the `_fbc` cookie
//! or built from a `fbclid` query parameter.
//!
//! Formats: `fb.<subdomain index>.<creation ms>.<random or fbclid>`, optionally followed by a
//! fifth segment that Meta's parameter builder appends. The last segments may contain `-`
//! and `_`.

/// Longest `_fbp` / `_fbc` value accepted.
pub const MAX_ID_LEN: usize = 600;
/// Longest `fbclid` accepted.
pub const MAX_FBCLID_LEN: usize = 500;
/// Subdomain index used when building `fbc` (the cookie is set on the registrable domain).
const BUILT_FBC_SUBDOMAIN_INDEX: &str = "1";

/// True if `value` has the shape of an `_fbp`/`_fbc` value.
pub fn is_valid_meta_id(value: &str) -> bool {
    if value.len() > MAX_ID_LEN {
        return false;
    }
    let parts: Vec<&str> = value.split('.').collect();
    if !(4..=5).contains(&parts.len()) || parts[0] != "fb" {
        return false;
    }
    let index_ok = parts[1].len() == 1 && parts[1].bytes().all(|b| b.is_ascii_digit());
    let time_ok = (1..=13).contains(&parts[2].len()) && parts[2].bytes().all(|b| b.is_ascii_digit());
    index_ok && time_ok && parts[3..].iter().all(|p| is_id_segment(p))
}

fn is_id_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The fbclid of an `fbc` value (its fourth segment).
pub fn fbclid_of(fbc: &str) -> Option<&str> {
    fbc.split('.').nth(3)
}

/// A new `_fbp`/`_fbc` value: `fb.<subdomain index>.<creation ms>.<payload>` (the payload is
/// a random number for `fbp`, the fbclid byte for byte for `fbc`).
pub fn meta_id(subdomain_index: impl std::fmt::Display, creation_ms: u64, payload: impl std::fmt::Display) -> String {
    format!("fb.{subdomain_index}.{creation_ms}.{payload}")
}

/// The raw (still percent-encoded, byte-exact) value of the first `fbclid` in a query string.
pub fn fbclid_from_query(query: &str) -> Option<&str> {
    query
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix("fbclid="))
        .filter(|v| !v.is_empty() && v.len() <= MAX_FBCLID_LEN && is_id_segment(v))
}

/// `fbc` to send: a new click (a `fbclid` in the URL that differs from the cookie's) wins, as
/// Meta's parameter builder does; otherwise the cookie, when valid. `now_ms` is the click time.
pub fn fbc(cookie_fbc: Option<&str>, fbclid: Option<&str>, now_ms: u64) -> Option<String> {
    let cookie = cookie_fbc.filter(|c| is_valid_meta_id(c));
    match (cookie, fbclid) {
        (Some(c), Some(id)) if fbclid_of(c) == Some(id) => Some(c.to_string()),
        (_, Some(id)) => Some(meta_id(BUILT_FBC_SUBDOMAIN_INDEX, now_ms, id)),
        (Some(c), None) => Some(c.to_string()),
        (None, None) => None,
    }
}

/// `fbp` to send: the cookie, when valid.
pub fn fbp(cookie_fbp: Option<&str>) -> Option<String> {
    cookie_fbp.filter(|c| is_valid_meta_id(c)).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_ids() {
        for ok in [
            "fb.1.1596403881668.1116446470",
            "fb.0.1596403881668.1116446470",
            "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgE",
            "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQ.AQ",
            "fb.2.1596403881668.1116446470.Bg",
        ] {
            assert!(is_valid_meta_id(ok), "{ok}");
        }
        for bad in [
            "", "fb.1.2", "gb.1.1596403881668.1", "fb.12.1596403881668.1", "fb.1.x.1",
            "fb.1.1596403881668.", "fb.1.1596403881668.a b", "fb.1.1.2.3.4", "fb.1.12345678901234.1",
            "fb.1.1.<script>",
        ] {
            assert!(!is_valid_meta_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_parameter_builders_appendix_is_kept_as_received() {
        let with_appendix = "fb.1.1554763741205.IwAR2F4-dbP0l7.AQ";
        assert_eq!(fbc(Some(with_appendix), Some("IwAR2F4-dbP0l7"), 1), Some(with_appendix.to_string()), "the same click");
        assert_eq!(fbc(Some(with_appendix), None, 1), Some(with_appendix.to_string()));
        assert_eq!(fbp(Some("fb.1.1596403881668.1116446470.Bg")), Some("fb.1.1596403881668.1116446470.Bg".to_string()));
    }

    #[test]
    fn fbclid_is_kept_byte_exact() {
        assert_eq!(fbclid_from_query("a=1&fbclid=IwAR2F4-dbP0_l7&b=2"), Some("IwAR2F4-dbP0_l7"));
        assert_eq!(fbclid_from_query("?fbclid=abc"), Some("abc"));
        assert_eq!(fbclid_from_query("xfbclid=abc"), None);
        assert_eq!(fbclid_from_query("fbclid="), None);
        assert_eq!(fbclid_from_query("fbclid=a%20b"), None);
        let fbc = fbc(None, Some("IwAR2F4-dbP0_l7"), 1_700_000_000_123).unwrap();
        assert_eq!(fbc, "fb.1.1700000000123.IwAR2F4-dbP0_l7");
        assert!(is_valid_meta_id(&fbc));
    }

    #[test]
    fn new_click_beats_cookie_but_same_click_keeps_cookie() {
        let cookie = "fb.1.1600000000000.OLD";
        assert_eq!(fbc(Some(cookie), None, 5).as_deref(), Some(cookie));
        assert_eq!(fbc(Some(cookie), Some("OLD"), 5).as_deref(), Some(cookie));
        assert_eq!(fbc(Some(cookie), Some("NEW"), 5).as_deref(), Some("fb.1.5.NEW"));
        assert_eq!(fbc(Some("garbage"), None, 5), None);
        assert_eq!(fbp(Some("fb.1.1596403881668.1116446470")).as_deref(), Some("fb.1.1596403881668.1116446470"));
        assert_eq!(fbp(Some("junk")), None);
    }
}
