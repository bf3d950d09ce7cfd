//! Cookiebot's `CookieConsent` cookie: `{stamp:'…',necessary:true,preferences:false,
//! statistics:true,marketing:false,method:'explicit',ver:1,utc:…,region:'it'}`,
//! URL-encoded. `-1` (or `stamp:'-1'`) means consent is not required for this visitor.

use super::{colon_pairs, from_items, Answers, Item, Read, Spelling, Unread};
use crate::proxy::percent;

/// The cookie's name.
pub const COOKIE: &str = "CookieConsent";
/// Cookiebot's "consent is not required here" marker.
const NOT_REQUIRED: &str = "-1";

/// Reads the cookie's value. Each purpose's item is read on its own: in a cookie that is
/// odd elsewhere, a readable `marketing:false` is still a denial (and nothing is granted).
pub fn parse(value: &str) -> Read {
    let text = percent::decode(value, false);
    let text = text.trim();
    if text == NOT_REQUIRED {
        return Ok(Answers::both(true));
    }
    let (inner, mut flaw) = match text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        Some(inner) => (inner, None),
        None => (text.trim_start_matches('{').trim_end_matches('}'), Some("not Cookiebot's {key:value,…} form")),
    };
    let (pairs, odd) = colon_pairs(inner);
    if odd {
        flaw = flaw.or(Some("an item without ':'"));
    }
    const SPELLING: Spelling = Spelling { yes: "true", no: "false", odd: "a purpose that is neither true nor false" };
    let flag = |name: &str| -> Item { SPELLING.read(pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)) };
    if flaw.is_none() && pairs.iter().any(|(k, v)| *k == "stamp" && v.trim_matches('\'') == NOT_REQUIRED) {
        return Ok(Answers::both(true));
    }
    let (marketing, statistics) = (flag("marketing"), flag("statistics"));
    if marketing == Ok(None) && statistics == Ok(None) {
        return Err(Unread::new(flaw.unwrap_or("neither marketing nor statistics")));
    }
    from_items(marketing, statistics, flaw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values() {
        // As Cookiebot's documentation shows the cookie, URL-encoded by the browser.
        let all = "{stamp:%27u3Rn5QW0dPjNNaEj2mXT6MKSLxq3Y7i5nCP5A0Xdd3CsU5/TtZGQQw==%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1700000000000%2Cregion:%27it%27}";
        assert_eq!(parse(all), Ok(Answers::both(true)));
        let stats_only = "%7Bstamp%3A%27abc%27%2Cnecessary%3Atrue%2Cpreferences%3Afalse%2Cstatistics%3Atrue%2Cmarketing%3Afalse%2Cmethod%3A%27explicit%27%2Cver%3A2%7D";
        assert_eq!(parse(stats_only), Ok(Answers { marketing: Some(false), statistics: Some(true) }));
        assert_eq!(parse("-1"), Ok(Answers::both(true)));
        assert_eq!(parse("{stamp:%27-1%27%2Cnecessary:true%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27implied%27}"), Ok(Answers::both(true)));
        assert_eq!(parse("{stamp:'-1',necessary:true}"), Ok(Answers::both(true)));
    }

    #[test]
    fn unreadable_values() {
        for bad in ["", "yes", "{marketing:maybe}", "{stamp:'x',necessary:true}", "{marketing}", "{"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_readable_denial_wins_in_an_odd_cookie() {
        // An item without ':' (a truncated or hand-edited cookie): the denial still counts, the grant does not.
        let odd = parse("{stamp:%27a%27%2Cnecessary:true%2Cjunk%2Cstatistics:true%2Cmarketing:false}").unwrap_err();
        assert_eq!(odd.denials, Answers { marketing: Some(false), statistics: None });
        // No closing brace, and a purpose that is neither true nor false.
        let cut = parse("{stamp:'a',statistics:false,marketing:maybe").unwrap_err();
        assert_eq!(cut.denials, Answers { marketing: None, statistics: Some(false) });
        // "Not required" is only believed from a cookie read whole.
        assert_eq!(parse("{stamp:'-1',junk,marketing:false}").unwrap_err().denials.marketing, Some(false));
    }
}
