//! Cookiebot's `CookieConsent` cookie: `{stamp:'…',necessary:true,preferences:false,
//! statistics:true,marketing:false,method:'explicit',ver:1,utc:…,region:'it'}`,
//! URL-encoded. `-1` (or `stamp:'-1'`) means consent is not required for this visitor.

use super::{colon_pairs, Answers, Read};
use crate::percent;

/// The cookie's name.
pub const COOKIE: &str = "CookieConsent";
/// Cookiebot's "consent is not required here" marker.
const NOT_REQUIRED: &str = "-1";

/// Reads the cookie's value.
pub fn parse(value: &str) -> Read {
    let text = percent::decode(value, false);
    let text = text.trim();
    if text == NOT_REQUIRED {
        return Ok(Answers::both(true));
    }
    let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).ok_or("not Cookiebot's {key:value,…} form")?;
    let pairs = colon_pairs(inner).ok_or("an item without ':'")?;
    let flag = |name: &str| -> Result<Option<bool>, &'static str> {
        match pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err("a purpose that is neither true nor false"),
        }
    };
    if pairs.iter().any(|(k, v)| *k == "stamp" && v.trim_matches('\'') == NOT_REQUIRED) {
        return Ok(Answers::both(true));
    }
    let answers = Answers { marketing: flag("marketing")?, statistics: flag("statistics")? };
    if answers == Answers::default() {
        return Err("neither marketing nor statistics");
    }
    Ok(answers)
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
}
